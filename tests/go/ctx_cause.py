from _gofmt import println

from hcedu.go import context

boom = RuntimeError("boom: upstream said no")
ctx, cancel = context.with_cancel_cause(context.background())
child, cancel_child = context.with_cancel(ctx)
println("before:", ctx.err(), context.cause(ctx))
cancel(boom)
cancel(RuntimeError("second cause is ignored"))
println("after:", ctx.err(), "| cause:", context.cause(ctx))
println("child:", child.err(), "| cause:", context.cause(child))
println("errors.Is(cause, boom):", context.cause(child) is boom)

ctx2, cancel2 = context.with_cancel_cause(context.background())
cancel2(None)
println("cancel(nil):", context.cause(ctx2), context.cause(ctx2) is context.Canceled)

plain, cancel_plain = context.with_cancel(context.background())
cancel_plain()
println("plain WithCancel:", context.cause(plain))

tctx, tcancel = context.with_timeout_cause(context.background(), 0, RuntimeError("too slow"))
println("WithTimeoutCause expired:", tctx.err(), "| cause:", context.cause(tctx))
tcancel()
cancel_child()
