from _gofmt import println, wait_parked

from hcedu.go import Chan, Send, go, select

ch = Chan()
i, _, _ = select(Send(ch, "hello"), default=True)
println("sent without a receiver?" if i == 0 else "no receiver: unbuffered send would block")
got = Chan(1)
go(lambda: got.send(ch.recv()))
wait_parked(ch, 1, "recvq")
i, _, _ = select(Send(ch, "hello"), default=True)
println("receiver parked: send hands off directly, len", len(ch)) if i == 0 else println("send would block?")
println("receiver got", got.recv())
done = Chan()


def sender():
    ch.send("from a parked sender")
    done.send(True)


go(sender)
wait_parked(ch, 1, "sendq")
println("sender parked, len", len(ch), "cap", ch.cap)
println(ch.recv())
println("sender released", done.recv())
