"""In-process limiters (Go's ``x/time/rate``, a leaky bucket, local windows) and rate-limit experiments.

Every limiter here has the interface of :mod:`hcedu.patterns.ratelimit`: ``allow(key, n=1) ->
Decision(allowed, remaining, retry_after, reset_after)``, ``reset(key)`` and a ``clock`` attribute,
so an experiment can run the same arrivals through local and Redis-backed limiters alike.

* :class:`LocalFixedWindow`, :class:`LocalSlidingLog`: the Redis algorithms in one process (a dict
  and a lock): what a single Go server would do with a ``map`` and a ``sync.Mutex``.
* :class:`LeakyBucket`: the phrase means two things, both here.
  **As a meter** (:meth:`LeakyBucket.allow`): a bucket of capacity ``limit`` that drains at
  ``limit/window`` per second; a request adds ``n`` units and is refused if it would overflow. This
  is the token bucket upside down (same decisions as GCRA and :class:`GoRate`).
  **As a queue** (:meth:`LeakyBucket.schedule`): requests wait in a FIFO of ``limit`` places and
  leave at a constant rate, one every ``window/limit`` seconds: the output is smooth (no bursts at
  all), the cost is queueing delay; a full queue refuses. The source's table ("漏桶: 定时匀速处理")
  means this one.
* :class:`GoRate`: adapter over :class:`hcedu.go.rate.Limiter` (``limit/window`` per second, burst
  ``limit``), one ``rate.Limiter`` per key, as a Go service would keep in a ``map[string]*rate.Limiter``.
* :class:`NaiveFixedWindow`: the **broken** Redis limiter (GET, compare, then INCR: two round trips),
  kept as a foil: threads that all GET before any INCR are all admitted.

Experiments: :func:`admissions` (the same arrival times through every limiter on a ``VirtualClock``),
:func:`boundary_burst` (the fixed window's 2N at a boundary), :func:`max_in_any_window`,
:func:`chart_admitted`, :func:`concurrency_check` (real threads against Redis).

Invariants: local limiters are thread-safe (one lock each); time comes only from the injected clock;
``retry_after`` is 0.0 when allowed and ``inf`` when ``n > limit``.
"""

from __future__ import annotations

import bisect
import itertools
import math
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Iterable

import pandas as pd
import redis

from .. import _validate
from ..backend import Keyspace, connect
from ..clock import REAL, Clock, VirtualClock, as_clock
from ..go import rate
from ..patterns.ratelimit import (Decision, FixedWindowLimiter, GCRALimiter, SlidingLogLimiter,
                                  SlidingWindowCounterLimiter, TokenBucketLimiter)
from ..patterns._redisargs import resolve_keyspace
from .runner import run_workers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Decision", "LocalFixedWindow", "LocalSlidingLog", "LeakyBucket", "GoRate", "NaiveFixedWindow",
           "admissions", "standard_limiters", "boundary_burst", "max_in_any_window", "chart_admitted", "concurrency_check"]


class _Local:
    """Shared plumbing of the in-process limiters: validation, clock, lock, per-key state."""

    def __init__(self, *, limit: int, window: float, clock: Clock | None = None) -> None:
        self.limit = _validate.integer("limit", limit, minimum=1)
        self.window = _validate.number("window", window, minimum=0, strict=True)
        self.clock = as_clock(clock)
        self._mu = threading.Lock()
        self._state: dict[str, Any] = {}

    @property
    def rate(self) -> float:
        """Long-run admissions per second (``limit / window``)."""
        return self.limit / self.window

    @staticmethod
    def _args(key: Any, n: Any) -> tuple[str, int]:
        return _validate.text("key", key), _validate.integer("n", n, minimum=1)

    def reset(self, key: str) -> None:
        """Forget ``key``'s state (back to full)."""
        with self._mu:
            self._state.pop(_validate.text("key", key), None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.limit} per {self.window:g}s keys={len(self._state)}>"


