"""Instrumented redis-py connection pools: go-redis's ``pool.ConnPool`` with its ``Stats()``, in Python.

* :class:`InstrumentedPool` wraps ``redis.ConnectionPool`` (fail-fast: an exhausted pool raises
  ``redis.exceptions.MaxConnectionsError`` at once, and redis-py does **not** retry it);
  :class:`InstrumentedBlockingPool` wraps ``redis.BlockingConnectionPool`` (a caller waits up to
  ``timeout`` seconds, then gets ``redis.ConnectionError("No connection available.")``, which is
  go-redis's ``redis: connection pool timeout``). :func:`make_pool` / :func:`make_client` build either.
* Both record, per checkout, the wait, the time the connection was then held, how many connections
  were in use, and whether a new connection had to be opened; they count connections opened and
  closed and exhaustion errors. ``snapshot()`` is go-redis's ``PoolStats``; ``checkouts()`` is a frame.
* go-redis has ``ConnMaxIdleTime`` (idle reaping) and ``MinIdleConns`` (warm connections); redis-py
  has neither, so the lab pools add :meth:`~_Instrumentation.reap_idle` and
  :meth:`~_Instrumentation.prefill` to show what they do.

Invariants: counters only grow (until ``reset_stats()``, meant for a quiet pool); ``in_use`` equals
checkouts minus releases; a connection counts as *opened* each time its socket is (re)connected and
*closed* each time an open socket is closed.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import fakeredis
import pandas as pd
import redis
from redis.backoff import AbstractBackoff, ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import MaxConnectionsError
from redis.retry import Retry

from .. import _validate
from .. import backend as _backend
from ..clock import REAL, Clock
from .proxy import DelayedConnection, DelayedTCPConnection, Toxics

__all__ = ["PoolStatsRecorder", "InstrumentedPool", "InstrumentedBlockingPool", "make_pool", "make_client", "KINDS"]

#: Pool kinds: ``"fail-fast"`` (``ConnectionPool``) and ``"blocking"`` (``BlockingConnectionPool``).
KINDS: tuple[str, ...] = ("fail-fast", "blocking")

_CHECKOUT_COLUMNS = ["t", "wait", "hold", "in_use", "fresh", "error"]


class PoolStatsRecorder:
    """Thread-safe counters and per-checkout records for one pool (go-redis ``PoolStats`` and more).

    Times come from ``clock.monotonic()`` (default :data:`hcedu.clock.REAL`: the pool is timed live)."""

    def __init__(self, record: bool = True, *, clock: Clock = REAL) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self.t0 = clock.monotonic()
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
            self.__init__(self.record, clock=self.clock)  # type: ignore[misc]
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

    def _setup(self, kwargs: dict[str, Any], record: bool, clock: Clock) -> dict[str, Any]:
        self.stats = PoolStatsRecorder(record, clock=clock)
        cls = kwargs.get("connection_class", redis.Connection)
        kwargs["connection_class"] = _counting_class(cls)
        kwargs["hcedu_stats"] = self.stats
        return kwargs

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        st = self.stats
        t0 = st.clock.monotonic()
        before = st.opened
        try:
            conn = super().get_connection(*args, **kwargs)  # type: ignore[misc]
        except (MaxConnectionsError, redis.ConnectionError) as exc:
            t1 = st.clock.monotonic()
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
        t1 = st.clock.monotonic()
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
        t = st.clock.monotonic()
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
        now = self.stats.clock.monotonic()
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
    counters (for long runs). ``timeout`` is accepted so both pools take the same arguments, and ignored:
    a fail-fast pool never waits. ``clock`` times checkouts (default :data:`hcedu.clock.REAL`).
    """

    kind = "fail-fast"

    def __init__(self, *, max_connections: int = 10, timeout: float | None = None, record: bool = True,
                 clock: Clock = REAL, **kwargs: Any) -> None:
        max_connections = _validate.integer("max_connections", max_connections, minimum=1)
        super().__init__(max_connections=max_connections, **self._setup(kwargs, record, clock))


class InstrumentedBlockingPool(_Instrumentation, redis.BlockingConnectionPool):
    """``redis.BlockingConnectionPool`` that records every checkout: waits up to ``timeout`` s for a connection.

    When none frees up in time it raises ``redis.ConnectionError("No connection available.")``
    (go-redis: ``redis: connection pool timeout``); ``timeout=None`` waits forever. ``clock`` times
    checkouts (default :data:`hcedu.clock.REAL`); the wait itself is redis-py's, on the wall clock.
    """

    kind = "blocking"

    def __init__(self, *, max_connections: int = 10, timeout: float | None = 1.0, record: bool = True,
                 clock: Clock = REAL, **kwargs: Any) -> None:
        max_connections = _validate.integer("max_connections", max_connections, minimum=1)
        timeout = _validate.optional_timeout("timeout", timeout)
        super().__init__(max_connections=max_connections, timeout=timeout,
                         **self._setup(kwargs, record, clock))


#: The pool class for each kind, chosen once by :func:`make_pool`.
_POOL_CLASSES: dict[str, type] = {"fail-fast": InstrumentedPool, "blocking": InstrumentedBlockingPool}


def make_pool(kind: str = "blocking", *, max_connections: int = 10, timeout: float | None = 1.0,
              url: str | None = None, server: fakeredis.FakeServer | None = None, toxics: Toxics | None = None,
              socket_timeout: float | None = 1.0, retries: int = 0, backoff: AbstractBackoff | None = None,
              health_check_interval: float = 0, record: bool = True, decode_responses: bool = True,
              clock: Clock = REAL, **connection_kwargs: Any) -> InstrumentedPool | InstrumentedBlockingPool:
    """An instrumented pool of ``kind`` (``"blocking"`` or ``"fail-fast"``) to ``url`` or to a fakeredis server.

    * ``url`` (a ``redis://`` URL, e.g. a :class:`~hcedu.lab.proxy.LatencyProxy`'s) gives real TCP
      connections (:class:`~hcedu.lab.proxy.DelayedTCPConnection` when ``toxics`` is given);
      otherwise connections are :class:`~hcedu.lab.proxy.DelayedConnection` to ``server`` (default:
      the embedded server) obeying ``toxics`` (latency and faults injected in-process).
    * Every setting redis-py 8.1 changed is explicit here: ``socket_timeout`` (s, ``None`` = wait
      forever), ``retries`` with ``backoff`` (default ``ExponentialWithJitterBackoff(0.01, 0.5)``),
      ``health_check_interval`` (PING a connection idle longer than this before using it; 0 = off).
    * ``timeout`` is the blocking pool's wait for a free connection (ignored for fail-fast).
    * ``clock`` times every checkout and release (default :data:`hcedu.clock.REAL`).
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
                                health_check_interval=health_check_interval, record=record, timeout=timeout,
                                clock=clock, **connection_kwargs)
    cls = _POOL_CLASSES[kind]
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
