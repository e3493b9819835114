"""Reading a flash-sale run: the result, the invariants, the funnel, a summary, and the two charts.

:func:`hcedu.lab.flashsale_system.run` returns a :class:`SaleRun`: ``frame`` (one row per request) and the
state the run left in Redis as named fields. :func:`invariants` checks the five that must hold,
:func:`funnel` counts who got past each stage, :func:`summary` tabulates outcomes; :func:`chart_progress`
and :func:`chart_funnel` draw them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .plot import finish
from .flashsale_workers import OUTCOMES, STAGES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["SaleRun", "invariants", "funnel", "summary", "chart_progress", "chart_funnel"]


@dataclass(frozen=True, eq=False)
class SaleRun:
    """One flash sale's result. ``frame``: one row per request, sorted by ``req`` (``req``, ``user``, ``t``
    (start, s since the run began), ``latency`` (s), ``end``, ``stage`` (last stage reached), ``outcome``,
    ``bought``). The rest is the state after the sale: ``orders`` (``{oid, user, status}`` each), ``stock``
    (units on sale), ``remaining`` (the counter at the end), ``held`` (units recorded as bought),
    ``db_loads`` (product reads that reached the database), ``failed_open`` (requests the limiter let
    through while down), ``faults`` (names), ``crashes`` (order workers killed), ``worker`` (the order
    worker's name), ``bridge`` (the queue's shutdown report: ``unsent`` and its stats), ``seconds`` (the
    run's wall time), ``requests`` and ``users`` (the load asked for)."""

    frame: pd.DataFrame = field(repr=False)
    orders: tuple = field(repr=False)
    stock: int
    remaining: int
    held: int
    db_loads: int
    failed_open: int
    faults: tuple
    crashes: int
    worker: str
    bridge: dict = field(repr=False)
    seconds: float
    requests: int
    users: int


# -- checks and summaries -----------------------------------------------------------------------------
def _run(run: Any) -> SaleRun:
    if not isinstance(run, SaleRun):
        raise TypeError(f"run must be a SaleRun returned by flashsale_system.run() (got {type(run).__name__})")
    return run


def invariants(run: SaleRun) -> pd.DataFrame:
    """The five invariants of :mod:`hcedu.lab.flashsale_system`, one row each: ``holds`` (bool) and ``detail``."""
    a = _run(run)
    frame = a.frame
    orders = pd.DataFrame(list(a.orders), columns=["oid", "user", "status"])
    paid = orders[orders["status"] == "PAID"]
    open_ = orders[orders["status"] != "CLOSED"]
    max_paid = int(paid["user"].value_counts().max()) if len(paid) else 0
    max_open = int(open_["user"].value_counts().max()) if len(open_) else 0
    unpaid = int((orders["status"] == "UNPAID").sum())
    n_ordered = int((frame["outcome"] == "ordered").sum())
    rows = [
        ("never oversold", len(paid) <= a.stock and a.remaining >= 0,
         f"paid {len(paid)} of {a.stock}, counter ends at {a.remaining}"),
        ("no user buys twice", max_paid <= 1 and max_open <= 1,
         f"most paid orders by one user: {max_paid}; most open orders: {max_open}"),
        ("every order is paid or closed", unpaid == 0,
         f"{len(paid)} paid, {int((orders['status'] == 'CLOSED').sum())} closed, {unpaid} left unpaid"),
        ("stock conserved (closed and shed units returned)", a.remaining + len(paid) == a.stock,
         f"remaining {a.remaining} + paid {len(paid)} = {a.remaining + len(paid)} vs stock {a.stock}"),
        ("every purchase became an order", n_ordered == len(orders) and a.bridge.get("unsent", 0) == 0,
         f"{n_ordered} ordered requests, {len(orders)} order records, {a.bridge.get('unsent', 0)} unsent"),
    ]
    return pd.DataFrame(rows, columns=["invariant", "holds", "detail"]).set_index("invariant")


def funnel(run: SaleRun) -> pd.DataFrame:
    """Requests reaching each stage and how many each stage turned away (by outcome), in pipeline order."""
    frame = _run(run).frame
    reached = []
    for i, st in enumerate(STAGES):
        n = int(frame["stage"].isin(STAGES[i:]).sum())
        here = frame[frame["stage"] == st]["outcome"].value_counts()
        stopped = {o: int(here.get(o, 0)) for o in OUTCOMES if o != "ordered" and here.get(o, 0)}
        reached.append({"stage": st, "reached": n, "turned away": sum(stopped.values()),
                        "how": ", ".join(f"{k} {v}" for k, v in stopped.items()) or "-"})
    return pd.DataFrame(reached).set_index("stage")


def summary(run: SaleRun) -> pd.DataFrame:
    """Per outcome: requests, share, and latency p50/p99 in ms (nearest rank, :mod:`hcedu.lab.stats`)."""
    from .stats import percentiles

    frame = _run(run).frame
    rows = []
    for o in OUTCOMES:
        g = frame[frame["outcome"] == o]
        if not len(g):
            continue
        p = percentiles(g, (50, 99))
        rows.append({"outcome": o, "requests": len(g), "share": len(g) / len(frame),
                     "p50_ms": p["p50"] * 1e3, "p99_ms": p["p99"] * 1e3})
    return pd.DataFrame(rows).set_index("outcome")


# -- charts -------------------------------------------------------------------------------------------
_GROUPS = {"rejected by the limiters": ("gateway_429", "user_429", "limiter_down"),
           "sold out / duplicate": ("sold_out", "duplicate", "error"),
           "shed (queue full)": ("shed",), "placed an order": ("ordered",)}
_GROUP_COLORS = ("tab:grey", "tab:orange", "tab:red", "tab:green")


def chart_progress(run: SaleRun | pd.DataFrame, ax: Any = None, stock: int | None = None) -> "Figure":
    """Two panels over the run: requests so far by what happened to them (rejected by the limiters, sold out
    or duplicate, shed, placed an order), and orders placed so far against the stock. Orders placed can pass
    the stock: an unpaid order is closed and its unit goes back on sale, so one unit can be ordered several
    times; the legend says how many orders were paid and how many closed (read from the :class:`SaleRun`).
    Cumulative counts, so a scheduling hiccup bends a line instead of drawing a spike. ``run`` may also be
    the rows of a sale still running (a DataFrame with ``end`` and ``outcome``; pass its ``stock``), which
    the live dashboard draws. ``ax``: two matplotlib axes to draw into (the dashboard reuses its figure).

    Named ``chart_progress``, not a timeline: it is no :func:`hcedu.lab.plot.timeline` lane chart; its story is how many requests so far, not who
    held what when (thousands of requests, one step line per outcome group)."""
    import matplotlib.pyplot as plt

    result = run if isinstance(run, SaleRun) else None
    frame = result.frame if result is not None else run
    if not isinstance(frame, pd.DataFrame) or "outcome" not in frame.columns:
        raise TypeError(f"run must be a SaleRun from flashsale_system.run() or the live rows of one "
                        f"(got {type(run).__name__})")
    fig = None
    if ax is None:
        fig, ax = plt.subplots(2, 1, figsize=(10.5, 4.8), sharex=True, height_ratios=[3, 2])
    top, bottom = ax
    for (name, outs), color in zip(_GROUPS.items(), _GROUP_COLORS):
        t = np.sort(frame.loc[frame["outcome"].isin(outs), "end"].to_numpy())
        top.step(np.r_[0, t], np.arange(len(t) + 1), where="post", color=color, lw=1.8,
                 label=f"{name} ({len(t):,})")
    finish(top, title="Flash sale under load: what happened to the requests", ylabel="requests so far",
           legend="outside", integer_y=True, tight=False)
    bought = np.sort(frame.loc[frame["outcome"] == "ordered", "end"].to_numpy())
    label = f"orders placed ({len(bought):,})"
    if result is not None:
        status = Counter(o["status"] for o in result.orders)
        label = (f"orders placed ({len(bought):,}: {status['PAID']:,} paid, {status['CLOSED']:,} closed "
                 f"unpaid, their units re-sold)")
    bottom.step(np.r_[0, bought], np.arange(len(bought) + 1), where="post", color="tab:green", lw=1.8,
                label=label)
    stock = stock if stock is not None or result is None else result.stock  # live rows: the caller's stock
    if stock is not None:
        bottom.axhline(stock, color="black", ls=":", lw=1, label=f"stock ({stock:,} units)")
    finish(bottom, ylabel="orders", xlabel="seconds since the sale opened", legend="outside", integer_y=True,
           ylim_zero=True, tight=False)
    out = fig or top.figure
    out.tight_layout()
    return out


def chart_funnel(run: SaleRun) -> "Figure":
    """Horizontal bars: requests reaching each stage, with the part each stage turned away."""
    import matplotlib.pyplot as plt

    f = funnel(run)
    fig, ax = plt.subplots(figsize=(7, 3))
    y = np.arange(len(f))[::-1]
    ax.barh(y, f["reached"], color="tab:blue", alpha=0.35, label="reached the stage")
    ax.barh(y, f["turned away"], color="tab:red", alpha=0.8, label="turned away here")
    ax.set_yticks(y)
    ax.set_yticklabels(f.index)
    return finish(ax, title="Each stage protects the next: requests reaching each stage", xlabel="requests",
                  legend="outside")
