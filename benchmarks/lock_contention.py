"""Benchmark: Redis lock acquire latency and throughput vs contending clients, on a real redis-server.

Usage::

    .venv/bin/python benchmarks/lock_contention.py [--per-client N] [--max-clients C] [--processes]

Uses ``$REDIS_URL`` if set, else starts a throwaway ``redis-server`` (``hcedu.lab.redis_server``). For
1, 2, 4 ... C contenders (threads, or spawned processes with ``--processes``) each doing N
acquire/hold/release rounds, prints throughput and p50/p99 acquire latency for this course's
``RedisLock`` and redis-py's ``Lock``, polling with jittered backoff and retrying immediately, and the
round trips per uncontended acquire/release. Exits 1 if any configuration lost an acquisition
(every contender must complete all N rounds).
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd
import redis

from hcedu.lab import lockdemo, redis_server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-client", type=int, default=200, help="acquire/release rounds per contender")
    ap.add_argument("--max-clients", type=int, default=16, help="largest number of contenders")
    ap.add_argument("--hold", type=float, default=0.0002, help="seconds inside the critical section")
    ap.add_argument("--processes", action="store_true", help="contend from spawned processes, not threads")
    args = ap.parse_args()
    levels = tuple(n for n in (1, 2, 4, 8, 16, 32, 64) if n <= args.max_clients)
    with redis_server.real_redis() as url:
        factory = lambda: redis.Redis.from_url(url, decode_responses=True)  # noqa: E731
        print(f"server: {url}")
        print(lockdemo.round_trips(factory()).to_string(index=False), "\n")
        frames = []
        for impl in ("hcedu", "redis-py"):
            for poll in ("backoff", "immediate"):
                frames.append(lockdemo.contention(
                    factory, levels, per_client=args.per_client, hold=args.hold, impl=impl, poll=poll,
                    mode="processes" if args.processes else "threads", url=url, key="hcedu:bench:lock"))
        df = pd.concat(frames, ignore_index=True)
        with pd.option_context("display.width", 160):
            print(df.round({"seconds": 3, "throughput": 0, "p50_ms": 3, "p99_ms": 2}).to_string(index=False))
        complete = (df.acquisitions == df.contenders * args.per_client).all()
        print("\nall acquisitions completed:", bool(complete))
        return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
