"""TwoLevelCache on both backends: read path and TTLs, pub/sub invalidation with real subscriber threads,
lost messages and the TTL backstop, flush on reconnect, the fill race, and the competing-consumer foil."""

from __future__ import annotations

import threading

import pytest

from hcedu.backend import Keyspace
from hcedu.clock import VirtualClock
from hcedu.patterns.twolevel import CompetingConsumerInvalidation, TwoLevelCache, TwoLevelStats
from tests.helpers import flight_waiters, join, spawn, wait_until


class DB:
    """A fake database that counts reads."""

    def __init__(self, **rows):
        self.rows = dict(rows)
        self.reads: list[str] = []

    def load(self, key):
        self.reads.append(key)
        return self.rows.get(key)


@pytest.fixture
def make(redis_backend):
    made: list[TwoLevelCache] = []
    clock = VirtualClock()

    def factory(db, **kw):
        client = redis_backend.client()
        kw.setdefault("keyspace", Keyspace("t12", client))
        kw.setdefault("clock", clock)
        c = TwoLevelCache(client, loader=db.load, **kw)
        made.append(c)
        return c

    factory.clock = clock
    factory.backend = redis_backend
    yield factory
    for c in made:
        c.close()


def test_read_path_l1_then_l2_then_loader_with_ttls(make):
    db = DB(a={"price": 1})
    a = make(db, l1_ttl=5, l2_ttl=60, name="a")
    b = make(db, l1_ttl=5, l2_ttl=60, name="b")
    assert a.get("a") == {"price": 1}          # DB
    assert a.get("a") == {"price": 1}          # L1
    assert b.get("a") == {"price": 1}          # L2 (other instance filled it)
    assert db.reads == ["a"]
    assert (a.stats.loads, a.stats.l1_hits, b.stats.l2_hits) == (1, 1, 1)
    assert 0 < a.client.pttl(a.l2_key("a")) <= 60_000
    make.clock.advance(5)                      # L1 TTL over: back to L2, not the DB
    assert a.get("a") == {"price": 1} and a.stats.l2_hits == 1 and db.reads == ["a"]
    make.clock.advance(60)                     # L2 TTL over (on the cache's clock): the DB again
    assert b.get("a") == {"price": 1} and db.reads == ["a", "a"]
    assert a.stats.rates()["L1"] == pytest.approx(1 / 3)


def test_falsy_values_are_cached_and_none_is_not(make):
    db = DB(zero=0, empty="", nothing=[])
    c = make(db)
    for _ in range(3):
        assert c.get("zero") == 0 and c.get("empty") == "" and c.get("nothing") == []
        assert c.get("ghost") is None
    assert db.reads.count("zero") == 1 and db.reads.count("empty") == 1 and db.reads.count("nothing") == 1
    assert db.reads.count("ghost") == 3 and c.stats.not_found == 3
    assert c.client.exists(c.l2_key("ghost")) == 0


def test_set_broadcasts_to_every_other_instance(make):
    db = DB(k="v1")
    nodes = [make(db, name=f"n{i}") for i in range(3)]
    assert [n.get("k") for n in nodes] == ["v1"] * 3
    db.rows["k"] = "v2"
    assert nodes[0].set("k", "v2") == 3        # delivered to every subscriber, the writer's own included
    for n in nodes:
        assert n.wait_received(1)
    assert [n.get("k") for n in nodes] == ["v2"] * 3
    assert [n.stats.evicted for n in nodes] == [0, 1, 1]  # the writer ignores its own message
    assert nodes[0].stats.l1_hits == 1 and db.reads == ["k"]


def test_invalidate_deletes_l2_and_every_l1(make):
    db = DB(k=1)
    a, b = make(db), make(db)
    a.get("k"), b.get("k")
    db.rows["k"] = 2
    a.invalidate("k")
    b.wait_received(1)
    assert a.client.exists(a.l2_key("k")) == 0
    assert a.get("k") == 2 and b.get("k") == 2


