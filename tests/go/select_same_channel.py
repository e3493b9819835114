from _gofmt import println, wait_until

from hcedu.go import Chan, Recv, Send, go, select

ch = Chan()
i, v, _ = select(Send(ch, 1), Recv(ch), default=True)
println({0: "sent to itself?", 1: f"received from itself? {v}"}.get(i, "alone: no partner, default"))
out = Chan(2)


def both(ident):
    i, _, _ = select(Send(ch, ident), Recv(ch))
    out.send("sent" if i == 0 else "received")


go(both, 1)
wait_until(lambda: ch.snapshot().recvq and ch.snapshot().sendq, "the first select parked")
go(both, 2)
a, b = out.recv(), out.recv()
println("two selects pair up:", a != b)
