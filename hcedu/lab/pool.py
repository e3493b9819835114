"""Instrumented redis-py connection pools (go-redis ``pool.ConnPool`` with its ``Stats()``), Little's-law
sizing, and the lab rig that puts a pool on any rung of the Redis ladder with injected latency.

* :class:`InstrumentedPool` wraps ``redis.ConnectionPool`` (fail-fast: an exhausted pool raises
  ``redis.exceptions.MaxConnectionsError`` at once, and redis-py does **not** retry it);
  :class:`InstrumentedBlockingPool` wraps ``redis.BlockingConnectionPool`` (a caller waits up to
  ``timeout`` seconds, then gets ``redis.ConnectionError("No connection available.")``, which is
  go-redis's ``redis: connection pool timeout``).
* Both record, per checkout, the wait, the time the connection was then held, how many connections
  were in use, and whether a new connection had to be opened; they count connections opened and
  closed and exhaustion errors. ``snapshot()`` is go-redis's ``PoolStats``; ``checkouts()`` is a frame.
* go-redis has ``ConnMaxIdleTime`` (idle reaping) and ``MinIdleConns`` (warm connections); redis-py
  has neither, so the lab pools add :meth:`~_Instrumentation.reap_idle` and
  :meth:`~_Instrumentation.prefill` to show what they do.
* Model: a closed system of ``C`` callers sharing ``P`` connections, each held ``S`` seconds per
  command, can complete at most ``min(P, C) / S`` commands per second (Little's law, ``L = λW``), and
  never more than the client's own CPU ceiling ``X_cpu``: :func:`roofline`.

* :class:`PoolLab` puts a Redis with an injected round-trip time on any rung (embedded, fakeredis over
  TCP, a real server) and hands out instrumented clients; the experiments (:func:`measure_ceilings`,
  :func:`sweep`, :func:`exhaustion`, :func:`stall_experiment`) return tidy frames for
  :mod:`hcedu.lab.poolviz`.

Invariants: counters only grow (until ``reset_stats()``, meant for a quiet pool); ``in_use`` equals
checkouts minus releases; a connection counts as *opened* each time its socket is (re)connected and
*closed* each time an open socket is closed. Every experiment closes the clients it made, and restores
the lab's latency, even when it fails.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from typing import Any, Iterator

import fakeredis
from ..backend import new_fake_server  # db 0 made up front: fakeredis 2.41's first-use race
import pandas as pd
import redis
from redis.backoff import AbstractBackoff, ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import MaxConnectionsError
from redis.retry import Retry

from .. import _validate
from .. import backend as _backend
from .proxy import DelayedConnection, DelayedTCPConnection, LatencyProxy, Toxics

__all__ = ["PoolStatsRecorder", "InstrumentedPool", "InstrumentedBlockingPool", "make_pool", "make_client",
           "measure_ceilings", "sweep", "interleaved_sweep", "with_model", "one_core", "exhaustion", "stall_experiment",
           "defaults_table", "installed_redis_py_defaults", "REDIS_PY_8_DEFAULTS",
           "little_bound", "roofline", "size_pool", "simulate_pool", "PoolLab", "KINDS"]

#: Pool kinds: ``"fail-fast"`` (``ConnectionPool``) and ``"blocking"`` (``BlockingConnectionPool``).
KINDS: tuple[str, ...] = ("fail-fast", "blocking")

_CHECKOUT_COLUMNS = ["t", "wait", "hold", "in_use", "fresh", "error"]


class PoolStatsRecorder:
    """Thread-safe counters and per-checkout records for one pool (go-redis ``PoolStats`` and more)."""

    def __init__(self, record: bool = True) -> None:
        self.lock = threading.Lock()
        self.t0 = time.perf_counter()
        self.record = record
        self.rows: list[list[Any]] = []     # t, wait, hold, in_use, fresh, error
        self.held: dict[int, tuple[int, float]] = {}   # id(conn) -> (row index, checkout time)
        self.last_release: dict[int, float] = {}
        self.in_use = 0
        self.peak_in_use = 0
        self.checkouts = 0
        self.exhausted = 0       # fail-fast MaxConnectionsError or blocking "No connection available."
        self.connect_errors = 0
        self.opened = 0
        self.closed = 0
        self.hold_total = 0.0
        self.wait_total = 0.0
        self.releases = 0

    def reset(self) -> None:
        """Forget records and counters (connections in use stay counted as in use)."""
        with self.lock:
            in_use, held = self.in_use, self.held
            self.__init__(self.record)  # type: ignore[misc]
            self.in_use, self.held = in_use, {k: (-1, t) for k, (_, t) in held.items()}


def _counting_class(cls: type) -> type:
    """A subclass of connection class ``cls`` that reports socket opens/closes to its pool's recorder."""
    cached = _COUNTING.get(cls)
    if cached is not None:
        return cached

    class Counting(cls):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, hcedu_stats: PoolStatsRecorder | None = None, **kwargs: Any) -> None:
            self._hcedu_stats = hcedu_stats
            super().__init__(*args, **kwargs)

        def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
            fresh = not self._sock
            super().connect_check_health(*args, **kwargs)
            if fresh and self._sock and self._hcedu_stats is not None:
                with self._hcedu_stats.lock:
                    self._hcedu_stats.opened += 1

        def disconnect(self, *args: Any, **kwargs: Any) -> None:
            was_open = bool(getattr(self, "_sock", None))
            super().disconnect(*args, **kwargs)
            if was_open and self._hcedu_stats is not None:
                with self._hcedu_stats.lock:
                    self._hcedu_stats.closed += 1

    Counting.__name__ = Counting.__qualname__ = f"Counting{cls.__name__}"
    _COUNTING[cls] = Counting
    return Counting