def test_lost_invalidation_is_stale_until_the_l1_ttl(make):
    db = DB(k=1, j=1)
    a, b = make(db, l1_ttl=10), make(db, l1_ttl=10)
    b.get("k"), b.get("j")
    b.lose_invalidations = lambda key: key == "k"  # only messages about k are lost
    db.rows.update(k=2, j=2)
    a.invalidate("k")
    a.invalidate("j")
    assert b.wait_received(2)
    assert b.stats.lost == 1 and b.stats.evicted == 1
    assert b.get("j") == 2                      # delivered: fresh
    assert b.get("k") == 1                      # lost: stale ...
    make.clock.advance(9.9)
    assert b.get("k") == 1
    make.clock.advance(0.1)                     # ... for at most l1_ttl: the backstop
    assert b.get("k") == 2


def _numsub(cache):
    return dict(cache.client.pubsub_numsub(cache.channel)).get(cache.channel, 0)


@pytest.mark.parametrize("flush", [True, False])
def test_silent_reconnect_flushes_l1_only_with_flush_on_reconnect(make, flush):
    db = DB(k=1)
    a = make(db, l1_ttl=1000)
    b = make(db, l1_ttl=1000, flush_on_reconnect=flush)
    b.get("k")
    resyncs = b.stats.resyncs
    b.drop_connection(gap=0.3)
    wait_until(lambda: _numsub(a) == 1)         # b is away: whatever is published now is lost for b
    db.rows["k"] = 2
    assert a.invalidate("k") == 1
    wait_until(lambda: _numsub(a) == 2)         # b re-subscribed
    wait_until(lambda: b.subscribed)
    if flush:
        wait_until(lambda: b.stats.resyncs == resyncs + 1)
        assert b.get("k") == 2
    else:
        assert b.stats.resyncs == resyncs and b.get("k") == 1  # stale, and nothing will tell it


def test_broken_connection_bypasses_and_flushes_l1(make):
    db = DB(k=1)
    c = make(db)
    c.get("k")
    resyncs = c.stats.resyncs
    if make.backend.kind == "fake":
        make.backend.fake_server.connected = False
        wait_until(lambda: not c.subscribed)
        assert len(c.l1) == 0
        make.backend.fake_server.connected = True
    else:
        make.backend.client().client_kill_filter(_type="pubsub")
    wait_until(lambda: c.subscribed and c.stats.resyncs > resyncs)
    assert len(c.l1) == 0
    db.rows["k"] = 2
    c.client.delete(c.l2_key("k"))
    assert c.get("k") == 2


def test_fill_racing_an_invalidation_is_not_put_into_l1(make):
    entered, release = threading.Event(), threading.Event()
    rows = {"k": 1}

    def slow_loader(key):
        value = rows[key]
        entered.set()
        release.wait(5)
        return value

    clock = make.clock
    client = make.backend.client()
    ks = Keyspace("t12", client)
    with TwoLevelCache(client, loader=slow_loader, keyspace=ks, clock=clock, name="slow") as b, \
            TwoLevelCache(make.backend.client(), loader=slow_loader, keyspace=ks, clock=clock) as a:
        got = []
        t = spawn(lambda: got.append(b.get("k")))
        assert entered.wait(5)
        rows["k"] = 2
        a.client.publish(a.channel, '{"k": "k", "o": "someone"}')  # the invalidation overtakes the slow read
        assert b.wait_received(1)
        release.set()
        join(t)
        assert got == [1]                       # it returns what it read ...
        assert "k" not in b.l1                  # ... but does not keep it in L1


def test_concurrent_misses_make_one_load(make):
    db = DB(hot="x")
    gate = threading.Event()
    orig = db.load

    def slow(key):
        gate.wait(5)
        return orig(key)

    db.load = slow
    c = make(db)
    results = []
    threads = [spawn(lambda: results.append(c.get("hot"))) for _ in range(12)]
    wait_until(lambda: flight_waiters(c._flight, "hot") == 11)
    gate.set()
    join(*threads)
    assert results == ["x"] * 12 and db.reads == ["hot"]


