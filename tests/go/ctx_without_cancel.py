from _gofmt import println

from hcedu.go import context

parent, cancel = context.with_timeout(context.with_value(context.background(), "request-id", "r-42"), 3600)
detached = context.without_cancel(parent)
cancel()
println("parent:", parent.err())
println("detached: err", detached.err(), "| done nil", detached.done() is None,
        "| deadline", detached.deadline() is not None, "| cause", context.cause(detached))
println("value still visible:", detached.value("request-id"))
child, cancel_child = context.with_cancel(detached)
println("a child of it starts live:", child.err())
cancel_child()
println("and can still be canceled itself:", child.err())
