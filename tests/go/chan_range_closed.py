from _gofmt import println

from hcedu.go import Chan, go

ch = Chan(5)
for i in range(4):
    ch.send(i)
ch.close()
total = 0
for v in ch:
    total += v
    println("range got", v)
println("range ended after close and drain, sum", total)

jobs = Chan()


def producer():
    try:
        for i in range(1, 4):
            jobs.send(i * i)
    finally:
        jobs.close()


go(producer)
println("from a producer that closes:", list(jobs))
