"""Go's channels (``runtime/chan.go``): ``Chan`` mirrors ``hchan`` field by field.

``Chan(n)`` is ``make(chan T, n)``. Its state has Go's names::

    qcount    number of values in the ring buffer (``len(ch)``)
    dataqsiz  size of the ring buffer (``ch.cap``)
    buf       the ring buffer, a list of ``dataqsiz`` slots
    sendx     index of the slot the next buffered send writes
    recvx     index of the slot the next buffered receive reads
    recvq     FIFO of parked receivers (sudogs)
    sendq     FIFO of parked senders (sudogs), each holding the value it wants to send
    closed    set once by ``close()``

hchan invariants (all state is read and written under the channel's one lock, ``c.lock``):
  * ``0 <= qcount <= dataqsiz``; the values sit at ``buf[recvx], buf[recvx+1], ...`` (mod
    ``dataqsiz``), ``sendx == (recvx + qcount) % dataqsiz``; free slots hold ``None``.
  * buffered channel: ``qcount > 0 => recvq is empty`` and ``qcount < dataqsiz => sendq is empty``.
  * ``recvq`` and ``sendq`` are never both non-empty, except when one goroutine's ``select`` parks
    a send *and* a receive case on the same unbuffered channel (a select never pairs with itself).
  * both queues are FIFO: enqueue at the tail, dequeue at the head. A sudog of a ``select`` that
    another channel already woke is skipped (and removed by its owner), exactly as Go's
    ``dequeue`` skips sudogs whose ``selectDone`` CAS fails.
  * a parked goroutine is woken exactly once, by the goroutine that dequeued its sudog, after the
    value has been moved (direct hand-off): the woken goroutine never re-takes ``c.lock`` to finish
    its own operation. ``success`` says whether it was woken by a real transfer (True) or by
    ``close`` (False: a receiver gets ``(None, False)``, a sender panics).
  * after ``close``: ``closed`` is set, both queues are empty, buffered values remain receivable.
  * a blocking call that times out removes its own sudog, so it leaves no trace in the queues.

Design for speed (pure Python, GIL): one ``threading.Lock`` per channel, a per-waiter lock as the
wake-up primitive (Go's ``gopark``/``goready``), and the transfer done by the waker, so a
rendezvous costs one park instead of ``queue.Queue``'s two conditions and a re-lock.

Go panics (``hcedu.go.Panic`` subclasses, Go's exact messages): ``makechan: size out of range``,
``send on closed channel``, ``close of closed channel``, ``close of nil channel``.
A ``None`` channel is Go's nil channel: use the module functions :func:`send`, :func:`recv`,
:func:`recv_ok`, :func:`close`, :func:`length`, :func:`capacity` (and ``select``) where a channel
may be nil.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterator

from .. import _validate
from .panic import Panic

__all__ = [
    "Chan", "ChanTimeout", "ChanPanic", "SendOnClosedChannel", "CloseOfClosedChannel",
    "CloseOfNilChannel", "MakeChanSizeOutOfRange", "ChanState", "Waiter",
    "send", "recv", "recv_ok", "close", "length", "capacity", "after", "MAX_CAP",
]

_allocate_lock = threading.Lock
_TIMEOUT_MAX = threading.TIMEOUT_MAX
_get_ident = threading.get_ident

#: Largest buffer ``Chan`` accepts. Go refuses sizes whose buffer exceeds ``maxAlloc``; a Python
#: list slot costs 8 bytes, so this bound (128 MiB of slots) plays that role.
MAX_CAP = 1 << 24


class ChanPanic(Panic):
    """A panic raised by a channel operation (``runtime/chan.go``'s ``panic(plainError(...))``)."""


class SendOnClosedChannel(ChanPanic):
    """``panic: send on closed channel``."""

    def __init__(self) -> None:
        super().__init__("send on closed channel")


class CloseOfClosedChannel(ChanPanic):
    """``panic: close of closed channel``."""

    def __init__(self) -> None:
        super().__init__("close of closed channel")


class CloseOfNilChannel(ChanPanic):
    """``panic: close of nil channel``."""

    def __init__(self) -> None:
        super().__init__("close of nil channel")


class MakeChanSizeOutOfRange(ChanPanic):
    """``panic: makechan: size out of range``."""

    def __init__(self) -> None:
        super().__init__("makechan: size out of range")


class ChanTimeout(TimeoutError):
    """A blocking channel operation or ``select`` gave up after its ``timeout`` (no Go counterpart:
    a notebook-safety valve). The operation did not happen and its sudog was removed."""


class _Select:
    """Shared by the sudogs of one parked ``select``: ``claim`` is Go's ``selectDone`` CAS."""

    __slots__ = ("claim", "fired")

    def __init__(self) -> None:
        self.claim = _allocate_lock()
        self.fired: _Sudog | None = None


class _Sudog:
    """Go's ``sudog``: one parked goroutine waiting on one channel (one per case for ``select``)."""

    __slots__ = ("elem", "success", "wake", "sel", "index", "is_send", "g")

    def __init__(self, elem: Any, wake: Any, sel: _Select | None, index: int, is_send: bool) -> None:
        self.elem = elem
        self.success = False
        self.wake = wake
        self.sel = sel
        self.index = index
        self.is_send = is_send
        self.g = _get_ident()


def _dequeue(q: deque) -> _Sudog | None:
    """Go's ``waitq.dequeue``: pop the first live sudog, claiming it if it belongs to a select."""
    while q:
        sg = q.popleft()
        sel = sg.sel
        if sel is None:
            return sg
        if sel.claim.acquire(False):
            sel.fired = sg
            return sg
    return None


def _park(wake: Any, timeout: float | None) -> bool:
    """Go's ``gopark``: block on this waiter's own lock until ``goready`` releases it."""
    if timeout is None or timeout > _TIMEOUT_MAX:
        return wake.acquire()
    return wake.acquire(True, timeout)


@dataclass(frozen=True)
class Waiter:
    """One parked goroutine in a snapshot: its thread name, the value it sends (senders only),
    and whether it is parked inside a ``select``."""

    g: str
    elem: Any = None
    select: bool = False


@dataclass(frozen=True)
class ChanState:
    """A consistent copy of an ``hchan`` taken under its lock (see :meth:`Chan.snapshot`)."""

    qcount: int
    dataqsiz: int
    buf: list
    sendx: int
    recvx: int
    recvq: list = field(default_factory=list)
    sendq: list = field(default_factory=list)
    closed: bool = False

    def values(self) -> list:
        """The buffered values in receive order (``buf[recvx]`` first)."""
        n = self.dataqsiz
        return [self.buf[(self.recvx + i) % n] for i in range(self.qcount)] if n else []

    def to_dict(self) -> dict:
        return {"qcount": self.qcount, "dataqsiz": self.dataqsiz, "buf": list(self.buf),
                "sendx": self.sendx, "recvx": self.recvx, "recvq": list(self.recvq),
                "sendq": list(self.sendq), "closed": self.closed}


def _thread_names() -> dict:
    return {t.ident: t.name for t in threading.enumerate()}


class Chan:
    """Go's ``chan T`` (``runtime.hchan``): ``Chan(cap)`` is ``make(chan T, cap)``.

    ``cap`` must be an int: ``TypeError`` otherwise; ``cap < 0`` (or above :data:`MAX_CAP`)
    panics ``makechan: size out of range`` like Go. ``Chan(0)`` is unbuffered: every send waits
    for a receiver (rendezvous).
    """

    __slots__ = ("_lock", "qcount", "dataqsiz", "buf", "sendx", "recvx", "recvq", "sendq",
                 "closed", "__weakref__")

    def __init__(self, cap: int = 0) -> None:
        if isinstance(cap, bool) or not isinstance(cap, int):
            _validate.integer("cap", cap)  # raises TypeError naming the argument
        if cap < 0 or cap > MAX_CAP:
            raise MakeChanSizeOutOfRange()
        cap = int(cap)
        self._lock = _allocate_lock()
        self.qcount = 0
        self.dataqsiz = cap
        self.buf: list = [None] * cap
        self.sendx = 0
        self.recvx = 0
        self.recvq: deque = deque()
        self.sendq: deque = deque()
        self.closed = False

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def cap(self) -> int:
        """Go's ``cap(ch)``: the buffer size (``dataqsiz``)."""
        return self.dataqsiz

    def __len__(self) -> int:
        """Go's ``len(ch)``: values buffered now (``qcount``), read without the lock as Go does."""
        return self.qcount

    def __bool__(self) -> bool:  # an empty channel is still a channel (len() must not decide truth)
        return True

    def __repr__(self) -> str:
        return f"<Chan cap={self.dataqsiz} len={self.qcount}{' closed' if self.closed else ''}>"

    # -- send ----------------------------------------------------------------------------------
    def send(self, v: Any, timeout: float | None = None) -> None:
        """Go's ``ch <- v`` (``chansend``, blocking).

        Hands ``v`` straight to the first parked receiver if there is one, else buffers it if
        there is room, else parks on ``sendq`` until a receiver takes it. Panics with
        ``SendOnClosedChannel`` if the channel is closed, or gets closed while this send is
        parked. ``timeout`` (seconds, ``None`` = forever): raise :class:`ChanTimeout` if still
        parked then; the value was not sent and the sudog is removed.
        """
        if timeout is not None:
            timeout = _validate.optional_timeout("timeout", timeout)
        lock = self._lock
        lock.acquire()
        if self.closed:
            lock.release()
            raise SendOnClosedChannel()
        rq = self.recvq
        if rq:
            sg = rq.popleft()  # inlined _dequeue: the common case is a plain (non-select) receiver
            sel = sg.sel
            if sel is not None:
                if sel.claim.acquire(False):
                    sel.fired = sg
                else:
                    sg = _dequeue(rq)
            if sg is not None:
                sg.elem = v
                sg.success = True
                lock.release()
                sg.wake.release()
                return
        n = self.qcount
        if n < self.dataqsiz:
            sx = self.sendx
            self.buf[sx] = v
            sx += 1
            self.sendx = 0 if sx == self.dataqsiz else sx
            self.qcount = n + 1
            lock.release()
            return
        self._block(_Sudog(v, None, None, 0, True), self.sendq, timeout, "send")

    def try_send(self, v: Any) -> bool:
        """Go's ``select { case ch <- v: ...; default: }`` (non-blocking ``chansend``).

        Return True if ``v`` was handed off or buffered, False if the send would block.
        Panics ``send on closed channel`` on a closed channel (even non-blocking, like Go).
        """
        lock = self._lock
        lock.acquire()
        try:
            woken = _send_locked(self, v)
        finally:
            lock.release()
        if woken is None:
            return False
        if woken is not True:
            woken.wake.release()
        return True

    # -- receive -------------------------------------------------------------------------------
    def recv(self, timeout: float | None = None) -> Any:
        """Go's ``v := <-ch`` (``chanrecv``, blocking); returns ``None`` (the zero value) once the
        channel is closed and drained.

        Takes from a parked sender (unbuffered: its value; buffered and full: the head of the
        buffer, and the sender's value goes to the tail), else from the buffer, else parks on
        ``recvq``. ``timeout``: raise :class:`ChanTimeout` if nothing arrived by then (nothing
        was received and the sudog is removed).
        """
        return self.recv_ok(timeout)[0]

    def recv_ok(self, timeout: float | None = None) -> tuple[Any, bool]:
        """Go's ``v, ok := <-ch``: ``ok`` is False only when the channel is closed and drained
        (then ``v`` is ``None``). Blocking and ``timeout`` as :meth:`recv`."""
        if timeout is not None:
            timeout = _validate.optional_timeout("timeout", timeout)
        lock = self._lock
        lock.acquire()
        n = self.qcount
        if n and not self.sendq:
            rx = self.recvx
            buf = self.buf
            v = buf[rx]
            buf[rx] = None
            rx += 1
            self.recvx = 0 if rx == self.dataqsiz else rx
            self.qcount = n - 1
            lock.release()
            return v, True
        sq = self.sendq
        if sq:
            sg = sq.popleft()  # inlined _dequeue
            sel = sg.sel
            if sel is not None:
                if sel.claim.acquire(False):
                    sel.fired = sg
                else:
                    sg = _dequeue(sq)
            if sg is not None:
                if self.dataqsiz == 0:  # unbuffered: take the sender's value directly
                    v = sg.elem
                    sg.elem = None
                    sg.success = True
                else:
                    v = _recv_from_sender(self, sg)
                lock.release()
                sg.wake.release()
                return v, True
        if n:  # only dead select sudogs were in sendq
            rx = self.recvx
            buf = self.buf
            v = buf[rx]
            buf[rx] = None
            rx += 1
            self.recvx = 0 if rx == self.dataqsiz else rx
            self.qcount = n - 1
            lock.release()
            return v, True
        if self.closed:
            lock.release()
            return None, False
        sg = self._block(_Sudog(None, None, None, 0, False), self.recvq, timeout, "receive")
        return sg.elem, sg.success

    def try_recv(self) -> tuple[Any, bool, bool]:
        """Go's ``select { case v, ok := <-ch: ...; default: }`` (non-blocking ``chanrecv``).

        Returns ``(v, ok, selected)``: ``selected`` is False when the receive would block (then
        ``v`` is None and ``ok`` False); on a closed, drained channel ``(None, False, True)``.
        """
        lock = self._lock
        lock.acquire()
        try:
            r = _recv_locked(self)
        finally:
            lock.release()
        if r is None:
            return None, False, False
        v, ok, woken = r
        if woken is not None:
            woken.wake.release()
        return v, ok, True

    def __iter__(self) -> Iterator[Any]:
        """Go's ``for v := range ch``: receive until the channel is closed *and* drained."""
        while True:
            v, ok = self.recv_ok()
            if not ok:
                return
            yield v

    def range(self, timeout: float | None = None) -> Iterator[Any]:
        """``for v := range ch`` with a per-receive ``timeout`` (raises :class:`ChanTimeout`)."""
        while True:
            v, ok = self.recv_ok(timeout)
            if not ok:
                return
            yield v

    # -- close ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Go's ``close(ch)`` (``closechan``).

        Marks the channel closed, wakes every parked receiver with ``(None, False)`` and every
        parked sender, which then panics ``send on closed channel``. Buffered values stay
        receivable. Closing twice panics ``close of closed channel``.
        """
        lock = self._lock
        lock.acquire()
        if self.closed:
            lock.release()
            raise CloseOfClosedChannel()
        self.closed = True
        woken = []
        for q in (self.recvq, self.sendq):
            while True:
                sg = _dequeue(q)
                if sg is None:
                    break
                if not sg.is_send:
                    sg.elem = None
                sg.success = False
                woken.append(sg)
        lock.release()
        for sg in woken:
            sg.wake.release()

    # -- state ---------------------------------------------------------------------------------
    def snapshot(self) -> ChanState:
        """The ``hchan`` fields, copied under the lock: a :class:`ChanState`.

        Wait queues list the parked goroutines head first as :class:`Waiter` (thread name, the
        value a sender holds, whether it is a select); sudogs of a select that already fired
        elsewhere are left out (they are being removed).
        """
        names = _thread_names()
        with self._lock:
            def waiters(q: deque) -> list:
                out = []
                for sg in q:
                    if sg.sel is not None and sg.sel.fired is not None:
                        continue
                    out.append(Waiter(names.get(sg.g, f"thread-{sg.g}"),
                                      sg.elem if sg.is_send else None, sg.sel is not None))
                return out
            return ChanState(self.qcount, self.dataqsiz, list(self.buf), self.sendx, self.recvx,
                             waiters(self.recvq), waiters(self.sendq), self.closed)

    # -- parking -------------------------------------------------------------------------------
    def _block(self, sg: _Sudog, q: deque, timeout: float | None, what: str) -> _Sudog:
        """Enqueue ``sg`` on ``q`` (caller holds the lock), release the lock and park.

        On timeout (or an interrupt) remove the sudog under the lock; if a waker dequeued it
        first, the transfer already happened, so wait for the imminent wake-up and honour it.
        """
        wake = _allocate_lock()
        wake.acquire()
        sg.wake = wake
        q.append(sg)
        lock = self._lock
        lock.release()
        try:
            woke = _park(wake, timeout)
        except BaseException:
            if self._unpark(sg, q):
                raise
            wake.acquire()
            raise
        if not woke:
            if self._unpark(sg, q):
                raise ChanTimeout(f"chan {what} timed out after {timeout:g} s")
            wake.acquire()
        if sg.is_send and not sg.success:
            raise SendOnClosedChannel()
        return sg

    def _unpark(self, sg: _Sudog, q: deque) -> bool:
        """Remove a parked sudog nobody dequeued yet. True if removed (the op did not happen)."""
        with self._lock:
            try:
                q.remove(sg)
            except ValueError:
                return False
            return True


# -- operations under an already-held lock (shared with select) -----------------------------------

def _send_locked(c: Chan, v: Any) -> Any:
    """Non-blocking send with ``c.lock`` held: the woken receiver's sudog, True (buffered) or
    None (would block). Panics on a closed channel."""
    if c.closed:
        raise SendOnClosedChannel()
    sg = _dequeue(c.recvq)
    if sg is not None:
        sg.elem = v
        sg.success = True
        return sg
    n = c.qcount
    if n < c.dataqsiz:
        sx = c.sendx
        c.buf[sx] = v
        sx += 1
        c.sendx = 0 if sx == c.dataqsiz else sx
        c.qcount = n + 1
        return True
    return None


def _recv_from_sender(c: Chan, sg: _Sudog) -> Any:
    """Go's ``recv``: take from parked sender ``sg`` (lock held). Unbuffered: its value.
    Buffered (necessarily full): the head of the buffer, and the sender's value goes to the
    freed slot, which becomes the new tail (``sendx = recvx``)."""
    sg.success = True
    if c.dataqsiz == 0:
        v = sg.elem
    else:
        rx = c.recvx
        buf = c.buf
        v = buf[rx]
        buf[rx] = sg.elem
        rx += 1
        if rx == c.dataqsiz:
            rx = 0
        c.recvx = rx
        c.sendx = rx
    sg.elem = None
    return v


def _recv_locked(c: Chan) -> tuple[Any, bool, Any] | None:
    """Non-blocking receive with the lock held: ``(v, ok, sudog_to_wake_or_None)`` or None."""
    if c.closed and c.qcount == 0:
        return None, False, None
    sg = _dequeue(c.sendq)
    if sg is not None:
        return _recv_from_sender(c, sg), True, sg
    n = c.qcount
    if n:
        rx = c.recvx
        buf = c.buf
        v = buf[rx]
        buf[rx] = None
        rx += 1
        c.recvx = 0 if rx == c.dataqsiz else rx
        c.qcount = n - 1
        return v, True, None
    if c.closed:
        return None, False, None
    return None


# -- nil-channel aware functions ------------------------------------------------------------------

def _check_chan(name: str, ch: Any) -> None:
    if ch is not None and not isinstance(ch, Chan):
        raise TypeError(f"{name} must be a Chan or None (nil channel) (got {type(ch).__name__}: {ch!r})")


def _block_forever(timeout: float | None, what: str) -> None:
    """A nil-channel operation: park forever (Go), or raise ChanTimeout after ``timeout``."""
    timeout = _validate.optional_timeout("timeout", timeout)
    wake = _allocate_lock()
    wake.acquire()
    _park(wake, timeout)
    raise ChanTimeout(f"{what} on nil channel timed out after {timeout:g} s")


def send(ch: Chan | None, v: Any, timeout: float | None = None) -> None:
    """Go's ``ch <- v`` where ``ch`` may be nil (``None``): a nil channel blocks forever
    (``ChanTimeout`` after ``timeout``). Otherwise :meth:`Chan.send`."""
    _check_chan("ch", ch)
    if ch is None:
        _block_forever(timeout, "send")
    ch.send(v, timeout)


def recv(ch: Chan | None, timeout: float | None = None) -> Any:
    """Go's ``<-ch`` where ``ch`` may be nil: a nil channel blocks forever (``ChanTimeout``
    after ``timeout``). Otherwise :meth:`Chan.recv`."""
    _check_chan("ch", ch)
    if ch is None:
        _block_forever(timeout, "receive")
    return ch.recv(timeout)


def recv_ok(ch: Chan | None, timeout: float | None = None) -> tuple[Any, bool]:
    """Go's ``v, ok := <-ch`` where ``ch`` may be nil (blocks forever; see :func:`recv`)."""
    _check_chan("ch", ch)
    if ch is None:
        _block_forever(timeout, "receive")
    return ch.recv_ok(timeout)


