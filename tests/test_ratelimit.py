"""Redis rate limiters (hcedu.patterns.ratelimit): exact limits, refill on virtual time, concurrency, redis-cell parity."""

from __future__ import annotations

import math
import random
import threading

import fakeredis
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from hcedu.backend import Keyspace
from hcedu.clock import VirtualClock
from hcedu.go import rate
from hcedu.patterns.ratelimit import (LIMITERS, Decision, FixedWindowLimiter, GCRALimiter, SlidingLogLimiter,
                                      SlidingWindowCounterLimiter, TokenBucketLimiter, cell_reply, headers)
from tests.helpers import run_workers

ALL = list(LIMITERS.values())
IDS = list(LIMITERS)


def make(cls, client, limit=5, window=10.0, start=1000.0, **kw):
    clock = VirtualClock(start)
    return cls(client, limit=limit, window=window, clock=clock, keyspace=Keyspace("t-rl", client), **kw), clock


@pytest.mark.parametrize("cls", ALL, ids=IDS)
@pytest.mark.on_cluster
def test_admits_exactly_limit_then_refuses(redis_backend, cls):
    lim, _ = make(cls, redis_backend.client())
    ds = [lim.allow("u") for _ in range(8)]
    assert [d.allowed for d in ds] == [True] * 5 + [False] * 3
    assert all(isinstance(d, Decision) for d in ds)
    assert [d.remaining for d in ds[:5]] == [4, 3, 2, 1, 0]
    assert all(d.retry_after == 0.0 for d in ds[:5])
    assert all(d.retry_after > 0 for d in ds[5:])
    assert all(d.reset_after > 0 for d in ds)


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_keys_are_independent_and_reset_forgets(redis_backend, cls):
    lim, _ = make(cls, redis_backend.client(), limit=2)
    assert [lim.allow("a").allowed for _ in range(3)] == [True, True, False]
    assert lim.allow("b").allowed
    lim.reset("a")
    assert lim.allow("a").allowed
    other = cls(lim.client, limit=2, window=10, clock=lim.clock, keyspace=lim.keyspace, name="other")
    assert other.allow("a").allowed and other.allow("a").allowed  # a different name: different keys


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_n_greater_than_one_and_never_fitting(redis_backend, cls):
    lim, _ = make(cls, redis_backend.client(), limit=5)
    d = lim.allow("u", 3)
    assert d.allowed and d.remaining == 2
    assert not lim.allow("u", 3).allowed
    # the fixed window counts refused hits too (as `limits` does): the refused 3 used up the rest
    assert lim.allow("u", 2).allowed is (cls is not FixedWindowLimiter)
    big = lim.allow("v", 6)
    assert not big.allowed and math.isinf(big.retry_after)


@pytest.mark.parametrize("cls", ALL, ids=IDS)
@pytest.mark.on_cluster
def test_eight_threads_admit_exactly_the_limit(redis_backend, cls):
    """Frozen virtual time (no refill): whatever the interleaving, one Lua script per decision admits `limit`."""
    clock = VirtualClock(50.0)
    ks = Keyspace("t-rl-conc", redis_backend.client())
    lims = [cls(redis_backend.client(), limit=37, window=60, clock=clock, keyspace=ks) for _ in range(8)]
    admitted = [0] * 8
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        barrier.wait(5)
        for _ in range(25):
            admitted[i] += lims[i].allow("hot").allowed

    run_workers(worker, 8, timeout=60)
    assert sum(admitted) == 37


@pytest.mark.parametrize("cls", ALL, ids=IDS)
@pytest.mark.on_cluster
def test_redis_time_mode(redis_backend, cls):
    lim, _ = make(cls, redis_backend.client(), limit=3, window=60, use_redis_time=True)
    assert [lim.allow("u").allowed for _ in range(4)] == [True, True, True, False]
    assert "clock=TIME" in repr(lim)


