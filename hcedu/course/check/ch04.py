"""Checker for exercise 04: a timed-out fetch must not leak its goroutine (uses the leak detector)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from . import Verdict, run_checks

__all__ = ["goroutine_leak"]


def goroutine_leak(fetch_with_timeout: Callable[[Callable[[], Any], float], Any]) -> Verdict:
    """Check ``fetch_with_timeout(fetch, timeout)``: the value when fast, ``TimeoutError`` when slow, the
    fetch's own exception re-raised, ``ValueError`` for a negative timeout, and no goroutine left
    behind after a timeout (checked with :func:`hcedu.go.lifecycle.detect_leaks`)."""
    from ...go.goroutine import current
    from ...go.lifecycle import detect_leaks

    def fast() -> None:
        got = fetch_with_timeout(lambda: "fresh", 2.0)
        assert got == "fresh", f"expected 'fresh', got {got!r}"

    def in_a_goroutine() -> None:
        seen = []
        fetch_with_timeout(lambda: seen.append(current()) or 1, 2.0)
        assert seen and seen[0] is not None, "fetch did not run on a goroutine started with hcedu.go.go"

    def slow_times_out() -> None:
        release = threading.Event()
        t = time.monotonic()
        try:
            fetch_with_timeout(lambda: release.wait(5) and "late", 0.05)
        except TimeoutError:
            pass
        else:
            raise AssertionError("a fetch slower than the timeout must raise TimeoutError")
        finally:
            release.set()
        assert time.monotonic() - t < 2.0, "the call did not return at its timeout"

    def no_leak_after_timeout() -> None:
        release = threading.Event()
        with detect_leaks(timeout=1.0) as report:
            try:
                fetch_with_timeout(lambda: release.wait(5) and "late", 0.02)
            except TimeoutError:
                pass
            release.set()  # the fetch now finishes: its goroutine must be able to exit
        assert report.ok, report.message().splitlines()[0] + " (the late send blocks forever)"

    def many_timeouts_no_leak() -> None:
        releases = []
        with detect_leaks(timeout=1.5) as report:
            for _ in range(10):
                ev = threading.Event()
                releases.append(ev)
                try:
                    fetch_with_timeout(lambda ev=ev: ev.wait(5) and 1, 0.005)
                except TimeoutError:
                    pass
            for ev in releases:
                ev.set()
        assert report.ok, f"{len(report.leaks)} of 10 timed-out calls left a goroutine behind"

    def error_is_raised() -> None:
        def broken() -> Any:
            raise LookupError("cache backend down")
        try:
            fetch_with_timeout(broken, 2.0)
        except LookupError:
            return
        except TimeoutError:
            raise AssertionError("the fetch failed at once, but the caller waited for the timeout") from None
        raise AssertionError("the fetch's exception was lost instead of re-raised to the caller")

    def bad_timeout() -> None:
        release = threading.Event()
        try:
            fetch_with_timeout(lambda: release.wait(5) and "late", 0)
        except TimeoutError:
            pass
        except ValueError:
            raise AssertionError("a timeout of 0 is a valid budget that has already run out: raise "
                                 "TimeoutError, not ValueError") from None
        else:
            raise AssertionError("fetch_with_timeout(slow, 0) returned instead of raising TimeoutError")
        finally:
            release.set()
        try:
            fetch_with_timeout(lambda: 1, -1)
        except ValueError:
            return
        raise AssertionError("fetch_with_timeout(fetch, -1) should raise ValueError")

    return run_checks("a timed-out fetch leaks no goroutine", [
        ("returns the value of a fast fetch", fast, "start fetch with go(), then receive its result"),
        ("fetch runs on a goroutine (hcedu.go.go)", in_a_goroutine, "use hcedu.go.go(...) so the detector can see it"),
        ("a slow fetch raises TimeoutError at the timeout", slow_times_out, "ch.recv(timeout=...) raises ChanTimeout"),
        ("no goroutine left after a timeout", no_leak_after_timeout,
         "nobody receives the late result: give the channel room for it (Chan(1))"),
        ("ten timeouts, zero leaks", many_timeouts_no_leak, "each call needs its own buffered channel"),
        ("the fetch's exception reaches the caller", error_is_raised, "send (value, exception) through the channel"),
        ("a timeout of 0 times out; a negative timeout is a ValueError", bad_timeout,
         "validate the timeout first: only timeout < 0 is invalid"),
    ])
