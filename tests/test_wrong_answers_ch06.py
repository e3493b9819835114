"""Wrong answers to exercise 06 (deadline propagation in a fan-out), written as a learner would.

The checker reads what each fake downstream call saw (its ctx, whether it stopped because the ctx ended
or worked to the end, whether all calls were in flight together), never a duration, so each verdict is
the same on a busy machine. Wrong answers whose outcome depends on thread timing are run 5 times.
"""

from __future__ import annotations

import pytest

from hcedu.course import check
from hcedu.go import context, errgroup, go

from helpers import assert_accepted, assert_rejected, solution_function

pytestmark = pytest.mark.waits  # rejecting a hanging answer waits out its timeout: see the root conftest.py


reference = solution_function("06_context_timeouts", "call_all")


def by_hand(ctx, calls):
    """Alternative: WithCancel + goroutines + first-error bookkeeping, no errgroup."""
    cctx, cancel = context.with_cancel(ctx)
    results, errors = [None] * len(calls), []

    def run(i, call):
        try:
            results[i] = call(cctx)
        except Exception as e:  # noqa: BLE001 - the first one is re-raised below
            errors.append(e)
            cancel()

    try:
        gs = [go(run, i, c) for i, c in enumerate(calls)]
        for g in gs:
            g.join(30)
    finally:
        cancel()
    if errors:
        raise errors[0]
    return results


def background_ctx(ctx, calls):
    # the source's bug: the downstreams get a fresh root context
    return reference(context.background(), calls)


def sequential(ctx, calls):
    # passes ctx down, but one call after another
    return [call(ctx) for call in calls]


def no_sibling_cancel(ctx, calls):
    # every call gets ctx, but an error does not cancel the others: waits for all, then raises
    results, errors = [None] * len(calls), []

    def run(i, call):
        try:
            results[i] = call(ctx)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    gs = [go(run, i, c) for i, c in enumerate(calls)]
    for g in gs:
        g.join(30)
    if errors:
        raise errors[0]
    return results


def _errgroup_fanout(ctx, calls, wrap=lambda call, gctx: call(gctx)):
    g, gctx = errgroup.with_context(ctx)
    results = [None] * len(calls)

    def run(i, call):
        results[i] = wrap(call, gctx)

    for i, call in enumerate(calls):
        g.go(run, i, call)
    return g, results


def forgets_to_wait(ctx, calls):
    # starts the goroutines and returns at once
    return _errgroup_fanout(ctx, calls)[1]


def swallows_error(ctx, calls):
    # g.wait() *returns* the error; ignoring it hides the failure and the deadline
    g, results = _errgroup_fanout(ctx, calls)
    g.wait(timeout=30)
    return results


def never_cancels(ctx, calls):
    # derives a cancellable child for the calls and forgets cancel(): the child outlives the request
    cctx, cancel = context.with_cancel(ctx)
    results = [None] * len(calls)

    def run(i, call):
        results[i] = call(cctx)

    gs = [go(run, i, c) for i, c in enumerate(calls)]
    for g in gs:
        g.join(30)
    for g in gs:
        g.result  # re-raise a call's error
    return results


def fresh_timeout(ctx, calls):
    # "each downstream gets its own 1 s timeout": from background(), so the caller's deadline is lost
    def run_one(call, gctx):
        c, cancel = context.with_timeout(context.background(), 1.0)
        try:
            return call(c)
        finally:
            cancel()
    g, results = _errgroup_fanout(ctx, calls, run_one)
    err = g.wait(timeout=30)
    if err is not None:
        raise err
    return results


def limited(ctx, calls):
    # "at most 8 at once": errgroup.set_limit caps the fan-out, so the 9th call waits for a free slot
    g, gctx = errgroup.with_context(ctx)
    g.set_limit(8)
    results = [None] * len(calls)

    def run(i, call):
        results[i] = call(gctx)

    for i, call in enumerate(calls):
        g.go(run, i, call)
    err = g.wait(timeout=30)
    if err is not None:
        raise err
    return results


def copied_deadline(ctx, calls):
    # a fresh root context with ctx's deadline copied: the deadline arrives, the caller's cancel() never does
    dl = ctx.deadline()
    if dl is not None:
        base, cancel = context.with_deadline(context.background(), dl)
    else:
        base, cancel = context.with_cancel(context.background())
    try:
        g, gctx = errgroup.with_context(base)
        results = [None] * len(calls)

        def run(i, call):
            results[i] = call(gctx)

        for i, call in enumerate(calls):
            g.go(run, i, call)
        err = g.wait(timeout=30)
        if err is not None:
            raise err
        return results
    finally:
        cancel()


def _errors_by_index(ctx, calls):
    cctx, cancel = context.with_cancel(ctx)
    results, errs = [None] * len(calls), [None] * len(calls)

    def run(i, call):
        try:
            results[i] = call(cctx)
        except Exception as e:  # noqa: BLE001
            errs[i] = e
            cancel()

    try:
        gs = [go(run, i, c) for i, c in enumerate(calls)]
        for g in gs:
            g.join(30)
    finally:
        cancel()
    return results, errs


def first_by_index(ctx, calls):
    # keeps each call's error at its index and raises the lowest index's real one (a caller's cancel: swallowed)
    results, errs = _errors_by_index(ctx, calls)
    real = [e for e in errs if e is not None and not isinstance(e, context.CanceledError)]
    if real:
        raise real[0]
    return results


def first_by_index_then_canceled(ctx, calls):
    # the same, but it raises Canceled when that is all there is: only the first-error order is wrong
    results, errs = _errors_by_index(ctx, calls)
    real = [e for e in errs if e is not None and not isinstance(e, context.CanceledError)]
    cancelled = [e for e in errs if e is not None]
    if real or cancelled:
        raise (real or cancelled)[0]
    return results


def wraps_the_error(ctx, calls):
    # "add some context to the error": the caller can no longer tell a deadline from a failure
    try:
        return reference(ctx, calls)
    except Exception as e:  # noqa: BLE001
        raise RuntimeError(f"fan-out failed: {e}") from e


def test_reference_and_by_hand_alternative_pass():
    assert_accepted(check.deadline_propagation(reference))
    assert_accepted(check.deadline_propagation(by_hand))


WRONG = {
    "context.background()": (background_ctx, ["deadline reaches every call"], 1),
    "sequential": (sequential, ["one after another"], 1),
    "errors do not cancel siblings": (no_sibling_cancel, ["first error"], 5),
    "forgets to wait": (forgets_to_wait, ["expected [0, 1, 2]", "did not raise"], 5),
    "swallows the error": (swallows_error, ["did not raise"], 1),
    "never calls cancel": (never_cancels, ["still live", "cancel"], 5),
    "fresh timeout per call": (fresh_timeout, ["deadline"], 1),
    "a concurrency limit": (limited, ["at most 8 of the 20 calls", "runs every call concurrently"], 1),
    "ctx's deadline copied onto background()": (copied_deadline, ["caller cancelled ctx", "never saw it"], 1),
    "first error by index": (first_by_index, ["instead of raising the CanceledError"], 1),
    "first error by index, Canceled raised": (first_by_index_then_canceled, ["not the first by call index"], 1),
    "wraps the error": (wraps_the_error, ["instead of the DeadlineExceededError itself"], 1),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_wrong_answer_is_rejected_with_a_hint(name):
    fn, mentions, runs = WRONG[name]
    assert_rejected(check.deadline_propagation(fn), *mentions, runs=runs,
                    check=lambda: check.deadline_propagation(fn))
