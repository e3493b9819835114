"""Counters: every safe counter exact under 8 real threads (in process and on both Redis backends), the naive
ones losing updates (forced and under load), batched flush rules on a VirtualClock, crash loss, bad input."""

from __future__ import annotations

import threading

import pytest

from hcedu.backend import Keyspace
from hcedu.clock import RealClock, VirtualClock
from hcedu.patterns.counter import AtomicCounter, CounterLike, LockedCounter, NaiveCounter, StripedCounter, yield_gil
from hcedu.patterns.rediscounter import BatchedRedisCounter, NaiveRedisCounter, RedisCounter, ShardedRedisCounter
from hcedu.patterns import rediscounter as counter_mod
from tests.helpers import join, run_workers, wait_until

pytestmark = pytest.mark.on_cluster  # every redis_backend test here also runs on the cluster rung

THREADS, PER = 8, 500


def ks(client, name="t-cnt"):
    return Keyspace(name, client)


# -- in process -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [LockedCounter, AtomicCounter, StripedCounter])
def test_safe_in_process_counters_are_exact_under_threads(cls):
    c = cls()
    assert isinstance(c, CounterLike)
    start = threading.Barrier(THREADS, timeout=10)

    def work(i):
        start.wait()
        for k in range(PER):
            c.incr()
            if k % 50 == 0:
                yield_gil()  # invite a switch at an awkward moment
        c.incr(i + 1)

    run_workers(work, THREADS)
    assert c.value() == THREADS * PER + sum(range(1, THREADS + 1))


def test_naive_counter_loses_updates_under_threads():
    c = NaiveCounter()  # yields the GIL between read and write

    def work(_):
        for _ in range(PER):
            c.incr()

    run_workers(work, THREADS)
    assert 0 < c.value() < THREADS * PER


def test_naive_counter_forced_interleaving_counts_one_of_two():
    barrier = threading.Barrier(2, timeout=10)
    c = NaiveCounter(pause=barrier.wait)
    run_workers(lambda _: c.incr(), 2)
    assert c.value() == 1


def test_naive_counter_single_thread_is_correct():
    c = NaiveCounter(pause=None)
    for _ in range(10):
        c.incr(3)
    assert c.value() == 30


def test_locked_counter_returns_new_value():
    c = LockedCounter()
    assert c.incr() == 1 and c.incr(4) == 5 and c.value() == 5


def test_atomic_counter_mixed_steps():
    c = AtomicCounter()
    assert c.value() == 0
    for n in (1, 5, 1, 1000, 5):
        c.incr(n)
    assert c.value() == 1012
    assert "1012" in repr(c)


def test_atomic_counter_mixed_steps_under_threads():
    c = AtomicCounter()
    run_workers(lambda i: [c.incr(1 + i % 3) for _ in range(PER)], THREADS)
    assert c.value() == PER * sum(1 + i % 3 for i in range(THREADS))


def test_striped_counter_spreads_threads_over_stripes():
    c = StripedCounter(stripes=4)
    start = threading.Barrier(4, timeout=10)

    def work(_):
        start.wait()  # all four alive at once, so each gets its own home cell
        for _ in range(100):
            c.incr()

    run_workers(work, 4)
    assert c.cell_values() == [100, 100, 100, 100]
    assert c.stripes == 4 and len(c.cells) == 4


def test_striped_sum_then_reset_loses_and_doubles_nothing():
    c = StripedCounter(stripes=4)
    taken = []
    stop = threading.Event()

    def reaper():
        while not stop.is_set():
            taken.append(c.sum_then_reset())
            yield_gil()

    t = threading.Thread(target=reaper, daemon=True, name="hcedu-test-reaper")
    t.start()
    try:
        run_workers(lambda _: [c.incr() for _ in range(PER)], THREADS)
    finally:
        stop.set()
        t.join(5)
    assert not t.is_alive()
    assert sum(taken) + c.value() == THREADS * PER
    c.reset()
    assert c.value() == 0 and c.cell_values() == [0, 0, 0, 0]


