"""Benchmark: two-level cache get latency, L1 hit vs L2 (Redis) hit, on a real redis-server and the embedded fakeredis.

Usage::

    .venv/bin/python benchmarks/twolevel.py [--gets N]

Uses ``$REDIS_URL`` if set, else starts a throwaway ``redis-server`` (``hcedu.lab.redis_server``). For each
backend it times N ``TwoLevelCache.get`` calls answered by L1 and N answered by Redis
(:func:`hcedu.lab.cachesim.measure_latency`) and prints p50/p99 in microseconds and the L2/L1 ratio measured in
the same run. Over a real network add the round trip (0.1-1 ms) to the L2 column. Claim
(``hcedu.lab.bench``): on each backend an L2 hit's median costs >= 10x an L1 hit's.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import fakeredis  # noqa: E402

from hcedu.backend import connect, embedded_server  # noqa: E402
from hcedu.lab import cachesim, redis_server  # noqa: E402
from hcedu.lab.bench import Claims, run_main  # noqa: E402
from hcedu.lab.stats import summarize  # noqa: E402


def report(name: str, client: object, gets: int) -> float:
    table = summarize(cachesim.measure_latency(gets, client=client), by="level", unit="us").set_index("level")
    l1, l2 = table.loc["L1"], table.loc["L2"]
    print(f"{name:<22} {l1['p50']:>9.1f} {l1['p99']:>9.1f} {l2['p50']:>9.1f} {l2['p99']:>9.1f} "
          f"{l2['p50'] / l1['p50']:>8.0f}x")
    return l2["p50"] / l1["p50"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gets", type=int, default=20_000)
    args = ap.parse_args()
    with redis_server.real_redis(required=False) as url:
        print(f"{args.gets} gets per level; latencies in µs")
        print(f"{'backend':<22} {'L1 p50':>9} {'L1 p99':>9} {'L2 p50':>9} {'L2 p99':>9} {'L2/L1':>9}")
        ratios = {"embedded fakeredis": report("embedded fakeredis", fakeredis.FakeRedis(
            server=embedded_server(), decode_responses=True), args.gets)}
        if url:
            ratios["redis-server"] = report("redis-server", connect(url), args.gets)
        else:
            print("(no redis-server installed and REDIS_URL not set: real-server row skipped)")
    claims = Claims("twolevel")
    for name, ratio in ratios.items():
        claims.check(f"{name}: L2 hit / L1 hit, median latency", ratio, at_least=10)
    return claims.exit_code()


if __name__ == "__main__":
    run_main(main)
