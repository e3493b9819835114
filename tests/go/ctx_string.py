from _gofmt import println

from hcedu.go import context

bg = context.background()
println(context.todo())
println(context.with_value(bg, "user", "ann"))
println(context.with_value(bg, "n", 42))
println(context.with_value(bg, "ok", True))
println(context.with_value(bg, "none", None))
c, cancel = context.with_cancel(context.with_value(bg, "k", "v"))
println(c)
println(context.without_cancel(c))
cc, cancel_cause = context.with_cancel_cause(bg)
println(cc)
cancel()
cancel_cause(None)
