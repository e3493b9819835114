"""Benchmark: counter throughput vs threads, in process and on a real redis-server, as ratios to a baseline.

Usage::

    .venv/bin/python benchmarks/counters.py [--ops N] [--redis-ops N] [--repeat R] [--max-threads T]

In process: ``LockedCounter`` is the baseline at each thread count; ``AtomicCounter`` and ``StripedCounter``
are printed as a ratio to it (expect ~1x: under the GIL nothing scales with threads, and striping does not
beat a single lock). Each counter's 8-thread rate is also printed as a ratio to its own 1-thread rate.
Claims (``hcedu.lab.bench``): the locked counter gains at most 1.5x from 1 to T threads, the striped one is
within 2x of the locked one at T threads (no N-fold win as in Go), batching beats INCR by >= 10x at T
threads with >= 50x fewer round trips, and every counter is exact.

Redis: uses ``$REDIS_URL`` if set, else starts a throwaway ``redis-server`` (``hcedu.lab.redis_server``);
``RedisCounter`` (INCR) is the baseline, ``ShardedRedisCounter`` and ``BatchedRedisCounter`` (flush every
100) are ratios to it, with the round trips each sent. Exits 1 if any counter lost an increment.
"""

from __future__ import annotations

import argparse

import pandas as pd
import redis

from hcedu.backend import Keyspace
from hcedu.lab import countbench, redis_server
from hcedu.lab.bench import Claims, run_main


def _ratios(df: pd.DataFrame, baseline: str) -> pd.DataFrame:
    rate = df.pivot(index="threads", columns="counter", values="ops_per_s")
    out = rate.div(rate[baseline], axis=0).round(2)
    out.columns = [f"{c} / {baseline}" for c in out.columns]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=200_000, help="in-process increments per point")
    ap.add_argument("--redis-ops", type=int, default=10_000, help="Redis increments per point")
    ap.add_argument("--repeat", type=int, default=3, help="runs per point (best is kept)")
    ap.add_argument("--max-threads", type=int, default=8)
    args = ap.parse_args()
    threads = tuple(n for n in (1, 2, 4, 8, 16, 32) if n <= args.max_threads)

    local = countbench.throughput(countbench.SAFE_IN_PROCESS, threads, args.ops, repeat=args.repeat)
    print("in process: increments/s")
    print(local.pivot(index="threads", columns="counter", values="ops_per_s").round(-3).to_string(), "\n")
    print(_ratios(local, "locked").to_string(), "\n")
    scale = local.pivot(index="threads", columns="counter", values="ops_per_s")
    print(f"{threads[-1]} threads / 1 thread:", (scale.loc[threads[-1]] / scale.loc[1]).round(2).to_dict(), "\n")
    top = threads[-1]
    claims = Claims("counters")
    claims.check(f"in process: locked, {top} threads / 1 thread", scale.loc[top, "locked"] / scale.loc[1, "locked"],
                 at_most=1.5)
    claims.check(f"in process: striped / locked at {top} threads", scale.loc[top, "striped"] / scale.loc[top, "locked"],
                 at_most=2.0)

    with redis_server.real_redis() as url:
        client = redis.Redis.from_url(url, decode_responses=True)
        ks = Keyspace("bench-counters", client)
        remote = countbench.throughput(countbench.SAFE_REDIS, threads, args.redis_ops, repeat=args.repeat,
                                       keyspace=ks)
        ks.cleanup()
        print(f"redis ({url}): increments/s")
        print(remote.pivot(index="threads", columns="counter", values="ops_per_s").round(-2).to_string(), "\n")
        print(_ratios(remote, "redis INCR").to_string(), "\n")
        trips = remote.groupby("counter")["round_trips"].max()
        print("round trips:", trips.astype(int).to_dict())
        rate = remote.pivot(index="threads", columns="counter", values="ops_per_s")
        claims.check(f"redis: batched / INCR at {top} threads, increments/s",
                     rate.loc[top, "batched redis"] / rate.loc[top, "redis INCR"], at_least=10)
        claims.check("redis: round trips, INCR / batched", trips["redis INCR"] / trips["batched redis"], at_least=50)
    both = pd.concat([local, remote], ignore_index=True)
    claims.exact("counters exact (of all runs)", int(both["exact"].sum()), len(both))
    return claims.exit_code()


if __name__ == "__main__":
    run_main(main)
