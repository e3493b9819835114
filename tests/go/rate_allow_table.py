from _gofmt import v

from hcedu.go import rate


def at(ms):
    return 1000 + ms / 1000


lim = rate.Limiter(10, 3)
steps = [(0, 1), (0, 1), (0, 1), (0, 1), (50, 1), (100, 1), (100, 2), (400, 3), (400, 4), (300, 1),
         (1000, 0), (10000, 1)]
for ms, n in steps:
    ok = lim.allow_n(at(ms), n)
    print(f"t={ms:5d}ms n={n} allow={v(ok):<5} tokens={lim.tokens_at(at(ms)):.4f}")
print("limit", f"{lim.limit():g}", "burst", lim.burst())
