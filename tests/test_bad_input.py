"""Bad-input sweep over hcedu.patterns (issue 15 item 8): every argument of the Redis patterns' constructors and
write methods, one at a time, with hostile values. Each call either accepts the value or raises TypeError/
ValueError *naming that argument*; a refused call sends no command to Redis (a spy connection counts them)
and leaves the data unchanged; nothing raises a raw Redis error or an AttributeError later.
"""

from __future__ import annotations

import math

import fakeredis
import pytest
import redis

from hcedu.backend import Keyspace
from hcedu.clock import VirtualClock
from hcedu.patterns import (DelayQueue, FixedWindowLimiter, GCRALimiter, Leaderboard, ListQueue, RedisLock, Redlock,
                            SlidingLogLimiter, SlidingWindowCounterLimiter, Stock, TokenBucketLimiter)
from hcedu.patterns import (BloomFilter, Composite, IdempotentHandler, LocalCache, MutexRebuild, NoGuard,
                            SessionStore, StreamQueue, TwoLevelCache)
from hcedu.patterns.counter import BatchedRedisCounter, RedisCounter, ShardedRedisCounter

HOSTILE = [None, "", -1, 0, math.nan, math.inf, True, object(), 10 ** 30, 1e-9, "x" * 3, [1], 2 ** 60 + 1]


class SpyConnection(fakeredis.FakeRedisConnection):
    sent = 0

    def send_packed_command(self, *args, **kwargs):
        type(self).sent += 1
        return super().send_packed_command(*args, **kwargs)


@pytest.fixture
def spy():
    server = fakeredis.FakeServer()
    pool = redis.ConnectionPool(connection_class=SpyConnection, server=server, decode_responses=True)
    client = redis.Redis(connection_pool=pool)
    SpyConnection.sent = 0
    yield client
    client.close()


def _snapshot(client):
    return sorted((k, client.type(k)) for k in client.scan_iter())


def _check(client, arg, call):
    before = _snapshot(client)
    SpyConnection.sent = 0
    try:
        call()
    except (TypeError, ValueError) as exc:
        assert arg in str(exc), f"{arg}: the error does not name the argument: {exc!r}"
        assert SpyConnection.sent == 0, f"{arg}: {SpyConnection.sent} command(s) reached Redis before the refusal"
        assert _snapshot(client) == before
        return "refused"
    except redis.RedisError as exc:  # a value Redis rejects must be refused in Python first
        raise AssertionError(f"{arg}: raw Redis error {exc!r}") from None
    return "accepted"


def _ks(c):
    return Keyspace("bad", c)