_COUNTING: dict[type, type] = {}


class _Instrumentation:
    """Mixin over a redis-py pool: times every checkout and release. See the module docstring."""

    stats: PoolStatsRecorder
    kind: str

    def _setup(self, kwargs: dict[str, Any], record: bool) -> dict[str, Any]:
        self.stats = PoolStatsRecorder(record)
        cls = kwargs.get("connection_class", redis.Connection)
        kwargs["connection_class"] = _counting_class(cls)
        kwargs["hcedu_stats"] = self.stats
        return kwargs

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        st = self.stats
        t0 = time.perf_counter()
        before = st.opened
        try:
            conn = super().get_connection(*args, **kwargs)  # type: ignore[misc]
        except (MaxConnectionsError, redis.ConnectionError) as exc:
            t1 = time.perf_counter()
            exhausted = isinstance(exc, MaxConnectionsError) or str(exc) == "No connection available."
            with st.lock:
                if exhausted:
                    st.exhausted += 1
                else:
                    st.connect_errors += 1
                if st.record:
                    st.rows.append([t0 - st.t0, t1 - t0, math.nan, st.in_use,
                                    False, "exhausted" if exhausted else "connect"])
            raise
        t1 = time.perf_counter()
        with st.lock:
            st.in_use += 1
            st.checkouts += 1
            st.wait_total += t1 - t0
            st.peak_in_use = max(st.peak_in_use, st.in_use)
            idx = -1
            if st.record:
                idx = len(st.rows)
                st.rows.append([t0 - st.t0, t1 - t0, math.nan, st.in_use, st.opened > before, ""])
            st.held[id(conn)] = (idx, t1)
        return conn

    def release(self, connection: Any) -> None:
        st = self.stats
        t = time.perf_counter()
        with st.lock:
            entry = st.held.pop(id(connection), None)
            if entry is not None:
                idx, t1 = entry
                st.in_use -= 1
                st.releases += 1
                st.hold_total += t - t1
                if idx >= 0 and idx < len(st.rows):
                    st.rows[idx][2] = t - t1
            st.last_release[id(connection)] = t
        super().release(connection)  # type: ignore[misc]

    # -- go-redis features redis-py lacks -------------------------------------------------------
    def _idle_connections(self) -> list[Any]:
        with self._lock:  # type: ignore[attr-defined]
            if hasattr(self, "pool"):   # BlockingConnectionPool: a LIFO queue of connections / None
                return [c for c in self.pool.queue if c is not None]  # type: ignore[attr-defined]
            return list(self._available_connections)  # type: ignore[attr-defined]

    def reap_idle(self, max_idle: float) -> int:
        """go-redis ``ConnMaxIdleTime``: close idle connections unused for more than ``max_idle`` seconds.

        The connection objects stay in the pool; the next checkout reopens the socket (counted in
        ``opened``). Returns how many sockets were closed.
        """
        max_idle = _validate.number("max_idle", max_idle, minimum=0)
        now = time.perf_counter()
        n = 0
        for conn in self._idle_connections():
            last = self.stats.last_release.get(id(conn), self.stats.t0)
            if conn._sock and now - last > max_idle:
                conn.disconnect()
                n += 1
        return n

    def age_idle(self, seconds: float) -> int:
        """Fast-forward the idle clock: every idle connection counts as unused ``seconds`` longer than it has
        been, both for :meth:`reap_idle` and for redis-py's ``health_check_interval`` (its next health
        check falls due ``seconds`` sooner). Lets a demo of a 30 s idle setting run without sleeping, and
        without depending on how long the machine took between two commands. Returns how many idle
        connections were aged."""
        seconds = _validate.number("seconds", seconds, minimum=0)
        idle = self._idle_connections()
        with self.stats.lock:
            for conn in idle:
                self.stats.last_release[id(conn)] = self.stats.last_release.get(id(conn), self.stats.t0) - seconds
        for conn in idle:
            if hasattr(conn, "next_health_check"):
                conn.next_health_check -= seconds
        return len(idle)

    def prefill(self, n: int) -> int:
        """go-redis ``MinIdleConns``: open ``n`` connections now so the first requests don't pay to connect.

        Returns how many sockets were opened. Raises like a checkout if the server is unreachable.
        """
        n = _validate.integer("n", n, minimum=0, maximum=self.max_connections)  # type: ignore[attr-defined]
        conns = []
        before = self.stats.opened
        try:
            for _ in range(n):
                conns.append(self.get_connection())
        finally:
            for c in conns:
                self.release(c)
        return self.stats.opened - before

    # -- reporting ---------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """go-redis ``PoolStats`` plus means: checkouts, exhausted, opened, closed, in_use, idle, peak, ..."""
        st = self.stats
        idle = len([c for c in self._idle_connections() if c._sock])
        with st.lock:
            return {
                "kind": self.kind, "max_connections": self.max_connections,  # type: ignore[attr-defined]
                "checkouts": st.checkouts, "exhausted": st.exhausted, "connect_errors": st.connect_errors,
                "opened": st.opened, "closed": st.closed, "in_use": st.in_use, "idle": idle,
                "peak_in_use": st.peak_in_use,
                "mean_wait": st.wait_total / st.checkouts if st.checkouts else math.nan,
                "mean_hold": st.hold_total / st.releases if st.releases else math.nan,
            }

    def checkouts(self) -> pd.DataFrame:
        """One row per checkout attempt: ``t`` (s since the pool was made), ``wait``, ``hold`` (s; NaN
        while held or on error), ``in_use`` after checkout, ``fresh`` (a socket was opened), ``error``
        (``""``, ``"exhausted"`` or ``"connect"``)."""
        with self.stats.lock:
            rows = [list(r) for r in self.stats.rows]
        return pd.DataFrame(rows, columns=_CHECKOUT_COLUMNS)

    def reset_stats(self) -> None:
        """Start counting afresh (e.g. after a warm-up)."""
        self.stats.reset()