# -- Redis ----------------------------------------------------------------------------------------------

def test_redis_counter_exact_with_a_client_per_thread(redis_backend):
    clients = [redis_backend.client() for _ in range(THREADS)]
    counters = [RedisCounter("pv", client=c, keyspace=ks(c)) for c in clients]
    counters[0].reset()
    run_workers(lambda i: [counters[i].incr() for _ in range(PER // 5)], THREADS)
    assert counters[0].value() == THREADS * PER // 5
    assert counters[0].incr(10) == THREADS * PER // 5 + 10
    assert counters[0].keys == ["hcedu:t-cnt:{cnt:pv}"]  # one hash tag: the request markers share its slot


def test_sharded_counter_exact_and_spread(redis_backend):
    clients = [redis_backend.client() for _ in range(4)]
    counters = [ShardedRedisCounter("pv", shards=4, pick="thread", seed=i, client=c, keyspace=ks(c))
                for i, c in enumerate(clients)]
    counters[0].reset()
    shared = ShardedRedisCounter("pv2", shards=4, pick="thread", client=clients[0], keyspace=ks(clients[0]))
    shared.reset()
    start = threading.Barrier(4, timeout=10)

    def work(i):
        start.wait()
        for _ in range(50):
            counters[i].incr()
            shared.incr(2)  # one instance shared by all threads: round robin gives each its own shard

    run_workers(work, 4)
    assert counters[0].value() == 4 * 50
    assert sum(1 for v in counters[0].shard_values() if v) > 1  # instances start at different shards
    assert shared.value() == 4 * 50 * 2
    assert shared.shard_values() == [100, 100, 100, 100]
    assert counters[0].keys[0] == "hcedu:t-cnt:cnt:{pv}:0"


def test_sharded_counter_random_pick_and_no_hash_tag(redis_backend):
    c = redis_backend.client()
    s = ShardedRedisCounter("uv", shards=8, pick="random", seed=1, hash_tag=False, client=c, keyspace=ks(c))
    s.reset()
    for _ in range(200):
        s.incr()
    assert s.value() == 200
    assert sum(1 for v in s.shard_values() if v > 0) > 1
    assert s.keys[3] == "hcedu:t-cnt:cnt:uv:3"


def test_batched_counters_exact_after_close(redis_backend):
    clients = [redis_backend.client() for _ in range(THREADS)]
    counters = [BatchedRedisCounter("pv", flush_every=7, flush_interval=None, client=c, keyspace=ks(c))
                for c in clients]
    counters[0].reset()
    run_workers(lambda i: [counters[i].incr() for _ in range(PER // 5)], THREADS)
    assert counters[0].value() < THREADS * PER // 5  # some still pending locally
    for c in counters:
        c.close()
    assert counters[0].value() == THREADS * PER // 5
    assert sum(c.round_trips for c in counters) == THREADS * -(-(PER // 5) // 7)


def test_one_batched_counter_shared_by_threads_is_exact(redis_backend):
    c = redis_backend.client()
    b = BatchedRedisCounter("pv", flush_every=10, flush_interval=None, client=c, keyspace=ks(c))
    b.reset()
    run_workers(lambda _: [b.incr() for _ in range(PER // 5)], THREADS)
    b.close()
    assert b.value() == THREADS * PER // 5 and b.flushed == b.value() and b.pending == 0


def test_naive_redis_counter_forced_interleaving(redis_backend):
    barrier = threading.Barrier(2, timeout=10)
    cs = [redis_backend.client() for _ in range(2)]
    counters = [NaiveRedisCounter("pv", pause=barrier.wait, client=c, keyspace=ks(c)) for c in cs]
    counters[0].reset()
    run_workers(lambda i: counters[i].incr(), 2)
    assert counters[0].value() == 1
    safe = RedisCounter("pv2", client=cs[0], keyspace=ks(cs[0]))
    safe.reset()
    run_workers(lambda _: safe.incr(), 2)
    assert safe.value() == 2


def test_naive_redis_counter_loses_under_threads(redis_backend):
    cs = [redis_backend.client() for _ in range(THREADS)]
    counters = [NaiveRedisCounter("pv", pause=yield_gil, client=c, keyspace=ks(c)) for c in cs]
    counters[0].reset()
    start = threading.Barrier(THREADS, timeout=10)

    def work(i):
        start.wait()
        for _ in range(100):
            counters[i].incr()

    run_workers(work, THREADS)
    assert 0 < counters[0].value() < THREADS * 100


# -- batched flush rules (VirtualClock) -----------------------------------------------------------------

def batched(redis_backend, **kw):
    c = redis_backend.client()
    kw.setdefault("clock", VirtualClock())
    b = BatchedRedisCounter("pv", client=c, keyspace=ks(c), **kw)
    b.reset()
    return b


def test_flush_every_n_increments(redis_backend):
    b = batched(redis_backend, flush_every=5, flush_interval=None)
    for _ in range(4):
        b.incr()
    assert (b.value(), b.pending, b.round_trips) == (0, 4, 0)
    b.incr()
    assert (b.value(), b.pending, b.round_trips) == (5, 0, 1)
    b.incr(10)  # counts increments, not amount
    assert (b.value(), b.pending, b.local_value()) == (5, 10, 15)


def test_flush_every_interval_on_virtual_clock(redis_backend):
    clock = VirtualClock()
    b = batched(redis_backend, flush_every=1000, flush_interval=2.0, clock=clock)
    b.incr(3)
    clock.advance(1.9)
    assert b.value() == 0
    clock.advance(0.1)
    assert (b.value(), b.round_trips) == (3, 1)
    clock.advance(2.0)  # nothing pending: no round trip
    assert b.round_trips == 1
    b.incr()
    clock.advance(2.0)  # the timer re-armed
    assert (b.value(), b.round_trips) == (4, 2)


def test_close_flushes_stops_timer_and_refuses(redis_backend):
    clock = VirtualClock()
    b = batched(redis_backend, flush_every=1000, flush_interval=1.0, clock=clock)
    b.incr(7)
    assert b.close() == 7 and b.value() == 7 and b.closed
    assert clock.pending() == 0
    assert b.close() == 0
    with pytest.raises(RuntimeError, match="closed"):
        b.incr()


def test_crash_loses_exactly_the_unflushed_amount(redis_backend):
    clock = VirtualClock()
    b = batched(redis_backend, flush_every=10, flush_interval=1.0, clock=clock)
    for _ in range(23):
        b.incr(2)
    assert b.value() == 40 and b.pending == 6
    assert b.crash() == 6
    assert b.value() == 40 and b.pending == 0
    clock.advance(5)
    assert b.value() == 40 and clock.pending() == 0
    with pytest.raises(RuntimeError):
        b.incr()


def test_failed_flush_puts_the_batch_back(redis_backend, monkeypatch):
    import redis as redis_py

    from hcedu.patterns import rediscounter as counter_mod

    b = batched(redis_backend, flush_every=100, flush_interval=None)
    b.incr(5)
    real = counter_mod.eval_once
    calls = []

    def flaky(*a, **k):  # the flush's one command fails before reaching Redis
        calls.append(a)
        if len(calls) == 1:
            raise redis_py.ConnectionError("down")
        return real(*a, **k)

    monkeypatch.setattr(counter_mod, "eval_once", flaky)
    with pytest.raises(redis_py.ConnectionError):
        b.flush()
    assert b.pending == 5 and b.value() == 0 and b.round_trips == 0
    assert b.flush() == 5 and b.value() == 5 and b.round_trips == 1


def test_batched_on_real_clock_flushes_in_background(redis_backend):
    b = batched(redis_backend, flush_every=1000, flush_interval=0.02, clock=RealClock())
    try:
        b.incr(5)
        wait_until(lambda: b.value() == 5)
    finally:
        b.close()
    assert b.value() == 5


def test_close_waits_for_the_timers_flush_on_the_wire(redis_backend, monkeypatch):
    """close() returns only once a flush the timer started is answered. Before, it returned at once when
    nothing else was pending, and the caller then closed the client under the timer's in-flight EVALSHA
    (seen in a loaded `make test`: 'Bad file descriptor' in the hcedu-timer-_tick thread)."""
    clock = VirtualClock()
    b = batched(redis_backend, flush_every=1000, flush_interval=1.0, clock=clock)
    on_wire, answer = threading.Event(), threading.Event()
    real = counter_mod.eval_once

    def slow_reply(*args, **kwargs):
        on_wire.set()
        assert answer.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(counter_mod, "eval_once", slow_reply)
    b.incr(5)
    ticker = threading.Thread(target=clock.advance, args=(1.0,))
    ticker.start()
    assert on_wire.wait(30)                         # the timer's flush is on the wire, its reply held back
    closed = []
    closer = threading.Thread(target=lambda: closed.append(b.close()))
    closer.start()
    closer.join(0.3)   # not synchronisation: a close() that does not wait has returned by now (it cannot
    early = not closer.is_alive()                   # return early on a slow machine, only late)
    answer.set()
    join(ticker, closer)
    assert not early, "close() returned while the timer's flush was still on the wire"
    assert closed == [0] and b.value() == 5 and b.closed and b.pending == 0


def test_context_manager_closes(redis_backend):
    c = redis_backend.client()
    with BatchedRedisCounter("ctx", flush_interval=None, client=c, keyspace=ks(c)) as b:
        b.reset()
        b.incr(4)
    assert b.closed and b.value() == 4
    assert "4" in repr(b)


# -- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [NaiveCounter, LockedCounter, AtomicCounter, StripedCounter])
@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError),
                                      ("1", TypeError)])
def test_incr_bad_n_in_process(make, bad, exc):
    c = make()
    with pytest.raises(exc, match="^n must"):
        c.incr(bad)
    assert c.value() == 0


@pytest.mark.parametrize("cls", [RedisCounter, ShardedRedisCounter, BatchedRedisCounter, NaiveRedisCounter])
def test_incr_bad_n_redis(redis_client, cls):
    c = cls("bad", client=redis_client, keyspace=ks(redis_client))
    c.reset()
    with pytest.raises(ValueError, match="n must be >= 1"):
        c.incr(0)
    with pytest.raises(TypeError, match="n must be an int"):
        c.incr(2.0)
    assert c.value() == 0 and redis_client.exists(*c.keys) == 0


def test_bad_constructor_arguments(redis_client):
    k = ks(redis_client)
    with pytest.raises(ValueError, match="stripes must be >= 1"):
        StripedCounter(0)
    with pytest.raises(TypeError, match="pause must be callable"):
        NaiveCounter(pause=3)
    with pytest.raises(ValueError, match="shards must be >= 1"):
        ShardedRedisCounter("x", shards=0, client=redis_client, keyspace=k)
    with pytest.raises(ValueError, match="pick must be one of"):
        ShardedRedisCounter("x", pick="hash", client=redis_client, keyspace=k)
    with pytest.raises(TypeError, match="hash_tag must be a bool"):
        ShardedRedisCounter("x", hash_tag=1, client=redis_client, keyspace=k)
    with pytest.raises(ValueError, match="flush_every must be >= 1"):
        BatchedRedisCounter("x", flush_every=0, client=redis_client, keyspace=k)
    with pytest.raises(ValueError, match="flush_interval must be > 0"):
        BatchedRedisCounter("x", flush_interval=0, client=redis_client, keyspace=k)
    with pytest.raises(ValueError, match="name must not contain"):
        RedisCounter("a{b}", client=redis_client, keyspace=k)
    with pytest.raises(ValueError, match="name must be a non-empty"):
        RedisCounter("", client=redis_client, keyspace=k)
    with pytest.raises(TypeError, match="keyspace must be"):
        RedisCounter("x", client=redis_client, keyspace="ks")