# (label, factory(client) -> (callable taking **kwargs, baseline kwargs))
CASES = {
    "RedisLock()": lambda c: (lambda **k: RedisLock(c, **k), {"name": "k", "ttl": 1.0}),
    "RedisLock.acquire": lambda c: (lambda **k: RedisLock(c, "k", 5, clock=VirtualClock()).acquire(**k),
                                    {"blocking": True, "timeout": 1.0}),
    "Redlock()": lambda c: (lambda **k: Redlock([c], **k), {"name": "k", "ttl": 1.0, "node_timeout": 0.5}),
    "Stock()": lambda c: (lambda **k: Stock(c, keyspace=_ks(c), **k), {"item": "sku", "max_qty": 1}),
    "Stock.load": lambda c: (lambda **k: Stock(c, keyspace=_ks(c)).load(**k), {"n": 3}),
    "Stock.attempt": lambda c: (lambda **k: Stock(c, keyspace=_ks(c)).attempt(**k), {"user": "u", "qty": 1}),
    "RedisCounter.incr": lambda c: (lambda **k: RedisCounter(client=c, keyspace=_ks(c)).incr(**k), {"n": 1}),
    "ShardedRedisCounter()": lambda c: (lambda **k: ShardedRedisCounter(client=c, keyspace=_ks(c), **k),
                                        {"shards": 2}),
    "BatchedRedisCounter()": lambda c: (lambda **k: BatchedRedisCounter(client=c, keyspace=_ks(c), **k).crash(),
                                        {"flush_every": 10, "flush_interval": 1.0}),
    "Leaderboard.add(none)": lambda c: (lambda **k: Leaderboard(client=c, keyspace=_ks(c), tie_break="none",
                                                                clock=VirtualClock()).add(**k),
                                        {"member": "m", "points": 2}),
    "Leaderboard.add": lambda c: (lambda **k: Leaderboard(client=c, keyspace=_ks(c), clock=VirtualClock()).add(**k),
                                  {"member": "m", "points": 2}),
    "ListQueue()": lambda c: (lambda **k: ListQueue(client=c, keyspace=_ks(c), **k), {"lease": 1.0,
                                                                                     "max_deliveries": 2}),
    "ListQueue.push": lambda c: (lambda **k: ListQueue(client=c, keyspace=_ks(c)).push(**k), {"body": "b"}),
    "ListQueue.take_many": lambda c: (lambda **k: ListQueue(client=c, keyspace=_ks(c)).take_many(**k), {"n": 1}),
    "DelayQueue()": lambda c: (lambda **k: DelayQueue(client=c, keyspace=_ks(c), **k), {"lease": 1.0}),
    "DelayQueue.put": lambda c: (lambda **k: DelayQueue(client=c, keyspace=_ks(c)).put(**k),
                                 {"item_id": "a", "due_at": 1.0}),
    "DelayQueue.claim": lambda c: (lambda **k: DelayQueue(client=c, keyspace=_ks(c)).claim(**k),
                                   {"now": 1.0, "limit": 1}),
    "DelayQueue.ack_many": lambda c: (lambda **k: DelayQueue(client=c, keyspace=_ks(c)).ack_many(**k),
                                      {"item_ids": ["a"]}),
    **{f"{cls.__name__}()": (lambda cls: lambda c: (lambda **k: cls(c, keyspace=_ks(c), clock=VirtualClock(), **k),
                                                    {"limit": 2, "window": 1.0}))(cls)
       for cls in (FixedWindowLimiter, SlidingLogLimiter, SlidingWindowCounterLimiter, TokenBucketLimiter,
                   GCRALimiter)},
    "Composite()": lambda c: (lambda **k: Composite(**k), {"time_bits": 20, "max_points": 1000,
                                                          "resolution": 1.0}),
    "LocalCache()": lambda c: (lambda **k: LocalCache(**k), {"maxsize": 4, "ttl": 1.0}),
    "TwoLevelCache()": lambda c: (lambda **k: TwoLevelCache(c, loader=str, keyspace=_ks(c), subscribe=False,
                                                            clock=VirtualClock(), **k),
                                  {"l1_size": 4, "l1_ttl": 1.0, "l2_ttl": 2.0}),
    "BloomFilter()": lambda c: (lambda **k: BloomFilter(c, keyspace=_ks(c), **k), {"capacity": 100,
                                                                                   "error_rate": 0.01}),
    "BloomFilter.add_many": lambda c: (lambda **k: BloomFilter(c, keyspace=_ks(c), capacity=10).add_many(**k),
                                       {"items": ["a"], "batch": 10}),
    "StreamQueue()": lambda c: (lambda **k: StreamQueue(client=c, keyspace=_ks(c), **k),
                                {"lease": 1.0, "max_deliveries": 2, "poll_interval": 0.01, "maxlen": 100}),
    "StreamQueue.publish_many": lambda c: (lambda q: (lambda **k: q.publish_many(**k),
                                                      {"items": [("m", "b")], "batch": 10}))(
        StreamQueue(client=c, keyspace=_ks(c))),
    "StreamQueue.dead_letters": lambda c: (lambda q: (lambda **k: q.dead_letters(**k), {"limit": 10}))(
        StreamQueue(client=c, keyspace=_ks(c))),
    "ListQueue.push_many": lambda c: (lambda **k: ListQueue(client=c, keyspace=_ks(c)).push_many(**k),
                                      {"items": [("m", "b")], "batch": 10}),
    "ListQueue.reap": lambda c: (lambda **k: ListQueue(client=c, keyspace=_ks(c)).reap(**k),
                                 {"now": 1.0, "limit": 10}),
    "DelayQueue.put_many": lambda c: (lambda **k: DelayQueue(client=c, keyspace=_ks(c)).put_many(**k),
                                      {"items": {"a": 1.0}}),
    "SessionStore()": lambda c: (lambda **k: SessionStore(c, keyspace=_ks(c), clock=VirtualClock(), **k),
                                 {"ttl": 10.0, "absolute_ttl": 20.0}),
    "SessionStore.sweep": lambda c: (lambda **k: SessionStore(c, ttl=1, keyspace=_ks(c)).sweep(**k), {"limit": 5}),
    "IdempotentHandler()": lambda c: (lambda **k: IdempotentHandler(print, client=c, keyspace=_ks(c), **k),
                                      {"ttl": 10.0, "inflight_ttl": 1.0}),
    "NoGuard()": lambda c: (lambda **k: NoGuard(str, c, keyspace=_ks(c), **k), {"ttl": 10.0, "jitter": 0.1}),
    "MutexRebuild()": lambda c: (lambda **k: MutexRebuild(str, c, keyspace=_ks(c), **k),
                                 {"lock_ttl": 1.0, "retries": 3, "retry_base": 0.01, "retry_cap": 0.02}),
    "Stock.orders": lambda c: (lambda **k: Stock(c, keyspace=_ks(c)).orders(**k), {"limit": 10}),
    "GCRALimiter.allow": lambda c: (lambda **k: GCRALimiter(c, limit=2, window=1, keyspace=_ks(c),
                                                            clock=VirtualClock(5)).allow(**k),
                                    {"key": "u", "n": 1}),
}


