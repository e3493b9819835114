"""hcedu.lab.stats: nearest-rank percentiles, throughput windows, per-group summaries."""

import math

import numpy as np
import pandas as pd
import pytest

from hcedu.lab import stats


def frame(latencies, ends=None, ok=None, **cols):
    ends = ends if ends is not None else list(np.cumsum(latencies))
    df = pd.DataFrame({"latency": latencies, "end": ends, **cols})
    if ok is not None:
        df["ok"] = ok
    return df


def test_percentile_labels():
    assert [stats.percentile_label(q) for q in stats.PERCENTILES] == ["p50", "p95", "p99", "p999"]
    assert stats.percentile_label(99.99) == "p9999"


def test_nearest_rank_percentiles_are_real_samples():
    lat = [i / 1000 for i in range(1, 1001)]  # 1..1000 ms
    p = stats.percentiles(lat)
    assert list(p.index) == ["p50", "p95", "p99", "p999"]
    assert p["p50"] == pytest.approx(0.500)
    assert p["p95"] == pytest.approx(0.950)
    assert p["p99"] == pytest.approx(0.990)
    assert p["p999"] == pytest.approx(0.999)
    assert set(p) <= set(lat)


def test_tail_percentile_of_small_sample_is_the_max():
    p = stats.percentiles([0.001, 0.002, 0.010])
    assert p["p999"] == p["p99"] == 0.010
    assert p["p50"] == 0.002


def test_percentiles_ignore_nan_and_accept_frames_and_series():
    df = frame([0.003, math.nan, 0.001, 0.002])
    assert stats.percentiles(df)["p50"] == 0.002
    assert stats.percentiles(df["latency"], qs=[100])["p100"] == 0.003


def test_empty_input_gives_nan_not_an_error():
    p = stats.percentiles([])
    assert p.isna().all() and len(p) == 4


def test_percentiles_bad_input():
    with pytest.raises(ValueError, match="latencies must be >= 0"):
        stats.percentiles([0.1, -0.2])
    with pytest.raises(ValueError, match="no 'latency' column"):
        stats.percentiles(pd.DataFrame({"x": [1]}))
    with pytest.raises(ValueError, match="q must be <= 100"):
        stats.percentiles([1.0], qs=[101])
    with pytest.raises(TypeError, match="DataFrame, Series or sequence"):
        stats.percentiles("fast")
    with pytest.raises(TypeError, match="only numbers"):
        stats.percentiles(["a", "b"])


def test_throughput_counts_completions_in_window_and_only_ok():
    df = frame([0.1] * 10, ends=[0.1 * i for i in range(1, 11)], ok=[True] * 8 + [False] * 2)
    assert stats.throughput(df, start=0.0, end=1.0) == pytest.approx(8.0)
    assert stats.throughput(df, start=0.0, end=1.0, ok_only=False) == pytest.approx(10.0)
    assert stats.throughput(df, start=0.0, end=0.5) == pytest.approx(5 / 0.5)


def test_throughput_uses_the_window_given():
    df = frame([0.01] * 4, ends=[0.1, 0.2, 0.3, 0.4])
    assert stats.throughput(df) == pytest.approx(4 / (0.4 - 0.09))      # first start to last completion
    assert stats.throughput(df, window=(0.0, 2.0)) == pytest.approx(2.0)
    assert stats.throughput(df, window=(0.0, 2.0), end=0.25) == pytest.approx(2 / 0.25)  # an end overrides
    with pytest.raises(TypeError, match="window must be a"):
        stats.throughput(df, window=2.0)


def test_throughput_errors():
    with pytest.raises(ValueError, match="no 'end' column"):
        stats.throughput(pd.DataFrame({"latency": [1.0]}))
    with pytest.raises(ValueError, match="end must be > start"):
        stats.throughput(frame([0.1]), start=1.0, end=1.0)
    with pytest.raises(TypeError, match="DataFrame"):
        stats.throughput([1, 2])
    assert stats.throughput(frame([]).astype(float)) == 0.0


def test_summarize_by_group_sorted_with_units():
    df = frame([0.001, 0.002, 0.003, 0.010], ends=[0.1, 0.2, 0.3, 0.4], ok=[True, True, True, False],
               pool=[2, 2, 1, 1])
    s = stats.summarize(df, by="pool")
    assert list(s["pool"]) == [1, 2]
    assert list(s["requests"]) == [2, 2] and list(s["errors"]) == [1, 0]
    assert s.loc[s["pool"] == 1, "p99"].item() == pytest.approx(3.0)  # ms; the error is not in the tail
    assert list(s.columns[:3]) == ["pool", "requests", "errors"]
    one = stats.summarize(df, unit="us")
    assert len(one) == 1 and one["p50"].item() == pytest.approx(2000.0)


def test_summarize_bad_input():
    with pytest.raises(ValueError, match="no 'nope' column"):
        stats.summarize(frame([0.1]), by="nope")
    with pytest.raises(ValueError, match="unit must be one of"):
        stats.summarize(frame([0.1]), unit="min")
