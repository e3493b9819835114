"""Benchmark: leaderboard query latency vs board size (O(log N)) and add throughput, on a real redis-server.

Usage::

    .venv/bin/python benchmarks/leaderboard.py [--max 1000000] [--reps 500] [--threads 4]

Uses ``$REDIS_URL`` if set, else starts a throwaway ``redis-server`` (``hcedu.lab.redis_server``). Grows one
board from 1,000 members to ``--max`` (pipelined ZADD batches) and prints the median latency of ``top(10)``,
``rank``, ``around(m, 5)`` and of fetching the whole board, each as a ratio to the same query on the
1,000-member board measured in the same run: O(log N) queries stay near 1x while the fetch grows with N.
Then it prints adds/s from ``--threads`` threads for ZINCRBY (``tie_break="none"``) and the Lua composite add,
and checks that neither lost an update. Claims (``hcedu.lab.bench``): on the largest board each O(log N)
query's median stays within 3x of its 1,000-member median, the full fetch costs >= 10x, no update is lost.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from hcedu.backend import Keyspace, connect  # noqa: E402
from hcedu.clock import VirtualClock  # noqa: E402
from hcedu.lab import boardlab, redis_server, stats  # noqa: E402
from hcedu.lab.bench import Claims, run_main  # noqa: E402
from hcedu.patterns.leaderboard import Leaderboard  # noqa: E402


def adds_per_second(client, tie_break: str, threads: int, per: int) -> tuple[float, int]:
    """(adds/s from ``threads`` threads doing ``per`` adds each, points counted on the board afterwards)."""
    lb = Leaderboard("bench-add", client=client, keyspace=Keyspace("bench-lb", client), clock=VirtualClock(),
                     tie_break=tie_break)
    lb.clear()
    start = threading.Barrier(threads + 1)

    def worker(i: int) -> None:
        start.wait()
        for j in range(per):
            lb.add(f"p{(i * 7 + j) % 100}", 1)

    ts = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in ts:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    total = sum(e.points for e in lb.top(100))
    lb.clear()
    return threads * per / elapsed, total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--threads", type=int, default=4)
    args = ap.parse_args()
    with redis_server.real_redis() as url:
        client = connect(url)
        sizes = [s for s in (1_000, 10_000, 100_000, 1_000_000, 10_000_000) if s <= args.max]
        print(f"redis at {url}; board sizes {sizes}; {args.reps} calls per query")
        frame = boardlab.latency(sizes=sizes, reps=args.reps, full_reps=3, client=client)
        p50 = stats.summarize(frame, by=["op", "size"], unit="us").pivot(index="size", columns="op", values="p50")
        ratio = p50 / p50.iloc[0]
        print("median latency (µs):")
        print(p50.round(1).to_string())
        print(f"ratio to the {sizes[0]:,}-member board:")
        print(ratio.round(2).to_string())
        claims = Claims("leaderboard")
        top = ratio.iloc[-1]
        for op in top.index:
            if "fetch all" in op:
                claims.check(f"{op}: {sizes[-1]:,} / {sizes[0]:,} members, median", top[op], at_least=10)
            else:
                claims.check(f"{op}: {sizes[-1]:,} / {sizes[0]:,} members, median", top[op], at_most=3)
        for tie_break in ("none", "earliest"):
            name = "ZINCRBY" if tie_break == "none" else "Lua composite add"
            rate, total = adds_per_second(client, tie_break, args.threads, 2000)
            print(f"{name:>18}: {rate:>9,.0f} adds/s")
            claims.exact(f"{name}: points on the board / points added", total, args.threads * 2000)
        return claims.exit_code()


if __name__ == "__main__":
    run_main(main)
