"""Cache-breakdown, penetration and avalanche guards around a loader (Go: ``singleflight.Group`` + a Redis
``SET NX PX`` mutex; Caffeine ``refreshAfterWrite``; Facebook memcache leases).

Every guard has the same interface: ``guard.get(key) -> value``, reading a Redis cache (JSON values) and
calling ``loader(key)`` -- the database -- on a miss. ``loader`` returns the value, or ``None`` when the row does
not exist. ``guard.loads`` counts loader calls made through this guard (the "DB hits").

* :class:`NoGuard` -- plain cache-aside. Every concurrent miss of a hot key calls the loader (breakdown);
  ids that do not exist are never cached, so every request for one reaches the loader (penetration).
* :class:`MutexRebuild` -- one rebuild across all processes: ``SET lock token NX PX`` via
  :class:`hcedu.patterns.lock.RedisLock`, **re-check the cache after locking**, compare-and-delete release,
  losers retry a bounded number of times with jittered exponential backoff, then raise :class:`CacheBusy`.
  The lock TTL must exceed the slowest rebuild (else a second rebuild starts; the token still keeps the first
  holder from deleting the second holder's lock).
* :class:`SingleflightGuard` -- :class:`hcedu.go.singleflight.Group` in front of the cache: concurrent misses
  *in this process* share one load; N processes still make up to N loads.
* :class:`LogicalExpiry` -- entries ``{"v": value, "exp": expire_at}`` with no Redis TTL: after ``exp`` the stale
  value is still served while one rebuild runs on a background daemon thread under the lock.
* :class:`XFetch` -- probabilistic early recomputation (Vattani, Chierichetti & Lowenstein, VLDB 2015): a reader
  recomputes early when ``now - delta * beta * ln(rand()) >= expiry``, so one reader usually refreshes a hot
  key before it expires.
* :class:`NullCache` -- penetration: cache "not found" (JSON ``null``) for ``null_ttl`` seconds.
* :class:`BloomGuard` -- penetration: ask a :class:`hcedu.patterns.bloom.BloomFilter` of existing ids first;
  "certainly not" returns ``None`` without touching cache or loader.
* :func:`ttl_with_jitter` -- avalanche: spread the expiry of keys cached together.
* :class:`SourceRebuild` -- **unsafe**, kept as a teaching foil: the source's seckill code, ported faithfully
  (``SETNX lock "1" EX 3``, ``defer DEL lock``, otherwise sleep 50 ms and recurse). Its plain DEL deletes
  whatever lock is there (another client's, once its own lease lapsed) and its retry recursion is unbounded.

Invariants shared by all guards: a loader exception propagates to the caller that ran the load (and, for
singleflight, to every caller sharing it) and nothing is cached; a ``None`` from the loader is never cached
except by :class:`NullCache`; keys live under ``<keyspace>:cache:<name>:<key>``; time comes from the injected
clock (``LogicalExpiry``/``XFetch`` compare against it; Redis TTLs are in Redis's own time). Redis errors
propagate.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import threading
from typing import Any, Callable

import redis

from .. import _validate
from ..backend import Keyspace
from ._redisargs import client_and_keyspace
from ..clock import Clock, as_clock
from ..go.singleflight import Group
from .bloom import BloomFilter
from .lock import RedisLock, fence_key_for

__all__ = ["CacheGuard", "NoGuard", "MutexRebuild", "SingleflightGuard", "LogicalExpiry", "XFetch", "NullCache",
           "BloomGuard", "SourceRebuild", "CacheBusy", "ttl_with_jitter", "GUARDS", "make_guard"]

_serial = itertools.count(1)


class CacheBusy(TimeoutError):
    """:class:`MutexRebuild` gave up: another client held the rebuild lock for all ``retries`` waits and the
    cache was still empty. The caller decides: fail fast (HTTP 503), serve a default, or go to the DB."""


def ttl_with_jitter(base: float, jitter: float, rng: random.Random | None = None) -> float:
    """Avalanche guard: ``base + uniform(0, jitter)`` seconds, so keys cached at the same moment do not
    expire in the same second. ``jitter=0`` returns ``base``. ``rng`` (a ``random.Random``) makes it
    reproducible."""
    base = _validate.number("base", base, minimum=0, strict=True)
    jitter = _validate.number("jitter", jitter, minimum=0)
    if rng is not None and not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random (got {type(rng).__name__})")
    if jitter == 0:
        return base
    return base + (rng or random).uniform(0, jitter)


def _key_part(key: Any) -> str:
    return _validate.key_part("key", key)


def _ms(seconds: float) -> int:
    return max(1, int(round(seconds * 1000)))


class CacheGuard:
    """Base class: cache-aside over Redis with JSON values and a TTL (``ttl`` seconds, plus up to ``jitter``
    seconds of random extra per write, see :func:`ttl_with_jitter`).

    ``loader(key)`` is the database; ``client`` a redis-py client (default: the keyspace's, else
    :func:`hcedu.backend.connect`); ``keyspace``/``name`` place the keys; ``clock`` supplies time for waits and
    logical expiry (default :class:`RealClock`); ``rng`` a seeded ``random.Random`` for jitter.
    """

    kind = "base"

    def __init__(self, loader: Callable[[Any], Any], client: redis.Redis | None = None, *,
                 keyspace: Keyspace | None = None, name: str = "item", ttl: float = 600.0, jitter: float = 0.0,
                 clock: Clock | None = None, rng: random.Random | None = None) -> None:
        self.loader = _validate.function("loader", loader)
        _validate.text("name", name)
        self.client, self.keyspace = client_and_keyspace(client, keyspace, "cache")
        self.name = name
        self.ttl = _validate.number("ttl", ttl, minimum=0, strict=True)
        self.jitter = _validate.number("jitter", jitter, minimum=0)
        self.clock = as_clock(clock)
        if rng is not None and not isinstance(rng, random.Random):
            raise TypeError(f"rng must be a random.Random (got {type(rng).__name__})")
        self.rng = rng or random.Random()
        self._count_lock = threading.Lock()
        self.loads = 0

    # -- keys and storage ---------------------------------------------------------------------------
    def cache_key(self, key: Any) -> str:
        """The Redis key holding ``key``'s cached value."""
        return self.keyspace.key("cache", self.name, _key_part(key))

    def lock_key(self, key: Any) -> str:
        """The Redis key of ``key``'s rebuild lock."""
        return self.cache_key(key) + ":lock"

    def _load(self, key: Any) -> Any:
        with self._count_lock:
            self.loads += 1
        return self.loader(key)

    def _read(self, key: Any) -> tuple[bool, Any]:
        raw = self.client.get(self.cache_key(key))
        if raw is None:
            return False, None
        return True, json.loads(raw)

    def _write(self, key: Any, value: Any) -> None:
        if value is None:
            return
        ttl = ttl_with_jitter(self.ttl, self.jitter, self.rng)
        self.client.set(self.cache_key(key), json.dumps(value), px=_ms(ttl))

    # -- public ----------------------------------------------------------------------------------
    def get(self, key: Any) -> Any:
        """The value for ``key`` (from the cache, else from the loader), or None if it does not exist."""
        raise NotImplementedError

    def put(self, key: Any, value: Any) -> None:
        """Write ``value`` (JSON-serialisable) to the cache as a rebuild would (warm-up)."""
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"value must be JSON-serialisable (str, number, bool, None, list, dict): {exc}") from None
        self._write(key, value)

    def expire(self, key: Any) -> None:
        """Make ``key``'s cached entry expire now (what the TTL does; used by experiments)."""
        self.client.delete(self.cache_key(key))

    def invalidate(self, key: Any) -> None:
        """Delete ``key``'s cached entry (after the database row changed)."""
        self.client.delete(self.cache_key(key))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.keyspace.key('cache', self.name)!r}, loads={self.loads})"


