"""hcedu.go.rate against golang.org/x/time/rate's own rate_test.go tables (and specs §7)."""

from __future__ import annotations

import math
import sys
import threading
import time

import pytest

from hcedu.clock import VirtualClock
from hcedu.go import context, rate
from hcedu.go.rate import Inf, Limiter, RateError, every

D = 0.1  # Go's d = 100 * time.Millisecond
T0 = 1000.0
T = {k: T0 + k * D for k in range(10)}
t0, t1, t2, t3, t4, t5, t9 = (T[k] for k in (0, 1, 2, 3, 4, 5, 9))


def test_limit_is_not_inf():
    assert 10.0 != Inf
    assert Inf == sys.float_info.max


@pytest.mark.parametrize("interval, lim", [
    (0, Inf), (-1e-9, Inf), (1e-9, 1e9), (1e-6, 1e6), (1e-3, 1e3), (10e-3, 100), (100e-3, 10),
    (1, 1), (2, 0.5), (2.5, 0.4), (4, 0.25), (10, 0.1),
    ((2 ** 63 - 1) / 1e9, 1e9 / (2 ** 63 - 1)),
])
def test_every(interval, lim):
    got = every(interval)
    assert math.isclose(got, lim, rel_tol=1e-9), (interval, got, lim)


def run(lim: Limiter, allows):
    """Go's run(): each step is (t, toks, n, ok): TokensAt(t) == toks, then AllowN(t, n) == ok."""
    for i, (t, toks, n, ok) in enumerate(allows):
        assert lim.tokens_at(t) == toks, f"step {i}: tokens_at({t}) = {lim.tokens_at(t)} want {toks}"
        assert lim.allow_n(t, n) == ok, f"step {i}: allow_n({t}, {n}) want {ok}"


def test_limiter_burst1():
    run(Limiter(10, 1), [
        (t0, 1, 1, True), (t0, 0, 1, False), (t0, 0, 1, False),
        (t1, 1, 1, True), (t1, 0, 1, False), (t1, 0, 1, False),
        (t2, 1, 2, False),  # burst size is 1, so n=2 always fails
        (t2, 1, 1, True), (t2, 0, 1, False),
    ])


def test_limiter_burst3():
    run(Limiter(10, 3), [
        (t0, 3, 2, True), (t0, 1, 2, False), (t0, 1, 1, True), (t0, 0, 1, False),
        (t1, 1, 4, False), (t2, 2, 1, True), (t3, 2, 1, True), (t4, 2, 1, True),
        (t4, 1, 1, True), (t4, 0, 1, False), (t4, 0, 1, False), (t9, 3, 3, True), (t9, 0, 0, True),
    ])


def test_limiter_jump_backwards():
    run(Limiter(10, 3), [
        (t1, 3, 1, True),  # start at t1
        (t0, 2, 1, True),  # jump back to t0, two tokens remain
        (t0, 1, 1, True), (t0, 0, 1, False), (t0, 0, 1, False),
        (t1, 1, 1, True),  # got a token
        (t1, 0, 1, False), (t1, 0, 1, False),
        (t2, 1, 1, True),  # got another token
        (t2, 0, 1, False), (t2, 0, 1, False),
    ])


def test_limiter_no_truncation_errors():
    assert Limiter(0.7692307692307693, 1, clock=VirtualClock(T0)).allow()


