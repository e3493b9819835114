"""Helpers shared by the threaded tests: bounded joins and polls, so a hang fails instead of stalling."""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

T = 5.0  # generous bound on every blocking call: a hang fails instead of stalling the suite
STRESS = max(1, int(os.environ.get("HCEDU_STRESS", "1")))  # scale stress tests up with HCEDU_STRESS=N


def spawn(fn: Callable[..., Any], *args: Any) -> threading.Thread:
    """Start ``fn(*args)`` on a daemon thread."""
    t = threading.Thread(target=fn, args=args, daemon=True, name="hcedu-test")
    t.start()
    return t


def join(*threads: threading.Thread, timeout: float = T) -> None:
    """Join every thread, failing if one is still blocked after ``timeout``."""
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "thread still blocked (deadlock?)"


def wait_until(pred: Callable[[], Any], timeout: float = T, step: float = 0.001) -> bool:
    """Poll ``pred`` until it is true (returns True) or fail with AssertionError after ``timeout``."""
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"condition not reached within {timeout} s")
        time.sleep(step)
    return True


def run_workers(worker: Callable[[int], Any], n: int, timeout: float = 120.0) -> None:
    """Run ``worker(i)`` for i in range(n) on threads; fail if one hangs, re-raise the first error."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            worker(i)
        except BaseException as exc:  # reported in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True, name=f"hcedu-test-worker-{i}") for i in range(n)]
    for t in threads:
        t.start()
    join(*threads, timeout=timeout)
    if errors:
        raise errors[0]