class InstrumentedPool(_Instrumentation, redis.ConnectionPool):
    """``redis.ConnectionPool`` that records every checkout: fail-fast when ``max_connections`` are in use.

    Exhaustion raises ``redis.exceptions.MaxConnectionsError("Too many connections")`` (a
    ``redis.ConnectionError``) immediately; redis-py does not retry it. ``record=False`` keeps only
    counters (for long runs).
    """

    kind = "fail-fast"

    def __init__(self, *, max_connections: int = 10, record: bool = True, **kwargs: Any) -> None:
        max_connections = _validate.integer("max_connections", max_connections, minimum=1)
        super().__init__(max_connections=max_connections, **self._setup(kwargs, record))


class InstrumentedBlockingPool(_Instrumentation, redis.BlockingConnectionPool):
    """``redis.BlockingConnectionPool`` that records every checkout: waits up to ``timeout`` s for a connection.

    When none frees up in time it raises ``redis.ConnectionError("No connection available.")``
    (go-redis: ``redis: connection pool timeout``); ``timeout=None`` waits forever.
    """

    kind = "blocking"

    def __init__(self, *, max_connections: int = 10, timeout: float | None = 1.0, record: bool = True,
                 **kwargs: Any) -> None:
        max_connections = _validate.integer("max_connections", max_connections, minimum=1)
        timeout = _validate.optional_timeout("timeout", timeout)
        super().__init__(max_connections=max_connections, timeout=timeout, **self._setup(kwargs, record))


