"""RedisLock and FencedResource, on fakeredis and on a real redis-server."""

from __future__ import annotations

import gc
import random
import threading
import time
from unittest import mock

import fakeredis
import pytest

from hcedu.clock import VirtualClock
from hcedu.patterns.fencing import FencedResource, StaleFence
from hcedu.patterns.lock import LockLost, LockTimeout, RedisLock, unsafe_release

from helpers import run_workers, wait_until


def _expire_now(client, key):
    """Make the lease run out through Redis's own expiry (TTL forced to 1 ms), then wait for it."""
    client.pexpire(key, 1)
    assert wait_until(lambda: not client.exists(key), timeout=5)


def _watchdogs():
    return [t for t in threading.enumerate() if t.name.startswith("hcedu-lock-watchdog-")]


# -- bad input -------------------------------------------------------------------------------------

def test_bad_input_is_rejected_with_clear_errors():
    c = fakeredis.FakeRedis()
    with pytest.raises(ValueError, match="ttl must be > 0"):
        RedisLock(c, "k", 0)
    with pytest.raises(ValueError, match="ttl must be > 0"):
        RedisLock(c, "k", -1)
    with pytest.raises(ValueError, match="ttl must be at least 0.001"):
        RedisLock(c, "k", 0.0001)
    with pytest.raises(TypeError, match="ttl must be a number"):
        RedisLock(c, "k", "10")
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        RedisLock(c, "", 1)
    with pytest.raises(TypeError, match="name must be a str"):
        RedisLock(c, None, 1)
    with pytest.raises(TypeError, match="client must be a redis-py client"):
        RedisLock(object(), "k", 1)
    with pytest.raises(TypeError, match="clock must provide"):
        RedisLock(c, "k", 1, clock=object())
    with pytest.raises(ValueError, match="max_renewals must be >= 0"):
        RedisLock(c, "k", 1, max_renewals=-1)
    with pytest.raises(ValueError, match="blocking_timeout must be >= 0"):
        RedisLock(c, "k", 1, blocking_timeout=-1)
    with pytest.raises(TypeError, match="rng must be a random.Random"):
        RedisLock(c, "k", 1, rng=42)
    with pytest.raises(ValueError, match="fence_key must differ"):
        RedisLock(c, "k", 1, fence_key="k")
    with pytest.raises(ValueError, match="fence_key must be in the lock's Redis Cluster slot"):
        RedisLock(c, "lock:orders", 1, fence_key="lock:orders:fence")  # two slots: CROSSSLOT on a cluster
    assert RedisLock(c, "{lock:orders}", 1).fence_key == "{lock:orders}:fence"
    assert RedisLock(c, "lock:orders", 1).fence_key == "lock:orders:{lock:orders}:fence"
    with pytest.raises(ValueError, match="brace"):
        RedisLock(c, "lock{orders", 1)
    lock = RedisLock(c, "k", 1)
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        lock.acquire(timeout=-0.5)
    with pytest.raises(ValueError, match="timeout only applies with blocking=True"):
        lock.acquire(blocking=False, timeout=1)
    with pytest.raises(ValueError, match="ttl must be > 0"):
        lock.extend(0)
    assert not lock.held  # nothing was acquired by the failed calls


def test_spin_retry_on_a_virtual_clock_is_refused():
    c = fakeredis.FakeRedis()
    v = VirtualClock()
    RedisLock(c, "k", 1, clock=v).acquire()
    spinner = RedisLock(c, "k", 1, clock=v, retry_base=0)
    with pytest.raises(ValueError, match="needs a RealClock"):
        spinner.acquire(timeout=1)


def test_fenced_resource_bad_input():
    r = FencedResource()
    with pytest.raises(ValueError, match="fence must be >= 1"):
        r.write("x", 0)
    with pytest.raises(TypeError, match="fence must be an int"):
        r.write("x", None)
    with pytest.raises(TypeError, match="fence must be an int"):
        r.write("x", 3.0)
    with pytest.raises(ValueError, match="name must be a non-empty"):
        FencedResource("")


# -- the core safety property ----------------------------------------------------------------------

@pytest.mark.on_cluster
def test_release_after_lease_expired_does_not_delete_the_new_holders_lock(redis_backend):
    ca, cb = redis_backend.client(), redis_backend.client()
    a, b = RedisLock(ca, "lock:order", 10), RedisLock(cb, "lock:order", 10)
    assert a.acquire(blocking=False)
    assert not b.acquire(blocking=False)
    _expire_now(ca, "lock:order")
    assert b.acquire(blocking=False)
    assert a.release() is False                      # not ours any more ...
    assert cb.get("lock:order") == b.token           # ... and B's lock survived
    assert b.owned() and not a.owned()
    assert a.lost
    assert b.release() is True
    assert not cb.exists("lock:order")


