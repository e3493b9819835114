from _gofmt import println, wait_parked

from hcedu.go import Chan, Panic, WaitGroup

ch = Chan(1)
ch.send(0)
wg = WaitGroup()
msgs = Chan(2)


def sender(i):
    try:
        ch.send(i)
    except Panic as e:
        msgs.send(f"sender recovered: {e}")
    else:
        msgs.send("sender recovered: <nil>")


for i in (1, 2):
    wg.go(sender, i)
wait_parked(ch, 2, "sendq")
println("2 senders parked on a full channel, len", len(ch))
ch.close()
wg.wait()
println(msgs.recv())
println(msgs.recv())
v, ok = ch.recv_ok()
println("buffered value survives close:", v, ok)
