"""Charts and a dashboard for the connection-pool lab (the graphs a go-redis ``PoolStats`` exporter feeds).

Every ``chart_*`` function takes a result of :mod:`hcedu.lab.pool` / :mod:`hcedu.lab.loadgen` and returns
a matplotlib ``Figure`` (closed, so a notebook shows it once, when returned); :func:`dashboard` wires
ipywidgets sliders to a short live run. Charts never start threads; the dashboard's runs end before
its callback returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import stats
from .plot import color, finish
from .poolexp import PoolRun

if TYPE_CHECKING:
    from ipywidgets import Widget
    from matplotlib.figure import Figure

__all__ = ["chart_roofline", "chart_latency", "chart_wait_histogram", "chart_outcome", "chart_tail", "dashboard"]


def _need(frame: pd.DataFrame, cols: list[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame (got {type(frame).__name__})")
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"frame is missing column(s) {', '.join(missing)}")


def chart_roofline(frame: pd.DataFrame, service_time: float, cpu_ceiling: float, *,
                   title: str | None = None) -> "Figure":
    """Measured throughput vs pool size, one colour per concurrency, under both ceilings.

    Dashed: the Little's-law bound ``min(P, C)/S`` for each concurrency; red: the client CPU ceiling.
    Takes a :func:`hcedu.lab.pool.with_model` frame (or an :class:`~hcedu.lab.pool.InterleavedSweep`'s
    ``frame`` with its ``service_time`` and ``cpu_ceiling``).
    """
    _need(frame, ["pool_size", "concurrency", "throughput"])
    fig, ax = plt.subplots(figsize=(8.5, 4))
    sizes = np.array(sorted(frame["pool_size"].unique()), dtype=float)
    grid = np.geomspace(sizes.min(), sizes.max(), 200) if len(sizes) > 1 else sizes
    for i, (c, g) in enumerate(frame.sort_values("pool_size").groupby("concurrency")):
        col = color(None, i)
        ax.plot(grid, np.minimum(grid, c) / service_time, "--", color=col, lw=1, alpha=0.7)
        ax.plot(g["pool_size"], g["throughput"], "o-", color=col, label=f"C = {c} callers")
    ax.axhline(cpu_ceiling, color="crimson", lw=2, alpha=0.8, label=f"client CPU ceiling ≈ {cpu_ceiling:,.0f}/s")
    ax.plot([], [], "--", color="grey", lw=1, label="min(P, C)/S (dashed, per C)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    finish(ax, title=title or f"Roofline: min(min(P, C)/S, X_cpu), S = {service_time * 1e3:.2f} ms",
           xlabel="pool size P (connections)", ylabel="throughput (requests/s, log)", legend="outside",
           xticks=sizes, xticklabels=[f"{int(s)}" for s in sizes])
    plt.close(fig)
    return fig


def chart_latency(frame: pd.DataFrame, *, title: str = "Latency vs pool size",
                  run_length: float | None = None) -> "Figure":
    """Latency in ms vs pool size, one colour per concurrency, p50 solid and p99 dotted.

    When the frame has the per-checkout split of :func:`hcedu.lab.pool.sweep` (``wait_p50``, ``wait_p99``,
    ``hold_p50``, ``hold_p99``), two panels show where the time goes: the **queue wait** for a pooled
    connection (left) and the **service time** the connection was then held (right); otherwise one panel
    shows whole requests (``p50``, ``p99``). ``run_length`` (s) draws the run's own length on the wait
    (or request) panel: a p99 at that line means callers waited the whole run, so it measures the run,
    not the pool (starvation would have gone on in a longer run)."""
    _need(frame, ["pool_size", "concurrency", "p50", "p99"])
    split = all(c in frame.columns for c in ("wait_p50", "wait_p99", "hold_p50", "hold_p99")) and \
        frame[["wait_p99", "hold_p99"]].notna().all(axis=None)
    panels = ([("wait", "waiting for a connection (queue wait)"), ("hold", "holding it (service time)")]
              if split else [("", title)])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels) + 1.8, 3.8), sharey=True, squeeze=False)
    for ax, (part, heading) in zip(axes[0], panels):
        for i, (c, g) in enumerate(frame.sort_values("pool_size").groupby("concurrency")):
            col = color(None, i)
            lo = f"{part}_p50" if part else "p50"
            hi = f"{part}_p99" if part else "p99"
            ax.plot(g["pool_size"], g[lo].clip(lower=1e-6) * 1e3, "o-", color=col, label=f"C = {c}: p50")
            ax.plot(g["pool_size"], g[hi].clip(lower=1e-6) * 1e3, "s:", color=col, label=f"C = {c}: p99")
        if run_length is not None and part != "hold":
            ax.axhline(run_length * 1e3, color="gray", ls="--", lw=1,
                       label=f"run length ({run_length * 1e3:g} ms)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(heading, fontsize=10)
    sizes = sorted(frame["pool_size"].unique())
    finish(list(axes[0]), xlabel="pool size P", legend=None, xticks=sizes, xticklabels=[str(s) for s in sizes],
           tight=False)
    axes[0][0].set_ylabel("latency (ms, log)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    axes[0][-1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                       fontsize=8, frameon=False)
    if split:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    plt.close(fig)
    return fig


def chart_wait_histogram(checkouts: pd.DataFrame, *,
                         title: str = "How long callers waited for a connection") -> "Figure":
    """Histogram of pool wait times (ms, log bins) from ``pool.checkouts()`` (or a
    :class:`~hcedu.lab.pool.PoolRun`'s ``checkouts``), with p50/p99 marked."""
    _need(checkouts, ["wait"])
    waits = checkouts["wait"].dropna().to_numpy() * 1e3
    fig, ax = plt.subplots(figsize=(8.5, 3.6))
    if len(waits):
        lo = max(waits.min(), 1e-3)
        bins = np.geomspace(lo, max(waits.max(), lo * 10), 40)
        ax.hist(np.clip(waits, lo, None), bins=bins, color="steelblue")
        pct = stats.percentiles(waits)
        for label, colour in (("p50", "green"), ("p99", "crimson")):
            ax.axvline(pct[label], color=colour, ls="--", label=f"{label} = {pct[label]:.3g} ms")
        ax.set_xscale("log")
    ax.set_yscale("log")
    finish(ax, title=title, xlabel="wait for a connection (ms, log)", ylabel="checkouts (log)", legend="outside")
    plt.close(fig)
    return fig


def chart_outcome(runs: Mapping[str, PoolRun | pd.DataFrame], *,
                  title: str = "Exhausted pool: fail fast or wait?") -> "Figure":
    """Side by side per label: requests that succeeded / failed (left) and their p50/p99 latency (right).

    Takes :func:`hcedu.lab.pool.exhaustion`'s ``{label: PoolRun}`` (or ``{label: request frame}``)."""
    if not runs:
        raise ValueError("runs must not be empty")
    frames = {k: r.frame if isinstance(r, PoolRun) else r for k, r in runs.items()}
    labels = list(frames)
    for f in frames.values():
        _need(f, ["latency", "ok"])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
    ok = [int(frames[k]["ok"].sum()) for k in labels]
    bad = [int((~frames[k]["ok"]).sum()) for k in labels]
    x = np.arange(len(labels))
    # side by side, not stacked: a flood of failures must not flatten the successes into an invisible sliver
    a1.bar(x - 0.2, ok, 0.4, color=color("ok"), label="succeeded")
    a1.bar(x + 0.2, bad, 0.4, color=color("error"), label="failed")
    for xi, o, b in zip(x, ok, bad):
        a1.text(xi - 0.2, o, f"{o:,}", ha="center", va="bottom", fontsize=8)
        a1.text(xi + 0.2, b, f"{b:,}", ha="center", va="bottom", fontsize=8)
    p = [stats.percentiles(frames[k][frames[k]["ok"]]) for k in labels]
    a2.bar(x - 0.2, [q["p50"] * 1e3 for q in p], 0.4, label="p50")
    a2.bar(x + 0.2, [q["p99"] * 1e3 for q in p], 0.4, label="p99")
    finish(a1, ylabel="requests", legend="below", xticks=x, xticklabels=labels, integer_y=True, tight=False)
    finish(a2, ylabel="latency of successes (ms)", legend="below", xticks=x, xticklabels=labels, tight=False)
    fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def chart_tail(summary: pd.DataFrame, *, label: str = "config", unit: str = "ms",
               title: str = "Tail latency under stalls: timeouts and retries") -> "Figure":
    """Grouped bars of p50/p99/p999 per row of a :func:`hcedu.lab.pool.stall_experiment` or
    :func:`hcedu.lab.stats.summarize` frame, whose latencies are in ``unit``."""
    _need(summary, [label, "p50", "p99", "p999"])
    fig, ax = plt.subplots(figsize=(8.5, 3.6))
    x = np.arange(len(summary))
    for j, q in enumerate(["p50", "p99", "p999"]):
        ax.bar(x + (j - 1) * 0.27, summary[q], 0.27, label=q)
    ax.set_yscale("log")
    finish(ax, title=title, ylabel=f"latency ({unit}, log)", legend="outside",
           xticks=x, xticklabels=list(summary[label]))
    plt.close(fig)
    return fig


def dashboard(lab: Any, *, duration: float = 0.3, ceilings: Any = None) -> "Widget":
    """Sliders for pool size, concurrency and injected RTT; each change redraws the roofline at once (the
    point hollow: "measuring"), then runs ``duration`` s of load in ``lab`` (a
    :class:`hcedu.lab.pool.PoolLab`) and plots the measured point against it.

    ``S`` and ``X_cpu`` are measured once per RTT the slider visits. ``ceilings`` (a
    :class:`hcedu.lab.pool.Ceilings` that :func:`~hcedu.lab.pool.measure_ceilings` measured in ``lab``)
    is used for the lab's current RTT instead of measuring it again, when the slider starts there."""
    import ipywidgets as w
    from IPython.display import display

    from . import pool as P

    if ceilings is not None and not isinstance(ceilings, P.Ceilings):
        raise TypeError(f"ceilings must be a Ceilings from measure_ceilings (got {type(ceilings).__name__})")
    measured: dict[str, float] = {}
    out = w.Output()
    psize = w.IntSlider(8, min=1, max=64, description="pool size")
    conc = w.IntSlider(16, min=1, max=64, description="callers")
    rtt = w.FloatSlider(2.0, min=0.5, max=10, step=0.5, description="RTT (ms)")
    if ceilings is not None and abs(lab.toxics.delay * 1e3 - rtt.value) < 1e-9:
        measured[f"{rtt.value}"], measured["x"] = ceilings.service_time, ceilings.cpu_ceiling

    def show(s: float, x: float, row: Any = None) -> None:
        ps = np.arange(1, 65)
        bound = np.minimum(np.minimum(ps, conc.value) / s, x)
        fig, ax = plt.subplots()
        ax.plot(ps, bound, color="grey", label="roofline")
        ax.axhline(x, color="crimson", lw=1, ls="--", label="CPU ceiling")
        if row is None:   # the bound moves at once; the measured point follows when its run is over
            ax.plot([psize.value], [bound[psize.value - 1]], "o", ms=10, mfc="none", color="tab:blue",
                    label=f"measuring {duration:g} s of load ...")
        else:
            ax.plot(row["pool_size"], row["throughput"], "o", ms=10, color="tab:blue",
                    label=f"measured: {row['throughput'].item():,.0f}/s, p99 {row['p99'].item() * 1e3:.1f} ms")
        finish(ax, xlabel="pool size P", ylabel="requests/s", legend="inside")
        plt.close(fig)
        with out:
            out.clear_output(wait=True)
            display(fig)

    def draw(*_: Any) -> None:
        lab.toxics.set_latency(rtt.value / 1e3)
        key = f"{rtt.value}"
        if key not in measured:
            m = P.measure_ceilings(lab, duration=0.2)
            measured[key] = m.service_time
            measured["x"] = m.cpu_ceiling
        s, x = measured[key], measured["x"]
        show(s, x)
        show(s, x, P.sweep(lab, pairs=[(psize.value, conc.value)], duration=duration))

    for s_ in (psize, conc, rtt):
        s_.observe(draw, names="value")
    box = w.VBox([w.HBox([psize, conc, rtt]), out])
    draw()
    return box
