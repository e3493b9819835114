"""Reading a flash-sale run: the invariants, the funnel, a summary, and the two charts.

Every function takes the frame :func:`hcedu.lab.flashsale_system.run` returns (one row per request):
:func:`invariants` checks the five that must hold, :func:`funnel` counts who got past each stage,
:func:`summary` tabulates outcomes; :func:`chart_timeline` and :func:`chart_funnel` draw them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from .plot import finish
from .flashsale_workers import OUTCOMES, STAGES

__all__ = ["invariants", "funnel", "summary", "chart_timeline", "chart_funnel"]

# -- checks and summaries -----------------------------------------------------------------------------
def _frame(frame: Any) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame) or "outcome" not in frame.columns or "orders" not in frame.attrs:
        raise TypeError("frame must be a DataFrame returned by flashsale_system.run()")
    return frame


def invariants(frame: pd.DataFrame) -> pd.DataFrame:
    """The five invariants of the module docstring, one row each: ``holds`` (bool) and ``detail``."""
    frame = _frame(frame)
    a = frame.attrs
    orders = pd.DataFrame(a["orders"], columns=["oid", "user", "status"])
    paid = orders[orders["status"] == "PAID"]
    open_ = orders[orders["status"] != "CLOSED"]
    max_paid = int(paid["user"].value_counts().max()) if len(paid) else 0
    max_open = int(open_["user"].value_counts().max()) if len(open_) else 0
    unpaid = int((orders["status"] == "UNPAID").sum())
    n_ordered = int((frame["outcome"] == "ordered").sum())
    rows = [
        ("never oversold", len(paid) <= a["stock"] and a["remaining"] >= 0,
         f"paid {len(paid)} of {a['stock']}, counter ends at {a['remaining']}"),
        ("no user buys twice", max_paid <= 1 and max_open <= 1,
         f"most paid orders by one user: {max_paid}; most open orders: {max_open}"),
        ("every order is paid or closed", unpaid == 0,
         f"{len(paid)} paid, {int((orders['status'] == 'CLOSED').sum())} closed, {unpaid} left unpaid"),
        ("stock conserved (closed and shed units returned)", a["remaining"] + len(paid) == a["stock"],
         f"remaining {a['remaining']} + paid {len(paid)} = {a['remaining'] + len(paid)} vs stock {a['stock']}"),
        ("every purchase became an order", n_ordered == len(orders) and a["bridge"].get("unsent", 0) == 0,
         f"{n_ordered} ordered requests, {len(orders)} order records, {a['bridge'].get('unsent', 0)} unsent"),
    ]
    return pd.DataFrame(rows, columns=["invariant", "holds", "detail"]).set_index("invariant")


def funnel(frame: pd.DataFrame) -> pd.DataFrame:
    """Requests reaching each stage and how many each stage turned away (by outcome), in pipeline order."""
    frame = _frame(frame)
    reached = []
    for i, st in enumerate(STAGES):
        n = int(frame["stage"].isin(STAGES[i:]).sum())
        here = frame[frame["stage"] == st]["outcome"].value_counts()
        stopped = {o: int(here.get(o, 0)) for o in OUTCOMES if o != "ordered" and here.get(o, 0)}
        reached.append({"stage": st, "reached": n, "turned away": sum(stopped.values()),
                        "how": ", ".join(f"{k} {v}" for k, v in stopped.items()) or "-"})
    return pd.DataFrame(reached).set_index("stage")


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per outcome: requests, share, and latency p50/p99 in ms (nearest rank, :mod:`hcedu.lab.stats`)."""
    from .stats import percentiles

    frame = _frame(frame)
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


def chart_timeline(frame: pd.DataFrame, ax: Any = None, stock: int | None = None):
    """Two panels over the run: requests so far by what happened to them (rejected by the limiters, sold out
    or duplicate, shed, placed an order), and orders placed so far against the stock. Orders placed can pass
    the stock: an unpaid order is closed and its unit goes back on sale, so one unit can be ordered several
    times; the legend says how many orders were paid and how many closed (when the run's state is known).
    Cumulative counts, so a scheduling hiccup bends a line instead of drawing a spike. ``ax``: two
    matplotlib axes to draw into (the dashboard reuses its figure)."""
    import matplotlib.pyplot as plt

    if not isinstance(frame, pd.DataFrame) or "outcome" not in frame.columns:
        raise TypeError("frame must be a DataFrame from flashsale_system.run()")
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
    if "orders" in frame.attrs:
        status = Counter(o["status"] for o in frame.attrs["orders"])
        label = (f"orders placed ({len(bought):,}: {status['PAID']:,} paid, {status['CLOSED']:,} closed "
                 f"unpaid, their units re-sold)")
    bottom.step(np.r_[0, bought], np.arange(len(bought) + 1), where="post", color="tab:green", lw=1.8,
                label=label)
    stock = stock if stock is not None else frame.attrs.get("stock")  # a live, partial frame has no attrs yet
    if stock is not None:
        bottom.axhline(stock, color="black", ls=":", lw=1, label=f"stock ({stock:,} units)")
    finish(bottom, ylabel="orders", xlabel="seconds since the sale opened", legend="outside", integer_y=True,
           ylim_zero=True, tight=False)
    out = fig or top.figure
    out.tight_layout()
    return out


def chart_funnel(frame: pd.DataFrame):
    """Horizontal bars: requests reaching each stage, with the part each stage turned away."""
    import matplotlib.pyplot as plt

    f = funnel(frame)
    fig, ax = plt.subplots(figsize=(7, 3))
    y = np.arange(len(f))[::-1]
    ax.barh(y, f["reached"], color="tab:blue", alpha=0.35, label="reached the stage")
    ax.barh(y, f["turned away"], color="tab:red", alpha=0.8, label="turned away here")
    ax.set_yticks(y)
    ax.set_yticklabels(f.index)
    return finish(ax, title="Each stage protects the next: requests reaching each stage", xlabel="requests",
                  legend="outside")