def test_release_after_a_real_short_ttl_ran_out(redis_backend):
    ca, cb = redis_backend.client(), redis_backend.client()
    a, b = RedisLock(ca, "lock:short", 0.05), RedisLock(cb, "lock:short", 10)
    assert a.acquire(blocking=False)
    assert wait_until(lambda: not ca.exists("lock:short"), timeout=5)  # the 50 ms lease ran out by itself
    assert b.acquire(blocking=False)
    assert a.release() is False
    assert cb.get("lock:short") == b.token


def test_release_of_an_expired_unclaimed_lock_returns_false(redis_backend):
    c = redis_backend.client()
    a = RedisLock(c, "k", 10)
    assert a.release() is False  # never acquired
    a.acquire()
    _expire_now(c, "k")
    assert a.release() is False
    assert a.acquire(blocking=False)  # the object is reusable after release
    assert a.release() is True


def test_the_naive_del_deletes_the_other_clients_lock(redis_backend):
    """The bug the token fixes, shown with the source's first version (plain DEL)."""
    ca, cb = redis_backend.client(), redis_backend.client()
    assert ca.set("lock:order", "instance_1", nx=True, px=10_000)
    _expire_now(ca, "lock:order")
    assert cb.set("lock:order", "instance_2", nx=True, px=10_000)
    assert unsafe_release(ca, "lock:order") is True   # A "unlocks" ...
    assert not cb.exists("lock:order")               # ... and B's lock is gone


def test_patched_time_lease_expiry_on_fakeredis():
    """fakeredis expiry follows time.time(): advance it 11 s past a 10 s lease without waiting."""
    server = fakeredis.FakeServer()
    ca = fakeredis.FakeRedis(server=server, decode_responses=True)
    cb = fakeredis.FakeRedis(server=server, decode_responses=True)
    now = [1_000_000.0]
    with mock.patch("time.time", lambda: now[0]):
        a, b = RedisLock(ca, "L", 10), RedisLock(cb, "L", 10)
        assert a.acquire(blocking=False)
        now[0] += 9
        assert not b.acquire(blocking=False)
        now[0] += 2
        assert b.acquire(blocking=False)
        assert a.release() is False
        assert b.owned()


@pytest.mark.on_cluster
def test_extend_only_when_ours(redis_backend):
    ca, cb = redis_backend.client(), redis_backend.client()
    a, b = RedisLock(ca, "k", 10), RedisLock(cb, "k", 10)
    a.acquire()
    assert a.extend(30) is True
    assert 20_000 < ca.pttl("k") <= 30_000
    _expire_now(ca, "k")
    b.acquire()
    assert a.extend(60) is False
    assert cb.pttl("k") <= 10_000  # B's lease untouched
    assert a.extend() is False


@pytest.mark.on_cluster
def test_owned_locked_and_token(redis_backend):
    c = redis_backend.client()
    a = RedisLock(c, "k", 5)
    assert not a.locked() and not a.owned() and a.token is None
    a.acquire()
    assert a.locked() and a.owned() and len(a.token) == 32
    assert 0 < c.pttl("k") <= 5000


def test_not_reentrant(redis_backend):
    a = RedisLock(redis_backend.client(), "k", 5)
    a.acquire()
    with pytest.raises(RuntimeError, match="not re-entrant"):
        a.acquire(blocking=False)
    assert a.release()


def test_context_manager_and_errors(redis_backend):
    ca, cb = redis_backend.client(), redis_backend.client()
    with RedisLock(ca, "k", 5) as a:
        assert a.owned()
        with pytest.raises(LockTimeout):
            with RedisLock(cb, "k", 5, blocking_timeout=0.02, retry_cap=0.005):
                pass
    assert not ca.exists("k")
    with pytest.raises(LockLost, match="lease ran out"):
        with RedisLock(ca, "k", 5):
            _expire_now(ca, "k")
    with pytest.raises(KeyError):  # the body's own error wins over LockLost
        with RedisLock(ca, "k", 5):
            _expire_now(ca, "k")
            raise KeyError("body")


# -- blocking acquire ------------------------------------------------------------------------------

def test_blocking_acquire_is_bounded_by_timeout_on_a_virtual_clock(redis_backend):
    c = redis_backend.client()
    v = VirtualClock()
    RedisLock(c, "k", 100).acquire()
    waiter = RedisLock(c, "k", 100, clock=v, rng=random.Random(7), retry_base=0.01, retry_cap=0.2)
    assert waiter.acquire(timeout=3) is False
    assert v.now() == pytest.approx(3.0)  # never waited past the deadline
    assert waiter.attempts > 5
    assert waiter.acquire(timeout=0) is False
    assert waiter.attempts == 1


