from _gofmt import println

from hcedu.go import Pool, gc

p = Pool(procs=1)
for s in ("a", "b", "c"):
    p.put(s)
gc()
p.put("fresh")
println(p.get(), p.get(), p.get(), p.get(), p.get())
