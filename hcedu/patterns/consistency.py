"""Cache/DB consistency strategies over a real Redis cache (go-redis ``Get``/``Set``/``Del`` + ``Eval``).

Eight ways to keep a Redis cache in step with a database, each a class with ``read(key)`` and
``write(key, value)``: :class:`CacheAside` (DB, then DEL), :class:`DeleteThenWrite` (DEL, then DB),
:class:`DelayedDoubleDelete` (DEL, DB, sleep, DEL), :class:`WriteThrough` (DB, then SET),
:class:`WriteBehind` (SET, queue, flush later), :class:`CDCInvalidate` (DB only; a binlog consumer
DELs), :class:`VersionedSet` (DB, then a Lua SET that only installs a newer version) and
:class:`LeaseCache` (Facebook memcache leases: a miss hands out a token, a DEL invalidates it, a SET
needs a valid one). The database is :class:`VersionedDB`, an in-memory table whose rows carry
versions, with a change log and an optional read replica that lags.

Every operation is a *generator of steps* (``read_steps``/``write_steps``): it yields a :class:`Step`
naming the next DB or cache action *before* doing it. ``read``/``write`` drive the generator and call
``hook(step)`` before each action, so a test can pause a real thread at an exact point (the
stale-set race on real threads and real Redis); :mod:`hcedu.lab.interleave` drives the same
generators under a scripted or enumerated schedule on a virtual clock.

Invariants:
  * cache entries are ``"<version>|<value>"`` strings under ``keyspace``, with a TTL (the backstop);
  * a row's version grows by one per write (:meth:`VersionedDB.write`); "stale" means a cached
    version lower than the newest one (:meth:`CacheStrategy.truth`);
  * the version-checked SET and the lease SET are single Lua scripts, so no reader can slip a stale
    value in between the check and the SET;
  * ``WriteBehind`` keeps its queue in process memory: :meth:`WriteBehind.crash` loses it (by design:
    that is the failure the chapter shows). Its flusher thread (``hcedu-writebehind``) and the CDC
    consumer thread (``hcedu-cdc``) are daemons that stop with ``stop()``.

Errors: Redis errors (``redis.ConnectionError``, ...) propagate from the step that hit them, leaving
the DB written and the cache untouched — the "failed DEL" row of the table. Bad arguments raise
``TypeError``/``ValueError`` naming the argument.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Generator, Optional

import redis

from .. import _validate
from ..backend import Keyspace
from ..clock import Clock, as_clock
from ._redisargs import resolve_keyspace

__all__ = ["Step", "VersionedDB", "CacheStrategy", "CacheAside", "DeleteThenWrite", "DelayedDoubleDelete",
           "WriteThrough", "WriteBehind", "CDCInvalidate", "VersionedSet", "LeaseCache", "STRATEGIES", "make",
           "VERSIONED_SET_LUA", "LEASE_GET_LUA", "LEASE_SET_LUA"]

OPS = ("cache_get", "db_read", "cache_set", "cache_del", "db_write", "sleep", "enqueue", "flush", "crash")

Steps = Generator["Step", None, Any]


@dataclass(frozen=True)
class Step:
    """One DB or cache action about to happen: ``op`` is one of ``OPS``; ``seconds`` is a sleep's length."""

    op: str
    key: str = ""
    detail: str = ""
    seconds: float = 0.0

    def __str__(self) -> str:
        extra = f" {self.detail}" if self.detail else ""
        return f"{self.op}{extra}" if self.op != "sleep" else f"sleep {self.seconds:g}s"