def make_pool(kind: str = "blocking", *, max_connections: int = 10, timeout: float | None = 1.0,
              url: str | None = None, server: fakeredis.FakeServer | None = None, toxics: Toxics | None = None,
              socket_timeout: float | None = 1.0, retries: int = 0, backoff: AbstractBackoff | None = None,
              health_check_interval: float = 0, record: bool = True, decode_responses: bool = True,
              **connection_kwargs: Any) -> InstrumentedPool | InstrumentedBlockingPool:
    """An instrumented pool of ``kind`` (``"blocking"`` or ``"fail-fast"``) to ``url`` or to a fakeredis server.

    * ``url`` (a ``redis://`` URL, e.g. a :class:`~hcedu.lab.proxy.LatencyProxy`'s) gives real TCP
      connections (:class:`~hcedu.lab.proxy.DelayedTCPConnection` when ``toxics`` is given);
      otherwise connections are :class:`~hcedu.lab.proxy.DelayedConnection` to ``server`` (default:
      the embedded server) obeying ``toxics`` (latency and faults injected in-process).
    * Every setting redis-py 8.1 changed is explicit here: ``socket_timeout`` (s, ``None`` = wait
      forever), ``retries`` with ``backoff`` (default ``ExponentialWithJitterBackoff(0.01, 0.5)``),
      ``health_check_interval`` (PING a connection idle longer than this before using it; 0 = off).
    * ``timeout`` is the blocking pool's wait for a free connection (ignored for fail-fast).
    Bad values raise ``ValueError``/``TypeError`` naming the argument.
    """
    _validate.choice("kind", kind, KINDS)
    socket_timeout = _validate.optional_timeout("socket_timeout", socket_timeout)
    retries = _validate.integer("retries", retries, minimum=0)
    health_check_interval = _validate.number("health_check_interval", health_check_interval, minimum=0)
    if backoff is not None and not isinstance(backoff, AbstractBackoff):
        raise TypeError(f"backoff must be a redis.backoff backoff (got {type(backoff).__name__})")
    if retries and backoff is None:
        backoff = ExponentialWithJitterBackoff(base=0.01, cap=0.5)
    retry = Retry(backoff or NoBackoff(), retries)
    opts: dict[str, Any] = dict(socket_timeout=socket_timeout, retry=retry, decode_responses=decode_responses,
                                health_check_interval=health_check_interval, record=record, **connection_kwargs)
    cls: type = InstrumentedBlockingPool if kind == "blocking" else InstrumentedPool
    if kind == "blocking":
        opts["timeout"] = timeout
    if url is not None:
        _validate.text("url", url)
        opts.setdefault("socket_connect_timeout", 2.0)
        if toxics is not None:
            opts["connection_class"] = DelayedTCPConnection
            opts["toxics"] = toxics
        return cls.from_url(url, max_connections=max_connections, **opts)
    if server is None:
        server = _backend.embedded_server()
    if not isinstance(server, fakeredis.FakeServer):
        raise TypeError(f"server must be a fakeredis.FakeServer (got {type(server).__name__})")
    return cls(max_connections=max_connections, connection_class=DelayedConnection, server=server,
               toxics=toxics if toxics is not None else Toxics(), **opts)


def make_client(kind: str = "blocking", **kwargs: Any) -> redis.Redis:
    """A ``redis.Redis`` over :func:`make_pool` (same arguments); its pool is ``client.connection_pool``."""
    return redis.Redis(connection_pool=make_pool(kind, **kwargs))


# -- the model --------------------------------------------------------------------------------------------
def little_bound(pool_size: float, concurrency: float, service_time: float) -> float:
    """Little's law for a closed loop: at most ``min(P, C) / S`` commands per second (``S`` in seconds)."""
    p = _validate.number("pool_size", pool_size, minimum=1)
    c = _validate.number("concurrency", concurrency, minimum=1)
    s = _validate.number("service_time", service_time, minimum=0, strict=True)
    return min(p, c) / s


def roofline(pool_size: float, concurrency: float, service_time: float, cpu_ceiling: float) -> float:
    """The throughput ceiling ``min(min(P, C) / S, X_cpu)``: latency-bound below the knee, CPU-bound above."""
    x = _validate.number("cpu_ceiling", cpu_ceiling, minimum=0, strict=True, allow_inf=True)
    return min(little_bound(pool_size, concurrency, service_time), x)


def size_pool(target_qps: float, service_time: float, *, headroom: float = 0.3) -> int:
    """Connections needed for ``target_qps`` when each command holds a connection ``service_time`` s.

    Little's law: ``L = λ·W`` connections are busy on average; add ``headroom`` (0.3 = 30 %) for
    bursts and round up. E.g. 5,000 QPS × 2 ms = 10 busy connections -> 13 with 30 % headroom.
    """
    q = _validate.number("target_qps", target_qps, minimum=0, strict=True)
    s = _validate.number("service_time", service_time, minimum=0, strict=True)
    h = _validate.number("headroom", headroom, minimum=0)
    return max(1, math.ceil(q * s * (1 + h) - 1e-9))


