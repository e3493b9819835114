from _gofmt import println

from hcedu.go import context, rate


def wait_n(lim, ctx, n):
    try:
        lim.wait_n(ctx, n)
    except Exception as e:  # noqa: BLE001 - Go returns the error; print it as Go would
        return e
    return None


lim = rate.Limiter(1, 2)
bg = context.background()
println("n > burst:", wait_n(lim, bg, 3))
canceled, cancel = context.with_cancel(bg)
cancel()
println("canceled ctx:", wait_n(lim, canceled, 1))
println("tokens available:", wait_n(lim, bg, 2))
short, cancel_short = context.with_timeout(bg, 0.05)
println("next token is ~1s away, deadline 50ms:", wait_n(lim, short, 1))
cancel_short()
println("Inf limiter never waits, burst ignored:", wait_n(rate.Limiter(rate.Inf, 0), bg, 10))
fast = rate.Limiter(200, 1)
fast.allow()
println("a short real wait (~5ms):", wait_n(fast, bg, 1))
