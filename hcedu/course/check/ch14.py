"""Checker for exercise 14: a striped (``LongAdder``-style) counter.

Races are forced, not hoped for. After ``cls(stripes=N)`` the checker instruments the instance:

* every lock it holds (``cell.lock`` of each cell, and any lock in the instance's own attributes) is
  wrapped in a **spy lock** that records which thread holds it and announces when a thread must wait;
* every cell's class is swapped for a subclass whose ``value`` attribute records each read and write with
  the locks the accessing thread holds at that moment.

So "incr() changed cell 2 without holding cell 2's lock", "holding a lock every cell shares" or "this
thread's increments went to cells 0, 1 and 3" (each thread keeps one home cell) is a fact the checker
observed, not a race that CPython's scheduler might or might not show. Two **hooks** force the races:

* on ``sum_then_reset()``'s read of a cell, an ``incr()`` of that same cell runs on another thread *at that
  exact point*, and the hook waits until it either finished (so the read and the reset were not atomic: the
  increment is lost when the cell is zeroed) or is waiting for a lock the reset holds;
* when an ``incr()`` is about to take its cell's lock (it has picked its cell), a ``sum_then_reset()`` runs
  on another thread first, to its end or until it waits for a lock: a reset that swaps in new cells and sums
  the old ones loses that increment, which lands in an old cell after it was summed.

Plainer facts are checked directly: with every cell non-zero (threads pinned to each), ``sum_then_reset()``
takes all of it and leaves 0; ``stripes=True`` is refused like any non-int.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable

from . import Verdict, run_checks

__all__ = ["striped_counter"]

THREADS = 8
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
_BOOL_NOTE = ": a bool is an int to isinstance(), so test isinstance(x, bool) first"
_WAIT = 10.0  # seconds the hook waits for the helper's incr() to finish or block: both happen in microseconds


class _SpyLock:
    """A lock wrapper that records its holders (per thread) and reports a thread about to wait for it."""

    def __init__(self, real: Any, spy: "_Spy", name: str) -> None:
        self._real, self._spy, self.name = real, spy, name

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        self._spy.about_to_acquire(self)
        got = self._real.acquire(False)
        if not got and blocking:
            self._spy.about_to_wait(self)
            got = self._real.acquire(True, timeout)
        if got:
            self._spy.held().append(self)
        return got

    def release(self) -> None:
        held = self._spy.held()
        if self in held:
            held.reverse()
            held.remove(self)  # the innermost hold of a re-entrant lock
            held.reverse()
        self._real.release()

    def locked(self) -> bool:
        return self._real.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<spy lock {self.name}>"


class _Spy:
    """The instrumentation of one counter instance (see the module docstring)."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.cells: list[Any] = []
        self.own: dict[int, _SpyLock] = {}        # id(cell) -> that cell's (wrapped) lock
        self.index: dict[int, int] = {}           # id(cell) -> its position in self.cells
        self.violations: list[str] = []
        self.last_write: dict[int, int] = {}      # thread ident -> index of the cell it last wrote in incr()
        self.written: dict[int, set[int]] = {}    # thread ident -> every cell it wrote in incr()
        self.before_lock: Callable[[int], None] | None = None  # one shot: an incr() is about to take cells[i].lock
        self.waiting: dict[int, threading.Event] = {}   # thread ident -> set when it waits for a spy lock
        self.hook: Callable[[int], None] | None = None
        self._mu = threading.Lock()

    def held(self) -> list[_SpyLock]:
        try:
            return self.local.held
        except AttributeError:
            self.local.held = []
            return self.local.held

    def phase(self) -> str | None:
        return getattr(self.local, "phase", None)

    def call(self, phase: str, fn: Callable[..., Any], *args: Any) -> Any:
        self.local.phase = phase
        try:
            return fn(*args)
        finally:
            self.local.phase = None

    def about_to_acquire(self, lock: _SpyLock) -> None:
        """An incr() that is about to take a cell's lock has picked its cell: run ``before_lock`` (once) now."""
        hook = self.before_lock
        if hook is None or self.phase() != "incr":
            return
        i = next((self.index[cell] for cell, own in self.own.items() if own is lock), None)
        if i is None:
            return
        self.before_lock = None
        hook(i)

    def about_to_wait(self, lock: _SpyLock) -> None:
        event = self.waiting.get(threading.get_ident())
        if event is not None:
            event.set()

    def touch(self, cell: Any, op: str) -> None:
        phase = self.phase()
        if phase is None:
            return
        i = self.index.get(id(cell))
        if i is None:
            return
        held = list(self.held())
        own = self.own.get(id(cell))
        what = {"incr": "incr()", "reset": "sum_then_reset()"}[phase]
        if op == "write" or phase == "incr":
            if own is None or own not in held:
                names = f" (it held {', '.join(lk.name for lk in held)})" if held else ""
                self._violate(f"{what} {'changed' if op == 'write' else 'read'} cells[{i}].value without holding "
                              f"cells[{i}].lock{names}")
            elif phase == "incr" and len({id(lk) for lk in held}) > 1:
                others = ", ".join(lk.name for lk in held if lk is not own)
                self._violate(f"incr() held {others} as well as cells[{i}].lock: every incr() queues on that "
                              f"one lock again")
        if phase == "incr" and op == "write":
            with self._mu:
                self.last_write[threading.get_ident()] = i
                self.written.setdefault(threading.get_ident(), set()).add(i)
        if phase == "reset" and op == "read" and self.hook is not None:
            self.hook(i)

    def _violate(self, text: str) -> None:
        with self._mu:
            if text not in self.violations:
                self.violations.append(text)

    def assert_clean(self) -> None:
        assert not self.violations, self.violations[0]


