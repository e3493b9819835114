"""hcedu.patterns.cacheguard: DB hits at a hot-key miss per guard (real threads), penetration guards, jitter,
logical expiry, XFetch, and the source's unsafe rebuild (plain DEL, recursion)."""

from __future__ import annotations

import random
import threading

import pytest

from hcedu.backend import Keyspace
from hcedu.clock import VirtualClock
from hcedu.patterns.bloom import BloomFilter
from hcedu.patterns.cacheguard import (BloomGuard, CacheBusy, LogicalExpiry, MutexRebuild, NoGuard, NullCache,
                                       SingleflightGuard, SourceRebuild, XFetch, make_guard, ttl_with_jitter)

from helpers import flight_waiters, join, run_workers, spawn, wait_until

DB = {f"p{i}": {"id": f"p{i}", "price": i} for i in range(100)}


class Loader:
    """A counting database; ``barrier`` makes K concurrent loads meet; ``gate`` holds every load until set."""

    def __init__(self, barrier=None, gate=None):
        self.calls = 0
        self.barrier = barrier
        self.gate = gate
        self._lock = threading.Lock()

    def __call__(self, key):
        with self._lock:
            self.calls += 1
        if self.barrier is not None:
            self.barrier.wait()
        if self.gate is not None:
            assert self.gate.wait(5)
        return DB.get(key)


def guard(redis_backend, cls, loader, **kw):
    c = redis_backend.client()
    return cls(loader, c, keyspace=Keyspace("t-guard", c), **kw)


def stampede(g, k, key="p1"):
    got = []
    lock = threading.Lock()
    start = threading.Barrier(k, timeout=10)

    def worker(i):
        start.wait()
        v = g.get(key)
        with lock:
            got.append(v)

    run_workers(worker, k, timeout=30)
    return got


@pytest.mark.parametrize("cls", [NoGuard, MutexRebuild, SingleflightGuard, LogicalExpiry, XFetch, NullCache,
                                 SourceRebuild])
@pytest.mark.on_cluster
def test_hit_miss_and_missing_rows(redis_backend, cls):
    db = Loader()
    g = guard(redis_backend, cls, db)
    assert g.get("p3") == {"id": "p3", "price": 3}
    assert g.get("p3") == {"id": "p3", "price": 3}
    assert db.calls == 1 == g.loads
    assert g.get("nope") is None
    g.invalidate("p3")
    assert g.get("p3")["price"] == 3 and db.calls == 3


def test_noguard_every_concurrent_miss_hits_the_db(redis_backend):
    k = 12
    db = Loader(barrier=threading.Barrier(k, timeout=10))  # completes only if all k threads load
    g = guard(redis_backend, NoGuard, db)
    got = stampede(g, k)
    assert db.calls == k and all(v == DB["p1"] for v in got)


@pytest.mark.on_cluster
def test_mutex_one_load_for_many_waiters(redis_backend):
    gate = threading.Event()
    db = Loader(gate=gate)
    g = guard(redis_backend, MutexRebuild, db, rng=random.Random(1), retries=100_000)
    k = 16
    got = []
    t = spawn(lambda: got.extend(stampede(g, k)))
    wait_until(lambda: g.waits >= 2 * (k - 1))  # every loser has polled: the load is still running
    gate.set()
    join(t, timeout=30)
    assert db.calls == 1 and len(got) == k and all(v == DB["p1"] for v in got)
    assert g.lock_lost == 0
    assert redis_backend.client().exists(g.lock_key("p1")) == 0  # released


@pytest.mark.on_cluster
def test_mutex_rechecks_the_cache_after_locking(redis_backend):
    db = Loader()
    g = guard(redis_backend, MutexRebuild, db)
    # someone rebuilt between our miss and our lock: the winner must not load again
    orig = g._read
    calls = []

    def read(key):
        calls.append(1)
        if len(calls) == 1:
            g.put(key, {"id": key, "price": -1})  # another client writes right after our GET missed
            return False, None
        return orig(key)

    g._read = read
    assert g.get("p1") == {"id": "p1", "price": -1}
    assert db.calls == 0


def test_mutex_gives_up_after_bounded_retries(redis_backend):
    c = redis_backend.client()
    g = MutexRebuild(Loader(), c, keyspace=Keyspace("t-guard", c), retries=5, clock=VirtualClock(),
                     rng=random.Random(0))
    c.set(g.lock_key("p1"), "someone-else", px=60_000)  # a holder that never finishes
    with pytest.raises(CacheBusy, match="after 5 waits"):
        g.get("p1")
    assert g.waits == 5 and g.loads == 0
    assert c.get(g.lock_key("p1")) == "someone-else"  # we never touched their lock


