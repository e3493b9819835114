"""Go's ``sync.Pool`` (``sync/pool.go``, Go 1.13+ victim cache) and ``gc()``, the hook that runs
``poolCleanup`` as Go's garbage collector does at the start of every cycle.

Model (Go's names):
  * a pool has ``procs`` Ps (Go: ``GOMAXPROCS``). Each P owns a ``poolLocal``: a ``private``
    slot and a ``shared`` chain. A thread runs on one P (assigned round-robin on first use, or
    chosen with :func:`on_p`). "Pinning" to a P (``runtime_procPin``) is holding that P's pin
    lock, so only one thread uses a P's ``private`` slot at a time, as in Go.
  * ``shared`` is a double-ended queue: its owner pushes and pops at the **head**, other Ps steal
    from the **tail** (Go's lock-free ``poolChain``; here a ``collections.deque``, whose appends and
    pops at either end are atomic).
  * ``local`` is the current generation, ``victim`` the previous one.

Invariants:
  * ``put(None)`` is a no-op; ``get()`` on an empty pool calls ``new()`` (the result is *not*
    stored) or returns ``None``.
  * ``put``: own private slot if empty, else the head of own shared.
  * ``get`` order: own private -> own shared head (LIFO) -> other Ps' shared tails (pid+1 onward)
    -> victim private[pid] -> victim shared tails (pid onward) -> ``new()``. A victim hit is not
    promoted back to ``local``; a ``get`` that finds the victim empty sets ``victim_size = 0``.
  * ``gc()`` (stop-the-world: it holds every P's pin lock of every pool): every pool in
    ``old_pools`` drops its victim; every pool in ``all_pools`` moves ``local`` to ``victim``;
    then ``old_pools, all_pools = all_pools, []``. So **an item survives exactly one gc() (in
    the victim) and is gone after the second**. A pool re-registers in ``all_pools`` the next
    time it is used.
  * pool statistics count every ``get`` by where it was satisfied.
Not modelled: the race detector's random drop of 1/4 of puts.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from .. import _validate

__all__ = ["Pool", "gc", "on_p", "default_procs", "SOURCES"]

#: where a ``get`` was satisfied, in Go's search order; ``new`` = ``New()`` called, ``nil`` = miss
#: without ``New``.
SOURCES = ("private", "shared", "steal", "victim_private", "victim_shared", "new", "nil")
_HITS = SOURCES[:5]

_all_pools_mu = threading.Lock()  # Go: allPoolsMu
_all_pools: list = []             # pools with a non-empty local generation
_old_pools: list = []             # pools with a non-empty victim

_tls = threading.local()
_thread_counter = itertools.count()


def default_procs() -> int:
    """Go's ``GOMAXPROCS`` default: the number of CPUs."""
    return os.cpu_count() or 1


def _thread_slot() -> int:
    """A stable small number per thread (round-robin P assignment)."""
    n = getattr(_tls, "slot", None)
    if n is None:
        n = _tls.slot = next(_thread_counter)
    return n


@contextmanager
def on_p(pid: int) -> Iterator[None]:
    """Run the ``with`` block's pool operations in this thread as if on P number ``pid``
    (taken modulo each pool's ``procs``). Lets a notebook show stealing and per-P slots
    deterministically from one thread."""
    pid = _validate.integer("pid", pid, minimum=0)
    old = getattr(_tls, "pid", None)
    _tls.pid = pid
    try:
        yield
    finally:
        _tls.pid = old


class _PoolLocal:
    """Go's ``poolLocal``: one P's private slot and shared chain."""

    __slots__ = ("private", "shared")

    def __init__(self) -> None:
        self.private: Any = None
        self.shared: deque = deque()


