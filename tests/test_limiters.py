"""In-process limiters and rate-limit experiments (hcedu.lab.limiters)."""

from __future__ import annotations

import math
import random

import fakeredis
import pandas as pd
import pytest

from hcedu.backend import Keyspace
from hcedu.clock import RealClock, VirtualClock
from hcedu.go import rate
from hcedu.lab.limiters import (GoRate, LeakyBucket, LocalFixedWindow, LocalSlidingLog, NaiveFixedWindow,
                                admissions, boundary_burst, chart_admitted, concurrency_check, max_in_any_window,
                                standard_limiters)
from hcedu.patterns.ratelimit import (LIMITERS, Decision, FixedWindowLimiter, SlidingLogLimiter,
                                      TokenBucketLimiter)

LOCAL = [LocalFixedWindow, LocalSlidingLog, LeakyBucket, GoRate]
LOCAL_IDS = ["fixed", "log", "leaky", "gorate"]


@pytest.mark.parametrize("cls", LOCAL, ids=LOCAL_IDS)
def test_local_admits_exactly_limit_keys_independent_reset(cls):
    clock = VirtualClock(100.0)
    lim = cls(limit=4, window=8, clock=clock)
    ds = [lim.allow("a") for _ in range(6)]
    assert [d.allowed for d in ds] == [True] * 4 + [False] * 2
    assert [d.remaining for d in ds[:4]] == [3, 2, 1, 0]
    assert all(isinstance(d, Decision) and d.retry_after == 0.0 for d in ds[:4])
    assert all(d.retry_after > 0 for d in ds[4:])
    assert lim.allow("b").allowed
    lim.reset("a")
    assert lim.allow("a").allowed
    assert "4 per 8s" in repr(lim)


@pytest.mark.parametrize("cls", LOCAL, ids=LOCAL_IDS)
def test_local_n_and_never_fitting(cls):
    lim = cls(limit=5, window=10, clock=VirtualClock())
    assert lim.allow("u", 3) == Decision(True, 2.0, 0.0, lim.allow("x", 3).reset_after)
    assert math.isinf(lim.allow("v", 6).retry_after)


@pytest.mark.parametrize("cls", LOCAL, ids=LOCAL_IDS)
def test_local_bad_input(cls):
    with pytest.raises(ValueError, match="limit must be >= 1"):
        cls(limit=0, window=1)
    with pytest.raises(ValueError, match="window must be > 0"):
        cls(limit=1, window=0)
    with pytest.raises(TypeError, match="window must be a number"):
        cls(limit=1, window=None)
    lim = cls(limit=1, window=1)
    with pytest.raises(ValueError, match="n must be >= 1"):
        lim.allow("k", 0)
    with pytest.raises(TypeError, match="key must be a str"):
        lim.allow(None)


def test_local_fixed_window_refills_at_the_window_and_counts_refusals():
    clock = VirtualClock(0.0)
    lim = LocalFixedWindow(limit=2, window=10, clock=clock, align="clock")
    clock.advance_to(7.0)
    assert [lim.allow("u").allowed for _ in range(3)] == [True, True, False]
    d = lim.allow("u")
    assert d == Decision(False, 0.0, 3.0, 3.0)
    clock.advance_to(10.0)
    assert lim.allow("u").allowed
    with pytest.raises(ValueError, match="align must be one of"):
        LocalFixedWindow(limit=1, window=1, align="hour")


def test_local_sliding_log_exact_retry():
    clock = VirtualClock(0.0)
    lim = LocalSlidingLog(limit=2, window=10, clock=clock)
    lim.allow("u")
    clock.advance_to(3.0)
    lim.allow("u")
    clock.advance_to(5.0)
    d = lim.allow("u")
    assert not d.allowed and d.retry_after == 5.0 and d.reset_after == 8.0
    clock.advance_to(10.0)
    assert lim.allow("u").allowed and not lim.allow("u").allowed


def test_leaky_bucket_meter_drains_at_the_rate():
    clock = VirtualClock(0.0)
    lim = LeakyBucket(limit=4, window=2, clock=clock)  # drains 2 units/s
    assert sum(lim.allow("u").allowed for _ in range(5)) == 4
    d = lim.allow("u", 2)
    assert not d.allowed and d.retry_after == pytest.approx(1.0) and d.reset_after == pytest.approx(2.0)
    clock.advance(1.0)
    assert lim.allow("u", 2).allowed