class NoGuard(CacheGuard):
    """Plain cache-aside: GET; on a miss load and SET with the TTL. Every concurrent miss loads."""

    kind = "none"

    def get(self, key: Any) -> Any:
        hit, value = self._read(key)
        if hit:
            return value
        value = self._load(key)
        self._write(key, value)
        return value


class NullCache(NoGuard):
    """Penetration guard: also cache "does not exist" (JSON ``null``) for ``null_ttl`` seconds (short: a row
    created meanwhile stays invisible that long)."""

    kind = "null"

    def __init__(self, loader: Callable[[Any], Any], client: redis.Redis | None = None, *,
                 null_ttl: float = 30.0, **kw: Any) -> None:
        super().__init__(loader, client, **kw)
        self.null_ttl = _validate.number("null_ttl", null_ttl, minimum=0, strict=True)

    def _write(self, key: Any, value: Any) -> None:
        if value is None:
            self.client.set(self.cache_key(key), "null", px=_ms(self.null_ttl))
        else:
            super()._write(key, value)


class BloomGuard:
    """Penetration guard: ``get`` returns None at once for ids the Bloom filter has certainly never seen,
    and delegates everything else to ``inner`` (any guard). Add ids to ``bloom`` when rows are created; a
    deleted row stays "maybe" until the filter is rebuilt. ``rejected`` counts requests stopped here."""

    kind = "bloom"

    def __init__(self, inner: CacheGuard, bloom: BloomFilter) -> None:
        if not isinstance(inner, CacheGuard):
            raise TypeError(f"inner must be a CacheGuard (got {type(inner).__name__})")
        if not isinstance(bloom, BloomFilter):
            raise TypeError(f"bloom must be a hcedu.patterns.bloom.BloomFilter (got {type(bloom).__name__})")
        self.inner = inner
        self.bloom = bloom
        self.rejected = 0
        self._lock = threading.Lock()

    @property
    def loads(self) -> int:
        return self.inner.loads

    def get(self, key: Any) -> Any:
        _key_part(key)
        if not self.bloom.might_contain(key):
            with self._lock:
                self.rejected += 1
            return None
        return self.inner.get(key)

    def __repr__(self) -> str:
        return f"BloomGuard({self.inner!r}, {self.bloom!r}, rejected={self.rejected})"