def _spy_class(base: type, spy: _Spy) -> type:
    """A subclass of the learner's cell class whose ``value`` reads and writes are reported to ``spy``."""

    def __getattribute__(self: Any, name: str) -> Any:
        v = base.__getattribute__(self, name)
        if name == "value":
            spy.touch(self, "read")  # after the read: the hook runs between this read and what follows
        return v

    def __setattr__(self: Any, name: str, v: Any) -> None:
        if name == "value":
            spy.touch(self, "write")
        base.__setattr__(self, name, v)

    return type(base.__name__, (base,), {"__slots__": (), "__getattribute__": __getattribute__,
                                         "__setattr__": __setattr__, "__module__": base.__module__})


def _instrument(c: Any) -> _Spy:
    """Wrap ``c``'s locks in spy locks and swap its cells' class for a spying subclass (see the docstring)."""
    spy = _Spy()
    cells = getattr(c, "cells", None)
    assert isinstance(cells, (list, tuple)) and cells, (
        f"keep the cells in self.cells, a list of the given _Cell objects (got {type(cells).__name__})")
    assert len(cells) == getattr(c, "stripes", len(cells)), (
        f"self.cells has {len(cells)} cells for stripes={getattr(c, 'stripes', None)!r}")
    wrapped: dict[int, _SpyLock] = {}

    def wrap(lock: Any, name: str) -> _SpyLock:
        if id(lock) not in wrapped:
            wrapped[id(lock)] = _SpyLock(lock, spy, name)
        return wrapped[id(lock)]

    for i, cell in enumerate(cells):
        lock = getattr(cell, "lock", None)
        assert isinstance(lock, _LOCK_TYPES) and hasattr(cell, "value"), (
            f"cells[{i}] should be a _Cell with a .lock (threading.Lock) and a .value "
            f"(got {type(cell).__name__} with lock={lock!r})")
        object.__setattr__(cell, "lock", wrap(lock, f"cells[{i}].lock"))
    for name, value in list(vars(c).items()) if hasattr(c, "__dict__") else []:
        if isinstance(value, _LOCK_TYPES):
            object.__setattr__(c, name, wrap(value, f"self.{name}"))
        elif isinstance(value, list) and value is not cells:
            for k, item in enumerate(value):
                if isinstance(item, _LOCK_TYPES):
                    value[k] = wrap(item, f"self.{name}[{k}]")
    classes: dict[type, type] = {}
    for i, cell in enumerate(cells):
        base = type(cell)
        if base not in classes:
            classes[base] = _spy_class(base, spy)
        try:
            cell.__class__ = classes[base]
        except TypeError as exc:
            raise AssertionError(f"cells[{i}] is a {base.__name__} the checker cannot watch ({exc}): "
                                 f"use the given _Cell class") from None
        spy.cells.append(cell)
        spy.index[id(cell)] = i
        spy.own[id(cell)] = cell.lock
    shared = [(i, j) for i in range(len(cells)) for j in range(i) if cells[i].lock is cells[j].lock]
    assert not shared, (f"cells[{shared[0][1]}] and cells[{shared[0][0]}] share one lock: every incr() "
                        f"queues on it, as with one counter")
    return spy


