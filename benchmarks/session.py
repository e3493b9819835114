"""Benchmark: session lookups per second, the atomic store (one Lua script) vs the naive EXISTS/EXPIRE/HGETALL.

Usage::

    .venv/bin/python benchmarks/session.py [--sessions N] [--lookups L] [--workers W]

Uses ``$REDIS_URL`` if set, else starts a throwaway ``redis-server`` (``hcedu.lab.redis_server``). W threads
look up N sessions L times in total through each store (``get(sid)``: check + slide), and print lookups/s for
both, the ratio, and the round trips each lookup costs (1 vs 3). A second pass runs the free-running race
(:func:`hcedu.lab.sessionlab.check_then_act_race`, ``mode="threads"``) and prints how many requests each store
let in on a session that had already been logged out. Claims (``hcedu.lab.bench``): the atomic store
serves >= 1.5x the lookups/s of the naive one, and lets no request in on a dead session.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from hcedu.backend import Keyspace, connect  # noqa: E402
from hcedu.clock import VirtualClock  # noqa: E402
from hcedu.lab import redis_server, sessionlab  # noqa: E402
from hcedu.lab.bench import Claims, run_main  # noqa: E402
from hcedu.patterns.session import NaiveSessionStore, SessionStore  # noqa: E402


def lookups_per_second(store: SessionStore, sessions: int, lookups: int, workers: int) -> float:
    sids = [store.create(f"u{i}") for i in range(sessions)]
    per = lookups // workers

    def worker(w: int) -> None:
        for j in range(per):
            assert store.get(sids[(w * 7919 + j) % sessions]) is not None

    t0 = time.perf_counter()
    sessionlab.run_threads(worker, workers, workers, name="hcedu-bench-session")
    return per * workers / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    with redis_server.real_redis() as url:
        client = connect(url)
        ks = Keyspace("bench-session", client)
        ks.cleanup()
        print(f"redis at {url}; {args.sessions} sessions; {args.lookups} lookups; {args.workers} workers")
        rates = {}
        for name, cls in (("atomic (1 script)", SessionStore), ("naive (EXISTS, EXPIRE, HGETALL)", NaiveSessionStore)):
            store = cls(client, ttl=1800, keyspace=ks, clock=VirtualClock())
            rates[name] = lookups_per_second(store, args.sessions, args.lookups, args.workers)
            print(f"{name:>32}: {rates[name]:>10,.0f} lookups/s")
            ks.cleanup()
        atomic, naive = rates.values()
        print(f"{'atomic / naive':>32}: {atomic / naive:>10.2f}x  (1 round trip per lookup vs 3)")
        race = sessionlab.race_summary(sessionlab.check_then_act_race(300, mode="threads", client=client))
        print("\nfree-running race, 300 requests each racing a logout (2 ms between the naive store's commands):")
        print(race.to_string())
        ks.cleanup()
    claims = Claims("session")
    claims.check("atomic / naive store, lookups/s", atomic / naive, at_least=1.5)
    atomic_row = race.iloc[1]
    claims.check("atomic store: torn sessions returned / requests",
                 atomic_row[sessionlab.TORN] / atomic_row["requests"], at_most=0.0)
    return claims.exit_code()


if __name__ == "__main__":
    run_main(main)
