import threading

from _gofmt import println, protect

from hcedu.go import Chan, errgroup

g = errgroup.Group()
g.set_limit(2)
gate = Chan()
started = Chan(2)


def blocked(i):
    started.send(i)
    gate.recv_ok()


for i in range(2):
    println("TryGo", i, g.try_go(blocked, i))
started.recv()
started.recv()
println("TryGo at the limit:", g.try_go(lambda: None))
println("SetLimit while active:", protect(g.set_limit, 5))
gate.close()
println("Wait:", g.wait())

g.set_limit(0)
println("limit 0, TryGo:", g.try_go(lambda: None))
g.set_limit(1)
mu = threading.Lock()
n = peak = active = 0


def task():
    global n, peak, active
    with mu:
        active += 1
        peak = max(peak, active)
        n += 1
        active -= 1


for _ in range(20):
    g.go(task)
println("limit 1, 20 Go calls:", g.wait(), "ran", n, "peak concurrency", peak)