@pytest.mark.parametrize("label", sorted(CASES))
def test_every_argument_refuses_hostile_values_by_name_before_redis(spy, label):
    make, base = CASES[label](spy)
    make(**base)  # the baseline works
    for arg in base:
        for bad in HOSTILE:
            _check(spy, arg, lambda: make(**{**base, arg: bad}))


@pytest.mark.parametrize("bad", [None, "x", 3, object()])
def test_garbage_client_and_keyspace_are_refused_up_front(bad):
    if bad is None:
        return
    for make in (lambda: Stock(bad), lambda: RedisCounter(client=bad), lambda: Leaderboard(client=bad),
                 lambda: DelayQueue(client=bad), lambda: ListQueue(client=bad), lambda: RedisLock(bad, "k", 1),
                 lambda: GCRALimiter(bad, limit=1, window=1)):
        with pytest.raises(TypeError, match="client"):
            make()
    for make in (lambda: Stock(keyspace=bad), lambda: RedisCounter(keyspace=bad), lambda: DelayQueue(keyspace=bad),
                 lambda: ListQueue(keyspace=bad), lambda: Leaderboard(keyspace=bad),
                 lambda: GCRALimiter(keyspace=bad, limit=1, window=1)):
        with pytest.raises(TypeError, match="keyspace"):
            make()


def test_values_beyond_redis_limits_are_refused_not_mangled(spy):
    with pytest.raises(ValueError, match="points"):
        Leaderboard(client=spy, keyspace=_ks(spy), tie_break="none").add("m", 2 ** 60 + 1)
    with pytest.raises(ValueError, match="ttl"):
        RedisLock(spy, "k", 1e30)
    with pytest.raises(ValueError, match="ttl must be at least 0.001"):
        RedisLock(spy, "k", 0.0004)
    with pytest.raises(ValueError, match="ttl"):
        Redlock([spy], "k", 1e30)
    with pytest.raises(ValueError, match="n must be <="):
        Stock(spy, keyspace=_ks(spy)).load(10 ** 30)
    with pytest.raises(ValueError, match="flush_interval"):
        BatchedRedisCounter(client=spy, keyspace=_ks(spy), flush_interval=10 ** 30)
    assert SpyConnection.sent == 0
