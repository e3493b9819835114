"""Go's ``select`` statement (``runtime/select.go``, ``selectgo``): ``select(*cases)`` with
``Recv(ch)`` and ``Send(ch, v)`` cases.

How it runs (Go's three passes):
  0. every case was evaluated once by Python on entry (S1); nil (``None``) channels are dropped
     from the poll order, so they are never ready (C2). The rest are shuffled into a uniformly
     random *poll order*, and the distinct channels are sorted into a *lock order* (by ``id``, as
     Go sorts by address) so concurrent selects can never deadlock on each other's locks.
  1. lock every channel, walk the poll order and take the first case that can proceed: a send
     to a closed channel panics right there (even with ``default``), a receive from a closed
     channel is always ready. Nothing ready: with ``default`` return index -1.
  2. otherwise enqueue one sudog per case on its channel's ``sendq``/``recvq`` (all sharing one
     wake-up lock and one ``selectDone`` claim), unlock, and park. The first goroutine that
     dequeues one of them claims the whole select and does the transfer; sudogs on other
     channels become dead and are skipped by everyone.
  3. woken: lock every channel again and remove the other sudogs, so no trace is left.

Invariants: exactly one case fires per call; a select never pairs its own send with its own
receive (its sudogs are only queued while it is parked, and it never polls while parked);
duplicate channels are allowed; a timed-out select claims itself first, so it either times out
with nothing transferred or (if a waker won the claim) returns that waker's transfer.
"""

from __future__ import annotations

import random
from typing import Any

from .. import _validate
from .chan import (Chan, ChanTimeout, SendOnClosedChannel, _allocate_lock, _park, _recv_locked,
                   _Select, _send_locked, _Sudog)

__all__ = ["select", "Recv", "Send", "SelectCase"]


class SelectCase:
    """Base of :class:`Recv` and :class:`Send`: one ``case`` of a Go ``select``."""

    __slots__ = ("ch",)
    is_send = False

    def __init__(self, ch: Chan | None) -> None:
        if ch is not None and not isinstance(ch, Chan):
            raise TypeError(f"{type(self).__name__}: ch must be a Chan or None (nil channel) "
                            f"(got {type(ch).__name__}: {ch!r})")
        self.ch = ch


class Recv(SelectCase):
    """Go's ``case v, ok := <-ch:``. When chosen, ``select`` returns ``(index, v, ok)``;
    ``ok`` is False (and ``v`` None) when the channel is closed and drained."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Recv({self.ch!r})"


class Send(SelectCase):
    """Go's ``case ch <- v:``. When chosen, ``select`` returns ``(index, None, True)``.
    Reaching it in the poll order on a closed channel panics ``send on closed channel``."""

    __slots__ = ("value",)
    is_send = True

    def __init__(self, ch: Chan | None, value: Any) -> None:
        super().__init__(ch)
        self.value = value

    def __repr__(self) -> str:
        return f"Send({self.ch!r}, {self.value!r})"


def _lock_all(chans: list) -> None:
    for c in chans:
        c._lock.acquire()


def _unlock_all(chans: list) -> None:
    for c in reversed(chans):
        c._lock.release()


def select(*cases: SelectCase, default: bool = False,
           timeout: float | None = None) -> tuple[int, Any, bool]:
    """Go's ``select`` statement (``selectgo``): run exactly one ready case.

    Returns ``(index, value, ok)``: ``index`` of the case that ran (its position in ``cases``);
    for a receive ``value, ok`` as in ``v, ok := <-ch``; for a send ``(None, True)``.
    If several cases are ready, one is chosen uniformly at random. If none is ready and
    ``default`` is True, returns ``(-1, None, False)`` at once. Otherwise parks on every channel
    until one case can proceed. ``select()`` with no cases (or only nil channels) and no default
    blocks forever, like ``select {}``.

    Raises ``SendOnClosedChannel`` (a ``Panic``) if a send case meets a closed channel, including
    one closed while parked; :class:`ChanTimeout` after ``timeout`` seconds with no case run
    (nothing was sent or received, and no sudog is left queued); ``TypeError`` for a case that is
    not ``Recv``/``Send``.
    """
    for i, c in enumerate(cases):
        if not isinstance(c, SelectCase):
            raise TypeError(f"select case {i} must be Recv(ch) or Send(ch, v) "
                            f"(got {type(c).__name__}: {c!r})")
    if not isinstance(default, bool):
        raise TypeError(f"default must be a bool (got {type(default).__name__}: {default!r})")
    timeout = _validate.optional_timeout("timeout", timeout)

    # pass 0: poll order (random permutation of non-nil cases) and lock order (by id)
    order = [i for i, c in enumerate(cases) if c.ch is not None]
    if len(order) > 1:
        random.shuffle(order)
    if not order:
        if default:
            return -1, None, False
        wake = _allocate_lock()
        wake.acquire()
        _park(wake, timeout)  # select {} / all-nil select: block forever
        raise ChanTimeout(f"select with no ready case timed out after {timeout:g} s")
    seen: dict = {}
    for i in order:
        ch = cases[i].ch
        seen[id(ch)] = ch
    chans = [seen[k] for k in sorted(seen)]

    # pass 1: first ready case in poll order
    _lock_all(chans)
    try:
        for i in order:
            c = cases[i]
            if c.is_send:
                r = _send_locked(c.ch, c.value)  # panics on closed
                if r is None:
                    continue
                _unlock_all(chans)
                if r is not True:
                    r.wake.release()
                return i, None, True
            r2 = _recv_locked(c.ch)
            if r2 is None:
                continue
            _unlock_all(chans)
            v, ok, sg = r2
            if sg is not None:
                sg.wake.release()
            return i, v, ok
    except BaseException:
        _unlock_all(chans)
        raise
    if default:
        _unlock_all(chans)
        return -1, None, False

    # pass 2: enqueue on every channel and park
    sel = _Select()
    wake = _allocate_lock()
    wake.acquire()
    sudogs = []
    for i, c in enumerate(cases):
        ch = c.ch
        if ch is None:
            continue
        if c.is_send:
            sg = _Sudog(c.value, wake, sel, i, True)
            ch.sendq.append(sg)
        else:
            sg = _Sudog(None, wake, sel, i, False)
            ch.recvq.append(sg)
        sudogs.append((ch, sg))
    _unlock_all(chans)

    try:
        woke = _park(wake, timeout)
    except BaseException:
        if sel.claim.acquire(False):
            _dequeue_all(chans, sudogs, None)
        else:
            wake.acquire()
            _dequeue_all(chans, sudogs, sel.fired)
        raise
    if not woke:
        if sel.claim.acquire(False):  # nobody fired us: we time out
            _dequeue_all(chans, sudogs, None)
            raise ChanTimeout(f"select timed out after {timeout:g} s")
        wake.acquire()  # a waker claimed us just now: its transfer stands

    # pass 3: remove the other sudogs
    fired = sel.fired
    _dequeue_all(chans, sudogs, fired)
    if fired.is_send:
        if not fired.success:
            raise SendOnClosedChannel()
        return fired.index, None, True
    return fired.index, fired.elem, fired.success


def _dequeue_all(chans: list, sudogs: list, keep: Any) -> None:
    """Remove this select's sudogs (except ``keep``, already dequeued) from their queues."""
    _lock_all(chans)
    try:
        for ch, sg in sudogs:
            if sg is keep:
                continue
            q = ch.sendq if sg.is_send else ch.recvq
            try:
                q.remove(sg)
            except ValueError:
                pass  # already popped and skipped as dead by another goroutine
    finally:
        _unlock_all(chans)
