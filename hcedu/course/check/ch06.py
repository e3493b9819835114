"""Checker for exercise 06: deadline propagation in a fan-out (measures work wasted after the deadline).

Checked, each from what the fake downstream calls record (which ctx they got, whether they stopped because it
ended or worked to the end, how many were in flight at once), never from a duration: results come back in call
order; every call runs concurrently (20 calls wait at a barrier until all are in flight: a concurrency limit or
a sequential loop waits out its generous timeout); the caller's deadline and the caller's ``cancel()`` reach
every call (a context made from ``background()`` with ``ctx``'s deadline copied misses the cancel), and
``call_all`` raises the error unchanged; every call stops at the deadline (a call seen still running when
``call_all`` returned is reported as not waited for); the first error *in time* is raised (call 1 fails, then call
0, sequenced with events: a lower index does not make call 0's error the first) and cancels the siblings; the
contexts handed out are cancelled on return; no goroutine is left running.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from . import Verdict, run_checks

__all__ = ["deadline_propagation"]

#: the concurrency check's fan-out: more calls than any plausible limit (set_limit(8), a pool of 10)
FANOUT = 20
#: how long the calls wait for each other at a barrier; only a wrong answer ever waits it out
GATE_TIMEOUT = 3.0
#: how long a call waits for a sibling's failure to be handled; only a wrong answer ever waits it out
SEQUENCE_TIMEOUT = 10.0


class _InFlight:
    """How many calls of one fan-out were running at once (``peak``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = self.peak = 0

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


class _Downstream:
    """A fake downstream call: works ``work`` seconds unless its ctx ends first; records what happened.

    ``how`` is ``"finished"`` (worked to the end) or ``"cancelled"`` (stopped because its ctx ended): the
    checks read that, not durations, so a busy machine cannot change a verdict. A ctx that can never end
    (``background()``, whose ``done()`` is None) finishes at once: its work would run to the end anyway. With
    ``gate`` (a ``threading.Barrier``) the call first waits for every call of the fan-out to have started
    (``flight`` counts how many were running at once). With ``hold`` (a ``threading.Event``) it returns only
    once ``hold`` is set or ``HOLD`` seconds have passed: a ``call_all`` that does not wait for its calls
    returns while every one of them is still held, however the threads are scheduled."""

    HOLD = 0.5

    def __init__(self, work: float, result: Any = None, error: BaseException | None = None,
                 gate: threading.Barrier | None = None, hold: threading.Event | None = None,
                 flight: _InFlight | None = None) -> None:
        self.work, self.result, self.error, self.gate, self.hold = work, result, error, gate, hold
        self.flight = flight
        self.ctx: Any = None
        self.how: str | None = None
        self.together: bool | None = None

    def __call__(self, ctx: Any) -> Any:
        if self.flight is None:
            return self._run(ctx)
        self.flight.enter()
        try:
            return self._run(ctx)
        finally:
            self.flight.leave()

    def _run(self, ctx: Any) -> Any:
        from ...go.chan import ChanTimeout

        self.ctx = ctx
        if self.gate is not None:
            try:
                self.gate.wait()
                self.together = True
            except threading.BrokenBarrierError:
                self.together = False
        done = ctx.done() if ctx is not None else None
        if done is not None:
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


def _calls(indices: list[int]) -> str:
    return f"call {indices[0]}" if len(indices) == 1 else f"calls {indices}"


def deadline_propagation(call_all: Callable[[Any, list], list]) -> Verdict:
    """Check ``call_all(ctx, calls)``: results in order; every call runs concurrently (all in flight at once,
    however many); the caller's deadline and cancel reach every call and stop it (each call records whether it
    stopped because its ctx ended or worked to the end: no check reads a duration); the first error to happen
    is raised and cancels the siblings; the contexts handed to the calls are cancelled when it returns; no
    goroutine is left running."""
    from ...go import context
    from ...go.chan import ChanTimeout
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
        # FANOUT calls, released only when all of them are in flight: a limit below FANOUT (errgroup's
        # set_limit, a small pool) or a loop waits out GATE_TIMEOUT; the verdict reads the peak count
        flight = _InFlight()
        gate = threading.Barrier(FANOUT, timeout=GATE_TIMEOUT)
        calls = [_Downstream(0.001, result=i, gate=gate, flight=flight) for i in range(FANOUT)]
        call_all(context.background(), calls)
        if all(c.together for c in calls):
            return
        assert flight.peak > 1, (f"the {FANOUT} calls were never all in flight at once: they ran one after "
                                 "another")
        raise AssertionError(f"at most {flight.peak} of the {FANOUT} calls were in flight at once: call_all runs "
                             "every call concurrently, however many there are (no limit, no pool)")

    def deadline_reaches_calls() -> None:
        ctx, cancel = context.with_timeout(context.background(), 0.05)
        calls = [_Downstream(0.4, result=i) for i in range(3)]
        try:
            call_all(ctx, calls)
        except context.DeadlineExceededError:
            pass
        except NotImplementedError:
            raise
        except Exception as e:  # noqa: BLE001 - the learner's error, reported as such
            raise AssertionError(f"the caller's deadline passed and call_all raised {type(e).__name__} ({e}) "
                                 "instead of the DeadlineExceededError itself: raise the calls' error "
                                 "unchanged") from e
        else:
            raise AssertionError("the caller's deadline passed, but call_all did not raise DeadlineExceeded")
        finally:
            cancel()
        for c in calls:
            assert c.ctx is not None and c.ctx.deadline() is not None, \
                "a downstream got a context without the caller's deadline (context.background()?)"
        # the caller cancels ctx (no deadline, then a far one) once every call is in flight: the barrier's
        # last arrival calls cancel() before any call goes on, then each call looks whether its ctx ended
        for deadline in (None, 60.0):
            if deadline is None:
                ctx, cancel = context.with_cancel(context.background())
            else:
                ctx, cancel = context.with_timeout(context.background(), deadline)
            gate = threading.Barrier(3, action=cancel, timeout=GATE_TIMEOUT)
            calls = [_Downstream(0, result=i, gate=gate) for i in range(3)]
            with_ = "without a deadline" if deadline is None else f"with a {deadline:g} s deadline"
            try:
                got = call_all(ctx, calls)
            except context.CanceledError:
                got = None
            except NotImplementedError:
                raise
            except Exception as e:  # noqa: BLE001
                got = e
            finally:
                cancel()
            missed = [i for i, c in enumerate(calls) if c.how != "cancelled"]
            assert not missed, (f"the caller cancelled ctx ({with_}) while the calls were in flight, but "
                                f"{_calls(missed)} never saw it: their context is not derived from ctx (a fresh "
                                "one from background(), even with ctx's deadline copied, misses the caller's "
                                "cancel)")
            assert got is None, (f"the caller cancelled ctx ({with_}) and every call stopped with Canceled, but "
                                 + (f"call_all raised {type(got).__name__} instead of the CanceledError"
                                    if isinstance(got, BaseException) else
                                    f"call_all returned {got!r} instead of raising the CanceledError"))

    def little_wasted_work() -> None:
        ctx, cancel = context.with_timeout(context.background(), 0.03)
        calls = [_Downstream(0.6, result=i) for i in range(4)]
        try:
            call_all(ctx, calls)
        except Exception:  # noqa: BLE001 - the error is checked above
            pass
        finally:
            cancel()
        running = [i for i, c in enumerate(calls) if c.how is None]
        assert not running, (f"call_all returned at the deadline while {_calls(running)} had not stopped yet: "
                             "wait for every goroutine before returning, also when the deadline passed")
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
        # two calls fail: call 1 at once; call 0 (which ignores its ctx) only once call 1's failure has been
        # handled (its goroutine ended), then with another error: the first error is call 1's
        first, later = LookupError("pricing: 503"), KeyError("stock: unknown sku")
        caller = threading.current_thread()
        failed: list[threading.Thread] = []
        failed_now = threading.Event()

        def fails_first(ctx: Any) -> Any:
            failed.append(threading.current_thread())
            failed_now.set()
            raise first

        def fails_later(ctx: Any) -> Any:
            if failed_now.wait(SEQUENCE_TIMEOUT):
                if failed[0] is not threading.current_thread() and failed[0] is not caller:
                    failed[0].join(SEQUENCE_TIMEOUT)
                elif ctx is not None and ctx.done() is not None:  # call 1 ran on call_all's own thread
                    try:
                        ctx.done().recv(timeout=SEQUENCE_TIMEOUT)  # handled: call_all cancelled the siblings
                    except ChanTimeout:
                        pass
            raise later

        try:
            call_all(context.background(), [fails_later, fails_first])
        except NotImplementedError:
            raise
        except Exception as e:  # noqa: BLE001 - the learner's error, compared with the first one
            assert e is not later, (f"call_all raised {e!r}, the error of call 0, which failed only after call 1 "
                                    f"had failed with {first!r}: raise the first error to happen, not the first "
                                    "by call index")
            assert e is first, f"call_all raised {e!r} instead of the first error, call 1's {first!r}"
        else:
            raise AssertionError("two calls failed, but call_all did not raise the first error")

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
        ("every call runs concurrently", concurrent,
         "start each call on its own goroutine (errgroup.go), with no limit on how many run at once"),
        ("the caller's deadline reaches every call, and so does its cancel", deadline_reaches_calls,
         "derive the calls' context from ctx itself (errgroup.with_context(ctx)), never from background(), and "
         "raise the error wait() returns as it is"),
        ("every call stops at the deadline (no work wasted after it)", little_wasted_work,
         "pass the derived ctx to every call, and wait for them all before returning"),
        ("the first error is raised and cancels the siblings", first_error_cancels_siblings,
         "errgroup.with_context cancels its ctx at the first error; raise what wait() returns"),
        ("the calls' context is cancelled on return", contexts_released, "errgroup's wait() cancels it"),
        ("no goroutine left running", no_leak, "wait for every goroutine before returning"),
    ])
