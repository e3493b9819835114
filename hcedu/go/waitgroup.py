"""Go's ``sync.WaitGroup`` (sync/waitgroup.go): wait for a collection of goroutines to finish.

State mirrors Go's packed ``state`` word: ``counter`` (Go's high 32 bits, ``v``) and ``waiters`` (low 32
bits, ``w``), guarded by one lock instead of atomics.

Invariants (go-semantics.md §2):
  * ``add(delta)`` moves the counter; below zero panics ``"sync: negative WaitGroup counter"``;
    ``done()`` is ``add(-1)``;
  * ``wait()`` returns at once when the counter is 0; otherwise it blocks until the counter reaches 0,
    and the ``add`` that brings it to 0 releases **all** waiters together (one generation) and resets
    ``waiters`` to 0, as Go's ``Add`` does with ``state.Store(0)``;
  * a released waiter that finds the WaitGroup already reused (a positive ``add`` from 0 happened
    before that ``wait`` returned) panics ``"sync: WaitGroup is reused before previous Wait has
    returned"``, Go's check after ``runtime_SemacquireWaitGroup``. Go reports the same bug as
    ``"sync: WaitGroup misuse: Add called concurrently with Wait"`` when it catches the racing ``Add``
    inside its lock-free window; hcedu ports that check too (``add`` raises it if it ever sees waiters
    registered on a zero counter), but because hcedu's lock serialises the two ``Add`` calls the misuse
    normally surfaces as the reuse panic;
  * ``go(fn)`` (Go 1.25 ``wg.Go``) is ``add(1)`` then ``go(lambda: (fn(), done()))`` with ``done`` deferred,
    so a panicking ``fn`` still counts down;
  * a WaitGroup must not be copied after first use: ``copy.copy`` refuses (Go's ``vet`` copylocks check).

hcedu addition: ``wait(timeout)`` returns ``False`` if ``timeout`` seconds pass first (Go's ``Wait``
cannot time out); the timed-out waiter is removed from ``waiters`` and the counter is untouched.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from .. import _validate
from .goroutine import Goroutine, spawn
from .panic import Panic

__all__ = ["WaitGroup", "NEGATIVE_COUNTER", "MISUSE_CONCURRENT_ADD", "MISUSE_REUSED"]

NEGATIVE_COUNTER = "sync: negative WaitGroup counter"
MISUSE_CONCURRENT_ADD = "sync: WaitGroup misuse: Add called concurrently with Wait"
MISUSE_REUSED = "sync: WaitGroup is reused before previous Wait has returned"


class _Generation:
    """The waiters released together by one counter-reaches-zero event."""

    __slots__ = ("released", "reused", "unreturned")

    def __init__(self) -> None:
        self.released = False   # the counter reached 0 and this generation was woken
        self.reused = False     # a positive Add from 0 happened before every waiter returned
        self.unreturned = 0     # waiters of this generation that have not returned from wait() yet


class WaitGroup:
    """Go's ``sync.WaitGroup``: ``add(delta)``, ``done()``, ``wait(timeout=None) -> bool``, ``go(fn)``.

    >>> wg = WaitGroup(); out = []
    >>> for i in range(3):
    ...     _ = wg.go(out.append, i)
    >>> wg.wait(timeout=5), sorted(out)
    (True, [0, 1, 2])
    """

    def __init__(self) -> None:
        self._mu = threading.RLock()
        self._cond = threading.Condition(self._mu)
        self._counter = 0           # Go's v
        self._waiters = 0           # Go's w
        self._gen = _Generation()   # the generation current waiters belong to
        self._last_released: _Generation | None = None  # released waiters may still be returning
        self._used = False

    # -- Go's API ------------------------------------------------------------------------------------
    def add(self, delta: int) -> None:
        """Go's ``wg.Add(delta)``: add ``delta`` (may be negative) to the counter.

        When the counter reaches 0, every goroutine blocked in :meth:`wait` is released. Raises
        :class:`~hcedu.go.Panic` ``"sync: negative WaitGroup counter"`` if it would go below 0 (the counter
        is left unchanged, so the WaitGroup stays usable for the demo); ``TypeError`` if ``delta`` is not
        an int.
        """
        delta = _validate.integer("delta", delta)
        with self._mu:
            self._used = True
            v = self._counter + delta
            if v < 0:
                raise Panic(NEGATIVE_COUNTER)
            if self._waiters != 0 and delta > 0 and v == delta:
                # Go: a Wait registered on a zero counter while this Add starts a new round.
                raise Panic(MISUSE_CONCURRENT_ADD)
            last = self._last_released
            if delta > 0 and self._counter == 0 and last is not None and last.unreturned > 0:
                # Reused while released waiters of the previous round are still on their way out:
                # they will panic (Go checks this in Wait, after waking).
                last.reused = True
            self._counter = v
            if v > 0 or self._waiters == 0:
                return
            # The counter reached 0 with waiters: release them all together (Go: state.Store(0) and
            # one semrelease per waiter).
            gen = self._gen
            gen.released = True
            self._last_released = gen
            self._waiters = 0
            self._gen = _Generation()
            self._cond.notify_all()

    def done(self) -> None:
        """Go's ``wg.Done()``: ``add(-1)``. Panics ``"sync: negative WaitGroup counter"`` below zero."""
        self.add(-1)

    def wait(self, timeout: float | None = None) -> bool:
        """Go's ``wg.Wait()``: block until the counter is 0; return True.

        Returns True at once if the counter is already 0. With ``timeout`` (seconds), returns False if
        it is still above 0 when the time is up; the counter is not changed and this waiter is
        deregistered. Raises :class:`~hcedu.go.Panic` ``"sync: WaitGroup is reused before previous Wait
        has returned"`` if, after being released, it finds a new round already started.
        """
        timeout = _validate.optional_timeout("timeout", timeout)
        with self._mu:
            self._used = True
            if self._counter == 0:
                return True
            gen = self._gen
            self._waiters += 1
            gen.unreturned += 1
            try:
                ok = self._cond.wait_for(lambda: gen.released, timeout)
                if not ok:
                    self._waiters -= 1  # still the current generation: nobody reset the count
                    return False
                if gen.reused:
                    raise Panic(MISUSE_REUSED)
                return True
            finally:
                gen.unreturned -= 1

    def go(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Goroutine:
        """Go 1.25's ``wg.Go(f)``: ``add(1)``, then run ``fn(*args, **kwargs)`` on a new goroutine that calls
        ``done()`` when ``fn`` returns or panics (the panic is captured and reported by :func:`~hcedu.go.go`).

        Returns the goroutine's handle; ``TypeError`` if ``fn`` is not callable (nothing is added then).
        """
        _validate.function("fn", fn)
        self.add(1)

        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                self.done()

        name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
        try:
            return spawn(run, name=name, stacklevel=2)
        except BaseException:
            self.done()
            raise

    # -- inspection ------------------------------------------------------------------------------------
    @property
    def counter(self) -> int:
        """The counter (Go's ``v``): adds minus dones of the current round."""
        return self._counter

    @property
    def waiters(self) -> int:
        """Goroutines blocked in :meth:`wait` (Go's ``w``)."""
        return self._waiters

    def __copy__(self) -> "WaitGroup":
        if self._used:
            raise TypeError("a WaitGroup must not be copied after first use (Go vet: copylocks)")
        return WaitGroup()

    def __deepcopy__(self, memo: dict) -> "WaitGroup":
        return self.__copy__()

    def __repr__(self) -> str:
        return f"<WaitGroup counter={self._counter} waiters={self._waiters}>"
