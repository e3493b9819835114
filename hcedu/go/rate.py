"""Go's ``golang.org/x/time/rate``: a token-bucket ``Limiter``, ported line by line.

A ``Limiter`` is a bucket of ``burst`` tokens, **full at creation**, refilled at ``limit`` tokens per
second. ``allow_n`` takes tokens or says no, ``reserve_n`` takes them (possibly going into debt) and
says how long to wait, ``wait_n`` reserves and then sleeps, giving the tokens back if its context
ends first.

Mapping to Go:

* times are seconds on the limiter's clock (``hcedu.clock``); Go's ``time.Time`` arguments
  (``AllowN(t, n)``) are plain numbers here, so ``VirtualClock`` tests need no sleeping;
* durations are seconds; Go's ``InfDuration`` is ``math.inf``; ``Inf`` (the infinite limit) is
  ``sys.float_info.max`` like Go's ``math.MaxFloat64``, and ``math.inf`` passed as a limit means ``Inf``;
* internally times are whole nanoseconds, as in Go, so the arithmetic (and its rounding) matches
  Go's: ``wait = int64((-tokens/limit) * 1e9)`` ns, truncated.

Invariants (specs/go-semantics.md §7):
  * ``advance(t)`` never mutates; going back in time never refills (elapsed is 0);
  * only a successful reservation changes state (``last = t`` even if earlier, ``tokens`` may go
    negative: a debt later callers pay for, ``last_event = t + wait``);
  * with ``limit == Inf`` every request is granted at once and burst is ignored;
  * with ``limit == 0`` the bucket never refills: ``reserve_n`` past the tokens is OK with an
    infinite delay (a quirk of Go's code), ``allow_n`` is False.
"""

from __future__ import annotations

import math
import sys
import threading
from typing import Any

from .. import _validate
from ..clock import VirtualClock, as_clock

__all__ = ["Limit", "Inf", "InfDuration", "every", "Limiter", "Reservation", "RateError"]

Limit = float
#: The infinite rate limit (Go: ``Inf = Limit(math.MaxFloat64)``): allows all events, even with burst 0.
Inf: float = sys.float_info.max
#: Go's ``InfDuration`` (``1<<63 - 1`` ns): the delay of a reservation that is not OK.
InfDuration: float = math.inf

_NS = 1_000_000_000
_MAX_INT64 = (1 << 63) - 1  # Go's InfDuration in nanoseconds


class RateError(Exception):
    """An error returned (raised, here) by ``Limiter.wait_n``, with Go's message."""


def every(interval: float) -> float:
    """Go's ``rate.Every``: convert a minimum interval between events (seconds) to a ``Limit``.

    ``interval <= 0`` gives ``Inf``; otherwise ``1 / interval`` events per second.
    """
    interval = _validate.number("interval", interval, allow_inf=True)
    if interval <= 0:
        return Inf
    return 1.0 / interval


def _limit_arg(name: str, value: Any) -> float:
    v = _validate.number(name, value, minimum=0, allow_inf=True)
    return Inf if math.isinf(v) else v


def _to_ns(t: float) -> int:
    return round(t * _NS)


def _dur_seconds(d_ns: int) -> float:
    return math.inf if d_ns >= _MAX_INT64 else d_ns / _NS


def _duration_from_tokens(limit: float, tokens: float) -> int:
    """Go's ``Limit.durationFromTokens`` in ns: InfDuration for limit <= 0, capped on overflow."""
    if limit <= 0:
        return _MAX_INT64
    duration = (tokens / limit) * 1e9
    if duration > float(_MAX_INT64):
        return _MAX_INT64
    return int(duration)  # Go's time.Duration(float) truncates toward zero


def _tokens_from_duration(limit: float, d_ns: int) -> float:
    """Go's ``Limit.tokensFromDuration``: ``d.Seconds() * limit`` (0 for limit <= 0)."""
    if limit <= 0:
        return 0.0
    sec = abs(d_ns) // _NS
    nsec = abs(d_ns) % _NS
    if d_ns < 0:
        sec, nsec = -sec, -nsec
    return (sec + nsec / 1e9) * limit


