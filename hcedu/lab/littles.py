"""Little's law, live: a closed loop of C workers sharing P slots ("connections") of service time W.

Little's law (L = λW) bounds a closed system's throughput at ``X = min(C, P) / W``: with fewer
workers than slots each worker adds throughput; past P, extra workers only wait for a slot, and
the mean latency a caller sees grows to ``C / X = C·W / P``. :func:`experiment` measures it with
real threads (the "service" is a sleep on the injected clock, as I/O releases the GIL),
:func:`predict` gives the formula, :func:`chart_closed_loop` draws both.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pandas as pd

from .. import _validate
from ..clock import Clock, as_clock
from .runner import run_workers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["predict", "closed_loop", "experiment", "chart_closed_loop"]


def predict(concurrency: int, slots: int, service_time: float) -> float:
    """Little's-law throughput bound of a closed loop: ``min(concurrency, slots) / service_time`` per second."""
    concurrency = _validate.integer("concurrency", concurrency, minimum=1)
    slots = _validate.integer("slots", slots, minimum=1)
    service_time = _validate.number("service_time", service_time, minimum=0, strict=True)
    return min(concurrency, slots) / service_time


def closed_loop(concurrency: int, slots: int, service_time: float, duration: float,
                clock: Clock | None = None) -> dict:
    """Run ``concurrency`` workers (goroutines) for ``duration`` s on ``clock``; each request takes a slot,
    holds it for ``service_time`` (``clock.sleep``) and releases it. Returns completed requests, elapsed seconds,
    throughput and the mean latency a caller saw (slot wait + service).
    """
    predict(concurrency, slots, service_time)  # validates
    duration = _validate.number("duration", duration, minimum=0, strict=True)
    clock = as_clock(clock)
    pool = threading.BoundedSemaphore(slots)
    counts = [0] * concurrency
    latency = [0.0] * concurrency
    started = clock.monotonic()
    end = started + duration

    def worker(i: int) -> None:
        while clock.monotonic() < end:
            t0 = clock.monotonic()
            with pool:
                clock.sleep(service_time)
            latency[i] += clock.monotonic() - t0
            counts[i] += 1

    run_workers(worker, concurrency, name="hcedu-littles",
                timeout=duration + service_time * (concurrency / slots + 2) + 5).raise_first()
    elapsed = clock.monotonic() - started
    done = sum(counts)
    return {"concurrency": concurrency, "slots": slots, "completed": done, "seconds": elapsed,
            "throughput": done / elapsed, "mean_latency": sum(latency) / done if done else float("nan")}


def experiment(levels: tuple[int, ...] = (1, 2, 4, 8, 16), slots: int = 4, service_time: float = 0.02,
               duration: float = 0.3, clock: Clock | None = None) -> pd.DataFrame:
    """Measure :func:`closed_loop` at each concurrency level; columns ``concurrency, slots, completed,
    seconds, throughput, predicted, mean_latency, predicted_latency``."""
    if not levels:
        raise ValueError("levels must name at least one concurrency level")
    rows = [closed_loop(c, slots, service_time, duration, clock) for c in levels]
    df = pd.DataFrame(rows)
    df["predicted"] = [predict(c, slots, service_time) for c in df.concurrency]
    df["predicted_latency"] = df.concurrency / df.predicted
    return df


def chart_closed_loop(df: pd.DataFrame) -> "Figure":
    """Measured throughput and latency against Little's-law predictions (returns a Figure)."""
    import matplotlib.pyplot as plt

    from .plot import finish

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    ax1.plot(df.concurrency, df.predicted, "--", color="grey", label="Little's law: min(C, P) / W")
    ax1.plot(df.concurrency, df.throughput, "o-", label="measured")
    ax1.set_xscale("log")
    ax1.axvline(df.slots.iloc[0], color="tab:red", alpha=0.4, label=f"P = {df.slots.iloc[0]} slots")
    ax2.plot(df.concurrency, df.predicted_latency * 1000, "--", color="grey", label="C / X (Little)")
    ax2.plot(df.concurrency, df.mean_latency * 1000, "o-", label="measured")
    ax2.set_xscale("log")
    for ax in (ax1, ax2):  # label the measured worker counts, not powers of ten
        ax.minorticks_off()
    ticks, labels = list(df.concurrency), [str(c) for c in df.concurrency]
    finish(ax1, title="Throughput", xlabel="concurrent workers C", ylabel="requests / s", legend="below",
           ylim_zero=True, xticks=ticks, xticklabels=labels)
    finish(ax2, title="Mean latency per request", xlabel="concurrent workers C", ylabel="ms", legend="below",
           ylim_zero=True, xticks=ticks, xticklabels=labels)
    return fig