def test_competing_consumers_each_message_reaches_one_instance(make):
    db = DB(**{f"k{i}": 0 for i in range(30)})
    caches = [make(db, subscribe=False) for _ in range(3)]
    with CompetingConsumerInvalidation(caches) as q:
        q.start()
        threads = list(q._threads)
        assert [t.name for t in threads] == [f"hcedu-wq-consumer-{i}" for i in range(3)]
        for i in range(30):
            q.invalidate(caches[0], f"k{i}")
        wait_until(lambda: sum(q.consumed) == 30 and q.pending() == 0)
        assert sum(q.consumed) == 30          # 30 evictions in total, not 3 x 30
    assert all(not t.is_alive() for t in threads) and q._threads == []


def test_competing_consumers_leave_other_instances_stale(make):
    db = DB(k=1)
    caches = [make(db, subscribe=False) for _ in range(3)]
    q = CompetingConsumerInvalidation(caches)
    assert [c.get("k") for c in caches] == [1, 1, 1]
    db.rows["k"] = 2
    q.invalidate(caches[2], "k")                 # the writer drops its own copy ...
    assert q.deliver_round_robin() == 1          # ... and the one message goes to instance 0
    assert [c.get("k") for c in caches] == [2, 1, 2]  # instance 1 is stale until its L1 TTL
    assert q.consumed == [1, 0, 0]


def test_close_stops_the_named_daemon_and_bypasses_l1(make):
    db = DB(k=1)
    c = make(db, name="closer")
    t = c._thread
    assert t.name == "hcedu-twolevel-closer" and t.daemon and t.is_alive()
    c.get("k")
    c.close()
    c.close()
    assert not t.is_alive() and not c.subscribed and len(c.l1) == 0
    assert c.get("k") == 1 and c.stats.l2_hits == 1   # still works, through Redis
    assert "closed" in repr(c)


def test_stats_and_repr(make):
    c = make(DB(k=1), name="r")
    c.get("k"), c.get("k")
    assert c.stats == TwoLevelStats(l1_hits=1, loads=1, resyncs=1)
    assert repr(c).startswith("<TwoLevelCache r subscribed l1=1/1024")


def test_bad_input(make, redis_backend):
    db = DB(k=1)
    c = make(db, subscribe=False)
    client = redis_backend.client()
    for kwargs, exc, text in [
        ({"loader": "db"}, TypeError, "loader must be callable"),
        ({"loader": db.load, "l1_ttl": 0}, ValueError, "l1_ttl must be > 0"),
        ({"loader": db.load, "l2_ttl": -1}, ValueError, "l2_ttl must be > 0"),
        ({"loader": db.load, "l1_size": 0}, ValueError, "l1_size must be >= 1"),
        ({"loader": db.load, "keyspace": "ks"}, TypeError, "keyspace must be a hcedu.backend.Keyspace"),
        ({"loader": db.load, "channel": ""}, ValueError, "channel must be a non-empty string"),
    ]:
        with pytest.raises(exc, match=text):
            TwoLevelCache(client, subscribe=False, **kwargs)
    with pytest.raises(TypeError, match="key must be a str or int"):
        c.get(None)
    with pytest.raises(ValueError, match="key must be a non-empty string"):
        c.get("")
    with pytest.raises(ValueError, match="value must not be None"):
        c.set("k", None)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        c.set("k", object())
    with pytest.raises(RuntimeError, match="subscribe=True"):
        c.drop_connection()
    with pytest.raises(ValueError, match="n must be >= 0"):
        c.wait_received(-1)
    with pytest.raises(TypeError, match="non-empty list of TwoLevelCache"):
        CompetingConsumerInvalidation([])


def test_loader_error_propagates_and_caches_nothing(make):
    def boom(key):
        raise ConnectionError("db down")

    c = make(DB())
    c.loader = boom
    with pytest.raises(ConnectionError, match="db down"):
        c.get("k")
    assert c.client.exists(c.l2_key("k")) == 0 and "k" not in c.l1
