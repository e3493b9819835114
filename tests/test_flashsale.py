"""hcedu.lab.flashsale: experiment shapes, the deterministic ones exactly, charts, bad input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from hcedu.backend import Keyspace  # noqa: E402
from hcedu.lab import flashsale  # noqa: E402

from helpers import race_the_last_unit  # noqa: E402


def ks_of(redis_backend):
    c = redis_backend.client()
    return Keyspace("t-flash", c)


def test_hotkey_expiry_shape(redis_backend):
    ks = ks_of(redis_backend)
    df = flashsale.hotkey_expiry(clients=20, processes=2, load_time=0.03, keyspace=ks)
    assert list(df["guard"]) == list(flashsale.BREAKDOWN_GUARDS)
    hits = df.set_index("guard")["db_hits"]
    assert hits["none"] > hits["mutex"] and hits["mutex"] == 1
    assert 1 <= hits["singleflight"] <= 2  # one per process
    assert hits["logical"] == 1
    stale = df.set_index("guard")["stale"]
    # logical expiry serves the old value to everyone who reads before the rebuild lands (real threads: >= 1)
    assert stale["logical"] >= 1 and stale["none"] == 0 and stale["mutex"] == 0
    assert (df["errors"] == 0).all()
    assert ks.keys() == []  # cleaned up
    fig = flashsale.chart_hotkey(df)
    assert len(fig.axes) == 2


def test_lock_overrun_source_vs_token(redis_backend):
    ks = ks_of(redis_backend)
    src_run = flashsale.lock_overrun("source", keyspace=ks)
    tok_run = flashsale.lock_overrun("mutex", keyspace=ks)
    src, tok = src_run.frame, tok_run.frame
    assert list(src["lock"]) == ['"1" (whose?)', "(none)", '"1" (whose?)', "(none)", '"1" (whose?)', "(none)"]
    assert list(tok["lock"]) == ["A's token", "(none)", "B's token", "B's token", "B's token", "(none)"]
    assert src["db_queries"].iloc[-1] == 3 and src["rebuilding"].max() == 2
    assert tok["db_queries"].iloc[-1] == 2
    assert tok_run.results["C"] == tok_run.results["B"]  # C waited and got B's value
    assert src_run.results["A"].startswith("error")
    assert ks.keys() == []


def test_recursion_depth():
    out = flashsale.recursion_depth()
    assert out["error"] == "RecursionError" and out["depth"] > 100
    assert out["waited_s"] == pytest.approx(out["depth"] * 0.05)


def test_penetration_exact(redis_backend):
    df = flashsale.penetration(500, existing=500, distinct=50, keyspace=ks_of(redis_backend))
    hits = df.set_index(["attack", "guard"])["db_hits"]
    rep, new = df["attack"].unique()
    assert hits[(rep, "none")] == 500 and hits[(rep, "null cache")] == 50
    assert hits[(new, "none")] == 500 and hits[(new, "null cache")] == 500
    # ~1 % of missing ids are false positives; the null cache behind the filter answers their repeats
    assert hits[(rep, "bloom + null cache")] <= 3 and hits[(new, "bloom + null cache")] <= 15
    assert df.equals(flashsale.penetration(500, existing=500, distinct=50, keyspace=ks_of(redis_backend)))
    assert len(flashsale.chart_penetration(df).axes) == 1


def test_avalanche_deterministic_and_jitter_flattens_the_peak():
    df = flashsale.avalanche(keys=500, ttl=100, jitters=(0, 30), horizon=350, seed=1)
    assert df.equals(flashsale.avalanche(keys=500, ttl=100, jitters=(0, 30), horizon=350, seed=1))
    s = flashsale.avalanche_summary(df)
    assert s.loc["fixed TTL", "reloads"] == 1500  # three waves of all 500 keys
    assert s.loc["fixed TTL", "peak_per_s"] >= 500 / 6  # warmed within 5 s: >= 1/6 of the keys in one second
    assert s.loc["TTL + jitter 0–30 s", "peak_per_s"] * 3 < s.loc["fixed TTL", "peak_per_s"]
    assert len(flashsale.chart_avalanche(df).axes) == 1


def test_oversell(redis_backend):
    ks = ks_of(redis_backend)
    race_the_last_unit(ks.client)  # two buyers see the last unit, every run (not only when threads overlap)
    df = flashsale.oversell(stock=20, buyers=100, threads=8, pause=0.002, keyspace=ks)
    naive, lua = df.set_index("impl").loc["naive GET then DECR"], df.set_index("impl").loc["Lua script"]
    assert naive["sold"] > 20 and naive["remaining"] < 0 and naive["oversold"] > 0
    assert lua["sold"] == 20 and lua["remaining"] == 0 and lua["oversold"] == 0
    assert len(flashsale.chart_oversell(df).axes) == 1


def test_bad_input():
    with pytest.raises(ValueError, match="guards must be one of"):
        flashsale.hotkey_expiry(["lru"])
    with pytest.raises(ValueError, match="clients must be >= 1"):
        flashsale.hotkey_expiry(clients=0)
    with pytest.raises(ValueError, match="processes must be <= 3"):
        flashsale.hotkey_expiry(clients=3, processes=4)
    with pytest.raises(ValueError, match="kind must be one of"):
        flashsale.lock_overrun("redlock")
    with pytest.raises(ValueError, match="distinct must be <= 10"):
        flashsale.penetration(10, distinct=11)
    with pytest.raises(ValueError, match="ttl must be > 0"):
        flashsale.avalanche(ttl=0)
    with pytest.raises(ValueError, match="jitter must be >= 0"):
        flashsale.avalanche(jitters=(-1,))
    with pytest.raises(ValueError, match="threads must be >= 1"):
        flashsale.oversell(threads=0)
    with pytest.raises(TypeError, match="keyspace must be"):
        flashsale.oversell(keyspace="ks")


def test_db_last_guard_sells_exactly_the_stock_once_per_buyer():
    g = flashsale.db_last_guard(stock=100, buyers=300, attempts_per_buyer=2)
    assert g["sold"] == g["orders"] == g["distinct_buyers"] == 100 and g["remaining"] == 0
    assert g["refused_duplicate"] == 99  # every buyer but the last one clicked twice while units were left
    assert g["refused_sold_out"] == 600 - 100 - 99
    assert flashsale.db_last_guard(stock=5, buyers=3)["sold"] == 3  # fewer buyers than units: one each


def test_sold_out_flag_saves_every_round_trip_after_the_sale(redis_backend):
    f = flashsale.sold_out_flag(stock=20, requests=200, keyspace=Keyspace("t-flag", redis_backend.client()))
    assert f["sold"].tolist() == [20, 20]
    assert f["redis_calls"].tolist() == [200, 21] and f["refused_locally"].tolist() == [0, 179]


def test_split_stock_sells_exactly_the_stock_and_strands_nothing(redis_backend):
    ks = Keyspace("t-split", redis_backend.client())
    s = flashsale.split_stock(stock=10, shards=4, buyers=30, seed=1, keyspace=ks)
    assert s["loaded"].tolist() == [3, 3, 2, 2] and s["sold"].tolist() == [3, 3, 2, 2]
    assert (s["calls"] >= s["sold"]).all()
    assert s.equals(flashsale.split_stock(stock=10, shards=4, buyers=30, seed=1, keyspace=ks))  # deterministic


def test_reconcile_finds_orders_lost_on_either_side(redis_backend):
    from hcedu.patterns.stock import Stock

    ks = Keyspace("t-reconcile", redis_backend.client())
    s = Stock(ks.client, "r", keyspace=ks)
    s.load(3)
    for u in ("a", "b", "c"):
        s.try_buy(u)
    assert flashsale.reconcile(s, ["a", "b", "c"])["balanced"]
    rep = flashsale.reconcile(s, ["a", "z"])
    assert rep["missing_in_db"] == ["b", "c"] and rep["unknown_to_redis"] == ["z"] and not rep["balanced"]
    with pytest.raises(TypeError, match="stock must be"):
        flashsale.reconcile("nope", [])
    s.clear()
