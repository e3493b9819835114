"""Chapter 08's lock measurements: round trips per acquire/release and multiprocess contention.

:class:`count_commands` counts the commands a client sends; :func:`round_trips` compares the lock
implementations; :func:`contention` runs contending clients (goroutines via
:func:`~hcedu.lab.runner.run_workers`, or processes against a real server) and returns throughput and
acquire-latency percentiles as a tidy frame. Latencies are wall time, read from the ``clock`` given
(``hcedu.clock.REAL`` by default).
"""

from __future__ import annotations

import statistics
import threading
from typing import TYPE_CHECKING, Any, Callable

import redis
import redis.lock

from .. import _validate
from ..clock import REAL, Clock, as_clock
from ..patterns.lock import RedisLock, unsafe_release
from .runner import run_workers

if TYPE_CHECKING:  # pandas is imported where a frame is built: a contender process never needs it
    import pandas as pd

__all__ = ["count_commands", "round_trips", "contention"]

# -- measurements ---------------------------------------------------------------------------------------

class count_commands:
    """Count the commands (= round trips, nothing here pipelines) a redis-py client sends inside a
    ``with`` block: ``with count_commands(client) as n: ...; n.total``; ``n.by_name`` per command."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.total = 0
        self.by_name: dict[str, int] = {}

    def __enter__(self) -> "count_commands":
        original = self.client.execute_command
        self._original = original

        def counted(*args: Any, **kw: Any) -> Any:
            name = str(args[0]).upper() if args else "?"
            self.total += 1
            self.by_name[name] = self.by_name.get(name, 0) + 1
            return original(*args, **kw)

        self.client.execute_command = counted
        return self

    def __exit__(self, *exc: object) -> None:
        del self.client.execute_command  # back to the class's method


def _naive(client: redis.Redis, key: str, ttl: float, poll: str, i: int) -> tuple[Callable, Callable]:
    """The source's lock: one ``SET NX EX`` try (no retry), a plain ``DEL``."""
    return (lambda timeout: client.set(key, "instance_1", nx=True, ex=int(ttl))), (lambda: unsafe_release(client, key))


def _hcedu(client: redis.Redis, key: str, ttl: float, poll: str, i: int) -> tuple[Callable, Callable]:
    """This course's :class:`RedisLock`: jittered backoff between tries, or none with ``poll="immediate"``."""
    import random
    lock = RedisLock(client, key, ttl, retry_base=0 if poll == "immediate" else 0.0005, retry_cap=0.004,
                     rng=random.Random(i))
    return (lambda timeout: lock.acquire(timeout=timeout)), lock.release


def _redis_py(client: redis.Redis, key: str, ttl: float, poll: str, i: int) -> tuple[Callable, Callable]:
    """redis-py's ``Lock``: a fixed 2 ms sleep between tries, or none with ``poll="immediate"``."""
    lk = redis.lock.Lock(client, key, timeout=ttl, sleep=0 if poll == "immediate" else 0.002, thread_local=False)
    return (lambda timeout: lk.acquire(blocking_timeout=timeout)), lk.release


#: name -> ``make(client, key, ttl, poll, i) -> (acquire(timeout) -> bool, release())``; the one place an
#: implementation's name is looked up (the naive lock does not retry, so it is left out of contention)
_IMPLS: dict[str, Callable[..., tuple[Callable, Callable]]] = {"naive": _naive, "hcedu": _hcedu,
                                                               "redis-py": _redis_py}
_CONTENDING = ("hcedu", "redis-py")


def _impl(impl: str, client: redis.Redis, key: str, ttl: float, poll: str, i: int = 0) -> tuple[Callable, Callable]:
    """(acquire(timeout) -> bool, release()) for one client of the named implementation."""
    return _IMPLS[impl](client, key, ttl, poll, i)


def round_trips(client: redis.Redis, key: str = "hcedu:ch08:rtt") -> pd.DataFrame:
    """Commands sent per uncontended acquire and release, after a warm-up (scripts loaded), for the
    source's naive lock, this course's ``RedisLock`` and redis-py's ``Lock``."""
    import pandas as pd

    rows = []
    for impl in _IMPLS:
        for _ in range(2):  # the first pass warms up (SCRIPT LOAD after NOSCRIPT)
            acquire, release = _impl(impl, client, key, 30, "backoff")
            with count_commands(client) as n_acq:
                assert acquire(None)
            with count_commands(client) as n_rel:
                release()
        rows.append({"impl": impl, "acquire": n_acq.total, "release": n_rel.total,
                     "commands": "+".join(sorted(n_acq.by_name)) + " / " + "+".join(sorted(n_rel.by_name))})
    return pd.DataFrame(rows)


def _worker(client: redis.Redis, impl: str, key: str, ttl: float, poll: str, n: int, hold: float,
            i: int, barrier: Any, clock: Clock = REAL) -> tuple[float, float, list[float]]:
    """One contender: ``n`` acquire/hold/release rounds after ``barrier``; ``(start, end, latencies)``."""
    acquire, release = _impl(impl, client, key, ttl, poll, i)
    lat = []
    barrier.wait(timeout=60)
    t0 = clock.monotonic()
    for _ in range(n):
        s = clock.monotonic()
        if not acquire(30):
            raise TimeoutError("acquire took longer than 30 s")
        lat.append(clock.monotonic() - s)
        if hold:
            clock.sleep(hold)
        release()
    return t0, clock.monotonic(), lat


