"""One helper that finishes every chart (d2l's ``set_axes``): labels, a legend that never covers the
data, integer ticks where things are counted, readable byte and time axes, one colour table.

    fig, ax = plt.subplots()
    ax.bar(...)
    finish(ax, title="...", xlabel="pool size", ylabel="allocations", integer_y=True, legend="outside")
    return fig

Invariants:
- a legend placed by :func:`finish` sits outside the axes (right or below), so no bar or line is hidden;
- ``integer_x``/``integer_y`` put ticks only on whole numbers (goroutine counts, retries, units sold);
- ``bytes_y`` formats an axis as B/KiB/MiB/GiB instead of ``1e7``;
- ``ylim_zero`` starts the y axis at 0 so that a ratio read off bar heights is honest;
- colours for named actors come from :data:`COLORS` (client A is blue in every chapter);
- :func:`timeline` draws every lane chart of the course (lock holders, a request's spans, a P's
  goroutines, a sequence of cache steps): one lane per actor, the first lane on top, spans as bars and
  points in time as markers; the caller adds what is particular to its story and then calls :func:`finish`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

__all__ = ["COLORS", "color", "finish", "format_bytes", "Span", "Mark", "timeline"]

#: One colour per actor or series name used across chapters.
COLORS: dict[str, str] = {
    "A": "tab:blue", "B": "tab:orange", "C": "tab:green", "D": "tab:red",
    "client 1": "tab:blue", "client 2": "tab:orange",
    "ok": "tab:green", "error": "tab:red", "timeout": "tab:red", "cancelled": "tab:gray",
    "naive": "tab:red", "safe": "tab:green", "baseline": "tab:gray",
}
_CYCLE = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
          "tab:olive", "tab:cyan", "tab:gray"]


def color(name: Any, index: int = 0) -> str:
    """The course's colour for ``name`` (an actor or series), else the ``index``-th colour of the cycle."""
    return COLORS.get(str(name), _CYCLE[index % len(_CYCLE)])


def format_bytes(n: float, _pos: Any = None) -> str:
    """``1536`` -> ``'1.5 KiB'``: a tick formatter (and a plain helper) for byte counts."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" or n == int(n) else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def finish(ax: Any, *, title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
           legend: str | None = "outside", integer_x: bool = False, integer_y: bool = False,
           bytes_y: bool = False, ylim_zero: bool = False, xticks: Iterable[Any] | None = None,
           xticklabels: Iterable[str] | None = None, tight: bool = True) -> Any:
    """Finish ``ax`` (an Axes, or an iterable of them for the same settings) and return its Figure.

    ``legend``: ``"outside"`` (right of the axes), ``"below"``, ``"inside"`` (matplotlib's best spot,
    only for charts whose data leaves a corner empty) or ``None`` (no legend).
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axes = list(ax) if isinstance(ax, (list, tuple)) or hasattr(ax, "flat") else [ax]
    if hasattr(ax, "flat"):
        axes = list(ax.flat)
    if legend not in ("outside", "below", "inside", None):
        raise ValueError(f"legend must be 'outside', 'below', 'inside' or None, got {legend!r}")
    for a in axes:
        if title is not None:
            a.set_title(title, fontsize=10)
        if xlabel is not None:
            a.set_xlabel(xlabel)
        if ylabel is not None:
            a.set_ylabel(ylabel)
        if xticks is not None:
            ticks = list(xticks)
            if xticklabels is not None:
                a.set_xticks(ticks, list(xticklabels))
            else:
                a.set_xticks(ticks)
        if integer_x:
            a.xaxis.set_major_locator(MaxNLocator(integer=True))
        if integer_y:
            a.yaxis.set_major_locator(MaxNLocator(integer=True))
        if bytes_y:
            a.yaxis.set_major_formatter(FuncFormatter(format_bytes))
        if ylim_zero:
            a.set_ylim(bottom=0)
        handles, labels = a.get_legend_handles_labels()
        if legend is None or not handles:
            if a.get_legend() is not None and legend is None:
                a.get_legend().remove()
            continue
        if legend == "outside":
            a.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8, frameon=False)
        elif legend == "below":
            a.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=min(len(labels), 4), fontsize=8,
                     frameon=False)
        else:
            a.legend(loc="best", fontsize=8)
    fig = axes[0].figure
    if tight:
        fig.tight_layout()
    return fig


