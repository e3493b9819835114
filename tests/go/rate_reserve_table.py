import math

from _gofmt import println

from hcedu.go import rate


def at(ms):
    return 1000 + ms / 1000


def delay(r, t):
    d = r.delay_from(t)
    return "inf" if math.isinf(d) else f"{round(d * 1e9)}ns"


lim = rate.Limiter(2, 2)
r1 = lim.reserve_n(at(0), 2)
r2 = lim.reserve_n(at(0), 1)
r3 = lim.reserve_n(at(0), 1)
println("r1", r1.ok, delay(r1, at(0)), "| r2", r2.ok, delay(r2, at(0)), "| r3", r3.ok, delay(r3, at(0)))
print(f"tokens in debt: {lim.tokens_at(at(0)):.4f}")
r3.cancel_at(at(100))
print(f"cancel the last reservation at 100ms: tokens {lim.tokens_at(at(100)):.4f}")
r4 = lim.reserve_n(at(100), 3)
println("n > burst:", r4.ok, delay(r4, at(100)))
println("r2 delay seen from 300ms:", delay(r2, at(300)), "| from 900ms:", delay(r2, at(900)))

lim.set_limit_at(at(2000), 10)
print(f"SetLimitAt 2s -> 10/s: tokens {lim.tokens_at(at(2000)):.4f} at 2s, {lim.tokens_at(at(2050)):.4f} at 2.05s")
lim.set_burst_at(at(2050), 5)
print(f"SetBurstAt 2.05s -> 5: tokens {lim.tokens_at(at(2050)):.4f} at 2.05s, {lim.tokens_at(at(3000)):.4f} at 3s")

println("Every(100ms) =", f"{rate.every(0.1):g}", "| Every(0) is Inf:", rate.every(0) == rate.Inf)
inf = rate.Limiter(rate.Inf, 0)
ri = inf.reserve_n(at(0), 1000)
println("Inf ignores the burst:", inf.allow_n(at(0), 1000), ri.ok, delay(ri, at(0)))
