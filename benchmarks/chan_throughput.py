"""Benchmark: hcedu.go.Chan against queue.Queue (and asyncio.Queue), one producer -> one consumer.

Issue 7's targets, measured in the same run (kinds interleaved, median of --repeats):
  Chan(128) >= 1.25 x queue.Queue(128)    and    Chan(0) >= 1.6 x queue.Queue(1).
Exits 1 if a target is missed. ``--stress`` also runs the 8 producers x 8 consumers x 100,000
messages check (nothing lost or duplicated, per-producer FIFO). Usage:

    .venv/bin/python benchmarks/chan_throughput.py [--n 100000] [--repeats 5] [--stress]
"""

from __future__ import annotations

import argparse
import statistics

from hcedu.lab import chanbench
from hcedu.lab.bench import Claims, run_main

TARGETS = [(128, 128, 1.25), (0, 1, 1.6)]  # (Chan cap, queue.Queue maxsize, minimum ratio)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="messages per buffered run (unbuffered: n/5)")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repeats; medians are compared")
    ap.add_argument("--stress", action="store_true", help="also run 8x8x100,000 through Chan(64)")
    args = ap.parse_args()
    claims = Claims("chan_throughput")
    print("one producer thread -> one consumer thread, msgs/s (median of %d)" % args.repeats)
    for cap, qsize, target in TARGETS:
        n = args.n if cap else max(1, args.n // 5)
        runs: dict = {"Chan": [], "queue.Queue": [], "asyncio.Queue": []}
        for _ in range(args.repeats):
            runs["Chan"].append(chanbench.pipe_throughput("Chan", cap, n))
            runs["queue.Queue"].append(chanbench.pipe_throughput("queue.Queue", qsize, n))
            runs["asyncio.Queue"].append(chanbench.pipe_throughput("asyncio.Queue", qsize, n))
        med = {k: statistics.median(v) for k, v in runs.items()}
        print(f"  Chan({cap:<3d}) {med['Chan']:>12,.0f}   queue.Queue({qsize:<3d}) {med['queue.Queue']:>12,.0f}"
              f"   asyncio.Queue({qsize:<3d}) {med['asyncio.Queue']:>12,.0f}")
        claims.check(f"Chan({cap}) / queue.Queue({qsize}), msgs/s", med["Chan"] / med["queue.Queue"], at_least=target)
    if args.stress:
        r = chanbench.mpmc_stress(8, 8, 100_000, 64)
        print(f"stress 8x8x100,000 through Chan(64): sent {r['sent']:,} received {r['received']:,} "
              f"unique {r['unique']:,} per-producer FIFO {r['fifo_ok']} in {r['seconds']:.1f} s")
        claims.exact("stress: received / sent", r["received"], r["sent"])
        claims.exact("stress: distinct received / sent", r["unique"], r["sent"])
        claims.exact("stress: per-producer FIFO held (1 = yes)", float(r["fifo_ok"]), 1.0)
    return claims.exit_code()


if __name__ == "__main__":
    run_main(main)