class Pool:
    """Go's ``sync.Pool``: a free list of temporary objects that any ``gc()`` may empty.

    ``Pool(new=None, procs=None)``: ``new`` is Go's ``New`` (a zero-argument callable or None;
    ``TypeError`` otherwise); ``procs`` is the number of Ps (default: CPU count; an int >= 1,
    ``ValueError``/``TypeError`` otherwise). Never blocks; safe from any thread.
    """

    def __init__(self, new: Callable[[], Any] | None = None, procs: int | None = None) -> None:
        self.new = new
        self.procs = default_procs() if procs is None else _validate.integer("procs", procs, minimum=1)
        self._pins = [threading.Lock() for _ in range(self.procs)]
        self.local: list | None = None   # list of _PoolLocal, one per P, or None
        self.victim: list | None = None
        self.victim_size = 0
        self._stats = [dict.fromkeys(SOURCES, 0) for _ in range(self.procs)]
        self._puts = [0] * self.procs

    @property
    def new(self) -> Callable[[], Any] | None:
        """Go's ``Pool.New``: called by ``get`` when the pool has nothing; may be None."""
        return self._new

    @new.setter
    def new(self, fn: Callable[[], Any] | None) -> None:
        if fn is not None:
            _validate.function("new", fn)
        self._new = fn

    def __repr__(self) -> str:
        return f"<Pool procs={self.procs} pooled={self.pooled()}>"

    # -- pinning -------------------------------------------------------------------------------
    def _pid(self) -> int:
        pid = getattr(_tls, "pid", None)
        if pid is None:
            pid = _thread_slot()
        return pid % self.procs

    def _register(self) -> None:
        """Go's ``pinSlow``: allocate this generation's per-P locals and register the pool in
        ``all_pools``. Called *unpinned* (as Go unpins before taking ``allPoolsMu``), so it never
        waits on ``gc()`` while holding a P."""
        with _all_pools_mu:
            if self.local is None:
                self.local = [_PoolLocal() for _ in range(self.procs)]
                _all_pools.append(self)

    # -- put / get -----------------------------------------------------------------------------
    def put(self, x: Any) -> None:
        """Go's ``Pool.Put``: add ``x`` to the pool; ``None`` is ignored.

        Goes to this P's private slot if it is empty, else onto the head of this P's shared
        chain. The pool may drop ``x`` at any later ``gc()``: never put anything you must get back.
        """
        if x is None:
            return
        pid = self._pid()
        pin = self._pins[pid]
        while True:
            if self.local is None:
                self._register()
            with pin:
                local = self.local
                if local is None:  # a gc() ran between registering and pinning: retry
                    continue
                lc = local[pid]
                if lc.private is None:
                    lc.private = x
                else:
                    lc.shared.append(x)  # head
                self._puts[pid] += 1
                return

    def get(self) -> Any:
        """Go's ``Pool.Get``: take any pooled object, or ``new()`` (or ``None``) if there is none.

        Search order: own private, own shared head, other Ps' shared tails, victim private of
        this P, victim shared tails, then ``new()``. The caller must not assume anything about
        the object's state (reset it) nor that it is one it put.
        """
        pid = self._pid()
        pin = self._pins[pid]
        stats = self._stats[pid]
        with pin:
            x, source = self._get_pinned(pid)
            if x is None:
                source = "new" if self._new is not None else "nil"
            stats[source] += 1
        if x is None and self._new is not None:
            x = self._new()
        return x

    def _get_pinned(self, pid: int) -> tuple[Any, str]:
        local = self.local
        if local is not None:
            lc = local[pid]
            x = lc.private
            if x is not None:
                lc.private = None
                return x, "private"
            try:
                return lc.shared.pop(), "shared"  # head: LIFO
            except IndexError:
                pass
            size = len(local)
            for i in range(size - 1):  # getSlow: steal from the others' tails, pid+1 onward
                try:
                    return local[(pid + i + 1) % size].shared.popleft(), "steal"
                except IndexError:
                    pass
        victim = self.victim
        if victim is None or pid >= self.victim_size:
            return None, "nil"
        lc = victim[pid]
        x = lc.private
        if x is not None:
            lc.private = None
            return x, "victim_private"
        size = self.victim_size
        for i in range(size):  # victim shared tails, pid onward
            try:
                return victim[(pid + i) % size].shared.popleft(), "victim_shared"
            except IndexError:
                pass
        self.victim_size = 0  # the victim is empty: later gets skip it
        return None, "nil"

    # -- inspection ----------------------------------------------------------------------------
    def stats(self) -> dict:
        """Counts since creation (or :meth:`reset_stats`): ``gets``, ``puts``, one count per
        source in :data:`SOURCES`, ``hits`` (found in local or victim) and ``hit_rate``."""
        out = dict.fromkeys(SOURCES, 0)
        for s in self._stats:
            for k, v in s.items():
                out[k] += v
        gets = sum(out.values())
        hits = sum(out[k] for k in _HITS)
        out.update(gets=gets, puts=sum(self._puts), hits=hits,
                   hit_rate=(hits / gets) if gets else 0.0)
        return out

    def reset_stats(self) -> None:
        """Zero the statistics."""
        for pid, pin in enumerate(self._pins):
            with pin:
                self._stats[pid] = dict.fromkeys(SOURCES, 0)
                self._puts[pid] = 0

    def pooled(self) -> dict:
        """How many objects each generation holds now: ``{"local": n, "victim": m}``."""
        return {"local": _count(self.local), "victim": _count(self.victim)}

    def snapshot(self) -> dict:
        """Per-P contents (copies): ``{"local": [{"private": x, "shared": [head ... tail]}, ...],
        "victim": [...] or None, "victim_size": n}`` (shared listed head first)."""
        def gen(g: list | None) -> list | None:
            if g is None:
                return None
            return [{"private": lc.private, "shared": list(reversed(lc.shared))} for lc in g]
        return {"local": gen(self.local), "victim": gen(self.victim), "victim_size": self.victim_size}


def _count(g: list | None) -> int:
    if g is None:
        return 0
    return sum((lc.private is not None) + len(lc.shared) for lc in g)


def gc() -> int:
    """Go's ``runtime.GC()`` as far as pools see it: run ``poolCleanup`` over every pool.

    Stops the world for pools (holds every pool's pin locks), drops every victim (returns how
    many objects were dropped), moves every ``local`` to ``victim``. An object put before this
    call survives it in the victim and is dropped by the next ``gc()``. Python's own garbage
    collector is not run (call ``gc.collect()`` for that).
    """
    global _all_pools, _old_pools
    with _all_pools_mu:
        pools = {id(p): p for p in _old_pools + _all_pools}
        held = []
        try:
            for p in pools.values():
                for pin in p._pins:
                    pin.acquire()
                    held.append(pin)
            dropped = 0
            for p in _old_pools:
                dropped += _count(p.victim)
                p.victim = None
                p.victim_size = 0
            for p in _all_pools:
                dropped += _count(p.victim)
                p.victim = p.local
                p.victim_size = len(p.local) if p.local is not None else 0
                p.local = None
            _old_pools, _all_pools = _all_pools, []
        finally:
            for pin in reversed(held):
                pin.release()
    return dropped
