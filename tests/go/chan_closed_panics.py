from _gofmt import println, protect

from hcedu.go import Chan, Send, select

ch = Chan(1)
ch.close()
println("send:", protect(ch.send, 1))
println("close again:", protect(ch.close))
println("select send with default:", protect(lambda: select(Send(ch, 1), default=True)))
println("make(chan int, -1):", protect(Chan, -1))