def simulate_pool(pool_size: int, qps: float, rtt: float, *, jitter: float = 0.2, requests: int = 20_000,
                  seed: int = 0) -> dict[str, float]:
    """Request threads sharing a pool of ``pool_size`` connections, in virtual time (deterministic).

    Requests arrive at random (Poisson, ``qps`` per second, seeded) from many threads; each holds a
    connection for ``rtt × U(1 − jitter, 1 + jitter)`` seconds; a request that finds every connection busy
    waits, first come first served, for the first one freed (a FIFO pool; redis-py's blocking pool is LIFO
    and go-redis's is only roughly FIFO, which make the tail worse, not better). The same seed gives the
    same arrivals and hold times for every pool size, so sizes are compared on identical traffic.

    Returns ``pool_size``, ``qps``, ``utilisation`` (offered load ÷ pool size, ``qps × mean hold / P``;
    at 1 or more the queue grows without bound), ``throughput`` (completions per second over the run),
    ``p50``/``p99`` (latency: wait + hold, s), ``wait_p99``, ``wait_max`` (s) and ``waited`` (the
    fraction of requests that found no free connection).
    """
    import heapq
    import random
    pool_size = _validate.integer("pool_size", pool_size, minimum=1, maximum=100_000)
    qps = _validate.number("qps", qps, minimum=0, strict=True)
    rtt = _validate.number("rtt", rtt, minimum=0, strict=True)
    jitter = _validate.number("jitter", jitter, minimum=0, maximum=1)
    requests = _validate.integer("requests", requests, minimum=100)
    rng = random.Random(seed)   # Mersenne Twister's stream is the same on every Python version
    free = [0.0] * pool_size    # when each connection is next free (a min-heap)
    t = hold_total = end = 0.0
    waits, latency = [], []
    for _ in range(requests):
        t += -math.log(1.0 - rng.random()) / qps              # exponential gaps: Poisson arrivals
        hold = rtt * (1 - jitter + 2 * jitter * rng.random())
        start = max(t, free[0])
        heapq.heapreplace(free, start + hold)
        waits.append(start - t)
        latency.append(start - t + hold)
        hold_total += hold
        end = max(end, start + hold)

    def pct(values: list[float], q: float) -> float:   # nearest rank
        return sorted(values)[max(0, math.ceil(q / 100 * len(values)) - 1)]

    return {"pool_size": pool_size, "qps": qps, "utilisation": qps * hold_total / requests / pool_size,
            "throughput": requests / end, "p50": pct(latency, 50), "p99": pct(latency, 99),
            "wait_p99": pct(waits, 99), "wait_max": max(waits),
            "waited": sum(1 for w in waits if w > 0) / requests}


# -- the lab rig ------------------------------------------------------------------------------------------
class PoolLab:
    """A Redis with injected round-trip time, handing out instrumented clients: one object per experiment.

    ``backend``:
      * ``"embedded"``: a private in-process ``FakeServer``; latency via :class:`DelayedConnection`
        (nothing to install, no sockets);
      * ``"tcp"``: ``hcedu.backend.serve_embedded`` (fakeredis over real TCP);
      * a ``redis://`` URL (e.g. a real ``redis-server``);
      * ``None``: ``$REDIS_URL`` if set, else ``"embedded"``.
    ``via`` says where the latency is injected for the TCP rungs: ``"connection"`` (default: a
    :class:`DelayedTCPConnection` sleeps in the client, costing it no CPU, like a real network) or
    ``"proxy"`` (a :class:`LatencyProxy`, needed for connection resets; it runs in this process, so
    its own work competes with the client for the GIL).
    ``delay``/``jitter`` (seconds) set the injected RTT; change it later through ``lab.toxics``.
    An unreachable URL raises :class:`hcedu.backend.BackendUnavailable`. ``close()`` (or ``with``)
    closes every client and stops the proxy and server it started.
    """

    def __init__(self, backend: str | None = None, *, delay: float = 0.002, jitter: float = 0.0,
                 seed: int | None = 0, via: str = "connection") -> None:
        if backend is None:
            backend = os.environ.get(_backend.ENV_VAR) or "embedded"
        _validate.text("backend", backend)
        self.via = _validate.choice("via", via, ("connection", "proxy"))
        self.toxics = Toxics(delay, jitter, seed=seed, record=False)
        self._clients: list[redis.Redis] = []
        self._server: Any = None
        self.proxy: LatencyProxy | None = None
        self.fake_server: fakeredis.FakeServer | None = None
        if backend == "embedded":
            self.kind = "embedded"
            self.fake_server = new_fake_server()
            self.upstream_url: str | None = None
        elif backend == "tcp":
            self.kind = "tcp"
            self._server = _backend.serve_embedded(0, share=False)
            self.upstream_url = self._server.url
        elif "://" in backend:
            self.kind = "real"
            self.upstream_url = backend
        else:
            raise ValueError(f"backend must be 'embedded', 'tcp', a redis:// URL or None (got {backend!r})")
        if self.upstream_url is not None:
            try:
                if via == "proxy":
                    self.proxy = LatencyProxy(self.upstream_url, toxics=self.toxics)
                else:
                    probe = redis.Redis.from_url(self.upstream_url, socket_connect_timeout=2.0,
                                                 socket_timeout=2.0, retry=Retry(NoBackoff(), 0))
                    try:
                        probe.ping()
                    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                        raise _backend.BackendUnavailable(self.upstream_url, exc, "PoolLab backend") from None
                    finally:
                        probe.close()
            except BaseException:
                self.close()
                raise

    def client(self, pool_size: int = 10, kind: str = "blocking", **kwargs: Any) -> redis.Redis:
        """A new client whose instrumented pool (``client.connection_pool``) has ``pool_size`` connections.

        Keyword arguments go to :func:`make_pool` (``timeout``, ``socket_timeout``, ``retries``, ...).
        """
        if self.proxy is not None:
            pool = make_pool(kind, max_connections=pool_size, url=self.proxy.url, **kwargs)
        elif self.upstream_url is not None:
            pool = make_pool(kind, max_connections=pool_size, url=self.upstream_url, toxics=self.toxics, **kwargs)
        else:
            pool = make_pool(kind, max_connections=pool_size, server=self.fake_server, toxics=self.toxics,
                             **kwargs)
        c = redis.Redis(connection_pool=pool)
        self._clients.append(c)
        return c

    def describe(self) -> str:
        where = {"embedded": "embedded fakeredis (in-process)", "tcp": "fakeredis over TCP",
                 "real": "real redis-server"}[self.kind]
        if self.upstream_url is not None:
            where += f" (latency via {self.via})"
        return f"{where}, injected RTT {self.toxics.delay * 1e3:g} ms ± {self.toxics.jitter * 1e3:g} ms"

    def close(self) -> None:
        """Close clients, stop the proxy and any server this lab started (idempotent)."""
        for c in self._clients:
            try:
                c.connection_pool.disconnect()
                c.close()
            except Exception:  # pragma: no cover - best effort on teardown
                pass
        self._clients.clear()
        if self.proxy is not None:
            self.proxy.stop()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "PoolLab":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<PoolLab {self.describe()}>"



