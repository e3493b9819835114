import threading

from _gofmt import println, v as gov, wait_until

from hcedu.go import Chan, WaitGroup, go, singleflight
from tests.helpers import flight_waiters

g = singleflight.Group()
calls = 0
mu = threading.Lock()
gate = Chan()


def fetch():
    global calls
    with mu:
        calls += 1
    gate.recv_ok()
    return "row from the database"


wg = WaitGroup()
results = [""] * 5


def caller(i):
    try:
        v, shared = g.do("user:1", fetch)
        results[i] = f"{v} <nil> {gov(shared)}"
    finally:
        wg.done()


for i in range(5):
    wg.add(1)
    go(caller, i)
    if i == 0:
        wait_until(lambda: calls > 0, "the first caller inside fetch")
wait_until(lambda: flight_waiters(g, "user:1") >= 4, "4 duplicate callers")
gate.close()
wg.wait()
for r in results:
    println(r)
println("fetch ran", calls, "time for 5 callers")


def fresh():
    global calls
    calls += 1
    return "fresh"


v, shared = g.do("user:1", fresh)
println("no caching afterwards:", v, None, shared, "calls", calls)
