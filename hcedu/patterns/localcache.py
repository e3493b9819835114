"""In-process TTL + LRU cache (Caffeine ``maximumSize`` + ``expireAfterWrite``; Go: ristretto, bigcache, freecache).

The first level of a two-level cache (:mod:`hcedu.patterns.twolevel`): a bounded map in the process's own
memory, so a hit costs a dict lookup instead of a network round trip.

Invariants:
  * at most ``maxsize`` entries are ever stored; inserting one more first drops every expired entry
    (counted in ``stats.expirations``), then, if still full, the **least recently used** entry (a ``get`` hit
    or a ``set`` makes an entry most recently used; counted in ``stats.evictions``);
  * an entry written at ``t`` with ``ttl`` is visible while ``clock.now() < t + ttl`` and never after:
    ``get`` of an expired entry removes it, counts an expiration and a miss, and returns ``default``;
  * ``ttl`` is per entry (``set(key, value, ttl=...)``), defaulting to the cache's ``ttl``; ``math.inf``
    means "until evicted";
  * :meth:`LocalCache.get_or_load` runs ``loader(key)`` at most once per key at a time, however many
    threads miss together (Caffeine's ``get(key, fn)``, built on :class:`hcedu.go.singleflight.Group`);
    ``None`` from the loader is returned but **not** cached (cache absence deliberately, with a sentinel
    and a short ttl, if you want to);
  * every method is safe from many threads (one lock; the loader runs outside it).

Time comes from the injected ``clock`` (``VirtualClock`` in simulations). Values are stored as given
(no copy): mutate a cached object and every reader sees it.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable

from .. import _validate
from ..clock import Clock, as_clock
from ..go.singleflight import Group

__all__ = ["LocalCache", "CacheStats"]

_MISSING = object()


@dataclass(frozen=True)
class CacheStats:
    """A snapshot of a cache's counters. ``loads`` counts loader runs (``get_or_load`` misses that loaded)."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expirations: int = 0
    loads: int = 0

    @property
    def requests(self) -> int:
        return self.hits + self.misses

    @property
    def hit_rate(self) -> float:
        """hits / (hits + misses), 0.0 before the first request."""
        return self.hits / self.requests if self.requests else 0.0


class _Entry:
    __slots__ = ("value", "expires", "seq")

    def __init__(self, value: Any, expires: float, seq: int) -> None:
        self.value = value
        self.expires = expires
        self.seq = seq


def _hashable(key: Any) -> Hashable:
    try:
        hash(key)
    except TypeError:
        raise TypeError(f"key must be hashable (got {type(key).__name__}: {key!r})") from None
    return key