class MutexRebuild(CacheGuard):
    """Breakdown guard: one rebuild across every process, under a Redis lock done right.

    On a miss: try the lock once (``SET lock token NX PX lock_ttl``). The winner **reads the cache again**
    (another client may have rebuilt it between our GET and our lock), loads, writes, and releases with
    compare-and-delete. A loser sleeps ``uniform(0, min(retry_cap, retry_base * 2**attempt))`` on the clock
    and reads the cache again, at most ``retries`` times, then raises :class:`CacheBusy`.

    ``lock_ttl`` must exceed the slowest rebuild (p99.9): if a rebuild outlives it, ``lock_lost`` counts it
    (a second client may have rebuilt concurrently; the token kept us from deleting its lock).
    """

    kind = "mutex"

    def __init__(self, loader: Callable[[Any], Any], client: redis.Redis | None = None, *,
                 lock_ttl: float = 3.0, retries: int = 60, retry_base: float = 0.005, retry_cap: float = 0.05,
                 **kw: Any) -> None:
        super().__init__(loader, client, **kw)
        self.lock_ttl = _validate.number("lock_ttl", lock_ttl, minimum=0.001)
        self.retries = _validate.integer("retries", retries, minimum=0, maximum=100_000)
        self.retry_base = _validate.number("retry_base", retry_base, minimum=0, strict=True)
        self.retry_cap = _validate.number("retry_cap", retry_cap, minimum=0, strict=True)
        self.lock_lost = 0
        self.waits = 0

    def fence_key(self, key: Any) -> str:
        """The fence counter of ``key``'s rebuild lock: one per lock, in the lock key's cluster slot (the
        acquire script touches both)."""
        return fence_key_for(self.lock_key(key))

    def _lock(self, key: Any) -> RedisLock:
        return RedisLock(self.client, self.lock_key(key), self.lock_ttl, self.clock, rng=self.rng,
                         fence_key=self.fence_key(key))

    def _rebuild(self, key: Any, lock: RedisLock) -> tuple[bool, Any]:
        """Holding ``lock``: re-check, load, write. Returns (True, value)."""
        try:
            hit, value = self._read(key)
            if hit:
                return True, value
            value = self._load(key)
            self._write(key, value)
            return True, value
        finally:
            if not lock.release():
                with self._count_lock:
                    self.lock_lost += 1

    def _backoff(self, attempt: int) -> None:
        with self._count_lock:
            self.waits += 1
        self.clock.sleep(self.rng.uniform(0, min(self.retry_cap, self.retry_base * 2 ** min(attempt, 30))))

    def get(self, key: Any) -> Any:
        """The value for ``key``; raises :class:`CacheBusy` after ``retries`` waits on another rebuild."""
        for attempt in range(self.retries + 1):
            hit, value = self._read(key)
            if hit:
                return value
            lock = self._lock(key)
            if lock.acquire(blocking=False):
                return self._rebuild(key, lock)[1]
            if attempt < self.retries:
                self._backoff(attempt)
        raise CacheBusy(f"{self.cache_key(key)!r} still empty after {self.retries} waits on its rebuild lock "
                        f"(raise retries, or check that lock_ttl > the loader's slowest run)")


