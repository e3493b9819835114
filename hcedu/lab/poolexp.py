"""Chapter 05's pool experiments on a :class:`~hcedu.lab.poolrig.PoolLab`; each returns a tidy frame.

:func:`measure_ceilings` (service time ``S`` and CPU ceiling ``X_cpu``), :func:`sweep` and
:func:`interleaved_sweep` (throughput over pool size × concurrency; :func:`with_model` adds the roofline),
:func:`exhaustion` (fail-fast vs blocking under overload), :func:`stall_experiment` (timeouts and retries
against a stalled server), and :func:`one_core` (pin the measuring threads to one CPU). Every experiment
closes the clients it made, and restores the lab's latency, even when it fails. Results are frames, or
frozen dataclasses holding a ``frame`` and named fields (:class:`InterleavedSweep`, :class:`PoolRun`);
they feed :mod:`hcedu.lab.poolviz`.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Iterator

import pandas as pd
import redis

from .. import _validate
from .littles import predict
from .instrpool import KINDS
from .poolrig import PoolLab

__all__ = ["measure_ceilings", "sweep", "interleaved_sweep", "with_model", "one_core", "exhaustion", "stall_experiment",
           "Ceilings", "InterleavedSweep", "PoolRun"]


@dataclass(frozen=True)
class Ceilings:
    """The two roofline parameters :func:`measure_ceilings` measured: ``service_time`` (S, s per command
    held) and ``cpu_ceiling`` (X_cpu, commands/s of client CPU), with ``one_thread`` (the lone caller's
    wall-clock throughput, for comparison)."""

    service_time: float
    cpu_ceiling: float
    one_thread: float


@dataclass(frozen=True)
class PoolRun:
    """One load run through an instrumented pool (what :func:`exhaustion` returns per pool kind).

    ``frame``: one row per request (:func:`hcedu.lab.loadgen.run_load`'s columns); ``window``: the run's
    measuring window ``(start, end)`` in seconds since it started; ``snapshot``: the pool's
    go-redis-style ``PoolStats`` at the end; ``checkouts``: its per-checkout frame."""

    frame: pd.DataFrame
    window: tuple[float, float]
    snapshot: dict[str, Any]
    checkouts: pd.DataFrame

    @property
    def throughput(self) -> float:
        """Successful requests completed per second inside :attr:`window`."""
        from . import stats
        return stats.throughput(self.frame, window=self.window)

    def __repr__(self) -> str:
        failed = int((~self.frame["ok"]).sum()) if "ok" in self.frame.columns else 0
        return (f"<PoolRun {self.snapshot.get('kind', '?')}: {len(self.frame)} requests, {failed} failed, "
                f"window {self.window[0]:g}-{self.window[1]:g} s>")


@dataclass(frozen=True)
class InterleavedSweep:
    """What :func:`interleaved_sweep` measured: ``frame`` (the :func:`with_model` frame, one row per pair),
    the ceilings measured alongside (``service_time`` S in s, ``cpu_ceiling`` X_cpu in requests/s),
    ``one_thread`` (the lone caller's wall-clock throughput) and the number of ``rounds``."""

    frame: pd.DataFrame
    service_time: float
    cpu_ceiling: float
    one_thread: float
    rounds: int

    def __repr__(self) -> str:
        return (f"<InterleavedSweep {len(self.frame)} points, {self.rounds} rounds: "
                f"S = {self.service_time * 1e3:.3f} ms, X_cpu = {self.cpu_ceiling:,.0f}/s>")


@dataclass(frozen=True)
class _Load:
    """One timed load run: its frame, measuring window (s) and the process CPU seconds it took."""

    frame: pd.DataFrame
    window: tuple[float, float]
    cpu: float

def _split(checkouts: pd.DataFrame | None) -> dict[str, float]:
    """p50/p99 of the two parts of each request's time at the pool, from ``pool.checkouts()``: the queue
    wait for a pooled connection (``wait_p50``, ``wait_p99``) and the service time for which it was then
    held (``hold_p50``, ``hold_p99``), in seconds; NaN without per-checkout records."""
    cols = ("wait_p50", "wait_p99", "hold_p50", "hold_p99")
    if checkouts is None:
        return dict.fromkeys(cols, math.nan)
    done = checkouts[checkouts["error"] == ""]
    if not len(done):
        return dict.fromkeys(cols, math.nan)
    wait, hold = done["wait"], done["hold"].dropna()
    return {"wait_p50": float(wait.quantile(0.5)), "wait_p99": float(wait.quantile(0.99)),
            "hold_p50": float(hold.quantile(0.5)) if len(hold) else math.nan,
            "hold_p99": float(hold.quantile(0.99)) if len(hold) else math.nan}


def _row(lab: PoolLab, pool_size: int, concurrency: int, kind: str, loads: list[_Load],
         snap: dict[str, Any], checkouts: pd.DataFrame | None = None) -> dict[str, Any]:
    """One sweep row from one or more load runs of a pool, and the pool's snapshot (and,
    when the pool recorded them, its checkouts: the latency split into queue wait and service time).

    Throughput counts only requests that completed inside each run's window (callers still queued at
    its deadline finish afterwards; counting them would overstate throughput when ``P < C``)."""
    from . import stats
    frame = pd.concat([r.frame for r in loads], ignore_index=True) if len(loads) > 1 else loads[0].frame
    ok = frame[frame["ok"]]
    pct = stats.percentiles(ok)
    seconds = sum(end - start for start, end in (r.window for r in loads))
    done = sum(stats.throughput(r.frame, window=r.window) * (r.window[1] - r.window[0]) for r in loads) / seconds
    cpu = sum(r.cpu for r in loads)
    return {"backend": lab.kind, "kind": kind, "pool_size": pool_size, "concurrency": concurrency,
            "delay": lab.toxics.delay, "requests": len(frame), "errors": int((~frame["ok"]).sum()),
            "throughput": done, "mean": float(ok["latency"].mean()) if len(ok) else math.nan,
            "p50": pct["p50"], "p99": pct["p99"], "hold": snap["mean_hold"], "wait": snap["mean_wait"],
            **_split(checkouts), "peak_in_use": snap["peak_in_use"], "exhausted": snap["exhausted"],
            "cpu_per_request": cpu / len(ok) if len(ok) else math.nan}


def _timed_load(client: redis.Redis, concurrency: int, duration: float, mix: Any, *, settle: float = 0.0,
                warmup: float = 0.0, **kwargs: Any) -> _Load:
    """:func:`~hcedu.lab.loadgen.run_load` that also records the process CPU seconds it took (every
    thread: client, and in-process fakeredis or proxy; CPU time, not a clock). Completions count in the
    window from ``warmup`` to the end; with ``settle``, the run lasts ``settle`` s longer and completions
    count only after it."""
    from . import loadgen
    cpu0 = time.process_time()
    frame = loadgen.run_load(client, concurrency=concurrency, duration=settle + duration, mix=mix,
                             warmup=warmup, **kwargs)
    return _Load(frame, (settle or warmup, settle + duration), time.process_time() - cpu0)


@contextlib.contextmanager
def _latency(lab: PoolLab, delay: float, jitter: float = 0.0) -> Iterator[None]:
    """Inject ``delay`` ± ``jitter`` s in ``lab`` while the block runs; the lab's latency is restored after."""
    before = lab.toxics.delay, lab.toxics.jitter
    lab.toxics.set_latency(delay, jitter)
    try:
        yield
    finally:
        lab.toxics.set_latency(*before)


@contextlib.contextmanager
def _prefilled(lab: PoolLab, pool_size: int, concurrency: int, kind: str, **pool_kwargs: Any) -> Iterator[redis.Redis]:
    """A lab client whose pool holds ``min(pool_size, concurrency)`` open connections (go-redis
    ``MinIdleConns``: measure the steady state, not connects) and fresh stats; closed afterwards. The
    connections are opened without the injected latency: connects are not measured, and paying the RTT
    for every hand-shake command of up to 64 connections, one after another, only made the wait longer."""
    pool_kwargs.setdefault("record", False)
    client = lab.client(pool_size, kind, **pool_kwargs)
    pool = client.connection_pool
    try:
        with _latency(lab, 0.0):
            pool.prefill(min(pool_size, concurrency))
        pool.reset_stats()
        yield client
    finally:
        pool.disconnect()
        client.close()
        lab._clients.remove(client)


def _run(lab: PoolLab, pool_size: int, concurrency: int, duration: float, kind: str = "blocking",
         mix: Any = "get", warmup: float = 0.0, **pool_kwargs: Any) -> dict[str, Any]:
    with _prefilled(lab, pool_size, concurrency, kind, **pool_kwargs) as client:
        load = _timed_load(client, concurrency, duration, mix, warmup=warmup)
        pool = client.connection_pool
        snap, checkouts = pool.snapshot(), (pool.checkouts() if pool.stats.record else None)
    return _row(lab, pool_size, concurrency, kind, [load], snap, checkouts)


def measure_ceilings(lab: PoolLab, *, duration: float = 0.4, mix: Any = "get") -> Ceilings:
    """Measure the two roofline parameters in this lab, now: ``S`` and ``X_cpu``.

    * ``S`` (``service_time``): mean time a connection is held per command with the injected delay,
      one worker, one connection (delay + command cost + the sleep's own overshoot);
    * ``X_cpu`` (``cpu_ceiling``): the client's own ceiling, 1 / (CPU seconds per command), measured
      with one worker and the delay switched off: what this process (client, and in-process fakeredis
      or proxy) can push through the GIL. It is CPU time, not wall time, because a lone worker also
      idles while a real server answers, and that wait overlaps other threads' work under load;
      ``one_thread`` is that worker's wall-clock throughput, for comparison.
    Returns them as :class:`Ceilings`. The lab's delay is restored afterwards, even on error.
    """
    duration = _validate.number("duration", duration, minimum=0.05)
    s = _run(lab, 1, 1, duration, mix=mix)["hold"]
    with _latency(lab, 0.0):
        solo = _run(lab, 1, 1, duration, mix=mix)
    return Ceilings(s, 1 / solo["cpu_per_request"], solo["throughput"])


def sweep(lab: PoolLab, pool_sizes: Any = (1, 2, 4, 8, 16, 32), concurrencies: Any = (1, 4, 16, 32), *,
          pairs: Any = None, duration: float = 0.3, kind: str = "blocking", mix: Any = "get",
          progress: bool = False, **pool_kwargs: Any) -> pd.DataFrame:
    """Throughput, p50/p99 latency, hold and wait time for every (pool size, concurrency) pair
    (the grid of ``pool_sizes`` × ``concurrencies``, or exactly the ``pairs`` given).

    One closed-loop run of ``duration`` seconds per pair; the pool is pre-filled so connects are not
    measured. Columns: ``backend, kind, pool_size, concurrency, delay, requests, errors, throughput,
    mean, p50, p99, hold, wait, wait_p50, wait_p99, hold_p50, hold_p99, peak_in_use, exhausted`` (times in
    seconds, throughput in ops/s). ``p50``/``p99`` are whole requests as the caller saw them; the
    ``wait_*``/``hold_*`` percentiles split them, per checkout, into the queue wait for a pooled
    connection and the service time it was then held (``record=False`` skips the per-checkout records
    and leaves those four NaN).
    """
    sizes = [_validate.integer("pool_size", p, minimum=1, maximum=1024) for p in pool_sizes]
    concs = [_validate.integer("concurrency", c, minimum=1, maximum=1024) for c in concurrencies]
    duration = _validate.number("duration", duration, minimum=0.05)
    if pairs is None:
        pairs = [(p, c) for c in concs for p in sizes]
    else:
        pairs = [(_validate.integer("pool_size", p, minimum=1, maximum=1024),
                  _validate.integer("concurrency", c, minimum=1, maximum=1024)) for p, c in pairs]
    it: Any = pairs
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(pairs, desc="sweep", leave=False)
    pool_kwargs.setdefault("record", True)
    rows = [_run(lab, p, c, duration, kind, mix, **pool_kwargs) for p, c in it]
    return pd.DataFrame(rows)


def with_model(frame: pd.DataFrame, service_time: float, cpu_ceiling: float) -> pd.DataFrame:
    """Add the model's columns to a :func:`sweep` frame: ``latency_bound`` = min(P, C)/S, ``cpu_ceiling``,
    ``roofline`` = the lower of the two, ``ratio`` = measured / roofline, and ``regime``
    (``"latency"``/``"cpu"`` where one ceiling is at most half the other, else ``"knee"``)."""
    out = frame.copy()
    s = _validate.number("service_time", service_time, minimum=0, strict=True)
    x = _validate.number("cpu_ceiling", cpu_ceiling, minimum=0, strict=True)
    out["latency_bound"] = [predict(c, p, s) for p, c in zip(out["pool_size"], out["concurrency"])]
    out["cpu_ceiling"] = x
    out["roofline"] = out["latency_bound"].clip(upper=x)
    out["ratio"] = out["throughput"] / out["roofline"]
    out["regime"] = ["latency" if lb * 2 <= x else "cpu" if x * 2 <= lb else "knee" for lb in out["latency_bound"]]
    return out


_SETTLE = 0.02  # s of each interleaved slice run before completions count


def interleaved_sweep(lab: PoolLab, pairs: Any = ((24, 24), (32, 32)), *, rounds: int = 6,
                      slice_time: float = 0.1, mix: Any = "get", kind: str = "blocking", progress: bool = False,
                      **pool_kwargs: Any) -> InterleavedSweep:
    """:func:`sweep` + :func:`with_model` with ``S`` and ``X_cpu`` measured *alongside* the points.

    A shared machine's speed drifts (here by ±20 % from one fraction of a second to the next), so
    ceilings measured once, before a sweep, are a poor yardstick for points measured seconds later. Each
    of ``rounds`` rounds therefore runs ``slice_time`` s of one caller with the injected latency off
    (``X_cpu``, as in :func:`measure_ceilings`), of one caller with it on (``S``), then of each
    ``(pool size, concurrency)`` pair; drift hits every side alike. Each slice runs 20 ms more first,
    while its threads start, and completions count only after that. Clients stay open (pre-filled)
    across rounds, so no round pays to connect.

    Returns an :class:`InterleavedSweep`: its ``frame`` is the :func:`with_model` frame, one row per pair
    (throughput = completions in all its windows / their total time), with the measured
    ``service_time``, ``cpu_ceiling``, ``one_thread`` (wall-clock throughput of the lone caller) and
    ``rounds``. The lab's latency is restored afterwards, even on error.
    """
    rounds = _validate.integer("rounds", rounds, minimum=1, maximum=100)
    slice_time = _validate.number("slice_time", slice_time, minimum=0.02)
    pairs = [(_validate.integer("pool_size", p, minimum=1, maximum=1024),
              _validate.integer("concurrency", c, minimum=1, maximum=1024)) for p, c in pairs]
    if not pairs:
        raise ValueError("pairs must name at least one (pool size, concurrency) pair")
    delay, jitter = lab.toxics.delay, lab.toxics.jitter
    shapes: dict[Any, tuple[int, int]] = {"X_cpu": (1, 1), "S": (1, 1), **{pair: pair for pair in pairs}}
    loads: dict[Any, list[_Load]] = {key: [] for key in shapes}
    it: Any = range(rounds)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="interleaved rounds", leave=False)
    with contextlib.ExitStack() as stack:
        clients = {key: stack.enter_context(_prefilled(lab, *shape, kind, **pool_kwargs))
                   for key, shape in shapes.items()}
        try:
            for _ in it:
                for key, client in clients.items():
                    lab.toxics.set_latency(*((0.0, 0.0) if key == "X_cpu" else (delay, jitter)))
                    loads[key].append(_timed_load(client, shapes[key][1], slice_time, mix, settle=_SETTLE,
                                                  check=False))
        finally:
            lab.toxics.set_latency(delay, jitter)
        rows = {key: _row(lab, *shape, kind, loads[key], clients[key].connection_pool.snapshot())
                for key, shape in shapes.items()}
    service_time, solo = rows.pop("S")["hold"], rows.pop("X_cpu")
    cpu_ceiling = 1 / solo["cpu_per_request"]
    return InterleavedSweep(with_model(pd.DataFrame(list(rows.values())), service_time, cpu_ceiling),
                            service_time, cpu_ceiling, solo["throughput"], rounds)


@contextlib.contextmanager
def one_core() -> Iterator[int | None]:
    """Run the threads this thread starts on one CPU while the block runs (Linux; a no-op elsewhere).

    The GIL lets one Python thread run at a time anyway; pinning stops the OS from bouncing the GIL
    between cores (every hand-off then costs a cross-core wake-up), which makes thread-heavy
    measurements steadier on a small shared machine. Yields the CPU used (None if not pinned);
    the previous affinity is restored on exit.
    """
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    old = os.sched_getaffinity(0)
    cpu = max(old)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, old)


