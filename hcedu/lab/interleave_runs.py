"""Deterministic interleavings of cache readers and writers, run on a virtual clock.

The strategies of :mod:`hcedu.patterns.consistency` are generators of steps; :func:`run` drives several
actors (readers ``r1, r2, ...``, writers ``w1, w2, ...``, ``flush``/``crash`` for write-behind, ``cdc`` for
CDC) against one key on a real Redis cache and a :class:`~hcedu.patterns.consistency.VersionedDB`, choosing
who moves next by a scripted schedule, by time, by every schedule (:func:`enumerate_runs`) or by seeded
random ones (:func:`sample_runs`). Each run returns an :class:`Outcome`; :func:`summarize`, :func:`compare`
and :func:`delay_sweep` tabulate them.

Invariants: the same arguments give the same outcome (no wall clock, seeded randomness); every actor runs
to completion; a schedule naming an unknown or finished actor raises ``ValueError``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterator, Mapping, Sequence

import pandas as pd
import redis

from .. import _validate
from ..backend import Keyspace
from ..clock import VirtualClock
from ..patterns._redisargs import resolve_keyspace
from ..patterns.consistency import (STRATEGIES, CacheStrategy, CDCInvalidate, Step, VersionedDB, WriteBehind,
                                   make)

__all__ = ["KEY", "STALE_SET", "BACKGROUND", "DELAYED", "Outcome", "run", "enumerate_runs", "sample_runs",
           "summarize", "compare", "delay_sweep"]

KEY = "item:42"
T0 = 100.0  # the DB row "old" (version 1) is committed at 0; runs start here, after any replica caught up
STALE_SET = ["r1", "r1", "w1", "w1", "r1"]  # reader misses, reads old; writer writes + DELs; reader SETs old


@dataclass
class _Actor:
    name: str
    role: str
    gen: Any
    pending: Step | None
    ready_at: float
    started: bool = False
    truth0: int = 0
    result: Any = None


@dataclass(frozen=True)
class Outcome:
    """One run: ``trace`` rows are (t, actor, op, detail, cache version after, newest version after);
    :attr:`frame` is the trace as a DataFrame. Summary fields: ``final_stale``, ``stale_reads``, ..."""

    strategy: str
    schedule: tuple[str, ...]
    trace: list[dict] = field(default_factory=list)
    reads: list[dict] = field(default_factory=list)
    windows: list[float] = field(default_factory=list)
    final_stale: bool = False
    final_cache: int | None = None
    final_truth: int = 0
    db_version: int = 0
    lost_writes: int = 0
    ttl: float = 60.0

    @property
    def stale_reads(self) -> int:
        return sum(r["stale"] for r in self.reads)

    @property
    def max_window(self) -> float:
        return max(self.windows, default=0.0)

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The trace, one row per step: ``t, actor, op, detail, cache, truth`` (built on first use)."""
        return pd.DataFrame(self.trace, columns=["t", "actor", "op", "detail", "cache", "truth"])

    def row(self) -> dict:
        return {"strategy": self.strategy, "schedule": " ".join(self.schedule), "reads": len(self.reads),
                "stale_reads": self.stale_reads, "max_window_s": round(self.max_window, 6),
                "final_stale": self.final_stale, "lost_writes": self.lost_writes}


BACKGROUND = {"flush": WriteBehind.name, "crash": WriteBehind.name, "cdc": CDCInvalidate.name}


def _role(name: str) -> str:
    if name in BACKGROUND:
        return name
    if len(name) > 1 and name[0] in "rw" and name[1:].isdigit():
        return "read" if name[0] == "r" else "write"
    raise ValueError(f"actor names are r<N>, w<N>, 'flush', 'crash' or 'cdc' (got {name!r})")


def _actors_of(strategy: str, actors: Sequence[str] | None, schedule: Sequence[Any] | None) -> list[str]:
    if actors is None:
        names = [e for e in (schedule or []) if isinstance(e, str)]
        actors = list(dict.fromkeys(names))
    if isinstance(actors, str) or not all(isinstance(a, str) for a in actors):
        raise TypeError(f"actors must be a sequence of names like 'r1', 'w1' (got {actors!r})")
    actors = list(dict.fromkeys(actors))
    for a in actors:
        _role(a)
    actors = [a for a in actors if BACKGROUND.get(a, strategy) == strategy]  # flush/crash/cdc: only their own
    if not actors:
        raise ValueError("actors must name at least one reader or writer")
    return actors


