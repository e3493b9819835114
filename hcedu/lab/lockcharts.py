"""Chapter 08's figures and dashboard: scenario timelines, the Redlock chart, contention curves.

:func:`chart_timeline` draws any :class:`~hcedu.lab.lockscenarios.Scenario` as a per-client timeline (lanes
by :func:`hcedu.lab.plot.timeline`); :func:`chart_redlock` the fleet results; :func:`chart_contention` the
measurements; :func:`dashboard` the interactive TTL/pause explorer over
:func:`~hcedu.lab.lockscenarios.pause_past_ttl`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pandas as pd
import redis

from .lockfleet import ClockJump
from .lockscenarios import KEY, PausePastTTL, Scenario, pause_past_ttl
from .plot import Mark, Span, color, finish, timeline

if TYPE_CHECKING:
    from ipywidgets import Widget
    from matplotlib.figure import Figure

__all__ = ["chart_timeline", "chart_redlock", "chart_contention", "dashboard"]

# -- charts ---------------------------------------------------------------------------------------------

_MARKERS = {"acquire": "^", "release": "v", "write": "o", "renew": "|", "check": "s"}


def _intervals(times: list[float], on: list[bool], end: float) -> list[tuple[float, float]]:
    out, start = [], None
    for t, v in zip(times, on):
        if v and start is None:
            start = t
        elif not v and start is not None:
            out.append((start, t - start))
            start = None
    if start is not None:
        out.append((start, end - start))
    return out


def _lock_spans(df: pd.DataFrame, a: str, end: float) -> list[Span]:
    """Client ``a``'s bars: believes it holds the lock (wide, pale), Redis says it does (narrow, dark),
    paused or hung (hatched)."""
    times = list(df["t"])
    believe = [a in (b.split("+") if b else []) for b in df["believers"]]
    held = [h == a for h in df["holder"]]
    spans = [Span(a, s0, s0 + w, alpha=0.25, height=0.6) for s0, w in _intervals(times, believe, end)]
    spans += [Span(a, s0, s0 + w, alpha=0.9, height=0.2) for s0, w in _intervals(times, held, end)]
    rows = df[df["actor"] == a]
    starts = rows[rows["event"].isin(["pause", "hang"])]["t"].tolist()
    stops = rows[rows["event"] == "resume"]["t"].tolist()
    for i, s0 in enumerate(starts):
        spans.append(Span(a, s0, stops[i] if i < len(stops) else end, color="gray", height=0.6, hatch="//"))
    return spans


def chart_timeline(scenario: Scenario, title: str | None = None) -> "Figure":
    """Two-client timeline: per client, a wide pale bar while it *believes* it holds the lock, a narrow
    dark bar while Redis says it does, hatching while paused/hung, markers for each step (▲ acquire,
    ▼ release, ● accepted write, ■ ownership check, | renewal, red ✕ a refused or failed step) and a
    dotted line where the lease expired. Red bands: two clients believe they hold the lock at once."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    df = scenario.frame
    actors = [a for a in ["A", "B", "C"] if a in set(df["actor"])]
    end = float(df["t"].max()) + 2
    marks = [Mark(r.actor, r.t, "x" if r.ok is False else _MARKERS[r.event],
                  "red" if r.ok is False else "black", dy=0.42)
             for r in df.itertuples() if r.actor != "redis" and r.event in _MARKERS]
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.8 * len(actors)))
    ypos = timeline(ax, actors, [sp for a in actors for sp in _lock_spans(df, a, end)], marks,
                    lane_labels=[f"client {a}" for a in actors])
    overlap = [len(b.split("+")) >= 2 if b else False for b in df["believers"]]
    for s0, w in _intervals(list(df["t"]), overlap, end):
        ax.axvspan(s0, s0 + w, color="red", alpha=0.12, lw=0)
    for r in df.itertuples():
        if r.actor == "redis":
            ax.axvline(r.t, color="gray", ls=":", lw=1)
            ax.text(r.t, len(actors) - 0.45, " lease expires", fontsize=7, color="gray", va="bottom")
        elif r.event == "write" or (r.event == "release" and r.detail == "plain DEL"):
            label = f"fence {r.fence}" if r.event == "write" else "DEL"
            ax.text(r.t, ypos[r.actor] - 0.48, label, fontsize=7, ha="center", va="top")
    ax.set_ylim(-0.7, len(actors) - 0.2)
    ax.set_xlim(-0.5, end)
    finish(ax, title=title or scenario.title, xlabel="time (s, virtual)", legend=None, tight=False)
    ax.legend(handles=[Patch(color="gray", alpha=0.25, label="believes it holds the lock"),
                       Patch(color="gray", alpha=0.9, label="Redis says it holds it"),
                       Patch(facecolor="none", edgecolor="gray", hatch="//", label="paused / hung"),
                       Patch(color="red", alpha=0.12, label="two holders")],
              loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=4, fontsize=7, frameon=False)
    fig.tight_layout()
    plt.close(fig)  # returned, not also drawn by pyplot: the cell shows it once
    return fig


