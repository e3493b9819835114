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
- colours for named actors come from :data:`COLORS` (client A is blue in every chapter).
"""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["COLORS", "color", "finish", "format_bytes"]

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
