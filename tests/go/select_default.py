from _gofmt import println, v

from hcedu.go import Chan, Recv, select


def try_(ch):
    i, val, ok = select(Recv(ch), default=True)
    return "default" if i == -1 else f"received {0 if val is None else val} {v(ok)}"


ch = Chan(1)
println("empty:", try_(ch))
ch.send(5)
println("one value:", try_(ch))
println("empty again:", try_(ch))
ch.close()
println("closed:", try_(ch))
println("nil:", try_(None))
i, _, _ = select(default=True)
println("a select with only default runs it" if i == -1 else "?")
