from _gofmt import println

from hcedu.go import Chan

ch = Chan(3)
ch.send(1)
ch.send(2)
ch.close()
println("closed with len", len(ch))
for _ in range(4):
    v, ok = ch.recv_ok()
    println(0 if v is None else v, ok, len(ch))  # Go's zero value for int is 0; the mirror's is None
u = Chan()
u.close()
s, ok = u.recv_ok()
println('""' if s is None else repr(s), ok)