class LocalFixedWindow(_Local):
    """A fixed-window counter in one process; ``align`` as :class:`~hcedu.patterns.ratelimit.FixedWindowLimiter`.

    Rejected hits count too (as in ``limits``), so the two agree decision for decision.
    """

    def __init__(self, *, limit: int, window: float, clock: Clock | None = None, align: str = "first") -> None:
        super().__init__(limit=limit, window=window, clock=clock)
        self.align = _validate.choice("align", align, ("first", "clock"))

    def allow(self, key: str, n: int = 1) -> Decision:
        """Count ``n`` hits in ``key``'s current window; allowed while the count is <= ``limit``."""
        key, n = self._args(key, n)
        now = self.clock.now()
        with self._mu:
            start, count = self._state.get(key, (None, 0))
            if start is None or now >= start + self.window:
                start = math.floor(now / self.window) * self.window if self.align == "clock" else now
                count = 0
            count += n
            self._state[key] = (start, count)
        reset = max(0.0, start + self.window - now)
        allowed = count <= self.limit
        retry = 0.0 if allowed else (math.inf if n > self.limit else reset)
        return Decision(allowed, float(max(0, self.limit - count)), retry, reset)


class LocalSlidingLog(_Local):
    """An exact sliding log in one process: admitted timestamps in ``(now - window, now]`` (a deque)."""

    def allow(self, key: str, n: int = 1) -> Decision:
        """Admit ``n`` if fewer than ``limit - n + 1`` hits were admitted in the last ``window`` seconds."""
        key, n = self._args(key, n)
        now = self.clock.now()
        with self._mu:
            log: deque[float] = self._state.setdefault(key, deque())
            while log and log[0] <= now - self.window:
                log.popleft()
            allowed = len(log) + n <= self.limit
            if allowed:
                log.extend([now] * n)
                retry = 0.0
            elif n > self.limit:
                retry = math.inf
            else:
                retry = max(0.0, log[len(log) + n - self.limit - 1] + self.window - now)
            reset = max(0.0, log[-1] + self.window - now) if log else 0.0
            remaining = float(self.limit - len(log))
        return Decision(allowed, remaining, retry, reset)


class LeakyBucket(_Local):
    """A leaky bucket of ``limit`` units draining at ``limit/window`` per second: as a meter or as a queue.

    :meth:`allow` is the **meter**: admit if the water level plus ``n`` fits; the request passes at once.
    :meth:`schedule` is the **queue** (the "处理匀速" leaky bucket): the request is accepted if there is
    room in the queue and *served later*, at the drain rate; it returns that delay. The two keep
    separate state per key, so do not mix them on one key.
    """

    def allow(self, key: str, n: int = 1) -> Decision:
        """Meter: pour ``n`` units in if they fit (level + n <= limit); never delays the request."""
        key, n = self._args(key, n)
        now = self.clock.now()
        with self._mu:
            level, last = self._state.get(("meter", key), (0.0, now))
            level = max(0.0, level - max(0.0, now - last) * self.rate)
            allowed = level + n <= self.limit
            if allowed:
                level += n
            self._state[("meter", key)] = (level, max(now, last))
        retry = 0.0 if allowed else (math.inf if n > self.limit else (level + n - self.limit) / self.rate)
        return Decision(allowed, float(self.limit - level), retry, level / self.rate)

    def schedule(self, key: str, n: int = 1) -> float | None:
        """Queue: accept ``n`` units if the queue has room and return the delay (seconds from now) until
        they are served, one every ``window/limit`` s; ``None`` (refused) if the queue is full. The
        queue holds at most ``limit`` units, counting the one being served.

        The caller sleeps for the delay (``clock.sleep``) and then does the work: this is how the queue
        smooths a burst into a steady stream, at the cost of latency up to ``window``.
        """
        key, n = self._args(key, n)
        now = self.clock.now()
        interval = self.window / self.limit
        with self._mu:
            free_at = max(self._state.get(("queue", key), now), now)
            queued = (free_at - now) / interval  # units still waiting ahead of us
            if queued + n > self.limit + 1e-9:
                return None
            self._state[("queue", key)] = free_at + n * interval
        return free_at - now

    def reset(self, key: str) -> None:
        key = _validate.text("key", key)
        with self._mu:
            self._state.pop(("meter", key), None)
            self._state.pop(("queue", key), None)


