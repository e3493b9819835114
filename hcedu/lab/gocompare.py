"""Real Go next to the mirror, chapter by chapter: run the course's Go programs and return tidy data.

Each function builds (cached) and runs one program of :mod:`hcedu.lab.gosnippets` through
:mod:`hcedu.gorun` and returns a ``dict`` or a ``pandas.DataFrame``. Without a Go toolchain it prints
:data:`hcedu.gorun.HOW_TO_GET_GO` and returns ``None`` (so a notebook cell stays green); a program
that needs ``golang.org/x`` prints where to get those sources instead when they are missing.

=====  ========================================================================================
 ch    function
=====  ========================================================================================
 01    :func:`spawn_cost` (goroutines next to threads/asyncio/greenlets, RSS per unit, same run),
       :func:`goroutine_cost`, :func:`runnext_order` / :func:`runnext_compare` (GOMAXPROCS=1, beside
       the GMP simulator's :func:`simulated_runnext_order`), :func:`schedtrace`
 02    :func:`chan_trace_compare` (the source's buffered channel, Go's trace beside the mirror's
       :func:`chan_trace_mirror`), :func:`chan_throughput` (one sender/one receiver, per buffer size)
 03    :func:`pool_allocs` (allocations, bytes, GC cycles with and without sync.Pool),
       :func:`pool_victim_compare` (an object across one and two GCs, Go beside :func:`pool_victim_mirror`)
 04    :func:`leak_counts` (runtime.NumGoroutine after leaking vs fixed workers)
 06    :func:`callchain_timeline` (one WithTimeout racing down handler -> service -> db), beside
       :func:`callchain_mirror` in :func:`callchain_compare`
 09    :func:`rate_table` (x/time/rate AllowN beside hcedu.go.rate on the same fixed times)
=====  ========================================================================================

Figures are measured on this machine (assert shapes, not values); the Go version is in every result.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any, Callable, Sequence

import pandas as pd

from .. import _validate, gorun
from ..clock import REAL, poll_until
from . import gosnippets

__all__ = ["spawn_cost", "goroutine_cost", "runnext_order", "simulated_runnext_order", "runnext_compare",
           "schedtrace", "chan_trace_mirror", "chan_trace_compare", "chan_throughput", "pool_allocs",
           "pool_victim_mirror", "pool_victim_compare", "leak_counts", "callchain_timeline", "callchain_mirror",
           "callchain_compare", "rate_table", "print_trace", "NO_X"]

NO_X = ("golang.org/x/time and x/sync sources not found: apt-get install golang-golang-x-time-dev "
        "golang-golang-x-sync-dev (or set HCEDU_GOPATH to a GOPATH holding them)")


def _needs_go(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not gorun.available():
            print(gorun.HOW_TO_GET_GO)
            return None
        return fn(*args, **kwargs)
    return wrapper


def _rows(name: str, *args: Any) -> pd.DataFrame:
    """A program printing ``{"go": version, "rows": [...]}`` as a frame with a ``go`` column."""
    r = _json(name, *args, timeout=120)
    frame = pd.DataFrame(r["rows"])
    frame["go"] = r["go"]
    return frame


def _side_by_side(name: str, mirror: str) -> pd.DataFrame:
    """Program ``name``'s stdout beside the mirror's text, line by line: ``step, go, mirror, agree``."""
    real, twin = gosnippets.run(name).lines(), mirror.splitlines()
    n = max(len(real), len(twin))
    real, twin = real + [""] * (n - len(real)), twin + [""] * (n - len(twin))
    return pd.DataFrame({"step": range(n), "go": real, "mirror": twin, "agree": [a == b for a, b in zip(real, twin)]})


def print_trace(frame: pd.DataFrame) -> None:
    """Print a ``step, go, mirror, agree`` frame (:func:`chan_trace_compare`, :func:`pool_victim_compare`):
    the Go version, then each line Go printed, marked ``=`` when the mirror printed the same line and ``≠``
    (followed by the mirror's line) when not."""
    if not {"go", "mirror", "agree"} <= set(frame.columns):
        raise ValueError(f"frame must have the columns go, mirror and agree (got {list(frame.columns)})")
    print(f"{gorun.version()} printed ({int(frame['agree'].sum())} of {len(frame)} lines identical to the mirror's):")
    for go_line, mirror_line, same in zip(frame["go"], frame["mirror"], frame["agree"]):
        print(f"  {'=' if same else '≠'} {go_line}" + ("" if same else f"   (mirror: {mirror_line})"))


def _json(name: str, *args: Any, **kwargs: Any) -> Any:
    return gosnippets.run(name, *(str(a) for a in args), **kwargs).json


@_needs_go
def goroutine_cost(count: int = 100_000) -> dict:
    """Start ``count`` parked goroutines; bytes per goroutine (stack, stack+heap, RSS) and ns per spawn."""
    count = _validate.integer("count", count, minimum=1, maximum=2_000_000)
    return _json("ch01_goroutine_cost", count, timeout=120)


def spawn_cost(counts: Sequence[int] = (1000, 5000), *, go_count: int | None = None,
               kinds: Sequence[str] | None = None, timeout: float = 120.0) -> pd.DataFrame:
    """:func:`hcedu.lab.spawncost.measure_spawn` plus a ``goroutine`` row per count, measured the same way.

    The goroutine rows use the resident-set growth too (``rss_method='statm'``), so the columns compare
    directly. Without Go the goroutine rows have ``ok=False`` and the how-to-get-Go ``reason``.
    """
    from . import spawncost

    frame = spawncost.measure_spawn(kinds or spawncost.KINDS, counts, timeout=timeout)
    rows = []
    for c in ([go_count] if go_count else counts):
        row: dict = {"kind": "goroutine", "count": c}
        if not gorun.available():
            row.update(ok=False, reason=gorun.HOW_TO_GET_GO)
        else:
            r = _json("ch01_goroutine_cost", c, timeout=timeout)
            per = r["rss_bytes_per_goroutine"] or r["bytes_per_goroutine"]
            secs = r["ns_per_spawn"] * c / 1e9
            row.update(ok=True, reason=r["go"], bytes_per_unit=per, spawn_s=secs, us_per_unit=r["ns_per_spawn"] / 1e3,
                       units_per_s=c / secs if secs > 0 else math.inf,
                       rss_method="statm" if r["rss_bytes_per_goroutine"] else "MemStats")
        rows.append(row)
    return pd.concat([frame, pd.DataFrame(rows)], ignore_index=True).reindex(columns=frame.columns)


@_needs_go
def runnext_order(n: int = 5) -> list[int]:
    """The order ``n`` goroutines started by main run on one P: ``[n-1, 0, 1, ..., n-2]`` (runnext).

    An attempt in which a goroutine ran before main had started them all (sysmon preempted main because
    the OS stalled its thread for 10 ms, which happens on a busy machine) is repeated, up to 100 times.
    """
    n = _validate.integer("n", n, minimum=1, maximum=256)
    return _json("ch01_runnext", n)["order"]


def simulated_runnext_order(n: int = 5) -> list[int]:
    """What :mod:`hcedu.go.sched` predicts for the same program on one P (no Go needed)."""
    from ..go import sched

    n = _validate.integer("n", n, minimum=1, maximum=256)
    steps = [("go", sched.GSpec(f"w{i}", (("cpu", 1.0), ("send", "done")))) for i in range(n)]
    steps += [("recv", "done")] * n
    per_g = sched.simulate([sched.GSpec("main", tuple(steps))], gomaxprocs=1).per_g
    workers = per_g[per_g["name"] != "main"].sort_values("first_run")
    return [int(name[1:]) for name in workers["name"]]


@_needs_go
def runnext_compare(n: int = 5) -> pd.DataFrame:
    """Go's real run order on one P beside the GMP simulator's prediction: ``position, go, simulator, agree``."""
    real, sim = runnext_order(n), simulated_runnext_order(n)
    return pd.DataFrame({"position": range(n), "go": real, "simulator": sim,
                         "agree": [a == b for a, b in zip(real, sim)]})


_SCHED = re.compile(r"^SCHED (\d+)ms: (.*)$")


@_needs_go
def schedtrace(workers: int = 8, ms: int = 300, *, every: int = 50, gomaxprocs: int = 2) -> pd.DataFrame:
    """Run ``workers`` CPU-bound goroutines for ``ms`` with ``GODEBUG=schedtrace=every``; one row per SCHED line.

    Columns: ``ms``, ``gomaxprocs``, ``idleprocs``, ``threads``, ``runqueue`` (global) and ``local``
    (each P's run-queue length), plus ``line`` (the raw text).
    """
    workers = _validate.integer("workers", workers, minimum=1, maximum=10_000)
    ms = _validate.integer("ms", ms, minimum=1, maximum=10_000)
    every = _validate.integer("every", every, minimum=1)
    gomaxprocs = _validate.integer("gomaxprocs", gomaxprocs, minimum=1, maximum=256)
    res = gosnippets.run("ch01_schedtrace", str(workers), str(ms), timeout=60 + ms / 1000,
                         env={"GODEBUG": f"schedtrace={every}", "GOMAXPROCS": str(gomaxprocs)})
    rows = []
    for line in res.stderr.splitlines():
        m = _SCHED.match(line.strip())
        if not m:
            continue
        fields = dict(re.findall(r"(\w+)=(\d+)", m.group(2)))
        local = re.search(r"runqueue=\d+ \[([\d ]*)\]", m.group(2))
        rows.append({"ms": int(m.group(1)), "gomaxprocs": int(fields.get("gomaxprocs", 0)),
                     "idleprocs": int(fields.get("idleprocs", 0)), "threads": int(fields.get("threads", 0)),
                     "runqueue": int(fields.get("runqueue", 0)),
                     "local": [int(x) for x in local.group(1).split()] if local else [], "line": line.strip()})
    return pd.DataFrame(rows, columns=["ms", "gomaxprocs", "idleprocs", "threads", "runqueue", "local", "line"])


def chan_trace_mirror() -> str:
    """The ``ch02_chan_trace`` program's trace, produced with :class:`hcedu.go.Chan` (no Go needed)."""
    from ..go import Chan, go
    from ..go.chan import ChanTimeout

    ch, done, out = Chan(2), Chan(), []
    ch.send(1)
    out.append(f"ch <- 1       len {len(ch)} cap {ch.cap}")
    ch.send(2)
    out.append(f"ch <- 2       len {len(ch)} cap {ch.cap}")

    def sender() -> None:
        ch.send(3, timeout=30)
        done.send(True, timeout=30)

    go(sender)
    # until the sender is parked on sendq (its sudog is visible in the snapshot)
    if not poll_until(lambda: ch.snapshot().sendq, 30, interval=0.001, clock=REAL):
        raise ChanTimeout("the third send never parked")
    out.append(f"go: ch <- 3   blocks: the sender is parked on sendq, len {len(ch)}")
    v = ch.recv(timeout=30)
    out.append(f"<-ch = {v}      len {len(ch)} (3 moved from the parked sender into the freed slot)")
    out.append(f"sender released: {'true' if done.recv(timeout=30) else 'false'}")
    for _ in range(2):
        v = ch.recv(timeout=30)
        out.append(f"<-ch = {v}      len {len(ch)}")
    ch.close()
    v, ok = ch.recv_ok()
    out.append(f"close; <-ch = {0 if v is None else v} {'true' if ok else 'false'}")
    return "\n".join(out) + "\n"


@_needs_go
def chan_trace_compare() -> pd.DataFrame:
    """Go's trace of the source's buffered channel beside the mirror's: ``step, go, mirror, agree``."""
    return _side_by_side("ch02_chan_trace", chan_trace_mirror())


@_needs_go
def chan_throughput(messages: int = 1_000_000) -> pd.DataFrame:
    """Go channel throughput, one sender and one receiver, per buffer size (0, 1, 16, 256)."""
    messages = _validate.integer("messages", messages, minimum=1)
    frame = _rows("ch02_chan_throughput", messages)
    frame.insert(0, "impl", "Go chan")
    return frame


def pool_victim_mirror() -> str:
    """The ``ch03_pool_victim`` program's trace, produced with :class:`hcedu.go.Pool` and ``gc()``."""
    from ..go import Pool, gc

    made = 0

    def new() -> str:
        nonlocal made
        made += 1
        return f"new-{made}"

    p = Pool(new=new, procs=1)
    out = []
    p.put("scratch-buffer")
    out.append(f"Put(scratch-buffer); Get -> {p.get()} (local)")
    p.put("scratch-buffer")
    gc()
    out.append(f"Put; GC; Get -> {p.get()} (survived one GC in the victim)")
    p.put("scratch-buffer")
    gc()
    gc()
    out.append(f"Put; GC; GC; Get -> {p.get()} (dropped at the second GC: New ran)")
    out.append(f"New calls: {made}")
    return "\n".join(out) + "\n"


@_needs_go
def pool_victim_compare() -> pd.DataFrame:
    """Go's ``sync.Pool`` across GCs beside the mirror's: ``step, go, mirror, agree``."""
    return _side_by_side("ch03_pool_victim", pool_victim_mirror())


@_needs_go
def pool_allocs(requests: int = 10_000) -> pd.DataFrame:
    """Heap allocations, bytes and GC cycles for ``requests`` 64 KiB scratch buffers, with and without Pool."""
    requests = _validate.integer("requests", requests, minimum=1)
    return _rows("ch03_pool_gc", requests)


@_needs_go
def leak_counts(requests: int = 100) -> dict:
    """Goroutines still alive after ``requests`` abandoned calls: leaking worker vs fixed worker."""
    requests = _validate.integer("requests", requests, minimum=1, maximum=100_000)
    return _json("ch04_leak", requests, timeout=60)


@_needs_go
def callchain_timeline(timeout_ms: int = 80, db_ms: int = 200) -> pd.DataFrame:
    """One request under ``WithTimeout(timeout_ms)`` calling a db that takes ``db_ms``: events in time order."""
    timeout_ms = _validate.integer("timeout_ms", timeout_ms, minimum=1)
    db_ms = _validate.integer("db_ms", db_ms, minimum=0)
    r = _json("ch06_callchain", timeout_ms, db_ms, timeout=60 + (timeout_ms + db_ms) / 1000)
    return pd.DataFrame(r["events"], columns=["layer", "event", "ms"])


def callchain_mirror(timeout_ms: int = 80, db_ms: int = 200) -> pd.DataFrame:
    """The ``ch06_callchain`` program written with :mod:`hcedu.go.context` (real time): same events, same order."""
    from ..go import Recv, context, select
    from ..go.chan import after

    timeout_ms = _validate.integer("timeout_ms", timeout_ms, minimum=1)
    db_ms = _validate.integer("db_ms", db_ms, minimum=0)
    t0 = REAL.monotonic()   # real time: the context's deadline and after() run on the real clock
    events: list[dict] = []

    def log(layer: str, event: str) -> None:
        events.append({"layer": layer, "event": event, "ms": (REAL.monotonic() - t0) * 1000})

    def db(ctx: Any) -> BaseException | None:
        log("db", "query start")
        i, _, _ = select(Recv(after(db_ms / 1000)), Recv(ctx.done()), timeout=60 + db_ms / 1000)
        if i == 0:
            log("db", "query done")
            return None
        log("db", f"canceled: {ctx.err()}")
        return ctx.err()

    def service(ctx: Any) -> BaseException | None:
        log("service", "start")
        err = db(ctx)
        log("service", f"return: {'<nil>' if err is None else err}")
        return err

    ctx, cancel = context.with_timeout(context.background(), timeout_ms / 1000)
    try:
        log("handler", "start")
        err = service(ctx)
        log("handler", f"respond: {'<nil>' if err is None else err}")
    finally:
        cancel()
    return pd.DataFrame(events, columns=["layer", "event", "ms"])


@_needs_go
def callchain_compare(timeout_ms: int = 80, db_ms: int = 200) -> pd.DataFrame:
    """Go's call-chain timeline beside the mirror's: ``layer, event`` (must agree), ``go_ms``, ``mirror_ms``."""
    real, mirror = callchain_timeline(timeout_ms, db_ms), callchain_mirror(timeout_ms, db_ms)
    frame = pd.DataFrame({"layer": real["layer"], "event": real["event"], "go_ms": real["ms"],
                          "mirror_event": mirror["event"], "mirror_ms": mirror["ms"]})
    frame["agree"] = (real["layer"] == mirror["layer"]) & (real["event"] == mirror["event"])
    return frame


@_needs_go
def rate_table(limit: float = 10, burst: int = 3,
               steps: Sequence[tuple[int, int]] = ((0, 1), (0, 1), (0, 1), (0, 1), (50, 1), (100, 1), (100, 2),
                                                  (400, 3), (400, 4), (300, 1), (10_000, 1))) -> pd.DataFrame | None:
    """``AllowN`` at fixed times in x/time/rate and in :mod:`hcedu.go.rate`, side by side.

    ``steps`` are ``(ms, n)``: at base + ``ms`` ask for ``n`` events. Columns: ``ms``, ``n``,
    ``go_allow``, ``mirror_allow``, ``go_tokens``, ``mirror_tokens``, ``agree``.
    """
    from ..go import rate

    if not gorun.has_x("golang.org/x/time/rate"):
        print(NO_X)
        return None
    limit = _validate.number("limit", limit, minimum=0, strict=True)
    burst = _validate.integer("burst", burst, minimum=0)
    steps = [(_validate.integer("ms", ms, minimum=0), _validate.integer("n", n, minimum=0)) for ms, n in steps]
    go_rows = gosnippets.run("ch09_rate_table", f"{limit!r}", str(burst), *(f"{ms}:{n}" for ms, n in steps)).json
    lim = rate.Limiter(limit, burst)
    rows = []
    for (ms, n), g in zip(steps, go_rows):
        t = 1000 + ms / 1000  # the Go program's base is time.Unix(1000, 0)
        ok = lim.allow_n(t, n)
        tok = lim.tokens_at(t)
        rows.append({"ms": ms, "n": n, "go_allow": g["allow"], "mirror_allow": ok, "go_tokens": g["tokens"],
                     "mirror_tokens": tok, "agree": g["allow"] == ok and abs(g["tokens"] - tok) < 1e-9})
    return pd.DataFrame(rows)
