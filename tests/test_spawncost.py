"""hcedu.lab.spawncost: measurements run in fresh subprocesses and come back as tidy frames (shapes only)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from hcedu.lab import spawncost as S  # noqa: E402


@pytest.fixture(scope="module")
def spawn():
    return S.measure_spawn(counts={"thread": [50, 200], "asyncio": [200, 1000], "greenlet": [200, 1000]},
                           timeout=60)


def test_spawn_frame_shape(spawn):
    assert list(spawn["kind"]) == ["thread", "thread", "asyncio", "asyncio", "greenlet", "greenlet"]
    assert list(spawn["count"]) == [50, 200, 200, 1000, 200, 1000]
    ok = spawn[spawn["ok"]]
    assert {"thread", "asyncio"} <= set(ok["kind"])
    assert (ok["spawn_s"] > 0).all() and (ok["units_per_s"] > 0).all()
    assert (ok["rss_after"] >= ok["rss_before"]).all()
    assert set(ok["rss_method"]) <= {"statm", "maxrss"}
    missing = spawn[~spawn["ok"]]
    assert (missing["reason"].str.len() > 0).all()


def test_threads_cost_more_memory_than_tasks(spawn):
    r = S.ratios(spawn)
    assert r.loc["thread", "bytes_per_unit"] > r.loc["asyncio", "bytes_per_unit"]
    assert r.loc["asyncio", "memory_x"] == pytest.approx(1.0)
    assert list(r.columns) == ["count", "bytes_per_unit", "us_per_unit", "memory_x", "time_x", "vs_go_2KB"]


def test_switch_frame_shape():
    sw = S.measure_switch(["thread", "asyncio", "greenlet"], rounds=500, timeout=60)
    assert list(sw["kind"]) == ["thread", "asyncio", "greenlet"]
    ok = sw[sw["ok"]]
    assert (ok["switches"] == 1000).all() and (ok["ns_per_switch"] > 0).all()


def test_charts_return_figures(spawn):
    import matplotlib.pyplot as plt

    fig = S.chart_spawn_cost(spawn)
    assert len(fig.axes) == 2 and fig.axes[0].get_yscale() == "log"
    assert any(abs(line.get_ydata()[0] - S.GO_MIN_STACK) < 1e-9 for line in fig.axes[0].get_lines())
    sw = S.measure_switch(["asyncio"], rounds=100)
    assert len(S.chart_switch_cost(sw).axes) == 1
    plt.close("all")


def test_bad_input():
    with pytest.raises(ValueError, match="kind must be one of"):
        S.measure_spawn(["fiber"])
    with pytest.raises(ValueError, match="count must be >= 1"):
        S.measure_spawn(["asyncio"], [0])
    with pytest.raises(ValueError, match="count must be >= 1"):
        S.measure_spawn(["asyncio"], [-5])
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        S.measure_switch(["asyncio"], rounds=0)
    with pytest.raises(ValueError, match="kinds must name"):
        S.measure_spawn([])


def test_starvation_frame_shape_and_cooperative_gap():
    df = S.measure_starvation(hog=0.15, tick=0.01, timeout=60)
    assert list(df["mode"]) == list(S.STARVATION_MODES)
    assert list(df.columns) == ["mode", "hog_s", "tick_s", "beats", "max_gap_s"]
    gaps = df.set_index("mode")["max_gap_s"]
    # the cooperative loop never yields, so the heartbeat cannot run until it ends
    assert gaps["asyncio"] >= 0.15
    assert (df["beats"] >= 2).all()
    with pytest.raises(ValueError, match="mode must be one of"):
        S.measure_starvation(["fibers"])
    with pytest.raises(ValueError, match="hog must be > 0"):
        S.measure_starvation(hog=0)


def test_starvation_repeat_keeps_each_modes_smallest_gap(monkeypatch):
    gaps = iter([0.30, 0.09, 0.02, 0.31, 0.03, 0.12])  # run 1: asyncio, yield, thread; run 2: the same
    monkeypatch.setattr(S, "_run_child", lambda *a: {"ok": True, "beats": 5, "max_gap": next(gaps)})
    df = S.measure_starvation(hog=0.3, repeat=2)
    assert df.set_index("mode")["max_gap_s"].to_dict() == {"asyncio": 0.30, "asyncio_yield": 0.03, "thread": 0.02}
    with pytest.raises(ValueError, match="repeat must be >= 1"):
        S.measure_starvation(repeat=0)


def test_starvation_until_skips_the_modes_already_good_enough(monkeypatch):
    calls = []
    gaps = iter([0.30, 0.09, 0.02, 0.31, 0.03])  # run 1: asyncio, yield, thread; run 2: asyncio, yield only

    def child(kind, *a):
        calls.append(kind)
        return {"ok": True, "beats": 5, "max_gap": next(gaps)}
    monkeypatch.setattr(S, "_run_child", child)
    df = S.measure_starvation(hog=0.3, repeat=2, until=0.05)
    assert calls == ["asyncio", "asyncio_yield", "thread", "asyncio", "asyncio_yield"]  # thread: 0.02 <= 0.05
    assert df.set_index("mode")["max_gap_s"].to_dict() == {"asyncio": 0.30, "asyncio_yield": 0.03, "thread": 0.02}
    with pytest.raises(ValueError, match="until must be >= 0"):
        S.measure_starvation(until=-1)
