"""The canonical cache races replayed with real threads on real Redis, so they are not simulator artefacts.

:func:`threaded_race` runs one strategy's race (:data:`SCENARIOS`) with two threads; a hook pauses one
thread at the exact step (events, not sleeps), so the race happens every time. :func:`threaded_check`
tabulates the :data:`CANONICAL` pairs.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

import pandas as pd
import redis

from .. import _validate
from ..backend import Keyspace
from ..clock import RealClock
from ..patterns._redisargs import resolve_keyspace
from ..patterns.consistency import (STRATEGIES, CacheStrategy, CDCInvalidate, Step, VersionedDB, WriteBehind,
                                   make)
from .interleave_runs import DELAYED, KEY

__all__ = ["SCENARIOS", "CANONICAL", "threaded_race", "threaded_check"]

# -- real threads ---------------------------------------------------------------------------------------

SCENARIOS = {
    "stale-set": "reader misses and reads the DB; writer writes + invalidates; reader then SETs",
    "reread": "writer DELs; a reader misses, reads the old row and SETs it; writer then writes the DB",
    "out-of-order": "w1 writes the DB; w2 writes the DB and the cache; w1's cache SET lands last",
    "crash": "writer's SET + queue; the process crashes before the flusher runs; the entry later expires",
    "failed-del": "the writer's (or the CDC consumer's) first DEL fails with a connection error",
}

CANONICAL = [("cache-aside", "stale-set"), ("cache-aside", "failed-del"), ("delete-then-write", "reread"),
             (DELAYED, "stale-set"), ("write-through", "out-of-order"), ("write-behind", "crash"),
             ("cdc", "stale-set"), ("cdc", "failed-del"), ("versioned set", "stale-set"),
             ("versioned set", "out-of-order"), ("lease", "stale-set")]


def _write(s: CacheStrategy, value: str) -> int:
    """A write as the system performs it: for CDC, the DB write and then the consumer's pass."""
    version = s.write(KEY, value)
    if isinstance(s, CDCInvalidate):
        s.consume()
    return version


def _pause_at(op: str, arrived: threading.Event, go_on: threading.Event, timeout: float) -> Callable[[Step], None]:
    def hook(step: Step) -> None:
        if step.op == op:
            arrived.set()
            if not go_on.wait(timeout):
                raise TimeoutError(f"paused at {op} for more than {timeout} s")
    return hook


def _threads(*fns: Callable[[], Any], timeout: float) -> list[Any]:
    results: list[Any] = [None] * len(fns)
    errors: list[BaseException] = []

    def runner(i: int, fn: Callable[[], Any]) -> None:
        try:
            results[i] = fn()
        except BaseException as exc:  # re-raised in the caller
            errors.append(exc)

    ts = [threading.Thread(target=runner, args=(i, fn), name=f"hcedu-race-{i}", daemon=True)
          for i, fn in enumerate(fns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout)
        if t.is_alive():
            raise TimeoutError(f"{t.name} still running after {timeout} s")
    if errors:
        raise errors[0]
    return results


def threaded_race(strategy: str, scenario: str = "stale-set", *, client: redis.Redis | None = None,
                  keyspace: Keyspace | None = None, delay: float = 0.02, timeout: float = 5.0) -> dict:
    """Play ``scenario`` with real threads on real Redis (two strategy instances = two service instances
    sharing the DB and the cache); a hook pauses one thread at the exact step. Returns the outcome.

    Raises ``TimeoutError`` if a thread hangs past ``timeout`` s (each wait is bounded)."""
    _validate.choice("strategy", strategy, tuple(STRATEGIES))
    _validate.choice("scenario", scenario, tuple(SCENARIOS))
    timeout = _validate.number("timeout", timeout, minimum=0, strict=True)
    client, keyspace = resolve_keyspace(client, keyspace, "interleave")
    db = VersionedDB(RealClock())
    db.write(KEY, "old")
    arrived, go_on = threading.Event(), threading.Event()

    def inst(hook: Callable[[Step], None] | None = None) -> CacheStrategy:
        return make(strategy, db, client, keyspace=keyspace, delay=delay, hook=hook, label="threads")

    base = inst()
    base.reset(KEY)
    lost = 0
    stale_read = False
    if scenario in ("stale-set", "reread"):
        paused_op, paused_role = ("cache_set", "read") if scenario == "stale-set" else ("db_write", "write")
        hook = _pause_at(paused_op, arrived, go_on, timeout)
        reader = inst(hook if paused_role == "read" else None)
        writer = inst(hook if paused_role == "write" else None)

        def paused_side() -> Any:
            return reader.read(KEY) if paused_role == "read" else _write(writer, "new")

        def other_side() -> Any:
            if not arrived.wait(timeout):
                raise TimeoutError("the paused thread never reached its step")
            try:
                return _write(writer, "new") if paused_role == "read" else reader.read(KEY)
            finally:
                go_on.set()
        _threads(paused_side, other_side, timeout=timeout * 2)
    elif scenario == "out-of-order":
        w1 = inst(_pause_at("cache_set", arrived, go_on, timeout))
        w2 = inst()

        def second() -> Any:
            if not arrived.wait(timeout):
                raise TimeoutError("w1 never reached its cache SET")
            try:
                return w2.write(KEY, "w2")
            finally:
                go_on.set()
        _threads(lambda: w1.write(KEY, "w1"), second, timeout=timeout * 2)
    elif scenario == "failed-del":
        failures = [redis.ConnectionError("injected: the DEL never reached Redis")]

        def fail_once(step: Step) -> None:
            if step.op == "cache_del" and failures:
                raise failures.pop()
        base.read(KEY)  # the old value is cached
        base.hook = fail_once
        try:
            _threads(lambda: _write(base, "new"), timeout=timeout)
        except redis.ConnectionError:
            pass  # the caller saw the error; the DB write stands
        base.hook = None
        if isinstance(base, CDCInvalidate):
            base.consume()  # the consumer's next pass retries from its binlog position
    else:  # crash
        if not isinstance(base, WriteBehind):
            raise ValueError(f"scenario 'crash' needs the write-behind strategy (got {strategy!r})")
        base.start(interval=timeout * 10)  # the flusher thread will not get to run before the crash
        _threads(lambda: base.write(KEY, "new"), timeout=timeout)
        lost = base.crash()
        base.reset(KEY)  # ... and later the cache entry expires (its TTL)
        stale_read = base.read_versioned(KEY)[1] < base.truth(KEY)
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
