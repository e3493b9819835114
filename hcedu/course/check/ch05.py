"""Checker for exercise 05: size a Redis connection pool for a target QPS **and** a p99 target.

The verdict comes from :func:`hcedu.lab.pool.simulate_pool`: request threads sharing the pool, in
virtual time with a fixed seed, so it is the same on a busy laptop as on an idle CI runner (a live
load test would measure the machine as much as the pool). Three scenarios: one where Little's law plus
a little headroom is enough, one whose tight p99 needs far more headroom than the mean load suggests,
and one large pool where the same *factor* of headroom would be a gross over-provision: no single
multiplier of ``QPS × RTT`` passes all three, so the answer has to use ``p99_target``.
"""

from __future__ import annotations

import math
from typing import Callable

from . import Verdict, run_checks

__all__ = ["pool_sizing", "SCENARIOS", "smallest_pool"]

#: (target QPS, p99 target in seconds, measured round-trip time in seconds)
SCENARIOS: tuple[tuple[float, float, float], ...] = (
    (2000.0, 0.010, 0.002),     # 4 connections busy on average; a loose p99
    (1000.0, 0.0025, 0.002),    # 2 busy on average, but p99 only 0.5 ms above the round trip
    (20000.0, 0.010, 0.002),    # 40 busy on average: a big pool needs proportionally little headroom
)

#: the simulation's round-trip jitter (±20 %), stated in the exercise
JITTER = 0.2


def smallest_pool(qps: float, p99: float, rtt: float) -> int:
    """The smallest pool that meets both targets in the checker's simulation (Little's law is the floor)."""
    from ...lab.poolmodel import simulate_pool
    size = max(1, math.ceil(qps * rtt))
    while True:
        if qps * rtt < size and simulate_pool(size, qps, rtt, jitter=JITTER)["p99"] <= p99:
            return size
        size += 1


def _size_of(choose_pool_size: Callable[[float, float, float], int], qps: float, p99: float, rtt: float) -> int:
    got = choose_pool_size(qps, p99, rtt)
    assert isinstance(got, int) and not isinstance(got, bool), \
        f"return an int number of connections, got {type(got).__name__}: {got!r}"
    assert got >= 1, f"a pool needs at least 1 connection, got {got}"
    return got


def pool_sizing(choose_pool_size: Callable[[float, float, float], int]) -> Verdict:
    """Check ``choose_pool_size(target_qps, p99_target, rtt) -> int`` on each of :data:`SCENARIOS`.

    For each one: the pool must not be saturated (utilisation ``QPS × RTT / P`` below 1), the p99
    latency (wait for a connection + round trip) must meet ``p99_target``, and the pool may be at most 2×
    the smallest one that meets both (:func:`smallest_pool`), all in the same seeded simulation.
    """
    from ...lab.poolmodel import simulate_pool

    def returns_an_int() -> None:
        _size_of(choose_pool_size, *SCENARIOS[0])

    def scenario(qps: float, p99: float, rtt: float) -> Callable[[], None]:
        def check() -> None:
            size = _size_of(choose_pool_size, qps, p99, rtt)
            busy = qps * rtt
            assert size <= 1000, (f"{size:,} connections for {busy:g} busy on average: far more than any of "
                                  f"these targets needs (rtt is in seconds: {rtt:g} s = {rtt * 1e3:g} ms)")
            run = simulate_pool(size, qps, rtt, jitter=JITTER)
            assert busy < size, (
                f"{size} connections at {qps:,.0f} QPS × {rtt * 1e3:g} ms: {busy:g} are busy on average, so "
                f"the pool is saturated (utilisation {busy / size:.2f}) and the queue grows without bound "
                f"(p99 {run['p99'] * 1e3:,.0f} ms in this run, longer in a longer one)")
            assert run["p99"] <= p99, (
                f"p99 was {run['p99'] * 1e3:.2f} ms, target {p99 * 1e3:g} ms: at utilisation "
                f"{run['utilisation']:.2f}, {run['waited']:.0%} of requests found every connection busy and "
                f"waited (p99 wait {run['wait_p99'] * 1e3:.2f} ms)")
            need = smallest_pool(qps, p99, rtt)
            assert size <= 2 * need, (f"{size} connections for {qps:,.0f} QPS, p99 ≤ {p99 * 1e3:g} ms: more than "
                                      f"2× the {need} that meet both targets (over-provisioned)")
        return check

    checks = [("returns a pool size", returns_an_int, "return an int, e.g. math.ceil(...)")]
    for qps, p99, rtt in SCENARIOS:
        checks.append((f"{qps:,.0f} QPS, p99 ≤ {p99 * 1e3:g} ms at RTT {rtt * 1e3:g} ms", scenario(qps, p99, rtt),
                       "Little's law (QPS × RTT) is only the average number of busy connections: the floor. "
                       "How far above it you must go depends on the p99 target: the closer the target is "
                       "to one round trip, the rarer a wait for a connection may be"))
    return run_checks("pool sizing for a QPS and a p99 target", checks)
