"""What the Python twins of the Go programs share: Go's %v for the values they print, recover, and a
deterministic wait for goroutines parked on a channel (Go's twin scans runtime.Stack instead).

Not a test module: the twins run as scripts (``python tests/go/NAME.py``), with this directory on sys.path.
"""

from __future__ import annotations

import time

from hcedu.go import Panic

_BOUND = 10.0  # seconds: a wait that never succeeds fails the twin instead of hanging the suite


def v(x) -> str:
    """Go's ``%v`` for the values the twins print: bools, nil, slices, errors, ints, strings."""
    if x is True:
        return "true"
    if x is False:
        return "false"
    if x is None:
        return "<nil>"
    if isinstance(x, (list, tuple)):
        return "[" + " ".join(v(i) for i in x) + "]"
    return str(x)


def println(*args) -> None:
    """Go's ``fmt.Println``."""
    print(" ".join(v(a) for a in args), flush=True)


def protect(fn, *args) -> str:
    """Run ``fn``; return the panic message if it panicked (Go: ``recover()`` in a defer), else ``"no panic"``."""
    try:
        fn(*args)
    except Panic as e:
        return str(e)
    return "no panic"


def wait_until(pred, what: str = "condition") -> None:
    """Poll ``pred`` (1 ms steps) until true; fail after a generous bound."""
    end = time.monotonic() + _BOUND
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


def wait_parked(ch, n: int, queue: str = "recvq") -> None:
    """Wait until ``n`` goroutines are parked on ``ch``'s ``recvq`` (or ``sendq``)."""
    wait_until(lambda: len(getattr(ch.snapshot(), queue)) >= n, f"{n} goroutines parked on {queue}")
