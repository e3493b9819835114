"""Exercise 14 (striped counter): wrong solutions a learner writes are rejected, every run, with a verdict
naming the mistake; the reference and an alternative correct design are accepted.

The races are forced by the checker's spy locks and its hook between a reset's read and its zeroing, so
each race-type wrong solution is rejected on every run (runs=5), not when CPython happens to switch."""

from __future__ import annotations

import itertools
import random
import threading

import pytest

from hcedu.course import check
from tests.helpers import assert_accepted, assert_rejected
from tests.solution_code import solution_namespace


_SOLUTION = solution_namespace("14_striped_counter.ipynb")
_Cell = _SOLUTION["_Cell"]


class Reference(_SOLUTION["StripedCounter"]):
    """The model answer (the solution notebook's class), plus the input check the wrong variants reuse."""

    def _check(self, n):
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError("n must be an int")
        if n < 1:
            raise ValueError("n must be >= 1")


# -- wrong: the mistakes chapter 14 warns about --------------------------------------------------------------

class ResetWithoutLock(Reference):
    """Reads then zeroes each cell with no lock: "CPython never switches in that gap" (it can)."""

    def sum_then_reset(self):
        total = 0
        for cell in self.cells:
            total += cell.value
            cell.value = 0
        return total


class ResetZeroesOutsideLock(Reference):
    """Reads under the lock, but zeroes after releasing it: an incr() in between is wiped out."""

    def sum_then_reset(self):
        total = 0
        for cell in self.cells:
            with cell.lock:
                v = cell.value
            total += v
            cell.value = 0
        return total


class ResetSumsFirst(Reference):
    """Sums everything first (value()), then zeroes each cell under its lock: increments in between are lost."""

    def sum_then_reset(self):
        total = self.value()
        for cell in self.cells:
            with cell.lock:
                cell.value = 0
        return total


class OneLockForAll(Reference):
    """Striped cells, but one counter-wide lock around every incr(): the threads queue exactly as before."""

    def __init__(self, stripes=8):
        super().__init__(stripes)
        self.lock = threading.Lock()

    def incr(self, n=1):
        self._check(n)
        cell = self._cell()
        with self.lock:
            cell.value += n

    def sum_then_reset(self):
        with self.lock:
            total = self.value()
            for cell in self.cells:
                cell.value = 0
        return total


class CellsShareOneLock(Reference):
    """Gives every cell the same lock object ("one lock is simpler")."""

    def __init__(self, stripes=8):
        super().__init__(stripes)
        shared = threading.Lock()
        for cell in self.cells:
            cell.lock = shared


class BothLocks(Reference):
    """Takes the cell's lock *and* a global one "to be safe": still one queue for every thread."""

    def __init__(self, stripes=8):
        super().__init__(stripes)
        self._global = threading.Lock()

    def incr(self, n=1):
        self._check(n)
        cell = self._cell()
        with self._global, cell.lock:
            cell.value += n


class IncrWithoutLock(Reference):
    """`cell.value += n` with no lock: a read-modify-write that another thread can interleave."""

    def incr(self, n=1):
        self._check(n)
        cell = self._cell()
        cell.value += n


class ThreadIdModulo(Reference):
    """Picks the cell by `threading.get_ident() % stripes`: the ids are aligned addresses, so one cell."""

    def _cell(self):
        return self.cells[threading.get_ident() % self.stripes]


class BoolIsAnInt(Reference):
    """Validates with isinstance(n, int) only: incr(True) counts one."""

    def incr(self, n=1):
        if not isinstance(n, int):
            raise TypeError("n must be an int")
        if n < 1:
            raise ValueError("n must be >= 1")
        cell = self._cell()
        with cell.lock:
            cell.value += n


class ResetForgetsToZero(Reference):
    """Returns the total but leaves the cells as they were (the next reset counts them again)."""

    def sum_then_reset(self):
        return self.value()


class RandomCell(Reference):
    """A random cell on every incr() ("spreads the load"): a thread does not keep its cell."""

    def _cell(self):
        return random.choice(self.cells)


class RoundRobinPerCall(Reference):
    """The shared counter advanced on every incr(), not once per thread."""

    def _cell(self):
        return self.cells[next(self._next) % self.stripes]


