from _gofmt import println

from hcedu.go import context

ctx, cancel = context.with_timeout(context.background(), 0.02)
child, cancel_child = context.with_cancel(ctx)
child.done().recv(timeout=10)
err = ctx.err()
println("after the deadline:", err, "| child:", child.err())
println("errors.Is DeadlineExceeded:", err is context.DeadlineExceeded)
println("is a net.Error with Timeout():", isinstance(err, TimeoutError) and err.timeout())
cancel()
println("cancel after expiry changes nothing:", ctx.err())
cancel_child()
