from _gofmt import println, protect

from hcedu.go import Chan, Recv, Send, select
from hcedu.go import chan as chanmod

ch = None
println("len", chanmod.length(ch), "cap", chanmod.capacity(ch))
i, v, _ = select(Recv(ch), Send(ch, 1), default=True)
println("nil channel is never ready: default" if i == -1 else f"case {i}?")
ready = Chan(1)
ready.send(7)
i, v, _ = select(Recv(ch), Recv(ready))
println("the only non-nil case runs:", v) if i == 1 else println("nil won?", v)
println("close(nil):", protect(chanmod.close, ch))