@pytest.mark.on_cluster
def test_mutex_overrun_does_not_delete_the_next_holders_lock(redis_backend):
    c = redis_backend.client()
    gate = threading.Event()
    g = MutexRebuild(Loader(gate=gate), c, keyspace=Keyspace("t-guard", c), lock_ttl=60)
    t = spawn(g.get, "p1")
    wait_until(lambda: g.loads == 1)
    c.set(g.lock_key("p1"), "client-b", px=60_000)  # our lease lapsed and B took the lock
    gate.set()
    join(t)
    assert c.get(g.lock_key("p1")) == "client-b" and g.lock_lost == 1


def test_source_rebuild_plain_del_deletes_the_next_holders_lock(redis_backend):
    c = redis_backend.client()
    gate = threading.Event()
    g = SourceRebuild(Loader(gate=gate), c, keyspace=Keyspace("t-guard", c))
    t = spawn(g.get, "p1")
    wait_until(lambda: g.loads == 1)
    c.set(g.lock_key("p1"), "1", px=60_000)  # B's lock: the same constant "1", indistinguishable
    gate.set()
    join(t)
    assert c.exists(g.lock_key("p1")) == 0  # A's plain DEL removed B's lock


def test_source_rebuild_recursion_is_unbounded(redis_backend):
    c = redis_backend.client()
    g = SourceRebuild(Loader(), c, keyspace=Keyspace("t-guard", c), clock=VirtualClock())
    c.set(g.lock_key("p1"), "1", px=60_000)  # the lock stays taken
    with pytest.raises(RecursionError):
        g.get("p1")
    assert g.max_depth > 100


def test_singleflight_one_load_per_process(redis_backend):
    gate = threading.Event()
    db = Loader(gate=gate)
    c = redis_backend.client()
    procs = [SingleflightGuard(db, c, keyspace=Keyspace("t-guard", c)) for _ in range(3)]  # 3 "processes"
    got = []
    lock = threading.Lock()

    def worker(i):
        v = procs[i % 3].get("p1")
        with lock:
            got.append(v)

    t = spawn(run_workers, worker, 12)
    # all 12 callers inside a flight: 3 leaders (one per process) and 9 waiting on them
    wait_until(lambda: db.calls == 3 and sum(flight_waiters(p.group) for p in procs) == 9)
    gate.set()
    join(t, timeout=30)
    assert db.calls == 3 and len(got) == 12 and all(v == DB["p1"] for v in got)
    assert sum(p.shared for p in procs) == 12  # every caller got a shared result


@pytest.mark.on_cluster
def test_logical_expiry_serves_stale_and_rebuilds_once(redis_backend):
    clock = VirtualClock()
    gate = threading.Event()
    db = Loader(gate=gate)
    g = guard(redis_backend, LogicalExpiry, db, ttl=60, clock=clock)
    g.put("p1", {"id": "p1", "price": "old"})
    assert redis_backend.client().ttl(g.cache_key("p1")) == -1  # no Redis TTL
    clock.advance(61)
    got = stampede(g, 10)
    assert all(v == {"id": "p1", "price": "old"} for v in got)  # nobody waited, stale served
    assert g.stale_served == 10
    gate.set()
    assert g.wait_idle(5)
    assert db.calls == 1 and g.get("p1") == DB["p1"]
    assert not [t for t in threading.enumerate() if t.name.startswith("hcedu-cache-rebuild")]


def test_logical_expiry_background_error_keeps_stale(redis_backend):
    clock = VirtualClock()

    def broken(key):
        raise RuntimeError("db down")

    g = guard(redis_backend, LogicalExpiry, broken, ttl=10, clock=clock, background=False)
    g.put("p1", "old")
    g.expire("p1")
    assert g.get("p1") == "old"
    assert len(g.rebuild_errors) == 1 and isinstance(g.rebuild_errors[0], RuntimeError)
    assert redis_backend.client().exists(g.lock_key("p1")) == 0  # lock released after the failure


def test_xfetch_refreshes_early_sometimes_and_always_after_expiry(redis_backend):
    clock = VirtualClock()
    db = Loader()
    g = guard(redis_backend, XFetch, db, ttl=100, clock=clock, rng=random.Random(3), beta=1.0)
    assert g.should_refresh(delta=1, exp=100, now=99, u=0.2)  # 99 + 1.61 >= 100
    assert not g.should_refresh(delta=1, exp=100, now=90, u=0.2)
    assert g.should_refresh(delta=0, exp=100, now=100, u=1.0)
    g.get("p1")
    clock.advance(50)
    assert g.get("p1") == DB["p1"] and db.calls == 1  # delta = 0 on a VirtualClock: never early
    clock.advance(50)
    g.get("p1")
    assert db.calls == 2


