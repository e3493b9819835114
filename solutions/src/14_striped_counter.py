# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 14: a striped counter
#
# Chapter 14 showed why one hot counter is a bottleneck on many cores, and how Java's `LongAdder` splits it
# into cells. Write one: `StripedCounter(stripes=8)` with
#
# * `stripes` (the number of cells) and `self.cells`, one `_Cell` (given below: a lock and a value) per
#   stripe;
# * `incr(n=1)`: add `n` to the calling thread's cell. Each thread should keep using the same cell, and
#   threads running at the same time should land in different cells (careful: `threading.get_ident()`
#   values are aligned addresses). No increment may be lost, and threads in different cells must not wait
#   for each other;
# * `value()`: the sum of the cells;
# * `sum_then_reset()`: take every cell's count and zero it, returning the total — no increment may be
#   lost or counted twice, even while other threads keep incrementing;
# * `cell_values()`: the list of per-cell counts;
# * bad input: `n` or `stripes` that is not an int (or is a bool) → `TypeError`; `n < 1` or `stripes < 1`
#   → `ValueError`.

# %%
import itertools
import threading


class _Cell:
    def __init__(self):
        self.lock = threading.Lock()
        self.value = 0


class StripedCounter:
    """LongAdder-style counter: one locked cell per stripe; value() sums them."""

    def __init__(self, stripes=8):
        ### BEGIN SOLUTION
        if isinstance(stripes, bool) or not isinstance(stripes, int):
            raise TypeError(f"stripes must be an int (got {stripes!r})")
        if stripes < 1:
            raise ValueError(f"stripes must be >= 1 (got {stripes})")
        self.stripes = stripes
        self.cells = [_Cell() for _ in range(stripes)]
        self._next = itertools.count()      # next() is one GIL-held C call: safe to share
        self._home = threading.local()
        ### END SOLUTION

    def _cell(self):
        """The calling thread's cell."""
        ### BEGIN SOLUTION
        try:
            return self._home.cell
        except AttributeError:
            self._home.cell = self.cells[next(self._next) % self.stripes]
            return self._home.cell
        ### END SOLUTION

    def incr(self, n=1):
        ### BEGIN SOLUTION
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int (got {n!r})")
        if n < 1:
            raise ValueError(f"n must be >= 1 (got {n})")
        cell = self._cell()
        with cell.lock:
            cell.value += n
        ### END SOLUTION

    def value(self):
        ### BEGIN SOLUTION
        total = 0
        for cell in self.cells:
            with cell.lock:
                total += cell.value
        return total
        ### END SOLUTION

    def sum_then_reset(self):
        ### BEGIN SOLUTION
        total = 0
        for cell in self.cells:
            with cell.lock:
                total += cell.value
                cell.value = 0
        return total
        ### END SOLUTION

    def cell_values(self):
        ### BEGIN SOLUTION
        return [cell.value for cell in self.cells]
        ### END SOLUTION


# %% [markdown]
# Try it with four threads:

# %%
try:
    c = StripedCounter(stripes=4)
    start = threading.Barrier(4)

    def work():
        start.wait()
        for _ in range(1000):
            c.incr()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    print("cells:", c.cell_values(), "| value:", c.value())
except NotImplementedError:
    print("… write StripedCounter above first")

# %% [markdown]
# ## Check
#
# The checker does not wait for a lucky thread switch. It wraps every lock of your counter in a spy that
# records which thread holds it, watches every read and write of each cell's `value`, and, at the moment
# `sum_then_reset()` has read a cell, runs an `incr()` of that same cell on another thread. Then it runs
# 8 real threads, checks that they spread over more than one stripe, and that bad input is refused.

# %%
from hcedu.course import check

check.striped_counter(StripedCounter)

# %% [markdown]
# **Going further.** In CPython this is no faster than one lock (chapter 14 measured why). Sketch the Go
# version: which type would each cell hold, why must a cell be padded to 64 bytes, and why is `value()`
# not a snapshot? Then: when would you **not** want a striped counter (hint: "stop selling at 1,000")?
