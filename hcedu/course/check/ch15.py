"""Checker for exercise 15: pick a cache-consistency strategy per scenario; the pick is run, not string-compared."""

from __future__ import annotations

from typing import Any, Callable

import fakeredis
from ...backend import new_fake_server  # db 0 made up front: fakeredis 2.41's first-use race

from ...backend import Keyspace
from ...lab import interleave as il
from ...patterns.consistency import STRATEGIES
from . import Verdict, run_checks

__all__ = ["choose_strategy", "SCENARIOS_15"]

SCENARIOS_15: list[dict[str, Any]] = [
    {"id": "prices", "text": "Two admin services update the same product prices concurrently; reads outnumber "
                             "writes 1000:1; a stale price must never stay cached.",
     "concurrent_writers": True, "replica_lag": 0.0, "writes_must_not_wait_for_db": False, "may_lose_writes": False},
    {"id": "replica", "text": "Readers load from a MySQL replica that lags up to 0.8 s; one writer; readers arrive "
                              "every 50 ms; a stale value must never stay cached.",
     "concurrent_writers": False, "replica_lag": 0.8, "writes_must_not_wait_for_db": False, "may_lose_writes": False},
    {"id": "likes", "text": "A like counter at 50k writes/s: the write path must not wait for the database; losing "
                            "the last second of likes in a crash is acceptable.",
     "concurrent_writers": True, "replica_lag": 0.0, "writes_must_not_wait_for_db": True, "may_lose_writes": True},
    {"id": "balances", "text": "Account balances, one writer per account: an acknowledged write must never be lost, "
                               "and a stale balance must never stay cached.",
     "concurrent_writers": False, "replica_lag": 0.0, "writes_must_not_wait_for_db": False, "may_lose_writes": False},
]


def _redis_opts(client: Any = None) -> dict:
    if client is None:
        client = fakeredis.FakeRedis(server=new_fake_server(), decode_responses=True)
    return {"client": client, "keyspace": Keyspace("ex15", client)}


def _pick(choose: Callable[[dict], str], sid: str) -> str:
    i, scenario = next((i, s) for i, s in enumerate(SCENARIOS_15) if s["id"] == sid)
    name = choose(dict(scenario, id=f"scenario-{i + 1}"))  # judged by its fields: the id is not the answer
    assert isinstance(name, str) and name in STRATEGIES, (
        f"choose() returned {name!r} for {sid!r}; pick one of: {', '.join(STRATEGIES)}")
    return name


def _with_background(name: str, actors: list[str]) -> list[str]:
    """``actors`` plus the strategy's background actor (write-behind's flusher, the CDC consumer), so that
    its step interleaves with the readers and writers instead of running only after all of them."""
    extra = [b for b, owner in il.BACKGROUND.items() if owner == name and b != "crash"]
    return actors + [b for b in extra if b not in actors]


def _never_stale(name: str, actors: list[str], runs: Any) -> None:
    """Fail at the first run whose cache ends stale (a wrong pick is reported after few schedules)."""
    for k, o in enumerate(runs, start=1):
        assert not o.final_stale, (f"{name!r} left the cache stale (cached version {o.final_cache}, newest "
                                   f"{o.final_truth}) in schedule {k} of {', '.join(actors)}: "
                                   f"{' '.join(o.schedule)}")


def choose_strategy(choose: Callable[[dict], str], client: Any = None) -> Verdict:
    """Check ``choose(scenario) -> strategy name`` by running each pick through the interleaving simulator:
    random schedules with concurrent writers, a timed run behind a lagging replica, the write path's steps,
    and a crash. A background actor (the write-behind flusher, the CDC consumer) takes part in the schedules
    like the readers and writers. ``client``: the Redis to run on (default: a fresh embedded fakeredis).
    The scenarios reach ``choose`` under neutral ids (``scenario-1`` ...): decide from their fields."""

    def _opts() -> dict:
        return _redis_opts(client)

    def returns_names() -> None:
        for s in SCENARIOS_15:
            _pick(choose, s["id"])

    def prices() -> None:
        name = _pick(choose, "prices")
        actors = ["r1", "r2", "w1", "w2"]
        _never_stale(name, actors, il.sample_runs(name, _with_background(name, actors), n=120, seed=15, **_opts()))

    def replica() -> None:
        name = _pick(choose, "replica")
        readers = [f"r{i}" for i in range(1, 31)]
        # the writer commits at once; the flusher / CDC consumer's pass runs 20 ms later
        o = il.run(name, None, actors=_with_background(name, readers + ["w1"]), replica_lag=0.8, delay=0.5,
                   starts={**{r: i * 0.05 for i, r in enumerate(readers)}, "flush": 0.02, "cdc": 0.02}, **_opts())
        assert not o.final_stale, (f"{name!r} behind a 0.8 s replica: a reader loaded the old row after the "
                                   f"invalidation and cached version {o.final_cache} (newest {o.final_truth})")

    def likes() -> None:
        name = _pick(choose, "likes")
        o = il.run(name, None, actors=["w1"], **_opts())
        waits = [row["op"] for row in o.trace if row["op"] == "db_write"]
        assert not waits, f"{name!r}'s write path waits for the database ({' → '.join(r['op'] for r in o.trace)})"
        flushed = il.run(name, None, actors=_with_background(name, ["w1"]), starts={"flush": 0.01}, **_opts())
        assert flushed.db_version == 2, f"{name!r}: the write never reached the database"

    def balances() -> None:
        name = _pick(choose, "balances")
        # the writer finishes, the process crashes 10 ms later, the flusher would have run at 20 ms
        crashed = il.run(name, None, actors=["w1", "crash", "flush"], starts={"crash": 0.01, "flush": 0.02},
                         **_opts())
        assert crashed.lost_writes == 0, f"{name!r} lost {crashed.lost_writes} acknowledged write(s) in a crash"
        _never_stale(name, ["r1", "w1"], il.enumerate_runs(name, _with_background(name, ["r1", "w1"]), **_opts()))

    return run_checks("choose a cache-consistency strategy", [
        ("choose() returns a strategy name for every scenario", returns_names,
         "return one of the keys of hcedu.patterns.consistency.STRATEGIES, decided from the scenario's fields "
         "(the checker passes the scenarios under neutral ids)"),
        ("prices: no schedule of 2 readers + 2 writers leaves a stale cache", prices,
         "concurrent writers + the stale-set race: only a conditional fill (version check or lease) closes both"),
        ("replica: nothing stale stays cached behind a 0.8 s replica", replica,
         "a DEL (the writer's, a second one, or a CDC consumer's) or a lease can't stop a reader loading the "
         "replica's old row after it; a version check can"),
        ("likes: the write path does not wait for the database", likes,
         "only one strategy acknowledges before the DB write"),
        ("balances: no acknowledged write is lost, and the cache is never left stale", balances,
         "write-behind loses its queue in a crash; cache-aside, CDC and friends have the stale-set race"),
    ])
