"""The canonical cache races replayed with real threads on real Redis, so they are not simulator artefacts.

:func:`threaded_race` runs one strategy's race (:data:`SCENARIOS`) with two threads; a hook pauses one
thread at the exact step (events, not sleeps), so the race happens every time. :func:`threaded_check`
tabulates the :data:`CANONICAL` pairs. Each scenario is a small strategy class (``_Race.play``), chosen
once from its name; the threads run on goroutines through :func:`hcedu.lab.runner.run_workers`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import pandas as pd
import redis

from .. import _validate
from ..backend import Keyspace
from ..clock import REAL
from ..patterns._redisargs import resolve_keyspace
from ..patterns.consistency import (STRATEGIES, CacheStrategy, CDCInvalidate, Step, VersionedDB, WriteBehind,
                                   make)
from .interleave_runs import DELAYED, KEY
from .runner import run_workers

__all__ = ["SCENARIOS", "CANONICAL", "threaded_race", "threaded_check"]

# -- real threads ---------------------------------------------------------------------------------------

def _write(s: CacheStrategy, value: str) -> int:
    """A write as the system performs it: for CDC, the DB write and then the consumer's pass."""
    version = s.write(KEY, value)
    if isinstance(s, CDCInvalidate):
        s.consume()
    return version


def _together(*fns: Callable[[], Any], timeout: float) -> list[Any]:
    """Run each of ``fns`` on its own goroutine (:func:`~hcedu.lab.runner.run_workers`); re-raise the first
    error; return their results in order."""
    return run_workers(lambda i: fns[i](), len(fns), name="hcedu-race", timeout=timeout).raise_first().results


@dataclass
class _Stage:
    """What one race plays on: the strategy name, a factory for instances (two instances = two service
    instances sharing the DB and the cache), the instance that reports the end state, and the bound on
    every wait. ``arrived``/``go_on`` pause one thread at the exact step (events, not sleeps)."""

    strategy: str
    inst: Callable[[Callable[[Step], None] | None], CacheStrategy]
    base: CacheStrategy
    timeout: float
    arrived: threading.Event = field(default_factory=threading.Event)
    go_on: threading.Event = field(default_factory=threading.Event)

    def pause_at(self, op: str) -> Callable[[Step], None]:
        """A hook that stops its thread at ``op`` until :meth:`release`; the other thread waits for it."""
        def hook(step: Step) -> None:
            if step.op == op:
                self.arrived.set()
                if not self.go_on.wait(self.timeout):
                    raise TimeoutError(f"paused at {op} for more than {self.timeout} s")
        return hook

    def after_pause(self, fn: Callable[[], Any], who: str) -> Callable[[], Any]:
        """``fn`` run once the paused thread reached its step; the paused thread goes on afterwards."""
        def run() -> Any:
            if not self.arrived.wait(self.timeout):
                raise TimeoutError(f"{who} never reached its step")
            try:
                return fn()
            finally:
                self.go_on.set()
        return run


class _Race:
    """One canonical race (the redis-py ``acquire()`` -> ``do_acquire(token)`` seam): :meth:`play` runs it on
    a stage and returns ``(lost_writes, stale_read)``; the end state is read from ``stage.base``."""

    about = ""

    def play(self, stage: _Stage) -> tuple[int, bool]:
        raise NotImplementedError


class _StaleSet(_Race):
    about = "reader misses and reads the DB; writer writes + invalidates; reader then SETs"
    paused_op, paused_reader = "cache_set", True

    def play(self, stage: _Stage) -> tuple[int, bool]:
        hook = stage.pause_at(self.paused_op)
        reader = stage.inst(hook if self.paused_reader else None)
        writer = stage.inst(None if self.paused_reader else hook)
        read, write = (lambda: reader.read(KEY)), (lambda: _write(writer, "new"))
        paused, other = (read, write) if self.paused_reader else (write, read)
        _together(paused, stage.after_pause(other, "the paused thread"), timeout=stage.timeout * 2)
        return 0, False


class _Reread(_StaleSet):
    about = "writer DELs; a reader misses, reads the old row and SETs it; writer then writes the DB"
    paused_op, paused_reader = "db_write", False


