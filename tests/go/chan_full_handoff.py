from _gofmt import println, wait_parked

from hcedu.go import Chan, go

ch = Chan(2)
ch.send("a")
ch.send("b")
done = Chan()


def sender():
    ch.send("c")
    done.send(True)


go(sender)
wait_parked(ch, 1, "sendq")
println(ch.recv(), "len", len(ch))
done.recv()
println(ch.recv(), "len", len(ch))
println(ch.recv(), "len", len(ch))
