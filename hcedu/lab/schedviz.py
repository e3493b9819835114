"""Watching Go's scheduler: a Gantt timeline of :mod:`hcedu.go.sched` runs and a dashboard to turn its knobs.

* :func:`chart_gantt` — which G ran on which P (or core) over time; blocking syscalls drawn on their own lanes
  (an M blocked outside any P); steals (▼), hand-offs (◆) and preemptions (✕: sysmon's in ``gmp``, the
  kernel's time slice in ``1:1``) marked on the P that saw them.
* :func:`chart_gantt_compare` — the same workload under several runs, stacked on one time axis.
* :func:`metrics_table` — the headline metrics of several runs, one row each.
* :func:`dashboard` — ipywidgets: GOMAXPROCS, goroutine count, syscall share, preemption and model; the
  timeline and metrics redraw on every change. Deterministic: the workload is seeded.

Chart functions take a :class:`~hcedu.go.sched.SimResult` and return a matplotlib ``Figure``; the lanes are
drawn by :func:`hcedu.lab.plot.timeline`, like every lane chart of the course.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import pandas as pd

from .. import _validate
from ..go import sched

if TYPE_CHECKING:
    from ipywidgets import Widget
    from matplotlib.figure import Figure

__all__ = ["chart_gantt", "chart_gantt_compare", "metrics_table", "dashboard", "mixed_workload"]

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


def _sys_lanes(result: sched.SimResult, max_sys_lanes: int) -> list[int]:
    """The syscall lane of each blocking-syscall segment (in start order), at most ``max_sys_lanes`` lanes."""
    sys_segs = result.segments[result.segments["p"] < 0].sort_values("start")
    return [min(lane, max_sys_lanes - 1) for lane in _lanes(sys_segs)]


def _draw(result: sched.SimResult, ax, *, legend: bool = True, max_sys_lanes: int = 4,
          label_min: float = 0.045) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    from .plot import Span, finish, timeline

    cmap = plt.get_cmap("tab20")
    segs = result.segments
    nps = result.gomaxprocs if result.model != "n:1" else 1
    unit = "core" if result.model == "1:1" else ("thread" if result.model == "n:1" else "P")
    p_lanes = [f"{unit}{i}" for i in range(nps)]   # P0 on top
    sys_segs = segs[segs["p"] < 0].sort_values("start")
    sys_lane_of = _sys_lanes(result, max_sys_lanes)
    n_sys = max(sys_lane_of) + 1 if sys_lane_of else 0
    sys_lanes = [f"syscall{k}" for k in range(n_sys)]
    on_p = segs[segs["p"] >= 0]
    span = max(result.metrics["makespan"], 1e-9)
    few = result.metrics["goroutines"] <= 12     # few Gs: name the narrow bars too, under the lane
    spans, narrow = [], {}
    for _, s in on_p.iterrows():
        lane = p_lanes[int(s["p"])]
        wide = s["end"] - s["start"] > label_min * span   # name the G where the bar is wide enough
        if s["kind"] == "syscall":
            spans.append(Span(lane, s["start"], s["end"], color="grey", height=0.8, hatch="///",
                              text=s["name"] if wide else None))
        else:
            spans.append(Span(lane, s["start"], s["end"], color=to_hex(cmap(int(s["g"]) % 20)), alpha=1.0,
                              height=0.8, text=s["name"] if wide else None))
        if not wide and few:
            narrow.setdefault(lane, []).append((s["start"], s["end"], s["name"]))
    for (_, s), k in zip(sys_segs.iterrows(), sys_lane_of):
        spans.append(Span(sys_lanes[k], s["start"], s["end"], color=to_hex(cmap(int(s["g"]) % 20)), height=0.7,
                          hatch="///"))
    labels = p_lanes + ["syscall (M blocked)" if k == 0 else "" for k in range(n_sys)]
    ypos = timeline(ax, p_lanes + sys_lanes, spans, lane_labels=labels)
    for lane, bars in narrow.items():   # runs of adjacent narrow bars share one label: "req0–req1"
        run: list = []
        for bar in sorted(bars) + [None]:
            if run and (bar is None or bar[0] - run[-1][1] > label_min * span):
                names = list(dict.fromkeys(b[2] for b in run))
                text = names[0] if len(names) == 1 else f"{names[0]}–{names[-1]}"
                ax.text((run[0][0] + run[-1][1]) / 2, ypos[lane] - 0.42, text, ha="center", va="top", fontsize=6)
                run = []
            if bar is not None:
                run.append(bar)
    if sys_lanes:
        ax.axhline(ypos[sys_lanes[0]] + 0.5, color="grey", lw=0.6)
    ev = result.events
    for name, (marker, color, label) in _MARKERS.items():
        sub = ev[(ev["event"] == name) & (ev["p"] >= 0)]
        if len(sub):
            ax.scatter(sub["time"], [ypos[p_lanes[int(p)]] + 0.45 for p in sub["p"]], marker=marker, s=28,
                       color=color, zorder=5, label=f"{label} ({len(sub)})")
    ax.set_xlim(0, span * 1.01)
    finish(ax, xlabel="virtual time (ms)", legend="outside" if legend else None, tight=False)


def chart_gantt(result: sched.SimResult, *, title: str | None = None, max_sys_lanes: int = 4) -> "Figure":
    """A Gantt chart of one run: a row per P (core), one colour per G, syscall lanes, event markers."""
    import matplotlib.pyplot as plt

    from .plot import finish

    if not isinstance(result, sched.SimResult):
        raise TypeError(f"result must be a SimResult (got {type(result).__name__})")
    max_sys_lanes = _validate.integer("max_sys_lanes", max_sys_lanes, minimum=1)
    nps = result.gomaxprocs if result.model != "n:1" else 1
    n_sys = max(_sys_lanes(result, max_sys_lanes) or [-1]) + 1
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.42 * (nps + n_sys)))
    _draw(result, ax, max_sys_lanes=max_sys_lanes)
    m = result.metrics
    return finish(ax, title=title or f"{result.model}: GOMAXPROCS={m['gomaxprocs']}, {m['goroutines']} Gs, "
                  f"preemption {'on' if m['preemption'] else 'off'} — makespan {m['makespan']:.1f} ms")


def chart_gantt_compare(results: Sequence[sched.SimResult], *, titles: Sequence[str] | None = None) -> "Figure":
    """Several runs stacked on one shared time axis (e.g. ``gmp`` vs ``1:1`` vs ``n:1`` on one workload)."""
    import matplotlib.pyplot as plt

    results = list(results)
    if not results or not all(isinstance(r, sched.SimResult) for r in results):
        raise TypeError("results must be a non-empty list of SimResult")
    heights = [(r.gomaxprocs if r.model != "n:1" else 1) + max(_sys_lanes(r, 4) or [-1]) + 1 + 0.8
               for r in results]
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


def mixed_workload(goroutines: int, syscall_share: float, *, seed: int = 0) -> list[sched.GSpec]:
    """The dashboard's workload: ``goroutines`` Gs (seeded), a share of waits being blocking syscalls, the
    rest network waits, plus one 40 ms CPU hog so preemption has something to do."""
    goroutines = _validate.integer("goroutines", goroutines, minimum=1)
    syscall_share = _validate.number("syscall_share", syscall_share, minimum=0, maximum=1)
    wl = sched.mixed(goroutines, seed=seed, syscall_share=0.5 * syscall_share, net_share=0.5 * (1 - syscall_share),
                     steps=4, burst=2.0, io=3.0, spread=4.0)
    return [sched.GSpec("hog", (("cpu", 40.0),))] + wl


def dashboard(*, gomaxprocs: int = 4, goroutines: int = 16, syscall_share: float = 0.3, preemption: bool = True,
              model: str = "gmp", seed: int = 0) -> "Widget":
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
            r = sched.simulate(mixed_workload(w_g.value, w_s.value, seed=seed), model=w_m.value,
                               gomaxprocs=w_p.value, preemption=w_pre.value, seed=seed)
            fig = chart_gantt(r)
            display(fig)
            plt.close(fig)
            display(metrics_table([r]))

    for w in (w_p, w_g, w_s, w_pre, w_m):
        w.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox([w_p, w_g, w_s]), W.HBox([w_pre, w_m]), out])
