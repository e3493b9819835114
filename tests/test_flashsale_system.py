"""The flash-sale system end to end under real threads: the invariants hold on fakeredis and a real
redis-server, and each fault breaks the invariant its guard protects."""

import pytest

from hcedu.backend import Keyspace
from hcedu.go.goroutine import running
from hcedu.lab import flashsale_system as fs

from helpers import race_the_last_unit

FAST = dict(arrival_rate=None, pay_timeout=0.05, db_latency=0.0, expire_every=0.02)
OPEN = dict(gateway_rate=1e6, gateway_burst=10_000, user_limit=1000)   # let every request reach the stock


def _run(backend, wrap=None, **kw):
    client = backend.client()
    if wrap is not None:
        wrap(client)
    ks = Keyspace("t16", client)
    frame = fs.run(client=client, keyspace=ks, **{**FAST, **kw})
    assert ks.keys() == [], "the run's keys must be deleted"
    assert not [g for g in running() if g.alive], "a goroutine outlived the run"
    return frame


def test_invariants_hold_end_to_end(redis_backend):
    f = _run(redis_backend, users=80, stock=20, requests=600, concurrency=8, seed=1)
    assert list(f.columns) == ["req", "user", "t", "latency", "end", "stage", "outcome", "bought"]
    assert f["req"].tolist() == list(range(600))
    assert set(f["outcome"]) <= set(fs.OUTCOMES) and set(f["stage"]) <= set(fs.STAGES)
    inv = fs.invariants(f)
    assert inv["holds"].all(), inv.to_string()
    statuses = {o["status"] for o in f.attrs["orders"]}
    assert statuses <= {"PAID", "CLOSED"}
    assert (f["outcome"] == "ordered").sum() == len(f.attrs["orders"]) > 0
    # each stage can only turn away what reached it
    fun = fs.funnel(f)
    assert fun["reached"].is_monotonic_decreasing and (fun["turned away"] <= fun["reached"]).all()
    assert fun.loc["gateway", "reached"] == 600


def test_sells_out_exactly_when_everyone_pays(redis_backend):
    f = _run(redis_backend, users=60, stock=10, requests=400, concurrency=8, pay_rate=1.0, **OPEN)
    paid = [o for o in f.attrs["orders"] if o["status"] == "PAID"]
    assert len(paid) == 10 and f.attrs["remaining"] == 0
    assert len({o["user"] for o in paid}) == 10
    assert (f["outcome"] == "duplicate").sum() > 0 and (f["outcome"] == "sold_out").sum() > 0
    assert fs.invariants(f)["holds"].all()


def test_naive_stock_oversells(redis_backend):
    f = _run(redis_backend, users=40, stock=5, requests=400, concurrency=16, pay_rate=1.0,
             faults=("naive_stock",), wrap=race_the_last_unit, **OPEN)
    inv = fs.invariants(f)
    assert not inv.loc["never oversold", "holds"], inv.to_string()
    assert f.attrs["remaining"] < 0


def test_shedding_without_compensation_leaks_stock(redis_backend):
    kw = dict(users=200, stock=100, requests=300, concurrency=8, queue_capacity=1, **OPEN)
    leaky = _run(redis_backend, faults=("slow_queue", "no_compensation"), **kw)
    assert (leaky["outcome"] == "shed").sum() > 0
    inv = fs.invariants(leaky)
    assert not inv.loc["stock conserved (closed and shed units returned)", "holds"]
    fixed = _run(redis_backend, faults=("slow_queue",), **kw)
    assert (fixed["outcome"] == "shed").sum() > 0
    assert fs.invariants(fixed)["holds"].all()


@pytest.mark.parametrize("fail_open", [True, False])
def test_limiter_outage_fails_open_or_closed(redis_backend, fail_open):
    f = _run(redis_backend, users=50, stock=10, requests=200, concurrency=4, faults=("limiter_down",),
             fail_open=fail_open, gateway_rate=1e6, gateway_burst=10_000)
    if fail_open:
        assert f.attrs["failed_open"] == 200 and "limiter_down" not in set(f["outcome"])
        assert (f["outcome"] == "ordered").sum() >= 10          # the sale goes on, unthrottled per user
    else:
        assert set(f["outcome"]) == {"limiter_down"} and f.attrs["failed_open"] == 0
    assert fs.invariants(f)["holds"].all()                       # the stock script still guards the stock


def test_summary_and_charts(redis_backend):
    import matplotlib.pyplot as plt

    f = _run(redis_backend, users=50, stock=10, requests=200, concurrency=4)
    s = fs.summary(f)
    assert s["requests"].sum() == 200 and abs(s["share"].sum() - 1) < 1e-9
    assert len(fs.chart_timeline(f).axes) == 2
    assert len(fs.chart_funnel(f).axes) == 1
    plt.close("all")


def test_bad_input(redis_client):
    with pytest.raises(ValueError, match="faults\\[\\] must be one of"):
        fs.run(client=redis_client, faults=("gremlins",))
    with pytest.raises(ValueError, match="users must be >= 1"):
        fs.run(client=redis_client, users=0)
    with pytest.raises(TypeError, match="sink must be a list"):
        fs.run(client=redis_client, sink=())
    with pytest.raises(ValueError, match="arrival_rate must be > 0"):
        fs.run(client=redis_client, arrival_rate=0)
    with pytest.raises(TypeError, match="fail_open must be a bool"):
        fs.FlashSale(redis_client, fail_open="yes")
    with pytest.raises(ValueError, match="pay_rate must be <= 1"):
        fs.FlashSale(redis_client, pay_rate=2)
    with pytest.raises(TypeError, match="frame must be a DataFrame returned by"):
        fs.invariants(object())
    assert not [g for g in running() if g.alive]


def test_the_live_chart_shows_the_stock_line_before_the_run_ends():
    import pandas as pd

    from hcedu.lab.flashsale_system import chart_timeline

    partial = pd.DataFrame({"end": [0.01, 0.02], "outcome": ["ordered", "ordered"]})  # no attrs yet
    fig = chart_timeline(partial, stock=100)
    labels = [line.get_label() for line in fig.axes[1].get_lines()]
    assert any(label.startswith("stock (100 units)") for label in labels), labels
