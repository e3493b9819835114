"""DelayQueue: atomic claim, lease + recover, cancel, the naive claim's double close, bad input."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from hcedu.backend import Keyspace
from hcedu.clock import VirtualClock
from hcedu.patterns.delayqueue import DelayQueue


def make(backend, clock=None, lease=30.0, name="orders"):
    c = backend.client()
    return DelayQueue(name, client=c, keyspace=Keyspace("t-dq", c), lease=lease, clock=clock or VirtualClock())


@pytest.mark.on_cluster
def test_put_claim_ack_in_due_order(redis_backend):
    clock = VirtualClock()
    q = make(redis_backend, clock)
    assert q.put("o3", 30) and q.put("o1", 10) and q.put("o2", 20)
    assert q.put("o1", 15) is False  # already waiting: rescheduled, not new
    assert q.claim(limit=10) == []  # nothing due at t=0
    assert q.next_due() == 15
    clock.advance(25)
    assert q.ready() == 2
    assert q.claim(limit=10) == ["o1", "o2"]
    assert q.leased() == 2 and q.waiting() == 1
    assert q.ack("o1") is True and q.ack("o1") is False
    assert q.attempts("o2") == 1
    assert q.ack_many(["o2", "nope"]) == 1
    assert len(q) == 1


def test_claim_respects_limit_and_now_argument(redis_backend):
    q = make(redis_backend)
    q.put_many({f"i{n:03d}": n for n in range(100)})
    assert q.claim(now=9, limit=3) == ["i000", "i001", "i002"]
    assert len(q.claim(now=9, limit=100)) == 7
    assert q.claim(now=9, limit=100) == []


@pytest.mark.on_cluster
def test_lease_expiry_recovers_item_for_another_worker(redis_backend):
    clock = VirtualClock()
    q = make(redis_backend, clock, lease=10)
    q.put("o1", 0)
    assert q.claim() == ["o1"]  # worker A claims, then dies without ack
    assert q.recover() == []  # lease still valid
    clock.advance(10)
    assert q.recover() == ["o1"]
    assert q.leased() == 0 and q.ready() == 1
    assert q.claim() == ["o1"]  # worker B gets it
    assert q.attempts("o1") == 2
    assert q.ack("o1")


@pytest.mark.on_cluster
def test_extend_keeps_lease_and_fails_after_recovery(redis_backend):
    clock = VirtualClock()
    q = make(redis_backend, clock, lease=10)
    q.put("o1", 0)
    q.claim()
    clock.advance(8)
    assert q.extend("o1") is True  # heartbeat: deadline now 18
    clock.advance(8)
    assert q.recover() == []
    clock.advance(3)
    assert q.recover() == ["o1"]
    assert q.extend("o1") is False  # lost the lease: stop, don't ack


@pytest.mark.on_cluster
def test_cancel_removes_waiting_or_leased(redis_backend):
    clock = VirtualClock()
    q = make(redis_backend, clock)
    q.put("paid", 1800)
    q.put("leased", 0)
    assert q.claim() == ["leased"]
    assert q.cancel("paid") is True
    assert q.cancel("leased") is True
    assert q.cancel("paid") is False and q.cancel("unknown") is False
    clock.advance(3600)
    assert q.claim(limit=10) == [] and len(q) == 0


@pytest.mark.on_cluster
def test_put_does_not_requeue_a_leased_item(redis_backend):
    q = make(redis_backend)
    q.put("o1", 0)
    assert q.claim(now=0) == ["o1"]
    assert q.put("o1", 5) is False
    assert q.waiting() == 0 and q.leased() == 1


def test_put_after_uses_clock(redis_backend):
    clock = VirtualClock(100)
    q = make(redis_backend, clock)
    q.put_after("o1", 1800)
    assert q.due_at("o1") == 1900


def claim_all(q, workers, now, limit, naive=False):
    """Run ``workers`` threads claiming until the queue is drained; return every claim."""
    got: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(workers, timeout=10)

    def worker():
        start.wait()
        mine = []
        while True:
            items = q.claim_naive(now, limit) if naive else q.claim(now, limit)
            if not items:
                break
            mine.extend(items)
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    return got


@pytest.mark.on_cluster
def test_acceptance_8_workers_claim_10000_due_items_exactly_once(redis_backend):
    q = make(redis_backend)
    n = 10_000
    q.put_many({f"order-{i}": i % 500 for i in range(n)})
    got = claim_all(q, 8, now=1000, limit=50)
    counts = Counter(got)
    assert len(counts) == n, "every due item is claimed"
    assert max(counts.values()) == 1, "no item is claimed twice"
    assert q.waiting() == 0 and q.leased() == n


def test_naive_claim_hands_the_same_item_to_two_workers(redis_backend):
    q = make(redis_backend)
    q.put("order-1", 0)
    barrier = threading.Barrier(2, timeout=5)
    closed: list[str] = []

    def worker():
        closed.extend(q.claim_naive(now=1, limit=1, between=lambda items: barrier.wait()))

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=10)
    assert closed == ["order-1", "order-1"], "both read before either removed: double close"


@pytest.mark.on_cluster
def test_atomic_claim_with_same_interleaving_hands_it_out_once(redis_backend):
    q = make(redis_backend)
    q.put("order-1", 0)
    barrier = threading.Barrier(2, timeout=5)
    closed: list[str] = []

    def worker():
        barrier.wait()
        closed.extend(q.claim(now=1, limit=1))

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=10)
    assert closed == ["order-1"]


@pytest.mark.on_cluster
def test_queues_with_different_names_are_separate(redis_backend):
    a = make(redis_backend, name="a")
    b = make(redis_backend, name="b")
    a.put("x", 0)
    assert b.claim(now=1) == [] and a.claim(now=1) == ["x"]
    a.clear()
    assert len(a) == 0


@pytest.mark.parametrize("call, exc, words", [
    (lambda q: q.put("o1", "soon"), TypeError, "due_at must be a number"),
    (lambda q: q.put("o1", float("nan")), ValueError, "due_at must be a number, not NaN"),
    (lambda q: q.put("o1", None), TypeError, "due_at must be a number"),
    (lambda q: q.put("", 1), ValueError, "item_id must be a non-empty string"),
    (lambda q: q.put(3.5, 1), TypeError, "item_id must be a str or int"),
    (lambda q: q.claim(0, 0), ValueError, "limit must be >= 1"),
    (lambda q: q.claim(0, 1.5), TypeError, "limit must be an int"),
    (lambda q: q.claim("now"), TypeError, "now must be a number"),
    (lambda q: q.recover(0, limit=-1), ValueError, "limit must be >= 1"),
    (lambda q: q.put_after("o1", -1), ValueError, "delay must be >= 0"),
    (lambda q: q.put_many([("a", 1)]), TypeError, "items must be a dict"),
])
def test_bad_input_is_rejected_with_clear_errors(redis_backend, call, exc, words):
    q = make(redis_backend)
    with pytest.raises(exc, match=words):
        call(q)
    assert len(q) == 0


@pytest.mark.parametrize("lease, exc", [(-1, ValueError), (0, ValueError), ("30", TypeError)])
def test_bad_lease(redis_client, lease, exc):
    with pytest.raises(exc, match="lease"):
        DelayQueue(client=redis_client, keyspace=Keyspace("t-dq", redis_client), lease=lease)


def test_bad_clock_and_keyspace(redis_client):
    with pytest.raises(TypeError, match="clock"):
        DelayQueue(client=redis_client, clock=object())
    with pytest.raises(TypeError, match="keyspace"):
        DelayQueue(client=redis_client, keyspace="ks")


def test_exercise_checker_accepts_the_lua_claim_and_rejects_the_two_step_one():
    from hcedu.course import check
    from hcedu.patterns.delayqueue import CLAIM_LUA

    def good(r, due, leased, now, limit, lease):
        # CLAIM_LUA also counts attempts in KEYS[3]; give it a scratch hash
        return r.register_script(CLAIM_LUA)(keys=[due, leased, "ex11:attempts"], args=[now, limit, now + lease])

    def naive(r, due, leased, now, limit, lease):
        items = r.zrangebyscore(due, "-inf", now, start=0, num=limit)
        if items:
            r.zrem(due, *items)
            r.zadd(leased, {i: now + lease for i in items})
        return items

    def stub(*args):
        raise NotImplementedError

    assert check.delay_claim(good, items=400)
    verdict = check.delay_claim(naive, items=400)
    assert not verdict and "more than one worker" in str(verdict)
    assert check.delay_claim(stub).unsolved