@pytest.mark.parametrize("cls", ALL, ids=IDS)
@pytest.mark.on_cluster
def test_keys_get_a_gc_ttl(redis_backend, cls):
    client = redis_backend.client()
    lim, _ = make(cls, client, limit=3, window=2)
    lim.allow("u")
    ttl = client.pttl(lim.keys("u")[0])
    assert ttl > 3000 * 1000 - 60_000  # virtual clock: >= ~1 h of real time, whatever the window
    real = cls(client, limit=3, window=2, keyspace=lim.keyspace, name="real")
    real.allow("u")
    assert 0 < client.pttl(real.keys("u")[0]) <= 4000


# --- fixed window ---------------------------------------------------------------------------------

def test_fixed_window_rejected_hits_count_and_window_resets(redis_backend):
    lim, clock = make(FixedWindowLimiter, redis_backend.client(), limit=3, window=10)
    for _ in range(3):
        assert lim.allow("u").allowed
    clock.advance(4)
    d = lim.allow("u")
    assert d == Decision(False, 0.0, 6.0, 6.0)
    assert int(lim.client.hget(lim.keys("u")[0], "c")) == 4  # the refused hit was counted
    clock.advance(6)
    d = lim.allow("u")
    assert d.allowed and d.remaining == 2 and d.reset_after == 10.0


def test_fixed_window_boundary_admits_twice_the_limit(redis_backend):
    lim, clock = make(FixedWindowLimiter, redis_backend.client(), limit=100, window=60, start=0.0, align="clock")
    clock.advance_to(59.99)
    first = sum(lim.allow("u").allowed for _ in range(100))
    clock.advance_to(60.0)
    second = sum(lim.allow("u").allowed for _ in range(100))
    assert (first, second) == (100, 100)  # 200 admitted within 10 ms


def test_fixed_window_alignment_first_hit_vs_clock(redis_backend):
    client = redis_backend.client()
    first, clock = make(FixedWindowLimiter, client, limit=1, window=10, start=7.0)
    aligned = FixedWindowLimiter(client, limit=1, window=10, clock=clock, keyspace=first.keyspace,
                                 name="al", align="clock")
    assert first.allow("u").reset_after == 10.0  # window [7, 17)
    assert aligned.allow("u").reset_after == 3.0  # window [0, 10)
    clock.advance_to(10.0)
    assert not first.allow("u").allowed
    assert aligned.allow("u").allowed


# --- sliding log ------------------------------------------------------------------------------------

@pytest.mark.on_cluster
def test_sliding_log_is_exact(redis_backend):
    lim, clock = make(SlidingLogLimiter, redis_backend.client(), limit=3, window=10, start=0.0)
    for t in (0.0, 2.0, 4.0):
        clock.advance_to(t)
        assert lim.allow("u").allowed
    clock.advance_to(9.0)
    d = lim.allow("u")
    assert not d.allowed and d.retry_after == 1.0 and d.reset_after == 5.0
    assert not lim.allow("u", 2).allowed and lim.allow("u", 2).retry_after == 3.0
    clock.advance_to(10.0)  # the hit at 0 leaves the window (now-10, now]
    d = lim.allow("u")
    assert d.allowed and d.remaining == 0 and d.reset_after == 10.0
    assert not lim.allow("u").allowed
    assert lim.client.zcard(lim.keys("u")[0]) == 3  # refused hits are not logged


@pytest.mark.on_cluster
def test_sliding_log_same_timestamp_members_are_unique(redis_backend):
    lim, _ = make(SlidingLogLimiter, redis_backend.client(), limit=50, window=10)
    assert lim.allow("u", 20).allowed and lim.allow("u", 20).allowed
    assert lim.client.zcard(lim.keys("u")[0]) == 40


# --- sliding window counter -------------------------------------------------------------------------

def test_sliding_counter_weighted_estimate(redis_backend):
    lim, clock = make(SlidingWindowCounterLimiter, redis_backend.client(), limit=10, window=10, start=0.0)
    assert sum(lim.allow("u").allowed for _ in range(10)) == 10
    clock.advance_to(12.5)  # prev=10 weighted 0.75 -> 7.5
    d1, d2, d3 = lim.allow("u"), lim.allow("u"), lim.allow("u")
    assert (d1.allowed, d2.allowed, d3.allowed) == (True, True, False)
    assert d2.remaining == pytest.approx(0.5)
    # refused: need 10*(1-f) + 2 + 1 <= 10 -> f >= 0.3 -> t = 13.0
    assert d3.retry_after == pytest.approx(0.5)
    assert d3.reset_after == pytest.approx(30.0 - 12.5)
    clock.advance_to(13.0)
    assert lim.allow("u").allowed
    clock.advance_to(35.0)  # two windows later: both counts are gone
    assert sum(lim.allow("u").allowed for _ in range(11)) == 10