class VersionedDB:
    """A tiny database: ``key -> (value, version)`` rows, every write committed at ``clock.now()``.

    ``read`` models a read replica ``replica_lag`` seconds behind the primary (0 = read the primary);
    ``write``/``version`` use the primary. Thread-safe.
    """

    def __init__(self, clock: Clock | None = None, replica_lag: float = 0.0) -> None:
        self.clock = as_clock(clock)
        self.replica_lag = _validate.number("replica_lag", replica_lag, minimum=0)
        self._lock = threading.Lock()
        self._history: dict[str, list[tuple[float, int, str]]] = {}
        self._seq: dict[str, int] = {}
        self._binlog: list[tuple[float, str, int]] = []
        self.reads = 0
        self.writes = 0

    def reserve(self, key: str) -> int:
        """Take the next version number for ``key`` (a sequence: write-behind numbers writes before flushing)."""
        _validate.text("key", key)
        with self._lock:
            self._seq[key] = self._seq.get(key, 0) + 1
            return self._seq[key]

    def write(self, key: str, value: str, version: int | None = None) -> int:
        """Commit ``value`` on the primary now; return its version (a new one unless ``version`` is given)."""
        _validate.text("key", key)
        _validate.text("value", value, empty=True)
        if version is None:
            version = self.reserve(key)
        version = _validate.integer("version", version, minimum=1)
        with self._lock:
            self._seq[key] = max(self._seq.get(key, 0), version)
            self._history.setdefault(key, []).append((self.clock.now(), version, value))
            self._binlog.append((self.clock.now(), key, version))
            self.writes += 1
        return version

    def read(self, key: str, primary: bool = False) -> tuple[Optional[str], int]:
        """``(value, version)`` as the replica sees it now (or the primary); ``(None, 0)`` if no row yet."""
        _validate.text("key", key)
        horizon = self.clock.now() - (0.0 if primary else self.replica_lag)
        with self._lock:
            self.reads += 1
            for t, version, value in reversed(self._history.get(key, [])):
                if primary or t <= horizon:
                    return value, version
        return None, 0

    def version(self, key: str) -> int:
        """The primary's current version of ``key`` (0 if none)."""
        with self._lock:
            rows = self._history.get(key)
            return rows[-1][1] if rows else 0

    def binlog(self, position: int = 0, until: float | None = None) -> list[tuple[float, str, int]]:
        """The change log from ``position`` on: ``(commit time, key, version)`` in commit order, only entries
        committed at or before ``until`` (a CDC pipeline's lag)."""
        position = _validate.integer("position", position, minimum=0)
        with self._lock:
            entries = self._binlog[position:]
        return [e for e in entries if until is None or e[0] <= until]

    def reserved(self, key: str) -> int:
        """The highest version handed out for ``key`` (acknowledged writes, flushed or not)."""
        with self._lock:
            return self._seq.get(key, 0)

    def __repr__(self) -> str:
        return f"VersionedDB(keys={len(self._history)}, replica_lag={self.replica_lag:g})"


def _encode(value: str, version: int) -> str:
    return f"{version}|{value}"


def _decode(raw: Any) -> Optional[tuple[str, int]]:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode()
    version, _, value = str(raw).partition("|")
    return value, int(version)


class CacheStrategy:
    """Base class: the cache-aside read path and the machinery to drive step generators.

    ``hook(step)`` runs before every DB or cache action of ``read``/``write`` (pause a thread there to
    force a race). ``ttl`` (seconds) is every cache entry's expiry: the backstop that ends any staleness.
    """

    name = "base"

    def __init__(self, db: VersionedDB, client: redis.Redis | None = None, *, keyspace: Keyspace | None = None,
                 ttl: float = 60.0, hook: Callable[[Step], Any] | None = None, clock: Clock | None = None,
                 label: str = "cc") -> None:
        if not isinstance(db, VersionedDB):
            raise TypeError(f"db must be a VersionedDB (got {type(db).__name__})")
        self.db = db
        self.client, self.keyspace = resolve_keyspace(client, keyspace, "consistency")
        self.ttl = _validate.number("ttl", ttl, minimum=0, strict=True)
        self.hook = _validate.function("hook", hook) if hook is not None else None
        self.clock = as_clock(clock) if clock is not None else db.clock
        self.label = _validate.text("label", label)

    # -- keys and raw access (no hook) ------------------------------------------------------------
    def cache_key(self, key: str) -> str:
        """The Redis key holding ``key``'s cache entry (hash-tagged so a Lua script's keys share a slot)."""
        return self.keyspace.key(self.label, self.name, "{" + _validate.text("key", key) + "}")

    def cached(self, key: str) -> Optional[tuple[str, int]]:
        """``(value, version)`` in the cache now, or None (a peek: no hook, no fill)."""
        return _decode(self.client.get(self.cache_key(key)))

    def truth(self, key: str) -> int:
        """The newest version a reader should see: the primary's (write-behind: the newest acknowledged)."""
        return self.db.version(key)

    def reset(self, key: str) -> None:
        """Delete every cache key this strategy keeps for ``key``."""
        self.client.delete(self.cache_key(key))

    # -- driving ----------------------------------------------------------------------------------
    def _drive(self, steps: Steps) -> Any:
        try:
            step = next(steps)
            while True:
                if self.hook is not None:
                    self.hook(step)
                if step.op == "sleep":
                    self.clock.sleep(step.seconds)
                step = steps.send(None)
        except StopIteration as stop:
            return stop.value

    def read(self, key: str) -> Optional[str]:
        """The value for ``key``: from the cache, else from the DB (filling the cache). None if no row."""
        value, _ = self._drive(self.read_steps(_validate.text("key", key)))
        return value

    def read_versioned(self, key: str) -> tuple[Optional[str], int]:
        """Like :meth:`read` but returns ``(value, version)``."""
        return self._drive(self.read_steps(_validate.text("key", key)))

    def write(self, key: str, value: str) -> int:
        """Write ``value`` and keep the cache in step the strategy's way; return the new version."""
        return self._drive(self.write_steps(_validate.text("key", key), _validate.text("value", value, empty=True)))

    # -- steps ------------------------------------------------------------------------------------
    def read_steps(self, key: str) -> Steps:
        """Cache-aside read: GET; on a miss read the DB (replica) and SET the value with the TTL."""
        yield Step("cache_get", key)
        hit = self.cached(key)
        if hit is not None:
            return hit
        yield Step("db_read", key)
        value, version = self.db.read(key)
        if value is None:
            return None, 0
        yield Step("cache_set", key, f"v{version}")
        self._fill(key, value, version)
        return value, version

    def write_steps(self, key: str, value: str) -> Steps:  # pragma: no cover - abstract
        raise NotImplementedError
        yield

    def _fill(self, key: str, value: str, version: int) -> None:
        self.client.set(self.cache_key(key), _encode(value, version), px=int(self.ttl * 1000))

    def _delete(self, key: str) -> None:
        self.client.delete(self.cache_key(key))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ttl={self.ttl:g}>"


