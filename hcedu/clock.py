"""Injected time (Go's ``time.Now``/``time.Sleep``/``time.AfterFunc``): ``RealClock`` and ``VirtualClock``.

Everything in hcedu that reads time, sleeps or schedules takes a ``clock``. Live measurements use
:class:`RealClock`; simulations use :class:`VirtualClock`, which makes a 30-minute order timeout
run in microseconds and the same seed give the same result.

Invariants of ``VirtualClock``:
  * ``now()`` never goes backwards;
  * time moves only through ``advance``/``advance_to``/``sleep``;
  * due timers fire in (due time, creation order) order, each with ``now()`` equal to its due time,
    in the thread that advanced the clock, outside the clock's lock (a callback may schedule or
    cancel timers and read the clock);
  * ``Timer.cancel()`` returns True iff it prevented the callback (Go's ``Timer.Stop``).

``now()`` is a timestamp (RealClock: seconds since the epoch, storable in Redis and comparable across
processes); ``monotonic()`` is for durations and deadlines (Go keeps both readings inside one
``time.Time``): it never jumps when the wall clock is set, and a :class:`SkewedClock` shares the real one's.
Code that waits for a state polls through :func:`poll_until`, so the wait, too, runs on the injected clock.

Both clocks reject negative or NaN durations with ``ValueError`` and non-numbers with ``TypeError``;
callers that compute ``deadline - now`` clamp with ``max(0.0, ...)`` first.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Any, Callable, Protocol, runtime_checkable

from . import _validate

__all__ = ["Clock", "Timer", "RealClock", "SkewedClock", "VirtualClock", "as_clock", "poll_until", "REAL"]


class Timer:
    """A pending call scheduled with ``clock.after``; ``cancel()`` is Go's ``Timer.Stop``."""

    __slots__ = ("due", "_fn", "_args", "_state", "_lock", "_clock_name", "_thread")

    def __init__(self, due: float, fn: Callable[..., Any], args: tuple, clock_name: str) -> None:
        self.due = due
        self._fn = fn
        self._args = args
        self._state = "pending"  # pending -> fired | cancelled
        self._lock = threading.Lock()
        self._clock_name = clock_name
        self._thread: threading.Timer | None = None  # RealClock only: stopped on cancel, no sleeping thread left

    def cancel(self) -> bool:
        """Prevent the call. Return True if this prevented it, False if it already fired or was cancelled."""
        with self._lock:
            if self._state != "pending":
                return False
            self._state = "cancelled"
        if self._thread is not None:
            self._thread.cancel()
        return True

    @property
    def pending(self) -> bool:
        return self._state == "pending"

    @property
    def fired(self) -> bool:
        return self._state == "fired"

    def _claim(self) -> bool:
        with self._lock:
            if self._state != "pending":
                return False
            self._state = "fired"
            return True

    def _fire(self) -> None:
        if self._claim():
            self._fn(*self._args)

    def __repr__(self) -> str:
        name = getattr(self._fn, "__name__", type(self._fn).__name__)
        return f"<Timer {name} due={self.due:.6g} on {self._clock_name} {self._state}>"


@runtime_checkable
class Clock(Protocol):
    """What hcedu needs of a clock."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def monotonic(self) -> float: ...

    def after(self, seconds: float, fn: Callable[..., Any], *args: Any) -> Timer: ...


class RealClock:
    """Wall-clock time: ``now()`` is ``time.time()`` (seconds since the epoch), so values can be stored
    in Redis and compared across processes. ``after`` runs ``fn`` on a daemon thread.
    """

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        """Seconds on a high-resolution clock that never goes backwards (``time.perf_counter``): measure
        durations and compute deadlines with this, never with ``now()``."""
        return time.perf_counter()

    def sleep(self, seconds: float) -> None:
        time.sleep(_validate.number("seconds", seconds, minimum=0))

    def after(self, seconds: float, fn: Callable[..., Any], *args: Any) -> Timer:
        """Call ``fn(*args)`` on a daemon thread after ``seconds``; return a cancellable :class:`Timer`."""
        seconds = _validate.number("seconds", seconds, minimum=0)
        _validate.function("fn", fn)
        timer = Timer(self.now() + seconds, fn, args, "RealClock")
        t = threading.Timer(seconds, timer._fire)
        t.daemon = True
        t.name = f"hcedu-timer-{getattr(fn, '__name__', 'fn')}"
        timer._thread = t
        t.start()
        return timer

    def __repr__(self) -> str:
        return "RealClock()"


class SkewedClock(RealClock):
    """A :class:`RealClock` that runs ``offset`` seconds ahead (negative: behind): an app server whose NTP
    sync failed. It is still a real clock, so code that checks client time against the server's (a rate
    limiter's ``max_skew`` clamp) treats it as one."""

    def __init__(self, offset: float) -> None:
        self.offset = _validate.number("offset", offset)

    def now(self) -> float:
        return time.time() + self.offset

    def __repr__(self) -> str:
        return f"SkewedClock(offset={self.offset:+g})"


