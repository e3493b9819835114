from _gofmt import println

from hcedu.go import Chan, singleflight

g = singleflight.Group()
gate = Chan()
entered = Chan()


def slow():
    entered.send(True)
    gate.recv_ok()
    return "first (stale)"


first = g.do_chan("k", slow)
entered.recv()
g.forget("k")
v, shared = g.do("k", lambda: "second (fresh)")
println("after Forget a new call runs:", v, None, shared)
gate.close()
r = first.recv()
println("the forgotten call still delivers:", r.val, r.err, r.shared)
v, _ = g.do("k", lambda: "third")
println("and its completion did not evict anything new:", v)

res = g.do_chan("solo", lambda: 7).recv()
println("DoChan alone:", res.val, res.err, res.shared)


def down():
    raise RuntimeError("db down")


try:
    g.do("err", down)
except RuntimeError as e:
    println("errors pass through:", e)
