from _gofmt import println, v as gov, wait_until

from hcedu.go import Chan, Recv, Send, go, select

a, b = Chan(), Chan()
out = Chan(1)


def sel():
    i, v, ok = select(Recv(a), Recv(b))
    out.send(("a: " if i == 0 else "b: ") + v)


go(sel)
wait_until(lambda: a.snapshot().recvq and b.snapshot().recvq, "select parked")
b.send("woken by the send on b")
println(out.recv())
i, _, _ = select(Send(a, "nobody"), default=True)
println("the select left no waiter behind on a" if i == -1 else "?")


def sel2():
    i, v, ok = select(Recv(a), Recv(b))
    out.send(f"a closed: {'' if v is None else v} {gov(ok)}" if i == 0 else "b?")


go(sel2)
wait_until(lambda: a.snapshot().recvq and b.snapshot().recvq, "select parked")
a.close()
println(out.recv())
