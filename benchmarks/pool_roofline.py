"""Benchmark: measured throughput vs the roofline min(min(P, C)/S, X_cpu) over the full grid.

    .venv/bin/python benchmarks/pool_roofline.py [--backend embedded|real|both] [--mix get|pipe30] [--rounds 3]

Prints, per backend, S and X_cpu (measured in the same run, interleaved with the points: see
``hcedu.lab.pool.interleaved_sweep``), then every (P, C) point of the 1..32 × 1..32 grid with the ratio
measured / roofline and its regime, and a summary: the range of ratios among points where one ceiling is
at most half the other. The tests assert the latency-bound side within 15 % and the CPU plateau in
[0.4, 1.15] × X_cpu; this script shows the whole picture, knee included (with 16-32 threads, GIL
hand-offs cost 10-50 % of the one-thread X_cpu, see notebooks/05_redis_connection_pool.ipynb).
Claims (``hcedu.lab.bench``), per backend: latency-bound points within [0.75, 1.15] x min(P, C)/S over the
whole grid (with 32 callers queueing on a blocking pool, every release wakes waiters: 10-25 % lost), and
CPU-bound points within [0.4, 1.15] x X_cpu. Knee points are printed, not claimed.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from hcedu.lab import pool as P, redis_server
from hcedu.lab.bench import Claims


GRID = [(p, c) for c in (1, 2, 4, 8, 16, 32) for p in (1, 2, 4, 8, 16, 32)]


def run(backend: str, mix: str, rounds: int) -> pd.DataFrame:
    with P.one_core(), P.PoolLab(backend, delay=0.002) as lab:
        res = P.interleaved_sweep(lab, GRID, rounds=rounds, slice_time=0.1, mix=mix, progress=True)
        print(f"\n== {lab.describe()}  mix={mix}: S = {res.service_time * 1e3:.3f} ms, "
              f"X_cpu = {res.cpu_ceiling:,.0f}/s (one thread, wall clock: {res.one_thread:,.0f}/s)")
        return res.frame


BOUNDS = {"latency": (0.75, 1.15, "min(P, C)/S"), "cpu": (0.4, 1.15, "X_cpu")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=("embedded", "real", "both"), default="both")
    ap.add_argument("--mix", choices=("get", "pipe30"), default="get")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    pd.set_option("display.width", 160)
    server = None
    backends = []
    if args.backend in ("embedded", "both"):
        backends.append("embedded")
    if args.backend in ("real", "both"):
        if redis_server.available():
            server = redis_server.start()
            backends.append(server.url)
        else:
            print("redis-server not installed: real backend skipped")
    claims = Claims("pool_roofline")
    try:
        for b in backends:
            df = run(b, args.mix, args.rounds)
            print(df[["pool_size", "concurrency", "throughput", "hold", "p99", "roofline", "ratio", "regime"]]
                  .round(4).to_string(index=False))
            name = "embedded" if b == "embedded" else "redis-server"
            for regime, (lo, hi, ceiling) in BOUNDS.items():
                sel = df[df["regime"] == regime]
                if len(sel):
                    print(f"{regime}-bound points: {len(sel)}, measured / roofline from {sel['ratio'].min():.2f} "
                          f"to {sel['ratio'].max():.2f}")
                    claims.check(f"{name}: {len(sel)} {regime}-bound points, lowest / {ceiling}", sel["ratio"].min(),
                                 at_least=lo)
                    claims.check(f"{name}: {len(sel)} {regime}-bound points, highest / {ceiling}", sel["ratio"].max(),
                                 at_most=hi)
    finally:
        if server is not None:
            server.stop()
    return claims.exit_code()


if __name__ == "__main__":
    sys.exit(main())
