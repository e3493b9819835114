"""LocalCache: TTL + LRU semantics against a reference model, get_or_load's single flight, thread safety."""

from __future__ import annotations

import math
import random
import threading

import pytest

from hcedu.clock import VirtualClock
from hcedu.patterns.localcache import CacheStats, LocalCache
from tests.helpers import flight_waiters, join, run_workers, spawn, wait_until


class Model:
    """The reference: a list-based TTL + LRU cache written for clarity, not speed."""

    def __init__(self, maxsize: int, ttl: float) -> None:
        self.maxsize, self.ttl = maxsize, ttl
        self.data: dict = {}  # key -> [value, expires, last_used]
        self.tick = 0
        self.hits = self.misses = self.evictions = self.expirations = 0

    def get(self, key, now):
        self.tick += 1
        e = self.data.get(key)
        if e is None:
            self.misses += 1
            return None
        if e[1] <= now:
            del self.data[key]
            self.expirations += 1
            self.misses += 1
            return None
        e[2] = self.tick
        self.hits += 1
        return e[0]

    def set(self, key, value, ttl, now):
        self.tick += 1
        if key not in self.data and len(self.data) >= self.maxsize:
            for k in [k for k, e in self.data.items() if e[1] <= now]:
                del self.data[k]
                self.expirations += 1
            while len(self.data) >= self.maxsize:
                lru = min(self.data, key=lambda k: self.data[k][2])
                del self.data[lru]
                self.evictions += 1
        self.data[key] = [value, now + (self.ttl if ttl is None else ttl), self.tick]

    def live(self, now):
        return sorted(k for k, e in self.data.items() if e[1] > now)


def test_get_set_default_and_ttl_boundary():
    clock = VirtualClock()
    c = LocalCache(maxsize=4, ttl=10, clock=clock)
    assert c.get("a") is None and c.get("a", "dflt") == "dflt"
    c.set("a", 0)
    c.set("b", "", ttl=2)
    assert c.get("a", "dflt") == 0 and c.get("b", "dflt") == ""  # falsy values are hits, not misses
    clock.advance(1.999)
    assert "b" in c
    clock.advance(0.001)  # written at 0 with ttl 2: gone at exactly 2
    assert "b" not in c and c.get("b", "dflt") == "dflt"
    clock.advance(8)
    assert c.get("a") is None
    assert c.stats == CacheStats(hits=2, misses=4, evictions=0, expirations=2, loads=0)


def test_infinite_ttl_and_overwrite_resets_ttl():
    clock = VirtualClock()
    c = LocalCache(maxsize=4, ttl=5, clock=clock)
    c.set("forever", 1, ttl=math.inf)
    c.set("k", 1)
    clock.advance(4)
    c.set("k", 2)  # rewritten at 4: lives until 9
    clock.advance(4)
    assert c.get("k") == 2 and c.get("forever") == 1
    clock.advance(10**6)
    assert c.get("forever") == 1 and c.get("k") is None


def test_lru_eviction_respects_recency():
    c = LocalCache(maxsize=3, ttl=100, clock=VirtualClock())
    for k in "abc":
        c.set(k, k)
    c.get("a")  # a becomes most recently used; b is now the LRU
    c.set("d", "d")
    assert sorted(c.keys()) == ["a", "c", "d"]
    assert c.keys() == ["c", "a", "d"]  # LRU first
    assert c.stats.evictions == 1 and len(c) == 3


def test_expired_entries_go_before_live_lru_ones():
    clock = VirtualClock()
    c = LocalCache(maxsize=3, ttl=100, clock=clock)
    c.set("old-but-live", 1)
    c.set("short", 2, ttl=1)
    c.set("c", 3)
    clock.advance(2)
    c.set("d", 4)  # full: the expired entry goes, not the LRU live one
    assert sorted(c.keys()) == ["c", "d", "old-but-live"]
    assert c.stats.evictions == 0 and c.stats.expirations == 1


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_reference_model_on_random_ops(seed):
    rng = random.Random(seed)
    clock = VirtualClock()
    maxsize, ttl = rng.choice([1, 3, 8]), rng.choice([1.0, 5.0, 30.0])
    c, m = LocalCache(maxsize, ttl, clock=clock), Model(maxsize, ttl)
    for i in range(3000):
        op = rng.random()
        key = rng.randrange(12)
        if op < 0.5:
            assert c.get(key) == m.get(key, clock.now()), f"op {i}: get({key})"
        elif op < 0.85:
            t = rng.choice([None, None, 0.5, 2.0, 50.0])
            c.set(key, i, ttl=t)
            m.set(key, i, t, clock.now())
        elif op < 0.9:
            assert c.delete(key) == (m.data.pop(key, None) is not None)
        else:
            clock.advance(rng.choice([0.1, 0.5, 1.0, 3.0]))
        assert sorted(c.keys()) == m.live(clock.now()), f"op {i}: live keys differ"
    s = c.stats
    assert (s.hits, s.misses, s.evictions) == (m.hits, m.misses, m.evictions)
    assert s.hits > 0 and s.misses > 0