def test_leaky_bucket_queue_spaces_requests_and_refuses_when_full():
    clock = VirtualClock(0.0)
    lim = LeakyBucket(limit=3, window=3, clock=clock)  # one served per second, 3 places
    assert [lim.schedule("q") for _ in range(4)] == [0.0, 1.0, 2.0, None]
    clock.advance(1.0)
    assert lim.schedule("q") == pytest.approx(2.0)  # one left the queue: room for one, served at t=3
    assert lim.schedule("q") is None
    assert lim.schedule("other", 3) == 0.0  # keys are independent
    clock.advance(10.0)
    assert lim.schedule("q") == 0.0  # the queue drained while idle
    lim.reset("q")
    with pytest.raises(ValueError, match="n must be >= 1"):
        lim.schedule("q", 0)


def test_gorate_and_token_bucket_agree_with_go_rate_limiter(redis_backend):
    """Seeded random arrivals: GoRate, the Redis token bucket, the leaky meter and x/time/rate decide alike."""
    rng = random.Random(7)
    t, arrivals = 0.5, []
    for _ in range(300):
        t += rng.expovariate(4.0)
        arrivals.append(t)
    clock = VirtualClock(0.0)
    client = redis_backend.client()
    lims = {"gorate": GoRate(limit=6, window=3.0, clock=clock),
            "leaky": LeakyBucket(limit=6, window=3.0, clock=clock),
            "bucket": TokenBucketLimiter(client, limit=6, window=3.0, clock=clock, keyspace=Keyspace("t-lim", client))}
    frame = admissions(lims, arrivals, clock)
    go = rate.Limiter(2.0, 6, clock=VirtualClock(0.0))
    expected = [go.allow_n(a, 1) for a in arrivals]
    for label in lims:
        assert frame.loc[frame["limiter"] == label, "allowed"].tolist() == expected, label
    assert 0 < sum(expected) < len(expected)


@pytest.mark.parametrize("align", ["first", "clock"])
def test_local_windows_match_their_redis_versions(redis_backend, align):
    rng = random.Random(11)
    arrivals = sorted(rng.uniform(0, 40) for _ in range(200))
    clock = VirtualClock(0.0)
    client = redis_backend.client()
    ks = Keyspace("t-lim", client)
    lims = {"local fixed": LocalFixedWindow(limit=7, window=5, clock=clock, align=align),
            "redis fixed": FixedWindowLimiter(client, limit=7, window=5, clock=clock, keyspace=ks, align=align),
            "local log": LocalSlidingLog(limit=7, window=5, clock=clock),
            "redis log": SlidingLogLimiter(client, limit=7, window=5, clock=clock, keyspace=ks)}
    frame = admissions(lims, arrivals, clock)
    col = {k: frame.loc[frame["limiter"] == k, "allowed"].tolist() for k in lims}
    assert col["local fixed"] == col["redis fixed"]
    assert col["local log"] == col["redis log"]
    peaks = max_in_any_window(frame, 5)
    assert peaks["local log"] == 7 and peaks["local fixed"] > 7  # the fixed window overshoots somewhere


def test_gorate_retry_after_and_limiter_access():
    clock = VirtualClock(0.0)
    lim = GoRate(limit=10, window=5, clock=clock)  # 2/s
    assert sum(lim.allow("u").allowed for _ in range(11)) == 10
    d = lim.allow("u")
    assert d.retry_after == pytest.approx(0.5) and d.reset_after == pytest.approx(5.0)
    assert isinstance(lim.limiter("u"), rate.Limiter) and lim.limiter("u").burst() == 10


# --- experiments --------------------------------------------------------------------------------------

def test_admissions_shape_and_checks():
    clock = VirtualClock(0.0)
    lims = {"b": LocalSlidingLog(limit=1, window=10, clock=clock), "a": GoRate(limit=1, window=10, clock=clock)}
    frame = admissions(lims, [3.0, 1.0, 2.0], clock)
    assert list(frame.columns) == ["limiter", "t", "allowed"]
    assert frame["limiter"].astype(str).tolist() == ["b"] * 3 + ["a"] * 3
    assert frame["t"].tolist() == [1.0, 2.0, 3.0] * 2
    assert frame["allowed"].tolist() == [True, False, False] * 2
    with pytest.raises(ValueError, match="arrivals must be >= clock.now"):
        admissions(lims, [0.5], clock)
    with pytest.raises(ValueError, match="must use the experiment's clock"):
        admissions({"x": GoRate(limit=1, window=1, clock=VirtualClock())}, [5.0], clock)
    with pytest.raises(TypeError, match="clock must be a VirtualClock"):
        admissions(lims, [5.0], RealClock())
    with pytest.raises(TypeError, match="non-empty dict"):
        admissions({}, [5.0], clock)


