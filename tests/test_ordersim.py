"""Order-timeout simulation: deterministic, the designs behave as the chapter claims, charts, the race."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hcedu.lab import ordersim  # noqa: E402
from hcedu.lab.ordersim import Design  # noqa: E402


@pytest.fixture(scope="module")
def orders():
    return ordersim.make_orders(n=300, window=900, seed=3)


@pytest.fixture(scope="module")
def frame(orders):
    return ordersim.run(orders=orders, crash_at=2000, crash_for=600)


def test_make_orders_is_seeded_and_shaped(orders):
    again = ordersim.make_orders(n=300, window=900, seed=3)
    pd.testing.assert_frame_equal(orders, again)
    assert list(orders.columns) == ["order_id", "created", "due", "paid_at"]
    assert ((orders["due"] - orders["created"] - ordersim.TIMEOUT).abs() < 1e-6).all()
    paid = orders["paid_at"].dropna()
    assert 0 < len(paid) < len(orders)
    assert (paid < orders.loc[paid.index, "due"]).all()


def test_run_is_deterministic(orders, frame):
    again = ordersim.run(orders=orders, crash_at=2000, crash_for=600)
    pd.testing.assert_frame_equal(frame, again)


def test_every_design_closes_exactly_the_unpaid_orders_unless_lost(orders, frame):
    s = ordersim.summarize(frame)
    unpaid = int(orders["paid_at"].isna().sum())
    for name, row in s.iterrows():
        assert row["closed"] + row["never_closed"] == unpaid, name
        assert row["closed_twice"] == 0, name  # idempotent close
    assert s.loc["delay queue, worker crash", "never_closed"] > 0
    for name in ("delay queue", "delay queue + lease recovery, crash", "hybrid (queue + 5-min scan), crash"):
        assert s.loc[name, "never_closed"] == 0
    assert (frame.loc[frame["paid"], "closed_at"].isna()).all(), "a paid order is never closed"


def test_latency_bounds_follow_the_design(frame):
    s = ordersim.summarize(frame)
    assert s.loc["delay queue", "max_s"] <= 5.0  # one poll
    for minutes in (1, 5, 15):
        assert s.loc[f"scan every {minutes} min", "max_s"] <= minutes * 60
    assert s.loc["scan every 1 min", "rows_unindexed"] > s.loc["scan every 15 min", "rows_unindexed"] > 0
    assert s.loc["delay queue", "rows_read"] == 0 and s.loc["scan every 1 min", "redis_calls"] == 0
    assert s.loc["delay queue", "db_queries"] == 0 and s.loc["scan every 1 min", "db_queries"] > 0


def test_with_the_composite_index_a_scan_reads_only_what_it_closes_and_bunches_it(frame):
    """Chapter 11's honest argument: with an index on (status, created_at) every interval reads the same rows
    (the ones it closes); what a longer interval changes is lateness and the size of each burst."""
    s = ordersim.summarize(frame)
    for minutes in (1, 5, 15):
        row = s.loc[f"scan every {minutes} min"]
        assert row["rows_read"] == row["closed"], minutes
        assert row["rows_unindexed"] > row["rows_read"], minutes
    peaks = [s.loc[f"scan every {m} min", "peak_closes"] for m in (15, 5, 1)] + [s.loc["delay queue", "peak_closes"]]
    assert peaks == sorted(peaks, reverse=True) and peaks[0] > 3 * peaks[-1], peaks
    assert (frame["latency"].dropna() >= 0).all()


def test_non_idempotent_close_counts_double_closes(orders):
    d = Design("hybrid", queue=True, scan=60, crash=True, recover=True)
    f = ordersim.simulate(orders, d, crash_at=2000, crash_for=600, lease=30, idempotent_close=False)
    # recovered items the scan already closed are closed again by the queue worker
    assert (f["effects"] > 1).sum() > 0


def test_charts_return_figures(frame):
    import matplotlib.pyplot as plt

    for fn in (ordersim.chart_latency, ordersim.chart_cost):
        fig = fn(frame)
        assert fig.axes
        plt.close(fig)


def test_race_naive_double_closes_atomic_does_not():
    naive = ordersim.race(workers=3, n=60, claim="naive")
    atomic = ordersim.race(workers=3, n=60, claim="atomic")
    assert (naive["closes"] == 3).all()
    assert (atomic["closes"] == 1).all()


def test_race_on_real_redis(redis_backend):
    atomic = ordersim.race(workers=4, n=100, claim="atomic", client=redis_backend.client(), lockstep=False)
    assert (atomic["closes"] == 1).all()


def test_bad_input(orders):
    with pytest.raises(TypeError, match="design must be"):
        ordersim.simulate(orders, "delay queue")
    with pytest.raises(ValueError, match="poll must be > 0"):
        ordersim.simulate(orders, ordersim.DESIGNS[0], poll=0)
    with pytest.raises(ValueError, match="pay_prob must be <= 1"):
        ordersim.make_orders(pay_prob=2)
    with pytest.raises(ValueError, match="claim must be one of"):
        ordersim.race(claim="optimistic")


def test_close_attempts_are_what_a_plain_close_would_run(orders):
    """One run answers both questions of chapter 11: close_attempts equals the effects of a non-idempotent
    run of the same design (the trajectory does not depend on the close being conditional)."""
    d = Design("hybrid", queue=True, scan=60, crash=True, recover=True)
    idem = ordersim.simulate(orders, d, crash_at=2000, crash_for=600, lease=30)
    plain = ordersim.simulate(orders, d, crash_at=2000, crash_for=600, lease=30, idempotent_close=False)
    assert (idem["close_attempts"] == plain["effects"]).all()
    assert (idem["effects"] <= 1).all() and (idem["close_attempts"] > 1).sum() > 0


def test_simulate_carries_its_totals_as_columns(orders, frame):
    """One result type: the run's totals are columns of simulate()'s frame (no .attrs side channel), and
    run() is simulate() per design, concatenated."""
    d = ordersim.DESIGNS[0]
    f = ordersim.simulate(orders, d, crash_at=2000, crash_for=600)
    totals = ["db_queries", "rows_read", "rows_unindexed", "peak_closes", "redis_calls", "lost_in_crash"]
    assert list(f.columns[-len(totals):]) == totals and not f.attrs
    assert f["db_queries"].nunique() == 1 and f["db_queries"].iloc[0] > 0
    pd.testing.assert_frame_equal(frame[frame["design"] == d.name].reset_index(drop=True), f)
