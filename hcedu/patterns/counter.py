"""Counters under contention in one process (Go ``sync/atomic`` ``atomic.Int64``, striped counters).

Every counter here has the same interface (:class:`CounterLike`): ``incr(n=1)`` adds ``n`` (an int >= 1)
and ``value()`` reads the total. The Redis counters (``INCR``/``INCRBY``, sharded, batched) share it and live
in :mod:`hcedu.patterns.rediscounter`.

In-process (threads):
  * :class:`NaiveCounter` -- read, then write (``v = x; x = v + n``): **loses updates**. A ``pause`` between
    the two steps stands for anything that lets another thread run there (a call, I/O, a preemption); the
    default, a real ``sleep(0)``, releases the GIL exactly there, so the loss is reliable.
  * :class:`LockedCounter` -- a ``threading.Lock`` around read-modify-write (Go: ``sync.Mutex``).
  * :class:`AtomicCounter` -- the closest CPython gets to Go's ``atomic.AddInt64``: one C-level
    ``next(itertools.count)`` per increment, which runs without releasing the GIL. It is atomic because of
    the GIL, not because of the hardware; Go's ``atomic.Int64.Add`` compiles to one ``LOCK XADD``
    instruction on amd64 (``LDADDAL`` on arm64 with LSE).
  * :class:`StripedCounter` -- Java's ``LongAdder`` idea: ``stripes`` cells, each with its own lock; a thread
    always adds to its own cell, ``value()`` sums the cells. In Go you build it yourself (per-P or per-shard
    cells padded to a cache line: ``_ [56]byte`` or ``golang.org/x/sys/cpu.CacheLinePad``).

Invariants:
  * every counter except the naive one is exact: after ``k`` concurrent ``incr(n)`` calls have returned,
    ``value()`` is the sum of the ``n``;
  * a striped counter's ``value()`` is a sum of per-cell reads, not a snapshot: under concurrent increments
    it is some value between the totals before and after the read (``LongAdder.sum()`` makes the same
    promise); ``sum_then_reset()`` moves every count into exactly one result, none lost or counted twice;

Bad input (``n`` not an int, < 1; a bad ``stripes``) raises ``TypeError``/``ValueError`` before anything
changes.
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any, Callable, Protocol, runtime_checkable

from .. import _validate
from ..clock import REAL

__all__ = ["CounterLike", "NaiveCounter", "LockedCounter", "AtomicCounter", "StripedCounter", "yield_gil",
           "IN_PROCESS"]

@runtime_checkable
class CounterLike(Protocol):
    """What every counter in this module offers."""

    def incr(self, n: int = 1) -> Any: ...

    def value(self) -> int: ...


def yield_gil() -> None:
    """Let another thread run now: a real ``sleep(0)`` releases the GIL (the stand-in for a preemption).

    Go's ``runtime.Gosched()``, not a wait: it reads no time and waits for nothing. It goes through
    :data:`hcedu.clock.REAL`, never an injected clock: a :class:`~hcedu.clock.VirtualClock`'s ``sleep(0)``
    would not release the GIL, and the naive counter's lost update, the lesson, would then depend on
    scheduling luck."""
    REAL.sleep(0)


#: Redis integers are signed 64-bit
MAX_INT64 = 2 ** 63 - 1


def _n(n: Any) -> int:
    return _validate.integer("n", n, minimum=1, maximum=MAX_INT64)


def _pause(pause: Any) -> Callable[[], Any] | None:
    return None if pause is None else _validate.function("pause", pause)


# -- in-process -----------------------------------------------------------------------------------------

class NaiveCounter:
    """``count++`` written out: read the value, (``pause``), write value + n. Loses updates under threads.

    Two threads that both read 41 both write 42: one increment is gone. ``pause`` (default
    :func:`yield_gil`) runs between the read and the write; pass ``pause=None`` for the bare
    ``v = self._value; self._value = v + n``, which CPython 3.11 happens not to interrupt (it only switches
    threads at calls and backward jumps), so it *looks* atomic -- an accident of one interpreter, not a
    guarantee (free-threaded CPython, another version, or one extra call between the steps breaks it).
    """

    def __init__(self, pause: Callable[[], Any] | None = yield_gil) -> None:
        self._pause = _pause(pause)
        self._value = 0

    def incr(self, n: int = 1) -> None:
        """Add ``n`` -- not atomically."""
        n = _n(n)
        v = self._value
        if self._pause is not None:
            self._pause()
        self._value = v + n

    def value(self) -> int:
        return self._value

    def __repr__(self) -> str:
        return f"NaiveCounter(value={self._value})"


class LockedCounter:
    """A ``threading.Lock`` around read-modify-write (Go: ``mu.Lock(); n++; mu.Unlock()``). Exact."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def incr(self, n: int = 1) -> int:
        """Add ``n``; return the new value."""
        n = _n(n)
        with self._lock:
            self._value += n
            return self._value

    def value(self) -> int:
        with self._lock:
            return self._value

    def __repr__(self) -> str:
        return f"LockedCounter(value={self._value})"