def _preload_scripts(client: redis.Redis) -> None:
    """SCRIPT LOAD every lock script up front. Needed against fakeredis 2.40's ``TcpFakeServer``, which
    closes a connection after an error reply, and redis-py loads a script by trying EVALSHA first
    (NOSCRIPT error), then SCRIPT LOAD on the same connection. Harmless on a real server."""
    from ..patterns.lock import ACQUIRE_LUA, EXTEND_LUA, RELEASE_LUA
    lk = redis.lock.Lock
    for src in (ACQUIRE_LUA, RELEASE_LUA, EXTEND_LUA, lk.LUA_RELEASE_SCRIPT, lk.LUA_EXTEND_SCRIPT,
                lk.LUA_REACQUIRE_SCRIPT):
        client.script_load(src)


def _proc_main(url: str, impl: str, key: str, ttl: float, poll: str, n: int, hold: float, i: int,
               barrier: Any, queue: Any) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        _preload_scripts(client)
        queue.put(_worker(client, impl, key, ttl, poll, n, hold, i, barrier))
    except BaseException as exc:  # report, don't hang the parent
        queue.put(repr(exc))
    finally:
        client.close()


def _contend_threads(n: int, client_factory: Callable[[], redis.Redis], args: tuple, clock: Clock) -> list:
    """``n`` contenders, each on its own goroutine with its own client; their ``(start, end, latencies)``."""
    barrier = threading.Barrier(n)  # timing starts when every contender has its client and lock ready

    def run(i: int) -> tuple[float, float, list[float]]:
        try:
            return _worker(client_factory(), *args, i, barrier, clock)
        except BaseException:
            barrier.abort()  # the others stop waiting for this one
            raise

    done = run_workers(run, n, name="hcedu-lock-contender")
    causes = [e for e in done.errors if not isinstance(e, threading.BrokenBarrierError)]
    if causes or done.errors:
        raise (causes or done.errors)[0]
    return done.results


def _contend_processes(n: int, url: str, args: tuple) -> list:
    """``n`` contenders, each a spawned process connecting to ``url``; their ``(start, end, latencies)``."""
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_proc_main, args=(url, *args, i, barrier, queue), daemon=True) for i in range(n)]
    results = []
    try:
        for p in procs:
            p.start()
        for _ in range(n):
            r = queue.get(timeout=120)
            if isinstance(r, str):
                raise RuntimeError(f"contender process failed: {r}")
            results.append(r)
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
    return results


def contention(client_factory: Callable[[], redis.Redis] | None = None, contenders: tuple[int, ...] = (1, 2, 4, 8), *,
               per_client: int = 50, hold: float = 0.0002, ttl: float = 5, poll: str = "backoff",
               impl: str = "hcedu", mode: str = "threads", url: str | None = None,
               key: str = "hcedu:ch08:contention", clock: Clock = REAL) -> pd.DataFrame:
    """Measure acquire latency and throughput as contenders grow. Each contender runs ``per_client``
    acquire/hold/release rounds; all start together (a barrier).

    ``mode="threads"`` runs each contender on its own goroutine (:func:`~hcedu.lab.runner.run_workers`)
    with ``client_factory()``, timed on ``clock``; ``mode="processes"`` spawns processes (timed on the real
    clock) that connect to ``url`` (a real server or :func:`hcedu.backend.serve_embedded`). ``poll``:
    ``"backoff"`` (jittered) or ``"immediate"`` (retry at once). One row per contender count: ``impl, poll,
    mode, contenders, acquisitions, seconds, throughput, p50_ms, p99_ms``. Raises ``TimeoutError`` if a
    worker cannot acquire within 30 s.
    """
    _validate.choice("mode", mode, ("threads", "processes"))
    _validate.choice("poll", poll, ("backoff", "immediate"))
    _validate.choice("impl", impl, _CONTENDING)
    per_client = _validate.integer("per_client", per_client, minimum=1)
    _validate.number("hold", hold, minimum=0)
    clock = as_clock(clock)
    if mode == "threads" and client_factory is None:
        raise TypeError("mode='threads' needs client_factory")
    if mode == "processes":
        _validate.text("url", url)
    import pandas as pd

    args = (impl, key, ttl, poll, per_client, hold)
    rows = []
    for n in contenders:
        n = _validate.integer("contenders", n, minimum=1)
        if mode == "threads":
            results = _contend_threads(n, client_factory, args, clock)
        else:
            results = _contend_processes(n, url, args)
        start = min(r[0] for r in results)
        end = max(r[1] for r in results)
        lat = sorted(x for r in results for x in r[2])
        q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
        rows.append({"impl": impl, "poll": poll, "mode": mode, "contenders": n, "acquisitions": len(lat),
                     "seconds": end - start, "throughput": len(lat) / (end - start),
                     "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000})
    return pd.DataFrame(rows)