def chart_redlock(outage: pd.DataFrame | None = None, jump: ClockJump | None = None) -> "Figure":
    """Left: which nodes hold the lock as nodes crash (green holds, pale green said yes but was undone
    for want of a quorum, grey down) with the verdict per row. Right: who holds the key on each node through the clock-jump scenario."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    panels = [p for p in (outage, jump) if p is not None]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.0), squeeze=False)
    k = 0
    if outage is not None:
        ax = axes[0][k]
        k += 1
        downs = sorted(outage["down"].unique())
        n = int(outage["node"].max()) + 1
        grid = [[0] * n for _ in downs]
        verdict = {}
        for r in outage.itertuples():
            grid[r.down][r.node] = (2 if r.acquired else 3) if r.holds else (0 if not r.up else 1)
            verdict[r.down] = r.acquired
        ax.imshow(grid, cmap=ListedColormap(["0.6", "white", "tab:green", "#bfe5bf"]), vmin=0, vmax=3,
                  aspect="auto")
        ax.set_xticks(range(n), [chr(65 + i) for i in range(n)])
        ax.set_yticks(range(len(downs)), [f"{d} down: {'acquired' if verdict[d] else 'refused'}" for d in downs])
        ax.set_title(f"quorum {int(outage['quorum'].iloc[0])} of {n}: green holds, pale = said yes then\n"
                     f"undone (no quorum), grey = down", fontsize=9)
        ax.grid(False)
    if jump is not None:
        ax = axes[0][k]
        f = jump.frame
        steps = list(dict.fromkeys(f["t"]))
        timeline(ax, list(dict.fromkeys(f["node"])),
                 [Span(r.node, r.t, r.t + 1, color=color(r.holder), alpha=0.8, height=0.7)
                  for r in f.itertuples() if r.holder])
        ax.set_xticks([s + 0.5 for s in steps], ["start", "1 acquires", "C jumps", "2 acquires"], fontsize=8)
        ax.set_xlim(0, max(steps) + 1)
        ax.grid(False)
        finish(ax, title="clock jump: blue = client 1, orange = client 2", legend=None, tight=False)
    fig.tight_layout()
    plt.close(fig)  # returned, not also drawn by pyplot: the cell shows it once
    return fig


def dashboard(client_factory: Callable[[], redis.Redis], *, key: str = KEY) -> "Widget":
    """Watch it: sliders for the lease (TTL) and A's pause, and a fenced/unfenced switch, redrawing the
    :func:`pause_past_ttl` timeline. Returns an ``ipywidgets.interactive`` whose ``result`` is the last
    :class:`~hcedu.lab.lockscenarios.PausePastTTL`."""
    import ipywidgets as W
    from IPython.display import display

    def show(ttl: int = 10, pause: int = 15, fenced: bool = True) -> PausePastTTL:
        sc = pause_past_ttl(client_factory, fenced=fenced, ttl=ttl, pause=pause, key=key)
        rejected = ", ".join(f"{who}'s write (fence {fence})" for who, fence in sc.rejected) or "none"
        holders = "two clients believed they held the lock" if sc.two_holders else "one holder at a time"
        display(chart_timeline(sc, f"TTL {ttl} s, pause {pause} s, {'fenced' if fenced else 'unfenced'} storage: "
                                   f"{holders}; writes rejected: {rejected}"))
        return sc

    return W.interactive(show, ttl=W.IntSlider(10, min=2, max=30, description="TTL (s)"),
                         pause=W.IntSlider(15, min=1, max=40, description="pause (s)"),
                         fenced=W.Checkbox(True, description="fenced storage"))


def chart_contention(df: pd.DataFrame) -> "Figure":
    """Throughput (left) and p99 acquire latency (right) vs contenders, one line per (impl, poll, mode)."""
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.4))
    for (impl, poll, mode), g in df.groupby(["impl", "poll", "mode"], sort=True):
        style = dict(marker="o", label=f"{impl}, {poll}, {mode}", linestyle="-" if poll == "backoff" else "--")
        a1.plot(g["contenders"], g["throughput"], **style)
        a2.plot(g["contenders"], g["p99_ms"], **style)
    finish(a1, title="throughput: one holder at a time", xlabel="contending clients", ylabel="acquisitions / s",
           legend=None, integer_x=True, ylim_zero=True, tight=False)
    a2.set_yscale("log")
    finish(a2, title="p99 acquire latency grows with the waiters", xlabel="contending clients",
           ylabel="p99 acquire latency (ms, log scale)", legend="outside", integer_x=True)
    plt.close(fig)  # returned, not also drawn by pyplot: the cell shows it once
    return fig
