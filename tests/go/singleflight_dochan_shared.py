from _gofmt import println

from hcedu.go import Chan, Recv, select, singleflight

g = singleflight.Group()
gate = Chan()
calls = 0


def fn():
    global calls
    calls += 1
    gate.recv_ok()
    return "value"


a = g.do_chan("k", fn)
b = g.do_chan("k", fn)
c = g.do_chan("k", fn)
gate.close()
for ch in (a, b, c):
    r = ch.recv()
    println(r.val, r.err, r.shared)
println("fn ran", calls, "time")
i, r, _ = select(Recv(a), default=True)
println("a second result?", r) if i == 0 else println("one result per channel")
