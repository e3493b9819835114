"""Figures for the cache interleavings: one run's timeline, strategies compared, the delay sweep.

Each takes what :mod:`hcedu.lab.interleave_runs` returns (:class:`~hcedu.lab.interleave_runs.Outcome` or
a frame) and returns a matplotlib ``Figure``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from .. import _validate
from .interleave_runs import Outcome
from .plot import Span, finish, timeline

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["chart_timeline", "chart_compare", "chart_delay"]

# -- charts ---------------------------------------------------------------------------------------------

def chart_timeline(outcome: Outcome, title: str | None = None) -> "Figure":
    """A sequence diagram of one run: a lane per actor (each step a labelled box, in order), and a cache
    lane showing the cached version after each step, red while it is older than the newest."""
    import matplotlib.pyplot as plt

    trace = outcome.trace
    actors = list(dict.fromkeys(row["actor"] for row in trace))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.25 * len(trace) + 1.5), 0.7 * (len(actors) + 1) + 1.4))
    spans = []
    for i, row in enumerate(trace):
        label = row["op"].replace("_", " ") + (f"\n{row['detail']}" if row["detail"] else "")
        spans.append(Span(row["actor"], i - 0.45, i + 0.45, text=label, fontsize=8, alpha=1.0, height=0.7,
                          color="#dbe9f6" if row["actor"].startswith("r") else "#f6e3c8"))
        cache, truth = row["cache"], row["truth"]
        stale = cache is not None and cache < truth
        spans.append(Span("cache", i - 0.45, i + 0.45, color="#e06666" if stale else "#93c47d", alpha=1.0,
                          text="miss" if cache is None else f"v{cache}", fontsize=8))
    ypos = timeline(ax, [*actors, "cache"], spans)
    end = len(trace)
    if outcome.final_stale:
        ax.annotate(f"stale until TTL\n(+{outcome.ttl:g} s)", (end - 0.5, ypos["cache"]), (end + 0.1, ypos["cache"]),
                    va="center", fontsize=8, color="#a61c00")
    ax.set_xlim(-0.7, end + 1.2)
    # one tick per step, numbered, with the virtual time it ran at: actors move concurrently, so two steps of
    # different actors can share a millisecond
    finish(ax, title=title or f"{outcome.strategy}: {' '.join(outcome.schedule)}",
           xlabel="step no. / virtual time (ms)", legend=None, xticks=range(len(trace)),
           xticklabels=[f"{i + 1}\n{row['t'] * 1000:g} ms" for i, row in enumerate(trace)])
    ax.tick_params(axis="x", labelsize=7)
    return fig


def chart_compare(frame: pd.DataFrame, title: str = "Every schedule, per strategy") -> "Figure":
    """Three panels per strategy: stale-read rate, share of schedules ending stale, longest stale window."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 0.45 * len(frame) + 1.6), sharey=True)
    y = range(len(frame))
    for ax, col, label, color in zip(
            axes, ["stale_read_rate", "final_stale_rate", "max_window_s"],
            ["stale reads / reads", "schedules ending with a stale cache", "longest stale window (s, log)"],
            ["#6fa8dc", "#e06666", "#f6b26b"]):
        values = frame[col].astype(float)
        ax.barh(list(y), values.clip(lower=1e-4) if col == "max_window_s" else values, color=color)
        if col == "max_window_s":
            ax.set_xscale("log")
        finish(ax, xlabel=label, legend=None, tight=False)
    axes[0].set_yticks(list(y), list(frame.index))
    axes[0].invert_yaxis()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def chart_delay(frame: pd.DataFrame, x: str = "replica_lag") -> "Figure":
    """The longest stale window vs ``x`` (``replica_lag`` or ``reader_pause``), one line per double-delete
    delay (dotted: the delay itself). It equals the delay while the second DEL cleans up, and jumps to the
    TTL once ``x`` outlasts the delay."""
    import matplotlib.pyplot as plt

    _validate.choice("x", x, ("replica_lag", "reader_pause"))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for delay, part in frame.groupby("delay"):
        part = part.sort_values(x)
        line, = ax.plot(part[x], part["max_window_s"].clip(lower=1e-3), marker="o", label=f"delay {delay:g} s")
        ax.axvline(delay, color=line.get_color(), linestyle=":", linewidth=1)
    ax.set_yscale("log")
    return finish(ax, title="Delayed double delete: stale until TTL once the lag outlasts the delay",
                  xlabel="replica lag (s)" if x == "replica_lag" else "reader stall before its SET (s)",
                  ylabel="longest stale window (s, log)", legend="outside")
