from _gofmt import println

from hcedu.go import Chan, Recv, Send, select

ch = Chan(3)
for i in range(1, 4):
    ch.send(i * 10)
    println("sent", i * 10, "len", len(ch), "cap", ch.cap)
i, _, _ = select(Send(ch, 40), default=True)
println("fourth send went through" if i == 0 else "full: fourth send would block")
for _ in range(3):
    v, ok = ch.recv_ok()
    println("recv", v, ok, "len", len(ch))
i, v, _ = select(Recv(ch), default=True)
println(f"unexpected {v}" if i == 0 else "empty: receive would block")
