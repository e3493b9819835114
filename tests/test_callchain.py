"""hcedu.lab.callchain: the request-tree simulation, its metrics and charts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

from hcedu.lab.callchain import (SPAN_COLUMNS, chart_sweep, chart_timeline, simulate, summarize, sweep)


def test_spans_shape_and_determinism():
    a = simulate(20, 0.05, True, seed=3)
    b = simulate(20, 0.05, True, seed=3)
    assert list(a.columns) == SPAN_COLUMNS
    assert a.equals(b)
    assert set(a.span) <= {"handler", "service", "db", "cache", "search", "recommend", "render"}
    assert (a.end >= a.start).all()


def test_propagation_cuts_every_span_at_the_deadline():
    df = simulate(100, 0.04, True, seed=1)
    assert (df["end"] <= 0.04 + 1e-12).all()
    assert df["wasted"].sum() == 0
    canceled = df[df.status == "canceled"]
    assert len(canceled) > 0
    assert all(abs(e - 0.04) < 1e-9 for e in canceled["end"])
    assert set(canceled["err"]) == {"context deadline exceeded"}
    # a child's deadline is never after the handler's
    assert (df["deadline"].dropna() <= 0.04 + 1e-12).all()


def test_without_propagation_work_continues_after_the_client_left():
    df = simulate(100, 0.04, False, seed=1)
    h = df[df.span == "handler"]
    assert (h["end"] <= 0.04 + 1e-12).all()  # the client is answered on time either way
    assert df["wasted"].sum() > 0
    assert df[df.depth == 2]["deadline"].isna().all()
    assert "canceled" not in set(df[df.depth == 2]["status"])


def test_same_client_view_less_backend_work_with_propagation():
    on = summarize(simulate(150, 0.05, True, seed=0))
    off = summarize(simulate(150, 0.05, False, seed=0))
    assert on["success"] == off["success"]
    assert on["client_p99"] == off["client_p99"]
    assert on["wasted_per_request"] == 0 < off["wasted_per_request"]
    assert on["backend_busy_p99"] <= 0.05 + 1e-12 < off["backend_busy_p99"]
    assert on["downstream_calls"] <= off["downstream_calls"]


def test_sweep_and_charts():
    df = sweep((0.03, 0.1), requests=30)
    assert len(df) == 4 and set(df.propagate) == {True, False}
    wasted_off = df[~df.propagate].sort_values("timeout")["wasted_per_request"].tolist()
    assert wasted_off[0] >= wasted_off[1]  # a tighter timeout wastes more without propagation
    assert len(chart_sweep(df).axes) == 2
    fig = chart_timeline(simulate(2, 0.05, True), request=1)
    assert len(fig.axes) == 1
    with pytest.raises(ValueError):
        chart_timeline(simulate(1, 0.05, True), request=5)


def test_bad_input():
    with pytest.raises(ValueError):
        simulate(0)
    with pytest.raises(ValueError):
        simulate(5, timeout=0)
    with pytest.raises(ValueError):
        simulate(5, timeout=-1)
    with pytest.raises(TypeError):
        simulate(5, timeout="fast")
    with pytest.raises(TypeError):
        simulate(5, 0.05, propagate="yes")
