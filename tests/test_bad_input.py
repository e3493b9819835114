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
from hcedu.patterns.rediscounter import BatchedRedisCounter, RedisCounter, ShardedRedisCounter

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


def _acquire_release(lock, **kwargs):
    got = lock.acquire(**kwargs)
    if got:
        lock.release()
    return got


# (label, factory(client) -> (callable taking **kwargs, baseline kwargs))
CASES = {
    "RedisLock()": lambda c: (lambda **k: RedisLock(c, **k), {"name": "k", "ttl": 1.0}),
    # released after each accepted call: a held key made every accepted "no timeout" value (None, inf, 1e30)
    # wait out the 5 s TTL in real time, 20 s of this test for nothing
    "RedisLock.acquire": lambda c: (lambda **k: _acquire_release(RedisLock(c, "k", 5, clock=VirtualClock()), **k),
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


# -- every public method (issue 15 item 8): read methods too, *_many with non-iterables -----------------------
#
# Built by introspection: every public class of hcedu.patterns (plus the counters) and every public method that
# takes an argument is swept, one argument at a time, on a fresh instance. A required argument's baseline comes
# from VALID (by name) or METHOD_ARGS (by method); an optional one starts at its default. A method this table
# cannot call fails test_the_sweep_covers_every_public_method, so a new method cannot slip past the sweep.

import inspect
import threading

import hcedu.patterns as P
from hcedu.patterns import rediscounter as _counter
from hcedu.patterns.reliable import Message

NOT_SWEPT = {  # class or "Class.method" -> why it is not called here
    "Bridge": "owns a goroutine pump and a context (hcedu.go); its arguments are swept in tests/test_queue.py",
    "LogoutListener": "a subscriber thread; close/wait_ready only take a local timeout",
    "CompetingConsumerInvalidation": "a delivery thread over TwoLevelCache instances (swept as TwoLevelCache)",
    "TwoLevelCache.drop_connection": "needs subscribe=True (a subscriber thread); gap is checked by test_twolevel",
}
DATA = {"CacheStats", "Decision", "Entry", "TwoLevelStats"}  # records: their methods take no argument


def _msg():
    return Message("m", "b", "m-raw")


VALID = {
    "key": "k", "member": "m", "members": ["m"], "item": "a", "item_id": "a", "item_ids": ["a"], "user": "u",
    "user_id": "u1", "sid": "s1", "data": {"f": "v"}, "msg": _msg(), "msgs": [_msg()], "entry_ids": ["0-1"],
    "consumer": "w", "handler": lambda m: None, "value": "v", "points": 2, "t": 1.0, "tick": 1, "fence": 1,
    "writer": "w", "body": "b", "n": 1, "now": 1.0, "delta": 0.1, "exp": 10.0, "u": 0.5, "periods": ["p1"],
    "dest": "d", "loader": str, "base": 1.0, "jitter": 0.5, "due_at": 1.0, "delay": 1.0, "gap": 0.01,
    "origin": None, "msg_id": "m1", "page": 1,
}
METHOD_ARGS = {  # method-specific baselines (override VALID)
    "BloomFilter.add_many": {"items": ["a"]},
    "BloomFilter.estimated_fp_rate": {"items": 10},
    "DelayQueue.put_many": {"items": {"a": 1.0}},
    "ListQueue.push_many": {"items": [("m", "b")]},
    "StreamQueue.publish_many": {"items": [("m", "b")]},
    "Composite.decode": {"score": 2 ** 20},
    "Composite.decode_tick": {"score": 2 ** 20},
    "TwoLevelCache.wait_received": {"n": 0, "timeout": 0.01},
    "StreamQueue.process": {"block": 0},
    "StreamQueue.read": {"block": 0},
    "ListQueue.take": {"timeout": 0},
    "NaiveBridge.put": {"timeout": 0.01},
    "Leaderboard.merge": {"periods": ["2020-01-01"]},
    "Session.remaining": {"now": 1.0},
}
BLOCKS_BY_DESIGN = {  # (method, argument): values meaning "wait for ever", a documented choice, not a hang
    ("ListQueue.take", "timeout"), ("StreamQueue.read", "block"), ("StreamQueue.process", "block"),
    ("NaiveBridge.put", "timeout"), ("LogicalExpiry.wait_idle", "timeout"), ("TwoLevelCache.wait_received", "timeout"),
    ("TwoLevelCache.close", "timeout"),
}


SETTLE = {  # class -> stop what an instance runs in the background, so its writes land before the next snapshot
    "NaiveBridge": lambda b: (b.ch.close(), b.goroutine.join(timeout=5)),
}


def _forever(value) -> bool:
    """None, inf or a million seconds and more (2**60): "wait for ever" where BLOCKS_BY_DESIGN allows it."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 1e6)


_names = iter(range(10 ** 9))


def _factories(c):
    ks, clock = _ks(c), VirtualClock(5)
    guard_kw = dict(client=c, keyspace=ks)
    return {
        "BloomFilter": lambda: BloomFilter(c, keyspace=ks, capacity=100),
        "BloomGuard": lambda: P.BloomGuard(NoGuard(str, **guard_kw), BloomFilter(c, keyspace=ks, capacity=100)),
        "Composite": lambda: Composite(),
        "DelayQueue": lambda: DelayQueue(client=c, keyspace=ks, clock=clock),
        "FencedResource": lambda: P.FencedResource(),
        "Leaderboard": lambda: Leaderboard(client=c, keyspace=ks, clock=VirtualClock(5), period="daily"),
        "ListQueue": lambda: ListQueue(client=c, keyspace=ks, clock=VirtualClock(5)),
        "LocalCache": lambda: LocalCache(clock=VirtualClock(5)),
        "LogicalExpiry": lambda: P.LogicalExpiry(str, background=False, **guard_kw),
        "MutexRebuild": lambda: MutexRebuild(str, **guard_kw),
        "NaiveBridge": lambda: P.NaiveBridge(**guard_kw),
        "NaiveSessionStore": lambda: P.NaiveSessionStore(c, ttl=10, keyspace=ks, clock=VirtualClock(5)),
        "NaiveStock": lambda: P.NaiveStock(c, keyspace=ks),
        "NoGuard": lambda: NoGuard(str, **guard_kw),
        "NullCache": lambda: P.NullCache(str, **guard_kw),
        "RedisFencedResource": lambda: P.RedisFencedResource(c, ks.key("res")),
        "RedisLock": lambda: RedisLock(c, f"k{next(_names)}", 5, clock=VirtualClock()),  # each one free
        "Redlock": lambda: Redlock([c], f"k{next(_names)}", 5),
        "Session": lambda: P.Session("s1", "u1", 0.0, 0.0, 10.0, None, {}),
        "SessionStore": lambda: SessionStore(c, ttl=10, keyspace=ks, clock=VirtualClock(5)),
        "SingleflightGuard": lambda: P.SingleflightGuard(str, **guard_kw),
        "Stock": lambda: Stock(c, keyspace=ks),
        "StreamQueue": lambda: StreamQueue(client=c, keyspace=ks),
        "TwoLevelCache": lambda: TwoLevelCache(c, loader=str, keyspace=ks, subscribe=False, clock=VirtualClock(5)),
        "XFetch": lambda: P.XFetch(str, **guard_kw),
        "IdempotentHandler": lambda: IdempotentHandler(print, **guard_kw),
        "RedisCounter": lambda: RedisCounter(client=c, keyspace=ks),
        "ShardedRedisCounter": lambda: ShardedRedisCounter(shards=2, seed=1, client=c, keyspace=ks),
        "BatchedRedisCounter": lambda: BatchedRedisCounter(flush_every=100, flush_interval=None, client=c,
                                                           keyspace=ks),
        **{cls.__name__: (lambda cls: lambda: cls(c, limit=2, window=1.0, keyspace=ks, clock=VirtualClock(5)))(cls)
           for cls in (FixedWindowLimiter, SlidingLogLimiter, SlidingWindowCounterLimiter, TokenBucketLimiter,
                       GCRALimiter)},
    }


def _public_classes():
    out = {}
    for name in P.__all__:
        obj = getattr(P, name)
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            out[name] = obj
    for name in ("RedisCounter", "ShardedRedisCounter", "BatchedRedisCounter"):
        out[name] = getattr(_counter, name)
    return out


def _methods():
    """``Class.method`` -> its parameters (name, default or inspect.Parameter.empty), for every public method
    that takes an argument."""
    out = {}
    for cname, cls in _public_classes().items():
        if cname in NOT_SWEPT or cname in DATA:
            continue
        for mname, fn in inspect.getmembers(cls, inspect.isfunction):
            if mname.startswith("_") or f"{cname}.{mname}" in NOT_SWEPT:
                continue
            params = [(p.name, p.default) for p in inspect.signature(fn).parameters.values()
                      if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            if params:
                out[f"{cname}.{mname}"] = params
    return out


METHODS = _methods()


def _baseline(label, params):
    base, special = {}, METHOD_ARGS.get(label, {})
    for name, default in params:
        if name in special:
            base[name] = special[name]
        elif default is not inspect.Parameter.empty:
            base[name] = default
        else:
            base[name] = VALID[name]
    return base


def _timed(call, where, seconds=5.0):
    """Run ``call`` on a daemon thread: its exception or None; AssertionError if it is still running."""
    box = {}

    def run():
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            box["exc"] = exc

    t = threading.Thread(target=run, daemon=True, name="hcedu-test-badinput")
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise AssertionError(f"{where}: still running after {seconds:g} s: the value made the call hang")
    return box.get("exc")


def test_the_sweep_covers_every_public_method(spy):
    factories = _factories(spy)
    classes = {label.split(".")[0] for label in METHODS}
    assert classes <= set(factories), f"no factory for {sorted(classes - set(factories))}"
    for label, params in METHODS.items():
        _baseline(label, params)  # KeyError: add the argument to VALID or METHOD_ARGS


@pytest.mark.parametrize("label", sorted(METHODS))
def test_every_public_method_refuses_hostile_values_by_name(spy, label):
    cname, mname = label.split(".")
    make = _factories(spy)[cname]
    base = _baseline(label, METHODS[label])
    settle = SETTLE.get(cname, lambda inst: None)
    inst = make()
    err = _timed(lambda: getattr(inst, mname)(**base), f"{label}(baseline)")
    settle(inst)
    assert err is None, f"{label}: the baseline call {base} failed: {err!r}"
    for arg in base:
        for bad in HOSTILE:
            if (label, arg) in BLOCKS_BY_DESIGN and _forever(bad):
                continue
            inst = make()
            before = _snapshot(spy)
            SpyConnection.sent = 0
            where = f"{label}({arg}={bad!r})"
            exc = _timed(lambda: getattr(inst, mname)(**{**base, arg: bad}), where)
            if exc is None:
                settle(inst)
                continue
            if isinstance(exc, (TypeError, ValueError)):
                assert arg in str(exc), f"{where}: the error does not name {arg!r}: {exc!r}"
                assert SpyConnection.sent == 0, f"{where}: {SpyConnection.sent} command(s) reached Redis first"
                assert _snapshot(spy) == before, f"{where}: Redis changed although the call was refused"
                settle(inst)
            else:
                raise AssertionError(f"{where}: {type(exc).__name__}: {exc}") from exc