class GoRate(_Local):
    """``golang.org/x/time/rate`` per key: ``rate.NewLimiter(limit/window, limit)`` (:mod:`hcedu.go.rate`).

    ``allow`` is Go's ``AllowN(now, n)``; the Decision's numbers come from ``TokensAt``. The Go limiter
    is created on a key's first use, full, as a Go service's ``map[string]*rate.Limiter`` would.
    """

    def limiter(self, key: str) -> rate.Limiter:
        """The ``rate.Limiter`` for ``key`` (created on first use)."""
        key = _validate.text("key", key)
        with self._mu:
            lim = self._state.get(key)
            if lim is None:
                lim = self._state[key] = rate.Limiter(self.rate, self.limit, clock=self.clock)
            return lim

    def allow(self, key: str, n: int = 1) -> Decision:
        """Go's ``AllowN(clock.now(), n)`` on ``key``'s limiter."""
        key, n = self._args(key, n)
        lim = self.limiter(key)
        now = self.clock.now()
        allowed = lim.allow_n(now, n)
        tokens = lim.tokens_at(now)
        retry = 0.0 if allowed else (math.inf if n > self.limit else max(0.0, (n - tokens) / self.rate))
        return Decision(allowed, tokens, retry, max(0.0, (self.limit - tokens) / self.rate))


class NaiveFixedWindow:
    """**Broken on purpose**: a Redis fixed window as GET, compare, then INCRBY (two round trips).

    Every thread (or app server) that GETs before the others INCR sees room and is admitted, so under
    concurrency it admits more than ``limit``. ``pause`` (real seconds on :data:`hcedu.clock.REAL`, default
    1 ms, whatever ``clock`` is: the race is between real threads) sleeps between the GET and the INCR to
    widen the race window the way a slow network or a GC pause would. Windows are
    clock-aligned (``key:{window index}``) and the key expires after the window.
    """

    def __init__(self, client: redis.Redis | None = None, *, limit: int, window: float,
                 keyspace: Keyspace | None = None, clock: Clock | None = None, name: str = "naive",
                 pause: float = 0.001) -> None:
        self.limit = _validate.integer("limit", limit, minimum=1)
        self.window = _validate.number("window", window, minimum=0, strict=True)
        self.pause = _validate.number("pause", pause, minimum=0)
        _validate.text("name", name)
        self.client, self.keyspace = resolve_keyspace(client, keyspace, "ratelimit")
        self.clock = as_clock(clock)
        self.name = name

    def _key(self, key: str, now: float) -> tuple[str, float]:
        idx = math.floor(now / self.window)
        return self.keyspace.key(self.name, "naive", key, idx), (idx + 1) * self.window - now

    def allow(self, key: str, n: int = 1) -> Decision:
        """GET the count; if ``count + n <= limit``, (pause, then) INCRBY and admit. Not atomic."""
        _validate.text("key", key)
        n = _validate.integer("n", n, minimum=1)
        rkey, reset = self._key(key, self.clock.now())
        count = int(self.client.get(rkey) or 0)
        if count + n > self.limit:
            return Decision(False, float(max(0, self.limit - count)),
                            math.inf if n > self.limit else reset, reset)
        if self.pause:
            REAL.sleep(self.pause)  # the race window between the two round trips (wall time, see the docstring)
        count = self.client.incrby(rkey, n)
        if count == n:
            self.client.pexpire(rkey, max(1, math.ceil(self.window * 1000)))
        return Decision(True, float(max(0, self.limit - count)), 0.0, reset)

    def reset(self, key: str) -> None:
        """Delete ``key``'s counter for the current window."""
        self.client.delete(self._key(_validate.text("key", key), self.clock.now())[0])

    def __repr__(self) -> str:
        return f"<NaiveFixedWindow {self.limit} per {self.window:g}s GET-then-INCR pause={self.pause:g}s (racy)>"


_runs = itertools.count(1)  # a fresh keyspace name per standard_limiters() call


# --- experiments --------------------------------------------------------------------------------------

def admissions(limiters: dict[str, Any], arrivals: Iterable[float], clock: VirtualClock, key: str = "k") -> pd.DataFrame:
    """Run the same arrival times through every limiter on virtual time.

    ``limiters`` maps a label to a limiter whose ``clock`` is ``clock``; ``arrivals`` are times
    (seconds, sorted here; none may be before ``clock.now()``). At each arrival the clock is moved
    there and every limiter is asked ``allow(key)`` once. Returns a frame with columns ``limiter``
    (str), ``t``, ``allowed`` (one row per limiter per arrival; rows grouped by limiter in the given
    order, then by time).
    ``ValueError`` if a limiter runs on another clock or an arrival is in the past.
    """
    if not isinstance(clock, VirtualClock):
        raise TypeError(f"clock must be a VirtualClock (got {type(clock).__name__})")
    if not isinstance(limiters, dict) or not limiters:
        raise TypeError("limiters must be a non-empty dict of label -> limiter")
    for label, lim in limiters.items():
        if not callable(getattr(lim, "allow", None)):
            raise TypeError(f"limiters[{label!r}] has no allow(key, n) method")
        if getattr(lim, "clock", None) is not clock:
            raise ValueError(f"limiters[{label!r}] must use the experiment's clock (pass clock=clock)")
    _validate.text("key", key)
    times = sorted(_validate.number("arrival", t) for t in arrivals)
    if times and times[0] < clock.now():
        raise ValueError(f"arrivals must be >= clock.now() = {clock.now():g} (got {times[0]:g})")
    per: dict[str, list[bool]] = {label: [] for label in limiters}
    for t in times:
        clock.advance_to(t)
        for label, lim in limiters.items():
            per[label].append(bool(lim.allow(key).allowed))
    rows = [(label, t, ok) for label, oks in per.items() for t, ok in zip(times, oks)]
    return pd.DataFrame(rows, columns=["limiter", "t", "allowed"])