def test_sliding_counter_is_only_an_estimate(redis_backend):
    """Hits bunched at the end of a window: half-way into the next, the estimate counts them as half."""
    lim, clock = make(SlidingWindowCounterLimiter, redis_backend.client(), limit=10, window=10, start=0.0)
    clock.advance_to(9.9)
    assert sum(lim.allow("u").allowed for _ in range(10)) == 10
    clock.advance_to(15.0)  # estimate = 10 * 0.5 = 5
    assert sum(lim.allow("u").allowed for _ in range(10)) == 5  # 15 admitted within (5, 15]


def test_sliding_counter_retry_into_next_window(redis_backend):
    lim, clock = make(SlidingWindowCounterLimiter, redis_backend.client(), limit=4, window=10, start=0.0)
    clock.advance_to(5.0)
    assert sum(lim.allow("u").allowed for _ in range(4)) == 4
    d = lim.allow("u")
    # next window: 4*(1-f) + 1 <= 4 -> f >= 0.25 -> t = 12.5
    assert not d.allowed and d.retry_after == pytest.approx(7.5)
    clock.advance_to(12.4)
    assert not lim.allow("u").allowed
    clock.advance_to(12.5)
    assert lim.allow("u").allowed


# --- token bucket -----------------------------------------------------------------------------------

def test_token_bucket_refills_continuously(redis_backend):
    lim, clock = make(TokenBucketLimiter, redis_backend.client(), limit=10, window=10, start=0.0)  # 1 token/s
    assert sum(lim.allow("u").allowed for _ in range(10)) == 10
    d = lim.allow("u")
    assert d == Decision(False, 0.0, 1.0, 10.0)
    clock.advance(0.5)
    d = lim.allow("u")
    assert not d.allowed and d.retry_after == pytest.approx(0.5) and d.remaining == pytest.approx(0.5)
    clock.advance(0.5)
    assert lim.allow("u").allowed
    clock.advance(4.0)
    d = lim.allow("u", 3)
    assert d.allowed and d.remaining == pytest.approx(1.0) and d.reset_after == pytest.approx(9.0)
    clock.advance(100)
    assert lim.allow("u").remaining == pytest.approx(9.0)  # capped at the capacity


def test_token_bucket_from_rate_is_go_shaped(redis_backend):
    lim = TokenBucketLimiter.from_rate(redis_backend.client(), rate=100, burst=200, clock=VirtualClock())
    assert (lim.limit, lim.window, lim.rate) == (200, 2.0, 100.0)


def go_decisions(limit, window, arrivals):
    clock = VirtualClock(0.0)
    lim = rate.Limiter(limit / window, limit, clock=clock)
    return [lim.allow_n(t, n) for t, n in arrivals]


@pytest.mark.parametrize("cls", [TokenBucketLimiter, GCRALimiter], ids=["token bucket", "GCRA"])
def test_bucket_and_gcra_agree_with_go_rate(redis_backend, cls):
    rng = random.Random(20240509)
    t, arrivals = 1.0, []
    for _ in range(400):
        t += rng.expovariate(3.0)  # ~3/s offered against 2/s allowed
        arrivals.append((t, rng.choice([1, 1, 1, 2, 3])))
    lim, clock = make(cls, redis_backend.client(), limit=8, window=4.0, start=0.0)
    ours = []
    for at, n in arrivals:
        clock.advance_to(at)
        ours.append(lim.allow("u", n).allowed)
    theirs = go_decisions(8, 4.0, arrivals)
    assert ours == theirs
    assert 0 < sum(ours) < len(ours)  # the sequence exercised both outcomes


# --- GCRA / redis-cell ------------------------------------------------------------------------------