class StripesBoolAccepted(Reference):
    """Validates stripes with isinstance(stripes, int) only: StripedCounter(stripes=True) has one stripe."""

    def __init__(self, stripes=8):
        if not isinstance(stripes, int):
            raise TypeError("stripes must be an int")
        if stripes < 1:
            raise ValueError("stripes must be >= 1")
        self.stripes = stripes
        self.cells = [_Cell() for _ in range(stripes)]
        self._next = itertools.count()
        self._home = threading.local()


class ResetSkipsLastCell(Reference):
    """Off by one in sum_then_reset(): range(self.stripes - 1) never takes the last cell."""

    def sum_then_reset(self):
        total = 0
        for i in range(self.stripes - 1):
            cell = self.cells[i]
            with cell.lock:
                total += cell.value
                cell.value = 0
        return total


class SwapCells(Reference):
    """Double-buffering: swap in fresh cells, then sum the old ones. An incr() that picked an old cell before
    the swap adds to it after it was summed: lost."""

    def _cell(self):
        try:
            i = self._home.i
        except AttributeError:
            i = self._home.i = next(self._next) % self.stripes
        return self.cells[i]

    def sum_then_reset(self):
        old, self.cells = self.cells, [_Cell() for _ in range(self.stripes)]
        total = 0
        for cell in old:
            with cell.lock:
                total += cell.value
        return total


RACES = [
    (ResetWithoutLock, ("lost", "between")),
    (ResetZeroesOutsideLock, ("lost", "without holding")),
    (ResetSumsFirst, ("lost",)),
    (SwapCells, ("picked cells[", "zero the cells in place")),
    (IncrWithoutLock, ("without holding",)),
]
DESIGN = [
    (OneLockForAll, ("self.lock", "one lock", "serialises")),
    (CellsShareOneLock, ("share one lock",)),
    (BothLocks, ("as well as", "queues")),
    (ThreadIdModulo, ("one stripe", "get_ident")),
    (BoolIsAnInt, ("incr(True)", "bad input")),
    (ResetForgetsToZero, ("should be 0", "leaves 0")),
    (RandomCell, ("keep using the same cell",)),
    (RoundRobinPerCall, ("keep using the same cell",)),
    (StripesBoolAccepted, ("stripes=True",)),
    (ResetSkipsLastCell, ("every cell's count",)),
]


@pytest.mark.parametrize("cls, mentions", RACES, ids=[c.__name__ for c, _ in RACES])
def test_race_type_wrong_solutions_are_rejected_every_run(cls, mentions):
    assert_rejected(check.striped_counter(cls), *mentions, runs=5, check=lambda: check.striped_counter(cls))


@pytest.mark.parametrize("cls, mentions", DESIGN, ids=[c.__name__ for c, _ in DESIGN])
def test_design_wrong_solutions_are_rejected(cls, mentions):
    assert_rejected(check.striped_counter(cls), *mentions)


def test_reset_without_lock_is_caught_by_the_hook_not_by_luck():
    """The issue's hole: the gap between the read and the zeroing is forced, and the verdict says what was lost."""
    v = check.striped_counter(ResetWithoutLock)
    assert "between sum_then_reset()'s read" in str(v) and "lost" in str(v)


def test_reference_is_accepted():
    assert_accepted(check.striped_counter(Reference))


class SubtractWhatWasRead(Reference):
    """Alternative: read without the lock, then subtract exactly that under the lock (what arrived in between
    stays in the cell for the next reset)."""

    def sum_then_reset(self):
        total = 0
        for cell in self.cells:
            v = cell.value
            with cell.lock:
                cell.value -= v
            total += v
        return total


class RLockCells(Reference):
    """Alternative: re-entrant locks in the cells."""

    def __init__(self, stripes=8):
        super().__init__(stripes)
        for cell in self.cells:
            cell.lock = threading.RLock()


@pytest.mark.parametrize("cls", [SubtractWhatWasRead, RLockCells])
def test_alternative_correct_solutions_are_accepted(cls):
    assert_accepted(check.striped_counter(cls))


def test_cells_not_in_the_given_shape_get_a_clear_message_not_a_checker_crash():
    class Lists(Reference):
        def __init__(self, stripes=8):
            super().__init__(stripes)
            self.cells = [[threading.Lock(), 0] for _ in range(stripes)]

        def incr(self, n=1):
            lock_and_count = self.cells[0]
            with lock_and_count[0]:
                lock_and_count[1] += n

        def value(self):
            return sum(count for _, count in self.cells)

        def cell_values(self):
            return [count for _, count in self.cells]

    assert_rejected(check.striped_counter(Lists), "_Cell")
