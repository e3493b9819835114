"""Checker for exercise 14: a striped (``LongAdder``-style) counter."""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable

from . import Verdict, run_checks

__all__ = ["striped_counter"]

THREADS = 8


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


def striped_counter(cls: Callable[..., Any], threads: int = THREADS, per_thread: int = 2000) -> Verdict:
    """Check a striped counter class: ``cls(stripes=N)`` with ``stripes``, ``incr(n=1)``, ``value()``,
    ``sum_then_reset()`` and ``cell_values()`` (one int per stripe)."""

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
        cells = list(c.cell_values())
        assert cells == [0, 0, 0, 0], f"cell_values() of a new 4-stripe counter should be [0, 0, 0, 0], got {cells!r}"

    def exact_under_threads() -> None:
        c = cls(stripes=8)
        _run(lambda i: [c.incr(1 + i % 2) for _ in range(per_thread)], threads)
        want = per_thread * sum(1 + i % 2 for i in range(threads))
        got = c.value()
        assert got == want, f"{threads} threads added {want:,} but value() is {got!r}"
        cells = list(c.cell_values())
        assert sum(cells) == got, f"cell_values() sums to {sum(cells)}, value() says {got}"

    def uses_several_stripes() -> None:
        c = cls(stripes=threads)
        _run(lambda i: [c.incr() for _ in range(100)], threads)
        used = sum(1 for v in c.cell_values() if v)
        assert used > 1, (f"{threads} threads running at once all added to one stripe "
                          f"(cell_values() = {list(c.cell_values())})")

    def sum_then_reset_drains_exactly() -> None:
        for _ in range(6):  # a race in a reset is narrow: several rounds make it show
            drain_round()
        c = cls(stripes=4)
        c.incr(3)
        assert c.sum_then_reset() == 3, "sum_then_reset() should return the total it took"
        assert c.value() == 0, f"value() after sum_then_reset() should be 0, got {c.value()!r}"

    def drain_round() -> None:
        c = cls(stripes=4)
        taken: list[int] = []
        stop = threading.Event()

        def reaper() -> None:
            while not stop.is_set():
                taken.append(c.sum_then_reset())

        r = threading.Thread(target=reaper, name="hcedu-check14-reaper", daemon=True)
        old = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)  # switch threads often, so a reset that is not atomic per cell shows
        r.start()
        try:
            _run(lambda i: [c.incr() for _ in range(per_thread // 2)], threads)
        finally:
            stop.set()
            r.join(10)
            sys.setswitchinterval(old)
        total = threads * (per_thread // 2)
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
                raise AssertionError(f"incr({bad!r}) should raise {exc.__name__}")
        assert c.value() == 0, "a rejected incr() changed the count"
        try:
            cls(stripes=0)
        except ValueError:
            pass
        else:
            raise AssertionError("cls(stripes=0) should raise ValueError")

    return run_checks("striped counter", [
        ("counts in one thread, per instance", counts_in_one_thread,
         "value() is the sum of the cells; create the cells in __init__ (self.cells = ...)"),
        ("stripes attribute and one cell per stripe", stripes_and_cells,
         "self.stripes = stripes; cell_values() returns [cell.value for cell in self.cells]"),
        (f"exact under {threads} real threads", exact_under_threads,
         "give every cell its own lock and add under it"),
        (f"{threads} concurrent threads use more than one stripe", uses_several_stripes,
         "thread ids are aligned addresses (id % N is often always 0): give each thread a home cell round "
         "robin (threading.local + itertools.count) or mix the id's bits before taking % stripes"),
        ("sum_then_reset() loses and double-counts nothing under concurrent incr()", sum_then_reset_drains_exactly,
         "take and zero each cell while holding that cell's lock"),
        ("refuses bad input", bad_input,
         "n must be an int (not bool) >= 1 (TypeError / ValueError); stripes must be >= 1"),
    ])
