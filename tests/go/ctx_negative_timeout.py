from _gofmt import println

from hcedu.go import Recv, context, select

for label, d in (("-1s", -1.0), ("0s", 0)):
    ctx, cancel = context.with_timeout(context.background(), d)
    i, _, _ = select(Recv(ctx.done()), default=True)
    if i == 0:
        println(label, "-> done at birth:", ctx.err(), "| cause:", context.cause(ctx))
    else:
        println(label, "-> live?")
    cancel()
    println("cancel afterwards keeps the first error:", ctx.err())
