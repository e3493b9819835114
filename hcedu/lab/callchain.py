"""Call-chain lab (chapter 06): a request tree on a ``VirtualClock``, with and without deadline propagation.

The tree is the source's 请求链路传播 diagram made concrete::

    handler (timeout T) -> service -> fan-out: db, cache, search, recommend (in parallel)
                                   -> then render (sequential, needs the fan-out's results)

Every request runs real :mod:`hcedu.go.context` objects on its own ``VirtualClock``: the handler
makes ``with_timeout(background(), T)``. With **propagation**, every layer derives its context
from its caller's (``with_cancel(ctx)``), so when the handler's timer fires, cancellation races
down the tree synchronously and each call stops at the deadline (Go:
``select { case <-ctx.Done(): return ctx.Err(); case r := <-work: ... }``); a layer that sees
``ctx.err()`` does not start its next step. **Without** it (the classic bug: a service calls its
downstreams with ``context.Background()``), the handler still answers 504 at ``T``, but the service
and downstreams keep working for a client that has gone: wasted work.

Data flows one way: :func:`simulate` returns a tidy DataFrame of spans, :func:`sweep` a frame of
metrics per timeout, and the chart functions take frames and return Figures. Deterministic for a
given seed (latencies are drawn per request from ``numpy.random.default_rng(seed + request)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import _validate
from ..clock import VirtualClock
from ..go import context as gocontext
from .plot import Span, finish, timeline

if TYPE_CHECKING:
    from ipywidgets import Widget
    from matplotlib.figure import Figure

__all__ = ["Model", "DEFAULT_MODEL", "simulate", "summarize", "sweep", "chart_timeline", "chart_sweep",
           "dashboard"]


@dataclass(frozen=True)
class Model:
    """Latencies in seconds: fixed overheads, and (median, sigma) of a lognormal per downstream call."""

    handler_overhead: float = 0.002
    service_overhead: float = 0.003
    downstream: dict = field(default_factory=lambda: {
        "db": (0.020, 0.5), "cache": (0.003, 0.3), "search": (0.030, 0.6), "recommend": (0.035, 0.8)})
    render: tuple = (0.008, 0.3)


DEFAULT_MODEL = Model()

SPAN_COLUMNS = ["request", "span", "parent", "depth", "start", "end", "status", "err", "deadline",
                "handler_end", "wasted"]


def _lognormal(rng: Any, median: float, sigma: float) -> float:
    import math

    return float(median * math.exp(sigma * rng.standard_normal()))


def _run_request(i: int, timeout: float, propagate: bool, model: Model, seed: int) -> list[dict]:
    import numpy as np

    rng = np.random.default_rng(seed + i)
    lat = {name: _lognormal(rng, m, s) for name, (m, s) in sorted(model.downstream.items())}
    lat["render"] = _lognormal(rng, *model.render)
    clock = VirtualClock()
    spans: list[dict] = []
    bg = gocontext.background()
    root, cancel_root = gocontext.with_timeout(bg, timeout, clock=clock)

    def child_ctx(parent_ctx: Any) -> tuple[Any, Any]:
        return gocontext.with_cancel(parent_ctx if propagate else bg)

    def open_span(name: str, parent: str | None, depth: int, ctx: Any) -> dict:
        rec = dict(request=i, span=name, parent=parent, depth=depth, start=clock.now(), end=None,
                   status=None, err="", deadline=ctx.deadline())
        spans.append(rec)
        return rec

    def close(rec: dict, status: str, err: str = "") -> bool:
        if rec["status"] is not None:
            return False
        rec.update(end=clock.now(), status=status, err=err)
        return True

    def call(name: str, parent: str, depth: int, ctx: Any, latency: float, on_end: Any) -> None:
        """A leaf call: done after ``latency`` unless ``ctx`` ends first (checked when its deadline fires)."""
        rec = open_span(name, parent, depth, ctx)

        def finish() -> None:
            if close(rec, "ok"):
                on_end()

        t = clock.after(latency, finish)
        dl = ctx.deadline()
        if dl is not None and dl < clock.now() + latency:
            def check() -> None:  # select { case <-ctx.Done(): ... }: the context's timer fired just before
                err = ctx.err()
                if err is not None and close(rec, "canceled", str(err)):
                    t.cancel()
                    on_end()

            clock.after(max(0.0, dl - clock.now()), check)

    # handler -> service -> fan-out -> render
    h_rec = open_span("handler", None, 0, root)
    s_ctx, s_cancel = child_ctx(root)

    def handler_done(status: str, err: str = "") -> None:
        close(h_rec, status, err)

    def service_start() -> None:
        s_rec = open_span("service", "handler", 1, s_ctx)
        pending = set(lat) - {"render"}
        d_ctxs = {}

        def service_end(status: str, err: str = "") -> None:
            if close(s_rec, status, err):
                s_cancel()
                if status == "ok":
                    handler_done("ok")

        def after_fanout() -> None:
            if s_ctx.err() is not None:  # a layer that sees the cancel does not start its next step
                service_end("canceled", str(s_ctx.err()))
                return
            r_ctx, r_cancel = child_ctx(s_ctx)

            def rendered() -> None:
                err = s_ctx.err() or r_ctx.err()
                r_cancel()
                if err is not None:
                    service_end("canceled", str(err))
                else:
                    service_end("ok")

            call("render", "service", 2, r_ctx, lat["render"], rendered)

        def one_done(name: str) -> None:
            d_ctxs[name][1]()
            pending.discard(name)
            if not pending:
                after_fanout()

        def fan_out() -> None:
            for name in sorted(pending):
                d_ctxs[name] = child_ctx(s_ctx)
                call(name, "service", 2, d_ctxs[name][0], lat[name], lambda n=name: one_done(n))

        clock.after(model.service_overhead, fan_out)

    clock.after(model.handler_overhead, service_start)

    def deadline_hit() -> None:  # the handler selects on its ctx: it answers at the deadline
        handler_done("timeout", str(root.err()))

    clock.after(timeout, deadline_hit)
    clock.run_until_idle()
    cancel_root()
    s_cancel()
    h_end = h_rec["end"]
    timed_out = h_rec["status"] == "timeout"
    for rec in spans:
        rec["handler_end"] = h_end
        if rec["status"] is None:  # never finished (cannot happen with a finite latency)
            rec.update(end=clock.now(), status="abandoned")
        rec["wasted"] = max(0.0, rec["end"] - max(rec["start"], h_end)) if (timed_out and rec["depth"] == 2) else 0.0
    return spans


def simulate(requests: int = 200, timeout: float = 0.08, propagate: bool = True, *,
             model: Model = DEFAULT_MODEL, seed: int = 0):
    """Run ``requests`` independent requests; return a tidy DataFrame of spans.

    Columns: ``request``, ``span`` (handler/service/db/cache/search/recommend/render), ``parent``,
    ``depth``, ``start``, ``end`` (seconds since the request began), ``status`` (ok, canceled,
    timeout), ``err``, ``deadline`` (the span's context deadline, NaN if none), ``handler_end``
    (when the client got its answer) and ``wasted`` (seconds of downstream work done after the
    client was answered with a timeout). ValueError for ``requests < 1`` or ``timeout <= 0``.
    """
    import pandas as pd

    requests = _validate.integer("requests", requests, minimum=1, maximum=100_000)
    timeout = _validate.number("timeout", timeout, minimum=0, strict=True)
    if not isinstance(propagate, bool):
        raise TypeError(f"propagate must be a bool (got {type(propagate).__name__})")
    seed = _validate.integer("seed", seed)
    rows: list[dict] = []
    for i in range(requests):
        rows.extend(_run_request(i, timeout, propagate, model, seed))
    df = pd.DataFrame(rows, columns=SPAN_COLUMNS)
    df["deadline"] = df["deadline"].astype(float)
    return df


def summarize(spans) -> dict:
    """Per-run metrics: success rate, client p50/p99 (s), wasted downstream seconds per request, and
    the p99 of when the last downstream call stopped (how long the backend stays busy)."""
    h = spans[spans.span == "handler"]
    down = spans[spans.depth == 2]
    last = down.groupby("request")["end"].max()
    n = len(h)
    return {
        "requests": n,
        "success": float((h.status == "ok").mean()),
        "client_p50": float(h["end"].quantile(0.5)),
        "client_p99": float(h["end"].quantile(0.99)),
        "wasted_per_request": float(down["wasted"].sum() / n),
        "backend_busy_p99": float(last.quantile(0.99)),
        "downstream_calls": int(len(down)),
    }


def sweep(timeouts=(0.03, 0.05, 0.08, 0.12, 0.2), requests: int = 200, *, model: Model = DEFAULT_MODEL,
          seed: int = 0):
    """``summarize`` for every timeout, with and without propagation: a tidy DataFrame (one row each)."""
    import pandas as pd

    rows = []
    for t in timeouts:
        for propagate in (True, False):
            m = summarize(simulate(requests, t, propagate, model=model, seed=seed))
            rows.append({"timeout": float(t), "propagate": propagate, **m})
    return pd.DataFrame(rows)


_COLORS = {"ok": "#4c9a2a", "canceled": "#d98c1f", "timeout": "#c0392b", "abandoned": "#777"}


def chart_timeline(spans, request: int = 0, ax: Any = None, title: str | None = None) -> "Figure":
    """Gantt chart of one request's spans, coloured by status, with the deadline and the client's answer
    (one lane per span, drawn with :func:`hcedu.lab.plot.timeline`); on ``ax`` if given."""
    import matplotlib.pyplot as plt

    r = spans[spans.request == request].reset_index(drop=True)
    if r.empty:
        raise ValueError(f"request {request} is not in the frame")
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 3.2))
    order = list(r["span"])
    timeline(ax, order, [Span(row["span"], row["start"] * 1e3, row["end"] * 1e3, text=row["status"],
                              text_after=True, color=_COLORS.get(row["status"], "#999"), alpha=1.0)
                         for _, row in r.iterrows()],
             lane_labels=["  " * int(d) + s for s, d in zip(order, r["depth"])])
    h_end = r["handler_end"].iloc[0] * 1e3
    dl = r.loc[r.span == "handler", "deadline"].iloc[0] * 1e3
    ax.axvline(dl, color="#c0392b", ls="--", lw=1, label="deadline")
    ax.axvline(h_end, color="#333", ls=":", lw=1, label="client answered")
    # the legend goes below the axes: inside, it covered the last span (render)
    finish(ax, title=title or f"request {request}", xlabel="ms since the request arrived", legend="below",
           tight=fig is not None)
    return ax.figure


def chart_sweep(df) -> "Figure":
    """Two panels vs timeout: wasted downstream ms per request, and backend-busy p99 vs client p99."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    for propagate, g in df.groupby("propagate", sort=False):
        label = "propagated" if propagate else "not propagated"
        a.plot(g["timeout"] * 1e3, g["wasted_per_request"] * 1e3, marker="o", label=label)
        b.plot(g["timeout"] * 1e3, g["backend_busy_p99"] * 1e3, marker="o", label=f"backend busy p99, {label}")
    client = df[df.propagate].sort_values("timeout")
    b.plot(client["timeout"] * 1e3, client["client_p99"] * 1e3, "k--", lw=1, label="client p99 (both)")
    finish(a, title="Work done for clients that already left", xlabel="handler timeout (ms)",
           ylabel="wasted downstream ms / request", legend="inside", tight=False)
    return finish(b, title="How long the backend keeps working", xlabel="handler timeout (ms)", ylabel="ms",
                  legend="inside")


def dashboard(requests: int = 100, seed: int = 0) -> "Widget":
    """An ipywidgets control: a timeout slider and a request picker redraw both timelines side by side,
    titled with that timeout's wasted work per request and backend-busy p99 over ``requests`` requests."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    def show(timeout_ms: int = 80, request: int = 0) -> None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), sharex=True)
        for ax, propagate in zip(axes, (True, False)):
            df = simulate(requests, timeout_ms / 1e3, propagate, seed=seed)
            m = summarize(df)
            chart_timeline(df, request, ax=ax, title=(
                f"{'propagated' if propagate else 'not propagated'}: {requests} requests, "
                f"wasted {m['wasted_per_request'] * 1e3:.1f} ms/req, backend p99 {m['backend_busy_p99'] * 1e3:.0f} ms"))
        fig.tight_layout()
        plt.show()

    return w.interactive(show, timeout_ms=w.IntSlider(value=80, min=10, max=200, step=10, description="timeout ms"),
                         request=w.IntSlider(value=0, min=0, max=requests - 1, description="request"))
