from _gofmt import println

from hcedu.go import Pool, gc

p = Pool(procs=1)
println("empty pool, no New:", p.get())
p.put("a")
p.put("b")
println("private first:", p.get())
println("then the shared head:", p.get())
println("then nothing:", p.get())

p.put("c")
gc()
println("after one GC (victim):", p.get())
println("a victim hit is not put back:", p.get())

p.put("d")
gc()
gc()
println("after two GCs:", p.get())

for _ in range(100):
    p.put("e")
gc()
hits = 0
while p.get() is not None:
    hits += 1
println("100 puts, one GC, gets until nil:", hits)
