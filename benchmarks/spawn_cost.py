"""Benchmark: memory and start time per concurrent unit (OS thread, asyncio task, greenlet) and switch cost.

Each figure comes from a fresh subprocess (hcedu.lab.spawncost). Prints per-unit figures and their ratios to
an asyncio task and to Go's 2 KB minimum goroutine stack. Claims (``hcedu.lab.bench``): an OS thread costs
>= 4x the memory and >= 2x the start time of an asyncio task, and a thread switch >= 2x a greenlet switch.
Usage:

    .venv/bin/python benchmarks/spawn_cost.py [--threads 2000] [--units 100000] [--rounds 50000]
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from hcedu.lab import spawncost
from hcedu.lab.bench import Claims, run_main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2000, help="OS threads to start (default 2000)")
    ap.add_argument("--units", type=int, default=100_000, help="asyncio tasks / greenlets to start (default 100000)")
    ap.add_argument("--rounds", type=int, default=50_000, help="hand-offs per unit in the switch test")
    args = ap.parse_args()
    pd.set_option("display.width", 160)
    counts = {"thread": [args.threads], "asyncio": [args.units], "greenlet": [args.units]}
    spawn = spawncost.measure_spawn(counts=counts, timeout=600)
    for _, r in spawn[~spawn["ok"]].iterrows():
        print(f"skipped {r['kind']}: {r['reason']}")
    r = spawncost.ratios(spawn)
    print("per unit (parked on an event), each kind in a fresh process:")
    for kind, row in r.iterrows():
        print(f"  {kind:9s} {int(row['count']):>8,d} units  {row['bytes_per_unit']:>9,.0f} B/unit  "
              f"{row['us_per_unit']:>8.2f} µs/unit  memory x{row.get('memory_x', float('nan')):6.1f}  "
              f"time x{row.get('time_x', float('nan')):6.1f} (vs asyncio)  {row['vs_go_2KB']:5.1f} x Go's 2 KB")
    sw = spawncost.measure_switch(rounds=args.rounds, timeout=600)
    ok = sw[sw["ok"]].set_index("kind")
    print("switch cost (two units handing control back and forth):")
    base = ok["ns_per_switch"].min()
    for kind, row in ok.iterrows():
        print(f"  {kind:9s} {row['ns_per_switch']:>10,.0f} ns/switch  x{row['ns_per_switch'] / base:6.1f} of the fastest")
    claims = Claims("spawn_cost")
    nan = float("nan")  # a kind that could not run fails its claim
    thread = r.loc["thread"] if "thread" in r.index else {}
    claims.check("OS thread / asyncio task, bytes per unit", thread.get("memory_x", nan), at_least=4)
    claims.check("OS thread / asyncio task, start time per unit", thread.get("time_x", nan), at_least=2)
    switch = ok["ns_per_switch"]
    claims.check("thread / greenlet, ns per switch", switch.get("thread", nan) / switch.get("greenlet", nan),
                 at_least=2)
    return claims.exit_code()


if __name__ == "__main__":
    run_main(main)
