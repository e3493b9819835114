"""Cache/DB consistency strategies: step sequences, Lua version checks, leases, write-behind, real-thread races."""

from __future__ import annotations

import threading

import pytest
import redis

from hcedu.backend import Keyspace
from hcedu.clock import RealClock, VirtualClock
from hcedu.patterns import consistency as cc
from hcedu.patterns.consistency import (STRATEGIES, CacheAside, CDCInvalidate, DelayedDoubleDelete, DeleteThenWrite,
                                        LeaseCache, Step, VersionedDB, VersionedSet, WriteBehind, WriteThrough, make)

from helpers import join, spawn, wait_until

K = "item:1"


def _setup(redis_backend, name, clock=None, **kw):
    client = redis_backend.client()
    db = VersionedDB(clock or VirtualClock())
    db.write(K, "old")
    s = make(name, db, client, keyspace=Keyspace("t15", client), **kw)
    s.reset(K)
    return s, db, client


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_read_write_roundtrip(redis_backend, name):
    s, db, _ = _setup(redis_backend, name, delay=0.0)
    assert s.read(K) == "old"
    assert s.cached(K) == ("old", 1)
    assert s.write(K, "new") == 2
    if isinstance(s, WriteBehind):
        assert db.version(K) == 1 and s.pending() == 1
        s.flush()
    if isinstance(s, CDCInvalidate):
        assert s.cached(K) == ("old", 1), "the app does not touch the cache; the consumer does"
        assert s.consume() == 2 and s.position == 2 and s.consume() == 0
    assert db.read(K) == ("new", 2)
    assert s.read_versioned(K) == ("new", 2)
    assert s.read("missing") is None


def _ops(s, fn):
    seen: list[str] = []
    s.hook = lambda step: seen.append(step.op if step.op != "sleep" else f"sleep {step.seconds:g}")
    fn()
    s.hook = None
    return seen


@pytest.mark.parametrize("name, write_ops", [
    ("cache-aside", ["db_write", "cache_del"]),
    ("delete-then-write", ["cache_del", "db_write"]),
    ("delayed double delete", ["cache_del", "db_write", "sleep 0.5", "cache_del"]),
    ("write-through", ["db_write", "cache_set"]),
    ("write-behind", ["cache_set", "enqueue"]),
    ("cdc", ["db_write"]),
    ("versioned set", ["db_write", "cache_set"]),
    ("lease", ["db_write", "cache_del"]),
])
def test_hook_sees_each_step_in_order(redis_backend, name, write_ops):
    s, _, _ = _setup(redis_backend, name)
    assert _ops(s, lambda: s.read(K)) == ["cache_get", "db_read", "cache_set"]  # cold: miss, load, fill
    assert _ops(s, lambda: s.write(K, "new")) == write_ops


def test_delayed_double_delete_sleeps_on_the_clock(redis_backend):
    clock = VirtualClock()
    s, _, _ = _setup(redis_backend, "delayed double delete", clock=clock, delay=0.5)
    s.write(K, "new")
    assert clock.now() == 0.5
    assert repr(s).startswith("<DelayedDoubleDelete delay=0.5")


def test_versioned_db_replica_lag_and_versions():
    clock = VirtualClock()
    db = VersionedDB(clock, replica_lag=1.0)
    assert db.read(K) == (None, 0) and db.version(K) == 0
    db.write(K, "a")
    assert db.read(K) == (None, 0), "the replica has not seen it yet"
    assert db.read(K, primary=True) == ("a", 1)
    clock.advance(1.0)
    assert db.read(K) == ("a", 1)
    assert db.write(K, "b") == 2 and db.read(K) == ("a", 1)
    assert db.reserve(K) == 3 and db.reserved(K) == 3 and db.version(K) == 2
    assert db.write(K, "c", version=3) == 3 and db.version(K) == 3


def test_versioned_set_refuses_older_versions(redis_backend):
    s, db, client = _setup(redis_backend, "versioned set")
    s._fill(K, "v5", 5)
    s._fill(K, "v3", 3)
    s._fill(K, "v5again", 5)
    assert s.cached(K) == ("v5", 5) and s.refused == 2
    s._fill(K, "v6", 6)
    assert s.cached(K) == ("v6", 6)
    assert 0 < client.pttl(s.cache_key(K)) <= 60_000, "the TTL backstop is set"