def test_gcra_matches_redis_cell_readme_example(redis_backend):
    """CL.THROTTLE user123 15 30 60: 16 allowed, then [1, 16, 0, 2, 32]."""
    g = GCRALimiter.from_cell(redis_backend.client(), max_burst=15, count=30, period=60, clock=VirtualClock(0.0),
                              keyspace=Keyspace("t-rl", redis_backend.client()))
    replies = [g.throttle("user123") for _ in range(17)]
    assert replies[0] == [0, 16, 15, -1, 2]
    assert all(r[0] == 0 for r in replies[:16])
    assert replies[16] == [1, 16, 0, 2, 32]
    assert g.emission_interval == 2.0


def test_gcra_matches_redis_cell_case_table(redis_backend):
    """redis-cell's own rate_limit test: limit 5 (max_burst 4), one per second, times relative to start."""
    g = GCRALimiter.from_cell(redis_backend.client(), max_burst=4, count=1, period=1, clock=VirtualClock(100.0),
                              keyspace=Keyspace("t-rl", redis_backend.client()))
    # (dt, quantity, remaining, reset_after, retry_after or -1, limited)
    cases = [(0, 6, 5, 0, -1, True),
             (0, 1, 4, 1, -1, False), (0, 1, 3, 2, -1, False), (0, 1, 2, 3, -1, False),
             (0, 1, 1, 4, -1, False), (0, 1, 0, 5, -1, False), (0, 1, 0, 5, 1, True),
             (3.0, 1, 2, 3.0, -1, False), (3.1, 1, 1, 3.9, -1, False), (4.0, 1, 1, 4.0, -1, False),
             (8.0, 1, 4, 1.0, -1, False), (9.5, 1, 4, 1.0, -1, False),
             (9.5, 2, 2, 3.0, -1, False), (9.5, 5, 2, 3.0, 3.0, True)]
    for dt, qty, remaining, reset_after, retry_after, limited in cases:
        g.clock.advance_to(100.0 + dt)
        d = g.allow("foo", qty)
        assert d.allowed is not limited, (dt, qty)
        assert int(d.remaining) == remaining, (dt, qty, d)
        assert d.reset_after == pytest.approx(reset_after), (dt, qty, d)
        if retry_after == -1:
            assert d.retry_after == 0.0 or math.isinf(d.retry_after)
        else:
            assert d.retry_after == pytest.approx(retry_after)


def test_gcra_spacing_after_the_burst(redis_backend):
    lim, clock = make(GCRALimiter, redis_backend.client(), limit=4, window=2.0, start=0.0)  # T = 0.5 s
    assert sum(lim.allow("u").allowed for _ in range(5)) == 4
    for _ in range(6):
        d = lim.allow("u")
        assert not d.allowed and d.retry_after == pytest.approx(0.5)
        clock.advance(0.5)
        assert lim.allow("u").allowed


def test_cell_reply_rounds_up_and_validates():
    assert cell_reply(Decision(False, 0.2, 1.0014, 31.2), 16) == [1, 16, 0, 2, 32]
    assert cell_reply(Decision(False, 0.2, 1.0004, 31.0), 16) == [1, 16, 0, 1, 31]  # sub-ms parts are dropped
    assert cell_reply(Decision(True, 3.9, 0.0, 2.0), 16) == [0, 16, 3, -1, 2]
    assert cell_reply(Decision(False, 5.0, math.inf, 0.0), 5) == [1, 5, 5, -1, 0]
    with pytest.raises(ValueError, match="limit must be >= 1"):
        cell_reply(Decision(True, 0, 0, 0), 0)


def test_http_headers():
    assert headers(Decision(True, 4.6, 0.0, 2.2), 10) == {
        "RateLimit-Limit": "10", "RateLimit-Remaining": "4", "RateLimit-Reset": "3"}
    assert headers(Decision(False, 0.0, 0.25, 9.0), 10)["Retry-After"] == "1"
    assert "Retry-After" not in headers(Decision(False, 0.0, math.inf, 0.0), 10)


