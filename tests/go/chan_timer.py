from _gofmt import println

from hcedu.go import Recv, select
from hcedu.go.chan import after

t = after(0.02)
println("timer channel len/cap:", len(t), t.cap)
t.recv(timeout=10)
println("fired once")
i, _, _ = select(Recv(t), default=True)
println("fired twice?" if i == 0 else "never again, and never closed")
after(-1).recv(timeout=10)
println("a negative duration fires at once")
