"""Checker for exercise 05: size a Redis connection pool for a target QPS and p99 with Little's law."""

from __future__ import annotations

import math
from typing import Callable

from . import Verdict, run_checks

__all__ = ["pool_sizing", "SCENARIOS"]

#: (target QPS, p99 target in seconds, measured round-trip time in seconds)
SCENARIOS: tuple[tuple[float, float, float], ...] = (
    (2000.0, 0.010, 0.002),
    (800.0, 0.020, 0.005),
    (4000.0, 0.010, 0.001),
)


def pool_sizing(choose_pool_size: Callable[[float, float, float], int], *, duration: float = 0.3) -> Verdict:
    """Check ``choose_pool_size(target_qps, p99_target, rtt) -> int`` on each of :data:`SCENARIOS`.

    For each one the checker builds an embedded Redis with that round-trip time (±20 % jitter), runs as
    many closed-loop callers as the chosen pool has connections for ``duration`` seconds, and checks that
    throughput reaches the target, p99 stays under its target, and the pool is at most 2× the minimum
    ``ceil(target_qps × S)`` (``S`` = the hold time measured in the same run).
    """
    from ...lab import loadgen, stats
    from ...lab import pool as P

    def returns_an_int() -> None:
        got = choose_pool_size(*SCENARIOS[0])
        assert isinstance(got, int) and not isinstance(got, bool), \
            f"return an int number of connections, got {type(got).__name__}: {got!r}"
        assert got >= 1, f"a pool needs at least 1 connection, got {got}"

    def scenario(qps: float, p99: float, rtt: float) -> Callable[[], None]:
        def check() -> None:
            size = choose_pool_size(qps, p99, rtt)
            assert isinstance(size, int) and size >= 1, f"expected an int >= 1, got {size!r}"
            assert size <= 256, f"{size} connections is far more than any of these targets needs"
            with P.PoolLab("embedded", delay=rtt, jitter=rtt * 0.2, seed=5) as lab:
                s = P.measure_ceilings(lab, duration=0.15)["service_time"]
                client = lab.client(size, "blocking", timeout=1.0, record=False)
                client.connection_pool.prefill(size)
                frame = loadgen.run_load(client, concurrency=size, duration=duration)
            got_qps = stats.throughput(frame)
            got_p99 = stats.percentiles(frame[frame["ok"]])["p99"]
            minimum = math.ceil(qps * s)
            assert got_qps >= qps, (f"{qps:,.0f} QPS at RTT {rtt * 1e3:g} ms: {size} connections gave only "
                                    f"{got_qps:,.0f}/s (each command holds a connection {s * 1e3:.2f} ms)")
            assert got_p99 <= p99, f"p99 was {got_p99 * 1e3:.1f} ms, target {p99 * 1e3:g} ms"
            assert size <= 2 * minimum, (f"{size} connections for {qps:,.0f} QPS at {s * 1e3:.2f} ms: more than "
                                         f"2× the {minimum} that Little's law needs (over-provisioned)")
        return check

    checks = [("returns a pool size", returns_an_int, "return an int, e.g. math.ceil(...)")]
    for qps, p99, rtt in SCENARIOS:
        checks.append((f"{qps:,.0f} QPS, p99 ≤ {p99 * 1e3:g} ms at RTT {rtt * 1e3:g} ms", scenario(qps, p99, rtt),
                       "connections needed = QPS × time each command holds one (a bit more than the RTT), "
                       "plus headroom, rounded up"))
    return run_checks("pool sizing with Little's law", checks)
