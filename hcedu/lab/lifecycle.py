"""Chapter 04's experiment and pictures, built on :mod:`hcedu.go.lifecycle` (the Go mirror stays there).

* :func:`leak_experiment` -> DataFrame ``variant, request, live``: goroutines left behind by timed-out requests;
* :func:`chart_live_goroutines` (that frame) and :func:`chart_state_flow` (an :meth:`EventLog.frame`) -> Figure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from .. import _validate
from ..go.chan import Chan, ChanTimeout
from ..go.goroutine import running
from ..go.lifecycle import state_transitions, timed_out_request
from .plot import finish

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["leak_experiment", "chart_live_goroutines", "chart_state_flow"]


def leak_experiment(requests: int = 20, variants: Iterable[str] = ("leaky", "buffered", "ctx")) -> "pd.DataFrame":
    """Run ``requests`` timed-out requests per variant; after each, count the variant's live goroutines.

    Returns a tidy DataFrame ``variant``, ``request`` (1..n), ``live``. Deterministic: the leaky variant
    leaks exactly one goroutine per request; the fixed ones none (each is joined before counting).
    The leaked goroutines are rescued (their channels drained) before returning, so nothing is left.
    """
    import pandas as pd

    requests = _validate.integer("requests", requests, minimum=1, maximum=500)
    rows = []
    rescue: list[Chan] = []
    try:
        for variant in variants:
            _validate.choice("variant", variant, ("leaky", "buffered", "ctx"))
            for i in range(1, requests + 1):
                g = timed_out_request(variant, rescue, i)
                if variant != "leaky":
                    g.join(5)
                live = sum(1 for h in running() if h.name == f"fetch[{variant}]")
                rows.append((variant, i, live))
    finally:
        for ch in rescue:  # un-leak: receive the values the leaked goroutines are stuck sending
            try:
                ch.recv(timeout=5)
            except ChanTimeout:
                pass
    return pd.DataFrame(rows, columns=["variant", "request", "live"])


def chart_live_goroutines(df: "pd.DataFrame") -> "Figure":
    """Line chart of live goroutines after each request, one line per variant; returns the Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.8))
    for variant, g in df.groupby("variant", sort=True):
        # the two fixes both stay at 0: dashed and offset markers keep either line from hiding the other
        ax.plot(g["request"], g["live"], marker="o", ms=3, label=variant,
                linestyle="-" if variant == "leaky" else "--")
    top = max(float(df["live"].max()), 1.0)
    ax.set_ylim(-0.06 * top - 0.5, top * 1.08 + 0.5)   # room below 0, so lines lying on 0 stay visible
    flat = sorted(v for v, g in df.groupby("variant") if (g["live"] == 0).all())
    if flat:
        ax.annotate(f"{' and '.join(flat)}: 0 live after every request", xy=(df["request"].max(), 0),
                    xytext=(0, 8), textcoords="offset points", ha="right", fontsize=8)
    return finish(ax, title="A timed-out caller + unbuffered result channel leaks one goroutine per request",
                  xlabel="requests served (each one timed out)", ylabel="live fetch goroutines",
                  legend="outside", integer_x=True, integer_y=True)


# --- the state-flow diagram, from a real run ---------------------------------------------------

def chart_state_flow(events: "pd.DataFrame", title: str = "Goroutine state flow (from a real run)") -> "Figure":
    """Draw the source's diagram (created → running → cancel? → cleanup → exit) with the number of times
    each transition happened in ``events`` (an :meth:`EventLog.frame`). Returns the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    counts = {(a, b): n for a, b, n in state_transitions(events)}
    workers = events["who"].nunique() if len(events) else 0
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 4)
    ax.axis("off")
    pos = {"created": (0.9, 2.8), "running": (3.2, 2.8), "check": (5.6, 2.8), "cleanup": (5.6, 0.8),
           "exited": (8.6, 0.8)}
    labels = {"created": "created\n(go func)", "running": "running\n(work)", "check": "cancel\nsignal?",
              "cleanup": "cleanup\n(defer)", "exited": "exit\n(stack freed)"}
    for s, (x, y) in pos.items():
        ax.add_patch(FancyBboxPatch((x - 0.75, y - 0.42), 1.5, 0.84, boxstyle="round,pad=0.05",
                                    fc="#e8f0fe" if s != "check" else "#fff4d6", ec="#335"))
        ax.text(x, y, labels[s], ha="center", va="center", fontsize=9)

    def arrow(a: str, b: str, text: str, rad: float = 0.0, dy: float = 0.0) -> None:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        ax.annotate("", xy=(x2 - 0.78 if x2 > x1 else x2, y2 + (0.45 if y2 < y1 else 0)),
                    xytext=(x1 + 0.78 if x2 > x1 else x1, y1 - (0.45 if y2 < y1 else 0)),
                    arrowprops=dict(arrowstyle="->", color="#335", connectionstyle=f"arc3,rad={rad}"))
        ax.text((x1 + x2) / 2, (y1 + y2) / 2 + 0.25 + dy, text, ha="center", fontsize=8, color="#a33")

    arrow("created", "running", f"start ×{counts.get(('created', 'check'), 0)}")
    arrow("running", "check", f"next turn ×{counts.get(('running', 'check'), 0)}")
    ax.annotate("", xy=(pos["running"][0] + 0.3, 3.25), xytext=(pos["check"][0] - 0.3, 3.25),
                arrowprops=dict(arrowstyle="->", color="#a33", connectionstyle="arc3,rad=0.5"))
    ax.text(4.4, 3.8, f"no ×{counts.get(('check', 'running'), 0)}", ha="center", fontsize=8, color="#a33")
    arrow("check", "cleanup", f"yes ×{counts.get(('check', 'cleanup'), 0)}")
    arrow("cleanup", "exited", f"×{counts.get(('cleanup', 'exited'), 0)}")
    return finish(ax, title=f"{title}: {workers} goroutine(s)", legend=None)
