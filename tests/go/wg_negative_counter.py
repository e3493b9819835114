from _gofmt import println, protect

from hcedu.go import WaitGroup

wg = WaitGroup()
println("Done on a zero counter:", protect(wg.done))
wg2 = WaitGroup()
println("Add(-1) on zero:", protect(wg2.add, -1))
wg3 = WaitGroup()
wg3.add(2)
wg3.done()
wg3.done()
println("one Done too many:", protect(wg3.done))