#: Each role's steps, chosen once per actor: a reader's read, a writer's write, and the background actors
#: of the strategies that have them (write-behind's flusher and crash, CDC's consumer).
_STEPS: dict[str, Callable[[Any, str], Any]] = {
    "read": lambda s, name: s.read_steps(KEY),
    "write": lambda s, name: s.write_steps(KEY, name),
    "flush": lambda s, name: s.flush_steps(),
    "cdc": lambda s, name: s.cdc_steps(),
    "crash": lambda s, name: s.crash_steps(),
}


class _Run:
    """One simulation: a fresh DB, a fresh cache key, actors primed, staleness tracked after each action."""

    def __init__(self, strategy: str, actors: Sequence[str], *, client: redis.Redis, keyspace: Keyspace,
                 ttl: float, delay: float, replica_lag: float, tick: float, warm: bool,
                 starts: Mapping[str, float], pauses: Mapping[str, Mapping[str, float]]) -> None:
        self.clock = VirtualClock()
        self.db = VersionedDB(self.clock, replica_lag=replica_lag)
        self.db.write(KEY, "old")
        self.clock.advance_to(T0)
        self.s: CacheStrategy = make(strategy, self.db, client, keyspace=keyspace, ttl=ttl, delay=delay,
                                     label="lab")
        self.s.reset(KEY)
        if warm:
            self.s._fill(KEY, "old", 1)
        self.tick, self.pauses = tick, pauses
        self.strategy, self.ttl = strategy, ttl
        self.schedule: list[str] = []
        self.trace: list[dict] = []
        self.reads: list[dict] = []
        self.windows: list[float] = []
        self.actors: dict[str, _Actor] = {}
        for name in actors:
            role = _role(name)
            gen = _STEPS[role](self.s, name)
            first = next(gen)  # announces its first step; nothing has happened yet
            ready = T0 + starts.get(name, 0.0) + pauses.get(name, {}).get(first.op, 0.0)
            self.actors[name] = _Actor(name, role, gen, first, ready)
        self.last_cache = self._cache()
        self.set_at = T0
        self.stale_since: float | None = None
        self._track(T0)

    def _cache(self) -> int | None:
        hit = self.s.cached(KEY)
        return None if hit is None else hit[1]

    def ready(self) -> list[str]:
        return [a.name for a in self.actors.values() if a.pending is not None]

    def _track(self, t: float) -> None:
        cache, truth = self._cache(), self.s.truth(KEY)
        if cache != self.last_cache:
            self.set_at, self.last_cache = t, cache
        stale = cache is not None and cache < truth
        if stale and self.stale_since is None:
            self.stale_since = t
        elif not stale and self.stale_since is not None:
            self.windows.append(t - self.stale_since)
            self.stale_since = None

    def step(self, name: str) -> None:
        a = self.actors.get(name)
        if a is None:
            raise ValueError(f"schedule names unknown actor {name!r} (actors: {', '.join(self.actors)})")
        if a.pending is None:
            raise ValueError(f"schedule names actor {name!r} after it finished")
        if self.clock.now() < a.ready_at:
            self.clock.advance_to(a.ready_at)
        t, step = self.clock.now(), a.pending
        if not a.started:
            a.started, a.truth0 = True, self.s.truth(KEY)
        try:
            nxt: Step | None = a.gen.send(None)  # performs `step`, announces the next one
        except StopIteration as stop:
            nxt, a.result = None, stop.value
        self.schedule.append(name)
        self._track(t)
        self.trace.append({"t": round(t - T0, 6), "actor": name, "op": step.op, "detail": str(step)
                               if step.op == "sleep" else step.detail, "cache": self.last_cache,
                               "truth": self.s.truth(KEY)})
        a.pending = nxt
        if nxt is None:
            if a.role == "read":
                version = a.result[1] if a.result else 0
                self.reads.append({"actor": name, "t": round(t - T0, 6), "version": version,
                                       "expected": a.truth0, "stale": version < a.truth0})
        else:
            took = step.seconds if step.op == "sleep" else self.tick
            a.ready_at = t + took + self.pauses.get(name, {}).get(nxt.op, 0.0)

    def timed_choice(self) -> str:
        ready = self.ready()
        return min(ready, key=lambda n: (self.actors[n].ready_at, ready.index(n)))

    def finish(self) -> Outcome:
        s = self.s
        lost_writes = final_stale = 0
        if isinstance(s, WriteBehind):
            s.flush()  # the flusher eventually runs; a crash has already dropped its queue
            lost_writes = s.lost
            self._track(self.clock.now())
        if isinstance(s, CDCInvalidate):
            self.clock.advance(s.lag)  # the consumer catches up with the binlog
            s.consume()
            self._track(self.clock.now())
        if self.stale_since is not None:  # stale at the end: stays so until the entry's TTL expires
            final_stale = True
            self.windows.append(self.set_at + s.ttl - self.stale_since)
        out = Outcome(self.strategy, tuple(self.schedule), self.trace, self.reads, self.windows,
                      final_stale=bool(final_stale), final_cache=self.last_cache, final_truth=s.truth(KEY),
                      db_version=self.db.version(KEY), lost_writes=lost_writes, ttl=self.ttl)
        s.reset(KEY)
        return out