class CacheAside(CacheStrategy):
    """Cache-aside, the usual advice: write the DB, then DEL the cache (the next read refills it).

    Stale until TTL when a slow reader SETs the value it read before the write after the DEL (the
    stale-set race), or when the DEL fails.
    """

    name = "cache-aside"

    def write_steps(self, key: str, value: str) -> Steps:
        yield Step("db_write", key)
        version = self.db.write(key, value)
        yield Step("cache_del", key)
        self._delete(key)
        return version


class DeleteThenWrite(CacheStrategy):
    """DEL the cache, then write the DB: any read in between refills the cache with the old row."""

    name = "delete-then-write"

    def write_steps(self, key: str, value: str) -> Steps:
        yield Step("cache_del", key)
        self._delete(key)
        yield Step("db_write", key)
        return self.db.write(key, value)


class DelayedDoubleDelete(CacheStrategy):
    """The source's "双删": DEL, write the DB, wait ``delay`` seconds, DEL again.

    The second DEL removes what a concurrent read put back — but only if that read's SET landed within
    ``delay``; a slower reader, or a replica lagging more than ``delay``, leaves the cache stale until TTL.
    ``write`` blocks for ``delay`` on the clock (the source's ``time.AfterFunc`` frees the caller but
    leaves the cache in exactly the same states).
    """

    name = "delayed double delete"

    def __init__(self, db: VersionedDB, client: redis.Redis | None = None, *, delay: float = 0.5,
                 **kwargs: Any) -> None:
        super().__init__(db, client, **kwargs)
        self.delay = _validate.number("delay", delay, minimum=0)

    def write_steps(self, key: str, value: str) -> Steps:
        yield Step("cache_del", key)
        self._delete(key)
        yield Step("db_write", key)
        version = self.db.write(key, value)
        yield Step("sleep", key, seconds=self.delay)
        yield Step("cache_del", key, "2nd")
        self._delete(key)
        return version

    def __repr__(self) -> str:
        return f"<DelayedDoubleDelete delay={self.delay:g} ttl={self.ttl:g}>"


class WriteThrough(CacheStrategy):
    """Write the DB, then SET the new value in the cache. Two concurrent writers' SETs can land in the
    opposite order to their DB commits: the older value stays cached until TTL. Not "strong consistency".
    """

    name = "write-through"

    def write_steps(self, key: str, value: str) -> Steps:
        yield Step("db_write", key)
        version = self.db.write(key, value)
        yield Step("cache_set", key, f"v{version}")
        self._fill(key, value, version)
        return version