# -- experiments (each returns a tidy frame) ----------------------------------------------------------------
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


def _row(lab: PoolLab, pool_size: int, concurrency: int, kind: str, frames: list[pd.DataFrame],
         snap: dict[str, Any], checkouts: pd.DataFrame | None = None) -> dict[str, Any]:
    """One sweep row from the frames of one or more load runs of a pool, and the pool's snapshot (and,
    when the pool recorded them, its checkouts: the latency split into queue wait and service time).

    Throughput counts only requests that completed inside each run's window (callers still queued at
    its deadline finish afterwards; counting them would overstate throughput when ``P < C``)."""
    from . import stats
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    ok = frame[frame["ok"]]
    pct = stats.percentiles(ok)
    windows = [f.attrs["window"] for f in frames]
    seconds = sum(end - start for start, end in windows)
    done = sum(stats.throughput(f) * (end - start) for f, (start, end) in zip(frames, windows)) / seconds
    cpu = sum(f.attrs["cpu"] for f in frames)
    return {"backend": lab.kind, "kind": kind, "pool_size": pool_size, "concurrency": concurrency,
            "delay": lab.toxics.delay, "requests": len(frame), "errors": int((~frame["ok"]).sum()),
            "throughput": done, "mean": float(ok["latency"].mean()) if len(ok) else math.nan,
            "p50": pct["p50"], "p99": pct["p99"], "hold": snap["mean_hold"], "wait": snap["mean_wait"],
            **_split(checkouts), "peak_in_use": snap["peak_in_use"], "exhausted": snap["exhausted"],
            "cpu_per_request": cpu / len(ok) if len(ok) else math.nan}


def _timed_load(client: redis.Redis, concurrency: int, duration: float, mix: Any, *, settle: float = 0.0,
                **kwargs: Any) -> pd.DataFrame:
    """:func:`~hcedu.lab.loadgen.run_load` that also records the process CPU seconds it took in
    ``attrs["cpu"]`` (every thread: client, and in-process fakeredis or proxy). With ``settle``, the run
    lasts ``settle`` s longer and completions count only after it (``attrs["window"]``)."""
    from . import loadgen
    cpu0 = time.process_time()
    frame = loadgen.run_load(client, concurrency=concurrency, duration=settle + duration, mix=mix, **kwargs)
    frame.attrs["cpu"] = time.process_time() - cpu0
    if settle:
        frame.attrs["window"] = (settle, settle + duration)
    return frame


@contextlib.contextmanager
def _prefilled(lab: PoolLab, pool_size: int, concurrency: int, kind: str, **pool_kwargs: Any) -> Iterator[redis.Redis]:
    """A lab client whose pool holds ``min(pool_size, concurrency)`` open connections (go-redis
    ``MinIdleConns``: measure the steady state, not connects) and fresh stats; closed afterwards."""
    pool_kwargs.setdefault("record", False)
    client = lab.client(pool_size, kind, **pool_kwargs)
    pool = client.connection_pool
    try:
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
        frame = _timed_load(client, concurrency, duration, mix, warmup=warmup)
        pool = client.connection_pool
        snap, checkouts = pool.snapshot(), (pool.checkouts() if pool.stats.record else None)
    return _row(lab, pool_size, concurrency, kind, [frame], snap, checkouts)


