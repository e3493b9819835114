"""cachesim: the two-level cache experiments are deterministic, add up, and show what the chapter claims."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hcedu.lab import cachesim  # noqa: E402

SMALL = {"keys": 50, "ops": 600, "write_ratio": 0.03, "rate": 5.0}


def test_zipf_keys_is_seeded_bounded_and_skewed():
    a = cachesim.zipf_keys(5000, 100, seed=1)
    assert np.array_equal(a, cachesim.zipf_keys(5000, 100, seed=1))
    assert a.min() >= 0 and a.max() < 100
    counts = np.bincount(a, minlength=100)
    assert counts[0] == counts.max() and counts[0] > 10 * counts[50:].mean()


def test_levels_add_up_and_no_stale_reads_without_loss(redis_backend):
    f = cachesim.simulate(client=redis_backend.client(), transport="broadcast", l1_ttl=30, loss=0.0, **SMALL)
    assert set(f["level"]) <= {"L1", "L2", "DB"} and len(f) == (f["level"].value_counts().sum())
    assert not f["stale"].any()
    s = cachesim.summarize(f).iloc[0]
    assert s[["L1", "L2", "DB"]].sum() == pytest.approx(1.0) and s["L1"] > 0 and s["DB"] > 0


def test_lost_invalidations_are_stale_but_bounded_by_l1_ttl(redis_backend):
    kw = dict(client=redis_backend.client(), transport="broadcast", l1_ttl=20, loss=0.5, **SMALL)
    f = cachesim.simulate(**kw)
    assert f["stale"].any()
    assert f.loc[f["stale"], "staleness"].max() <= 20
    assert (f.loc[f["stale"], "level"] == "L1").all()       # only L1 copies go stale: L2 is always deleted
    g = cachesim.simulate(**kw)
    assert f.drop(columns="t").equals(g.drop(columns="t")) and np.allclose(f["t"], g["t"])  # deterministic


def test_competing_consumers_leave_stale_reads_where_broadcast_leaves_none():
    s = cachesim.transports(l1_ttl=30, **SMALL)
    by = s.groupby("transport")["stale"].max()
    assert by["broadcast"] == 0 and by["queue"] > 0
    assert sorted(s["instance"].unique()) == [0, 1, 2]


def test_hit_rates_sweep_shape_and_direction():
    s = cachesim.hit_rates(l1_ttls=(1, 60), l1_sizes=(5, 100), keys=100, ops=800, rate=20)
    assert list(s["sweep"]) == ["l1_ttl", "l1_ttl", "l1_size", "l1_size"]
    ttl = s[s["sweep"] == "l1_ttl"].set_index("l1_ttl")["L1"]
    size = s[s["sweep"] == "l1_size"].set_index("l1_size")["L1"]
    assert ttl[60] > ttl[1] and size[100] > size[5]
    assert (s["stale"] == 0).all()
    fig = cachesim.chart_hit_rates(s)
    assert len(fig.axes) == 2
    plt.close(fig)


def test_stale_sweep_and_charts():
    s = cachesim.stale_sweep(l1_ttls=(2, 30), **SMALL)
    assert list(s["l1_ttl"]) == [2, 30]
    assert (s["max_staleness"] <= s["l1_ttl"]).all()
    for fig in (cachesim.chart_staleness(s), cachesim.chart_transports(cachesim.transports(**SMALL)),
                cachesim.chart_explore(l1_ttl=5, l1_size=20, loss=0.2, **SMALL)):
        assert fig.axes
        plt.close(fig)


def test_measure_latency_shape(redis_backend):
    f = cachesim.measure_latency(50, client=redis_backend.client())
    assert f["level"].value_counts().to_dict() == {"L1": 50, "L2": 50}
    assert (f["latency"] > 0).all()


@pytest.mark.parametrize("kwargs, exc, text", [
    ({"transport": "kafka"}, ValueError, "transport must be one of"),
    ({"transport": "none", "write_ratio": 0.1}, ValueError, "write_ratio must be 0"),
    ({"loss": 1.5}, ValueError, "loss must be <= 1"),
    ({"instances": 0}, ValueError, "instances must be >= 1"),
    ({"l1_ttl": 0}, ValueError, "l1_ttl must be > 0"),
    ({"ops": 2.5}, TypeError, "ops must be an int"),
])
def test_bad_input(kwargs, exc, text):
    with pytest.raises(exc, match=text):
        cachesim.simulate(**kwargs)


@pytest.mark.parametrize("flush, after", [(True, 90), (False, 100)])
def test_reconnect_demo(redis_backend, flush, after):
    r = cachesim.reconnect_demo(flush, client=redis_backend.client())
    assert r["B before"] == 100 and r["database"] == 90
    assert r["invalidation reached"] == "1 of 2 subscribers"
    assert r["B after reconnect"] == after
