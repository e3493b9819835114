"""Failover loses a lock, counted: N runs of hcedu.lab.failover.lock_failover, with and without WAIT.

    .venv/bin/python benchmarks/failover.py [--runs 20]

Claims: every run without WAIT ends with two holders (the promoted replica never saw A's lock); every run
with WAIT ends with one (A gave up the unreplicated lock). Counts, not timings: they hold on any machine.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hcedu.lab import redis_cluster  # noqa: E402
from hcedu.lab.bench import Claims, run_main  # noqa: E402
from hcedu.lab.failover import lock_failover  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if not redis_cluster.available():
        print(f"skipped: {redis_cluster.NOT_INSTALLED}")
        return 0
    two = sum(len(lock_failover().holders) == 2 for _ in range(args.runs))
    one = sum(lock_failover(wait=True).holders == ("B",) for _ in range(args.runs))
    print(f"{args.runs} failovers without WAIT: {two} ended with two holders; with WAIT: {one} with B alone")
    claims = Claims("failover")
    claims.check(f"runs with two lock holders after failover / {args.runs} runs", two / args.runs, at_least=1.0)
    claims.check(f"runs where WAIT kept a single holder / {args.runs} runs", one / args.runs, at_least=1.0)
    return claims.exit_code()


if __name__ == "__main__":
    run_main(main)