class LocalCache:
    """A thread-safe in-process cache with a per-entry TTL and LRU eviction.

    ``maxsize`` (int >= 1) bounds the number of entries; ``ttl`` (seconds > 0, ``math.inf`` allowed) is the
    default time to live; ``clock`` supplies ``now()`` (default :class:`hcedu.clock.RealClock`).
    Bad arguments raise ``TypeError``/``ValueError`` naming the argument; an unhashable key raises
    ``TypeError``. A loader's exception propagates to every caller waiting on it and nothing is cached.
    """

    def __init__(self, maxsize: int = 1024, ttl: float = 60.0, clock: Clock | None = None) -> None:
        self.maxsize = _validate.integer("maxsize", maxsize, minimum=1)
        self.ttl = _validate.number("ttl", ttl, minimum=0, strict=True, allow_inf=True)
        self.clock = as_clock(clock)
        self._lock = threading.Lock()
        self._data: OrderedDict[Hashable, _Entry] = OrderedDict()  # LRU first, MRU last
        self._heap: list[tuple[float, int, Hashable]] = []  # (expires, seq, key); stale rows skipped lazily
        self._seq = itertools.count()
        self._flight = Group()
        self._hits = self._misses = self._evictions = self._expirations = self._loads = 0

    # -- internals (call with self._lock held) ----------------------------------------------------
    def _purge_expired(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            entry = self._data.get(key)
            if entry is not None and entry.seq == seq:
                del self._data[key]
                self._expirations += 1
        self._compact()

    def _compact(self) -> None:
        if len(self._heap) > 2 * len(self._data) + 64:  # many rows left by overwrites/deletes: rebuild
            self._heap = [(e.expires, e.seq, k) for k, e in self._data.items() if e.expires != math.inf]
            heapq.heapify(self._heap)

    def _lookup(self, key: Hashable, now: float) -> Any:
        entry = self._data.get(key)
        if entry is None:
            self._misses += 1
            return _MISSING
        if entry.expires <= now:
            del self._data[key]
            self._expirations += 1
            self._misses += 1
            return _MISSING
        self._data.move_to_end(key)
        self._hits += 1
        return entry.value

    def _store(self, key: Hashable, value: Any, ttl: float, now: float) -> None:
        if key in self._data:
            del self._data[key]
        elif len(self._data) >= self.maxsize:
            self._purge_expired(now)
            while len(self._data) >= self.maxsize:
                self._data.popitem(last=False)
                self._evictions += 1
        seq = next(self._seq)
        expires = now + ttl
        self._data[key] = _Entry(value, expires, seq)
        if expires != math.inf:
            heapq.heappush(self._heap, (expires, seq, key))
            self._compact()

    def _ttl(self, ttl: float | None) -> float:
        if ttl is None:
            return self.ttl
        return _validate.number("ttl", ttl, minimum=0, strict=True, allow_inf=True)

    # -- public API ---------------------------------------------------------------------------------
    def get(self, key: Any, default: Any = None) -> Any:
        """The live value for ``key`` (and mark it most recently used), else ``default`` (a miss)."""
        key = _hashable(key)
        with self._lock:
            value = self._lookup(key, self.clock.now())
        return default if value is _MISSING else value

    def set(self, key: Any, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (default: the cache's ``ttl``), evicting if full."""
        key = _hashable(key)
        ttl = self._ttl(ttl)
        with self._lock:
            self._store(key, value, ttl, self.clock.now())

    def delete(self, key: Any) -> bool:
        """Remove ``key``; True if it was present (expired or not)."""
        key = _hashable(key)
        with self._lock:
            return self._data.pop(key, None) is not None

    def clear(self) -> int:
        """Remove every entry; return how many there were. Counters are kept."""
        with self._lock:
            n = len(self._data)
            self._data.clear()
            self._heap.clear()
            return n

    def expire(self) -> int:
        """Drop every expired entry now (normally done lazily); return how many were dropped."""
        with self._lock:
            before = self._expirations
            self._purge_expired(self.clock.now())
            return self._expirations - before

    def get_or_load(self, key: Any, loader: Callable[[Any], Any], ttl: float | None = None) -> Any:
        """Caffeine's ``get(key, fn)``: the cached value, or ``loader(key)`` run **once** for all concurrent
        callers that miss on ``key``, stored for ``ttl`` (default the cache's) and returned to each.

        ``None`` from the loader is returned but not stored. If the loader raises, every waiting caller gets
        the exception and nothing is stored; the next call tries again.
        """
        key = _hashable(key)
        _validate.function("loader", loader)
        ttl = self._ttl(ttl)
        with self._lock:
            value = self._lookup(key, self.clock.now())
        if value is not _MISSING:
            return value

        def load() -> Any:
            with self._lock:  # a flight that just finished may have filled it
                entry = self._data.get(key)
                if entry is not None and entry.expires > self.clock.now():
                    return entry.value
                self._loads += 1
            loaded = loader(key)
            if loaded is not None:
                with self._lock:
                    self._store(key, loaded, ttl, self.clock.now())
            return loaded

        return self._flight.do(key, load)[0]

    @property
    def stats(self) -> CacheStats:
        """A consistent snapshot of hits, misses, evictions (capacity), expirations (TTL) and loads."""
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, self._expirations, self._loads)

    def keys(self) -> list[Hashable]:
        """Live keys, least recently used first (does not change recency)."""
        with self._lock:
            now = self.clock.now()
            return [k for k, e in self._data.items() if e.expires > now]

    def __contains__(self, key: Any) -> bool:
        key = _hashable(key)
        with self._lock:
            entry = self._data.get(key)
            return entry is not None and entry.expires > self.clock.now()

    def __len__(self) -> int:
        """The number of live entries (expired ones are dropped first)."""
        with self._lock:
            self._purge_expired(self.clock.now())
            return len(self._data)

    def __repr__(self) -> str:
        s = self.stats
        ttl = "inf" if self.ttl == math.inf else f"{self.ttl:g}s"
        return (f"<LocalCache {len(self)}/{self.maxsize} ttl={ttl} hits={s.hits} misses={s.misses} "
                f"hit_rate={s.hit_rate:.0%} evictions={s.evictions} expirations={s.expirations}>")
