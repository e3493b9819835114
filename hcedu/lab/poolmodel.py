"""The pool-sizing model of chapter 05: the roofline, Little's-law sizing, and a virtual-time pool.

A closed system of ``C`` callers sharing ``P`` connections, each held ``S`` seconds per command, completes
at most ``min(P, C) / S`` commands per second (Little's law, :func:`hcedu.lab.littles.predict`) and never
more than the client's own CPU ceiling ``X_cpu``: :func:`roofline`. :func:`size_pool` turns a target QPS
into a pool size; :func:`simulate_pool` runs Poisson traffic through a FIFO pool in virtual time
(seeded, deterministic).
"""

from __future__ import annotations

import math

from .. import _validate
from .littles import predict

__all__ = ["roofline", "size_pool", "simulate_pool"]

# -- the model --------------------------------------------------------------------------------------------
def roofline(pool_size: int, concurrency: int, service_time: float, cpu_ceiling: float) -> float:
    """The throughput ceiling ``min(min(P, C) / S, X_cpu)``: latency-bound below the knee (Little's law,
    :func:`hcedu.lab.littles.predict`), CPU-bound above."""
    bound = predict(concurrency, _validate.integer("pool_size", pool_size, minimum=1), service_time)
    return min(bound, _validate.number("cpu_ceiling", cpu_ceiling, minimum=0, strict=True, allow_inf=True))


def size_pool(target_qps: float, service_time: float, *, headroom: float = 0.3) -> int:
    """Connections needed for ``target_qps`` when each command holds a connection ``service_time`` s.

    Little's law: ``L = λ·W`` connections are busy on average; add ``headroom`` (0.3 = 30 %) for
    bursts and round up. E.g. 5,000 QPS × 2 ms = 10 busy connections -> 13 with 30 % headroom.
    """
    q = _validate.number("target_qps", target_qps, minimum=0, strict=True)
    s = _validate.number("service_time", service_time, minimum=0, strict=True)
    h = _validate.number("headroom", headroom, minimum=0)
    return max(1, math.ceil(q * s * (1 + h) - 1e-9))


def simulate_pool(pool_size: int, qps: float, rtt: float, *, jitter: float = 0.2, requests: int = 20_000,
                  seed: int = 0) -> dict[str, float]:
    """Request threads sharing a pool of ``pool_size`` connections, in virtual time (deterministic).

    Requests arrive at random (Poisson, ``qps`` per second, seeded) from many threads; each holds a
    connection for ``rtt × U(1 − jitter, 1 + jitter)`` seconds; a request that finds every connection busy
    waits, first come first served, for the first one freed (a FIFO pool; redis-py's blocking pool is LIFO
    and go-redis's is only roughly FIFO, which make the tail worse, not better). The same seed gives the
    same arrivals and hold times for every pool size, so sizes are compared on identical traffic.

    Returns ``pool_size``, ``qps``, ``utilisation`` (offered load ÷ pool size, ``qps × mean hold / P``;
    at 1 or more the queue grows without bound), ``throughput`` (completions per second over the run),
    ``p50``/``p99`` (latency: wait + hold, s), ``wait_p99``, ``wait_max`` (s) and ``waited`` (the
    fraction of requests that found no free connection).
    """
    import heapq
    import random
    pool_size = _validate.integer("pool_size", pool_size, minimum=1, maximum=100_000)
    qps = _validate.number("qps", qps, minimum=0, strict=True)
    rtt = _validate.number("rtt", rtt, minimum=0, strict=True)
    jitter = _validate.number("jitter", jitter, minimum=0, maximum=1)
    requests = _validate.integer("requests", requests, minimum=100)
    rng = random.Random(seed)   # Mersenne Twister's stream is the same on every Python version
    free = [0.0] * pool_size    # when each connection is next free (a min-heap)
    t = hold_total = end = 0.0
    waits, latency = [], []
    for _ in range(requests):
        t += -math.log(1.0 - rng.random()) / qps              # exponential gaps: Poisson arrivals
        hold = rtt * (1 - jitter + 2 * jitter * rng.random())
        start = max(t, free[0])
        heapq.heapreplace(free, start + hold)
        waits.append(start - t)
        latency.append(start - t + hold)
        hold_total += hold
        end = max(end, start + hold)

    def pct(values: list[float], q: float) -> float:   # nearest rank
        return sorted(values)[max(0, math.ceil(q / 100 * len(values)) - 1)]

    return {"pool_size": pool_size, "qps": qps, "utilisation": qps * hold_total / requests / pool_size,
            "throughput": requests / end, "p50": pct(latency, 50), "p99": pct(latency, 99),
            "wait_p99": pct(waits, 99), "wait_max": max(waits),
            "waited": sum(1 for w in waits if w > 0) / requests}