def _options(strategy: str, client: redis.Redis | None, keyspace: Keyspace | None, ttl: float, delay: float,
             replica_lag: float, tick: float, starts: Mapping[str, float] | None,
             pauses: Mapping[str, Mapping[str, float]] | None) -> dict:
    _validate.choice("strategy", strategy, tuple(STRATEGIES))
    client, keyspace = resolve_keyspace(client, keyspace, "interleave")
    return {"client": client, "keyspace": keyspace,
            "ttl": _validate.number("ttl", ttl, minimum=0, strict=True),
            "delay": _validate.number("delay", delay, minimum=0),
            "replica_lag": _validate.number("replica_lag", replica_lag, minimum=0),
            "tick": _validate.number("tick", tick, minimum=0, strict=True),
            "starts": {k: _validate.number(f"starts[{k!r}]", v, minimum=0) for k, v in (starts or {}).items()},
            "pauses": {k: {op: _validate.number(f"pauses[{k!r}][{op!r}]", s, minimum=0) for op, s in v.items()}
                       for k, v in (pauses or {}).items()}}


def _run_options(strategy: str, actors: Sequence[str], kwargs: dict) -> tuple[list[str], dict]:
    """The actor names and validated :class:`_Run` options from ``run``'s keyword arguments."""
    kwargs = dict(kwargs)
    opts = _options(strategy, kwargs.pop("client", None), kwargs.pop("keyspace", None), kwargs.pop("ttl", 60.0),
                    kwargs.pop("delay", 0.5), kwargs.pop("replica_lag", 0.0), kwargs.pop("tick", 0.001),
                    kwargs.pop("starts", None), kwargs.pop("pauses", None))
    opts["warm"] = bool(kwargs.pop("warm", False))
    if kwargs:
        raise TypeError(f"unexpected arguments: {', '.join(kwargs)}")
    return _actors_of(strategy, actors, None), opts


def run(strategy: str, schedule: Sequence[Any] | None = None, *, actors: Sequence[str] | None = None,
        client: redis.Redis | None = None, keyspace: Keyspace | None = None, ttl: float = 60.0,
        delay: float = 0.5, replica_lag: float = 0.0, tick: float = 0.001, warm: bool = False,
        starts: Mapping[str, float] | None = None,
        pauses: Mapping[str, Mapping[str, float]] | None = None) -> Outcome:
    """Run ``actors`` (default: the names in ``schedule``) under ``strategy`` and return the :class:`Outcome`.

    ``schedule`` lists who moves next (a number advances virtual time); ``None`` runs by time. An actor
    chosen before it is ready (sleeping, paused) makes time jump to when it is. Raises ``ValueError``
    for an unknown or finished actor, a negative time, or an unknown strategy.
    """
    opts = _options(strategy, client, keyspace, ttl, delay, replica_lag, tick, starts, pauses)
    if schedule is not None and (isinstance(schedule, str) or not isinstance(schedule, Sequence)):
        raise TypeError(f"schedule must be a list of actor names and numbers (got {type(schedule).__name__})")
    r = _Run(strategy, _actors_of(strategy, actors, schedule), warm=warm, **opts)
    for entry in schedule or ():
        if isinstance(entry, str):
            if BACKGROUND.get(entry, strategy) != strategy:
                continue  # another strategy's background actor
            r.step(entry)
        else:
            r.clock.advance(_validate.number("schedule entry", entry, minimum=0))
    while r.ready():
        r.step(r.timed_choice())
    return r.finish()


