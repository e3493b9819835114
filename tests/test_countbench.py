"""countbench: throughput frame shape and exactness, lost updates (naive > 0, safe = 0), forced interleaving,
batching round trips / lag / crash loss (deterministic), charts, bad input."""

from __future__ import annotations

import os

import pytest
from matplotlib.figure import Figure

from hcedu.backend import Keyspace
from hcedu.lab import countbench as cb


def test_throughput_shape_and_exactness():
    f = cb.throughput(("locked", "atomic", "striped", "redis INCR", "batched redis"), threads=(1, 2, 4, 8), ops=800)
    assert len(f) == 5 * 4
    assert list(f.columns) == ["counter", "threads", "ops", "seconds", "cores_used", "ops_per_s", "value",
                               "round_trips", "exact"]
    assert f["exact"].all() and (f["ops"] == 800).all()
    # the workers' CPU s per wall s of the same span: never more cores than the machine has (the process's CPU clock
    # around the whole call also counted thread start-up: 4.4 "cores" on a 2-core machine, under load)
    assert (f["cores_used"] >= 0).all() and (f["cores_used"] <= (os.cpu_count() or 1)).all(), f["cores_used"]
    assert (f["ops_per_s"] > 0).all()
    rt = f.set_index(["counter", "threads"])["round_trips"]
    assert rt[("redis INCR", 8)] == 800
    assert rt[("batched redis", 8)] == 8  # flush_every=100 per counter: 800 increments -> 8 INCRBYs
    assert f[f["counter"] == "locked"]["round_trips"].isna().all()


def test_throughput_progress_and_repeat(capsys):
    f = cb.throughput(("atomic",), threads=(2,), ops=100, repeat=2, progress=True)
    assert len(f) == 1 and bool(f["exact"].iloc[0])


def test_lost_updates_naive_lose_safe_do_not():
    f = cb.lost_updates(per_thread=200).set_index("counter")
    assert set(f.index) == set(cb.KINDS)
    assert f.loc["naive", "lost"] > 0
    assert f.loc["naive redis", "lost"] > 0
    safe = list(cb.SAFE_IN_PROCESS) + list(cb.SAFE_REDIS)
    assert (f.loc[safe, "lost"] == 0).all() and f.loc[safe, "exact"].all()
    assert (f["expected"] == 8 * 200).all()


def test_lost_updates_on_either_backend(redis_backend):
    c = redis_backend.client()
    f = cb.lost_updates(("naive redis", "redis INCR", "sharded redis", "batched redis"), per_thread=100,
                        keyspace=Keyspace("t-countbench", c)).set_index("counter")
    assert f.loc["naive redis", "lost"] > 0
    assert (f.loc[["redis INCR", "sharded redis", "batched redis"], "lost"] == 0).all()
    assert Keyspace("t-countbench", c).keys() == []  # cleaned up


def test_lockstep_is_deterministic():
    for _ in range(3):
        f = cb.lockstep().set_index("counter")
        assert f["value"].to_dict() == {"naive": 1, "locked": 2, "naive redis": 1, "redis INCR": 2}
        assert f["lost"].to_dict() == {"naive": 1, "locked": 0, "naive redis": 1, "redis INCR": 0}


def test_batching_numbers():
    f = cb.batching().set_index("setting")
    assert (f["increments"] == 7777).all()
    assert (f["in_redis"] + f["lost_on_crash"] == f["increments"]).all()
    assert f.loc["every 1", "round_trips"] == 7777 and f.loc["every 1", "lost_on_crash"] == 0
    # 0.1 s: 101, because the re-armed timer's due times drift by float rounding past an increment's time
    assert f["max_lag"].to_dict() == {"every 1": 0, "every 10": 9, "every 100": 99, "every 1000": 999,
                                      "every 0.1 s": 101, "every 1 s": 1000, "every 100 or 1 s": 99}
    assert f.loc["every 10", "round_trips"] == 777 and f.loc["every 10", "lost_on_crash"] == 7
    assert f.loc["every 1000", "round_trips"] == 7 and f.loc["every 1000", "lost_on_crash"] == 777
    assert f.loc["every 0.1 s", "lost_on_crash"] == 77 and f.loc["every 1 s", "lost_on_crash"] == 777
    assert f.loc["every 1 s", "round_trips"] == 7
    assert list(f["round_trips"].iloc[:4]) == sorted(f["round_trips"].iloc[:4], reverse=True)
    assert list(f["lost_on_crash"].iloc[:4]) == sorted(f["lost_on_crash"].iloc[:4])
    assert (f["max_lag"] < f["flush_every"]).all()


def test_batching_is_deterministic_when_computed_again():
    # computed twice for real: batching() remembers its rows, so calling it twice compared the cache with itself
    # (at a tenth of the default rate: 777 increments per setting instead of 7,777)
    first = cb.batching(rate=100)
    cb._batching_row_fresh.cache_clear()
    assert cb._batching_row_fresh.cache_info().currsize == 0
    assert cb.batching(rate=100).equals(first)


def test_batching_without_crash_before_the_end():
    f = cb.batching([(50, None)], rate=100, duration=2, crash_at=100)
    row = f.iloc[0]
    assert row["increments"] == 200 and row["round_trips"] == 4 and row["lost_on_crash"] == 0


def test_go_counterparts_and_charts():
    g = cb.go_counterparts()
    assert "atomic.Int64.Add" in g.loc["AtomicCounter", "go"]
    assert "LOCK XADD" in g.loc["AtomicCounter", "what happens"]
    assert isinstance(cb.chart_throughput(cb.throughput(("locked",), threads=(1, 2), ops=100)), Figure)
    assert isinstance(cb.chart_throughput(cb.throughput(("atomic",), threads=(1,), ops=10), logy=True), Figure)
    assert isinstance(cb.chart_lost(cb.lost_updates(("naive", "locked"), per_thread=50)), Figure)
    assert isinstance(cb.chart_batching(cb.batching([(10, None), (100, 1.0)], duration=1)), Figure)
    import matplotlib.pyplot as plt
    plt.close("all")


def test_dashboard_batching_builds():
    import matplotlib.pyplot as plt

    w = cb.dashboard_batching(duration=1)
    assert {c.description for c in w.children[:3]} == {"flush_every", "interval s", "crash at s"}
    plt.close("all")


def test_make_builds_every_kind():
    for kind in cb.KINDS:
        c = cb.make(kind)
        c.incr()
        if hasattr(c, "close"):
            c.close()
        assert c.value() == 1


def test_bad_input():
    with pytest.raises(ValueError, match="kind must be one of"):
        cb.throughput(("mutex",))
    with pytest.raises(ValueError, match="threads must be >= 1"):
        cb.throughput(threads=(0,))
    with pytest.raises(ValueError, match="ops must be >= 1"):
        cb.throughput(ops=0)
    with pytest.raises(ValueError, match="per_thread must be >= 1"):
        cb.lost_updates(per_thread=0)
    with pytest.raises(ValueError, match="rate must be > 0"):
        cb.batching(rate=0)
    with pytest.raises(ValueError, match="flush_every must be >= 1"):
        cb.batching([(0, None)])
