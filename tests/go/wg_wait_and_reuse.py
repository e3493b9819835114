import itertools
import threading

from _gofmt import println

from hcedu.go import Chan, WaitGroup, go

wg = WaitGroup()
wg.wait()
println("Wait on a zero counter returns at once")
n = 0
mu = threading.Lock()


def work():
    global n
    try:
        with mu:
            n += 1
    finally:
        wg.done()


for rnd in range(1, 4):
    for _ in range(10):
        wg.add(1)
        go(work)
    wg.wait()
    println("round", rnd, "done:", n)
waiters = Chan(3)
wg.add(1)
for _ in range(3):
    go(lambda: (wg.wait(), waiters.send(True)))
wg.done()
println("one Done released all waiters:", all(waiters.recv() for _ in itertools.repeat(None, 3)))
