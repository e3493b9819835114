from _gofmt import println

from hcedu.go import Recv, context, select


def state(name, ctx):
    i, _, _ = select(Recv(ctx.done()), default=True)
    println(name, "done:" if i == 0 else "live:", ctx.err())


root, cancel_root = context.with_cancel(context.background())
child, cancel_child = context.with_cancel(root)
grandchild, cancel_grand = context.with_cancel(child)
sibling, cancel_sibling = context.with_cancel(root)
println(grandchild)

cancel_child()
println("-- cancel child")
state("root", root)
state("child", child)
state("grandchild", grandchild)
state("sibling", sibling)

cancel_root()
cancel_root()
println("-- cancel root")
state("root", root)
state("sibling", sibling)

late, cancel_late = context.with_cancel(root)
println("-- child of a canceled parent")
state("late", late)
bg = context.background()
println("Background:", bg, bg.done() is None, bg.err())
cancel_late()
cancel_grand()
cancel_sibling()