def test_blocking_acquire_gets_the_lock_when_the_holder_releases(redis_backend):
    c = redis_backend.client()
    v = VirtualClock()
    holder = RedisLock(c, "k", 100, clock=v)
    holder.acquire()
    v.after(0.5, holder.release)  # fires while the waiter sleeps on the virtual clock
    waiter = RedisLock(c, "k", 100, clock=v, rng=random.Random(1), retry_base=0.01, retry_cap=0.1)
    assert waiter.acquire(timeout=5) is True
    assert 0.5 <= v.now() < 0.7
    assert waiter.fence == holder.fence + 1


def test_backoff_is_jittered_and_capped():
    c = fakeredis.FakeRedis()
    v = VirtualClock()
    RedisLock(c, "k", 100).acquire()
    sleeps: list[float] = []
    orig = v.sleep
    v.sleep = lambda s: (sleeps.append(s), orig(s))[1]
    w = RedisLock(c, "k", 100, clock=v, rng=random.Random(3), retry_base=0.01, retry_cap=0.08)
    w.acquire(timeout=2)
    assert max(sleeps) <= 0.08
    assert len(set(round(s, 9) for s in sleeps)) > len(sleeps) // 2  # jittered, not lock-step
    assert sleeps[0] <= 0.01


def test_real_clock_blocking_acquire_waits_for_release(redis_backend):
    ca, cb = redis_backend.client(), redis_backend.client()
    a = RedisLock(ca, "k", 10)
    a.acquire()
    t = threading.Timer(0.05, a.release)
    t.start()
    b = RedisLock(cb, "k", 10, retry_cap=0.01)
    assert b.acquire(timeout=10) is True
    t.join(5)
    assert b.release()


# -- fencing ---------------------------------------------------------------------------------------

@pytest.mark.on_cluster
def test_fence_numbers_strictly_increase_across_1000_acquisitions_by_8_threads(redis_backend):
    grants: list[int] = []
    per_thread = 125

    def worker(i):
        lock = RedisLock(redis_backend.client(), "lock:fence", 10, retry_base=0.002, retry_cap=0.008,
                         rng=random.Random(i))
        for _ in range(per_thread):
            assert lock.acquire(timeout=30)
            grants.append(lock.fence)  # inside the critical section: list order = grant order
            assert lock.release()

    run_workers(worker, 8)
    assert len(grants) == 1000
    assert all(b > a for a, b in zip(grants, grants[1:]))
    assert grants == list(range(1, 1001))


@pytest.mark.on_cluster
def test_no_two_holders_overlap_8_threads_x_200_rounds(redis_backend):
    """8 threads x 200 acquire/write/release rounds (50 on the slower cluster rung), TTL far longer than the
    critical section."""
    rounds = 50 if redis_backend.kind == "cluster" else 200
    inside = [0]
    max_inside = [0]
    guard = threading.Lock()
    setup = redis_backend.client()
    setup.set("counter", 0)

    def worker(i):
        c = redis_backend.client()
        lock = RedisLock(c, "lock:rounds", 10, retry_base=0.002, retry_cap=0.008, rng=random.Random(i))
        for _ in range(rounds):
            assert lock.acquire(timeout=30)
            with guard:
                inside[0] += 1
                max_inside[0] = max(max_inside[0], inside[0])
            v = int(c.get("counter"))      # a non-atomic read-modify-write: only safe under the lock
            c.set("counter", v + 1)
            with guard:
                inside[0] -= 1
            assert lock.release()

    run_workers(worker, 8)
    assert max_inside[0] == 1
    assert int(setup.get("counter")) == 8 * rounds


def test_fenced_resource_rejects_exactly_the_stale_write():
    r = FencedResource()
    assert r.write("from A", 33, "A")
    assert r.write("from B", 34, "B")
    assert r.write("B again", 34, "B")  # the same holder may write again
    assert not r.write("late A", 33, "A")
    assert r.value == "B again" and r.highest == 34
    assert [(w.writer, w.fence) for w in r.rejected()] == [("A", 33)]
    with pytest.raises(StaleFence, match="already seen fence 34"):
        r.write_or_raise("x", 20, "A")
    unfenced = FencedResource(enforce=False)
    unfenced.write("B", 34)
    assert unfenced.write("A", 33) and unfenced.value == "A"  # what the fence prevents


def test_fenced_resource_is_atomic_under_threads():
    r = FencedResource()
    fences = list(range(1, 2001))
    random.Random(5).shuffle(fences)
    chunks = [fences[i::4] for i in range(4)]
    ts = [threading.Thread(target=lambda ch=ch: [r.write(f, f) for f in ch]) for ch in chunks]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    h = r.history
    assert len(h) == 2000 and r.highest == 2000 and r.value == 2000
    running = 0
    for w in h:  # every accept/reject decision is consistent with the order of arrival
        assert w.accepted == (w.fence >= running) and w.highest_before == running
        running = max(running, w.fence)