class Reservation:
    """Go's ``rate.Reservation``: tokens granted by ``reserve_n``, to be used after ``delay()``.

    ``ok`` is False when the limiter could not grant the tokens within the maximum wait (or ``n``
    exceeds the burst); then ``delay()`` is ``math.inf`` and ``cancel()`` does nothing.
    """

    __slots__ = ("ok", "_lim", "tokens", "_act_ns", "limit")

    def __init__(self, ok: bool, lim: "Limiter", tokens: int = 0, act_ns: int = 0, limit: float = 0.0) -> None:
        self.ok = ok
        self._lim = lim
        self.tokens = tokens
        self._act_ns = act_ns
        self.limit = limit  # the Limit at reservation time; it can change later

    @property
    def time_to_act(self) -> float:
        """When the reserved events may happen (seconds on the limiter's clock); inf if never."""
        if self._act_ns >= _MAX_INT64:
            return math.inf
        return self._act_ns / _NS

    def delay(self) -> float:
        """Go's ``Delay``: ``delay_from(clock.now())``."""
        return self.delay_from(self._lim._clock.now())

    def delay_from(self, t: float) -> float:
        """Go's ``DelayFrom``: seconds to wait from ``t`` before acting; 0 = act now; inf if not ok."""
        t = _validate.number("t", t)
        if not self.ok:
            return InfDuration
        d = self._act_ns - _to_ns(t)
        if d < 0:
            return 0.0
        return _dur_seconds(d)

    def cancel(self) -> None:
        """Go's ``Cancel``: ``cancel_at(clock.now())``."""
        self.cancel_at(self._lim._clock.now())

    def cancel_at(self, t: float) -> None:
        """Go's ``CancelAt``: give back the reserved tokens, as far as later reservations allow.

        No-op if the reservation is not ok, the limit is ``Inf``, it reserved 0 tokens or its time to
        act is already before ``t``. Tokens reserved *after* this one (the span ``last_event -
        time_to_act``) are not restored.
        """
        t_ns = _to_ns(_validate.number("t", t))
        if not self.ok:
            return
        lim = self._lim
        with lim._mu:
            if lim._limit == Inf or self.tokens == 0 or self._act_ns < t_ns:
                return
            restore = self.tokens - _tokens_from_duration(self.limit, lim._last_event - self._act_ns)
            if restore <= 0:
                return
            tokens = lim._advance(t_ns) + restore
            if tokens > lim._burst:
                tokens = float(lim._burst)
            lim._last = t_ns
            lim._tokens = tokens
            if self._act_ns == lim._last_event:
                prev_event = self._act_ns + _duration_from_tokens(self.limit, float(-self.tokens))
                if not prev_event < t_ns:
                    lim._last_event = prev_event

    def __repr__(self) -> str:
        return f"<Reservation ok={self.ok} tokens={self.tokens} time_to_act={self.time_to_act:g}>"