_COUNT_RE = re.compile(r"count\((-?\d+)")


class AtomicCounter:
    """The nearest Python has to Go's ``atomic.AddInt64``: one GIL-held C call per increment. Exact.

    ``incr(n)`` is ``next(count)`` on an ``itertools.count(0, n)`` (one per distinct step ``n``, created
    with ``dict.setdefault``, itself one C call). A C function that does not release the GIL cannot be
    interrupted by another Python thread, so the read-add-write inside ``next`` is atomic *because of the
    GIL*. Python has no hardware atomics; Go's ``atomic.Int64.Add`` is a single ``LOCK XADD`` instruction
    (x86-64), atomic across cores with no lock, no scheduler, no retry. On a free-threaded (no-GIL) build
    check that your version makes ``itertools.count`` thread-safe before relying on this.

    ``value()`` reads each count without advancing it (from its repr) and sums.
    """

    def __init__(self) -> None:
        self._counts: dict[int, Any] = {}

    def incr(self, n: int = 1) -> None:
        """Add ``n`` in one atomic step (under the GIL)."""
        n = _n(n)
        next(self._counts.setdefault(n, itertools.count(0, n)))

    def value(self) -> int:
        total = 0
        for c in list(self._counts.values()):
            total += int(_COUNT_RE.match(repr(c)).group(1))
        return total

    def __repr__(self) -> str:
        return f"AtomicCounter(value={self.value()})"


class _Cell:
    """One stripe: its own lock and partial sum (``LongAdder.Cell``)."""

    __slots__ = ("lock", "value")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value = 0


class StripedCounter:
    """``LongAdder``-style striped counter: ``stripes`` cells, each with its own lock. Exact.

    Each thread is given a home cell on its first increment (round robin, so up to ``stripes`` threads never
    share one; Java's ``LongAdder`` gets the same effect with a per-thread probe it rehashes on contention)
    and always adds there, so threads do not wait on one lock. ``value()`` sums the cells (not a snapshot
    under concurrent increments, like ``LongAdder.sum()``); ``sum_then_reset()`` takes and zeroes each cell
    under its lock; ``reset()`` zeroes them.

    In CPython the GIL already serialises the threads, so this is no faster than one lock (see chapter 14).
    On many cores in Go or Java it is: each core writes its own cache line instead of all of them bouncing
    one -- provided the cells are padded to a cache line each, or neighbours falsely share a line.
    """

    def __init__(self, stripes: int = 8) -> None:
        self.stripes = _validate.integer("stripes", stripes, minimum=1, maximum=4096)
        self.cells = [_Cell() for _ in range(self.stripes)]
        self._next = itertools.count()
        self._home = threading.local()

    def _cell(self) -> _Cell:
        try:
            return self._home.cell
        except AttributeError:
            cell = self._home.cell = self.cells[next(self._next) % self.stripes]
            return cell

    def incr(self, n: int = 1) -> None:
        """Add ``n`` to the calling thread's cell."""
        n = _n(n)
        cell = self._cell()
        with cell.lock:
            cell.value += n

    def value(self) -> int:
        """The sum of the cells."""
        total = 0
        for cell in self.cells:
            with cell.lock:
                total += cell.value
        return total

    def sum_then_reset(self) -> int:
        """Take every cell's count and zero it; return the total. Each increment lands in exactly one result."""
        total = 0
        for cell in self.cells:
            with cell.lock:
                total += cell.value
                cell.value = 0
        return total

    def reset(self) -> None:
        """Zero every cell."""
        self.sum_then_reset()

    def cell_values(self) -> list[int]:
        """Each cell's partial sum (how evenly the threads spread)."""
        return [c.value for c in self.cells]

    def __repr__(self) -> str:
        return f"StripedCounter(stripes={self.stripes}, value={self.value()})"


#: name -> class, for experiments
IN_PROCESS: dict[str, type] = {"naive": NaiveCounter, "locked": LockedCounter, "atomic": AtomicCounter,
                               "striped": StripedCounter}
