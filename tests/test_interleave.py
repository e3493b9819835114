"""The interleaving runner: canonical races stale exactly where redis-patterns §10 says, enumeration, sampling."""

from __future__ import annotations

import math

import matplotlib
import pytest

from hcedu.lab import interleave as il
from hcedu.patterns.consistency import STRATEGIES

matplotlib.use("Agg")


@pytest.fixture
def kw(redis_backend):
    return {"client": redis_backend.client()}


@pytest.mark.parametrize("name, stale", [("cache-aside", True), ("delete-then-write", True), ("write-through", True),
                                         ("write-behind", True), ("versioned set", False), ("lease", False),
                                         ("delayed double delete", False)])
def test_stale_set_race(kw, name, stale):
    o = il.run(name, il.STALE_SET, ttl=30, **kw)
    assert o.final_stale is stale
    assert o.final_truth == 2
    if stale:
        assert o.final_cache == 1 and math.isclose(o.max_window, 30.0), "stale until the TTL expires"
    else:
        assert o.max_window < 1.0
    assert o.schedule[:5] == tuple(il.STALE_SET)
    assert [r["op"] for r in o.trace[:2]] == ["cache_get", "db_read"]


def test_stale_set_trace(kw):
    frame = il.run("cache-aside", il.STALE_SET, **kw).frame
    assert list(frame["op"]) == ["cache_get", "db_read", "db_write", "cache_del", "cache_set"]
    assert list(frame["actor"]) == il.STALE_SET
    assert frame["cache"].iloc[-1] == 1 and frame["truth"].iloc[-1] == 2


def test_delete_then_write_reread(kw):
    reread = ["w1", "r1", "r1", "r1", "w1"]  # DEL; a read misses, loads old, fills; then the DB write
    assert il.run("delete-then-write", reread, **kw).final_stale
    assert not il.run("cache-aside", ["w1", "w1", "r1", "r1", "r1"], **kw).final_stale


def test_delayed_double_delete_every_schedule(kw):
    runs = list(il.enumerate_runs("delayed double delete", ["r1", "w1"], **kw))
    assert len(runs) == math.comb(7, 3)  # reader 3 steps, writer 4 (DEL, DB, sleep, DEL)

    def outlasts(o):  # the reader read before the DB write and SET after the second DEL
        ops = [(r["actor"], r["op"]) for r in o.trace]
        return ops.index(("r1", "db_read")) < ops.index(("w1", "db_write")) and \
            ops.index(("r1", "cache_set")) > len(ops) - 1 - ops[::-1].index(("w1", "cache_del"))
    stale = [o for o in runs if o.final_stale]
    assert stale and all(outlasts(o) for o in stale) and sum(map(outlasts, runs)) == len(stale)


@pytest.mark.parametrize("pause, stale", [(0.2, False), (0.45, False), (0.7, True)])
def test_delayed_double_delete_slow_reader(kw, pause, stale):
    o = il.run("delayed double delete", None, actors=["r1", "w1"], delay=0.5, pauses={"r1": {"cache_set": pause}},
               **kw)
    assert o.final_stale is stale


@pytest.mark.parametrize("lag, stale", [(0.0, False), (0.3, False), (0.8, True)])
def test_delayed_double_delete_replica_lag(kw, lag, stale):
    frame = il.delay_sweep((0.5,), replica_lags=(lag,), **kw)
    assert len(frame) == 1 and bool(frame["final_stale"].iloc[0]) is stale


def test_delay_sweep_grid(kw):
    frame = il.delay_sweep((0.5, 1.0), reader_pauses=(0.0, 0.7), replica_lags=(0.0, 0.8), **kw)
    assert len(frame) == 8
    assert list(frame.columns) == ["delay", "reader_pause", "replica_lag", "stale_reads", "final_stale",
                                   "max_window_s"]
    assert not frame[(frame.reader_pause == 0) & (frame.replica_lag == 0)]["final_stale"].any()
    assert frame[(frame.delay == 0.5) & (frame.replica_lag == 0.8)]["final_stale"].all()


@pytest.mark.parametrize("name, stale", [("write-through", True), ("versioned set", False)])
def test_write_through_out_of_order(kw, name, stale):
    o = il.run(name, ["w1", "w2", "w2", "w1"], **kw)  # DB w1, DB w2, SET w2, SET w1
    assert o.final_stale is stale and o.final_truth == 3


def test_cdc_closes_failed_deletes_not_the_stale_set_race(kw):
    assert il.run("cdc", ["r1", "r1", "w1", "cdc", "r1"], **kw).final_stale, "reader SETs after the consumer's DEL"
    late = il.run("cdc", ["r1", "r1", "w1", "r1", "cdc"], **kw)
    assert not late.final_stale and late.max_window < 1.0
    runs = list(il.enumerate_runs("cdc", ["r1", "w1", "cdc"], **kw))
    assert len(runs) == 20 and sum(o.final_stale for o in runs) == 1
    assert il.run("cdc", ["w1"], **kw).db_version == 2 and il.run("cache-aside", ["w1", "cdc"], **kw).schedule == ("w1",)*2


def test_write_behind_crash_loses_the_queue(kw):
    crashed = il.run("write-behind", ["w1", "w1", "crash", "flush"], **kw)
    assert crashed.lost_writes == 1 and crashed.db_version == 1 and crashed.final_truth == 2
    flushed = il.run("write-behind", ["w1", "w1", "flush", "crash"], **kw)
    assert flushed.lost_writes == 0 and flushed.db_version == 2
    assert il.run("cache-aside", ["w1", "crash"], **kw).schedule == ("w1", "w1"), "crash means nothing elsewhere"


