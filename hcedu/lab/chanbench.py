"""Measurements for chapters 02-03: channel throughput against ``queue.Queue`` and
``asyncio.Queue`` (Go counterpart: ``BenchmarkChanProdCons*`` in runtime/chan_test.go), and
``sync.Pool``'s effect on allocations, Python GC runs and hit rate (``BenchmarkPool*``).

Every experiment runs real code on real threads (goroutines) and returns a tidy ``pandas.DataFrame``; every
chart takes that frame and returns a matplotlib ``Figure``. Measured numbers vary run to run:
compare rows measured in the same run, never against a stored number.
"""

from __future__ import annotations

import asyncio
import gc as pygc
import queue
import random
import tracemalloc
from typing import TYPE_CHECKING, Callable, Iterable

import pandas as pd

from .. import _validate
from ..clock import REAL, Clock
from ..go import spawn
from ..go.chan import Chan
from ..go.pool import Pool
from ..go.pool import gc as pool_gc
from .runner import run_workers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["KINDS", "pipe_throughput", "throughput_vs_capacity", "throughput_vs_workers",
           "chart_throughput_vs_capacity", "chart_throughput_vs_workers", "mpmc_stress", "Buffer",
           "allocation_experiment", "chart_allocations", "hit_rate_vs_gc", "chart_hit_rate"]

KINDS = ("Chan", "queue.Queue", "asyncio.Queue")
_JOIN = 120.0  # seconds: a measurement that takes longer than this is reported as hung


def _run_pipe(prod: Callable[[int], None], cons: Callable[[int], None], producers: int, consumers: int,
              close: Callable[[], None], timeout: float, what: str, clock: Clock) -> float:
    """Consumers on goroutines, producers under :func:`run_workers`; once every producer has returned,
    ``close()`` ends the consumers. Returns the seconds from the first start to the last consumer's end;
    ``RuntimeError`` names the side still running after ``timeout`` seconds, a worker's exception is raised."""
    t0 = clock.monotonic()
    cs = [spawn(cons, k, name=f"{what}-c{k}", report=False) for k in range(consumers)]
    try:
        run_workers(prod, producers, name=f"{what}-p", timeout=timeout).raise_first()
    except TimeoutError as e:
        raise RuntimeError(f"{what} producer hung") from e
    close()
    for g in cs:
        if not g.join(timeout):
            raise RuntimeError(f"{what} consumer hung")
        if g.exception is not None:
            raise g.exception
    return clock.monotonic() - t0


