from _gofmt import println

from hcedu.go import Chan, Recv, Send, select

a, b = Chan(1), Chan(1)
counts = [0, 0]
for i in range(200):
    (a if i % 2 == 0 else b).send(i)
    idx, v, ok = select(Recv(a), Recv(b))
    counts[idx] += 1
println("only the ready case ever runs:", counts)
full, empty = Chan(1), Chan(1)
full.send(1)
idx, _, _ = select(Send(full, 2), Send(empty, 3))
println("the send with room runs; len(empty) =", len(empty)) if idx == 1 else println("send to full?")
