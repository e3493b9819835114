"""A closed-loop load generator (``redis-benchmark -c C``, or ``C`` goroutines in a ``for`` loop sharing one
go-redis client): ``C`` worker threads each issue a command, wait for the reply, and issue the next.

Closed loop means the offered load adapts to the system: when the pool or the server slows down,
workers send less. That is what makes Little's law apply (``C = X · R``: concurrency = throughput ×
response time) and it is how most services call Redis.

Invariants:
  * one row per request in the returned frame: ``worker, op, start, end, latency, ok, error``
    (times in seconds since the run started, measured with ``clock.monotonic()``; the default
    :data:`hcedu.clock.REAL` reads the high-resolution performance counter);
  * a request that raises a ``redis.RedisError`` is recorded with ``ok=False`` and the exception's
    class name, and the worker carries on; any other exception stops the run and is re-raised in
    the caller after all workers have stopped;
  * workers are goroutines (:func:`hcedu.go.spawn`) named ``hcedu-loadgen-<i>``; none outlives ``run_load`` unless a
    command blocks longer than ``join_timeout``, which raises ``RuntimeError`` (give the client a
    ``socket_timeout``);
  * the result is the frame alone (the caller knows its own parameters): a duration run's throughput
    window is ``(warmup, duration)``, passed as :func:`hcedu.lab.stats.throughput`'s ``window=``;
    workers never print (the progress bar is drawn by the caller's thread).
"""

from __future__ import annotations

import itertools
import random
import threading
from typing import Any, Callable, Mapping

import pandas as pd
import redis

from .. import _validate
from ..backend import BackendUnavailable
from ..clock import REAL, Clock
from ..go import spawn

__all__ = ["OPS", "run_load"]

Op = Callable[[redis.Redis, str, random.Random], Any]


def _get(c: redis.Redis, key: str, rng: random.Random) -> Any:
    return c.get(key)


def _set(c: redis.Redis, key: str, rng: random.Random) -> Any:
    return c.set(key, "v" * 16)


def _incr(c: redis.Redis, key: str, rng: random.Random) -> Any:
    return c.incr(key)


def _ping(c: redis.Redis, key: str, rng: random.Random) -> Any:
    return c.ping()


def _pipe30(c: redis.Redis, key: str, rng: random.Random) -> Any:
    # One round trip carrying 30 GETs: 30x the client-side work of a GET (encode, parse), to reach the
    # client's CPU ceiling with few connections.
    p = c.pipeline(transaction=False)
    for _ in range(30):
        p.get(key)
    return p.execute()


#: Built-in commands for a ``mix``; each is ``fn(client, key, rng)``. ``pipe30`` is a pipeline of 30 GETs.
OPS: dict[str, Op] = {"get": _get, "set": _set, "incr": _incr, "ping": _ping, "pipe30": _pipe30}

_COLUMNS = ["worker", "op", "start", "end", "latency", "ok", "error"]


def _normalise_mix(mix: str | Mapping[str, float], ops: Mapping[str, Op]) -> list[tuple[float, str]]:
    if isinstance(mix, str):
        mix = {mix: 1.0}
    if not isinstance(mix, Mapping) or not mix:
        raise TypeError(f"mix must be a command name or a non-empty {{name: weight}} dict (got {mix!r})")
    total = 0.0
    cum: list[tuple[float, str]] = []
    for name, w in mix.items():
        if name not in ops:
            raise ValueError(f"mix names unknown command {name!r}; known: {', '.join(sorted(ops))} "
                             f"(pass ops={{name: fn(client, key, rng)}} to add one)")
        total += _validate.number(f"mix[{name!r}]", w, minimum=0)
        cum.append((total, name))
    if total <= 0:
        raise ValueError("mix weights must not all be 0")
    return [(c / total, n) for c, n in cum]


def _preflight(client: redis.Redis) -> None:
    try:
        client.ping()
    except redis.TimeoutError:
        return  # reachable, just slow: that is what an experiment may be about
    except (redis.ConnectionError, OSError) as exc:
        kw = client.connection_pool.connection_kwargs
        url = f"redis://{kw.get('host', 'localhost')}:{kw.get('port', 6379)}" if "host" in kw else "embedded"
        raise BackendUnavailable(url, exc, "load generator") from None


