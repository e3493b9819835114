"""Latency percentiles and throughput from a latency frame (what ``redis-benchmark`` and Go's HdrHistogram report).

Every load experiment in the course returns a tidy frame with one row per request; this module turns
it into the numbers an SRE quotes: p50/p95/p99/p999 latency and completed requests per second.

Conventions (shared by every chapter that measures):
  * a *latency frame* has a ``latency`` column in seconds; it may have ``end`` (completion time in
    seconds since the run started) and ``ok`` (bool) columns, and any grouping columns you like;
  * percentiles use the **nearest-rank** definition (the smallest sample with at least q % of the
    samples at or below it), so every reported value is a latency that really happened; with fewer
    than ``100 / (100 - q)`` samples a tail percentile equals the maximum (p999 needs 1000 samples
    to mean anything);
  * an empty input gives NaN percentiles and a count of 0, never an exception;
  * throughput counts requests that *completed* inside a window, divided by the window's length.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .. import _validate

__all__ = ["PERCENTILES", "percentile_label", "percentiles", "throughput", "summarize"]

#: The percentiles the course reports, as numbers (99.9 is labelled ``p999``).
PERCENTILES: tuple[float, ...] = (50.0, 95.0, 99.0, 99.9)


def percentile_label(q: float) -> str:
    """The column name for percentile ``q``: 50 -> ``"p50"``, 99.9 -> ``"p999"``, 99.99 -> ``"p9999"``."""
    q = _validate.number("q", q, minimum=0, maximum=100)
    text = f"{q:g}"
    return "p" + text.replace(".", "")


def _values(data: Any, column: str) -> np.ndarray:
    if isinstance(data, pd.DataFrame):
        if column not in data.columns:
            raise ValueError(f"frame has no {column!r} column (columns: {', '.join(map(str, data.columns))})")
        data = data[column]
    if isinstance(data, (str, bytes)) or not isinstance(data, (pd.Series, np.ndarray, Sequence, Iterable)):
        raise TypeError(f"data must be a DataFrame, Series or sequence of numbers (got {type(data).__name__})")
    try:
        arr = np.asarray(list(data) if not isinstance(data, (pd.Series, np.ndarray)) else data, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("data must contain only numbers (latencies in seconds)") from None
    arr = arr[~np.isnan(arr)]
    if (arr < 0).any():
        raise ValueError(f"latencies must be >= 0 (got {arr.min():g})")
    return arr


def percentiles(data: Any, qs: Iterable[float] = PERCENTILES, *, column: str = "latency") -> pd.Series:
    """Nearest-rank percentiles of the latencies in ``data`` (a frame's ``column``, a Series or a list).

    Returns a Series indexed ``p50``, ``p95``, ``p99``, ``p999`` (for the default ``qs``), in the same
    unit as the input. NaN samples are ignored; an empty input gives NaN for every percentile.
    Raises ``ValueError`` for negative latencies, a missing column or ``q`` outside [0, 100].
    """
    qs = [_validate.number("q", q, minimum=0, maximum=100) for q in qs]
    arr = np.sort(_values(data, column))
    out = {}
    for q in qs:
        if arr.size == 0:
            out[percentile_label(q)] = math.nan
            continue
        rank = max(1, math.ceil(q * arr.size / 100.0 - 1e-9))  # 1-based nearest rank (float-safe)
        out[percentile_label(q)] = float(arr[rank - 1])
    return pd.Series(out, dtype=float)


def throughput(frame: pd.DataFrame, *, start: float | None = None, end: float | None = None,
               window: tuple[float, float] | None = None, ok_only: bool = True) -> float:
    """Completed requests per second in the window ``[start, end]`` (seconds since the run started).

    Uses the frame's ``end`` column (completion times). ``window`` gives both ends at once (a load run's
    own window, e.g. :class:`hcedu.lab.poolexp.PoolRun`'s ``window``); ``start``/``end`` override either
    end. Without them the window is first start to last completion.
    ``ok_only`` counts only rows whose ``ok`` column is True (failed requests are not throughput).
    Returns 0.0 for an empty frame; raises ``ValueError`` for an empty or inverted window.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame (got {type(frame).__name__})")
    if "end" not in frame.columns:
        raise ValueError("frame has no 'end' column (completion time of each request in seconds)")
    if window is not None:
        if not isinstance(window, (tuple, list)) or len(window) != 2:
            raise TypeError(f"window must be a (start, end) pair of seconds (got {window!r})")
        start = window[0] if start is None else start
        end = window[1] if end is None else end
    if start is None:
        start = float((frame["end"] - frame["latency"]).min()) if len(frame) else 0.0
    if end is None:
        end = float(frame["end"].max()) if len(frame) else 0.0
    start = _validate.number("start", start)
    end = _validate.number("end", end)
    if len(frame) == 0:
        return 0.0
    if not end > start:
        raise ValueError(f"end must be > start (got start={start:g}, end={end:g})")
    done = frame[(frame["end"] >= start) & (frame["end"] <= end)]
    if ok_only and "ok" in done.columns:
        done = done[done["ok"]]
    return len(done) / (end - start)


def summarize(frame: pd.DataFrame, by: str | Sequence[str] | None = None, *,
              qs: Iterable[float] = PERCENTILES, unit: str = "ms") -> pd.DataFrame:
    """One row per group: ``requests``, ``errors``, ``throughput`` (ops/s), ``mean`` and percentiles.

    Latency columns are converted to ``unit`` (``"s"``, ``"ms"`` or ``"us"``); percentiles are taken
    over successful requests only (an error's latency is reported by ``errors``, not hidden in p99).
    Groups are sorted by the ``by`` columns; without ``by`` the result has a single row. Each group's
    throughput spans its first start to its last completion.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame (got {type(frame).__name__})")
    _validate.choice("unit", unit, ("s", "ms", "us"))
    scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[unit]
    qs = list(qs)
    keys = [by] if isinstance(by, str) else list(by or [])
    for k in keys:
        if k not in frame.columns:
            raise ValueError(f"frame has no {k!r} column to group by")
    groups = frame.groupby(keys, sort=True) if keys else [((), frame)]
    rows = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        ok = g[g["ok"]] if "ok" in g.columns else g
        row: dict[str, Any] = dict(zip(keys, key))
        row["requests"] = int(len(g))
        row["errors"] = int(len(g) - len(ok))
        row["throughput"] = throughput(g) if ("end" in g.columns and len(g)) else math.nan
        row["mean"] = float(ok["latency"].mean()) * scale if len(ok) else math.nan
        row.update((k, v * scale) for k, v in percentiles(ok, qs).items())
        rows.append(row)
    return pd.DataFrame(rows)
