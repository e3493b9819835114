"""Checker for exercise 09: a token bucket that passes golang.org/x/time/rate's own cases.

The learner's class is built as ``cls(rate, burst)`` and must offer ``allow_n(t, n) -> bool`` and
``tokens_at(t) -> float`` with ``t`` an explicit time in seconds (no clock). The case tables are
x/time/rate's ``TestLimiterBurst1``/``Burst3``/``JumpBackwards`` (``rate_test.go``), rescaled from 10/s with
100 ms steps to 8/s with 125 ms steps so every number is exact in binary floating point (a float-based
bucket then gets exactly Go's answers); seeded random sequences are compared with :class:`hcedu.go.rate.Limiter`
as the oracle, on the same exact grid.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable

from ...go.rate import Limiter
from . import Verdict, run_checks

__all__ = ["token_bucket"]

R = 8.0  # tokens per second: one token per step
D = 0.125  # one step, in seconds
T0 = 1000.0
t0, t1, t2, t3, t4, t9 = (T0 + k * D for k in (0, 1, 2, 3, 4, 9))

#: (t, tokens_at(t) before the call, n, allow_n(t, n)) -- x/time/rate rate_test.go, rescaled
BURST1 = [(t0, 1, 1, True), (t0, 0, 1, False), (t0, 0, 1, False), (t1, 1, 1, True), (t1, 0, 1, False),
          (t1, 0, 1, False), (t2, 1, 2, False), (t2, 1, 1, True), (t2, 0, 1, False)]
BURST3 = [(t0, 3, 2, True), (t0, 1, 2, False), (t0, 1, 1, True), (t0, 0, 1, False), (t1, 1, 4, False),
          (t2, 2, 1, True), (t3, 2, 1, True), (t4, 2, 1, True), (t4, 1, 1, True), (t4, 0, 1, False),
          (t4, 0, 1, False), (t9, 3, 3, True), (t9, 0, 0, True)]
JUMP_BACK = [(t1, 3, 1, True), (t0, 2, 1, True), (t0, 1, 1, True), (t0, 0, 1, False), (t0, 0, 1, False),
             (t1, 1, 1, True), (t1, 0, 1, False), (t1, 0, 1, False), (t2, 1, 1, True), (t2, 0, 1, False),
             (t2, 0, 1, False)]


def _tokens(b: Any, t: float) -> float:
    """``b.tokens_at(t)``, checked to be a number (a learner's other return value is their error, not ours)."""
    got = b.tokens_at(t)
    assert isinstance(got, (int, float)) and not isinstance(got, bool), (
        f"tokens_at({t - T0:g}) should return a number of tokens, got {type(got).__name__} {got!r}")
    return got


def _run(cls: Callable[..., Any], rate: float, burst: int, steps: list, tokens: bool = True) -> None:
    b = cls(rate, burst)
    for i, (t, toks, n, ok) in enumerate(steps):
        if tokens:
            got = _tokens(b, t)
            assert math.isclose(got, toks, abs_tol=1e-9), \
                f"rate={rate:g} burst={burst}, step {i + 1}: tokens_at({t - T0:g}) = {got!r}, want {toks}"
        got = b.allow_n(t, n)
        assert got is ok or got == ok, \
            f"rate={rate:g} burst={burst}, step {i + 1}: allow_n({t - T0:g}, {n}) = {got!r}, want {ok}"


def _oracle(cls: Callable[..., Any], seed: int, sequences: int = 200, steps: int = 40) -> None:
    rng = random.Random(seed)
    for s in range(sequences):
        rate = rng.choice([0.5, 1, 2, 4, 8, 16])
        burst = rng.randint(1, 8)
        mine, ref = cls(rate, burst), Limiter(rate, burst)
        t = T0
        for i in range(steps):
            t += rng.choice([0, 0, 1, 2, 5, 16, 64]) / 64 * (-1 if rng.random() < 0.05 else 1)
            n = rng.randint(0, burst + 1)
            want_tokens = ref.tokens_at(t)
            got_tokens = _tokens(mine, t)
            assert math.isclose(got_tokens, want_tokens, abs_tol=1e-9), \
                (f"sequence {s} (rate={rate:g}, burst={burst}), step {i + 1}: tokens_at({t - T0:g}) = "
                 f"{got_tokens!r}, x/time/rate says {want_tokens!r}")
            want, got = ref.allow_n(t, n), mine.allow_n(t, n)
            assert bool(got) == want, \
                (f"sequence {s} (rate={rate:g}, burst={burst}), step {i + 1}: allow_n({t - T0:g}, {n}) = "
                 f"{got!r}, x/time/rate says {want}")


def token_bucket(cls: Callable[..., Any]) -> Verdict:
    """Check a token-bucket class ``cls(rate, burst)`` with ``allow_n(t, n)`` and ``tokens_at(t)``: initially full,
    refilled at ``rate`` per second up to ``burst``, against x/time/rate's cases and edge cases."""

    def starts_full() -> None:
        b = cls(4, 5)
        got = _tokens(b, T0)
        assert math.isclose(got, 5), f"a new bucket of burst 5 should hold 5 tokens, holds {got!r}"
        assert b.allow_n(T0, 5) and not b.allow_n(T0, 1), "burst 5: five at once, then nothing"

    def burst_1() -> None:
        _run(cls, R, 1, BURST1)

    def burst_3() -> None:
        _run(cls, R, 3, BURST3)

    def jump_backwards() -> None:
        _run(cls, R, 3, JUMP_BACK)

    def more_than_burst() -> None:
        b = cls(R, 2)
        for k in range(20):
            assert not b.allow_n(T0 + k, 3), "n > burst can never be allowed, however long you wait"
        assert b.allow_n(T0 + 100, 2), "n == burst is allowed when the bucket is full"
        assert b.allow_n(T0 + 100, 0), "n = 0 is always allowed"

    def zero_limit() -> None:
        b = cls(0, 2)
        assert b.allow_n(T0, 1) and b.allow_n(T0 + 1, 1), "rate 0 still starts with burst tokens"
        for k in range(2, 50):
            assert not b.allow_n(T0 + 10 * k, 1), "rate 0 never refills"
        assert not cls(0, 0).allow_n(T0, 1), "rate 0, burst 0 allows nothing"
        for rate in (0, R):
            assert cls(rate, 0).allow_n(T0, 0) and cls(rate, 0).allow_n(T0 + 5, 0), (
                f"rate={rate:g} burst=0: allow_n(t, 0) must be True (n = 0 <= burst and 0 tokens cover it): "
                f"compare n with burst, not burst with 0")

    def infinite_limit() -> None:
        for burst in (0, 1):
            b = cls(math.inf, burst)
            assert all(b.allow_n(T0, 1000) for _ in range(100)), \
                f"rate inf allows everything (even n > burst={burst}); inf * 0 s is NaN -- special-case it"
            for t in (T0, T0 + 1):
                got = _tokens(b, t)
                assert got == burst, (f"rate inf, burst={burst}: tokens_at({t - T0:g}) = {got!r}; the bucket "
                                      f"still holds at most burst tokens (x/time/rate says {float(burst)!r})")

    def matches_go() -> None:
        _oracle(cls, seed=9)

    return run_checks("token bucket vs x/time/rate", [
        ("a new bucket is full", starts_full, "start with tokens = burst"),
        ("x/time/rate TestLimiterBurst1", burst_1,
         "tokens = min(burst, tokens + (t - last) * rate); take n if tokens >= n, and then set last = t"),
        ("x/time/rate TestLimiterBurst3", burst_3, "n = 0 is allowed; refill is elapsed * rate, capped at burst"),
        ("x/time/rate TestLimiterJumpBackwards", jump_backwards,
         "if t is earlier than last, no time has passed (elapsed = 0), and a success still sets last = t"),
        ("n > burst is never allowed; n = 0 always is", more_than_burst, "compare n with burst first"),
        ("rate 0 never refills", zero_limit, "with rate 0 the bucket only ever has its initial burst"),
        ("rate inf allows everything", infinite_limit, "if rate is math.inf return True before any arithmetic"),
        ("200 random sequences agree with hcedu.go.rate.Limiter", matches_go,
         "tokens_at(t) must not change the bucket; only a successful allow_n does (n = 0 included: it "
         "still sets last = t); elapsed time counts in full, never rounded"),
    ])