def close(ch: Chan | None) -> None:
    """Go's ``close(ch)``: ``close of nil channel`` for ``None``, else :meth:`Chan.close`."""
    _check_chan("ch", ch)
    if ch is None:
        raise CloseOfNilChannel()
    ch.close()


def length(ch: Chan | None) -> int:
    """Go's ``len(ch)``; 0 for a nil channel."""
    _check_chan("ch", ch)
    return 0 if ch is None else len(ch)


def capacity(ch: Chan | None) -> int:
    """Go's ``cap(ch)``; 0 for a nil channel."""
    _check_chan("ch", ch)
    return 0 if ch is None else ch.cap


class _TimerChan(Chan):
    """A timer's channel (Go 1.23+ ``Timer.C``): ``cap`` and ``len`` report 0, as for an unbuffered
    channel (go.dev/issue/37196, Go 1.23 release notes), although one slot holds the fired time until
    it is received. Code that polled ``len(t.C)`` must use a non-blocking receive instead."""

    __slots__ = ()

    @property
    def cap(self) -> int:
        return 0

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"<timer Chan cap=0 len=0{' fired' if self.qcount else ''}>"


def after(seconds: float, clock: Any = None) -> Chan:
    """Go's ``time.After(d)``: a channel that receives ``clock.now()`` once ``seconds`` have passed
    on ``clock`` (default real time; a ``VirtualClock`` fires when advanced). Like Go 1.23+ timer
    channels it reports ``cap`` 0 and ``len`` 0 (no stale value can be polled for); the fired time
    waits for its receiver. The channel is never closed, as in Go. A zero or negative duration fires at
    once, as Go's timers do."""
    from ..clock import as_clock

    seconds = max(0.0, _validate.number("seconds", seconds))
    clk = as_clock(clock)
    ch = _TimerChan(1)
    clk.after(seconds, lambda: ch.try_send(clk.now()))
    return ch
