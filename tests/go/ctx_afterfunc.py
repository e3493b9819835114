from _gofmt import println

from hcedu.go import Chan, Recv, context, select

ran = Chan(3)
ctx, cancel = context.with_cancel(context.background())
stop = context.after_func(ctx, lambda: ran.send("f ran after cancel"))
cancel()
println(ran.recv())
println("stop after f started:", stop())

ctx2, cancel2 = context.with_cancel(context.background())
stop2 = context.after_func(ctx2, lambda: ran.send("f2 must not run"))
println("stop before cancel:", stop2())
println("stop again:", stop2())
cancel2()

done, cancel3 = context.with_cancel(context.background())
cancel3()
context.after_func(done, lambda: ran.send("already done: f runs at once"))
println(ran.recv())
i, s, _ = select(Recv(ran), default=True)
println("unexpected:", s) if i == 0 else println("nothing else ran")
