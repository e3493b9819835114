"""Checker for exercise 15: pick a cache-consistency strategy per scenario; the pick is run, not string-compared.

``choose`` gets the four stated scenarios (:data:`SCENARIOS_15`) under neutral ids, and five variants of them
(:data:`VARIANTS_15`: a replica lagging 50 ms or 0.3 s, concurrent writers behind a replica, a no-wait counter
with one writer, writes that may be lost but may also wait), each under a text that does not describe it
(empty, or another scenario's), so only the fields decide. Each check is one requirement, read from the
fields, and judges the pick of every scenario that has it in the interleaving simulator:

* no stale value stays cached, unless the write path must not wait for the database (write-behind, the only
  strategy that acknowledges first, cannot promise that): random schedules of 2 readers + 2 writers where
  ``concurrent_writers``, every schedule of a reader and the writer where there is one writer;
* ``replica_lag`` > 0: a timed run of 30 readers behind a replica that lags that long, arriving at least five
  times per lag (every 50 ms at most);
* ``writes_must_not_wait_for_db``: the write path has no DB write, and the write reaches the DB later;
* not ``may_lose_writes``: no acknowledged write is lost when the process crashes after the write.

No fixed answer table is in here: what a pick must survive is the simulator's, for every scenario alike.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

import fakeredis
from ...backend import new_fake_server  # db 0 made up front: fakeredis 2.41's first-use race

from ...backend import Keyspace
from ...lab import interleave as il
from ...patterns.consistency import STRATEGIES
from . import Verdict, run_checks

__all__ = ["choose_strategy", "SCENARIOS_15", "VARIANTS_15"]

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

FIELDS = ("concurrent_writers", "replica_lag", "writes_must_not_wait_for_db", "may_lose_writes")


def _variant(base: str, text_of: str | None, **fields: Any) -> dict[str, Any]:
    scenario = dict(next(s for s in SCENARIOS_15 if s["id"] == base), **fields)
    texts = {s["id"]: s["text"] for s in SCENARIOS_15}
    return dict(scenario, id=f"{base} variant", text=texts[text_of] if text_of else "", text_of=text_of)


#: The stated scenarios with other field values, under a text that does not describe them: another scenario's
#: (``text_of``) or none. The fields decide; the simulator judges every pick as it judges the stated ones.
VARIANTS_15: list[dict[str, Any]] = [
    _variant("replica", "likes", replica_lag=0.3),                          # a shorter lag is still a lag
    _variant("replica", None, replica_lag=0.05),                            # and a 50 ms one too
    _variant("likes", "prices", concurrent_writers=False),                  # a no-wait counter, one writer
    _variant("prices", "likes", may_lose_writes=True),                      # may lose writes, but may wait
    _variant("prices", "balances", replica_lag=0.05),                       # concurrent writers behind a replica
]


#: The simulations a strategy has passed, per Redis client (``None``: the default, a fresh embedded fakeredis
#: each time). The simulator is deterministic (seeded schedules, a virtual clock), so a pick that passed a
#: simulation on a client passes it again there: it is not re-run when the checker is. A failure is never
#: remembered: every run of the checker re-runs (and reports) the simulation that rejects a pick.
_PASSED: weakref.WeakKeyDictionary[Any, set[tuple]] = weakref.WeakKeyDictionary()
_PASSED_DEFAULT: set[tuple] = set()


def _passed(client: Any) -> set[tuple]:
    if client is None:
        return _PASSED_DEFAULT
    try:
        return _PASSED.setdefault(client, set())
    except TypeError:  # not weakly referenceable or not hashable: judge afresh
        return set()


def _redis_opts(client: Any = None) -> dict:
    if client is None:
        client = fakeredis.FakeRedis(server=new_fake_server(), decode_responses=True)
    return {"client": client, "keyspace": Keyspace("ex15", client)}


def _all() -> list[tuple[str, dict[str, Any]]]:
    """Every scenario as ``choose`` gets it: (neutral id, scenario), the stated ones first."""
    out = []
    for i, s in enumerate(SCENARIOS_15 + VARIANTS_15, start=1):
        given = {k: v for k, v in s.items() if k != "text_of"}
        out.append((f"scenario-{i}", dict(given, id=f"scenario-{i}")))  # judged by its fields: the id is not the answer
    return out


def _pick(choose: Callable[[dict], str], sid: str) -> str:
    name = choose(dict(dict(_all())[sid]))
    assert isinstance(name, str) and name in STRATEGIES, (
        f"choose() returned {name!r} for {_describe(sid) if _is_variant(sid) else repr(_stated_id(sid))}; pick "
        f"one of: {', '.join(STRATEGIES)}")
    return name


def _stated_id(sid: str) -> str:
    return SCENARIOS_15[int(sid[9:]) - 1]["id"]


def _is_variant(sid: str) -> bool:
    return int(sid[9:]) > len(SCENARIOS_15)


def _describe(sid: str) -> str:
    """A variant as the learner's function saw it: its neutral id, its fields, and whose text it carried."""
    v = VARIANTS_15[int(sid[9:]) - len(SCENARIOS_15) - 1]
    fields = ", ".join(f"{k}={v[k]!r}" for k in FIELDS)
    text = f"the text of {v['text_of']!r}" if v["text_of"] else "an empty text"
    return f"{sid} ({fields}; it came with {text}: only the fields count)"


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
    The scenarios reach ``choose`` under neutral ids (``scenario-1`` ...), with variants whose text does not
    describe them (see the module docstring): decide from their fields."""

    def _opts() -> dict:
        return _redis_opts(client)

    passed = _passed(client)  # (test, strategy, parameters) a pick passed before: not re-run

    def once(key: tuple, test: Callable[[], None]) -> None:
        if key not in passed:
            test()
            passed.add(key)

    def each(own: str, requirement: Callable[[dict], bool], judge: Callable[[str, dict], None]) -> Callable[[], None]:
        """Judge the pick of every scenario with ``requirement``; a failure names the scenario unless it is
        the check's ``own``."""
        def check() -> None:
            for sid, s in _all():
                if not requirement(s):
                    continue
                name = _pick(choose, sid)
                try:
                    judge(name, s)
                except AssertionError as exc:
                    if not _is_variant(sid):
                        if _stated_id(sid) == own:
                            raise
                        raise AssertionError(f"the {_stated_id(sid)!r} scenario: {exc}") from None
                    note = ""
                    if name == "write-behind" and not s["writes_must_not_wait_for_db"]:
                        note = (" (write-behind is for a write path that must not wait for the database; here "
                                "writes_must_not_wait_for_db is False, and may_lose_writes alone does not call "
                                "for it: its early acknowledgement leaves stale entries)")
                    raise AssertionError(f"variant {_describe(sid)}: {exc}{note}") from None
        return check

    def returns_names() -> None:
        for sid, _ in _all():
            _pick(choose, sid)

    def stale_safe(s: dict) -> bool:
        return not s["writes_must_not_wait_for_db"]

    def concurrent(name: str, s: dict) -> None:
        actors = ["r1", "r2", "w1", "w2"]
        once(("concurrent", name), lambda: _never_stale(
            name, actors, il.sample_runs(name, _with_background(name, actors), n=120, seed=15, **_opts())))

    def replica(name: str, s: dict) -> None:
        lag = s["replica_lag"]
        writers = ["w1", "w2"] if s["concurrent_writers"] else ["w1"]

        def test() -> None:
            readers = [f"r{i}" for i in range(1, 31)]
            spacing = min(0.05, lag / 5)   # at least five readers arrive within one lag
            # the writer commits at once (a second one 3 ms later); the flusher / CDC consumer's pass runs at 20 ms
            o = il.run(name, None, actors=_with_background(name, readers + writers), replica_lag=lag, delay=0.5,
                       starts={**{r: i * spacing for i, r in enumerate(readers)}, "w2": 0.003, "flush": 0.02,
                               "cdc": 0.02}, **_opts())
            assert not o.final_stale, (f"{name!r} behind a {lag:g} s replica: a reader loaded the old row after "
                                       f"the invalidation and cached version {o.final_cache} (newest "
                                       f"{o.final_truth})")
        once(("replica", name, lag, len(writers)), test)

    def no_wait(name: str, s: dict) -> None:
        def test() -> None:
            o = il.run(name, None, actors=["w1"], **_opts())
            waits = [row["op"] for row in o.trace if row["op"] == "db_write"]
            assert not waits, (f"{name!r}'s write path waits for the database "
                               f"({' → '.join(r['op'] for r in o.trace)})")
            flushed = il.run(name, None, actors=_with_background(name, ["w1"]), starts={"flush": 0.01}, **_opts())
            assert flushed.db_version == 2, f"{name!r}: the write never reached the database"
        once(("no wait", name), test)

    def durable_and_fresh(name: str, s: dict) -> None:
        def crash() -> None:
            # the writer finishes, the process crashes 10 ms later, the flusher would have run at 20 ms
            crashed = il.run(name, None, actors=["w1", "crash", "flush"], starts={"crash": 0.01, "flush": 0.02},
                             **_opts())
            assert crashed.lost_writes == 0, f"{name!r} lost {crashed.lost_writes} acknowledged write(s) in a crash"
        if not s["may_lose_writes"]:
            once(("crash", name), crash)
        if stale_safe(s) and not s["concurrent_writers"]:
            once(("one writer", name), lambda: _never_stale(
                name, ["r1", "w1"], il.enumerate_runs(name, _with_background(name, ["r1", "w1"]), **_opts())))

    def concurrent_writers(s: dict) -> bool:
        return s["concurrent_writers"] and stale_safe(s)

    def lagging(s: dict) -> bool:
        return s["replica_lag"] > 0

    def no_wait_needed(s: dict) -> bool:
        return s["writes_must_not_wait_for_db"]

    def durable_or_one_writer(s: dict) -> bool:
        return not s["may_lose_writes"] or (stale_safe(s) and not s["concurrent_writers"])

    def variants(requirement: Callable[[dict], bool]) -> str:
        n = sum(1 for v in VARIANTS_15 if requirement(v))
        return f"and {n} variant{'' if n == 1 else 's'}"

    lags = ", ".join(f"{lag:g} s" for lag in sorted({v["replica_lag"] for v in VARIANTS_15 if lagging(v)}))
    return run_checks("choose a cache-consistency strategy", [
        ("choose() returns a strategy name for every scenario", returns_names,
         "return one of the keys of hcedu.patterns.consistency.STRATEGIES, decided from the scenario's fields "
         "(the checker passes the scenarios under neutral ids, and variants whose text is another scenario's or "
         "empty)"),
        (f"prices: no schedule of 2 readers + 2 writers leaves a stale cache ({variants(concurrent_writers)})",
         each("prices", concurrent_writers, concurrent),
         "concurrent writers + the stale-set race: only a conditional fill (version check or lease) closes both"),
        (f"replica: nothing stale stays cached behind a 0.8 s replica ({variants(lagging)}: {lags})",
         each("replica", lagging, replica),
         "a DEL (the writer's, a second one, or a CDC consumer's) or a lease can't stop a reader loading the "
         "replica's old row after it, whatever the lag (50 ms or 0.8 s); a version check can"),
        (f"likes: the write path does not wait for the database ({variants(no_wait_needed)})",
         each("likes", no_wait_needed, no_wait),
         "only one strategy acknowledges before the DB write"),
        ("balances: no acknowledged write is lost, and the cache is never left stale (and every other scenario "
         "that may not lose writes)",
         each("balances", durable_or_one_writer, durable_and_fresh),
         "write-behind loses its queue in a crash; cache-aside, CDC and friends have the stale-set race"),
    ])