def test_lease_second_miss_waits_and_delete_invalidates(redis_backend):
    s, db, client = _setup(redis_backend, "lease")
    first = s.read_steps(K)
    assert next(first).op == "cache_get"
    assert first.send(None).op == "db_read"  # holds the lease now
    assert first.send(None).op == "cache_set"  # has read the old row
    assert _ops(s, lambda: s.read(K)) == ["cache_get", "db_read"], "a second miss waits: no fill"
    assert s.cached(K) is None
    s.write(K, "new")  # DB, then DEL value + lease
    with pytest.raises(StopIteration) as done:
        first.send(None)  # the announced cache_set step: refused
    assert done.value.value == ("old", 1)
    assert s.cached(K) is None and s.refused == 1, "the invalidated lease refused the stale SET"
    assert s.read(K) == "new" and s.cached(K) == ("new", 2)


def test_lease_expires_when_its_holder_dies(redis_backend):
    # The next reader's own lease lasts 5 s: with a 50 ms lease for everyone, a busy machine stalled that
    # reader past its lease between reading the row and filling the cache, and the fence rightly refused
    # the fill. Only the dead holder's lease is made to run out (its TTL cut to 1 ms, as time passing would).
    s, _, client = _setup(redis_backend, "lease", lease_ttl=5.0)
    dead = s.read_steps(K)
    next(dead)
    dead.send(None)  # took the lease, then "died"
    lease = s.cache_key(K) + ":lease"
    assert 0 < client.pttl(lease) <= 5_000, "the dead holder's lease has a TTL: it cannot block the key forever"
    client.pexpire(lease, 1)
    wait_until(lambda: not client.exists(lease))
    assert s.read(K) == "old" and s.cached(K) == ("old", 1)


def test_write_behind_flusher_thread_and_crash(redis_backend):
    s, db, _ = _setup(redis_backend, "write-behind", clock=RealClock())
    s.start(interval=0.01)
    assert any(t.name == "hcedu-writebehind" and t.daemon for t in threading.enumerate())
    with pytest.raises(RuntimeError):
        s.start()
    s.write(K, "a")
    wait_until(lambda: db.version(K) == 2)
    s.stop()
    assert not any(t.name == "hcedu-writebehind" for t in threading.enumerate())
    s.write(K, "b")
    s.write(K, "c")
    assert s.crash() == 2 and s.lost == 2
    assert db.version(K) == 2 and s.truth(K) == 4, "acknowledged writes 3 and 4 never reached the DB"
    assert s.cached(K) == ("c", 4)
    s.reset(K)  # the entry expires ...
    assert s.read_versioned(K) == ("a", 2), "... and the lost writes are gone for good"


def test_cdc_consumer_lag_retry_and_thread(redis_backend):
    clock = VirtualClock()
    s, db, _ = _setup(redis_backend, "cdc", clock=clock, lag=1.0)
    assert db.binlog() == [(0.0, K, 1)]
    s.position = 1  # the seed row was consumed long ago
    s.read(K)
    s.write(K, "new")
    assert s.consume() == 0 and s.cached(K) == ("old", 1), "the change is not through the pipeline yet"
    clock.advance(1.0)
    s.hook = lambda step: (_ for _ in ()).throw(redis.ConnectionError("down"))
    with pytest.raises(redis.ConnectionError):
        s.consume()
    assert s.position == 1 and s.cached(K) == ("old", 1)
    s.hook = None
    assert s.consume() == 1 and s.cached(K) is None and s.position == 2, "retried from the same position"
    r, rdb, _ = _setup(redis_backend, "cdc", clock=RealClock())
    r.read(K)
    r.start(interval=0.01)
    assert any(t.name == "hcedu-cdc" and t.daemon for t in threading.enumerate())
    r.write(K, "new")
    wait_until(lambda: r.cached(K) is None)
    r.stop()
    assert not any(t.name == "hcedu-cdc" for t in threading.enumerate())
    assert r.read(K) == "new"


def _race(make_reader, make_writer, pause_op, paused, timeout=5.0):
    """Pause ``paused`` ('reader' or 'writer') before ``pause_op`` while the other side runs to completion."""
    arrived, go_on = threading.Event(), threading.Event()

    def hook(step: Step) -> None:
        if step.op == pause_op:
            arrived.set()
            assert go_on.wait(timeout)

    reader = make_reader(hook if paused == "reader" else None)
    writer = make_writer(hook if paused == "writer" else None)
    first = spawn(reader.read, K) if paused == "reader" else spawn(writer.write, K, "new")
    assert arrived.wait(timeout)
    (writer.write(K, "new") if paused == "reader" else reader.read(K))
    go_on.set()
    join(first)


