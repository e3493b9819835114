"""Channel -> Redis bridge: policies, batching, shutdown accounting, Redis failures; the naive foil."""

from __future__ import annotations

import threading

import fakeredis
import pytest

from hcedu.backend import Keyspace
from hcedu.go import context
from hcedu.patterns.queue import POLICIES, Bridge, BridgeClosed, NaiveBridge, QueueFull

from helpers import parked_senders, wait_until


def bridge(backend, **kw):
    c = backend.client()
    kw.setdefault("keyspace", Keyspace("t-q", c))
    return Bridge(client=c, **kw)


@pytest.mark.on_cluster
def test_items_reach_the_list_in_order_in_batches(redis_backend):
    b = bridge(redis_backend, capacity=50, batch=16)
    for i in range(200):
        assert b.put(f"t{i}") is True
    report = b.close(timeout=10)
    assert report.complete and report.unsent == [] and report.error is None
    assert report.stats.sent == 200 and report.stats.batches <= 200
    assert b.client.lrange(b.key, 0, -1) == [f"t{i}" for i in range(200)]


@pytest.mark.on_cluster
def test_stream_sink(redis_backend):
    b = bridge(redis_backend, sink="stream", batch=8)
    for i in range(20):
        b.put(f"t{i}")
    b.close()
    assert [f["v"] for _, f in b.client.xrange(b.key)] == [f"t{i}" for i in range(20)]


def manual(backend, policy, capacity=3, **kw):
    return bridge(backend, policy=policy, capacity=capacity, start=False, **kw)


def test_drop_newest_discards_the_new_item(redis_backend):
    b = manual(redis_backend, "drop_newest")
    assert [b.put(x) for x in "abcde"] == [True, True, True, False, False]
    b.pump()
    r = b.wait()
    assert b.client.lrange(b.key, 0, -1) == ["a", "b", "c"]
    assert (r.stats.dropped_newest, r.stats.dropped, r.stats.sent) == (2, 2, 3) and r.complete


def test_drop_oldest_evicts_and_reports(redis_backend):
    evicted = []
    b = manual(redis_backend, "drop_oldest", on_drop=evicted.append)
    assert all(b.put(x) for x in "abcde")
    b.pump()
    r = b.wait()
    assert b.client.lrange(b.key, 0, -1) == ["c", "d", "e"] and evicted == ["a", "b"]
    assert (r.stats.accepted, r.stats.dropped_oldest, r.stats.sent) == (5, 2, 3) and r.complete


def test_reject_raises_queue_full(redis_backend):
    b = manual(redis_backend, "reject", capacity=2)
    b.put("a"), b.put("b")
    with pytest.raises(QueueFull, match="full"):
        b.put("c")
    r = b.wait()
    assert (r.stats.rejected, r.stats.sent) == (1, 2) and r.complete


def test_block_timeout_gives_up(redis_backend):
    b = manual(redis_backend, "block_timeout", capacity=1, put_timeout=0.05)
    assert b.put("a") is True
    assert b.put("b") is False
    r = b.wait()
    assert (r.stats.timed_out, r.stats.sent) == (1, 1) and r.complete


def test_block_waits_for_room_then_proceeds(redis_backend):
    b = bridge(redis_backend, capacity=1, batch=1, rate=100)  # slow drain: 10 ms per item
    for i in range(10):
        assert b.put(f"t{i}")
    r = b.close()
    assert r.stats.sent == 10 and r.complete


def test_blocked_producer_is_released_by_shutdown(redis_backend):
    b = manual(redis_backend, "block", capacity=1)
    b.put("a")
    outcome = []

    def producer():
        try:
            b.put("b")
            outcome.append("accepted")
        except BridgeClosed:
            outcome.append("closed")

    t = threading.Thread(target=producer, daemon=True)
    t.start()
    wait_until(lambda: parked_senders(b.ch) == 1)  # the producer is blocked on the full buffer
    r = b.wait()  # manual mode: shutdown drains synchronously
    t.join(timeout=5)
    assert outcome == ["closed"]
    assert r.stats.sent == 1 and r.stats.rejected == 1 and r.complete


def test_put_after_shutdown_raises(redis_backend):
    b = bridge(redis_backend)
    b.close()
    with pytest.raises(BridgeClosed):
        b.put("late")
    assert b.stats.rejected == 1


def test_parent_context_cancel_shuts_down(redis_backend):
    parent, cancel = context.with_cancel(context.background())
    b = bridge(redis_backend, ctx=parent, capacity=100, rate=500)
    for i in range(50):
        b.put(f"t{i}")
    cancel()
    r = b.wait(timeout=10)
    assert r.stats.sent == 50 and r.complete


