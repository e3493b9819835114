from _gofmt import println

from hcedu.clock import RealClock
from hcedu.go import context

now = RealClock().now
parent, cancel = context.with_cancel(context.background())
cancel()
c1, cancel1 = context.with_deadline(parent, now() - 3600)
println("past deadline, canceled parent:", c1.err(), "|", context.cause(c1))
c2, cancel2 = context.with_deadline(context.background(), now() - 3600)
println("past deadline, live parent:", c2.err(), "|", context.cause(c2))
c3, cancel3 = context.with_deadline(c2, now() + 3600)
println("a later deadline under an expired parent:", c3.err(), "| has deadline:", c3.deadline() is not None)
cancel1()
cancel2()
cancel3()