def test_gcra_agrees_with_fakeredis_dragonfly_cl_throttle(monkeypatch):
    """fakeredis implements CL.THROTTLE for server_type='dragonfly': same replies on the same (frozen) time.

    Times avoid whole seconds: fakeredis rounds an exact 3000 ms up to 4 s where redis-cell says 3.
    """
    server = fakeredis.FakeServer(server_type="dragonfly")
    client = fakeredis.FakeRedis(server=server, decode_responses=True)
    now = [1_700_000_000.25]
    monkeypatch.setattr("time.time", lambda: now[0])
    g = GCRALimiter.from_cell(client, max_burst=4, count=2, period=3, clock=VirtualClock(now[0]))
    for step in [0, 0.0137, 0.0137, 0.0137, 0.0137, 0.0137, 0.7137, 0.1137, 3.0137, 0.0137, 0.0137, 10.0137]:
        now[0] += step
        g.clock.advance_to(now[0])
        theirs = client.execute_command("CL.THROTTLE", "cellkey", 4, 2, 3)
        ours = g.throttle("k")
        assert [int(x) for x in theirs] == ours, (now[0], theirs, ours)


# --- errors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, exc, msg", [
    (dict(limit=0, window=1), ValueError, "limit must be >= 1"),
    (dict(limit=1.5, window=1), TypeError, "limit must be an int"),
    (dict(limit=True, window=1), TypeError, "limit must be an int"),
    (dict(limit=5, window=0), ValueError, "window must be > 0"),
    (dict(limit=5, window=-1), ValueError, "window must be > 0"),
    (dict(limit=5, window=math.inf), ValueError, "window must be finite"),
    (dict(limit=5, window="1"), TypeError, "window must be a number"),
    (dict(limit=5, window=1, name=""), ValueError, "name must be a non-empty string"),
    (dict(limit=5, window=1, keyspace="ks"), TypeError, "keyspace must be a hcedu.backend.Keyspace"),
    (dict(limit=5, window=1, fail_open=1), TypeError, "fail_open must be a bool"),
])
@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_bad_constructor_arguments(cls, kw, exc, msg):
    with pytest.raises(exc, match=msg):
        cls(fakeredis.FakeRedis(), **kw)


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_bad_call_arguments(cls):
    lim = cls(fakeredis.FakeRedis(), limit=5, window=1)
    with pytest.raises(ValueError, match="n must be >= 1"):
        lim.allow("u", 0)
    with pytest.raises(TypeError, match="n must be an int"):
        lim.allow("u", 1.0)
    with pytest.raises(TypeError, match="key must be a str"):
        lim.allow(42)
    with pytest.raises(ValueError, match="key must be a non-empty string"):
        lim.allow("")


def test_bad_align_and_cell_arguments():
    with pytest.raises(ValueError, match="align must be one of 'first', 'clock'"):
        FixedWindowLimiter(fakeredis.FakeRedis(), limit=1, window=1, align="minute")
    with pytest.raises(ValueError, match="count must be >= 1"):
        GCRALimiter.from_cell(fakeredis.FakeRedis(), max_burst=1, count=0, period=1)
    with pytest.raises(ValueError, match="rate must be > 0"):
        TokenBucketLimiter.from_rate(fakeredis.FakeRedis(), rate=0, burst=1)


# --- Redis down: fail closed (raise) or fail open ---------------------------------------------------

def dead_client(redis_backend):
    if redis_backend.kind == "fake":
        server = fakeredis.FakeServer()
        server.connected = False
        return fakeredis.FakeRedis(server=server)
    return redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_redis_down_raises_unless_fail_open(redis_backend, cls):
    client = dead_client(redis_backend)
    ks = Keyspace("t-down", client)
    closed = cls(client, limit=2, window=1, keyspace=ks, clock=VirtualClock())
    with pytest.raises(redis.ConnectionError):
        closed.allow("u")
    assert closed.failed_open == 0
    opened = cls(client, limit=2, window=1, keyspace=ks, clock=VirtualClock(), fail_open=True)
    ds = [opened.allow("u") for _ in range(3)]
    assert all(d.allowed for d in ds) and ds[0] == Decision(True, 1.0, 0.0, 0.0)
    assert opened.failed_open == 3
    assert "failed_open=3" in repr(opened)