class _OutOfOrder(_Race):
    about = "w1 writes the DB; w2 writes the DB and the cache; w1's cache SET lands last"

    def play(self, stage: _Stage) -> tuple[int, bool]:
        w1, w2 = stage.inst(stage.pause_at("cache_set")), stage.inst(None)
        _together(lambda: w1.write(KEY, "w1"), stage.after_pause(lambda: w2.write(KEY, "w2"), "w1"),
                  timeout=stage.timeout * 2)
        return 0, False


class _Crash(_Race):
    about = "writer's SET + queue; the process crashes before the flusher runs; the entry later expires"

    def play(self, stage: _Stage) -> tuple[int, bool]:
        base = stage.base
        if not isinstance(base, WriteBehind):
            raise ValueError(f"scenario 'crash' needs the write-behind strategy (got {stage.strategy!r})")
        base.start(interval=stage.timeout * 10)  # the flusher thread will not get to run before the crash
        _together(lambda: base.write(KEY, "new"), timeout=stage.timeout)
        lost = base.crash()
        base.reset(KEY)  # ... and later the cache entry expires (its TTL)
        return lost, base.read_versioned(KEY)[1] < base.truth(KEY)


class _FailedDel(_Race):
    about = "the writer's (or the CDC consumer's) first DEL fails with a connection error"

    def play(self, stage: _Stage) -> tuple[int, bool]:
        base = stage.base
        failures = [redis.ConnectionError("injected: the DEL never reached Redis")]

        def fail_once(step: Step) -> None:
            if step.op == "cache_del" and failures:
                raise failures.pop()
        base.read(KEY)  # the old value is cached
        base.hook = fail_once
        try:
            _together(lambda: _write(base, "new"), timeout=stage.timeout)
        except redis.ConnectionError:
            pass  # the caller saw the error; the DB write stands
        base.hook = None
        if isinstance(base, CDCInvalidate):
            base.consume()  # the consumer's next pass retries from its binlog position
        return 0, False


_RACES: dict[str, _Race] = {"stale-set": _StaleSet(), "reread": _Reread(), "out-of-order": _OutOfOrder(),
                            "crash": _Crash(), "failed-del": _FailedDel()}

#: Each scenario and what happens in it (the chapter prints this table).
SCENARIOS = {name: race.about for name, race in _RACES.items()}

CANONICAL = [("cache-aside", "stale-set"), ("cache-aside", "failed-del"), ("delete-then-write", "reread"),
             (DELAYED, "stale-set"), ("write-through", "out-of-order"), ("write-behind", "crash"),
             ("cdc", "stale-set"), ("cdc", "failed-del"), ("versioned set", "stale-set"),
             ("versioned set", "out-of-order"), ("lease", "stale-set")]


def threaded_race(strategy: str, scenario: str = "stale-set", *, client: redis.Redis | None = None,
                  keyspace: Keyspace | None = None, delay: float = 0.02, timeout: float = 5.0) -> dict:
    """Play ``scenario`` with real threads on real Redis (two strategy instances = two service instances
    sharing the DB and the cache); a hook pauses one thread at the exact step. Returns the outcome.

    Raises ``TimeoutError`` if a thread hangs past ``timeout`` s (each wait is bounded)."""
    _validate.choice("strategy", strategy, tuple(STRATEGIES))
    race = _RACES[_validate.choice("scenario", scenario, tuple(_RACES))]
    timeout = _validate.number("timeout", timeout, minimum=0, strict=True)
    client, keyspace = resolve_keyspace(client, keyspace, "interleave")
    db = VersionedDB(REAL)
    db.write(KEY, "old")

    def inst(hook: Callable[[Step], None] | None = None) -> CacheStrategy:
        return make(strategy, db, client, keyspace=keyspace, delay=delay, hook=hook, label="threads")

    base = inst()
    base.reset(KEY)
    lost, stale_read = race.play(_Stage(strategy, inst, base, timeout))
    hit = base.cached(KEY)
    cache = None if hit is None else hit[1]
    truth = base.truth(KEY)
    base.reset(KEY)
    return {"strategy": strategy, "scenario": scenario, "cache_version": cache, "newest_version": truth,
            "db_version": db.version(KEY), "stale": (cache is not None and cache < truth) or stale_read,
            "lost_writes": lost}


def threaded_check(pairs: Sequence[tuple[str, str]] = tuple(CANONICAL), **kwargs: Any) -> pd.DataFrame:
    """Run :func:`threaded_race` for each (strategy, scenario) pair; one row each."""
    return pd.DataFrame([threaded_race(s, sc, **kwargs) for s, sc in pairs])
