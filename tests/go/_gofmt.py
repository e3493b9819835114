"""What the Python twins of the Go programs share: Go's %v for the values they print, recover, and a
deterministic wait for goroutines parked on a channel (Go's twin scans runtime.Stack instead).

Not a test module: the twins run as scripts (``python tests/go/NAME.py``), with this directory on sys.path
and the repository root on PYTHONPATH (as test_go_differential runs them), so the waits are tests/helpers.py's.
"""

from __future__ import annotations

from hcedu.go import Panic
from tests.helpers import wait_until as _wait_until

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
    """The tests' ``helpers.wait_until`` (1 ms polls) with the twins' bound, naming ``what`` on failure."""
    _wait_until(pred, timeout=_BOUND, message=lambda: f"timed out waiting for {what}")


def wait_parked(ch, n: int, queue: str = "recvq") -> None:
    """Wait until ``n`` goroutines are parked on ``ch``'s ``recvq`` (or ``sendq``)."""
    wait_until(lambda: len(getattr(ch.snapshot(), queue)) >= n, f"{n} goroutines parked on {queue}")