def standard_limiters(clock: Clock, *, limit: int, window: float, client: redis.Redis | None = None,
                      local: bool = False) -> tuple[dict[str, Any], Keyspace | None]:
    """The limiters the experiments compare, all on ``clock`` with ``limit`` per ``window``.

    Redis (default; ``client`` or the embedded backend): fixed window (clock-aligned), sliding log,
    sliding counter, token bucket, GCRA, in a fresh keyspace that is returned so the caller can
    ``cleanup()`` it. ``local=True``: fixed window, sliding log, leaky bucket (meter), x/time/rate;
    the keyspace is then None. Returns ``(limiters by label, keyspace)``.
    """
    limit = _validate.integer("limit", limit, minimum=1)
    window = _validate.number("window", window, minimum=0, strict=True)
    if local:
        return {
            "fixed window": LocalFixedWindow(limit=limit, window=window, clock=clock, align="clock"),
            "sliding log": LocalSlidingLog(limit=limit, window=window, clock=clock),
            "leaky bucket": LeakyBucket(limit=limit, window=window, clock=clock),
            "x/time/rate": GoRate(limit=limit, window=window, clock=clock),
        }, None
    client = client if client is not None else connect()
    ks = Keyspace(f"limiters-{next(_runs)}", client)
    kw: dict[str, Any] = dict(limit=limit, window=window, clock=clock, keyspace=ks)
    return {
        "fixed window": FixedWindowLimiter(client, align="clock", **kw),
        "sliding log": SlidingLogLimiter(client, **kw),
        "sliding counter": SlidingWindowCounterLimiter(client, **kw),
        "token bucket": TokenBucketLimiter(client, **kw),
        "GCRA": GCRALimiter(client, **kw),
    }, ks


def boundary_burst(limit: int = 100, window: float = 60.0, *, spread: float = 0.01, client: redis.Redis | None = None,
                   local: bool = False) -> pd.DataFrame:
    """The fixed window's failure: ``limit`` requests in the ``spread`` seconds before a window boundary
    and ``limit`` in the ``spread`` after it.

    Runs them through :func:`standard_limiters` (Redis: ``client``, default the embedded backend, in a
    throwaway keyspace that is cleaned up; or, with ``local=True``, the in-process ones), all on one
    ``VirtualClock``. The clock-aligned fixed window admits all ``2 * limit`` within ``2 * spread``
    seconds; the sliding log admits ``limit``; the token bucket, GCRA and leaky bucket ``limit`` plus
    what refills in ``2 * spread`` (a fraction of one). Returns the :func:`admissions` frame (the
    boundary is at ``t = window``).
    """
    limit = _validate.integer("limit", limit, minimum=1)
    window = _validate.number("window", window, minimum=0, strict=True)
    spread = _validate.number("spread", spread, minimum=0, strict=True, maximum=window / 2)
    clock = VirtualClock(0.0)
    before = [window - spread + spread * i / limit for i in range(limit)]
    after = [window + spread * i / limit for i in range(limit)]
    lims, ks = standard_limiters(clock, limit=limit, window=window, client=client, local=local)
    try:
        frame = admissions(lims, before + after, clock)
    finally:
        if ks is not None:
            ks.cleanup()
    return frame


