"""Chapter 08's figures and dashboard: scenario timelines, the Redlock chart, contention curves.

:func:`timeline_chart` draws any :class:`~hcedu.lab.lockscenarios.Scenario` as a per-client timeline;
:func:`redlock_chart` the fleet results; :func:`contention_chart` the measurements; :func:`dashboard` the
interactive TTL/pause explorer over :func:`~hcedu.lab.lockscenarios.pause_past_ttl`.
"""

from __future__ import annotations

from typing import Callable

import pandas as pd
import redis

from .lockscenarios import KEY, Scenario, pause_past_ttl

__all__ = ["timeline_chart", "redlock_chart", "contention_chart", "dashboard"]

# -- charts ---------------------------------------------------------------------------------------------

_COLORS = {"A": "tab:blue", "B": "tab:orange", "C": "tab:green", "client 1": "tab:blue", "client 2": "tab:orange"}


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


def timeline_chart(scenario: Scenario, title: str | None = None):
    """Two-client timeline: per client, a wide pale bar while it *believes* it holds the lock, a narrow
    dark bar while Redis says it does, hatching while paused/hung, markers for each step (▲ acquire,
    ▼ release, ● accepted write, ■ ownership check, | renewal, red ✕ a refused or failed step) and a
    dotted line where the lease expired. Red bands: two clients believe they hold the lock at once."""
    import matplotlib.pyplot as plt

    df = scenario.frames
    actors = [a for a in ["A", "B", "C"] if a in set(df["actor"])]
    end = float(df["t"].max()) + 2
    times = list(df["t"])
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.8 * len(actors)))
    ypos = {a: len(actors) - 1 - i for i, a in enumerate(actors)}
    for a in actors:
        y = ypos[a]
        believe = [a in (b.split("+") if b else []) for b in df["believers"]]
        held = [h == a for h in df["holder"]]
        ax.broken_barh(_intervals(times, believe, end), (y - 0.3, 0.6), color=_COLORS[a], alpha=0.25)
        ax.broken_barh(_intervals(times, held, end), (y - 0.1, 0.2), color=_COLORS[a], alpha=0.9)
        rows = df[df["actor"] == a]
        starts = rows[rows["event"].isin(["pause", "hang"])]["t"].tolist()
        stops = rows[rows["event"] == "resume"]["t"].tolist()
        for i, s0 in enumerate(starts):
            s1 = stops[i] if i < len(stops) else end
            ax.broken_barh([(s0, s1 - s0)], (y - 0.3, 0.6), facecolor="none", edgecolor="gray", hatch="//")
    overlap = [len(b.split("+")) >= 2 if b else False for b in df["believers"]]
    for s0, w in _intervals(times, overlap, end):
        ax.axvspan(s0, s0 + w, color="red", alpha=0.12, lw=0)
    marks = {"acquire": "^", "release": "v", "write": "o", "renew": "|", "check": "s"}
    for r in df.itertuples():
        if r.actor == "redis":
            ax.axvline(r.t, color="gray", ls=":", lw=1)
            ax.text(r.t, len(actors) - 0.45, " lease expires", fontsize=7, color="gray", va="bottom")
            continue
        if r.event not in marks:
            continue
        y = ypos[r.actor]
        failed = r.ok is False
        ax.plot(r.t, y + 0.42, marker="x" if failed else marks[r.event], color="red" if failed else "black",
                ms=7, ls="none")
        if r.event == "write" or (r.event == "release" and r.detail == "plain DEL"):
            label = f"fence {r.fence}" if r.event == "write" else "DEL"
            ax.text(r.t, y - 0.48, label, fontsize=7, ha="center", va="top")
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color="gray", alpha=0.25, label="believes it holds the lock"),
                       Patch(color="gray", alpha=0.9, label="Redis says it holds it"),
                       Patch(facecolor="none", edgecolor="gray", hatch="//", label="paused / hung"),
                       Patch(color="red", alpha=0.12, label="two holders")],
              loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=4, fontsize=7, frameon=False)
    ax.set_yticks([ypos[a] for a in actors], [f"client {a}" for a in actors])
    ax.set_ylim(-0.7, len(actors) - 0.2)
    ax.set_xlim(-0.5, end)
    ax.set_xlabel("time (s, virtual)")
    ax.set_title(title or scenario.title, fontsize=10)
    fig.tight_layout()
    plt.close(fig)  # returned, not also drawn by pyplot: the cell shows it once
    return fig


def redlock_chart(outage: pd.DataFrame | None = None, jump: Scenario | None = None):
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
        f = jump.frames
        steps = list(dict.fromkeys(f["t"]))
        nodes = list(dict.fromkeys(f["node"]))
        for r in f.itertuples():
            y = len(nodes) - 1 - nodes.index(r.node)
            if r.holder:
                ax.broken_barh([(r.t, 1)], (y - 0.35, 0.7), color=_COLORS[r.holder], alpha=0.8)
        ax.set_yticks(range(len(nodes)), list(reversed(nodes)))
        ax.set_xticks([s + 0.5 for s in steps], ["start", "1 acquires", "C jumps", "2 acquires"], fontsize=8)
        ax.set_xlim(0, max(steps) + 1)
        ax.set_title("clock jump: blue = client 1, orange = client 2", fontsize=10)
        ax.grid(False)
    fig.tight_layout()
    plt.close(fig)  # returned, not also drawn by pyplot: the cell shows it once
    return fig


def dashboard(client_factory: Callable[[], redis.Redis], *, key: str = KEY):
    """Watch it: sliders for the lease (TTL) and A's pause, and a fenced/unfenced switch, redrawing the
    :func:`pause_past_ttl` timeline. Returns an ``ipywidgets.interactive`` whose ``result`` is the last
    :class:`Scenario`."""
    import ipywidgets as W
    from IPython.display import display

    def show(ttl: int = 10, pause: int = 15, fenced: bool = True) -> Scenario:
        sc = pause_past_ttl(client_factory, fenced=fenced, ttl=ttl, pause=pause, key=key)
        rejected = ", ".join(f"{who}'s write (fence {fence})" for who, fence in sc.summary["rejected"]) or "none"
        holders = "two clients believed they held the lock" if sc.summary["two_holders"] else "one holder at a time"
        display(timeline_chart(sc, f"TTL {ttl} s, pause {pause} s, {'fenced' if fenced else 'unfenced'} storage: "
                                   f"{holders}; writes rejected: {rejected}"))
        return sc

    return W.interactive(show, ttl=W.IntSlider(10, min=2, max=30, description="TTL (s)"),
                         pause=W.IntSlider(15, min=1, max=40, description="pause (s)"),
                         fenced=W.Checkbox(True, description="fenced storage"))


def contention_chart(df: pd.DataFrame):
    """Throughput (left) and p99 acquire latency (right) vs contenders, one line per (impl, poll, mode)."""
    import matplotlib.pyplot as plt

    from .plot import finish

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