def run_load(client: redis.Redis, *, concurrency: int = 4, duration: float | None = None,
             requests: int | None = None, mix: str | Mapping[str, float] = "get",
             ops: Mapping[str, Op] | None = None, keys: int = 100, prefix: str = "hcedu:loadgen",
             seed: int = 0, warmup: float = 0.0, progress: bool = False,
             join_timeout: float = 10.0, check: bool = True, clock: Clock = REAL) -> pd.DataFrame:
    """Drive ``client`` with ``concurrency`` closed-loop workers; return one row per request.

    Stop after ``duration`` seconds or after ``requests`` requests in total (give exactly one).
    ``mix`` picks commands by weight (``{"get": 0.8, "set": 0.2}``) on keys ``<prefix>:<0..keys-1>``
    chosen with a per-worker ``random.Random(seed, worker)``; ``ops`` adds your own commands.
    ``warmup`` seconds at the start are run but not recorded (duration mode only). ``progress``
    shows a ``tqdm.auto`` bar. With ``check`` a PING first checks the server: an unreachable one
    raises :class:`hcedu.backend.BackendUnavailable` before any worker starts (a PING that times out
    is not an error: the server is there, only slow). Times come from ``clock.monotonic()`` (a live
    measurement: keep the default real clock).
    """
    if not isinstance(client, redis.Redis):
        raise TypeError(f"client must be a redis.Redis (got {type(client).__name__})")
    concurrency = _validate.integer("concurrency", concurrency, minimum=1, maximum=1024)
    if (duration is None) == (requests is None):
        raise ValueError("give exactly one of duration (seconds) or requests (a count)")
    if duration is not None:
        duration = _validate.number("duration", duration, minimum=0, strict=True)
    if requests is not None:
        requests = _validate.integer("requests", requests, minimum=1)
    keys = _validate.integer("keys", keys, minimum=1)
    warmup = _validate.number("warmup", warmup, minimum=0)
    if warmup and duration is None:
        raise ValueError("warmup needs duration mode (use duration=..., not requests=...)")
    if duration is not None and warmup >= duration:
        raise ValueError(f"warmup must be < duration (got warmup={warmup:g}, duration={duration:g})")
    join_timeout = _validate.number("join_timeout", join_timeout, minimum=0, strict=True)
    _validate.text("prefix", prefix)
    all_ops = {**OPS, **(ops or {})}
    for name, fn in all_ops.items():
        _validate.function(f"ops[{name!r}]", fn)
    table = _normalise_mix(mix, all_ops)
    if check:
        _preflight(client)

    state: dict[str, float] = {}
    stop = threading.Event()
    counter = itertools.count()
    results: list[list[tuple]] = [[] for _ in range(concurrency)]
    failures: list[BaseException] = []
    barrier = threading.Barrier(concurrency + 1, action=lambda: state.__setitem__("t0", clock.monotonic()),
                                timeout=join_timeout)

    def worker(i: int) -> None:
        rng = random.Random(seed * 1_000_003 + i)
        rows = results[i]
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return
        t0 = state["t0"]
        deadline = t0 + duration if duration is not None else None
        now = clock.monotonic
        while not stop.is_set():
            if requests is not None and next(counter) >= requests:
                break
            r = rng.random()
            name = next(n for c, n in table if r <= c)
            key = f"{prefix}:{rng.randrange(keys)}"
            s = now()
            # the reading that is recorded as the start decides: a separate earlier reading let a thread
            # preempted in between start a request after the deadline (seen: start 0.30000002 of 0.3)
            if deadline is not None and s >= deadline:
                break
            try:
                all_ops[name](client, key, rng)
                ok, err = True, ""
            except redis.RedisError as exc:
                ok, err = False, type(exc).__name__
            except BaseException as exc:  # a bug in an op: stop everyone, re-raise in the caller
                failures.append(exc)
                stop.set()
                break
            e = now()
            rows.append((i, name, s - t0, e - t0, e - s, ok, err))

    threads = [spawn(worker, i, name=f"hcedu-loadgen-{i}", report=False) for i in range(concurrency)]
    bar = None
    try:
        barrier.wait()
        t0 = state["t0"]
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=round(duration, 1) if duration is not None else requests,
                       unit="s" if duration is not None else "req", desc=f"load C={concurrency}", leave=False)
        # Duration mode: give workers join_timeout after the deadline. Requests mode: give up when no
        # request has completed for join_timeout seconds.
        last_done, last_progress = -1, clock.monotonic()
        while True:
            alive = [g for g in threads if g.alive]
            if not alive:
                break
            now = clock.monotonic()
            done = sum(len(r) for r in results)
            if done != last_done:
                last_done, last_progress = done, now
            if duration is not None and now > t0 + duration + join_timeout:
                break
            if duration is None and now - last_progress > join_timeout:
                break
            alive[0].join(0.05)
            if bar is not None:
                bar.n = round(min(now - t0, duration), 1) if duration is not None else done
                bar.refresh()
    finally:
        stop.set()
        if bar is not None:
            bar.close()
    stuck = [g.name for g in threads if g.alive]
    if stuck:
        raise RuntimeError(f"{len(stuck)} load-generator worker(s) still blocked {join_timeout:g} s after the "
                           f"run ended: a command is waiting without a timeout (set socket_timeout)")
    if failures:
        raise failures[0]

    frame = pd.DataFrame([row for rows in results for row in rows], columns=_COLUMNS)
    frame = frame.sort_values(["start", "worker"], kind="stable").reset_index(drop=True)
    if warmup:
        frame = frame[frame["start"] >= warmup].reset_index(drop=True)
    return frame
