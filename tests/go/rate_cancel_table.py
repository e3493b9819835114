from _gofmt import println, v

from hcedu.go import rate


def at(ms):
    return 1000 + ms / 1000


lim = rate.Limiter(1, 1)
r1 = lim.reserve_n(at(0), 1)
r2 = lim.reserve_n(at(0), 1)
r3 = lim.reserve_n(at(0), 1)
print(f"after 3 reservations: tokens {lim.tokens_at(at(0)):.4f}")
r2.cancel_at(at(500))
print(f"cancel r2 (r3 reserved after it): tokens {lim.tokens_at(at(500)):.4f}")
r3.cancel_at(at(500))
print(f"cancel r3 (the last one): tokens {lim.tokens_at(at(500)):.4f}")
r1.cancel_at(at(500))
print(f"cancel r1 (its time passed): tokens {lim.tokens_at(at(500)):.4f}")
r4 = lim.reserve_n(at(500), 1)
println("next reservation waits", round(r4.delay_from(at(500)) * 1e9), "ns")
r4.cancel_at(at(500))
r4.cancel_at(at(500))
print(f"cancel twice restores once: tokens {lim.tokens_at(at(500)):.4f}")
fail = lim.reserve_n(at(500), 2)
fail.cancel_at(at(500))
print(f"cancel of a failed reservation is a no-op: ok={v(fail.ok)} tokens {lim.tokens_at(at(500)):.4f}")
