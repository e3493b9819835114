from _gofmt import println

from hcedu.go import WaitGroup

wg = WaitGroup()
results = [0] * 5
for i in range(5):
    wg.go(results.__setitem__, i, i * i)
wg.wait()
println("wg.Go results:", results)