@pytest.mark.parametrize("local", [False, True], ids=["redis", "local"])
def test_boundary_burst_fixed_window_admits_twice_the_limit(local):
    frame = boundary_burst(limit=50, window=60.0, local=local, client=fakeredis.FakeRedis())
    peaks = max_in_any_window(frame, 60.0)
    assert peaks["fixed window"] == 100
    others = peaks.drop("fixed window")
    assert len(others) >= 3 and (others <= 51).all() and (others >= 50).all()
    assert frame["t"].min() < 60.0 <= frame["t"].max()  # the arrivals straddle the boundary at t = window
    assert len(frame) == 100 * frame["limiter"].nunique()


def test_standard_limiters():
    clock = VirtualClock()
    client = fakeredis.FakeRedis()
    lims, ks = standard_limiters(clock, limit=3, window=1.0, client=client)
    assert list(lims) == ["fixed window", "sliding log", "sliding counter", "token bucket", "GCRA"]
    assert all(lim.clock is clock and lim.keyspace is ks for lim in lims.values())
    for lim in lims.values():
        lim.allow("k")
    assert ks.cleanup() >= 5
    local, none = standard_limiters(clock, limit=3, window=1.0, local=True)
    assert list(local) == ["fixed window", "sliding log", "leaky bucket", "x/time/rate"] and none is None


def test_boundary_burst_cleans_its_keys():
    client = fakeredis.FakeRedis()
    boundary_burst(limit=5, window=1.0, spread=0.1, client=client)
    assert client.keys("*") == []
    with pytest.raises(ValueError, match="spread must be <= 0.5"):
        boundary_burst(limit=5, window=1.0, spread=0.6, client=client)


def test_max_in_any_window_by_hand():
    frame = pd.DataFrame({"limiter": ["x"] * 5 + ["y"] * 2,
                          "t": [0.0, 1.0, 9.9, 10.0, 10.5, 0.0, 10.0],
                          "allowed": [True, True, True, True, False, True, True]})
    peaks = max_in_any_window(frame, 10.0)
    assert peaks.to_dict() == {"x": 3, "y": 1}  # [t, t+10): 0, 1, 9.9 — 10.0 is outside
    with pytest.raises(ValueError, match="missing columns"):
        max_in_any_window(frame.drop(columns="t"), 10.0)
    with pytest.raises(TypeError, match="frame must be a pandas DataFrame"):
        max_in_any_window([], 10.0)


def test_chart_admitted_returns_a_figure():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    frame = boundary_burst(limit=10, window=5.0, spread=0.5, local=True)
    fig = chart_admitted(frame, 5.0)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0] == "fixed window (max 20 in any 5 s)" and len(labels) == 4
    plt.close(fig)


@pytest.mark.parametrize("name", list(LIMITERS))
def test_concurrency_check_redis_limiters_are_exact(redis_backend, name):
    clock = VirtualClock(30.0)  # frozen: nothing refills during the run
    ks = Keyspace("t-lim-cc", redis_backend.client())
    n = concurrency_check(lambda: LIMITERS[name](redis_backend.client(), limit=25, window=60, clock=clock,
                                                 keyspace=ks), threads=8, hits=200)
    assert n == 25


def test_concurrency_check_naive_limiter_over_admits(redis_backend):
    clock = VirtualClock(30.0)
    ks = Keyspace("t-lim-naive", redis_backend.client())
    seq = NaiveFixedWindow(redis_backend.client(), limit=20, window=60, clock=clock, keyspace=ks, name="seq")
    assert sum(seq.allow("k").allowed for _ in range(30)) == 20  # one thread: correct
    n = concurrency_check(lambda: NaiveFixedWindow(redis_backend.client(), limit=20, window=60, clock=clock,
                                                   keyspace=ks, pause=0.005), threads=8, hits=200)
    assert n > 20
    assert "racy" in repr(seq)


def test_concurrency_check_input_and_errors():
    with pytest.raises(TypeError, match="limiter_factory must be callable"):
        concurrency_check(None)
    with pytest.raises(ValueError, match="threads must be >= 1"):
        concurrency_check(lambda: None, threads=0)

    class Boom:
        def allow(self, key, n=1):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        concurrency_check(Boom, threads=2, hits=4)
    assert concurrency_check(lambda: GoRate(limit=3, window=100, clock=VirtualClock()), threads=2, hits=0) == 0