@dataclass(frozen=True)
class Span:
    """A bar on ``lane`` from ``start`` to ``end`` (x units of the chart). ``color`` defaults to the lane's
    course colour; ``height`` is a share of the lane (1 = touching the next); ``hatch`` draws an outline
    with hatching instead of a fill (a pause, a hang); ``text`` is written in the bar's middle, or after
    its end with ``text_after=True``."""

    lane: str
    start: float
    end: float
    color: str | None = None
    alpha: float = 0.9
    height: float = 0.6
    hatch: str | None = None
    text: str | None = None
    text_after: bool = False
    fontsize: float = 7


@dataclass(frozen=True)
class Mark:
    """A point in time on ``lane``: a ``marker`` (matplotlib's: ``^ v o s | x``) ``dy`` above the lane's
    middle, and an optional ``text`` under it."""

    lane: str
    t: float
    marker: str = "o"
    color: str = "black"
    dy: float = 0.0
    text: str | None = None
    size: float = 7


def timeline(ax: Any, lanes: Sequence[str], spans: Iterable[Span] = (), marks: Iterable[Mark] = (), *,
             lane_labels: Sequence[str] | None = None) -> dict[str, float]:
    """Draw a lane chart on ``ax``: one lane per name in ``lanes`` (the first on top), ``spans`` as bars
    and ``marks`` as markers. Returns each lane's y position, for the caller's own additions (a deadline
    line, a red band where two clients hold a lock); finish the chart with :func:`finish`.

    ``ValueError`` names a span or mark whose lane is not in ``lanes``, or a span that ends before it
    starts.
    """
    lanes = list(lanes)
    if len(set(lanes)) != len(lanes):
        raise ValueError(f"lanes must be distinct, got {lanes!r}")
    ypos = {lane: float(len(lanes) - 1 - i) for i, lane in enumerate(lanes)}
    # bars of one look in one lane are drawn by one broken_barh call, markers of one look by one plot call:
    # a Gantt chart of a few hundred spans drew ~1 s slower one artist per span
    bars: dict[tuple, list[tuple[float, float]]] = {}
    for i, s in enumerate(spans):
        if s.lane not in ypos:
            raise ValueError(f"spans[{i}]: lane {s.lane!r} is not one of {lanes!r}")
        if s.end < s.start:
            raise ValueError(f"spans[{i}]: end ({s.end:g}) is before start ({s.start:g})")
        y, h = ypos[s.lane], s.height
        fill = s.color or color(s.lane, lanes.index(s.lane))
        bars.setdefault((y - h / 2, h, fill, s.hatch, s.alpha), []).append((s.start, s.end - s.start))
        if s.text:
            x, ha = (s.end, "left") if s.text_after else ((s.start + s.end) / 2, "center")
            ax.text(x, y, (" " + s.text) if s.text_after else s.text, ha=ha, va="center", fontsize=s.fontsize)
    for (bottom, h, fill, hatch, alpha), xranges in bars.items():
        if hatch:
            ax.broken_barh(xranges, (bottom, h), facecolor="none", edgecolor=fill, hatch=hatch)
        else:
            ax.broken_barh(xranges, (bottom, h), color=fill, alpha=alpha, lw=0)
    dots: dict[tuple, tuple[list[float], list[float]]] = {}
    for i, m in enumerate(marks):
        if m.lane not in ypos:
            raise ValueError(f"marks[{i}]: lane {m.lane!r} is not one of {lanes!r}")
        y = ypos[m.lane] + m.dy
        ts, ys = dots.setdefault((m.marker, m.color, m.size), ([], []))
        ts.append(m.t)
        ys.append(y)
        if m.text:
            ax.text(m.t, y - 0.06, m.text, fontsize=7, ha="center", va="top")
    for (marker, mcolor, size), (ts, ys) in dots.items():
        ax.plot(ts, ys, marker=marker, color=mcolor, ms=size, ls="none")
    labels = list(lane_labels) if lane_labels is not None else lanes
    if len(labels) != len(lanes):
        raise ValueError(f"lane_labels must name each of the {len(lanes)} lanes, got {len(labels)}")
    ax.set_yticks([ypos[lane] for lane in lanes], labels)
    ax.set_ylim(-0.7, len(lanes) - 0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ypos