@pytest.mark.parametrize("policy", ["block", "drop_newest", "drop_oldest", "reject"])
@pytest.mark.on_cluster
def test_acceptance_shutdown_accounts_for_every_item(redis_backend, policy):
    """Many producers race a shutdown: every item is sent, evicted, refused at the door, or reported unsent."""
    parent, cancel = context.with_cancel(context.background())
    b = bridge(redis_backend, ctx=parent, policy=policy, capacity=32, batch=8, rate=20_000)
    outcomes = {"true": 0, "false": 0, "refused": 0}
    lock = threading.Lock()

    def producer(p):
        for i in range(300):
            try:
                ok = b.put(f"{p}-{i}")
                key = "true" if ok else "false"
            except (QueueFull, BridgeClosed):
                key = "refused"
            with lock:
                outcomes[key] += 1

    ts = [threading.Thread(target=producer, args=(p,), daemon=True) for p in range(4)]
    for t in ts:
        t.start()
    wait_until(lambda: b.stats.offered >= 100)
    cancel()  # shut down through the parent context, mid-stream
    r = b.wait(timeout=10)
    for t in ts:
        t.join(timeout=10)
        assert not t.is_alive()
    s = b.stats
    assert s.offered == 1200 == sum(outcomes.values())
    assert s.accepted == outcomes["true"]
    assert s.rejected + s.dropped_newest + s.timed_out == outcomes["false"] + outcomes["refused"]
    assert s.accepted == s.sent + s.dropped_oldest + len(r.unsent)
    stored = b.client.llen(b.key)
    assert stored == s.sent, "what the bridge says it sent is what Redis holds"


def test_redis_down_at_shutdown_reports_unsent(redis_backend):
    if redis_backend.kind != "fake":
        pytest.skip("outage is simulated with FakeServer.connected")
    b = manual(redis_backend, "block", capacity=10, final_attempts=2)
    for x in "abc":
        b.put(x)
    redis_backend.fake_server.connected = False
    try:
        r = b.wait()
    finally:
        redis_backend.fake_server.connected = True
    assert r.unsent == ["a", "b", "c"] and r.stats.sent == 0 and r.complete


def test_redis_outage_is_retried_not_lost(redis_backend):
    if redis_backend.kind != "fake":
        pytest.skip("outage is simulated with FakeServer.connected")
    b = bridge(redis_backend, capacity=10, retry_backoff=0.01)
    redis_backend.fake_server.connected = False
    b.put("a")
    assert wait_until(lambda: b.stats.errors >= 2)
    redis_backend.fake_server.connected = True
    assert wait_until(lambda: b.stats.sent == 1)
    r = b.close()
    assert r.complete and b.client.lrange(b.key, 0, -1) == ["a"]


# -- the naive bridge -----------------------------------------------------------------------------
def test_naive_bridge_crash_accounts_only_in_the_test(redis_backend):
    c = redis_backend.client()
    n = NaiveBridge(client=c, keyspace=Keyspace("t-q", c), capacity=100)
    n.put("a", timeout=1)
    assert wait_until(lambda: n.sent == 1)
    # crash right after a burst: whatever was still buffered is gone, and only this test can count it
    for i in range(50):
        n.put(f"t{i}", timeout=1)
    n.crash()
    assert n.sent + n.lost == 51 and n.goroutine.done


def test_naive_bridge_dies_on_a_redis_error_and_producers_block(redis_backend):
    if redis_backend.kind != "fake":
        pytest.skip("outage is simulated with FakeServer.connected")
    c = redis_backend.client()
    n = NaiveBridge(client=c, keyspace=Keyspace("t-q", c), capacity=2)
    redis_backend.fake_server.connected = False
    try:
        n.put("a", timeout=1)
        assert wait_until(lambda: n.dead)
        n.put("b", timeout=1)
        n.put("c", timeout=1)
        from hcedu.go import ChanTimeout
        with pytest.raises(ChanTimeout):
            n.put("d", timeout=0.05)  # nobody drains any more
    finally:
        redis_backend.fake_server.connected = True
        n.crash()


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, exc, words", [
    ({"policy": "drop_random"}, ValueError, "policy must be one of"),
    ({"sink": "pubsub"}, ValueError, "sink must be one of"),
    ({"capacity": 0}, ValueError, "capacity must be >= 1"),
    ({"capacity": 1.5}, TypeError, "capacity must be an int"),
    ({"batch": 0}, ValueError, "batch must be >= 1"),
    ({"policy": "block_timeout"}, ValueError, "put_timeout is required"),
    ({"policy": "block_timeout", "put_timeout": -1}, ValueError, "put_timeout must be >= 0"),
    ({"policy": "block", "put_timeout": 1}, ValueError, "put_timeout only applies"),
    ({"rate": 0}, ValueError, "rate must be > 0"),
    ({"on_sent": 3}, TypeError, "on_sent must be callable"),
    ({"keyspace": "ks"}, TypeError, "keyspace must be"),
])
def test_bad_config(kw, exc, words):
    c = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
    kw.setdefault("keyspace", Keyspace("t-q", c))
    with pytest.raises(exc, match=words):
        Bridge(client=c, start=False, **kw)


def test_bad_item(redis_backend):
    b = manual(redis_backend, "block")
    with pytest.raises(TypeError, match="item must be a str"):
        b.put(42)
    assert b.stats.offered == 0
    b.wait()


def test_policies_constant():
    assert POLICIES == ("block", "block_timeout", "drop_newest", "drop_oldest", "reject")


def test_exercise_checker_for_drop_oldest():
    from hcedu.course import check

    def good(ch, item):
        evicted = []
        while not ch.try_send(item):
            old, ok, selected = ch.try_recv()
            if selected and ok:
                evicted.append(old)
        return evicted

    def keeps_only_last(ch, item):
        evicted = []
        while not ch.try_send(item):
            old, ok, selected = ch.try_recv()
            if selected and ok:
                evicted = [old]
        return evicted

    def blocks(ch, item):
        ch.send(item)
        return []

    assert check.drop_oldest(good)
    assert "every eviction is reported" in str(check.drop_oldest(keeps_only_last))
    assert "blocks" in str(check.drop_oldest(blocks))
