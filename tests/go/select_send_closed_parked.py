from _gofmt import println, wait_until

from hcedu.go import Chan, Panic, Recv, Send, go, select

ch, other, out = Chan(), Chan(), Chan()


def sel():
    try:
        select(Send(ch, 1), Recv(other))
    except Panic as e:
        out.send(f"select recovered: {e}")
    else:
        out.send("select recovered: <nil>")


go(sel)
wait_until(lambda: ch.snapshot().sendq and other.snapshot().recvq, "select parked")
ch.close()
println(out.recv())
i, _, _ = select(Send(other, 1), default=True)
println("a waiter was left on other?" if i == 0 else "no waiter left on the other channel")
