"""hcedu.lab.chanbench: experiments return tidy frames of the right shape, charts return Figures.
Counts only, small sizes, no timing assertions (the ratios live in benchmarks/chan_throughput.py)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hcedu.lab import chanbench as cb  # noqa: E402


@pytest.mark.parametrize("kind", cb.KINDS)
@pytest.mark.parametrize("cap", [0, 4])
def test_pipe_throughput_positive(kind, cap):
    assert cb.pipe_throughput(kind, cap, n=300, producers=2, consumers=3) > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind must be one of"):
        cb.pipe_throughput("deque", 1)
    with pytest.raises(ValueError, match="cap must be >= 0"):
        cb.pipe_throughput("Chan", -1)
    with pytest.raises(TypeError, match="n must be an int"):
        cb.pipe_throughput("Chan", 1, n=1.5)
    with pytest.raises(ValueError, match="producers must be >= 1"):
        cb.pipe_throughput("Chan", 1, producers=0)
    with pytest.raises(ValueError, match="requests must be >= 1"):
        cb.allocation_experiment(requests=0)
    with pytest.raises(ValueError, match="gc_every must be >= 1"):
        cb.hit_rate_vs_gc(gc_every=[0])


def test_throughput_frames_and_charts():
    df = cb.throughput_vs_capacity(caps=[0, 8], n=500, repeats=2)
    assert list(df.columns) == ["kind", "cap", "repeat", "msgs_per_s"]
    assert len(df) == 2 * 2 * len(cb.KINDS) and (df["msgs_per_s"] > 0).all()
    assert isinstance(cb.chart_throughput_vs_capacity(df), Figure)
    dw = cb.throughput_vs_workers(pairs=[1, 2], cap=4, n=400)
    assert list(dw.columns) == ["kind", "workers", "msgs_per_s"] and len(dw) == 2 * len(cb.KINDS)
    assert isinstance(cb.chart_throughput_vs_workers(dw), Figure)


def test_mpmc_stress_small():
    r = cb.mpmc_stress(3, 2, 500, 4, timeout=30)
    assert r["sent"] == r["received"] == r["unique"] == 1500 and r["fifo_ok"]


def test_allocation_experiment_pool_saves_allocations_and_gc_runs():
    df = cb.allocation_experiment(requests=3000, buffer_size=1024)
    assert list(df["mode"]) == ["new each time", "sync.Pool"]
    new, pooled = df.iloc[0], df.iloc[1]
    assert new["buffers_allocated"] == 3000
    assert pooled["buffers_allocated"] == 1  # the warm-up buffer, reused for every request
    assert new["bytes_allocated"] >= 3000 * 1024
    assert new["gc_collections"] > pooled["gc_collections"]  # cyclic garbage triggers the GC
    assert isinstance(cb.chart_allocations(df), Figure)


def test_hit_rate_vs_gc_victim_cache_helps():
    df = cb.hit_rate_vs_gc(gc_every=[None, 1], ops=300, max_held=4)
    assert list(df.columns) == ["gc_every", "policy", "gets", "hits", "hit_rate", "victim_hits", "news"]
    r = df.set_index(["gc_every", "policy"])["hit_rate"]
    assert r[(0, "go1.13+")] == r[(0, "go1.12")] > 0.9  # no GC: same
    assert r[(1, "go1.12")] == 0.0  # old Go: a GC per request empties the pool every time
    assert r[(1, "go1.13+")] > 0.3  # the victim cache still serves most of them
    assert isinstance(cb.chart_hit_rate(df), Figure)
    assert df.equals(cb.hit_rate_vs_gc(gc_every=[None, 1], ops=300, max_held=4))  # deterministic