def enumerate_runs(strategy: str, actors: Sequence[str], *, limit: int = 100_000, **kwargs: Any) -> Iterator[Outcome]:
    """Yield the outcome of **every** interleaving of ``actors`` (depth-first over who moves next; each leaf
    replayed from scratch on a fresh key). ``limit`` bounds the count (``ValueError`` if exceeded)."""
    limit = _validate.integer("limit", limit, minimum=1)
    names, opts = _run_options(strategy, actors, kwargs)
    choices: list[int] = []
    count = 0
    while True:
        r = _Run(strategy, names, **opts)
        arity: list[int] = []
        depth = 0
        while ready := r.ready():
            if depth == len(choices):
                choices.append(0)
            arity.append(len(ready))
            r.step(ready[choices[depth]])
            depth += 1
        count += 1
        if count > limit:
            raise ValueError(f"more than limit={limit} schedules; use sample_runs or fewer actors")
        yield r.finish()
        del choices[depth:]
        while choices and choices[-1] + 1 >= arity[len(choices) - 1]:
            choices.pop()
        if not choices:
            return
        choices[-1] += 1


def sample_runs(strategy: str, actors: Sequence[str], n: int = 100, seed: int = 0, **kwargs: Any) -> Iterator[Outcome]:
    """Yield ``n`` runs, each under a random schedule (uniform over ready actors at every step), seeded."""
    n = _validate.integer("n", n, minimum=1)
    rng = random.Random(_validate.integer("seed", seed))
    names, opts = _run_options(strategy, actors, kwargs)
    for _ in range(n):
        r = _Run(strategy, names, **opts)
        while ready := r.ready():
            r.step(rng.choice(ready))
        yield r.finish()


def summarize(outcomes: Sequence[Outcome]) -> dict:
    """Aggregate runs of one strategy: schedules, stale-read rate, final-stale rate, windows, lost writes."""
    outcomes = list(outcomes)
    if not outcomes:
        raise ValueError("outcomes must not be empty")
    reads = sum(len(o.reads) for o in outcomes)
    return {"strategy": outcomes[0].strategy, "schedules": len(outcomes),
            "stale_read_rate": round(sum(o.stale_reads for o in outcomes) / reads, 4) if reads else 0.0,
            "final_stale_rate": round(sum(o.final_stale for o in outcomes) / len(outcomes), 4),
            "max_window_s": round(max(o.max_window for o in outcomes), 6),
            "lost_writes": sum(o.lost_writes for o in outcomes)}


def compare(actors: Sequence[str] = ("r1", "w1", "r2"), strategies: Sequence[str] | None = None, *,
            sample: int | None = None, seed: int = 0, **kwargs: Any) -> pd.DataFrame:
    """One row per strategy over every schedule of ``actors`` (or ``sample`` seeded random ones).

    Write-behind also gets a ``flush`` actor and CDC a ``cdc`` consumer, so that background step is part of
    the interleaving."""
    strategies = list(strategies or STRATEGIES)
    rows = []
    for name in strategies:
        names = list(actors) + [b for b in ("flush", "cdc") if BACKGROUND[b] == name and b not in actors]
        runs = (sample_runs(name, names, sample, seed, **kwargs) if sample is not None
                else enumerate_runs(name, names, **kwargs))
        rows.append(summarize(list(runs)))
    return pd.DataFrame(rows).set_index("strategy")


def delay_sweep(delays: Sequence[float] = (0.5, 1.0), *, reader_pauses: Sequence[float] = (0.0,),
                replica_lags: Sequence[float] = (0.0,), readers: int = 30, spacing: float = 0.05,
                **kwargs: Any) -> pd.DataFrame:
    """Delayed double delete by time, on a grid of ``delay`` × slow-reader pause × replica lag.

    ``w1`` starts at 0 (DEL, DB write at 1 ms, sleep ``delay``, DEL); ``r1`` misses at 0, reads the DB
    at 1 ms (before the commit), then stalls ``reader_pause`` s before its SET (a GC pause, a slow
    network); more readers arrive every ``spacing`` s and read the replica, ``replica_lag`` s behind.
    """
    readers = _validate.integer("readers", readers, minimum=1)
    spacing = _validate.number("spacing", spacing, minimum=0, strict=True)
    rows = []
    for delay in delays:
        for pause in reader_pauses:
            for lag in replica_lags:
                names = [f"r{i}" for i in range(1, readers + 1)] + ["w1"]
                starts = {f"r{i}": (i - 1) * spacing for i in range(2, readers + 1)}
                o = run(DELAYED, None, actors=names, delay=delay, replica_lag=lag, starts=starts,
                        pauses={"r1": {"cache_set": pause}}, **kwargs)
                rows.append({"delay": delay, "reader_pause": pause, "replica_lag": lag,
                             "stale_reads": o.stale_reads, "final_stale": o.final_stale,
                             "max_window_s": round(o.max_window, 6)})
    return pd.DataFrame(rows)


DELAYED = "delayed double delete"