def measure_ceilings(lab: PoolLab, *, duration: float = 0.4, mix: Any = "get") -> dict[str, float]:
    """Measure the two roofline parameters in this lab, now: ``S`` and ``X_cpu``.

    * ``S`` (``service_time``): mean time a connection is held per command with the injected delay,
      one worker, one connection (delay + command cost + the sleep's own overshoot);
    * ``X_cpu`` (``cpu_ceiling``): the client's own ceiling, 1 / (CPU seconds per command), measured
      with one worker and the delay switched off: what this process (client, and in-process fakeredis
      or proxy) can push through the GIL. It is CPU time, not wall time, because a lone worker also
      idles while a real server answers, and that wait overlaps other threads' work under load;
      ``one_thread`` is that worker's wall-clock throughput, for comparison.
    The lab's delay is restored afterwards, even on error.
    """
    duration = _validate.number("duration", duration, minimum=0.05)
    s = _run(lab, 1, 1, duration, mix=mix)["hold"]
    delay, jitter = lab.toxics.delay, lab.toxics.jitter
    lab.toxics.set_latency(0.0)
    try:
        solo = _run(lab, 1, 1, duration, mix=mix)
    finally:
        lab.toxics.set_latency(delay, jitter)
    return {"service_time": s, "cpu_ceiling": 1 / solo["cpu_per_request"], "one_thread": solo["throughput"]}


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
    out["latency_bound"] = [little_bound(p, c, s) for p, c in zip(out["pool_size"], out["concurrency"])]
    out["cpu_ceiling"] = x
    out["roofline"] = out["latency_bound"].clip(upper=x)
    out["ratio"] = out["throughput"] / out["roofline"]
    out["regime"] = ["latency" if lb * 2 <= x else "cpu" if x * 2 <= lb else "knee" for lb in out["latency_bound"]]
    return out


_SETTLE = 0.02  # s of each interleaved slice run before completions count


def interleaved_sweep(lab: PoolLab, pairs: Any = ((24, 24), (32, 32)), *, rounds: int = 6,
                      slice_time: float = 0.1, mix: Any = "get", kind: str = "blocking", progress: bool = False,
                      **pool_kwargs: Any) -> pd.DataFrame:
    """:func:`sweep` + :func:`with_model` with ``S`` and ``X_cpu`` measured *alongside* the points.

    A shared machine's speed drifts (here by ±20 % from one fraction of a second to the next), so
    ceilings measured once, before a sweep, are a poor yardstick for points measured seconds later. Each
    of ``rounds`` rounds therefore runs ``slice_time`` s of one caller with the injected latency off
    (``X_cpu``, as in :func:`measure_ceilings`), of one caller with it on (``S``), then of each
    ``(pool size, concurrency)`` pair; drift hits every side alike. Each slice runs 20 ms more first,
    while its threads start, and completions count only after that. Clients stay open (pre-filled)
    across rounds, so no round pays to connect.

    Returns the :func:`with_model` frame, one row per pair (throughput = completions in all its
    windows / their total time); ``attrs`` hold ``service_time``, ``cpu_ceiling``, ``one_thread``
    (wall-clock throughput of the lone caller) and ``rounds``. The lab's latency is restored
    afterwards, even on error.
    """
    rounds = _validate.integer("rounds", rounds, minimum=1, maximum=100)
    slice_time = _validate.number("slice_time", slice_time, minimum=0.02)
    pairs = [(_validate.integer("pool_size", p, minimum=1, maximum=1024),
              _validate.integer("concurrency", c, minimum=1, maximum=1024)) for p, c in pairs]
    if not pairs:
        raise ValueError("pairs must name at least one (pool size, concurrency) pair")
    delay, jitter = lab.toxics.delay, lab.toxics.jitter
    shapes: dict[Any, tuple[int, int]] = {"X_cpu": (1, 1), "S": (1, 1), **{pair: pair for pair in pairs}}
    frames: dict[Any, list[pd.DataFrame]] = {key: [] for key in shapes}
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
                    frames[key].append(_timed_load(client, shapes[key][1], slice_time, mix, settle=_SETTLE,
                                                   check=False))
        finally:
            lab.toxics.set_latency(delay, jitter)
        rows = {key: _row(lab, *shape, kind, frames[key], clients[key].connection_pool.snapshot())
                for key, shape in shapes.items()}
    service_time, solo = rows.pop("S")["hold"], rows.pop("X_cpu")
    cpu_ceiling = 1 / solo["cpu_per_request"]
    out = with_model(pd.DataFrame(list(rows.values())), service_time, cpu_ceiling)
    out.attrs.update({"service_time": service_time, "cpu_ceiling": cpu_ceiling,
                      "one_thread": solo["throughput"], "rounds": rounds})
    return out


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
               timeout: float = 0.05) -> dict[str, pd.DataFrame]:
    """Run the same overload (``concurrency`` callers, ``pool_size`` connections) on a fail-fast and on a
    blocking pool (waiting up to ``timeout`` s). Returns ``{"fail-fast": frame, "blocking": frame}``;
    each frame's ``attrs["pool"]`` is the pool's snapshot and ``attrs["checkouts"]`` its checkout frame."""
    from . import loadgen
    out: dict[str, pd.DataFrame] = {}
    for kind in KINDS:
        with _prefilled(lab, pool_size, pool_size, kind, timeout=timeout, record=True) as client:
            frame = loadgen.run_load(client, concurrency=concurrency, duration=duration)
            frame.attrs["pool"] = client.connection_pool.snapshot()
            frame.attrs["checkouts"] = client.connection_pool.checkouts()
        out[kind] = frame
    return out


