"""Peak-shaving lab: deterministic, every item accounted for, policies behave as the chapter says."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hcedu.lab import peakshave  # noqa: E402
from hcedu.patterns.queue import POLICIES  # noqa: E402

KW = dict(duration=5.0, drain_rate=200.0)


@pytest.fixture(scope="module")
def run():
    return peakshave.compare(**KW)


def test_deterministic(run):
    again = peakshave.compare(**KW)
    pd.testing.assert_frame_equal(run.items, again.items)
    pd.testing.assert_frame_equal(run.timeline, again.timeline)


def test_every_item_has_an_outcome_and_counters_add_up(run):
    assert set(run.items["outcome"]) <= {"sent", "dropped", "evicted", "rejected", "timed_out", "waiting", "unsent"}
    for key, st in run.stats.items():
        policy = key.split("/")[0]
        g = run.items[run.items["policy"] == policy]
        oc = g["outcome"].value_counts()
        assert st["sent"] == oc.get("sent", 0), key
        assert st["accepted"] == st["sent"] + st["dropped_oldest"] + st["unsent"], key
        assert st["offered"] + oc.get("waiting", 0) == len(g), key  # waiting producers never got in


def test_policies_shape_loss_and_latency(run):
    s = peakshave.summarize(run.items).droplevel("capacity")
    assert list(s.index) == list(POLICIES)
    assert s.loc["block", "lost"] == 0 and s.loc["block", "waiting_at_end"] == 0
    assert s.loc["block", "sent"] == s.loc["block", "offered"]  # everything gets through, eventually
    assert s.loc["block", "max_s"] > s.loc["block_timeout", "max_s"] > s.loc["drop_newest", "max_s"]
    assert s.loc["reject", "lost"] == 0 and s.loc["reject", "rejected"] == s.loc["drop_newest", "lost"] > 0
    assert s.loc["drop_oldest", "lost"] == s.loc["drop_newest", "lost"]
    # the bounded buffer bounds latency: capacity / drain rate (+ one step)
    assert s.loc["drop_newest", "max_s"] <= 100 / KW["drain_rate"] + 0.02


def test_bigger_buffer_loses_less_but_waits_longer():
    r = peakshave.compare(("drop_newest",), (10, 1000), **KW)
    s = peakshave.summarize(r.items).droplevel("policy")
    assert s.loc[1000, "lost"] < s.loc[10, "lost"]
    assert s.loc[1000, "max_s"] > s.loc[10, "max_s"]


def test_chart_burst(run):
    import matplotlib.pyplot as plt

    fig = peakshave.chart_burst(run.timeline)
    assert len(fig.axes) == 3
    plt.close(fig)


@pytest.mark.parametrize("policy", ["drop_newest", "reject", "block"])
def test_live_run_accounts_for_every_item(redis_backend, policy):
    r = peakshave.live(policy, 20, drain_rate=2000, burst_start=0.05, burst_len=0.1, duration=0.25,
                       client=redis_backend.client())
    oc = r.items["outcome"].value_counts()
    assert set(oc.index) <= {"sent", "dropped", "rejected"}
    assert oc.get("sent", 0) == r.stats["sent"] > 0
    assert r.stats["offered"] == len(r.items)
    assert r.stats["accepted"] == r.stats["sent"]  # nothing evicted or unsent with these policies
    if policy == "block":
        assert oc.get("sent", 0) == len(r.items)
    assert not r.timeline.empty and set(r.timeline.columns) >= {"t", "depth", "sent", "dropped"}


@pytest.mark.parametrize("kw, exc, words", [
    ({"policy": "shed"}, ValueError, "policy must be one of"),
    ({"capacity": 0}, ValueError, "capacity must be >= 1"),
    ({"drain_rate": 0}, ValueError, "drain_rate must be > 0"),
    ({"dt": 0}, ValueError, "dt must be > 0"),
    ({"burst_factor": "x"}, TypeError, "burst_factor must be a number"),
])
def test_bad_input(kw, exc, words):
    with pytest.raises(exc, match=words):
        peakshave.simulate(**kw)
