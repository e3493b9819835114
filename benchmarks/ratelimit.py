"""Benchmark: rate-limit decisions per second per limiter, as ratios to a plain INCR measured in the same run.

Usage::

    .venv/bin/python benchmarks/ratelimit.py [--calls N] [--keys K] [--real]

Default backend: the embedded fakeredis (in-process, no network), so the numbers compare the *work*
each script does. ``--real`` uses ``$REDIS_URL`` or starts a throwaway ``redis-server``
(``hcedu.lab.redis_server``), where the round trip dominates and every one-script limiter costs about
one INCR. Each limiter makes N decisions over K keys on a RealClock; the sliding log's per-key ZSET
stays at ``limit`` members. The in-process limiters (no Redis at all) are listed for scale.
Claims (``hcedu.lab.bench``, with ``--real`` only): every one-script limiter decides at >= 0.4x the rate
of a plain INCR: one round trip each, plus the script's work, which now includes clamping the client's
clock to the server's ``TIME`` (issue 15: a skewed app server). Measured on an idle 2-core machine:
0.47x (GCRA) to 0.66x (fixed window); two round trips per decision would sit near 0.5x of that.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from hcedu.backend import Keyspace, connect  # noqa: E402
from hcedu.lab import redis_server  # noqa: E402
from hcedu.lab.bench import Claims, run_main  # noqa: E402
from hcedu.lab.limiters import GoRate, LeakyBucket, LocalFixedWindow, LocalSlidingLog, NaiveFixedWindow  # noqa: E402
from hcedu.patterns.ratelimit import LIMITERS  # noqa: E402


def per_second(fn, calls: int, keys: list[str]) -> float:
    for k in keys[:10]:  # warm up (script load, first keys)
        fn(k)
    t0 = time.perf_counter()
    for i in range(calls):
        fn(keys[i % len(keys)])
    return calls / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--keys", type=int, default=100)
    ap.add_argument("--limit", type=int, default=50, help="limit per window (the sliding log keeps this many members)")
    ap.add_argument("--real", action="store_true", help="use $REDIS_URL or a throwaway redis-server")
    args = ap.parse_args()
    with (redis_server.real_redis() if args.real else contextlib.nullcontext()) as url:
        client = connect(url)
        ks = Keyspace("bench-ratelimit", client)
        ks.cleanup()
        keys = [f"user{i}" for i in range(args.keys)]
        where = url or "embedded fakeredis"
        print(f"backend: {where}; {args.calls} decisions over {args.keys} keys; limit {args.limit} per 1 s")
        base = per_second(lambda k: client.incr(ks.key("incr", k)), args.calls, keys)
        rows = [("plain INCR (baseline)", base)]
        for label, cls in LIMITERS.items():
            lim = cls(client, limit=args.limit, window=1.0, keyspace=ks, name="bench")
            rows.append((label, per_second(lim.allow, args.calls, keys)))
        naive = NaiveFixedWindow(client, limit=args.limit, window=1.0, keyspace=ks, pause=0)
        rows.append(("naive GET+INCR (racy)", per_second(naive.allow, args.calls, keys)))
        for label, cls in [("local fixed window", LocalFixedWindow), ("local sliding log", LocalSlidingLog),
                           ("local leaky bucket", LeakyBucket), ("x/time/rate (GoRate)", GoRate)]:
            lim = cls(limit=args.limit, window=1.0)
            rows.append((label, per_second(lim.allow, args.calls, keys)))
        print(f"{'limiter':<24} {'decisions/s':>12} {'vs INCR':>8}")
        for label, r in rows:
            print(f"{label:<24} {r:>12,.0f} {r / base:>7.2f}x")
        ks.cleanup()
    if not args.real:
        print("(no claims on the embedded backend: it compares the scripts' work, not a round trip)")
        return 0
    claims = Claims("ratelimit")
    for label, r in rows[1:1 + len(LIMITERS)]:
        claims.check(f"{label} / plain INCR, decisions/s (redis-server)", r / base, at_least=0.4)
    return claims.exit_code()


if __name__ == "__main__":
    run_main(main)