def max_in_any_window(frame: pd.DataFrame, window: float) -> pd.Series:
    """Per limiter, the most requests admitted in any interval ``[t, t + window)``.

    The number a limit promises to bound: ``limit`` for an exact limiter, up to ``2 * limit`` for a
    fixed window. Returns an int Series indexed by limiter (in the frame's order).
    """
    window = _validate.number("window", window, minimum=0, strict=True)
    _require_columns(frame, ("limiter", "t", "allowed"))
    out: dict[Any, int] = {}
    for label, group in frame.groupby("limiter", sort=False):
        ts = sorted(group.loc[group["allowed"].astype(bool), "t"])
        best = 0
        for i, t in enumerate(ts):
            best = max(best, bisect.bisect_left(ts, t + window) - i)
        out[label] = best
    return pd.Series(out, name="max_admitted", dtype="int64")


def _require_columns(frame: Any, cols: tuple[str, ...]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame (got {type(frame).__name__})")
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"frame is missing columns {missing}; expected {list(cols)} (from admissions())")


def chart_admitted(frame: pd.DataFrame, window: float) -> "Figure":
    """Cumulative admitted requests over time, one step line per limiter, window boundaries marked.

    ``window`` places the dashed boundary lines (multiples of ``window`` inside the frame's time
    range); the legend gives each limiter's :func:`max_in_any_window`. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    window = _validate.number("window", window, minimum=0, strict=True)
    _require_columns(frame, ("limiter", "t", "allowed"))
    peaks = max_in_any_window(frame, window)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    styles = ["-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (1, 2))]
    for i, (label, group) in enumerate(frame.groupby("limiter", sort=False)):
        g = group.sort_values("t", kind="stable")
        # later lines thinner and dashed, so limiters with identical curves stay visible on top of each other
        ax.step(g["t"], g["allowed"].astype(int).cumsum(), where="post", linestyle=styles[i % len(styles)],
                linewidth=max(1.0, 4.0 - 0.7 * i), label=f"{label} (max {peaks[label]} in any {window:g} s)")
    lo, hi = float(frame["t"].min()), float(frame["t"].max())
    for k in range(math.ceil(lo / window), math.floor(hi / window) + 1):
        ax.axvline(k * window, color="0.4", linestyle="--", linewidth=1)
        ax.annotate("window boundary", (k * window, 0), xytext=(4, 4), textcoords="offset points",
                    fontsize=8, color="0.3")
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    from .plot import finish

    xlabel = "time (s, virtual clock)"
    boundaries = [k * window for k in range(math.ceil(lo / window), math.floor(hi / window) + 1)]
    if boundaries and hi - lo < 1:  # a close-up: seconds like 59.9925 would overlap; count ms from the boundary
        b = boundaries[0]
        step = next(s for s in (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0)
                    if (hi - lo) / s <= 8)
        ax.xaxis.set_major_locator(MultipleLocator(step))
        ax.xaxis.set_major_formatter(FuncFormatter(
            lambda x, _pos: "0" if abs(x - b) < step / 100 else f"{(x - b) * 1000:+g}"))
        xlabel = f"ms from the window boundary at {b:g} s (virtual clock)"
    return finish(ax, title="Requests admitted around a window boundary", xlabel=xlabel,
                  ylabel="admitted so far", legend="below", integer_y=True, ylim_zero=True)


def concurrency_check(limiter_factory: Callable[[], Any], threads: int = 8, hits: int = 200, key: str = "hot",
                      timeout: float = 60.0) -> int:
    """Hammer one key from ``threads`` real threads, ``hits`` calls in all; return how many were admitted.

    ``limiter_factory()`` is called once per thread (give each its own client so the calls really
    overlap on the wire), and all threads start together at a barrier. For a limiter with no refill
    during the run (a frozen ``VirtualClock``, or a long window) an atomic limiter admits exactly
    ``min(limit, hits)``; :class:`NaiveFixedWindow` admits more. The threads are goroutines of
    :func:`hcedu.lab.runner.run_workers`; a worker's error is re-raised; ``TimeoutError`` if one is still
    running after ``timeout`` seconds.
    """
    _validate.function("limiter_factory", limiter_factory)
    threads = _validate.integer("threads", threads, minimum=1, maximum=256)
    hits = _validate.integer("hits", hits, minimum=0)
    _validate.text("key", key)
    timeout = _validate.number("timeout", timeout, minimum=0, strict=True)
    lims = [limiter_factory() for _ in range(threads)]
    shares = [hits // threads + (1 if i < hits % threads else 0) for i in range(threads)]

    def worker(i: int) -> int:
        return sum(bool(lims[i].allow(key).allowed) for _ in range(shares[i]))

    done = run_workers(worker, threads, name="hcedu-ratelimit", timeout=timeout, start_together=True)
    return sum(done.raise_first().results)
