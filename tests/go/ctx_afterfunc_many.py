from _gofmt import println

from hcedu.go import Chan, context

ctx, cancel = context.with_cancel(context.background())
ran = Chan(3)
stops = [context.after_func(ctx, lambda name=name: ran.send(name)) for name in ("audit", "metrics", "cleanup")]
println("stop metrics:", stops[1]())
cancel()
println("ran:", sorted([ran.recv(), ran.recv()]))
println("stops after cancel:", stops[0](), stops[1](), stops[2]())
println("nothing else:", len(ran))
