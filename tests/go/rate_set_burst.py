from _gofmt import println

from hcedu.go import rate


def at(ms):
    return 1000 + ms / 1000


lim = rate.Limiter(1, 5)
print(f"full: {lim.tokens_at(at(0)):.4f}")
lim.set_burst_at(at(0), 2)
print(f"burst 5 -> 2: tokens {lim.tokens_at(at(0)):.4f}, burst {lim.burst()}")
println("AllowN 2:", lim.allow_n(at(0), 2), "| AllowN 1:", lim.allow_n(at(0), 1))
lim.set_limit_at(at(500), 4)
print(f"limit 1 -> 4 at 500ms: tokens {lim.tokens_at(at(500)):.4f} at 500ms, {lim.tokens_at(at(750)):.4f} at 750ms")
lim.set_burst_at(at(750), 0)
println("burst 0 allows nothing:", lim.allow_n(at(5000), 1), "| n=0 still:", lim.allow_n(at(5000), 0))
lim.set_limit_at(at(5000), rate.Inf)
println("limit Inf ignores burst 0:", lim.allow_n(at(5000), 100))
