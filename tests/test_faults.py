"""The fault suite (issue 15): each Redis pattern keeps its documented promise when production's edges hit.

* a reply lost *after* Redis executed the command (the proxy's / in-process ``lose_reply`` fault), with the
  course's own ``connect()`` client: no duplicate effect, or the documented "raised, happened at most once";
* a hung (SIGSTOPped) server and a caller deadline: kept within 10 % (plus a fixed reply floor);
* a clock an hour fast on one app server: honest callers are not locked out;
* an expired worker acting late: refused, changing nothing.

Real server: a throwaway ``redis-server`` behind :class:`hcedu.lab.proxy.LatencyProxy`; fakeredis: the same
plan in-process (:class:`hcedu.lab.proxy.DelayedConnection`). Every fault is injected at the protocol level,
never by timing.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import fakeredis
import pytest
import redis

from hcedu.backend import Keyspace, connect
from hcedu.clock import SkewedClock, VirtualClock
from hcedu.lab import redis_server
from hcedu.lab.proxy import DelayedConnection, LatencyProxy, Toxics
from hcedu.patterns import (DelayQueue, GCRALimiter, FixedWindowLimiter, IdempotentHandler, Leaderboard, ListQueue,
                            RedisLock, Redlock, SlidingLogLimiter, SlidingWindowCounterLimiter, Stock,
                            StreamQueue, TokenBucketLimiter)
from hcedu.patterns.rediscounter import BatchedRedisCounter, RedisCounter, ShardedRedisCounter
from hcedu.patterns.reliable import InProgress, Message

from helpers import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.waits]  # hung servers and deadlines (see the root conftest.py)


class Faulty:
    """A client whose next request(s) can lose their reply, and a clean client on the same data."""

    def __init__(self, kind: str, url: str | None = None) -> None:
        self.kind = kind
        self.toxics = Toxics()
        self.proxy = None
        if kind == "fake":
            server = fakeredis.FakeServer()
            pool = redis.ConnectionPool(connection_class=DelayedConnection, server=server, toxics=self.toxics,
                                        decode_responses=True)
            self.client = redis.Redis(connection_pool=pool)
            self.clean = fakeredis.FakeRedis(server=server, decode_responses=True)
        else:
            self.proxy = LatencyProxy(url, toxics=self.toxics)
            self.client = connect(self.proxy.url)  # the course's client: must never resend a write
            self.clean = redis.Redis.from_url(url, decode_responses=True)
            self.clean.flushall()

    def lose_next_reply(self, count: int = 1) -> None:
        self.toxics.inject("lose_reply", count)

    def close(self) -> None:
        self.client.close()
        self.clean.close()
        if self.proxy is not None:
            self.proxy.stop()


@pytest.fixture(params=["fake", "real"])
def faulty(request):
    url = None
    if request.param == "real":
        url = request.getfixturevalue("real_redis_server").url
    f = Faulty(request.param, url)
    yield f
    f.close()


def _ks(f: Faulty) -> Keyspace:
    return Keyspace("faults", f.client)


# -- 1. the reply is lost after Redis executed the command --------------------------------------------------

def test_lost_reply_stock_purchase_is_ok_once(faulty):
    s = Stock(faulty.client, "sku", keyspace=_ks(faulty))
    s.load(6)
    assert s.attempt("warm") == "ok"  # script loaded: the lost reply is the purchase's own
    faulty.lose_next_reply()
    assert s.attempt("alice") == "ok"  # not "duplicate" to a buyer who bought
    assert s.remaining() == 4 and s.sold() == 2 and len(s.orders()) == 2
    assert s.attempt("alice") == "duplicate"  # a second, *new* purchase is still refused


def test_lost_reply_counter_incr_is_never_doubled(faulty):
    c = RedisCounter("pv", client=faulty.client, keyspace=_ks(faulty))
    faulty.lose_next_reply()
    with pytest.raises(redis.ConnectionError):
        c.incr(1)  # sent once: outcome unknown, never counted twice
    assert c.value() == 1
    faulty.lose_next_reply()
    assert c.incr(1, request_id="req-7") == 2  # idempotent: retried under its id
    assert c.incr(1, request_id="req-7") == 2 and c.value() == 2
    sh = ShardedRedisCounter("sh", shards=2, seed=1, client=faulty.client, keyspace=_ks(faulty))
    faulty.lose_next_reply()
    with pytest.raises(redis.ConnectionError):
        sh.incr(3)
    assert sh.value() == 3


def test_lost_reply_batched_counter_flush_lands_once(faulty):
    b = BatchedRedisCounter("b", flush_every=1000, flush_interval=None, client=faulty.client, keyspace=_ks(faulty))
    b.incr(1)
    b.flush()  # the script is loaded: the next lost reply is the flush's own
    b.incr(5)
    faulty.lose_next_reply()
    with pytest.raises(redis.ConnectionError):
        b.flush()
    assert b.value() == 6 and b.unsent == 5  # in Redis, but this instance cannot know yet
    b.incr(2)
    assert b.flush() == 7  # resends the lost batch under its flush number: applied once
    assert b.value() == 8 and b.pending == 0
    b.close()


def test_lost_reply_leaderboard_add_is_never_doubled(faulty):
    for tie in ("earliest", "none"):
        lb = Leaderboard(f"b-{tie}", client=faulty.client, keyspace=_ks(faulty), tie_break=tie,
                         clock=VirtualClock(100))
        lb.add("warm", 1)
        lb.add("warm", 1, request_id="warm")  # both scripts loaded
        faulty.lose_next_reply()
        with pytest.raises(redis.ConnectionError):
            lb.add("ann", 10)
        assert lb.score("ann") == 10
        faulty.lose_next_reply()
        assert lb.add("ann", 5, request_id="r1") == 15
        assert lb.add("ann", 5, request_id="r1") == 15 and lb.score("ann") == 15


def test_lost_reply_list_push_stores_one_copy(faulty):
    q = ListQueue("jobs", client=faulty.client, keyspace=_ks(faulty), clock=VirtualClock())
    assert q.take() is None  # script loaded
    faulty.lose_next_reply()
    with pytest.raises(redis.ConnectionError):
        q.push("hello", msg_id="m1")
    assert q.ready() == 1
    faulty.lose_next_reply()
    with pytest.raises(redis.ConnectionError):
        q.take()
    assert q.ready() == 0 and q.in_flight() == 1  # leased, not lost: the reaper returns it
    requeued, dead = q.reap(now=10_000)
    assert [m.msg_id for m in requeued] == ["m1"] and dead == []


def test_lost_reply_lock_acquire_returns_our_fence(faulty):
    lock = RedisLock(faulty.client, "faults:lock", 30)
    assert lock.acquire(blocking=False) and lock.release()  # scripts loaded
    faulty.lose_next_reply()
    assert lock.acquire(blocking=False) is True  # the lost try took it: the retry sees our token
    assert lock.fence == 2 and lock.owned()
    assert lock.release() is True and not lock.lost
    assert not faulty.clean.exists("faults:lock")


def test_lost_reply_delay_claim_leases_nothing_twice(faulty):
    clock = VirtualClock(100)
    dq = DelayQueue("o", client=faulty.client, keyspace=_ks(faulty), lease=30, clock=clock)
    assert dq.claim() == []  # script loaded
    dq.put("a", 50)
    dq.put("b", 60)
    faulty.lose_next_reply()
    with pytest.raises(redis.ConnectionError):
        dq.claim(limit=1)  # not a silent [] with the item leased
    assert dq.leased() == 1 and dq.waiting() == 1
    [b] = dq.claim(limit=1)
    assert b == "b" and dq.ack(b)
    assert dq.recover(now=200) == ["a"]  # the lost claim's item comes back: nothing lost


@pytest.mark.parametrize("cls", [FixedWindowLimiter, SlidingLogLimiter, SlidingWindowCounterLimiter,
                                 TokenBucketLimiter, GCRALimiter])
def test_lost_reply_limiter_spends_at_most_one_slot(faulty, cls):
    lim = cls(faulty.client, limit=2, window=60, keyspace=_ks(faulty), clock=VirtualClock(1000))
    lim.allow("warm")  # script loaded
    faulty.lose_next_reply()
    with pytest.raises(redis.ConnectionError):
        lim.allow("u")
    assert lim.allow("u").allowed is True  # one slot spent by the lost request, one left: not two spent
    assert lim.allow("u").allowed is False


# -- 2. leases: a worker acting after its lease expired -------------------------------------------------------

def test_late_ack_and_extend_are_refused(faulty):
    clock = VirtualClock(0)
    dq = DelayQueue("late", client=faulty.clean, keyspace=Keyspace("faults", faulty.clean), lease=10, clock=clock)
    dq.put("order-1", 0)
    [slow] = dq.claim()
    clock.advance(11)
    assert dq.recover() == ["order-1"]
    [fresh] = dq.claim()
    assert fresh.attempt == slow.attempt + 1
    assert dq.extend(slow) is False and dq.ack(slow) is False  # the slow worker changes nothing
    assert dq.leased() == 1 and dq.attempts("order-1") == 2
    assert dq.ack(fresh) is True and dq.leased() == 0


def _renewal_chain_holds_until(t0: float, ttl: float, renewals: list[tuple[float, float, object]]) -> float:
    """The latest moment the marker is *certainly* still alive, from client-side evidence only.

    The marker was set no earlier than ``t0``, so it lives at least until ``t0 + ttl``. A renewal whose reply
    came back before that moment ran on the server while the marker was alive, and a successful one keeps it
    alive until at least its send time + ``ttl``. A renewal that returns after the current bound proves
    nothing (the marker may have expired first: the renewer was not scheduled in time), so the chain ends."""
    alive_until = t0 + ttl
    for sent, replied, ours in renewals:
        if replied >= alive_until:
            break
        assert ours, "a renewal sent while the marker certainly lived found it no longer ours"
        alive_until = max(alive_until, sent + ttl)
    return alive_until


def test_idempotent_handler_slower_than_inflight_ttl_runs_once(faulty):
    """A handler that runs for several ``inflight_ttl``: its renewer keeps the marker, so a second worker gets
    InProgress all along, and "duplicate" once it is done.

    The marker's TTL runs on the server's clock, so whether it *could* have expired depends on when the renewer
    thread ran. The test does not guess: a spy times each renewal, and every probe that ended while the renewal
    chain certainly held must have been refused. If a busy machine delayed the renewer past a whole TTL before
    the probes got beyond the first TTL (no conclusive probe), the attempt proves nothing and runs again with a
    new message."""
    ttl = 0.4
    ks = Keyspace("faults", faulty.clean)
    for attempt in range(5):
        entered, release = threading.Event(), threading.Event()
        runs, probes, renewals = [], [], []

        def slow(msg):
            runs.append(msg.msg_id)
            entered.set()
            assert release.wait(30)

        def second(msg):  # the other worker's handler: must not run while the first one holds the marker
            runs.append(("second", msg.msg_id))

        h = IdempotentHandler(slow, client=faulty.clean, keyspace=ks, inflight_ttl=ttl)
        other = IdempotentHandler(second, client=faulty.clean, keyspace=ks, inflight_ttl=ttl)
        real_renew = h._renew

        def timed_renew(keys, args):
            sent = time.monotonic()
            ours = real_renew(keys=keys, args=args)
            renewals.append((sent, time.monotonic(), ours))
            return ours

        h._renew = timed_renew
        msg = Message(f"m{attempt}", "body", "e1")
        t0 = time.monotonic()  # before the SET NX is sent
        t = threading.Thread(target=h, args=(msg,), daemon=True)
        t.start()
        try:
            assert entered.wait(30)
            while time.monotonic() < t0 + 2.5 * ttl:
                try:
                    outcome = other(msg)
                except InProgress:
                    outcome = "in progress"
                probes.append((time.monotonic(), outcome))
                time.sleep(ttl / 8)  # not synchronisation: the probes sample the marker over server time
        finally:
            release.set()
            t.join(30)
        alive_until = _renewal_chain_holds_until(t0, ttl, list(renewals))
        conclusive = [(end, outcome) for end, outcome in probes if end < alive_until]
        assert all(outcome == "in progress" for _, outcome in conclusive), (conclusive, renewals, t0)
        if any(end > t0 + ttl for end, _ in conclusive):  # a refusal after the first TTL: renewal did it
            assert other(msg) == "duplicate" and runs == [msg.msg_id], runs
            return
    pytest.fail(f"in 5 attempts no renewal kept the marker past its first {ttl} s TTL (a renewer that never "
                f"runs, or one the machine never scheduled in time); last attempt's renewals: {renewals}")


def test_capped_watchdog_marks_the_lease_lost(faulty):
    v = VirtualClock()
    lock = RedisLock(faulty.clean, "faults:wd", 3, clock=v, watchdog=True, max_renewals=2)
    assert lock.acquire(blocking=False)
    v.advance(1.01)
    v.advance(1.01)
    assert lock.renewals == 2 and not lock.lost
    v.advance(1.01)
    assert lock.lost  # nobody renews any more: the holder must not trust the lease


# -- 3. clock skew -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [GCRALimiter, FixedWindowLimiter, SlidingWindowCounterLimiter,
                                 TokenBucketLimiter, SlidingLogLimiter])
def test_one_fast_clock_does_not_lock_honest_callers_out(redis_backend, cls):
    c = redis_backend.client()
    ks = Keyspace("faults-skew", c)
    fast = cls(c, limit=2, window=0.3, keyspace=ks, clock=SkewedClock(3600), max_skew=0.2)
    honest = cls(c, limit=2, window=0.3, keyspace=ks, max_skew=0.2)
    fast.allow("api")  # stamped an hour ahead (clamped to 0.2 s ahead)
    for _ in range(5):
        honest.allow("api")  # exhaust the quota
    # The skewed stamp counts at most max_skew ahead: after window + max_skew (+ margin) the quota is back.
    # Unclamped, the state sits an hour in the future and every honest request is refused for that hour.
    # The clamp is to the server's TIME, so wait on that state: the server's clock past those 0.8 s.
    def server_now():
        sec, usec = c.time()
        return sec + usec / 1e6

    t0 = server_now()
    wait_until(lambda: server_now() >= t0 + 0.3 + 0.2 + 0.3, step=0.02)
    assert honest.allow("api").allowed


# -- 4. a hung server: deadlines ---------------------------------------------------------------------------

@pytest.fixture
def hung_server():
    """A throwaway redis-server, and a function that SIGSTOPs it; always resumed and stopped."""
    if not redis_server.available():
        pytest.skip("redis-server is not installed")
    proc = redis_server.start()
    stopped = []

    def freeze():
        os.kill(proc.pid, signal.SIGSTOP)
        stopped.append(True)

    try:
        yield proc, freeze
    finally:
        if stopped:
            os.kill(proc.pid, signal.SIGCONT)
        proc.stop()


def _elapsed(fn):
    t0 = time.monotonic()
    try:
        fn()
        err = None
    except redis.RedisError as exc:
        err = exc
    return time.monotonic() - t0, err


def test_hung_server_lock_acquire_keeps_its_deadline(hung_server):
    proc, freeze = hung_server
    c = connect(proc.url)
    holder = RedisLock(c, "k", 30)
    assert holder.acquire()
    waiter = RedisLock(c, "k", 30)
    assert waiter.acquire(timeout=0.05) is False  # warm connection, lock busy
    freeze()
    took, err = _elapsed(lambda: waiter.acquire(timeout=1.0))
    assert took < 1.0 * 1.1 + 0.3, took  # was 15 s (socket timeout x attempts)
    assert isinstance(err, redis.TimeoutError)  # unknown outcome is an error, not a silent False
    c.close()


def test_hung_server_list_take_keeps_its_deadline(hung_server):
    proc, freeze = hung_server
    c = connect(proc.url)
    q = ListQueue("jobs", client=c, keyspace=Keyspace("faults", c))
    assert q.take(timeout=0.1) is None
    freeze()
    took, err = _elapsed(lambda: q.take(timeout=1.5))
    assert took < 1.5 * 1.1 + 0.3, took  # was: raised after 15 s
    assert isinstance(err, redis.TimeoutError)
    c.close()


def test_blocking_take_longer_than_the_socket_timeout_waits_it_out(redis_backend):
    if redis_backend.kind == "fake":
        pytest.skip("fakeredis has no socket timeout")
    c = connect(redis_backend.url, socket_timeout=0.5)
    q = ListQueue("jobs", client=c, keyspace=Keyspace("faults", c))
    took, err = _elapsed(lambda: q.take(timeout=1.2))  # blocks in chunks < socket_timeout
    assert err is None and 1.1 <= took < 1.2 * 1.1 + 0.3
    c.close()


@pytest.mark.parametrize("parallel", [True, False])
def test_hung_redlock_node_costs_one_node_timeout(hung_server, parallel):
    proc, freeze = hung_server
    good = [fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True) for _ in range(2)]
    bad = connect(proc.url)  # warm: connected before the server hangs
    lock = Redlock([*good, bad], "k", 10, node_timeout=0.5, parallel=parallel)
    freeze()
    got = {}
    acquire_took, err = _elapsed(lambda: got.update(acquired=lock.acquire(blocking=False)))
    assert err is None and got["acquired"], (err, lock.last)
    release_took, err = _elapsed(lambda: got.update(released=lock.release()))
    assert err is None and got["released"] and [r.error for r in lock.last][:2] == [None, None], (err, lock.last)
    # one node_timeout (0.5 s) in all: the acquire waits it out once (> 5 s sequentially before the fix) ...
    assert _kept(acquire_took, 0.5), acquire_took
    # ... and the release does not wait for the node that just timed out: it did (a second 0.5 s), so any
    # release that waits for it takes >= 0.5 s. Measured 0.01-0.23 s under load (2 cores, load average ~7);
    # one bound on the sum (< 0.8 s) failed when a busy machine added 0.2 s to each half (0.97 s)
    assert release_took < 0.5, release_took


# -- 5. a server killed mid-operation ---------------------------------------------------------------------

def test_killed_server_fails_fast_and_a_redlock_quorum_survives(hung_server):
    proc, _ = hung_server
    c = connect(proc.url)
    lock = RedisLock(c, "k", 30)
    good = [fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True) for _ in range(2)]
    red = Redlock([*good, connect(proc.url)], "k", 10, node_timeout=0.5)
    assert lock.acquire(timeout=0.5)
    os.kill(proc.pid, signal.SIGKILL)  # mid-holding: the process is gone, its port refuses
    took, err = _elapsed(lambda: RedisLock(c, "k2", 30).acquire(timeout=1.0))
    assert isinstance(err, redis.ConnectionError) and took < 1.1, (err, took)  # no waiting out a dead server
    t0 = time.monotonic()
    assert red.acquire(blocking=False) and red.release()  # 2 of 3 nodes: still a quorum
    assert time.monotonic() - t0 < 1.0
    assert [r.ok for r in red.last] == [True, True, False]


# -- 6. a *new* connection to a hung server: the hand-shake and the TCP connect keep the caller's deadline ----

def _kept(took: float, deadline: float) -> bool:
    return took < deadline * 1.1 + 0.3


def test_new_connection_to_a_hung_server_keeps_the_callers_deadline(hung_server):
    """The server accepts TCP (the kernel does, the process is stopped) but never answers HELLO/CLIENT SETINFO:
    redis-py waits socket_timeout (5 s) per hand-shake read unless the caller's deadline bounds the connect."""
    proc, freeze = hung_server
    c = connect(proc.url)
    ks = Keyspace("faults", c)
    stream = StreamQueue("s", client=c, keyspace=ks)  # its group is created while the server still answers
    freeze()
    good = [fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True) for _ in range(2)]
    calls = {
        "RedisLock.acquire(timeout=1)": (1.0, lambda: RedisLock(c, "k", 30).acquire(timeout=1.0)),
        "ListQueue.take(timeout=1)": (1.0, lambda: ListQueue("jobs", client=c, keyspace=ks).take(timeout=1.0)),
        "StreamQueue.read(block=1)": (1.0, lambda: stream.read("w", block=1.0)),
    }
    for label, (deadline, call) in calls.items():
        c.connection_pool.disconnect()  # no open connection: the call opens a new one to the hung server
        took, err = _elapsed(call)
        assert _kept(took, deadline), (label, took)  # was 5 s: socket_timeout on the hand-shake
        assert isinstance(err, redis.TimeoutError), (label, err)
    lock = Redlock([*good, connect(proc.url, check=False)], "k", 10, node_timeout=0.5, parallel=False)
    took, err = _elapsed(lambda: lock.acquire(blocking=False) and lock.release())
    assert err is None and _kept(took, 2 * 0.5), took  # one node_timeout per phase on the hung node, not 2 x 5 s
    assert [r.ok for r in lock.last][:2] == [True, True]
    c.close()


@pytest.fixture
def full_backlog():
    """A loopback listener whose accept queue is full: a new TCP connect to it never completes (Linux drops the
    SYN), the case ``socket_connect_timeout`` is for. Yields its URL; closes every socket."""
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        blocked = False
        for _ in range(4):
            s = socket.socket()
            s.settimeout(0.3)
            fillers.append(s)
            try:
                s.connect(("127.0.0.1", port))
            except OSError:
                blocked = True
                break
        if not blocked:
            pytest.skip("this kernel accepts connections beyond the listen backlog")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        for s in fillers:
            s.close()
        listener.close()


def test_tcp_connect_that_never_completes_keeps_the_callers_deadline(full_backlog):
    c = connect(full_backlog, check=False)  # socket_connect_timeout is 2 s
    took, err = _elapsed(lambda: RedisLock(c, "k", 30).acquire(timeout=0.6))
    assert _kept(took, 0.6), took
    assert isinstance(err, redis.TimeoutError), err
    c.close()