def _run(fn: Callable[[int], Any], n: int, barrier: bool = True) -> None:
    """Run ``fn(i)`` on ``n`` daemon threads released together; re-raise the first error, fail on a hang."""
    start = threading.Barrier(n, timeout=10)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            if barrier:
                start.wait()
            fn(i)
        except BaseException as exc:  # reported below, in the checker's thread
            errors.append(exc)

    ts = [threading.Thread(target=body, args=(i,), name=f"hcedu-check14-{i}", daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert not any(t.is_alive() for t in ts), "a thread was still running after 30 s (a deadlock?)"
    if errors:
        raise errors[0]


class _Helper:
    """A thread that runs ``c.incr()`` on command (a thread keeps its home cell, so it must live on)."""

    def __init__(self, c: Any, spy: _Spy, i: int) -> None:
        self.c, self.spy = c, spy
        self.jobs: queue.Queue = queue.Queue()
        self.done: queue.Queue = queue.Queue()
        self.blocked = threading.Event()
        self.cell: int | None = None
        self.thread = threading.Thread(target=self._loop, name=f"hcedu-check14-helper-{i}", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        self.spy.waiting[threading.get_ident()] = self.blocked
        while (job := self.jobs.get()) is not None:
            try:
                self.spy.call("incr", self.c.incr)
                self.cell = self.spy.last_write.get(threading.get_ident())
                self.done.put(None)
            except BaseException as exc:  # handed to the checker's thread
                self.done.put(exc)

    def incr(self) -> None:
        """Run one incr() and wait for it to finish."""
        self.jobs.put(1)
        self._result(10.0)

    def incr_now(self) -> bool:
        """Start one incr(); wait until it finished (True) or waits for a lock (False)."""
        self.blocked.clear()
        self.jobs.put(1)
        waited = 0.0
        while waited < _WAIT:
            try:
                exc = self.done.get(timeout=0.001)
            except queue.Empty:
                if self.blocked.is_set():
                    return False
                waited += 0.001
                continue
            if exc is not None:
                raise exc
            return True
        raise AssertionError(f"an incr() on another thread neither finished nor waited for a cell's lock within "
                             f"{_WAIT:g} s: does incr() use a lock outside the cells (a module-level one)?")

    def _result(self, timeout: float) -> None:
        try:
            exc = self.done.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"incr() did not return within {timeout:g} s (a deadlock?)") from None
        if exc is not None:
            raise exc

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join(10)


def _reset_now(c: Any, spy: _Spy) -> tuple[threading.Thread, list]:
    """Start ``c.sum_then_reset()`` on a new thread; return once it finished or waits for a spy lock.

    Returns the thread and a list that gets its result (or exception) when it ends."""
    box: list = []
    done, blocked = threading.Event(), threading.Event()

    def body() -> None:
        spy.waiting[threading.get_ident()] = blocked
        try:
            box.append(spy.call("reset", c.sum_then_reset))
        except BaseException as exc:  # handed to the checker's thread
            box.append(exc)
        finally:
            done.set()

    t = threading.Thread(target=body, name="hcedu-check14-reset", daemon=True)
    t.start()
    waited = 0.0
    while not done.wait(0.001):
        if blocked.is_set():
            break
        waited += 0.001
        if waited >= _WAIT:
            raise AssertionError(f"a sum_then_reset() on another thread neither finished nor waited for a cell's "
                                 f"lock within {_WAIT:g} s: does it use a lock outside the cells?")
    return t, box


def striped_counter(cls: Callable[..., Any], threads: int = THREADS, per_thread: int = 2000) -> Verdict:
    """Check a striped counter class: ``cls(stripes=N)`` with ``stripes``, ``cells`` (one ``_Cell`` per
    stripe, each with its own ``lock`` and a ``value``), ``incr(n=1)``, ``value()``, ``sum_then_reset()``
    and ``cell_values()``."""

    def make(stripes: int) -> tuple[Any, _Spy]:
        c = cls(stripes=stripes)
        return c, _instrument(c)

    def counts_in_one_thread() -> None:
        c = cls(stripes=4)
        assert c.value() == 0, f"a new counter should be 0, got {c.value()!r}"
        c.incr()
        c.incr(5)
        assert c.value() == 6, f"incr() then incr(5) should give 6, got {c.value()!r}"
        other = cls(stripes=4)
        assert other.value() == 0, "a second counter already had counts: keep the cells on the instance, not the class"

    def stripes_and_cells() -> None:
        c = cls(stripes=4)
        assert c.stripes == 4, f"cls(stripes=4).stripes should be 4, got {getattr(c, 'stripes', None)!r}"
        cells = c.cell_values()
        assert isinstance(cells, (list, tuple)), f"cell_values() should return a list, got {type(cells).__name__}"
        assert list(cells) == [0, 0, 0, 0], (
            f"cell_values() of a new 4-stripe counter should be [0, 0, 0, 0], got {list(cells)!r}")
        _instrument(c)

    def each_incr_holds_its_cells_lock() -> None:
        c, spy = make(stripes=4)
        for _ in range(3):
            spy.call("incr", c.incr)
        _run(lambda i: [spy.call("incr", c.incr, 1 + i % 2) for _ in range(50)], 4)
        spy.assert_clean()

    def exact_under_threads() -> None:
        c, spy = make(stripes=8)
        _run(lambda i: [spy.call("incr", c.incr, 1 + i % 2) for _ in range(per_thread)], threads)
        spy.assert_clean()
        want = per_thread * sum(1 + i % 2 for i in range(threads))
        got = c.value()
        assert got == want, f"{threads} threads added {want:,} but value() is {got!r}"
        cells = list(c.cell_values())
        assert sum(cells) == got, f"cell_values() sums to {sum(cells)}, value() says {got}"

    def uses_several_stripes() -> None:
        c, spy = make(stripes=threads)
        _run(lambda i: [spy.call("incr", c.incr) for _ in range(100)], threads)
        moved = [sorted(cells) for cells in spy.written.values() if len(cells) > 1]
        assert not moved, (f"one thread's 100 incr() calls went to cells {moved[0]}: each thread should keep using "
                           f"the same cell (a home cell chosen once per thread), not pick a cell per call")
        used = sum(1 for v in c.cell_values() if v)
        assert used > 1, (f"{threads} threads running at once all added to one stripe "
                          f"(cell_values() = {list(c.cell_values())})")

    def sum_then_reset_in_one_thread() -> None:
        c = cls(stripes=4)
        c.incr(3)
        got = c.sum_then_reset()
        assert got == 3, f"sum_then_reset() after incr(3) should return 3, got {got!r}"
        assert c.value() == 0, f"value() after sum_then_reset() should be 0, got {c.value()!r}"
        c.incr(2)
        assert c.sum_then_reset() == 2 and c.sum_then_reset() == 0, "a second sum_then_reset() should start from 0"
        c = cls(stripes=4)
        _run(lambda i: c.incr(i + 1), 8)  # 8 threads alive at once: their home cells cover the stripes
        cells = list(c.cell_values())
        got = c.sum_then_reset()
        left = list(c.cell_values())
        assert got == sum(cells) and not any(left), (
            f"sum_then_reset() should take every cell's count and zero it: with cell_values() = {cells} it "
            f"returned {got!r} and left {left}")

    def incr_between_read_and_reset() -> None:
        c, spy = make(stripes=4)
        helpers = [_Helper(c, spy, i) for i in range(8)]
        added = 0
        try:
            for h in helpers:
                h.incr()
                added += 1
            homes: dict[int, list[_Helper]] = {}
            for h in helpers:
                if h.cell is not None:
                    homes.setdefault(h.cell, []).append(h)
            assert homes, "incr() on 8 threads never wrote any cell's .value"
            raced: list[int] = []
            waiting: list[_Helper] = []

            def hook(i: int) -> None:
                nonlocal added
                if i in raced or i not in homes:
                    return
                raced.append(i)
                h = homes[i][0]
                if not h.incr_now():   # finished in the gap (a lost update ahead), or waits for the lock
                    waiting.append(h)
                added += 1

            spy.hook = hook
            try:
                taken = spy.call("reset", c.sum_then_reset)
            finally:
                spy.hook = None
            for h in waiting:           # the increments that waited for a lock finish now
                h._result(10.0)
        finally:
            for h in helpers:
                h.stop()
        assert isinstance(taken, int), f"sum_then_reset() should return an int, got {type(taken).__name__}"
        assert raced, "sum_then_reset() never read a cell's .value"
        left = c.value()
        assert taken + left == added, (
            f"an incr() of cell {raced[0]} that ran between sum_then_reset()'s read of the cell and its reset was "
            f"{'lost' if taken + left < added else 'counted twice'}: taken {taken} + left {left} != {added} added")
        spy.assert_clean()

    def drains_exactly_under_threads() -> None:
        # forced first: an incr() has picked its cell (it is about to take the cell's lock) when a reset runs
        c, spy = make(stripes=4)
        helpers = [_Helper(c, spy, i) for i in range(4)]
        added, picked, resets = 0, [], []

        def reset_runs_now(i: int) -> None:
            picked.append(i)
            resets.append(_reset_now(c, spy))

        try:
            for h in helpers:
                h.incr()
                added += 1
            spy.before_lock = reset_runs_now
            try:
                helpers[0].incr()
            finally:
                spy.before_lock = None
            added += 1
        finally:
            for h in helpers:
                h.stop()
        assert resets, "incr() never took its cell's lock"
        t, box = resets[0]
        t.join(10)
        assert not t.is_alive(), "sum_then_reset() did not return within 10 s (a deadlock?)"
        if isinstance(box[0], BaseException):
            raise box[0]
        taken, left = box[0], c.value()
        assert taken + left == added, (
            f"an incr() that had picked cells[{picked[0]}] when sum_then_reset() ran, and added after it, was "
            f"{'lost' if taken + left < added else 'counted twice'} (taken {taken} + left {left} != {added} added): "
            f"zero the cells in place; new cells swapped in strand the increments already on their way to an old one")
        spy.assert_clean()

        c, spy = make(stripes=4)
        taken: list[int] = []
        stop = threading.Event()

        def reaper() -> None:
            while not stop.is_set():
                taken.append(spy.call("reset", c.sum_then_reset))

        r = threading.Thread(target=reaper, name="hcedu-check14-reaper", daemon=True)
        r.start()
        try:
            _run(lambda i: [spy.call("incr", c.incr) for _ in range(per_thread // 4)], threads)
        finally:
            stop.set()
            r.join(10)
        spy.assert_clean()
        total = threads * (per_thread // 4)
        assert sum(taken) + c.value() == total, (
            f"sum_then_reset() results plus what is left ({sum(taken):,} + {c.value():,}) should be {total:,}")

    def bad_input() -> None:
        c = cls(stripes=2)
        for bad, exc in ((0, ValueError), (-3, ValueError), (1.5, TypeError), ("1", TypeError), (True, TypeError)):
            try:
                c.incr(bad)
            except exc:
                pass
            else:
                raise AssertionError(f"incr({bad!r}) should raise {exc.__name__}" + _BOOL_NOTE * (bad is True))
        assert c.value() == 0, "a rejected incr() changed the count"
        for bad, exc in ((0, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError)):
            try:
                cls(stripes=bad)
            except exc:
                pass
            else:
                raise AssertionError(f"cls(stripes={bad!r}) should raise {exc.__name__}" + _BOOL_NOTE * (bad is True))

    return run_checks("striped counter", [
        ("counts in one thread, per instance", counts_in_one_thread,
         "value() is the sum of the cells; create the cells in __init__, on the instance"),
        ("stripes attribute and one _Cell per stripe, each with its own lock", stripes_and_cells,
         "self.stripes, and self.cells: one _Cell per stripe; cell_values() lists their counts"),
        ("incr() changes a cell only while holding that cell's own lock, and no lock the cells share",
         each_incr_holds_its_cells_lock,
         "a read-modify-write of cell.value needs cell.lock; one lock for all cells serialises every thread"),
        (f"exact under {threads} real threads", exact_under_threads,
         "add under the cell's own lock"),
        (f"each thread keeps one cell, and {threads} concurrent threads use more than one stripe",
         uses_several_stripes,
         "give each thread a home cell once (a threading.local on the instance, numbered from a shared "
         "itertools.count()); threading.get_ident() values are aligned addresses, so get_ident() % stripes can "
         "be the same for every thread"),
        ("sum_then_reset() returns the total and leaves 0", sum_then_reset_in_one_thread,
         "add up every cell (all self.stripes of them), zero each one, return the total"),
        ("an incr() landing between sum_then_reset()'s read of a cell and its reset is neither lost nor "
         "double-counted", incr_between_read_and_reset,
         "the read and the reset of one cell must be atomic with respect to incr() of that cell: hold the "
         "cell's lock across both"),
        ("sum_then_reset() loses and double-counts nothing under concurrent incr()", drains_exactly_under_threads,
         "every change of a cell happens under that cell's lock, in incr() and in sum_then_reset(), and the cells "
         "stay the same objects"),
        ("refuses bad input", bad_input,
         "n must be an int (not bool) >= 1 (TypeError / ValueError); stripes an int (not bool) >= 1"),
    ])