def test_versioned_and_lease_close_the_race_in_every_schedule(kw):
    for name in ("versioned set", "lease"):
        runs = list(il.enumerate_runs(name, ["r1", "w1", "w2"], **kw))
        assert runs and not any(o.final_stale for o in runs)
    assert any(o.final_stale for o in il.enumerate_runs("cache-aside", ["r1", "w1"], **kw))


def test_enumerator_counts_and_distinct_schedules(kw):
    runs = list(il.enumerate_runs("cache-aside", ["r1", "w1"], **kw))
    assert len(runs) == math.comb(5, 2) and len({o.schedule for o in runs}) == len(runs)
    assert sum(o.final_stale for o in runs) == 1  # only r1 r1 w1 w1 r1
    assert len(list(il.enumerate_runs("write-through", ["w1", "w2"], **kw))) == math.comb(4, 2)
    with pytest.raises(ValueError, match="more than limit=3"):
        list(il.enumerate_runs("cache-aside", ["r1", "w1"], limit=3, **kw))


def test_sample_is_seeded(kw):
    a = [o.schedule for o in il.sample_runs("lease", ["r1", "r2", "w1"], n=20, seed=7, **kw)]
    b = [o.schedule for o in il.sample_runs("lease", ["r1", "r2", "w1"], n=20, seed=7, **kw)]
    assert a == b and len(set(a)) > 3


def test_compare_frame(kw):
    frame = il.compare(("r1", "w1"), **kw)
    assert list(frame.index) == list(STRATEGIES)
    assert list(frame.columns) == ["schedules", "stale_read_rate", "final_stale_rate", "max_window_s", "lost_writes"]
    assert frame.loc["cache-aside", "schedules"] == 10 and frame.loc["cache-aside", "final_stale_rate"] == 0.1
    assert frame.loc["versioned set", "final_stale_rate"] == 0 and frame.loc["lease", "final_stale_rate"] == 0
    sampled = il.compare(("r1", "w1", "w2"), ["cache-aside", "lease"], sample=15, seed=1, **kw)
    assert list(sampled["schedules"]) == [15, 15]


def test_threaded_check_on_real_threads(kw):
    frame = il.threaded_check(**kw)
    assert list(zip(frame.strategy, frame.scenario)) == il.CANONICAL
    assert list(frame["stale"]) == [True] * 7 + [False] * 4
    assert list(frame["lost_writes"]) == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]


def test_charts(kw):
    from matplotlib.figure import Figure
    assert isinstance(il.chart_timeline(il.run("cache-aside", il.STALE_SET, **kw)), Figure)
    assert isinstance(il.chart_compare(il.compare(("r1", "w1"), ["cache-aside", "lease"], **kw)), Figure)
    assert isinstance(il.chart_delay(il.delay_sweep((0.5,), replica_lags=(0.0, 0.8), readers=3, **kw)), Figure)
    import matplotlib.pyplot as plt
    plt.close("all")


def test_bad_input(kw):
    with pytest.raises(ValueError, match="strategy must be one of"):
        il.run("write-around", ["r1"], **kw)
    with pytest.raises(ValueError, match="unknown actor 'w2'"):
        il.run("cache-aside", ["w2"], actors=["w1"], **kw)
    with pytest.raises(ValueError, match="after it finished"):
        il.run("cache-aside", ["w1", "w1", "w1"], **kw)
    with pytest.raises(ValueError, match="actor names are"):
        il.run("cache-aside", ["reader"], **kw)
    with pytest.raises(ValueError, match="schedule entry must be >= 0"):
        il.run("cache-aside", ["w1", -1.0], **kw)
    with pytest.raises(TypeError, match="schedule must be a list"):
        il.run("cache-aside", "r1", **kw)
    with pytest.raises(ValueError, match="at least one reader or writer"):
        il.run("cache-aside", [], **kw)
    with pytest.raises(ValueError, match="tick must be > 0"):
        il.run("cache-aside", ["r1"], tick=0, **kw)
    with pytest.raises(ValueError, match="scenario must be one of"):
        il.threaded_race("cache-aside", "meteor", **kw)
    with pytest.raises(ValueError, match="needs the write-behind"):
        il.threaded_race("cache-aside", "crash", **kw)
    with pytest.raises(ValueError, match="outcomes must not be empty"):
        il.summarize([])
    with pytest.raises(TypeError, match="unexpected arguments"):
        list(il.sample_runs("lease", ["r1"], n=1, colour="red", **kw))


def test_exercise_checker_runs_the_pick():
    from hcedu.course import check

    def right(s):
        return "write-behind" if s["writes_must_not_wait_for_db"] and s["may_lose_writes"] else "versioned set"
    assert check.choose_strategy(right)
    lease = check.choose_strategy(lambda s: "write-behind" if s["writes_must_not_wait_for_db"] else "lease")
    assert not lease and lease.failed.startswith("replica") and "cached version 1" in lease.detail
    aside = check.choose_strategy(lambda s: "cache-aside")
    assert not aside and aside.failed.startswith("prices") and "left the cache stale" in aside.detail
    assert check.choose_strategy(lambda s: "nope").passed == 0
