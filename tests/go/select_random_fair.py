from _gofmt import println

from hcedu.go import Chan, Recv, select

a, b = Chan(1), Chan(1)
counts = [0, 0]
for _ in range(1000):
    a.send(1)
    b.send(2)
    i, _, _ = select(Recv(a), Recv(b))
    counts[i] += 1
    (b if i == 0 else a).recv()
println("both picked:", counts[0] > 0 and counts[1] > 0, "total", sum(counts))
