"""Checker for exercise 02: a buffered channel (ring buffer + FIFO wait queues + close), judged by
the ``hchan`` rules of specs/go-semantics.md §1 (C1, C3-C6 and the transition table)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from ...go.panic import Panic
from . import Verdict, run_checks

__all__ = ["buffered_channel"]

T = 5.0  # bound on every blocking call the checker makes


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


def _join(t: threading.Thread, what: str) -> None:
    t.join(T)
    assert not t.is_alive(), f"{what} is still blocked after {T:g} s"


def _wait_parked(pred: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + T
    while not pred():
        assert time.monotonic() < end, f"{what} never parked"
        time.sleep(0.002)


def buffered_channel(make: Callable[[int], Any]) -> Verdict:
    """Check ``make(cap)`` -> a channel object with ``send(v, timeout=None)``,
    ``recv(timeout=None) -> (v, ok)``, ``close()``, ``len()`` and the fields ``buf``, ``qcount``,
    ``sendx``, ``recvx``, ``sendq``, ``recvq`` (sequences of parked waiters). Timeouts raise
    ``TimeoutError``; Go's panics raise ``hcedu.go.Panic`` with Go's message."""

    def ring_fifo() -> None:
        c = make(3)
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
        c = make(1)
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
        c = make(2)
        c.send("a", timeout=T)
        c.send("b", timeout=T)
        t, box = _spawn(lambda: c.send("c", timeout=T))
        _wait_parked(lambda: len(c.sendq) == 1, "a sender on a full channel")
        got = c.recv(timeout=T)
        _join(t, "the parked sender")
        assert "error" not in box, f"the parked sender raised {box.get('error')!r}"
        assert got == ("a", True), f"recv returned {got!r}, want ('a', True)"
        assert (c.qcount, c.recvx, c.sendx) == (2, 1, 1) and list(c.buf) == ["c", "b"], \
            (f"after recv with a parked sender: buf={list(c.buf)} qcount={c.qcount} recvx={c.recvx} "
             f"sendx={c.sendx}; want ['c', 'b'], 2, 1, 1")

    def handoff_to_parked_receivers_fifo() -> None:
        c = make(2)
        order: list = []
        threads = []
        for i in range(3):
            t, box = _spawn(lambda i=i: order.append((i, c.recv(timeout=T))))
            threads.append(t)
            _wait_parked(lambda n=i + 1: len(c.recvq) == n, f"receiver {i}")
        for v in ("x", "y", "z"):
            c.send(v, timeout=T)
        for t in threads:
            _join(t, "a parked receiver")
        assert sorted(order) == [(0, ("x", True)), (1, ("y", True)), (2, ("z", True))], \
            f"receivers got {sorted(order)}; the first to park must get the first value"
        assert c.qcount == 0, "a value handed to a parked receiver must not also be buffered"

    def close_rules() -> None:
        c = make(2)
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
        c = make(1)
        rs = [_spawn(lambda: c.recv(timeout=T)) for _ in range(2)]
        _wait_parked(lambda: len(c.recvq) == 2, "two receivers")
        c.close()
        for t, box in rs:
            _join(t, "a receiver after close")
            assert box.get("result") == (None, False), f"a parked receiver got {box!r} after close"
        d = make(1)
        d.send(0, timeout=T)
        t, box = _spawn(lambda: d.send(1, timeout=T))
        _wait_parked(lambda: len(d.sendq) == 1, "a sender")
        d.close()
        _join(t, "a sender after close")
        err = box.get("error")
        assert isinstance(err, Panic) and str(err) == "send on closed channel", \
            f"a parked sender must panic 'send on closed channel' when the channel closes (got {err!r})"
        assert len(c.recvq) == 0 and len(d.sendq) == 0, "close must empty both wait queues"

    def many_producers_consumers() -> None:
        c = make(4)
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
         "take buf[recvx], put the sender's value there, advance recvx and set sendx = recvx"),
        ("send hands off to parked receivers, first parked first served", handoff_to_parked_receivers_fifo,
         "check recvq before the buffer; dequeue from the head"),
        ("close: buffered values, then (None, False); Go's panics", close_rules,
         "closed only makes recv return (None, False) once qcount == 0"),
        ("close wakes every receiver and makes parked senders panic", close_wakes_everyone,
         "close must wake both queues: receivers with ok=False, senders with a failure flag"),
        ("4 producers x 4 consumers: nothing lost, per-producer FIFO", many_producers_consumers,
         "every field is read and written under the one lock"),
    ]
    return run_checks("buffered channel", checks)