class VirtualClock:
    """Simulated time that moves only when told to; deterministic and instant.

    >>> c = VirtualClock(); fired = []
    >>> _ = c.after(5, fired.append, "a"); _ = c.after(2, fired.append, "b")
    >>> c.advance(10); fired, c.now()
    (['b', 'a'], 10.0)
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = _validate.number("start", start)
        self._target = self._now  # where the advances so far have committed the clock to (>= _now; under _lock)
        self._lock = threading.Lock()
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        """Virtual time never jumps, so it is its own monotonic clock: the same as :meth:`now`."""
        return self._now

    def after(self, seconds: float, fn: Callable[..., Any], *args: Any) -> Timer:
        """Schedule ``fn(*args)`` at ``now() + seconds``; it fires when the clock is advanced past it."""
        seconds = _validate.number("seconds", seconds, minimum=0)
        _validate.function("fn", fn)
        with self._lock:
            timer = Timer(self._now + seconds, fn, args, "VirtualClock")
            heapq.heappush(self._timers, (timer.due, next(self._seq), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing due timers in order.

        Advances from several threads add up: each moves the clock ``seconds`` past where the advances before it
        have committed it, taken under the clock's lock. (Computing ``now() + seconds`` before taking it lost an
        advance whenever two threads read the same ``now()``: 400 advances of 0.01 s from 4 threads once
        ended at 3.97 s.)"""
        seconds = _validate.number("seconds", seconds, minimum=0)
        with self._lock:
            self._target += seconds
            t = self._target
        self._run_to(t)

    def advance_to(self, t: float) -> None:
        """Move time forward to ``t`` (which must not be in the past), firing due timers in order."""
        t = _validate.number("t", t)
        with self._lock:
            if t < self._now:
                raise ValueError(f"t must be >= now() ({self._now:g}); a clock never goes backwards (got {t:g})")
            self._target = max(self._target, t)
        self._run_to(t)

    def _run_to(self, t: float) -> None:
        """Fire the timers due by ``t`` in order (each with the clock at its due time, outside the lock), then
        stand the clock at ``t`` unless another advance has already moved it further."""
        while True:
            with self._lock:
                while self._timers and not self._timers[0][2].pending:
                    heapq.heappop(self._timers)
                if self._timers and self._timers[0][0] <= t:
                    due, _, timer = heapq.heappop(self._timers)
                    self._now = max(self._now, due)
                else:
                    self._now = max(self._now, t)
                    return
            timer._fire()

    def sleep(self, seconds: float) -> None:
        """On a virtual clock, sleeping advances time (firing due timers) and returns at once."""
        self.advance(seconds)

    def next_due(self) -> float | None:
        """The due time of the earliest pending timer, or None."""
        with self._lock:
            pending = [d for d, _, tm in self._timers if tm.pending]
        return min(pending) if pending else None

    def pending(self) -> int:
        """How many timers are still pending."""
        with self._lock:
            return sum(1 for _, _, tm in self._timers if tm.pending)

    def run_until_idle(self, limit: float = float("inf")) -> None:
        """Advance from timer to timer until none is pending (or ``limit`` is reached)."""
        while True:
            due = self.next_due()
            if due is None or due > limit:
                return
            self.advance_to(due)

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now:g}, pending={self.pending()})"


#: The process's real clock, for code whose time must be real (socket deadlines, process start-up waits,
#: wall-time measurements): shared, stateless, and still replaceable where a function takes ``clock=``.
REAL = RealClock()


def poll_until(predicate: Callable[[], Any], timeout: float, *, interval: float = 0.005,
               clock: Any = None) -> bool:
    """Call ``predicate`` every ``interval`` seconds until it returns a true value (then return True) or
    ``timeout`` seconds have passed on ``clock`` (then return False; the caller says what it waited for).

    The one polling loop of the package: waiting for a process to listen, a worker to go idle, a key to
    appear. On a :class:`VirtualClock` each sleep advances virtual time, so a wait for a timer is instant.
    ``predicate`` may raise to stop at once (e.g. the process it waits for has exited).
    """
    _validate.function("predicate", predicate)
    timeout = _validate.number("timeout", timeout, minimum=0)
    interval = _validate.number("interval", interval, minimum=0)
    clock = as_clock(clock)
    end = clock.monotonic() + timeout
    while not predicate():
        left = end - clock.monotonic()
        if left <= 0:
            return False
        clock.sleep(min(interval, left))
    return True


def as_clock(clock: Any = None) -> Clock:
    """Return ``clock``, or a new :class:`RealClock` when it is None; TypeError if it is not a clock."""
    if clock is None:
        return RealClock()
    if not isinstance(clock, Clock):
        raise TypeError(f"clock must provide now(), monotonic(), sleep() and after() (got {type(clock).__name__})")
    return clock
