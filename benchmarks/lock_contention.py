"""Benchmark: Redis lock acquire latency and throughput vs contending clients, on a real redis-server.

Usage::

    .venv/bin/python benchmarks/lock_contention.py [--per-client N] [--max-clients C] [--processes]

Uses ``$REDIS_URL`` if set, else starts a throwaway ``redis-server`` (``hcedu.lab.redis_server``). For
1, 2, 4 ... C contenders (threads, or spawned processes with ``--processes``) each doing N
acquire/hold/release rounds, prints throughput and p50/p99 acquire latency for this course's
``RedisLock`` and redis-py's ``Lock``, polling with jittered backoff and retrying immediately, and the
round trips per uncontended acquire/release. Claims (``hcedu.lab.bench``): every contender completes all
N rounds, the course's lock costs one round trip per acquire and per release, and at C contenders polling
with backoff is at least as fast as retrying immediately (a spinning retry burns the CPU and GIL the holder
needs).
"""

from __future__ import annotations

import argparse

import pandas as pd
import redis

from hcedu.lab import lockdemo, redis_server
from hcedu.lab.bench import Claims, run_main


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
        trips = lockdemo.round_trips(factory())
        print(trips.to_string(index=False), "\n")
        ours = trips.set_index("impl").loc["hcedu"]
        frames = []
        for impl in ("hcedu", "redis-py"):
            for poll in ("backoff", "immediate"):
                frames.append(lockdemo.contention(
                    factory, levels, per_client=args.per_client, hold=args.hold, impl=impl, poll=poll,
                    mode="processes" if args.processes else "threads", url=url, key="hcedu:bench:lock"))
        df = pd.concat(frames, ignore_index=True)
        with pd.option_context("display.width", 160):
            print(df.round({"seconds": 3, "throughput": 0, "p50_ms": 3, "p99_ms": 2}).to_string(index=False))
        claims = Claims("lock_contention")
        claims.exact("acquisitions completed / asked (all configurations)", int(df.acquisitions.sum()),
                     int((df.contenders * args.per_client).sum()))
        claims.exact("hcedu lock: round trips per acquire", float(ours["acquire"]), 1)
        claims.exact("hcedu lock: round trips per release", float(ours["release"]), 1)
        top = df[(df.impl == "hcedu") & (df.contenders == levels[-1])].set_index("poll")["throughput"]
        claims.check(f"hcedu lock, {levels[-1]} contenders: backoff / immediate, acquisitions/s",
                     top["backoff"] / top["immediate"], at_least=1.0)
        return claims.exit_code()


if __name__ == "__main__":
    run_main(main)
