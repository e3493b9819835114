"""What a concurrent unit costs (Go's "goroutines are cheap" claim, measured for Python's units).

Each measurement runs in a **fresh subprocess** so one measurement's garbage, thread stacks or imports do not
leak into the next:

* :func:`measure_spawn` — start ``count`` units that park on an event (OS threads, asyncio tasks, greenlets)
  and record the resident-set growth (RSS delta, bytes per unit) and the time to start them all;
* :func:`measure_switch` — the cost of one switch between two units handing control back and forth
  (thread hand-off through locks = a kernel context switch; an asyncio task switch through the event loop;
  a greenlet switch = a user-space stack switch, closest to a goroutine switch);
* :func:`measure_starvation` — a CPU-bound loop next to a 10 ms heartbeat: under asyncio (cooperative, N:1)
  the heartbeat stops until the loop ends; with threads, the interpreter's switch interval (Python's
  counterpart of sysmon's preemption) keeps it ticking;
* :func:`chart_spawn_cost` / :func:`chart_switch_cost` — charts, log scale, with Go's documented minimum
  goroutine stack (2 KB since Go 1.4) as a reference line.

Invariants: results are tidy ``pandas.DataFrame`` rows, one per (kind, count) or kind; a kind whose library
is missing (greenlet) is reported with ``ok=False`` and a reason instead of failing the whole run; every
subprocess is bounded by ``timeout`` seconds (``TimeoutError`` names the kind and count). Numbers are
machine-dependent and noisy: assert shapes, not values. RSS comes from ``/proc/self/statm`` on Linux, else
from ``getrusage`` peak RSS (coarser).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import pandas as pd

from .. import _validate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["KINDS", "GO_MIN_STACK", "STARVATION_MODES", "measure_spawn", "measure_switch", "measure_starvation",
           "chart_spawn_cost", "chart_switch_cost", "ratios"]

KINDS = ("thread", "asyncio", "greenlet")
STARVATION_MODES = ("asyncio", "asyncio_yield", "thread")
GO_MIN_STACK = 2048  # bytes: Go's initial goroutine stack since 1.4, the floor since 1.19

# The child times with hcedu.clock.REAL (the real clock every live measurement uses) and starts raw OS
# threads on purpose: what an OS thread costs next to a task or a greenlet is what chapter 01 measures.
_CHILD = r'''
import gc, json, os, sys
from hcedu.clock import REAL
kind, count, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def rss():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"), "statm"
    except (OSError, ValueError, AttributeError):
        import resource
        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return (r if sys.platform == "darwin" else r * 1024), "maxrss"

def spawn_thread(n):
    import threading
    ev = threading.Event()
    gc.collect(); before, how = rss(); t0 = REAL.monotonic()
    ts = [threading.Thread(target=ev.wait, daemon=True) for _ in range(n)]  # raw thread is the lesson
    for t in ts:
        t.start()
    dt = REAL.monotonic() - t0; after, _ = rss()
    ev.set()
    for t in ts:
        t.join()
    return before, after, dt, how

def spawn_asyncio(n):
    import asyncio
    async def main():
        ev = asyncio.Event()
        gc.collect(); before, how = rss(); t0 = REAL.monotonic()
        tasks = [asyncio.ensure_future(ev.wait()) for _ in range(n)]
        await asyncio.sleep(0)          # one loop pass: every task has started and parked
        dt = REAL.monotonic() - t0; after, _ = rss()
        ev.set(); await asyncio.gather(*tasks)
        return before, after, dt, how
    return asyncio.run(main())

def spawn_greenlet(n):
    import greenlet
    main = greenlet.getcurrent()
    def park():
        main.switch()                  # park: hand control back to the creator
    gc.collect(); before, how = rss(); t0 = REAL.monotonic()
    gs = [greenlet.greenlet(park) for _ in range(n)]
    for g in gs:
        g.switch()
    dt = REAL.monotonic() - t0; after, _ = rss()
    for g in gs:
        g.switch()                     # let each finish
    return before, after, dt, how

def switch_thread(n):
    import threading
    a, b = threading.Lock(), threading.Lock(); a.acquire(); b.acquire()
    def other():
        for _ in range(n):
            a.acquire(); b.release()
    t = threading.Thread(target=other, daemon=True); t.start()  # raw thread is the lesson
    t0 = REAL.monotonic()
    for _ in range(n):
        a.release(); b.acquire()
    dt = REAL.monotonic() - t0; t.join()
    return dt, 2 * n

def switch_asyncio(n):
    import asyncio
    async def spin():
        for _ in range(n):
            await asyncio.sleep(0)
    async def main():
        t0 = REAL.monotonic()
        await asyncio.gather(spin(), spin())
        return REAL.monotonic() - t0
    return asyncio.run(main()), 2 * n

def switch_greenlet(n):
    import greenlet
    def ping():
        for _ in range(n):
            pong_g.switch()
    def pong():
        for _ in range(n):
            ping_g.switch()
    ping_g, pong_g = greenlet.greenlet(ping), greenlet.greenlet(pong)
    t0 = REAL.monotonic()
    ping_g.switch()
    return REAL.monotonic() - t0, 2 * n

def starve(hog_s, tick, how):
    # a heartbeat every `tick` s next to a CPU-bound loop of `hog_s` s; return the heartbeat's gaps
    beats = []
    def spin(stop_at, yield_every):
        x = 0
        while REAL.monotonic() < stop_at:
            x += 1
            if yield_every and x % yield_every == 0:
                yield
    if how == "thread":
        import threading
        stop = threading.Event()
        def heart():
            while not stop.is_set():
                beats.append(REAL.monotonic()); REAL.sleep(tick)
        t = threading.Thread(target=heart, daemon=True); t.start()  # raw thread is the lesson
        REAL.sleep(3 * tick)
        t0 = REAL.monotonic()
        for _ in spin(t0 + hog_s, 0):
            pass
        REAL.sleep(3 * tick); stop.set(); t.join()
    else:
        import asyncio
        async def main():
            stop = asyncio.Event()
            async def heart():
                while not stop.is_set():
                    beats.append(REAL.monotonic()); await asyncio.sleep(tick)
            h = asyncio.ensure_future(heart())
            await asyncio.sleep(3 * tick)
            t0 = REAL.monotonic()
            for _ in spin(t0 + hog_s, 2000 if how == "asyncio_yield" else 0):
                await asyncio.sleep(0)       # only reached when the loop yields
            await asyncio.sleep(3 * tick); stop.set(); await h
            return t0
        t0 = asyncio.run(main())
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    return {"ok": True, "beats": len(beats), "max_gap": max(gaps) if gaps else float("nan")}

try:
    if mode.startswith("starve:"):
        _, hog_s, tick = mode.split(":")
        out = starve(float(hog_s), float(tick), kind)
    elif mode == "spawn":
        before, after, dt, how = globals()["spawn_" + kind](count)
        out = {"ok": True, "rss_before": before, "rss_after": after, "seconds": dt, "rss_method": how}
    else:
        dt, switches = globals()["switch_" + kind](count)
        out = {"ok": True, "seconds": dt, "switches": switches}
except ImportError as e:
    out = {"ok": False, "reason": f"{type(e).__name__}: {e}"}
print(json.dumps(out))
'''


def _run_child(kind: str, count: int, mode: str, timeout: float) -> dict:
    root = str(Path(__file__).resolve().parents[2])  # the child imports this hcedu (for its clock)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, kind, str(count), mode], capture_output=True,
                              text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise TimeoutError(f"{mode} measurement of {count} {kind} units did not finish in {timeout} s") from e
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} measurement of {count} {kind} units failed:\n{proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _kinds(kinds: Sequence[str]) -> list[str]:
    if isinstance(kinds, str):
        kinds = [kinds]
    out = [_validate.choice("kind", k, KINDS) for k in kinds]
    if not out:
        raise ValueError("kinds must name at least one of " + ", ".join(KINDS))
    return out


def measure_spawn(kinds: Sequence[str] = KINDS, counts: Sequence[int] | dict = (1000, 5000), *,
                  timeout: float = 120.0) -> pd.DataFrame:
    """Start ``count`` parked units of each kind in a fresh subprocess; measure RSS growth and start time.

    ``counts`` is a list used for every kind, or a dict ``{kind: [counts]}`` (threads are expensive: give
    them fewer). Returns one row per (kind, count): ``kind, count, ok, bytes_per_unit, spawn_s,
    us_per_unit, units_per_s, rss_before, rss_after, rss_method, reason``. ``ok=False`` rows (library
    missing) carry ``reason`` and NaN figures. ``ValueError`` for unknown kinds or counts < 1;
    ``TimeoutError`` if one subprocess takes longer than ``timeout`` seconds.
    """
    kinds = _kinds(kinds)
    timeout = _validate.number("timeout", timeout, minimum=0, strict=True)
    per_kind = counts if isinstance(counts, dict) else {k: counts for k in kinds}
    rows = []
    for kind in kinds:
        for c in per_kind.get(kind, ()):
            c = _validate.integer("count", c, minimum=1, maximum=1_000_000)
            r = _run_child(kind, c, "spawn", timeout)
            row = {"kind": kind, "count": c, "ok": r["ok"], "reason": r.get("reason", "")}
            if r["ok"]:
                delta = r["rss_after"] - r["rss_before"]
                row.update(bytes_per_unit=delta / c, spawn_s=r["seconds"], us_per_unit=r["seconds"] / c * 1e6,
                           units_per_s=c / r["seconds"] if r["seconds"] > 0 else float("inf"),
                           rss_before=r["rss_before"], rss_after=r["rss_after"], rss_method=r["rss_method"])
            rows.append(row)
    cols = ["kind", "count", "ok", "bytes_per_unit", "spawn_s", "us_per_unit", "units_per_s", "rss_before",
            "rss_after", "rss_method", "reason"]
    return pd.DataFrame(rows).reindex(columns=cols)


def measure_switch(kinds: Sequence[str] = KINDS, rounds: int = 20000, *, timeout: float = 120.0) -> pd.DataFrame:
    """Two units of each kind hand control back and forth ``rounds`` times each, in a fresh subprocess.

    Returns one row per kind: ``kind, ok, switches, seconds, ns_per_switch, reason``. A thread hand-off
    goes through the kernel (futex wake + context switch, plus Python's GIL hand-over); an asyncio switch
    goes through the event loop; a greenlet switch swaps C stacks in user space.
    """
    kinds = _kinds(kinds)
    rounds = _validate.integer("rounds", rounds, minimum=1, maximum=10_000_000)
    timeout = _validate.number("timeout", timeout, minimum=0, strict=True)
    rows = []
    for kind in kinds:
        r = _run_child(kind, rounds, "switch", timeout)
        row = {"kind": kind, "ok": r["ok"], "reason": r.get("reason", "")}
        if r["ok"]:
            row.update(switches=r["switches"], seconds=r["seconds"], ns_per_switch=r["seconds"] / r["switches"] * 1e9)
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=["kind", "ok", "switches", "seconds", "ns_per_switch", "reason"])


def measure_starvation(modes: Sequence[str] = STARVATION_MODES, *, hog: float = 0.3, tick: float = 0.01,
                       timeout: float = 60.0, repeat: int = 1, until: float | None = None) -> pd.DataFrame:
    """A ``hog``-second CPU-bound loop runs next to a heartbeat that wants to tick every ``tick`` s.

    Modes: ``"asyncio"`` (the loop never awaits: cooperative N:1 scheduling, like Go before 1.14 for a loop
    without function calls), ``"asyncio_yield"`` (the loop awaits ``asyncio.sleep(0)`` every 2000 iterations:
    the cooperative fix), ``"thread"`` (the loop and the heartbeat are threads; CPython forces a GIL hand-over
    every ``sys.getswitchinterval()`` = 5 ms: preemption). Each mode runs in a fresh subprocess. Returns
    ``mode, hog_s, tick_s, beats, max_gap_s``: a starved heartbeat shows a gap close to ``hog``.

    ``repeat`` runs each mode that many times (round the modes, so a burst of machine noise hits one run per
    mode) and keeps the run with the smallest ``max_gap_s``: a busy machine can stop the whole child process
    for tens of ms, which only ever *adds* a gap, while the starved loop's gap is ``hog`` in every run.
    With ``until`` (seconds), a mode whose worst gap is already at most ``until`` is not run again: another
    run could only confirm it, and each run costs ``hog`` seconds plus a fresh interpreter.
    """
    modes = [_validate.choice("mode", m, STARVATION_MODES) for m in ([modes] if isinstance(modes, str) else modes)]
    hog = _validate.number("hog", hog, minimum=0, strict=True, maximum=30)
    tick = _validate.number("tick", tick, minimum=0, strict=True, maximum=1)
    timeout = _validate.number("timeout", timeout, minimum=0, strict=True)
    repeat = _validate.integer("repeat", repeat, minimum=1)
    if until is not None:
        until = _validate.number("until", until, minimum=0)
    best: dict[str, dict] = {}
    for _ in range(repeat):
        for m in modes:
            if until is not None and m in best and best[m]["max_gap_s"] <= until:
                continue
            r = _run_child(m, 0, f"starve:{hog!r}:{tick!r}", timeout)
            row = {"mode": m, "hog_s": hog, "tick_s": tick, "beats": r["beats"], "max_gap_s": r["max_gap"]}
            if m not in best or row["max_gap_s"] < best[m]["max_gap_s"]:
                best[m] = row
    return pd.DataFrame([best[m] for m in modes])


def ratios(spawn: pd.DataFrame, baseline: str = "asyncio") -> pd.DataFrame:
    """Per kind (largest count measured): bytes and µs per unit, and each as a multiple of ``baseline``'s."""
    ok = spawn[spawn["ok"]]
    if ok.empty:
        raise ValueError("no successful measurement in the frame")
    last = ok.sort_values("count").groupby("kind").tail(1).set_index("kind")
    out = last[["count", "bytes_per_unit", "us_per_unit"]].copy()
    if baseline in out.index:
        out["memory_x"] = out["bytes_per_unit"] / out.loc[baseline, "bytes_per_unit"]
        out["time_x"] = out["us_per_unit"] / out.loc[baseline, "us_per_unit"]
    out["vs_go_2KB"] = out["bytes_per_unit"] / GO_MIN_STACK
    return out.reindex([k for k in KINDS if k in out.index])


def chart_spawn_cost(spawn: pd.DataFrame) -> "Figure":
    """Bytes per unit and units started per second, per kind and count (log scale), with Go's 2 KB line."""
    import matplotlib.pyplot as plt

    from .plot import color, finish

    ok = spawn[spawn["ok"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    counts = sorted(ok["count"].unique())
    kinds = [k for k in KINDS if k in set(ok["kind"])]
    width = 0.8 / max(len(counts), 1)
    for j, c in enumerate(counts):
        sub = ok[ok["count"] == c].set_index("kind").reindex(kinds)
        xs = [i + (j - (len(counts) - 1) / 2) * width for i in range(len(kinds))]
        ax1.bar(xs, sub["bytes_per_unit"].clip(lower=1), width, label=f"{c:,} units", color=color(None, j))
        ax2.bar(xs, sub["units_per_s"], width, label=f"{c:,} units", color=color(None, j))
    ax1.axhline(GO_MIN_STACK, color="k", ls="--", lw=1)
    ax1.text(len(kinds) - 0.5, GO_MIN_STACK * 1.15, "Go: 2 KB min stack", ha="right", fontsize=8)
    for ax in (ax1, ax2):
        ax.set_yscale("log")
    finish(ax1, title="RSS bytes per parked unit", ylabel="bytes (log)", legend=None,
           xticks=range(len(kinds)), xticklabels=kinds, tight=False)
    return finish(ax2, title="units started per second", ylabel="units / s (log)", legend="outside",
                  xticks=range(len(kinds)), xticklabels=kinds)


def chart_switch_cost(switch: pd.DataFrame) -> "Figure":
    """Nanoseconds per switch per kind (log scale)."""
    import matplotlib.pyplot as plt

    from .plot import finish

    ok = switch[switch["ok"]].set_index("kind")
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(list(ok.index), ok["ns_per_switch"], color=["tab:red", "tab:blue", "tab:green"][: len(ok)])
    ax.set_yscale("log")
    return finish(ax, title="one hand-off between two units", ylabel="ns per switch", legend=None)
