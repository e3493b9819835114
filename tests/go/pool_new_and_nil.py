from _gofmt import println

from hcedu.go import Pool, gc

made = 0


def new():
    global made
    made += 1
    return f"new#{made}"


p = Pool(new=new, procs=1)
println(p.get(), p.get())
p.put(None)
println("Put(nil) is a no-op:", p.get())
p.put("kept")
println(p.get(), "made", made)
x = p.get()
p.put(x)
gc()
println("New's result is not stored, but a Put one survives one GC:", p.get(), "made", made)
