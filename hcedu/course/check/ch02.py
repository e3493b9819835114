"""Checker for exercise 02: a buffered channel (ring buffer + FIFO wait queues + close), judged by
the ``hchan`` rules of specs/go-semantics.md §1 (C1, C3-C6 and the transition table).

Race checks are deterministic: every goroutine the checker parks runs as an :class:`_Actor`, a thread
traced with ``sys.settrace``. The actor notes when it is blocked inside ``threading.Condition.wait``
(the primitive under ``Event.wait``), and once it has been woken it *freezes* at its first line of the
learner's code until the checker releases it. So the checker sees the channel exactly as the waker's
operation left it, as Go's ``chanrecv``/``chansend`` would (the woken goroutine does nothing until it
is scheduled), never depending on which thread CPython happens to run first.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable

from ...go.panic import Panic
from . import Verdict, run_checks

__all__ = ["buffered_channel"]

T = 5.0  # bound on every blocking call the checker makes
_THREADING = threading.__file__


def _spawn(fn: Callable[[], Any]) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as e:  # reported by the check that looks at it
            box["error"] = e

    t = threading.Thread(target=run, daemon=True, name="hcedu-check-02")
    t.start()
    return t, box


class _Actor:
    """A goroutine the checker parks on the learner's channel, and freezes once it is woken.

    ``parked`` is true while the thread is blocked in ``threading.Condition.wait`` (under
    ``Event.wait``), after it released that condition's lock; ``waits_on`` is the ``threading.Event`` it
    parked on. After it was parked, its first line of code outside ``threading`` (the learner's code, back
    from the wait) blocks until :meth:`release`.
    """

    def __init__(self, fn: Callable[[], Any], name: str, registry: list | None = None) -> None:
        if registry is not None:
            registry.append(self)
        self.box: dict = {}
        self.parked = False
        self.was_parked = False
        self.waits_on: threading.Event | None = None
        self.frozen = threading.Event()
        self._gate = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True, name=f"hcedu-check-02-{name}")
        self.thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        sys.settrace(self._trace)
        try:
            self.box["result"] = fn()
        except BaseException as e:  # reported by the check that looks at it
            self.box["error"] = e
        finally:
            sys.settrace(None)
            self.parked = False

    def _trace(self, frame: Any, event: str, arg: Any) -> Any:
        if event != "line":
            return self._trace
        code = frame.f_code
        if code.co_filename == _THREADING:
            if code.co_name == "wait" and isinstance(frame.f_locals.get("self"), threading.Event):
                self.waits_on = frame.f_locals["self"]
            # Condition.wait: blocked on its waiter lock once the condition's own lock is released
            self.parked = code.co_name == "wait" and "saved_state" in frame.f_locals and \
                _line(frame).startswith(("waiter.acquire", "gotit = waiter.acquire"))
            self.was_parked |= self.parked
        elif self.was_parked and not self._gate.is_set():
            self.parked = False
            self.frozen.set()
            self._gate.wait(6 * T)
        return self._trace

    def release(self) -> None:
        self._gate.set()

    def woken(self) -> bool:
        """Whether the waker set the event this actor parked on (or the actor is already back). The exercise
        parks on the waiter's event, and a waker's operation sets it before it returns: so when that operation
        has returned, an actor still not woken never will be. No waiting, no timeout."""
        return not self.thread.is_alive() or (self.waits_on is not None and self.waits_on.is_set())

    def join(self, what: str) -> None:
        self.release()
        self.thread.join(T)
        assert not self.thread.is_alive(), f"{what} is still blocked after {T:g} s"

    def wait_parked(self, what: str) -> None:
        end = time.monotonic() + T
        while not self.was_parked:   # (a waiter with a short timeout may already be past its wait)
            if "error" in self.box or "result" in self.box:
                raise AssertionError(f"{what} returned instead of blocking: {self.box}")
            assert time.monotonic() < end, (
                f"{what} never parked: park on the waiter's threading.Event (wait on it), do not poll")
            time.sleep(0.002)


def _line(frame: Any) -> str:
    import linecache
    return linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()


def _bounded(fn: Callable[[], Any], actors: list, what: str) -> Any:
    """Run one of the checker's own channel operations while actors may be frozen. A design whose woken
    waiter re-takes the channel's lock (``Condition(lock)``) can freeze holding it: after ``T`` the
    actors are released, so such a design is slow here but judged the same."""
    t, box = _spawn(fn)
    t.join(T)
    if t.is_alive():
        for a in actors:
            a.release()
        t.join(T)
        assert not t.is_alive(), f"{what} is still blocked after {2 * T:g} s"
    if "error" in box:
        raise box["error"]
    return box.get("result")


def _join(t: threading.Thread, what: str) -> None:
    t.join(T)
    assert not t.is_alive(), f"{what} is still blocked after {T:g} s"


def _wait_parked(pred: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + T
    while not pred():
        assert time.monotonic() < end, f"{what} never parked"
        time.sleep(0.002)


_FIELDS = ("send", "recv", "close", "buf", "qcount", "sendx", "recvx", "sendq", "recvq")


def buffered_channel(make: Callable[[int], Any]) -> Verdict:
    """Check ``make(cap)`` -> a channel object with ``send(v, timeout=None)``,
    ``recv(timeout=None) -> (v, ok)``, ``close()``, ``len()`` and the fields ``buf``, ``qcount``,
    ``sendx``, ``recvx``, ``sendq``, ``recvq`` (sequences of parked waiters). Timeouts raise
    ``TimeoutError``; Go's panics raise ``hcedu.go.Panic`` with Go's message."""

    started: list[_Actor] = []   # every actor of this run: released at the end, whatever failed

    def new(cap: int) -> Any:
        c = make(cap)
        missing = [f for f in _FIELDS if not hasattr(c, f)]
        assert not missing, f"make({cap}) returned {type(c).__name__} without {', '.join(missing)}"
        return c

    def state(c: Any) -> str:
        return f"buf={list(c.buf)} qcount={c.qcount} recvx={c.recvx} sendx={c.sendx} len(sendq)={len(c.sendq)}"

    def full_with_parked_senders(cap: int, values: tuple, timeout: float = T) -> tuple[Any, list]:
        """A channel of ``cap`` filled with 0..cap-1 and one parked sender per value (parked in order)."""
        c = new(cap)
        for i in range(cap):
            c.send(i, timeout=T)
        actors = []
        for k, v in enumerate(values):
            actors.append(_Actor(lambda v=v: c.send(v, timeout=timeout), f"sender{k}", started))
            actors[-1].wait_parked(f"sender {k} on a full channel")
            _wait_parked(lambda n=k + 1: len(c.sendq) == n, f"sender {k} (on sendq)")
        return c, actors

    def ring_fifo() -> None:
        c = new(3)
        for v in (1, 2, 3):
            c.send(v, timeout=T)
        assert (c.qcount, c.sendx, c.recvx) == (3, 0, 0), \
            f"after 3 sends into cap 3: qcount, sendx, recvx = {(c.qcount, c.sendx, c.recvx)}, want (3, 0, 0)"
        got = c.recv(timeout=T)
        assert got == (1, True), f"first recv returned {got!r}, want (1, True)"
        c.send(4, timeout=T)
        assert list(c.buf) == [4, 2, 3] and (c.sendx, c.recvx) == (1, 1), \
            f"after wrap-around: buf={list(c.buf)}, sendx={c.sendx}, recvx={c.recvx}; want [4, 2, 3], 1, 1"
        out = [c.recv(timeout=T)[0] for _ in range(3)]
        assert out == [2, 3, 4], f"received {out}, want [2, 3, 4] (FIFO)"
        assert len(c) == 0, f"len() = {len(c)} after draining"

    def blocks_when_full_or_empty() -> None:
        c = new(1)
        c.send("x", timeout=T)
        try:
            c.send("y", timeout=0.05)
        except TimeoutError:
            pass
        else:
            raise AssertionError("send into a full buffer did not block")
        assert len(c.sendq) == 0, "a timed-out sender was left on sendq"
        assert c.recv(timeout=T) == ("x", True)
        try:
            c.recv(timeout=0.05)
        except TimeoutError:
            pass
        else:
            raise AssertionError("recv from an empty open channel did not block")
        assert len(c.recvq) == 0, "a timed-out receiver was left on recvq"

    def parked_sender_rotation() -> None:
        c, (s,) = full_with_parked_senders(2, ("c",))
        got = _bounded(lambda: c.recv(timeout=T), [s], "recv from a full channel with a parked sender")
        seen = state(c)   # the woken sender is frozen: this is what recv alone did
        fields = (c.qcount, c.recvx, c.sendx, list(c.buf), len(c.sendq))
        s.join("the parked sender")
        assert "error" not in s.box, f"the parked sender raised {s.box.get('error')!r}"
        assert got == (0, True), f"recv returned {got!r}, want (0, True)"
        assert fields == (2, 1, 1, ["c", 1], 0), \
            (f"right after recv returned (before the woken sender ran again): {seen}; want buf=['c', 1] "
             f"qcount=2 recvx=1 sendx=1 len(sendq)=0: recv itself must move the sender's value into the "
             f"freed slot, not wake the sender to retry")

    def parked_senders_fifo() -> None:
        c, actors = full_with_parked_senders(1, ("b", "c", "d"))
        got = []
        for k in range(4):
            got.append(_bounded(lambda: c.recv(timeout=T), actors, "recv")[0])
            if k < 3:
                assert list(c.buf) == [("b", "c", "d")[k]] and c.qcount == 1, \
                    (f"after recv #{k + 1} (senders frozen): {state(c)}; the sender parked first must be "
                     f"served first, its value moved into the buffer by recv")
        for a in actors:
            a.join("a parked sender")
            assert "error" not in a.box, f"a parked sender raised {a.box['error']!r}"
        assert got == [0, "b", "c", "d"], f"received {got}, want [0, 'b', 'c', 'd'] (senders served FIFO)"

    def recv_then_close_keeps_parked_value() -> None:
        c, (s,) = full_with_parked_senders(1, ("b",))
        first = _bounded(lambda: c.recv(timeout=T), [s], "recv")
        _bounded(c.close, [s], "close")
        rest = [_bounded(lambda: c.recv(timeout=T), [s], "recv after close") for _ in range(2)]
        s.join("the parked sender")
        assert first == (0, True), f"recv returned {first!r}, want (0, True)"
        assert rest == [("b", True), (None, False)], \
            (f"receive, then close at once: the next receives gave {rest}, want [('b', True), (None, False)]: "
             f"the parked sender's value was taken by recv before close, so it must survive the close")
        err = s.box.get("error")
        assert err is None, f"the sender whose value was received raised {err!r} (its send had completed)"

    def timeout_keeps_handed_over_value() -> None:
        # a receiver whose wait timed out, but which a sender dequeues before it removes itself
        c = new(1)
        r = _Actor(lambda: c.recv(timeout=0.05), "receiver", started)
        r.wait_parked("a receiver on an empty channel")
        assert r.frozen.wait(T), "the receiver never returned from its timed-out wait"
        _bounded(lambda: c.send("v", timeout=T), [r], "send to a receiver whose wait timed out")
        r.join("the timed-out receiver")
        err, got = r.box.get("error"), r.box.get("result")
        if isinstance(err, TimeoutError):
            left = _bounded(lambda: c.recv(timeout=0.05), [], "recv") if c.qcount else None
            assert left == ("v", True), \
                ("the receiver raised TimeoutError although send had already handed it 'v', and 'v' is "
                 "not in the channel either: the value was lost")
        else:
            assert err is None and got == ("v", True), f"the receiver got {got!r} / raised {err!r}, want ('v', True)"
        # the mirror case: a sender that timed out, but whose value a receiver took
        d, (s,) = full_with_parked_senders(1, ("b",), timeout=0.05)
        assert s.frozen.wait(T), "the sender never returned from its timed-out wait"
        got = _bounded(lambda: d.recv(timeout=T), [s], "recv with a timed-out sender on sendq")
        s.join("the timed-out sender")
        took = d.qcount == 1 and list(d.buf) == ["b"]
        if isinstance(s.box.get("error"), TimeoutError):
            assert not took, ("the sender raised TimeoutError although recv had already moved its value "
                              "into the buffer: a caller that retries would send it twice")
        else:
            assert "error" not in s.box, f"the sender raised {s.box['error']!r}"
            assert took, f"the sender returned, but its value is not in the channel: {state(d)}"
        assert got == (0, True), f"recv returned {got!r}, want (0, True)"

    def handoff_to_parked_receivers_fifo() -> None:
        c = new(2)
        order: list = []
        threads = []
        for i in range(3):
            t, box = _spawn(lambda i=i: order.append((i, c.recv(timeout=T))))
            threads.append(t)
            _wait_parked(lambda n=i + 1: len(c.recvq) == n, f"receiver {i}")
        for k, v in enumerate(("x", "y", "z")):
            c.send(v, timeout=T)
            # checked the moment send returns: a buffered value would leave its receiver parked for good
            assert c.qcount == 0 and len(c.recvq) == 2 - k, (
                f"send({v!r}) with {3 - k} receivers parked returned leaving {c.qcount} value(s) in the buffer "
                f"and {len(c.recvq)} receiver(s) parked: the value must go straight to the first parked "
                f"receiver (those receivers are still blocked)")
        for t in threads:
            _join(t, "a parked receiver")
        assert sorted(order) == [(0, ("x", True)), (1, ("y", True)), (2, ("z", True))], \
            f"receivers got {sorted(order)}; the first to park must get the first value"
        assert c.qcount == 0, "a value handed to a parked receiver must not also be buffered"

    def close_rules() -> None:
        c = new(2)
        c.send(1, timeout=T)
        c.close()
        assert c.recv(timeout=T) == (1, True), "buffered values must still be received after close"
        for _ in range(2):
            got = c.recv(timeout=T)
            assert got == (None, False), f"recv on a closed drained channel returned {got!r}, want (None, False)"
        for what, fn, msg in (("send", lambda: c.send(2, timeout=T), "send on closed channel"),
                              ("close", c.close, "close of closed channel")):
            try:
                fn()
            except Panic as p:
                assert str(p) == msg, f"{what} panicked with {str(p)!r}, want {msg!r}"
            else:
                raise AssertionError(f"{what} on a closed channel did not panic")

    def close_wakes_everyone() -> None:
        c = new(1)
        rs = [_Actor(lambda: c.recv(timeout=T), f"receiver{k}") for k in range(2)]
        for r in rs:
            r.wait_parked("a receiver on an empty channel")
        _wait_parked(lambda: len(c.recvq) == 2, "two receivers")
        c.close()
        asleep = sum(not r.woken() for r in rs)
        assert not asleep, f"close returned, but {asleep} parked receiver(s) were never woken: still blocked"
        for r in rs:
            r.join("a receiver after close")
            assert r.box.get("result") == (None, False), f"a parked receiver got {r.box!r} after close"
        d = new(1)
        d.send(0, timeout=T)
        s = _Actor(lambda: d.send(1, timeout=T), "sender")
        s.wait_parked("a sender on a full channel")
        _wait_parked(lambda: len(d.sendq) == 1, "a sender")
        d.close()
        assert s.woken(), "close returned, but the parked sender was never woken: it is still blocked"
        s.join("a sender after close")
        box = s.box
        err = box.get("error")
        assert isinstance(err, Panic) and str(err) == "send on closed channel", \
            f"a parked sender must panic 'send on closed channel' when the channel closes (got {err!r})"
        assert len(c.recvq) == 0 and len(d.sendq) == 0, "close must empty both wait queues"

    def many_producers_consumers() -> None:
        c = new(4)
        per, n = 300, 4
        outs: list = [[] for _ in range(n)]

        def prod(p: int) -> None:
            for i in range(per):
                c.send((p, i), timeout=T)

        def cons(k: int) -> None:
            while True:
                v, ok = c.recv(timeout=T)
                if not ok:
                    return
                outs[k].append(v)

        cs = [_spawn(lambda k=k: cons(k)) for k in range(n)]
        ps = [_spawn(lambda p=p: prod(p)) for p in range(n)]
        for t, box in ps:
            _join(t, "a producer")
            assert "error" not in box, f"a producer raised {box['error']!r}"
        c.close()
        for t, box in cs:
            _join(t, "a consumer")
            assert "error" not in box, f"a consumer raised {box['error']!r}"
        got = [v for o in outs for v in o]
        assert len(got) == n * per and len(set(got)) == n * per, \
            f"{n * per} sent, {len(got)} received, {len(set(got))} distinct: values lost or duplicated"
        for o in outs:
            for p in range(n):
                seq = [i for q, i in o if q == p]
                assert seq == sorted(seq), "one producer's values arrived out of order"

    checks = [
        ("ring buffer: sendx/recvx wrap, FIFO", ring_fifo, "sendx = (sendx + 1) % cap; same for recvx"),
        ("send blocks iff full, recv iff empty; timeouts leave no trace", blocks_when_full_or_empty,
         "on timeout, remove your waiter from the queue under the lock"),
        ("recv from a full buffer with a parked sender", parked_sender_rotation,
         "in the same locked step as taking buf[recvx], recv moves the parked sender's value into the ring "
         "(as Go's chanrecv does); waking the sender to retry lets another send overtake it"),
        ("parked senders are served first-in first-out", parked_senders_fifo,
         "dequeue the sender that parked first (the head of sendq)"),
        ("receive, then close at once: the parked sender's value survives", recv_then_close_keeps_parked_value,
         "a recv that frees a slot completes the parked send right then; close cannot undo it"),
        ("a timed-out waiter that a waker already dequeued keeps the hand-off", timeout_keeps_handed_over_value,
         "after a timeout, take the lock: if you are no longer on the queue, a waker chose you; wait for "
         "its hand-off and return it instead of raising TimeoutError"),
        ("send hands off to parked receivers, first parked first served", handoff_to_parked_receivers_fifo,
         "check recvq before the buffer; dequeue from the head"),
        ("close: buffered values, then (None, False); Go's panics", close_rules,
         "closed only makes recv return (None, False) once qcount == 0"),
        ("close wakes every receiver and makes parked senders panic", close_wakes_everyone,
         "close must wake both queues: receivers with ok=False, senders with a failure flag"),
        ("4 producers x 4 consumers: nothing lost, per-producer FIFO", many_producers_consumers,
         "every field is read and written under the one lock"),
    ]
    try:
        return run_checks("buffered channel", checks)
    finally:
        for a in started:   # a failed check may leave a woken waiter frozen: let it finish
            a.release()