def test_loader_error_propagates_and_nothing_is_cached(redis_backend):
    def broken(key):
        raise RuntimeError("db down")

    for cls in (NoGuard, MutexRebuild, SingleflightGuard):
        g = guard(redis_backend, cls, broken)
        with pytest.raises(RuntimeError, match="db down"):
            g.get("p1")
        assert redis_backend.client().exists(g.cache_key("p1"), g.lock_key("p1")) == 0


@pytest.mark.on_cluster
def test_null_cache_and_bloom_stop_penetration(redis_backend):
    ids = [f"missing{i}" for i in range(20)] * 5  # 100 requests, 20 distinct ids that do not exist
    counts = {}
    c = redis_backend.client()
    ks = Keyspace("t-guard", c)
    bloom = BloomFilter(c, capacity=100, error_rate=0.001, keyspace=ks)
    bloom.add_many(DB)
    for name, g in [("none", NoGuard(Loader(), c, keyspace=ks, name="a")),
                    ("null", NullCache(Loader(), c, keyspace=ks, name="b", null_ttl=30)),
                    ("bloom", BloomGuard(NoGuard(Loader(), c, keyspace=ks, name="c"), bloom))]:
        assert all(g.get(i) is None for i in ids)
        counts[name] = g.loads
    assert counts["none"] == 100 and counts["null"] == 20 and counts["bloom"] <= 1
    assert 0 < c.pttl(ks.key("cache", "b", "missing0")) <= 30_000  # the placeholder is short-lived
    g = BloomGuard(NoGuard(Loader(), c, keyspace=ks, name="d"), bloom)
    assert g.get("p5") == DB["p5"] and g.rejected == 0  # existing ids pass through


def test_ttl_with_jitter():
    rng = random.Random(0)
    ttls = [ttl_with_jitter(600, 120, rng) for _ in range(1000)]
    assert all(600 <= t <= 720 for t in ttls) and len({int(t) for t in ttls}) > 100
    assert ttl_with_jitter(600, 0) == 600
    assert [ttl_with_jitter(10, 5, random.Random(1)) for _ in range(2)] == [ttl_with_jitter(10, 5, random.Random(1))] * 2


def test_jittered_writes_spread_ttls(redis_backend):
    db = Loader()
    g = guard(redis_backend, NoGuard, db, ttl=600, jitter=120, rng=random.Random(5))
    for i in range(20):
        g.get(f"p{i}")
    c = redis_backend.client()
    ttls = {c.pttl(g.cache_key(f"p{i}")) // 1000 for i in range(20)}
    assert len(ttls) > 10 and all(590 <= t <= 720 for t in ttls)


def test_bad_input(redis_backend):
    c = redis_backend.client()
    ks = Keyspace("t-guard", c)
    with pytest.raises(TypeError, match="loader must be callable"):
        NoGuard("db", c, keyspace=ks)
    with pytest.raises(ValueError, match="ttl must be > 0"):
        NoGuard(Loader(), c, keyspace=ks, ttl=0)
    with pytest.raises(ValueError, match="jitter must be >= 0"):
        NoGuard(Loader(), c, keyspace=ks, jitter=-1)
    with pytest.raises(ValueError, match="retries must be >= 0"):
        MutexRebuild(Loader(), c, keyspace=ks, retries=-1)
    with pytest.raises(ValueError, match="lock_ttl must be >= 0.001"):
        MutexRebuild(Loader(), c, keyspace=ks, lock_ttl=0)
    with pytest.raises(ValueError, match="null_ttl must be > 0"):
        NullCache(Loader(), c, keyspace=ks, null_ttl=0)
    with pytest.raises(ValueError, match="beta must be > 0"):
        XFetch(Loader(), c, keyspace=ks, beta=0)
    with pytest.raises(TypeError, match="keyspace must be"):
        NoGuard(Loader(), c, keyspace="ks")
    with pytest.raises(TypeError, match="inner must be a CacheGuard"):
        BloomGuard("x", BloomFilter(c, capacity=10, keyspace=ks))
    with pytest.raises(ValueError, match="kind must be one of"):
        make_guard("lru", Loader(), c)
    g = NoGuard(Loader(), c, keyspace=ks)
    with pytest.raises(TypeError, match="key must be a str or int"):
        g.get(None)
    with pytest.raises(ValueError, match="key must be a non-empty"):
        g.get("")
    with pytest.raises(ValueError, match="base must be > 0"):
        ttl_with_jitter(0, 1)
    with pytest.raises(TypeError, match="rng must be a random.Random"):
        ttl_with_jitter(1, 1, rng=3)
    assert isinstance(make_guard("mutex", Loader(), c, keyspace=ks), MutexRebuild)
