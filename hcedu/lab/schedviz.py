"""Watching Go's scheduler: a Gantt timeline of :mod:`hcedu.go.sched` runs and a dashboard to turn its knobs.

* :func:`gantt` — which G ran on which P (or core) over time; blocking syscalls drawn on their own lanes
  (an M blocked outside any P); steals (▼), hand-offs (◆) and preemptions (✕: sysmon's in ``gmp``, the
  kernel's time slice in ``1:1``) marked on the P that saw them.
* :func:`gantt_compare` — the same workload under several runs, stacked on one time axis.
* :func:`metrics_table` — the headline metrics of several runs, one row each.
* :func:`dashboard` — ipywidgets: GOMAXPROCS, goroutine count, syscall share, preemption and model; the
  timeline and metrics redraw on every change. Deterministic: the workload is seeded.

Chart functions take a :class:`~hcedu.go.sched.SimResult` and return a matplotlib ``Figure``.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from .. import _validate
from ..go import sched

__all__ = ["gantt", "gantt_compare", "metrics_table", "dashboard", "dashboard_workload"]

_MARKERS = {"steal": ("v", "black", "steal"), "handoff": ("D", "tab:purple", "hand-off (syscall)"),
            "preempt": ("X", "tab:red", "preemption")}
METRIC_COLUMNS = ["model", "gomaxprocs", "preemption", "goroutines", "makespan", "utilisation", "steals",
                  "handoffs", "preemptions", "threads", "latency_p50", "latency_p99"]


def _lanes(segs: pd.DataFrame) -> list[int]:
    """Greedy interval packing: a lane index per segment so overlapping ones never share a lane."""
    ends: list[float] = []
    out = []
    for start, end in zip(segs["start"], segs["end"]):
        for i, e in enumerate(ends):
            if e <= start + 1e-12:
                ends[i] = end
                out.append(i)
                break
        else:
            ends.append(end)
            out.append(len(ends) - 1)
    return out


def _draw(result: sched.SimResult, ax, *, legend: bool = True, max_sys_lanes: int = 4,
          label_min: float = 0.045) -> None:
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab20")
    segs = result.segments
    nps = result.gomaxprocs if result.model != "n:1" else 1
    unit = "core" if result.model == "1:1" else ("thread" if result.model == "n:1" else "P")
    labels = [f"{unit}{i}" for i in range(nps)]
    rows = {i: nps - 1 - i for i in range(nps)}   # P0 on top
    on_p = segs[segs["p"] >= 0]
    span = max(result.metrics["makespan"], 1e-9)
    few = result.metrics["goroutines"] <= 12     # few Gs: name the narrow bars too, under the lane
    narrow: dict[int, list] = {}
    for _, s in on_p.iterrows():
        y = rows[int(s["p"])]
        hatch = "///" if s["kind"] == "syscall" else None
        color = "lightgrey" if s["kind"] == "syscall" else cmap(int(s["g"]) % 20)
        ax.broken_barh([(s["start"], s["end"] - s["start"])], (y - 0.4, 0.8), facecolors=color,
                       edgecolor="white" if hatch is None else "grey", linewidth=0.3, hatch=hatch)
        mid = (s["start"] + s["end"]) / 2
        if s["end"] - s["start"] > label_min * span:   # name the G where the bar is wide enough
            ax.text(mid, y, s["name"], ha="center", va="center", fontsize=7, clip_on=True)
        elif few:
            narrow.setdefault(y, []).append((s["start"], s["end"], s["name"]))
    for y, bars in narrow.items():   # runs of adjacent narrow bars share one label: "req0–req1"
        run: list = []
        for bar in sorted(bars) + [None]:
            if run and (bar is None or bar[0] - run[-1][1] > label_min * span):
                names = list(dict.fromkeys(b[2] for b in run))
                text = names[0] if len(names) == 1 else f"{names[0]}–{names[-1]}"
                ax.text((run[0][0] + run[-1][1]) / 2, y - 0.42, text, ha="center", va="top", fontsize=6)
                run = []
            if bar is not None:
                run.append(bar)
    sys_segs = segs[segs["p"] < 0].sort_values("start")
    if len(sys_segs):
        lanes = [min(lane, max_sys_lanes - 1) for lane in _lanes(sys_segs)]
        n_lanes = max(lanes) + 1
        for (_, s), lane in zip(sys_segs.iterrows(), lanes):
            y = -1 - lane
            ax.broken_barh([(s["start"], s["end"] - s["start"])], (y - 0.35, 0.7), facecolors=cmap(int(s["g"]) % 20),
                           edgecolor="grey", linewidth=0.3, hatch="///", alpha=0.8)
        ax.axhline(-0.5, color="grey", lw=0.6)
        yt = list(range(nps)) + [-1 - k for k in range(n_lanes)]
        yl = labels[::-1] + ["syscall (M blocked)" if k == 0 else "" for k in range(n_lanes)]
    else:
        yt, yl = list(range(nps)), labels[::-1]
    ev = result.events
    handles = []
    for name, (marker, color, label) in _MARKERS.items():
        sub = ev[(ev["event"] == name) & (ev["p"] >= 0)]
        if len(sub):
            h = ax.scatter(sub["time"], [rows[int(p)] + 0.45 for p in sub["p"]], marker=marker, s=28, color=color,
                           zorder=5, label=f"{label} ({len(sub)})")
            handles.append(h)
    ax.set_yticks(yt, yl)
    ax.set_xlabel("virtual time (ms)")
    ax.set_xlim(0, max(result.metrics["makespan"], 1e-9) * 1.01)
    ax.grid(axis="y", visible=False)
    if legend and handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, framealpha=0.8)


def gantt(result: sched.SimResult, *, title: str | None = None, max_sys_lanes: int = 4):
    """A Gantt chart of one run: a row per P (core), one colour per G, syscall lanes, event markers."""
    import matplotlib.pyplot as plt

    if not isinstance(result, sched.SimResult):
        raise TypeError(f"result must be a SimResult (got {type(result).__name__})")
    max_sys_lanes = _validate.integer("max_sys_lanes", max_sys_lanes, minimum=1)
    nps = result.gomaxprocs if result.model != "n:1" else 1
    n_sys = min(max_sys_lanes, max(_lanes(result.segments[result.segments["p"] < 0].sort_values("start")) or [-1]) + 1)
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.42 * (nps + n_sys)))
    _draw(result, ax, max_sys_lanes=max_sys_lanes)
    m = result.metrics
    ax.set_title(title or f"{result.model}: GOMAXPROCS={m['gomaxprocs']}, {m['goroutines']} Gs, "
                 f"preemption {'on' if m['preemption'] else 'off'} — makespan {m['makespan']:.1f} ms", fontsize=10)
    fig.tight_layout()
    return fig


def gantt_compare(results: Sequence[sched.SimResult], *, titles: Sequence[str] | None = None):
    """Several runs stacked on one shared time axis (e.g. ``gmp`` vs ``1:1`` vs ``n:1`` on one workload)."""
    import matplotlib.pyplot as plt

    results = list(results)
    if not results or not all(isinstance(r, sched.SimResult) for r in results):
        raise TypeError("results must be a non-empty list of SimResult")
    heights = []
    for r in results:
        n_sys = min(4, max(_lanes(r.segments[r.segments["p"] < 0].sort_values("start")) or [-1]) + 1)
        heights.append((r.gomaxprocs if r.model != "n:1" else 1) + n_sys + 0.8)
    fig, axes = plt.subplots(len(results), 1, figsize=(9, 0.45 * sum(heights) + 0.6), sharex=True,
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for i, (r, ax) in enumerate(zip(results, axes[:, 0])):
        _draw(r, ax)
        m = r.metrics
        who = {"gmp": "P", "1:1": "cores", "n:1": "threads"}[r.model]
        default = f"{r.model} ({who}={m['gomaxprocs']}, preemption {'on' if m['preemption'] else 'off'}): " \
                  f"makespan {m['makespan']:.1f} ms, p99 latency {m['latency_p99']:.1f} ms"
        ax.set_title(titles[i] if titles else default, fontsize=9, loc="left")
        if i < len(results) - 1:
            ax.set_xlabel("")
    span = max(r.metrics["makespan"] for r in results)
    axes[0, 0].set_xlim(0, span * 1.01)
    fig.tight_layout()
    return fig


def metrics_table(results: Sequence[sched.SimResult], columns: Sequence[str] = METRIC_COLUMNS) -> pd.DataFrame:
    """One row of headline metrics per run (numbers rounded to 0.01 so printed tables are stable)."""
    df = pd.DataFrame([r.metrics for r in results]).reindex(columns=list(columns))
    return df.round(2)


def dashboard_workload(goroutines: int, syscall_share: float, *, seed: int = 0) -> list[sched.GSpec]:
    """The dashboard's workload: ``goroutines`` Gs (seeded), a share of waits being blocking syscalls, the
    rest network waits, plus one 40 ms CPU hog so preemption has something to do."""
    goroutines = _validate.integer("goroutines", goroutines, minimum=1)
    syscall_share = _validate.number("syscall_share", syscall_share, minimum=0, maximum=1)
    wl = sched.mixed(goroutines, seed=seed, syscall_share=0.5 * syscall_share, net_share=0.5 * (1 - syscall_share),
                     steps=4, burst=2.0, io=3.0, spread=4.0)
    return [sched.GSpec("hog", (("cpu", 40.0),))] + wl


def dashboard(*, gomaxprocs: int = 4, goroutines: int = 16, syscall_share: float = 0.3, preemption: bool = True,
              model: str = "gmp", seed: int = 0):
    """An ipywidgets dashboard: sliders for GOMAXPROCS, goroutines and syscall share, a preemption checkbox
    and a model picker; shows the Gantt timeline and the metrics of the seeded run. Returns the widget box."""
    import ipywidgets as W
    import matplotlib.pyplot as plt
    from IPython.display import display

    w_p = W.IntSlider(value=gomaxprocs, min=1, max=8, description="GOMAXPROCS")
    w_g = W.IntSlider(value=goroutines, min=1, max=64, description="goroutines")
    w_s = W.FloatSlider(value=syscall_share, min=0.0, max=1.0, step=0.1, description="syscall share")
    w_pre = W.Checkbox(value=preemption, description="sysmon preemption")
    w_m = W.Dropdown(options=list(sched.MODELS), value=model, description="model")
    out = W.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            r = sched.simulate(dashboard_workload(w_g.value, w_s.value, seed=seed), model=w_m.value,
                               gomaxprocs=w_p.value, preemption=w_pre.value, seed=seed)
            fig = gantt(r)
            display(fig)
            plt.close(fig)
            display(metrics_table([r]))

    for w in (w_p, w_g, w_s, w_pre, w_m):
        w.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox([w_p, w_g, w_s]), W.HBox([w_pre, w_m]), out])
