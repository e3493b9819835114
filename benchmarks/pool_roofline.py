"""Benchmark: measured throughput vs the roofline min(min(P, C)/S, X_cpu) over the full grid.

    .venv/bin/python benchmarks/pool_roofline.py [--backend embedded|real|both] [--mix get|pipe30] [--duration 0.3]

Prints, per backend, S and X_cpu (measured in the same run), then every (P, C) point with the ratio
measured / roofline and its regime, and a summary: the worst |ratio - 1| among points where one ceiling
is at most half the other. The unit tests assert the latency-bound side within 15 %; this script is for
looking at the whole picture, including the knee and the CPU plateau (Python threads reach 0.6-1.2 of
the one-thread X_cpu, see notebooks/05_redis_connection_pool.ipynb).
"""

from __future__ import annotations

import argparse

import pandas as pd

from hcedu.lab import loadgen, pool as P, redis_server


def _pipe30(client, key, rng):
    pipe = client.pipeline(transaction=False)
    for _ in range(30):
        pipe.get(key)
    return pipe.execute()


def run(backend: str, mix: str, duration: float) -> pd.DataFrame:
    with P.one_core(), P.PoolLab(backend, delay=0.002) as lab:
        m = P.measure_ceilings(lab, duration=0.3, mix=mix)
        print(f"\n== {lab.describe()}  mix={mix}: S = {m['service_time'] * 1e3:.3f} ms, "
              f"X_cpu = {m['cpu_ceiling']:,.0f}/s")
        df = P.sweep(lab, pool_sizes=(1, 2, 4, 8, 16, 32), concurrencies=(1, 2, 4, 8, 16, 32),
                     duration=duration, mix=mix, progress=True)
        return P.with_model(df, m["service_time"], m["cpu_ceiling"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=("embedded", "real", "both"), default="both")
    ap.add_argument("--mix", choices=("get", "pipe30"), default="get")
    ap.add_argument("--duration", type=float, default=0.3)
    args = ap.parse_args()
    loadgen.OPS["pipe30"] = _pipe30
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
    try:
        for b in backends:
            df = run(b, args.mix, args.duration)
            print(df[["pool_size", "concurrency", "throughput", "hold", "p99", "roofline", "ratio", "regime"]]
                  .round(4).to_string(index=False))
            for regime in ("latency", "cpu"):
                sel = df[df["regime"] == regime]
                if len(sel):
                    print(f"{regime}-bound points: {len(sel)}, worst |ratio - 1| = {(sel['ratio'] - 1).abs().max():.3f}")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