def test_simultaneous_requests():
    lim = Limiter(1, 5, clock=VirtualClock(T0))  # very slow replenishing bucket
    ok = []
    lock = threading.Lock()

    def f():
        if lim.allow():
            with lock:
                ok.append(1)

    threads = [threading.Thread(target=f) for _ in range(15)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(5)
    assert len(ok) == 5


def test_long_running_qps():
    clock = VirtualClock(T0)
    limit, burst = 100, 100
    lim = Limiter(limit, burst, clock=clock)
    num_ok = 0
    start = clock.now()
    end = start + 5
    while clock.now() < end:
        if lim.allow_n(clock.now(), 1):
            num_ok += 1
        clock.advance(0.002)
    elapsed = clock.now() - start
    ideal = burst + limit * elapsed
    assert num_ok <= int(ideal + 1)
    assert num_ok >= int(0.999 * ideal)


def d_since(t: float) -> int:
    return int((t - t0 + D / 2) // D)


def run_reserve(lim, t, n, act, ok, max_reserve=math.inf):
    """Go's runReserveMax on the internal reserveN(t, n, max)."""
    max_ns = (2 ** 63 - 1) if math.isinf(max_reserve) else round(max_reserve * 1e9)
    r = lim._reserve_n(t, n, max_ns)
    assert r.ok == ok, f"reserve_n(t{d_since(t)}, {n}) ok={r.ok} want {ok}"
    if r.ok:
        assert d_since(r.time_to_act) == d_since(act), \
            f"reserve_n(t{d_since(t)}, {n}) = t{d_since(r.time_to_act)} want t{d_since(act)}"
    return r


def test_simple_reserve():
    lim = Limiter(10, 2)
    run_reserve(lim, t0, 2, t0, True)
    run_reserve(lim, t0, 2, t2, True)
    run_reserve(lim, t3, 2, t4, True)


def test_mix():
    lim = Limiter(10, 2)
    run_reserve(lim, t0, 3, t1, False)  # n > burst
    run_reserve(lim, t0, 2, t0, True)
    run(lim, [(t1, 1, 2, False)])  # not enough tokens
    run_reserve(lim, t1, 2, t2, True)
    run(lim, [(t1, -1, 1, False)])  # negative tokens
    run(lim, [(t3, 1, 1, True)])


def test_cancel_invalid():
    lim = Limiter(10, 2)
    run_reserve(lim, t0, 2, t0, True)
    r = run_reserve(lim, t0, 3, t3, False)
    r.cancel_at(t0)  # no effect
    run_reserve(lim, t0, 2, t2, True)  # did not get extra tokens


def test_cancel_last():
    lim = Limiter(10, 2)
    run_reserve(lim, t0, 2, t0, True)
    r = run_reserve(lim, t0, 2, t2, True)
    r.cancel_at(t1)  # got 2 tokens back
    run_reserve(lim, t1, 2, t2, True)


def test_cancel_too_late():
    lim = Limiter(10, 2)
    run_reserve(lim, t0, 2, t0, True)
    r = run_reserve(lim, t0, 2, t2, True)
    r.cancel_at(t3)  # too late to cancel
    run_reserve(lim, t3, 2, t4, True)


def test_cancel_0_tokens():
    lim = Limiter(10, 2)
    run_reserve(lim, t0, 2, t0, True)
    r = run_reserve(lim, t0, 1, t1, True)
    run_reserve(lim, t0, 1, t2, True)
    r.cancel_at(t0)  # got 0 tokens back
    run_reserve(lim, t0, 1, t3, True)


def test_cancel_1_token():
    lim = Limiter(10, 2)
    run_reserve(lim, t0, 2, t0, True)
    r = run_reserve(lim, t0, 2, t2, True)
    run_reserve(lim, t0, 1, t3, True)
    r.cancel_at(t2)  # got 1 token back
    run_reserve(lim, t2, 2, t4, True)


def test_cancel_multi():
    lim = Limiter(10, 4)
    run_reserve(lim, t0, 4, t0, True)
    ra = run_reserve(lim, t0, 3, t3, True)
    run_reserve(lim, t0, 1, t4, True)
    rc = run_reserve(lim, t0, 1, t5, True)
    rc.cancel_at(t1)  # 1 token back
    ra.cancel_at(t1)  # 2 tokens back, as if C was never reserved
    run_reserve(lim, t1, 3, t5, True)


def test_reserve_jump_back():
    lim = Limiter(10, 2)
    run_reserve(lim, t1, 2, t1, True)  # start at t1
    run_reserve(lim, t0, 1, t1, True)  # should violate Limit,Burst
    run_reserve(lim, t2, 2, t3, True)
    # n=3 > burst fails and leaves the state unchanged
    run_reserve(lim, t0, 3, None, False)
    run_reserve(lim, t2, 1, t4, True)
    # max reserve too small: fails, state unchanged
    run_reserve(lim, t0, 2, None, False, max_reserve=D)
    run_reserve(lim, t2, 1, t5, True)


def test_reserve_jump_back_cancel():
    lim = Limiter(10, 2)
    run_reserve(lim, t1, 2, t1, True)  # start at t1
    r = run_reserve(lim, t1, 2, t3, True)
    run_reserve(lim, t1, 1, t4, True)
    r.cancel_at(t0)  # cancel at t0, get 1 token back
    run_reserve(lim, t1, 2, t4, True)  # should violate Limit,Burst


def test_reserve_set_limit():
    lim = Limiter(5, 2)
    run_reserve(lim, t0, 2, t0, True)
    run_reserve(lim, t0, 2, t4, True)
    lim.set_limit_at(t2, 10)
    run_reserve(lim, t2, 1, t4, True)  # violates Limit and Burst


def test_reserve_set_burst():
    lim = Limiter(5, 2)
    run_reserve(lim, t0, 2, t0, True)
    run_reserve(lim, t0, 2, t4, True)
    lim.set_burst_at(t3, 4)
    run_reserve(lim, t0, 4, t9, True)  # violates Limit and Burst


def test_reserve_set_limit_cancel():
    lim = Limiter(5, 2)
    run_reserve(lim, t0, 2, t0, True)
    r = run_reserve(lim, t0, 2, t4, True)
    lim.set_limit_at(t2, 10)
    r.cancel_at(t2)  # 2 tokens back
    run_reserve(lim, t2, 2, t3, True)


def test_reserve_max():
    lim = Limiter(10, 2)
    run_reserve(lim, t0, 2, t0, True, max_reserve=D)
    run_reserve(lim, t0, 1, t1, True, max_reserve=D)  # close future
    run_reserve(lim, t0, 1, t2, False, max_reserve=D)  # too far in the future


def test_public_reserve_n_delay():
    lim = Limiter(10, 2)
    assert lim.reserve_n(t0, 2).delay_from(t0) == 0
    r = lim.reserve_n(t0, 2)
    assert r.ok and math.isclose(r.delay_from(t0), 0.2)
    assert math.isclose(r.delay_from(t1), 0.1)
    assert r.delay_from(t3) == 0
    bad = lim.reserve_n(t0, 3)
    assert not bad.ok and bad.delay_from(t0) == math.inf


# --- WaitN (Go's tests with the fake timer = a VirtualClock) ----------------------------------------

def run_wait(clock, lim, ctx, n, delay_d, nil_err):
    start = clock.now()
    err = None
    try:
        lim.wait_n(ctx, n)
    except Exception as e:  # noqa: BLE001
        err = e
    waited = clock.now() - start
    assert (err is None) == nil_err, f"wait_n(n={n}) err={err!r}"
    got_d = int((waited + D / 2) // D)
    assert delay_d <= got_d <= (delay_d * 3 + 1) // 2, f"wait_n(n={n}) waited {waited}"
    return err


def test_wait_simple():
    clock = VirtualClock(T0)
    lim = Limiter(10, 3, clock=clock)
    ctx, cancel = context.with_cancel(context.background())
    cancel()
    err = run_wait(clock, lim, ctx, 1, 0, False)
    assert err is context.Canceled
    err = run_wait(clock, lim, context.background(), 4, 0, False)
    assert isinstance(err, RateError) and str(err) == "rate: Wait(n=4) exceeds limiter's burst 3"
    run_wait(clock, lim, context.background(), 2, 0, True)
    run_wait(clock, lim, context.background(), 3, 2, True)


def test_wait_cancel():
    clock = VirtualClock(T0)
    lim = Limiter(10, 3, clock=clock)
    ctx, cancel = context.with_cancel(context.background())
    run_wait(clock, lim, ctx, 2, 0, True)  # after this lim.tokens = 1
    clock.after(D, cancel)
    err = run_wait(clock, lim, ctx, 3, 1, False)
    assert err is context.Canceled
    # should get 3 tokens back, and have lim.tokens = 2
    run_wait(clock, lim, context.background(), 2, 0, True)


def test_wait_timeout():
    clock = VirtualClock(T0)
    lim = Limiter(10, 3, clock=clock)
    ctx, cancel = context.with_timeout(context.background(), D, clock=clock)
    try:
        run_wait(clock, lim, ctx, 2, 0, True)
        err = run_wait(clock, lim, ctx, 3, 0, False)
        assert isinstance(err, RateError) and str(err) == "rate: Wait(n=3) would exceed context deadline"
    finally:
        cancel()


def test_wait_inf():
    clock = VirtualClock(T0)
    lim = Limiter(Inf, 0, clock=clock)
    run_wait(clock, lim, context.background(), 3, 0, True)


def test_wait_real_clock_short():
    lim = Limiter(50, 1)  # real clock: one token per 20 ms
    started = time.monotonic()
    lim.wait_n(context.background(), 1)
    ctx, cancel = context.with_timeout(context.background(), 2.0)
    try:
        lim.wait_n(ctx, 1)  # waits for the refill on a real timer
    finally:
        cancel()
    # two tokens from a bucket of one at 50/s take >= 20 ms of real time (a lower bound, however slow the
    # machine; "tokens() < 1 afterwards" failed when the return itself took 20 ms and the bucket refilled)
    assert time.monotonic() - started >= 0.0195


def test_zero_limit():
    lim = Limiter(0, 1, clock=VirtualClock(T0))
    assert lim.allow()
    assert not lim.allow()


def test_set_after_zero_limit():
    clock = VirtualClock(T0)
    lim = Limiter(0, 1, clock=clock)
    assert lim.allow()  # starts full
    assert not lim.allow()  # never replenished
    lim.set_limit(10)
    run_wait(clock, lim, context.background(), 1, 1, True)  # a token in 100 ms


def test_tiny_limit():
    lim = Limiter(1e-10, 1, clock=VirtualClock(T0))
    assert lim.allow()
    assert not lim.allow()


def test_zero_limit_reserve_is_ok_with_infinite_delay():
    lim = Limiter(0, 1)
    assert lim.allow_n(t0, 1)
    r = lim.reserve_n(t0, 1)
    assert r.ok and r.delay_from(t0) == math.inf
    assert not lim.allow_n(t9, 1)


def test_zero_value_limiter_allows_only_n0():
    lim = Limiter(0, 0)
    assert lim.allow_n(t0, 0)
    assert not lim.allow_n(t0, 1)
    assert not lim.reserve_n(t0, 1).ok


def test_inf_ignores_burst_and_state():
    lim = Limiter(math.inf, 0)
    assert lim.limit() == Inf
    assert all(lim.allow_n(t0, 1000) for _ in range(5))
    r = lim.reserve_n(t0, 7)
    assert r.ok and r.delay_from(t0) == 0
    r.cancel_at(t0)  # no-op for Inf


def test_advance_does_not_mutate_and_back_in_time_never_refills():
    lim = Limiter(10, 5)
    assert lim.allow_n(t5, 5)
    assert lim.tokens_at(t9) == pytest.approx(4)
    assert lim.tokens_at(t0) == 0  # earlier than last: elapsed 0
    assert lim.tokens_at(t5) == 0  # tokens_at did not change the state


def test_set_burst_advances_at_old_rate():
    lim = Limiter(10, 2)
    assert lim.allow_n(t0, 2)
    lim.set_burst_at(t1, 5)
    assert lim.burst() == 5
    assert lim.tokens_at(t1) == pytest.approx(1)
    assert lim.tokens_at(T[5]) == pytest.approx(5)


def test_wait_n_cancel_restores_tokens_for_others():
    clock = VirtualClock(T0)
    lim = Limiter(10, 3, clock=clock)
    assert lim.allow_n(T0, 3)
    ctx, cancel = context.with_cancel(context.background())
    clock.after(0.05, cancel)
    with pytest.raises(context.CanceledError):
        lim.wait_n(ctx, 3)
    # the reservation was cancelled: its debt is gone
    assert lim.tokens_at(clock.now()) == pytest.approx(0.5)


@pytest.mark.parametrize("kwargs, exc", [
    (dict(limit=-1, burst=1), ValueError),
    (dict(limit="fast", burst=1), TypeError),
    (dict(limit=1, burst=-1), ValueError),
    (dict(limit=1, burst=1.5), TypeError),
    (dict(limit=float("nan"), burst=1), ValueError),
])
def test_bad_constructor_args(kwargs, exc):
    with pytest.raises(exc):
        Limiter(**kwargs)


def test_bad_method_args():
    lim = Limiter(1, 1)
    with pytest.raises(ValueError, match="n must be >= 0"):
        lim.allow_n(t0, -1)
    with pytest.raises(TypeError):
        lim.reserve_n("now", 1)
    with pytest.raises(ValueError):
        lim.set_burst_at(t0, -2)
    with pytest.raises(ValueError):
        lim.set_limit_at(t0, -0.5)
    with pytest.raises(TypeError):
        lim.wait_n(None, 1)
    with pytest.raises(ValueError):
        lim.wait_n(context.background(), -1)
    with pytest.raises(TypeError):
        every("1s")


def test_concurrent_reserve_accounting():
    """Many threads reserving at once never over-grant: the times to act are spaced 1/limit apart."""
    lim = Limiter(100, 1, clock=VirtualClock(T0))
    acts = []
    lock = threading.Lock()

    def f():
        for _ in range(50):
            r = lim.reserve_n(T0, 1)
            with lock:
                acts.append(r.time_to_act)

    threads = [threading.Thread(target=f) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(5)
    acts.sort()
    assert len(acts) == 200
    gaps = [b - a for a, b in zip(acts, acts[1:])]
    assert min(gaps) == pytest.approx(0.01, abs=1e-6)


def test_wait_n_checks_burst_before_context():
    lim = Limiter(10, 1, clock=VirtualClock(T0))
    ctx, cancel = context.with_cancel(context.background())
    cancel()
    with pytest.raises(RateError, match=r"exceeds limiter's burst 1"):
        lim.wait_n(ctx, 2)
    with pytest.raises(context.CanceledError):
        lim.wait_n(ctx, 1)
    assert lim.tokens_at(T0) == 1  # neither failure took tokens


def test_wait_n_no_delay_sets_no_timer():
    clock = VirtualClock(T0)
    lim = Limiter(10, 2, clock=clock)
    lim.wait_n(context.background(), 2)
    assert clock.pending() == 0 and clock.now() == T0