class SingleflightGuard(CacheGuard):
    """Breakdown guard in one process: misses on the same key share one load through
    :class:`hcedu.go.singleflight.Group` (Go: ``g.Do(key, fn)``). Per process only: each process (each guard
    object here) makes its own load; combine with :class:`MutexRebuild` for one load fleet-wide. The
    flight re-reads the cache before loading, so a caller that missed just before another flight wrote the
    value does not load again."""

    kind = "singleflight"

    def __init__(self, loader: Callable[[Any], Any], client: redis.Redis | None = None, **kw: Any) -> None:
        super().__init__(loader, client, **kw)
        self.group = Group()
        self.shared = 0

    def _fill(self, key: Any) -> Any:
        hit, value = self._read(key)
        if hit:
            return value
        value = self._load(key)
        self._write(key, value)
        return value

    def get(self, key: Any) -> Any:
        hit, value = self._read(key)
        if hit:
            return value
        value, shared = self.group.do(self.cache_key(key), lambda: self._fill(key))
        if shared:
            with self._count_lock:
                self.shared += 1
        return value


class LogicalExpiry(MutexRebuild):
    """Breakdown guard that never lets a hot key go missing: the entry is ``{"v": value, "exp": expire_at}``
    stored **without** a Redis TTL; ``exp`` is ``clock.now() + ttl``.

    A read after ``exp`` returns the stale value at once and, if it wins the rebuild lock (non-blocking),
    starts one background rebuild on a daemon thread ``hcedu-cache-rebuild-<n>`` (which re-checks, loads,
    writes and releases the lock). A cold miss (no entry at all: warm hot keys with :meth:`put` first) falls
    back to :class:`MutexRebuild`'s synchronous path. ``wait_idle(timeout)`` joins running rebuilds;
    ``rebuild_errors`` keeps exceptions from background loads (the stale value stays; the next read retries).
    With ``background=False`` the rebuild runs in the caller (deterministic tests).
    Trade-off: readers see data up to one rebuild older than ``ttl``; entries never leave Redis by themselves.
    """

    kind = "logical"

    def __init__(self, loader: Callable[[Any], Any], client: redis.Redis | None = None, *,
                 background: bool = True, **kw: Any) -> None:
        super().__init__(loader, client, **kw)
        self.background = bool(background)
        self.stale_served = 0
        self.rebuild_errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []

    def _read_entry(self, key: Any) -> dict | None:
        raw = self.client.get(self.cache_key(key))
        return None if raw is None else json.loads(raw)

    def _read(self, key: Any) -> tuple[bool, Any]:  # fresh entries only (used by the re-check under the lock)
        entry = self._read_entry(key)
        if entry is None or self.clock.now() >= entry["exp"]:
            return False, None
        return True, entry["v"]

    def _write(self, key: Any, value: Any) -> None:
        if value is None:
            return
        exp = self.clock.now() + ttl_with_jitter(self.ttl, self.jitter, self.rng)
        self.client.set(self.cache_key(key), json.dumps({"v": value, "exp": exp}))

    def expire(self, key: Any) -> None:
        """Mark ``key``'s entry logically expired (``exp`` = now), keeping its value."""
        entry = self._read_entry(key)
        if entry is not None:
            entry["exp"] = self.clock.now()
            self.client.set(self.cache_key(key), json.dumps(entry))

    def _run_rebuild(self, key: Any, lock: RedisLock) -> None:
        try:
            self._rebuild(key, lock)
        except Exception as exc:  # kept for the owner; the stale value stays served
            with self._count_lock:
                self.rebuild_errors.append(exc)

    def get(self, key: Any) -> Any:
        entry = self._read_entry(key)
        if entry is None:
            return super().get(key)
        if self.clock.now() < entry["exp"]:
            return entry["v"]
        with self._count_lock:
            self.stale_served += 1
        lock = self._lock(key)
        if lock.acquire(blocking=False):
            if self.background:
                t = threading.Thread(target=self._run_rebuild, args=(key, lock), daemon=True,
                                     name=f"hcedu-cache-rebuild-{next(_serial)}")
                with self._count_lock:
                    self._threads = [x for x in self._threads if x.is_alive()] + [t]
                t.start()
            else:
                self._run_rebuild(key, lock)
        return entry["v"]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Join the background rebuilds; True if none is still running after ``timeout`` seconds (real time)."""
        timeout = _validate.number("timeout", timeout, minimum=0)
        with self._count_lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout)
        return not any(t.is_alive() for t in threads)


class XFetch(CacheGuard):
    """Probabilistic early expiration (XFetch, Vattani et al., VLDB 2015).

    The entry stores the value, ``delta`` (how long the last recompute took, on the clock) and ``exp``. A
    reader recomputes -- synchronously, itself -- when ``now - delta * beta * ln(U) >= exp`` with U uniform in
    (0, 1]; since ``-ln U`` is rarely large, early refreshes cluster just before ``exp`` and are usually done by
    one reader. ``beta > 1`` refreshes earlier. The entry also carries a Redis TTL of ``ttl`` as a backstop.
    ``early`` counts recomputes that happened before ``exp``.
    """

    kind = "xfetch"

    def __init__(self, loader: Callable[[Any], Any], client: redis.Redis | None = None, *, beta: float = 1.0,
                 **kw: Any) -> None:
        super().__init__(loader, client, **kw)
        self.beta = _validate.number("beta", beta, minimum=0, strict=True)
        self.early = 0

    def _recompute(self, key: Any) -> Any:
        start = self.clock.now()
        value = self._load(key)
        delta = max(0.0, self.clock.now() - start)
        if value is not None:
            ttl = ttl_with_jitter(self.ttl, self.jitter, self.rng)
            entry = {"v": value, "delta": delta, "exp": self.clock.now() + ttl}
            self.client.set(self.cache_key(key), json.dumps(entry), px=_ms(ttl))
        return value

    def should_refresh(self, delta: float, exp: float, now: float | None = None, u: float | None = None) -> bool:
        """The XFetch test ``now - delta * beta * ln(u) >= exp`` (``u`` drawn from the guard's rng if None)."""
        delta = _validate.number("delta", delta, minimum=0)
        exp = _validate.number("exp", exp)
        now = self.clock.now() if now is None else _validate.number("now", now)
        u = (1.0 - self.rng.random()) if u is None else _validate.number("u", u, minimum=0, strict=True, maximum=1)
        return now - delta * self.beta * math.log(u) >= exp

    def get(self, key: Any) -> Any:
        raw = self.client.get(self.cache_key(key))
        if raw is None:
            return self._recompute(key)
        entry = json.loads(raw)
        if self.should_refresh(entry["delta"], entry["exp"]):
            if self.clock.now() < entry["exp"]:
                with self._count_lock:
                    self.early += 1
            return self._recompute(key)
        return entry["v"]


class SourceRebuild(CacheGuard):
    """**UNSAFE -- the source's seckill rebuild, ported line for line to show its bugs. Do not use.**

    .. code-block:: go

        locked, _ := redis.SetNX(lockKey, "1", time.Second*3)
        if locked { defer redis.Del(lockKey); product := queryFromDB(id); redis.SetEX(key, ..., 10*time.Minute) }
        else { time.Sleep(50 * time.Millisecond); return GetProduct(ctx, productId) }

    * The lock value is the constant ``"1"`` and the unlock a plain ``DEL``: a rebuild slower than the 3 s
      lease deletes whichever client's lock is there by then, letting a third rebuild in.
    * The retry is recursion with no bound and no re-check budget: a lock held for a long time (or a loader
      that keeps failing) grows the stack 1 frame per 50 ms (Python: ``RecursionError`` at ~1000 frames).
    * The lock holder does not re-check the cache after locking; a missing row is never cached.

    ``depth``/``max_depth`` record the recursion; ``lock_value`` the constant it writes.
    """

    kind = "source"
    lock_value = "1"

    def __init__(self, loader: Callable[[Any], Any], client: redis.Redis | None = None, *, lock_ttl: float = 3.0,
                 sleep: float = 0.05, **kw: Any) -> None:
        super().__init__(loader, client, **kw)
        self.lock_ttl = _validate.number("lock_ttl", lock_ttl, minimum=0.001)
        self.sleep = _validate.number("sleep", sleep, minimum=0, strict=True)
        self.max_depth = 0

    def get(self, key: Any, _depth: int = 0) -> Any:
        if _depth > self.max_depth:
            self.max_depth = _depth
        hit, value = self._read(key)
        if hit:
            return value
        lock_key = self.lock_key(key)
        if self.client.set(lock_key, self.lock_value, nx=True, px=_ms(self.lock_ttl)):
            try:
                value = self._load(key)
                self._write(key, value)
                return value
            finally:
                self.client.delete(lock_key)  # plain DEL: deletes whoever's lock is there now
        self.clock.sleep(self.sleep)
        return self.get(key, _depth + 1)  # unbounded recursion


#: guard kinds by name (``make_guard`` and the experiments use these names)
GUARDS: dict[str, type[CacheGuard]] = {
    "none": NoGuard, "mutex": MutexRebuild, "singleflight": SingleflightGuard, "logical": LogicalExpiry,
    "xfetch": XFetch, "null": NullCache, "source": SourceRebuild,
}


def make_guard(kind: str, loader: Callable[[Any], Any], client: redis.Redis | None = None, **kw: Any) -> CacheGuard:
    """Build a guard by name: one of ``GUARDS`` (``"none"``, ``"mutex"``, ``"singleflight"``, ``"logical"``,
    ``"xfetch"``, ``"null"``, ``"source"``); ``kw`` goes to its constructor."""
    _validate.choice("kind", kind, tuple(GUARDS))
    return GUARDS[kind](loader, client, **kw)
