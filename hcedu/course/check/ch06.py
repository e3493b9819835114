"""Checker for exercise 06: deadline propagation in a fan-out (measures work wasted after the deadline)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from . import Verdict, run_checks

__all__ = ["deadline_propagation"]


class _Downstream:
    """A fake downstream call: works ``work`` seconds unless its ctx ends first; records what happened.

    ``how`` is ``"finished"`` (worked to the end) or ``"cancelled"`` (stopped because its ctx ended): the
    checks read that, not durations, so a busy machine cannot change a verdict. With ``gate`` (a
    ``threading.Barrier``) the call first waits for every call of the fan-out to have started. With ``hold``
    (a ``threading.Event``) it returns only once ``hold`` is set or ``HOLD`` seconds have passed: a
    ``call_all`` that does not wait for its calls returns while every one of them is still held, however the
    threads are scheduled."""

    HOLD = 0.5

    def __init__(self, work: float, result: Any = None, error: BaseException | None = None,
                 gate: threading.Barrier | None = None, hold: threading.Event | None = None) -> None:
        self.work, self.result, self.error, self.gate, self.hold = work, result, error, gate, hold
        self.ctx: Any = None
        self.how: str | None = None
        self.together: bool | None = None

    def __call__(self, ctx: Any) -> Any:
        from ...go.chan import ChanTimeout

        self.ctx = ctx
        if self.gate is not None:
            try:
                self.gate.wait()
                self.together = True
            except threading.BrokenBarrierError:
                self.together = False
        done = ctx.done() if ctx is not None else None
        if done is None:
            time.sleep(self.work)
        else:
            try:
                done.recv(timeout=self.work)
                self.how = "cancelled"
                raise ctx.err()  # cancelled: stop working, like a ctx-aware client
            except ChanTimeout:
                pass
        if self.hold is not None:
            self.hold.wait(self.HOLD)
        self.how = "finished"
        if self.error is not None:
            raise self.error
        return self.result


def deadline_propagation(call_all: Callable[[Any, list], list]) -> Verdict:
    """Check ``call_all(ctx, calls)``: results in order; the calls run concurrently (all in flight at once);
    the caller's deadline reaches every call and stops it (each call records whether it stopped because its
    ctx ended or worked to the end: no check reads a duration); the first error cancels the siblings; the
    contexts handed to the calls are cancelled when it returns; no goroutine is left running."""
    from ...go import context
    from ...go.lifecycle import detect_leaks

    def in_order() -> None:
        returned = threading.Event()   # the calls finish only after call_all returned, or after HOLD seconds
        calls = [_Downstream(0.002 * (3 - i), result=i, hold=returned) for i in range(3)]
        try:
            got = call_all(context.background(), calls)
        finally:
            returned.set()
        assert got == [0, 1, 2], f"expected [0, 1, 2], got {got!r}"

    def concurrent() -> None:
        gate = threading.Barrier(4, timeout=3.0)
        calls = [_Downstream(0.001, result=i, gate=gate) for i in range(4)]
        call_all(context.background(), calls)
        assert all(c.together for c in calls), (
            "the 4 calls were never all in flight at once: they ran one after another")

    def deadline_reaches_calls() -> None:
        ctx, cancel = context.with_timeout(context.background(), 0.05)
        calls = [_Downstream(0.4, result=i) for i in range(3)]
        try:
            call_all(ctx, calls)
        except context.DeadlineExceededError:
            pass
        else:
            raise AssertionError("the caller's deadline passed, but call_all did not raise DeadlineExceeded")
        finally:
            cancel()
        for c in calls:
            assert c.ctx is not None and c.ctx.deadline() is not None, \
                "a downstream got a context without the caller's deadline (context.background()?)"

    def little_wasted_work() -> None:
        ctx, cancel = context.with_timeout(context.background(), 0.03)
        calls = [_Downstream(0.6, result=i) for i in range(4)]
        try:
            call_all(ctx, calls)
        except Exception:  # noqa: BLE001 - the error is checked above
            pass
        finally:
            cancel()
        worked_on = [i for i, c in enumerate(calls) if c.how != "cancelled"]
        assert not worked_on, (f"downstream call(s) {worked_on} kept working the full 600 ms after the 30 ms "
                               f"deadline instead of stopping at it")

    def first_error_cancels_siblings() -> None:
        boom = LookupError("inventory: 503")
        calls = [_Downstream(1.0, result=0), _Downstream(0.01, error=boom), _Downstream(1.0, result=2)]
        try:
            call_all(context.background(), calls)
        except LookupError as e:
            assert e is boom, f"expected the failing call's error, got {e!r}"
        else:
            raise AssertionError("one call failed, but call_all did not raise its error")
        ran_on = [i for i in (0, 2) if calls[i].how != "cancelled"]
        assert not ran_on, f"sibling call(s) {ran_on} ran on to the end after the first error (not cancelled)"

    def contexts_released() -> None:
        calls = [_Downstream(0.001, result=i) for i in range(3)]
        call_all(context.background(), calls)
        assert all(c.ctx is not None and c.ctx.err() is not None for c in calls), \
            "the context handed to the calls is still live after call_all returned (call cancel / wait)"

    def no_leak() -> None:
        with detect_leaks(timeout=1.0) as report:
            ctx, cancel = context.with_timeout(context.background(), 0.02)
            try:
                call_all(ctx, [_Downstream(0.2) for _ in range(3)])
            except Exception:  # noqa: BLE001
                pass
            finally:
                cancel()
        assert report.ok, report.message().splitlines()[0]

    return run_checks("deadline propagation in a fan-out", [
        ("results come back in call order", in_order, "store each result at its index"),
        ("the calls run concurrently", concurrent, "start each call on its own goroutine (errgroup.go)"),
        ("the caller's deadline reaches every call", deadline_reaches_calls,
         "derive the calls' context from ctx (errgroup.with_context(ctx)), never from background()"),
        ("every call stops at the deadline (no work wasted after it)", little_wasted_work,
         "pass the derived ctx to every call"),
        ("the first error cancels the siblings", first_error_cancels_siblings,
         "errgroup.with_context cancels its ctx at the first error; raise what wait() returns"),
        ("the calls' context is cancelled on return", contexts_released, "errgroup's wait() cancels it"),
        ("no goroutine left running", no_leak, "wait for every goroutine before returning"),
    ])