def _threads_pipe(make_put_get: Callable[[], tuple], n: int, producers: int, consumers: int,
                  sentinel_put: Callable[[], None] | None, close: Callable[[], None] | None,
                  clock: Clock) -> float:
    """Run producers/consumers goroutines; return messages per second."""
    put, get_all = make_put_get

    per = [n // producers + (1 if i < n % producers else 0) for i in range(producers)]
    counts = [0] * consumers

    def prod(k: int) -> None:
        for i in range(per[k]):
            put(i)

    def cons(k: int) -> None:
        counts[k] = get_all()

    def stop() -> None:
        if close is not None:
            close()
        else:
            for _ in range(consumers):
                sentinel_put()

    dt = _run_pipe(prod, cons, producers, consumers, stop, _JOIN, "hcedu-bench", clock)
    if sum(counts) != n:
        raise RuntimeError(f"lost messages: {sum(counts)} of {n}")
    return n / dt


def pipe_throughput(kind: str, cap: int, n: int = 50_000, producers: int = 1,
                    consumers: int = 1, *, clock: Clock = REAL) -> float:
    """Messages per second (on ``clock``) through one ``kind`` of queue with buffer ``cap``, ``producers``
    goroutines sending ``n`` messages in total to ``consumers`` goroutines (tasks for asyncio).

    ``kind`` is one of :data:`KINDS`. ``queue.Queue`` has no unbuffered mode: ``cap=0`` is run as
    ``maxsize=1`` (its closest equivalent; ``maxsize=0`` would mean unbounded).
    """
    _validate.choice("kind", kind, KINDS)
    cap = _validate.integer("cap", cap, minimum=0)
    n = _validate.integer("n", n, minimum=1)
    producers = _validate.integer("producers", producers, minimum=1)
    consumers = _validate.integer("consumers", consumers, minimum=1)
    if kind == "Chan":
        ch = Chan(cap)

        def drain_chan() -> int:
            c = 0
            for _ in ch:
                c += 1
            return c
        return _threads_pipe((ch.send, drain_chan), n, producers, consumers, None, ch.close, clock)
    if kind == "queue.Queue":
        q: queue.Queue = queue.Queue(max(cap, 1))
        stop = object()

        def drain_q() -> int:
            c = 0
            get = q.get
            while get() is not stop:
                c += 1
            return c
        return _threads_pipe((q.put, drain_q), n, producers, consumers, lambda: q.put(stop), None, clock)
    # a goroutine of its own: asyncio.run() refuses to nest inside Jupyter's running event loop
    g = spawn(lambda: asyncio.run(_asyncio_pipe(max(cap, 1), n, producers, consumers, clock)),
              name="hcedu-bench-asyncio", report=False)
    if not g.join(_JOIN):
        raise RuntimeError("asyncio benchmark hung")
    if g.exception is not None:
        raise g.exception
    return g.result


async def _asyncio_pipe(cap: int, n: int, producers: int, consumers: int, clock: Clock) -> float:
    q: asyncio.Queue = asyncio.Queue(cap)
    stop = object()
    per = [n // producers + (1 if i < n % producers else 0) for i in range(producers)]
    counts = [0] * consumers

    async def prod(k: int) -> None:
        for i in range(per[k]):
            await q.put(i)

    async def cons(k: int) -> None:
        c = 0
        while (await q.get()) is not stop:
            c += 1
        counts[k] = c

    t0 = clock.monotonic()
    cs = [asyncio.create_task(cons(k)) for k in range(consumers)]
    await asyncio.gather(*(prod(k) for k in range(producers)))
    for _ in range(consumers):
        await q.put(stop)
    await asyncio.gather(*cs)
    dt = clock.monotonic() - t0
    if sum(counts) != n:
        raise RuntimeError(f"lost messages: {sum(counts)} of {n}")
    return n / dt


def throughput_vs_capacity(caps: Iterable[int] = (0, 1, 8, 128), n: int = 20_000,
                           kinds: Iterable[str] = KINDS, repeats: int = 1) -> pd.DataFrame:
    """One producer -> one consumer, for each buffer size and kind: columns ``kind``, ``cap``,
    ``repeat``, ``msgs_per_s``. Kinds are interleaved per repeat so they share machine load."""
    caps = [_validate.integer("cap", c, minimum=0) for c in caps]
    kinds = [_validate.choice("kind", k, KINDS) for k in kinds]
    repeats = _validate.integer("repeats", repeats, minimum=1)
    rows = []
    for r in range(repeats):
        for c in caps:
            for k in kinds:
                m = n if c else max(1, n // 5)  # rendezvous is slow: fewer messages, same accuracy
                rows.append({"kind": k, "cap": c, "repeat": r,
                             "msgs_per_s": pipe_throughput(k, c, m)})
    return pd.DataFrame(rows)


def throughput_vs_workers(pairs: Iterable[int] = (1, 2, 4, 8), cap: int = 16, n: int = 20_000,
                          kinds: Iterable[str] = KINDS) -> pd.DataFrame:
    """``p`` producers -> ``p`` consumers for each ``p`` in ``pairs``: columns ``kind``,
    ``workers``, ``msgs_per_s``."""
    rows = []
    for p in pairs:
        p = _validate.integer("pairs", p, minimum=1)
        for k in kinds:
            rows.append({"kind": k, "workers": p, "msgs_per_s": pipe_throughput(k, cap, n, p, p)})
    return pd.DataFrame(rows)


def _plt():
    import matplotlib.pyplot as plt
    return plt


def chart_throughput_vs_capacity(df: pd.DataFrame) -> "Figure":
    """Bars of median msgs/s per buffer size, one colour per kind (log scale)."""
    plt = _plt()
    t = df.groupby(["cap", "kind"])["msgs_per_s"].median().unstack("kind")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    t.plot.bar(ax=ax, logy=True, rot=0)
    from .plot import finish

    finish(ax, title="1 producer -> 1 consumer throughput vs buffer size",
           xlabel="buffer size (cap; queue.Queue/asyncio.Queue use maxsize=max(cap,1))",
           ylabel="messages / s (log)", legend="outside")
    plt.close(fig)
    return fig


def chart_throughput_vs_workers(df: pd.DataFrame) -> "Figure":
    """Lines of msgs/s against producer = consumer count, one per kind."""
    plt = _plt()
    t = df.pivot_table(index="workers", columns="kind", values="msgs_per_s")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    t.plot(ax=ax, marker="o")
    from .plot import finish

    finish(ax, title="throughput vs number of producer/consumer pairs", xlabel="producers = consumers",
           ylabel="messages / s", legend="outside", ylim_zero=True, xticks=list(t.index),
           xticklabels=[str(w) for w in t.index])
    plt.close(fig)
    return fig


def mpmc_stress(producers: int = 8, consumers: int = 8, per_producer: int = 100_000,
                cap: int = 64, timeout: float = 600.0, *, clock: Clock = REAL) -> dict:
    """Go's ``TestMultiConsumer`` at scale: ``producers`` goroutines each send ``per_producer``
    tagged messages ``(producer, seq)`` over one ``Chan(cap)`` to ``consumers`` goroutines.
    Returns ``{"sent", "received", "unique", "fifo_ok", "seconds"}``: nothing lost or duplicated
    means ``received == unique == sent``; ``fifo_ok`` means every consumer saw each producer's
    messages in increasing order. Raises ``RuntimeError`` if a goroutine is still running after
    ``timeout`` seconds."""
    ch = Chan(_validate.integer("cap", cap, minimum=0))
    outs: list = [[] for _ in range(consumers)]

    def prod(p: int) -> None:
        for i in range(per_producer):
            ch.send((p, i))

    def cons(k: int) -> None:
        outs[k].extend(ch)

    dt = _run_pipe(prod, cons, producers, consumers, ch.close, timeout, "hcedu-stress", clock)
    fifo_ok = True
    seen: set = set()
    for out in outs:
        last: dict = {}
        for p, i in out:
            if i <= last.get(p, -1):
                fifo_ok = False
            last[p] = i
        seen.update(out)
    return {"sent": producers * per_producer, "received": sum(map(len, outs)), "unique": len(seen),
            "fifo_ok": fifo_ok, "seconds": dt}


# -- sync.Pool -------------------------------------------------------------------------------------

class Buffer:
    """A ``bytes.Buffer`` stand-in: a byte array, a list of chunks, and a flush callback bound to
    itself. That last one is a reference cycle, as many real Python objects hold (callbacks,
    parent links): refcounting cannot free it, only the cyclic GC can, which makes its garbage
    behave like Go's, where every dead buffer is work for the tracing GC."""

    __slots__ = ("data", "parts", "on_flush", "__weakref__")

    def __init__(self, size: int = 4096) -> None:
        self.data = bytearray(size)
        self.parts: list = []
        self.on_flush = self.reset  # bound method -> self: a cycle

    def reset(self) -> None:
        """Go's ``buf.Reset()``: forget the contents, keep the memory."""
        self.parts.clear()

    def write(self, b: bytes) -> None:
        self.parts.append(b)


def _buffer_bytes(size: int) -> int:
    """Bytes one ``Buffer(size)`` allocates, measured with tracemalloc."""
    was = tracemalloc.is_tracing()
    if not was:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    b = Buffer(size)
    b.write(b"x")
    used = tracemalloc.get_traced_memory()[0] - before
    b.on_flush = None
    del b
    if not was:
        tracemalloc.stop()
    return max(used, size)


def _request(buf: Buffer, i: int) -> int:
    buf.write(b"header")
    buf.write(str(i).encode())
    return len(buf.parts)


def allocation_experiment(requests: int = 20_000, buffer_size: int = 4096,
                          modes: Iterable[str] = ("new each time", "sync.Pool"), *,
                          clock: Clock = REAL) -> pd.DataFrame:
    """A buffer-heavy request loop, with and without a pool: columns ``mode``, ``requests``,
    ``buffers_allocated``, ``bytes_allocated`` (buffers x the bytes one buffer allocates, measured
    with tracemalloc), ``peak_traced_bytes``
    (tracemalloc peak), ``gc_collections`` (Python GC runs, all generations) and ``seconds``."""
    requests = _validate.integer("requests", requests, minimum=1)
    buffer_size = _validate.integer("buffer_size", buffer_size, minimum=1)
    per_buffer = _buffer_bytes(buffer_size)
    rows = []
    for mode in modes:
        _validate.choice("mode", mode, ("new each time", "sync.Pool"))
        made = 0

        def new() -> Buffer:
            nonlocal made
            made += 1
            return Buffer(buffer_size)

        pool = Pool(new=new, procs=1)
        pygc.collect()
        if mode == "sync.Pool":
            pool.put(pool.get())  # warm: the pool holds one buffer before the loop
        before = sum(s["collections"] for s in pygc.get_stats())
        was_tracing = tracemalloc.is_tracing()
        if not was_tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        t0 = clock.monotonic()
        for i in range(requests):
            if mode == "sync.Pool":
                buf = pool.get()
                buf.reset()
                _request(buf, i)
                pool.put(buf)
            else:
                buf = new()
                _request(buf, i)
            del buf
        dt = clock.monotonic() - t0
        peak = tracemalloc.get_traced_memory()[1] - base
        if not was_tracing:
            tracemalloc.stop()
        after = sum(s["collections"] for s in pygc.get_stats())
        del pool
        rows.append({"mode": mode, "requests": requests, "buffers_allocated": made,
                     "bytes_allocated": made * per_buffer, "peak_traced_bytes": max(peak, 0),
                     "gc_collections": after - before, "seconds": dt})
    return pd.DataFrame(rows)


def chart_allocations(df: pd.DataFrame) -> "Figure":
    """Three panels: buffers allocated, bytes allocated, Python GC runs, per mode."""
    from .plot import finish, format_bytes

    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    for ax, col, title in zip(axes, ["buffers_allocated", "bytes_allocated", "gc_collections"],
                              ["buffers allocated", "bytes allocated", "Python GC runs"]):
        bars = ax.bar(df["mode"], df[col], color=["tab:red", "tab:green"][: len(df)])
        # every bar carries its value: the pool's bars are too small to see next to 20,000 allocations
        text = [format_bytes(v) if col == "bytes_allocated" else f"{int(v):,}" for v in df[col]]
        ax.bar_label(bars, labels=text, padding=2, fontsize=8)
        ax.margins(y=0.15)
        ax.tick_params(axis="x", labelrotation=15)
        finish(ax, title=title, legend=None, ylim_zero=True, bytes_y=col == "bytes_allocated",
               integer_y=col != "bytes_allocated", tight=False)
    fig.suptitle(f"{int(df['requests'].iloc[0]):,} requests, each needing one buffer")
    fig.tight_layout()
    plt.close(fig)
    return fig


def hit_rate_vs_gc(gc_every: Iterable[int | None] = (None, 1000, 100, 10, 3, 1),
                   ops: int = 6000, max_held: int = 8, seed: int = 0) -> pd.DataFrame:
    """Pool hit rate as ``gc()`` runs more often. Each op a "request" takes 1..``max_held``
    buffers and puts them back; ``gc()`` runs every ``gc_every`` ops (None = never). Two
    policies per frequency: ``go1.13+`` (victim cache: one ``gc()``) and ``go1.12`` (no victim:
    emulated by two back-to-back ``gc()``, which empties the pool as old Go did).
    Columns ``gc_every`` (0 = never), ``policy``, ``gets``, ``hits``, ``hit_rate``,
    ``victim_hits``, ``news``. Deterministic for a given ``seed``."""
    ops = _validate.integer("ops", ops, minimum=1)
    max_held = _validate.integer("max_held", max_held, minimum=1)
    rows = []
    for every in gc_every:
        if every is not None:
            every = _validate.integer("gc_every", every, minimum=1)
        for policy, gcs in (("go1.13+", 1), ("go1.12", 2)):
            rng = random.Random(seed)
            pool = Pool(new=Buffer, procs=1)
            for i in range(ops):
                held = [pool.get() for _ in range(rng.randint(1, max_held))]
                for b in held:
                    b.reset()
                    pool.put(b)
                if every is not None and (i + 1) % every == 0:
                    for _ in range(gcs):
                        pool_gc()
            s = pool.stats()
            rows.append({"gc_every": every or 0, "policy": policy, "gets": s["gets"],
                         "hits": s["hits"], "hit_rate": s["hit_rate"],
                         "victim_hits": s["victim_private"] + s["victim_shared"], "news": s["new"]})
    return pd.DataFrame(rows)


def chart_hit_rate(df: pd.DataFrame) -> "Figure":
    """Hit rate against ops between GCs (log x; "never" drawn at the right), one line per policy."""
    plt = _plt()
    d = df.copy()
    never = d["gc_every"].max() * 10 if (d["gc_every"] > 0).any() else 1
    d["x"] = d["gc_every"].where(d["gc_every"] > 0, never)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for policy, g in d.groupby("policy"):
        g = g.sort_values("x")
        ax.plot(g["x"], g["hit_rate"], marker="o", label=policy)
    from .plot import finish

    ax.set_xscale("log")
    ax.set_ylim(0, 1.05)
    finish(ax, title="sync.Pool hit rate as GC gets more frequent",
           xlabel="requests between gc() (rightmost point: never)", ylabel="pool hit rate", legend="outside")
    plt.close(fig)
    return fig