def test_overwrites_do_not_grow_the_expiry_heap_without_bound():
    c = LocalCache(maxsize=10, ttl=60, clock=VirtualClock())
    for i in range(5000):
        c.set("same", i)
    assert len(c._heap) <= 2 * len(c) + 65
    assert c.get("same") == 4999


def test_delete_clear_expire_contains_repr():
    clock = VirtualClock()
    c = LocalCache(maxsize=10, ttl=5, clock=clock)
    c.set("a", 1)
    c.set("b", 2, ttl=1)
    assert c.delete("a") is True and c.delete("a") is False
    clock.advance(2)
    assert c.expire() == 1 and len(c) == 0
    c.set("x", 1)
    assert "x" in c and c.clear() == 1 and "x" not in c
    c.get("nope")
    assert repr(c).startswith("<LocalCache 0/10 ttl=5s hits=0 misses=1")


def test_get_or_load_runs_loader_once_for_concurrent_misses():
    c = LocalCache(maxsize=10, ttl=60, clock=VirtualClock())
    release = threading.Event()
    calls = []

    def loader(key):
        calls.append(key)
        release.wait(5)
        return f"row-{key}"

    results = []
    threads = [spawn(lambda: results.append(c.get_or_load("hot", loader))) for _ in range(16)]
    wait_until(lambda: calls)
    wait_until(lambda: flight_waiters(c._flight, "hot") == 15)
    release.set()
    join(*threads)
    assert calls == ["hot"] and results == ["row-hot"] * 16
    assert c.get_or_load("hot", loader) == "row-hot" and calls == ["hot"]  # now a hit
    assert c.stats.loads == 1


def test_get_or_load_does_not_cache_none_or_errors():
    c = LocalCache(maxsize=10, ttl=60, clock=VirtualClock())
    calls = []

    def missing(key):
        calls.append(key)
        return None

    assert c.get_or_load("ghost", missing) is None
    assert c.get_or_load("ghost", missing) is None
    assert calls == ["ghost", "ghost"] and "ghost" not in c

    def boom(key):
        raise RuntimeError("db down")

    with pytest.raises(RuntimeError, match="db down"):
        c.get_or_load("k", boom)
    assert "k" not in c
    assert c.get_or_load("k", lambda k: 0, ttl=1) == 0 and c.get("k", "miss") == 0


def test_concurrent_mixed_use_keeps_bounds_and_counts():
    c = LocalCache(maxsize=50, ttl=60)
    gets = [0] * 8

    def worker(i):
        rng = random.Random(i)
        for _ in range(2000):
            k = rng.randrange(200)
            if rng.random() < 0.5:
                c.set(k, k)
            else:
                v = c.get(k)
                assert v is None or v == k
                gets[i] += 1
            assert len(c._data) <= 50

    run_workers(worker, 8, timeout=30)
    s = c.stats
    assert s.hits + s.misses == sum(gets)
    assert len(c) <= 50 and s.evictions > 0


@pytest.mark.parametrize("kwargs, exc, text", [
    ({"maxsize": 0}, ValueError, "maxsize must be >= 1"),
    ({"maxsize": "10"}, TypeError, "maxsize must be an int"),
    ({"ttl": 0}, ValueError, "ttl must be > 0"),
    ({"ttl": -1}, ValueError, "ttl must be > 0"),
    ({"ttl": float("nan")}, ValueError, "ttl must be a number"),
    ({"clock": object()}, TypeError, "clock"),
])
def test_bad_constructor_arguments(kwargs, exc, text):
    with pytest.raises(exc, match=text):
        LocalCache(**kwargs)


def test_bad_call_arguments():
    c = LocalCache()
    with pytest.raises(TypeError, match="key must be hashable"):
        c.set(["list"], 1)
    with pytest.raises(TypeError, match="key must be hashable"):
        c.get({})
    with pytest.raises(ValueError, match="ttl must be > 0"):
        c.set("k", 1, ttl=0)
    with pytest.raises(TypeError, match="loader must be callable"):
        c.get_or_load("k", "not a function")