def stall_experiment(lab: PoolLab, configs: dict[str, dict[str, Any]], *, stall: float = 0.25,
                     stall_rate: float = 0.02, slow_all: float | None = None, pool_size: int = 8,
                     concurrency: int = 8, requests: int = 400, seed: int = 1) -> pd.DataFrame:
    """Tail latency when the network stalls: one row per named client config (``socket_timeout``,
    ``retries``, ``backoff`` ...). A seeded ``stall_rate`` fraction of requests is held ``stall`` s
    (or, with ``slow_all``, every request takes that long: an overloaded server). Columns: ``config``,
    ``requests``, ``errors``, ``mean``/``p50``/``p99``/``p999`` (ms) and ``amplification`` = requests
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
    out = pd.DataFrame(rows)
    out.attrs["unit"] = "ms"
    return out


#: redis-py's pool defaults for every version the course allows (``redis>=8.1,<9``). redis-py 8.0.0 changed
#: them (``ConnectionPool`` ``max_connections or 100``, was ``2**31``; ``_defaults.py``:
#: ``DEFAULT_SOCKET_TIMEOUT = 5``, ``DEFAULT_RETRY_COUNT = 10``, backoff 10 ms–1 s);
#: ``BlockingConnectionPool(max_connections=50, timeout=20)`` is older. :func:`installed_redis_py_defaults`
#: reads the same fields from the installed library, so a release that moves one is caught.
REDIS_PY_8_DEFAULTS: dict[str, str] = {
    "pool size": "100 (Blocking: 50)",
    "min idle": "0 (lazy)",
    "idle timeout": "none",
    "max retries": "10",
    "read timeout": "5 s",
    "pool wait": "fail fast (Blocking: 20 s)",
}


def installed_redis_py_defaults() -> dict[str, str]:
    """The installed redis-py's pool defaults, read from the library (no connection is made), in the
    format of :data:`REDIS_PY_8_DEFAULTS`; compare the two to see whether a release moved one."""
    import redis as _r
    probe = _r.Redis()
    kw = probe.connection_pool.connection_kwargs
    retry = kw.get("retry")
    blocking = _r.BlockingConnectionPool()
    try:
        return {
            "pool size": f"{probe.connection_pool.max_connections} (Blocking: {blocking.max_connections})",
            "min idle": "0 (lazy)",
            "idle timeout": "none",
            "max retries": str(retry.get_retries() if retry is not None else 0),
            "read timeout": f"{kw.get('socket_timeout')} s",
            "pool wait": f"fail fast (Blocking: {blocking.timeout} s)",
        }
    finally:
        probe.close()
        blocking.disconnect()


def defaults_table() -> pd.DataFrame:
    """Pool defaults side by side: go-redis v8 / v9.0–9.21 / v9.22+ (from their ``options.go``), redis-py 8.x
    (:data:`REDIS_PY_8_DEFAULTS`, the same for every allowed version) and the source's claims.

    The table holds no installed version, so it reads the same on every correct install; to check the
    installed library against it, compare :func:`installed_redis_py_defaults` with ``REDIS_PY_8_DEFAULTS``."""
    py = REDIS_PY_8_DEFAULTS
    rows = {
        "go-redis v8": ["10 × GOMAXPROCS", "0", "IdleTimeout 5 min", "3", "3 s", "ReadTimeout + 1 s"],
        "go-redis v9.0–9.21": ["10 × GOMAXPROCS", "0", "ConnMaxIdleTime 30 min", "3", "3 s", "ReadTimeout + 1 s"],
        "go-redis v9.22+": ["10 × GOMAXPROCS", "0", "ConnMaxIdleTime 30 min", "3", "5 s", "ReadTimeout + 1 s"],
        "redis-py 8.x": list(py.values()),
        "the source claims": ["cores × 10", "10 (example)", "5 min", "3", "2 s (example)", "—"],
    }
    return pd.DataFrame(rows, index=list(py.keys())).T
