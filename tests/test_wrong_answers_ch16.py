"""Exercise 16 (design review: a crash-safe order worker): the workers a learner writes first are rejected,
on the embedded and on a real Redis, with a verdict naming the step after which the order was lost; the
reference and an alternative design are accepted, and pass the flash sale's invariants with workers crashing.

Crashes are injected at the protocol level (after the k-th Redis command or creation step, one run per k),
so a rejection does not depend on thread timing; each wrong worker is still checked on several runs."""

from __future__ import annotations

import pytest

from hcedu.course import check
from hcedu.course.check.ch16 import OrderStoreError
from hcedu.lab import flashsale_system as fs
from tests.helpers import assert_accepted, assert_rejected
from tests.solution_code import solution_namespace


_SOLUTION = solution_namespace("16_design_review.ipynb")
work_one, recover = _SOLUTION["work_one"], _SOLUTION["recover"]


def no_recover(r, queue, processing):
    return 0


# -- wrong -----------------------------------------------------------------------------------------------------

def blpop(r, queue, processing, create_order, timeout):
    """The source's worker: the popped order lives only in this process."""
    got = r.blpop([queue], timeout=timeout)
    if got is None:
        return False
    create_order(got[1])
    return True


def ack_first(r, queue, processing, create_order, timeout):
    """Removes the order from the processing list before creating it ("so a retry can't duplicate it")."""
    raw = r.blmove(queue, processing, timeout, "LEFT", "RIGHT")
    if raw is None:
        return False
    r.lrem(processing, 1, raw)
    create_order(raw)
    return True


def pop_then_record(r, queue, processing, create_order, timeout):
    """Takes and records in two commands: LPOP, then RPUSH to the processing list."""
    raw = r.lpop(queue)
    if raw is None:
        return False
    r.rpush(processing, raw)
    create_order(raw)
    r.lrem(processing, 1, raw)
    return True


def swallows_errors(r, queue, processing, create_order, timeout):
    """Catches the creation error "so one bad order does not stop the worker" -- and acknowledges it."""
    raw = r.blmove(queue, processing, timeout, "LEFT", "RIGHT")
    if raw is None:
        return False
    try:
        create_order(raw)
    except Exception:
        pass
    r.lrem(processing, 1, raw)
    return True


def recover_delete_then_push(r, queue, processing):
    """Reads the processing list, deletes it, then pushes its orders back: a crash in between loses them."""
    held = r.lrange(processing, 0, -1)
    if held:
        r.delete(processing)
        r.lpush(queue, *reversed(held))
    return len(held)


def forgets_true(r, queue, processing, create_order, timeout):
    """Returns None after handling an order (drops the reference's True)."""
    if not work_one(r, queue, processing, create_order, timeout):
        return False


def passes_the_pair(r, queue, processing, create_order, timeout):
    """Hands create_order BLPOP's (key, value) pair instead of the order."""
    got = r.blpop([queue], timeout=timeout)
    if got is None:
        return False
    r.rpush(processing, got[1])
    create_order(got)
    r.lrem(processing, 1, got[1])
    return True


def waits_forever(r, queue, processing, create_order, timeout):
    """Blocks with timeout 0 ("wait for the next order"), which in Redis means forever."""
    raw = r.blmove(queue, processing, 0, "LEFT", "RIGHT")
    create_order(raw)
    r.lrem(processing, 1, raw)
    return True


def polls(r, queue, processing, create_order, timeout):
    """Moves atomically but with the non-blocking LMOVE: on an empty queue it answers at once, and a worker
    loop around it hammers Redis."""
    raw = r.lmove(queue, processing, "LEFT", "RIGHT")
    if raw is None:
        return False
    create_order(raw)
    r.lrem(processing, 1, raw)
    return True


def polls_until_timeout(r, queue, processing, create_order, timeout):
    """Polls LMOVE with a short sleep until `timeout` has passed: it waits, but a round trip per try."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        raw = r.lmove(queue, processing, "LEFT", "RIGHT")
        if raw is not None:
            break
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.001)
    create_order(raw)
    r.lrem(processing, 1, raw)
    return True


WRONG = {
    "BLPOP": ((blpop, recover), ("lost", "BLPOP")),
    "acknowledge before creating": ((ack_first, recover), ("lost", "LREM")),
    "take and record in two commands": ((pop_then_record, recover), ("lost", "LPOP")),
    "forgets to recover": ((work_one, no_recover), ("lost",)),
    "recover deletes before pushing back": ((work_one, recover_delete_then_push), ("recover()", "DEL")),
    "swallows the creation error": ((swallows_errors, recover), ("raised OrderStoreError",)),
    "forgets to return True": ((forgets_true, recover), ("return True",)),
    "passes BLPOP's pair": ((passes_the_pair, recover), ("(key, value)",)),
    "polls with LMOVE": ((polls, recover), ("sent LMOVE and no blocking command",)),
    "polls LMOVE until the timeout": ((polls_until_timeout, recover), ("and no blocking command",)),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_wrong_workers_are_rejected_every_run_on_both_backends(name, redis_backend):
    (work, rec), mentions = WRONG[name]
    client = redis_backend.client()

    def run():
        return check.order_worker(work, rec, client=client)

    assert_rejected(run(), *mentions, runs=5 if redis_backend.kind == "fake" else 2, check=run)


def test_a_worker_that_blocks_forever_is_rejected_not_hung(redis_backend):
    v = check.order_worker(waits_forever, recover, client=redis_backend.client())
    assert_rejected(v, "timeout")


def test_the_systems_own_blpop_worker_is_the_one_rejected():
    v = check.order_worker(fs.BLPOP_WORKER.work_one, fs.BLPOP_WORKER.recover)
    assert_rejected(v, "killed after step 1 (BLPOP)")


def test_reference_is_accepted_on_both_backends(redis_backend):
    assert_accepted(check.order_worker(work_one, recover, client=redis_backend.client()))


def finish_held_first(r, queue, processing, create_order, timeout):
    """Alternative: no separate recovery -- each call first finishes what the processing list still holds."""
    raw = r.lindex(processing, 0)
    if raw is None:
        raw = r.blmove(queue, processing, timeout, "LEFT", "RIGHT")
        if raw is None:
            return False
    create_order(raw)
    r.lrem(processing, 1, raw)
    return True


def test_alternative_worker_is_accepted_on_both_backends(redis_backend):
    assert_accepted(check.order_worker(finish_held_first, no_recover, client=redis_backend.client()))


def test_reference_worker_keeps_the_flash_sales_invariants_with_workers_crashing(redis_backend):
    """The system-level view: with workers killed mid-sale and restarted, the reference keeps every invariant
    (whether a BLPOP worker loses an order there depends on where the seeded crash lands, so its rejection
    is checked above, deterministically)."""
    kw = dict(users=150, stock=30, requests=300, seed=16, faults=("worker_crash",), client=redis_backend.client())
    good = fs.run(order_worker=fs.OrderWorker(work_one, recover, "BLMOVE"), **kw)
    assert good.crashes > 0 and fs.invariants(good)["holds"].all(), fs.invariants(good)


def test_order_store_error_is_an_exception_a_learner_can_catch():
    """A learner's `except Exception` can swallow the injected store error (a mistake the checker catches),
    but never the simulated kill -9."""
    assert issubclass(OrderStoreError, Exception) and not issubclass(fs.WorkerCrash, Exception)