# -- watchdog --------------------------------------------------------------------------------------

@pytest.mark.on_cluster
def test_watchdog_on_a_virtual_clock_renews_every_third_of_ttl_without_threads(redis_backend):
    c = redis_backend.client()
    v = VirtualClock()
    before = set(threading.enumerate())
    lock = RedisLock(c, "k", 3, clock=v, watchdog=True)
    lock.acquire()
    # no thread started; one left over from an earlier test may end meanwhile (seen under load: a stopped
    # hcedu-timer thread was in `before` and gone after), so compare "new", not "equal"
    assert set(threading.enumerate()) - before == set()
    v.advance(10)
    assert lock.renewals == 10 and lock.owned()
    assert lock.release()
    assert v.pending() == 0
    capped = RedisLock(c, "k", 3, clock=v, watchdog=True, max_renewals=2)
    capped.acquire()
    v.advance(10)
    assert capped.renewals == 2 and v.pending() == 0


def test_watchdog_thread_renews_and_is_a_named_daemon_that_stops_on_release(redis_backend):
    c = redis_backend.client()
    lock = RedisLock(c, "k", 1.5, watchdog=True)  # renews every 0.5 s; 1 s of slack for a loaded machine
    assert lock.acquire()
    t = lock.watchdog_thread
    assert t.daemon and t.name.startswith("hcedu-lock-watchdog-k-") and t.is_alive()
    assert wait_until(lambda: lock.renewals >= 2, timeout=20)
    assert lock.release()
    assert not t.is_alive()
    assert lock.watchdog_thread is None and t not in _watchdogs()


def test_watchdog_never_leaks(redis_backend):
    c = redis_backend.client()
    base = set(_watchdogs())
    # 1. a failed acquire starts nothing
    RedisLock(c, "k", 5).acquire()
    failed = RedisLock(c, "k", 5, watchdog=True)
    assert not failed.acquire(blocking=False)
    assert failed.watchdog_thread is None
    c.delete("k")
    # 2. the lease is lost (key gone): the thread notices at its next renewal and exits by itself
    lost = RedisLock(c, "k", 0.15, watchdog=True)
    lost.acquire()
    t1 = lost.watchdog_thread
    c.delete("k")
    assert wait_until(lambda: not t1.is_alive(), timeout=10)
    assert lost.lost
    assert lost.release() is False
    # 3. an exception inside `with` still stops it
    with pytest.raises(ZeroDivisionError):
        with RedisLock(c, "k", 5, watchdog=True) as w:
            t2 = w.watchdog_thread
            1 / 0
    assert not t2.is_alive()
    # 4. a lock object dropped without release: its thread ends (it holds no strong reference)
    dropped = RedisLock(c, "k2", 0.15, watchdog=True)
    dropped.acquire()
    t3 = dropped.watchdog_thread
    del dropped
    gc.collect()
    assert wait_until(lambda: not t3.is_alive(), timeout=10)
    # 5. max_renewals: the thread stops after its cap
    capped = RedisLock(c, "k3", 0.6, watchdog=True, max_renewals=1)
    capped.acquire()
    t4 = capped.watchdog_thread
    assert wait_until(lambda: not t4.is_alive(), timeout=10)
    assert capped.renewals == 1
    capped.release()
    # 6. many acquire/release cycles leave nothing behind
    cyc = RedisLock(c, "k4", 5, watchdog=True)
    for _ in range(20):
        cyc.acquire()
        cyc.release()
    assert set(_watchdogs()) == base


def test_on_event_reports_what_happened(redis_backend):
    c = redis_backend.client()
    events: list[str] = []
    lock = RedisLock(c, "k", 5, on_event=lambda lk, e: events.append(e))
    lock.acquire()
    lock.extend()
    _expire_now(c, "k")
    lock.extend()
    lock.release()
    assert events == ["acquire", "extend", "extend-failed", "release-failed"]
    with pytest.raises(TypeError, match="on_event must be callable"):
        RedisLock(c, "k", 5, on_event=1)


@pytest.mark.on_cluster
def test_redis_fenced_resource_checks_fences_on_the_server(redis_backend):
    from hcedu.patterns.fencing import RedisFencedResource

    c = redis_backend.client()
    store = RedisFencedResource(c, "store")
    assert store.highest == 0 and store.value is None
    assert store.write("from B", 34)
    assert not store.write("late A", 33)
    assert store.write("B again", 34)
    assert store.value == "B again" and store.highest == 34
    other = RedisFencedResource(redis_backend.client(), "store")  # another client sees the same check
    assert not other.write("x", 2)
    with pytest.raises(ValueError, match="fence must be >= 1"):
        store.write("x", 0)
    with pytest.raises(TypeError, match="client must be a redis-py client"):
        RedisFencedResource(object(), "k")