class Limiter:
    """Go's ``rate.Limiter``: a token bucket of size ``burst``, initially full, refilled at ``limit``/s.

    ``Limiter(limit, burst, clock=None)``; ``limit`` is events per second (``>= 0``; ``Inf`` or
    ``math.inf`` for no limit), ``burst`` an int ``>= 0``. Safe to use from many threads.
    ``ValueError``/``TypeError`` for a negative or non-numeric limit, a negative or non-int burst
    or ``n``. (Go accepts negative values and rejects every event; the course refuses them.)
    """

    def __init__(self, limit: float, burst: int, clock: Any = None) -> None:
        self._limit = _limit_arg("limit", limit)
        self._burst = _validate.integer("burst", burst, minimum=0)
        self._clock = as_clock(clock)
        self._mu = threading.Lock()
        self._tokens = float(self._burst)  # NewLimiter starts full
        self._last = 0  # ns; Go's zero time.Time
        self._last_event = 0

    # --- accessors ------------------------------------------------------------------------
    @property
    def clock(self) -> Any:
        return self._clock

    def limit(self) -> float:
        """Go's ``Limit()``: the maximum overall event rate (events per second)."""
        with self._mu:
            return self._limit

    def burst(self) -> int:
        """Go's ``Burst()``: the most tokens one call may take (0 allows nothing unless limit is Inf)."""
        with self._mu:
            return self._burst

    def tokens_at(self, t: float) -> float:
        """Go's ``TokensAt``: tokens available at time ``t`` (does not change the limiter)."""
        t_ns = _to_ns(_validate.number("t", t))
        with self._mu:
            return self._advance(t_ns)

    def tokens(self) -> float:
        """Go's ``Tokens``: ``tokens_at(clock.now())``."""
        return self.tokens_at(self._clock.now())

    # --- allow / reserve ------------------------------------------------------------------
    def allow(self) -> bool:
        """Go's ``Allow``: ``allow_n(clock.now(), 1)``."""
        return self.allow_n(self._clock.now(), 1)

    def allow_n(self, t: float, n: int) -> bool:
        """Go's ``AllowN``: whether ``n`` events may happen at ``t``; takes the tokens if so, never waits."""
        return self._reserve_n(t, n, 0).ok

    def reserve(self) -> Reservation:
        """Go's ``Reserve``: ``reserve_n(clock.now(), 1)``."""
        return self.reserve_n(self._clock.now(), 1)

    def reserve_n(self, t: float, n: int) -> Reservation:
        """Go's ``ReserveN``: reserve ``n`` tokens at ``t``; the caller must wait ``r.delay_from(t)``.

        ``r.ok`` is False if ``n`` exceeds the burst (and the limit is not Inf). With limit 0 and too few
        tokens the reservation is ok with an infinite delay (Go's behaviour).
        """
        return self._reserve_n(t, n, _MAX_INT64)

    def _reserve_n(self, t: float, n: int, max_future_reserve_ns: int) -> Reservation:
        t_ns = _to_ns(_validate.number("t", t))
        n = _validate.integer("n", n, minimum=0)
        with self._mu:
            if self._limit == Inf:
                return Reservation(True, self, n, t_ns, 0.0)
            tokens = self._advance(t_ns) - n
            wait_ns = 0
            if tokens < 0:
                wait_ns = _duration_from_tokens(self._limit, -tokens)
            ok = n <= self._burst and wait_ns <= max_future_reserve_ns
            r = Reservation(ok, self, 0, 0, self._limit)
            if ok:
                r.tokens = n
                r._act_ns = t_ns + wait_ns
                self._last = t_ns
                self._tokens = tokens
                self._last_event = r._act_ns
            return r

    def _advance(self, t_ns: int) -> float:
        """Go's ``advance``: tokens at ``t`` from the passage of time. Needs ``_mu``; mutates nothing."""
        last = self._last
        if t_ns < last:
            last = t_ns
        delta = _tokens_from_duration(self._limit, t_ns - last)
        tokens = self._tokens + delta
        if tokens > self._burst:
            tokens = float(self._burst)
        return tokens

    # --- wait -----------------------------------------------------------------------------
    def wait(self, ctx: Any) -> None:
        """Go's ``Wait``: ``wait_n(ctx, 1)``."""
        self.wait_n(ctx, 1)

    def wait_n(self, ctx: Any, n: int) -> None:
        """Go's ``WaitN``: block until ``n`` events may happen; return None, or raise.

        Raises, in Go's order: :class:`RateError` ``"rate: Wait(n=%d) exceeds limiter's burst %d"``
        (unless the limit is Inf); the context's error (``context.Canceled`` /
        ``context.DeadlineExceeded``) if it is already done; :class:`RateError` ``"rate: Wait(n=%d)
        would exceed context deadline"`` if the tokens cannot arrive before ``ctx.deadline()``.
        If the context ends while waiting, the reservation is cancelled (tokens go back) and the
        context's error is raised. On a ``VirtualClock`` the wait advances the clock to the time to
        act (as ``VirtualClock.sleep`` does, and as Go's test clock does).
        """
        from . import context as _context

        if ctx is None:
            raise TypeError("ctx must be a Context (got None); use context.background()")
        n = _validate.integer("n", n, minimum=0)
        with self._mu:
            burst, limit = self._burst, self._limit
        if n > burst and limit != Inf:
            raise RateError(f"rate: Wait(n={n}) exceeds limiter's burst {burst}")
        err = ctx.err()
        if err is not None:
            raise err
        now = self._clock.now()
        wait_limit_ns = _MAX_INT64
        deadline = ctx.deadline()
        if deadline is not None:
            wait_limit_ns = _to_ns(deadline) - _to_ns(now)
        r = self._reserve_n(now, n, wait_limit_ns)
        if not r.ok:
            raise RateError(f"rate: Wait(n={n}) would exceed context deadline")
        delay = r.delay_from(now)
        if delay == 0:
            return
        fired = threading.Event()
        ready = threading.Event()  # set by the timer or by the context ending
        if math.isinf(delay):
            timer = None
        else:
            def _fire() -> None:
                fired.set()
                ready.set()
            timer = self._clock.after(delay, _fire)
        stop = _context.after_func(ctx, ready.set)
        virtual = isinstance(self._clock, VirtualClock)
        try:
            while not ready.is_set():
                if virtual and timer is not None:
                    # Go's test hook: move the fake clock to the next timer (one at a time, so an
                    # earlier cancellation or deadline is seen before the tokens arrive).
                    nd = self._clock.next_due()
                    if nd is not None and nd <= timer.due:
                        self._clock.advance_to(max(nd, self._clock.now()))
                        continue
                ready.wait(0.05)
        finally:
            stop()
            if timer is not None:
                timer.cancel()
        if fired.is_set():
            return
        r.cancel()
        err = ctx.err()
        raise err if err is not None else _context.Canceled

    # --- set limit / burst ----------------------------------------------------------------
    def set_limit(self, new_limit: float) -> None:
        """Go's ``SetLimit``: ``set_limit_at(clock.now(), new_limit)``."""
        self.set_limit_at(self._clock.now(), new_limit)

    def set_limit_at(self, t: float, new_limit: float) -> None:
        """Go's ``SetLimitAt``: advance at the old rate to ``t``, set ``last = t``, then change the limit.

        Reservations already made keep their time to act, so the new limit may be violated or
        underused for a while.
        """
        t_ns = _to_ns(_validate.number("t", t))
        new_limit = _limit_arg("new_limit", new_limit)
        with self._mu:
            tokens = self._advance(t_ns)
            self._last = t_ns
            self._tokens = tokens
            self._limit = new_limit

    def set_burst(self, new_burst: int) -> None:
        """Go's ``SetBurst``: ``set_burst_at(clock.now(), new_burst)``."""
        self.set_burst_at(self._clock.now(), new_burst)

    def set_burst_at(self, t: float, new_burst: int) -> None:
        """Go's ``SetBurstAt``: advance to ``t`` at the current rate, set ``last = t``, change the burst."""
        t_ns = _to_ns(_validate.number("t", t))
        new_burst = _validate.integer("new_burst", new_burst, minimum=0)
        with self._mu:
            tokens = self._advance(t_ns)
            self._last = t_ns
            self._tokens = tokens
            self._burst = new_burst

    def __repr__(self) -> str:
        lim = "Inf" if self._limit == Inf else f"{self._limit:g}"
        return f"<Limiter limit={lim}/s burst={self._burst} tokens={self._tokens:g}>"
