"""Checker for exercise 16: the canary rollback decision (promote / hold / rollback) from error counts."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...lab.canary import judge
from . import Verdict, run_checks

__all__ = ["canary_decision"]


def _robust_cases(n: int = 300, seed: int = 16) -> list[tuple[int, int, int, int, str]]:
    """Seeded random cases whose reference decision does not change when alpha is halved or doubled or the
    margin moves by 0.1, so any faithful implementation of the stated rules agrees with it."""
    rng = np.random.default_rng(seed)
    cases: list[tuple[int, int, int, int, str]] = []
    while len(cases) < n:
        bn = int(rng.choice([50, 200, 1000, 5000, 20000]))
        cn = int(rng.choice([20, 100, 500, 2000, 10000]))
        rb = float(rng.choice([0.005, 0.01, 0.02, 0.05]))
        rc = rb * float(rng.choice([0.8, 1.0, 1.2, 2.0, 3.0]))
        be, ce = int(rng.binomial(bn, rb)), int(rng.binomial(cn, rc))
        ref = judge(be, bn, ce, cn).decision
        if all(judge(be, bn, ce, cn, alpha=a, max_ratio=m).decision == ref
               for a in (0.025, 0.1) for m in (1.4, 1.6)):
            cases.append((be, bn, ce, cn, ref))
    return cases


def canary_decision(decide: Callable[..., Any]) -> Verdict:
    """Check ``decide(baseline_errors, baseline_n, canary_errors, canary_n, *, max_ratio=1.5, alpha=0.05,
    min_requests=100) -> "promote" | "hold" | "rollback"`` against the rules of the exercise."""

    def call(*args: int, **kw: Any) -> str:
        return decide(*args, **kw)

    def returns_a_decision() -> None:
        got = call(100, 10_000, 100, 10_000)
        assert got in ("promote", "hold", "rollback"), f"expected 'promote', 'hold' or 'rollback', got {got!r}"

    def expect(args: tuple[int, int, int, int], want: str, why: str) -> Callable[[], None]:
        def check() -> None:
            got = call(*args)
            assert got == want, f"{why}: expected {want!r}, got {got!r}"
        return check

    rolls_back_a_clear_regression = expect((100, 10_000, 300, 10_000), "rollback",
                                           "1 % vs 3 % on 10,000 requests each")
    holds_a_tiny_canary = expect((10, 1_000, 0, 50), "hold", "50 canary requests with 0 errors prove nothing yet")
    promotes_a_good_canary = expect((100, 10_000, 95, 10_000), "promote", "1.00 % vs 0.95 % on 10,000 requests each")
    tolerates_a_small_significant_difference = expect(
        (2000, 200_000, 2400, 200_000), "promote",
        "1.0 % vs 1.2 % on 200,000 each is significant but within the 1.5x margin")
    holds_when_it_cannot_tell = expect((20, 2000, 26, 2000), "hold",
                                       "1.0 % vs 1.3 % on 2,000 each can neither roll back nor promote")
    rolls_back_early_on_overwhelming_evidence = expect((10, 10_000, 30, 60), "rollback",
                                                       "30 errors in 60 canary requests vs 0.1 %")

    def agrees_on_random_cases() -> None:
        for be, bn, ce, cn, ref in _robust_cases():
            got = call(be, bn, ce, cn)
            assert got == ref, f"decide({be}, {bn}, {ce}, {cn}) returned {got!r}, expected {ref!r}"

    def rejects_impossible_counts() -> None:
        try:
            call(5, 4, 0, 10)
        except ValueError:
            return
        raise AssertionError("decide(5, 4, 0, 10) has more errors than requests: raise ValueError")

    return run_checks("canary rollback decision", [
        ("returns one of the three decisions", returns_a_decision, "return a str: 'promote', 'hold' or 'rollback'"),
        ("rolls back a 3x regression", rolls_back_a_clear_regression,
         "rule 1: one-sided pooled z-test p < alpha AND canary rate / baseline rate > max_ratio"),
        ("holds a canary that has seen too few requests", holds_a_tiny_canary,
         "rule 2: fewer than min_requests on either side -> 'hold'"),
        ("promotes a canary as good as the baseline", promotes_a_good_canary,
         "rule 3: the non-inferiority p-value (formula in the notebook) < alpha -> 'promote'"),
        ("does not roll back a significant but tolerable difference", tolerates_a_small_significant_difference,
         "rollback needs BOTH significance and a ratio above max_ratio"),
        ("holds when the data cannot decide", holds_when_it_cannot_tell,
         "rule 4: otherwise 'hold' (collect more requests)"),
        ("rolls back on overwhelming evidence even below min_requests", rolls_back_early_on_overwhelming_evidence,
         "check rule 1 before rule 2"),
        ("agrees with the reference on 300 random cases", agrees_on_random_cases,
         "pooled p = (be+ce)/(bn+cn); se = sqrt(p(1-p)(1/bn+1/cn)); P(Z>z) = erfc(z/sqrt(2))/2"),
        ("rejects more errors than requests", rejects_impossible_counts, "validate: 0 <= errors <= n"),
    ])
