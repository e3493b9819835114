from _gofmt import println, protect

from hcedu.go import context

a = context.with_value(context.background(), "user", "ann")
b = context.with_value(a, "trace", "t-1")
c = context.with_value(b, "user", "bob")
println(c)
println("nearest wins:", c.value("user"), "| from above:", c.value("trace"), "| missing:", c.value("nope"))
println("parent unchanged:", b.value("user"))
d = context.with_value(c, "user", None)
println("a nil value shadows:", d.value("user"))
println("nil key:", protect(context.with_value, context.background(), None, 1))
println("nil parent:", protect(context.with_cancel, None))