@pytest.mark.parametrize("name, stale", [("cache-aside", True), ("write-through", True),
                                         ("delayed double delete", True), ("versioned set", False),
                                         ("lease", False)])
def test_stale_set_race_on_real_threads(redis_backend, name, stale):
    client = redis_backend.client()
    db = VersionedDB(RealClock())
    db.write(K, "old")
    ks = Keyspace("t15", client)

    def inst(hook):
        return make(name, db, client, keyspace=ks, hook=hook, delay=0.01)
    inst(None).reset(K)
    _race(inst, inst, "cache_set", "reader")
    got = inst(None).cached(K)
    assert (got is not None and got[1] < db.version(K)) is stale, got


def test_delete_then_write_reread_on_real_threads(redis_backend):
    client = redis_backend.client()
    db = VersionedDB(RealClock())
    db.write(K, "old")
    ks = Keyspace("t15", client)

    def inst(hook):
        return DeleteThenWrite(db, client, keyspace=ks, hook=hook)
    inst(None).reset(K)
    _race(inst, inst, "db_write", "writer")
    assert inst(None).cached(K) == ("old", 1) and db.version(K) == 2


def test_failed_delete_leaves_the_cache_stale():
    import fakeredis
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server, decode_responses=True)
    db = VersionedDB(VirtualClock())
    db.write(K, "old")
    s = CacheAside(db, client, keyspace=Keyspace("t15", client))
    s.read(K)
    s.hook = lambda step: setattr(server, "connected", step.op != "cache_del")
    with pytest.raises(redis.ConnectionError):
        s.write(K, "new")
    server.connected = True
    assert db.version(K) == 2 and s.cached(K) == ("old", 1)


def test_registry_and_classes():
    assert list(STRATEGIES) == ["cache-aside", "delete-then-write", "delayed double delete", "write-through",
                                "write-behind", "cdc", "versioned set", "lease"]
    assert STRATEGIES["versioned set"] is VersionedSet and STRATEGIES["lease"] is LeaseCache
    assert STRATEGIES["write-through"] is WriteThrough and STRATEGIES["delayed double delete"] is DelayedDoubleDelete
    assert "SET" in cc.VERSIONED_SET_LUA and "INCR" in cc.LEASE_GET_LUA
    assert str(Step("sleep", K, seconds=0.5)) == "sleep 0.5s" and str(Step("cache_set", K, "v2")) == "cache_set v2"


def test_bad_input(redis_client):
    db = VersionedDB(VirtualClock())
    with pytest.raises(TypeError, match="db must be a VersionedDB"):
        CacheAside({}, redis_client)
    with pytest.raises(ValueError, match="ttl must be > 0"):
        CacheAside(db, redis_client, ttl=0)
    with pytest.raises(ValueError, match="delay must be >= 0"):
        DelayedDoubleDelete(db, redis_client, delay=-1)
    with pytest.raises(TypeError, match="hook must be callable"):
        CacheAside(db, redis_client, hook=3)
    with pytest.raises(ValueError, match="lease_ttl must be > 0"):
        LeaseCache(db, redis_client, lease_ttl=0)
    with pytest.raises(ValueError, match="name must be one of"):
        make("write-around", db, redis_client)
    with pytest.raises(ValueError, match="replica_lag must be >= 0"):
        VersionedDB(replica_lag=-0.1)
    s = CacheAside(db, redis_client)
    with pytest.raises(TypeError, match="key must be a str"):
        s.read(1)
    with pytest.raises(TypeError, match="value must be a str"):
        s.write(K, 5)
    with pytest.raises(ValueError, match="version must be >= 1"):
        db.write(K, "x", version=0)
    with pytest.raises(ValueError, match="interval must be > 0"):
        WriteBehind(db, redis_client).start(interval=0)
    with pytest.raises(ValueError, match="lag must be >= 0"):
        CDCInvalidate(db, redis_client, lag=-1)
    with pytest.raises(ValueError, match="position must be >= 0"):
        db.binlog(-1)
