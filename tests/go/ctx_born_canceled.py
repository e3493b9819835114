from _gofmt import println

from hcedu.go import Chan, context

parent, cancel = context.with_cancel_cause(context.background())
cancel(RuntimeError("shutdown"))
child, cancel_child = context.with_timeout(parent, 3600)
println("child of a canceled parent is born canceled:", child.err(), "| cause:", context.cause(child))

t, cancel_t = context.with_timeout_cause(context.background(), 3600, RuntimeError("slow"))
cancel_t()
println("canceled before its deadline:", t.err(), "| cause:", context.cause(t))

ran = Chan(1)
detached = context.without_cancel(parent)
stop = context.after_func(detached, lambda: ran.send(True))
println("AfterFunc on a never-canceled context: stop() =", stop(), "| ran:", len(ran))

v = context.with_value(parent, "k", "v")
println("a value context shares its parent's state:", v.err(), "|", context.cause(v))
cancel_child()