class _Background(CacheStrategy):
    """A strategy with background work (:meth:`_work`), run by :meth:`start` on a daemon thread."""

    thread_name = "hcedu-background"

    def __init__(self, db: VersionedDB, client: redis.Redis | None = None, **kwargs: Any) -> None:
        super().__init__(db, client, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _work(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def start(self, interval: float = 0.05) -> "_Background":
        """Start the background worker (a daemon thread) every ``interval`` seconds; RuntimeError if running."""
        interval = _validate.number("interval", interval, minimum=0, strict=True)
        if self._thread is not None:
            raise RuntimeError(f"{self.thread_name} is already running")
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval):
                self._work()

        self._thread = threading.Thread(target=loop, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def _halt(self, timeout: float) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=_validate.number("timeout", timeout, minimum=0))
            self._thread = None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker (waiting up to ``timeout`` s), then do what is left once more."""
        self._halt(timeout)
        self._work()


class WriteBehind(_Background):
    """Write-back: SET the cache and queue the DB write; a flusher applies the queue later.

    Fast writes; the DB lags the cache, and the queue lives in this process: :meth:`crash` loses every
    write not yet flushed (acknowledged to the caller, never durable). :meth:`start` runs a daemon
    flusher every ``interval`` seconds; :meth:`stop` stops it and flushes what is left.
    """

    name = "write-behind"
    thread_name = "hcedu-writebehind"

    def __init__(self, db: VersionedDB, client: redis.Redis | None = None, **kwargs: Any) -> None:
        super().__init__(db, client, **kwargs)
        self._queue: deque[tuple[str, str, int]] = deque()
        self._qlock = threading.Lock()
        self.lost = 0

    def truth(self, key: str) -> int:
        return self.db.reserved(key)

    def write_steps(self, key: str, value: str) -> Steps:
        yield Step("cache_set", key)
        version = self.db.reserve(key)
        self._fill(key, value, version)
        yield Step("enqueue", key, f"v{version}")
        with self._qlock:
            self._queue.append((key, value, version))
        return version

    def flush_steps(self) -> Steps:
        """One flusher pass as a step: apply every queued write to the DB, oldest first."""
        yield Step("flush")
        return self.flush()

    def crash_steps(self) -> Steps:
        """The process dies as a step: the queue is gone."""
        yield Step("crash")
        return self.crash()

    def pending(self) -> int:
        """Writes acknowledged but not yet in the DB."""
        with self._qlock:
            return len(self._queue)

    def flush(self) -> int:
        """Apply every queued write to the DB now; return how many."""
        n = 0
        while True:
            with self._qlock:
                if not self._queue:
                    return n
                key, value, version = self._queue.popleft()
            self.db.write(key, value, version)
            n += 1

    _work = flush

    def crash(self) -> int:
        """Simulate the process dying: stop the flusher without flushing, drop the queue; return writes lost."""
        self._stop.set()
        with self._qlock:
            lost = len(self._queue)
            self._queue.clear()
        self.lost += lost
        self._halt(5.0)
        return lost


VERSIONED_SET_LUA = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+)|'))
  if v and v >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return 1
"""


class VersionedSet(WriteThrough):
    """Write-through made safe: write the DB, then SET the new version, where every SET (the writer's or
    a reader's fill) is one Lua script that installs the value only if its version is newer than the
    cached one. A slow reader's old value and an out-of-order writer's SET are refused. (A DEL would
    erase the version it compares against, so writers SET instead of deleting.) Still stale if the
    entry expired and a reader fills it from a lagging replica.
    """

    name = "versioned set"

    def __init__(self, db: VersionedDB, client: redis.Redis | None = None, **kwargs: Any) -> None:
        super().__init__(db, client, **kwargs)
        self._set_if_newer = self.client.register_script(VERSIONED_SET_LUA)
        self.refused = 0

    def _fill(self, key: str, value: str, version: int) -> None:
        ok = self._set_if_newer(keys=[self.cache_key(key)], args=[version, value, int(self.ttl * 1000)])
        if not int(ok):
            self.refused += 1


LEASE_GET_LUA = """
local v = redis.call('GET', KEYS[1])
if v then return {'hit', v} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'wait', ''} end
local t = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[2], t, 'PX', ARGV[1])
return {'lease', tostring(t)}
"""

LEASE_SET_LUA = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""


class LeaseCache(CacheStrategy):
    """Facebook memcache leases (NSDI'13 §3.2.1) on Redis: a miss returns a lease token bound to the key;
    the filler may SET only while its token is valid; the writer's DEL deletes the value *and* the
    lease, so a reader that read the DB before the write can no longer install its old value.

    A second reader that misses while a lease is out is told to wait (thundering-herd control); here it
    reads the DB without filling. ``lease_ttl`` bounds a lease whose holder died.
    """

    name = "lease"

    def __init__(self, db: VersionedDB, client: redis.Redis | None = None, *, lease_ttl: float = 10.0,
                 **kwargs: Any) -> None:
        super().__init__(db, client, **kwargs)
        self.lease_ttl = _validate.number("lease_ttl", lease_ttl, minimum=0, strict=True)
        self._get = self.client.register_script(LEASE_GET_LUA)
        self._lease_set = self.client.register_script(LEASE_SET_LUA)
        self.refused = 0

    def _keys(self, key: str) -> list[str]:
        base = self.cache_key(key)
        return [base, base + ":lease", base + ":seq"]

    def reset(self, key: str) -> None:
        self.client.delete(*self._keys(key))

    def read_steps(self, key: str) -> Steps:
        keys = self._keys(key)
        yield Step("cache_get", key, "lease")
        kind, payload = self._get(keys=keys, args=[int(self.lease_ttl * 1000)])
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "hit":
            return _decode(payload)
        yield Step("db_read", key)
        value, version = self.db.read(key)
        if kind == "wait" or value is None:
            return value, version
        token = payload.decode() if isinstance(payload, bytes) else payload
        yield Step("cache_set", key, f"v{version} token {token}")
        ok = self._lease_set(keys=keys, args=[token, _encode(value, version), int(self.ttl * 1000)])
        if not int(ok):
            self.refused += 1
        return value, version

    def write_steps(self, key: str, value: str) -> Steps:
        yield Step("db_write", key)
        version = self.db.write(key, value)
        yield Step("cache_del", key, "+lease")
        self.client.delete(*self._keys(key)[:2])
        return version


class CDCInvalidate(_Background):
    """Binlog-driven invalidation (Canal/Debezium → MQ → DEL; Facebook's McSqueal): the application only
    writes the DB; a consumer tails the change log ``lag`` seconds behind and DELs each changed key,
    advancing its position only after the DEL succeeded — so a failed DEL is retried, not lost.

    Stale for the pipeline lag; still has the stale-set race (a reader's SET after the consumer's DEL)
    unless fills are versioned or leased. :meth:`start` runs the consumer on a daemon thread
    ``hcedu-cdc``; :meth:`consume` runs one pass (raising the Redis error of a failed DEL).
    """

    name = "cdc"
    thread_name = "hcedu-cdc"

    def __init__(self, db: VersionedDB, client: redis.Redis | None = None, *, lag: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(db, client, **kwargs)
        self.lag = _validate.number("lag", lag, minimum=0)
        self.position = 0
        self._plock = threading.Lock()

    def write_steps(self, key: str, value: str) -> Steps:
        yield Step("db_write", key)
        return self.db.write(key, value)

    def cdc_steps(self) -> Steps:
        """One consumer pass as a step: DEL the key of every change committed ``lag`` s ago or earlier."""
        yield Step("cache_del", "", "from binlog")
        with self._plock:
            done = 0
            for _, key, _ in self.db.binlog(self.position, until=self.clock.now() - self.lag):
                self._delete(key)
                self.position += 1  # only after the DEL succeeded
                done += 1
            return done

    def consume(self) -> int:
        """Run one consumer pass now (through the hook); return how many changes were applied."""
        return self._drive(self.cdc_steps())

    _work = consume


STRATEGIES: dict[str, type[CacheStrategy]] = {
    cls.name: cls for cls in (CacheAside, DeleteThenWrite, DelayedDoubleDelete, WriteThrough, WriteBehind,
                              CDCInvalidate, VersionedSet, LeaseCache)
}


def make(name: str, db: VersionedDB, client: redis.Redis | None = None, **kwargs: Any) -> CacheStrategy:
    """Build the strategy called ``name`` (a key of :data:`STRATEGIES`); ``delay`` only goes to the
    double delete, ``lease_ttl`` only to the lease cache and ``lag`` only to CDC."""
    _validate.choice("name", name, tuple(STRATEGIES))
    for option, owner in (("delay", DelayedDoubleDelete), ("lease_ttl", LeaseCache), ("lag", CDCInvalidate)):
        value = kwargs.pop(option, None)
        if name == owner.name and value is not None:
            kwargs[option] = value
    return STRATEGIES[name](db, client, **kwargs)
