from _gofmt import println

from hcedu.go import context, errgroup

err_a = RuntimeError("A failed")
g, ctx = errgroup.with_context(context.background())


def b():
    ctx.done().recv()
    raise RuntimeError(f"B stopped: {ctx.err()}")


def a():
    raise err_a


g.go(b)
g.go(a)
err = g.wait()
println("Wait returns the first error:", err, err is err_a)
println("the group's context:", ctx.err())

g2, ctx2 = errgroup.with_context(context.background())
for _ in range(3):
    g2.go(lambda: None)
println("no error:", g2.wait(), "| context canceled by Wait:", ctx2.err())


def only():
    raise RuntimeError("only error")


zero = errgroup.Group()
zero.go(only)
zero.go(lambda: None)
println("zero Group:", zero.wait())