def exhaustion(lab: PoolLab, *, pool_size: int = 4, concurrency: int = 16, duration: float = 0.4,
               timeout: float = 0.05) -> dict[str, PoolRun]:
    """Run the same overload (``concurrency`` callers, ``pool_size`` connections) on a fail-fast and on a
    blocking pool (waiting up to ``timeout`` s). Returns ``{"fail-fast": run, "blocking": run}``, each a
    :class:`PoolRun`: the requests' ``frame``, the run's ``window``, the pool's ``snapshot`` and its
    ``checkouts``."""
    from . import loadgen
    out: dict[str, PoolRun] = {}
    for kind in KINDS:
        with _prefilled(lab, pool_size, pool_size, kind, timeout=timeout, record=True) as client:
            frame = loadgen.run_load(client, concurrency=concurrency, duration=duration)
            pool = client.connection_pool
            out[kind] = PoolRun(frame, (0.0, duration), pool.snapshot(), pool.checkouts())
    return out


def stall_experiment(lab: PoolLab, configs: dict[str, dict[str, Any]], *, stall: float = 0.25,
                     stall_rate: float = 0.02, slow_all: float | None = None, pool_size: int = 8,
                     concurrency: int = 8, requests: int = 400, seed: int = 1) -> pd.DataFrame:
    """Tail latency when the network stalls: one row per named client config (``socket_timeout``,
    ``retries``, ``backoff`` ...). A seeded ``stall_rate`` fraction of requests is held ``stall`` s
    (or, with ``slow_all``, every request takes that long: an overloaded server). Columns: ``config``,
    ``requests``, ``errors``, ``mean``/``p50``/``p99``/``p999`` (in ms) and ``amplification`` = requests
    the server saw per request the caller made (retries multiply load)."""
    from . import loadgen, stats
    rows = []
    delay, jitter = lab.toxics.delay, lab.toxics.jitter
    try:
        for name, cfg in configs.items():
            lab.toxics.clear()
            lab.toxics._rng.seed(seed)
            client = lab.client(pool_size, "blocking", timeout=5.0, **cfg)
            try:
                client.connection_pool.prefill(min(pool_size, concurrency))  # connect before the trouble
                if slow_all is not None:
                    lab.toxics.set_latency(slow_all)
                else:
                    lab.toxics.set_rate("stall", stall_rate, stall)
                before = lab.toxics.counts["requests"]
                frame = loadgen.run_load(client, concurrency=concurrency, requests=requests, seed=seed,
                                         check=False)
                seen = lab.toxics.counts["requests"] - before
            finally:
                client.connection_pool.disconnect()
                client.close()
                lab._clients.remove(client)
                lab.toxics.clear()
                lab.toxics.set_latency(delay, jitter)
            frame["config"] = name
            s = stats.summarize(frame.assign(ok=True))   # tail over every request, failed ones included
            rows.append({"config": name, "requests": len(frame), "errors": int((~frame["ok"]).sum()),
                         **{k: s[k].item() for k in ("mean", "p50", "p99", "p999")},
                         "amplification": seen / len(frame)})
    finally:
        lab.toxics.clear()
        lab.toxics.set_latency(delay, jitter)
    return pd.DataFrame(rows)
