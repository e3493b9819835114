"""Exercise 04 (a timed-out fetch must not leak its goroutine): typical wrong solutions are rejected,
naming the mistake; each leaked goroutine is released afterwards so it cannot disturb later tests."""

from __future__ import annotations

import pytest

from hcedu.course import check
from hcedu.go import running
from hcedu.go.lifecycle import verify_none
from helpers import assert_accepted, assert_rejected, wait_until
from learner import load, plant, solution_code

pytestmark = pytest.mark.waits  # rejecting a hanging answer waits out its timeout: see the root conftest.py

REF = solution_code("04_goroutine_lifecycle")
CHAN = "    ch = Chan(1)  # room for the late answer: the sender never blocks, so it always exits\n"
RUN = """    def run():
        try:
            ch.send((fetch(), None))
        except Exception as exc:  # deliver the error instead of losing it
            ch.send((None, exc))
"""
TIMEOUT = """    except ChanTimeout:
        raise TimeoutError(f"fetch took longer than {timeout} s") from None
"""

UNBUFFERED = "    ch = Chan()\n    CHANS.append(ch)  # (the test's bookkeeping, to unblock the leak afterwards)\n"

WRONG = {
    # the chapter's leak: an unbuffered channel nobody receives from after the timeout
    "unbuffered": ([(CHAN, UNBUFFERED)], ("no goroutine left", "leak")),
    # Go's classic: select on the result or a timer, still with an unbuffered result channel
    "select_unbuffered": ([(CHAN, UNBUFFERED), ("""    try:
        value, err = ch.recv(timeout=timeout)
    except ChanTimeout:
        raise TimeoutError(f"fetch took longer than {timeout} s") from None
""", """    i, msg, _ok = select(Recv(ch), Recv(after(timeout)))
    if i == 1:
        raise TimeoutError(f"fetch took longer than {timeout} s")
    value, err = msg
"""), ("from hcedu.go import Chan, ChanTimeout, go", "from hcedu.go import Chan, ChanTimeout, go, select, Recv\n"
       "from hcedu.go.chan import after")], ("no goroutine left", "leak")),
    # the fetch's error dies in the goroutine: the caller waits out the timeout instead
    "error_lost": ([(RUN, """    def run():
        ch.send((fetch(), None))
""")], ("exception", "waited for the timeout")),
    # swallowing the timeout: returns None as if the fetch had answered
    "timeout_returns_none": ([(TIMEOUT, """    except ChanTimeout:
        return None
""")], ("TimeoutError",)),
    # no goroutine at all: the caller runs the fetch itself and can never time out
    "runs_inline": ([("    go(run)\n", "    run()\n")], ("goroutine",)),
    # a plain thread: it works, but the runtime (and the leak detector) cannot see it
    "plain_thread": ([("    go(run)\n", "    import threading\n    threading.Thread(target=run, daemon=True).start()\n")],
                     ("goroutine",)),
    # returns the (value, error) pair as it came through the channel
    "returns_the_pair": ([("""    if err is not None:
        raise err
    return value
""", """    return value, err
""")], ("expected 'fresh'",)),
    # off-by-one in the validation: a zero timeout is a valid (already expired) budget, not an error
    "rejects_zero_timeout": ([("    if timeout < 0:", "    if timeout <= 0:")], ("timeout of 0",)),
}

# a different correct design (the notebook's "going further"): a context tells the fetcher to give up
ALTERNATIVE = '''
from hcedu.go import Chan, Recv, Send, go, select
from hcedu.go import context


def fetch_with_timeout(fetch, timeout):
    if timeout < 0:
        raise ValueError(f"timeout must be >= 0 (got {timeout})")
    ctx, cancel = context.with_timeout(context.background(), timeout)
    ch = Chan()

    def run():
        try:
            result = (fetch(), None)
        except Exception as exc:
            result = (None, exc)
        select(Send(ch, result), Recv(ctx.done()))   # nobody listening any more? give up

    go(run)
    try:
        i, msg, _ok = select(Recv(ch), Recv(ctx.done()))
    finally:
        cancel()
    if i == 1:
        raise TimeoutError(f"fetch took longer than {timeout} s")
    value, err = msg
    if err is not None:
        raise err
    return value
'''


def _checker(src: str, name: str, chans: list | None = None):
    ns = load(src, name, CHANS=chans if chans is not None else [])
    return lambda: check.goroutine_leak(ns["fetch_with_timeout"])


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_solution_is_rejected(name):
    edits, mentions = WRONG[name]
    chans: list = []
    run = _checker(plant(REF, *edits), name, chans)
    try:
        assert_rejected(run(), *mentions, runs=5 if chans else 1, check=run)
    finally:
        def unblock() -> bool:  # receive what the leaked senders are stuck sending
            for ch in chans:
                ch.try_recv()
            return not running()
        wait_until(unblock, timeout=20)
        verify_none(timeout=5)


@pytest.mark.parametrize("src", [REF, ALTERNATIVE], ids=["model", "context_cancel"])
def test_correct_solutions_are_accepted(src):
    assert_accepted(_checker(src, "correct")())
