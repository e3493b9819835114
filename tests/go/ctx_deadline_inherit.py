from _gofmt import println

from hcedu.go import context

parent, cancel = context.with_timeout(context.background(), 3600)
pd = parent.deadline()
later, cancel_later = context.with_timeout(parent, 7200)
println("a later child deadline is capped at the parent's:", later.deadline() == pd)
sooner, cancel_sooner = context.with_timeout(parent, 60)
println("a sooner child deadline is its own:", sooner.deadline() < pd)
cancel()
println("parent cancel reaches both:", later.err(), "|", sooner.err())
println("Background has a deadline:", context.background().deadline() is not None)
cancel_later()
cancel_sooner()
