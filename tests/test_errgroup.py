"""hcedu.go.errgroup against x/sync/errgroup's own tests (and specs §5)."""

from __future__ import annotations

import threading

import pytest

from hcedu.go import Chan, Panic, context, errgroup
from hcedu.go.errgroup import Group, with_context
from hcedu.go.goroutine import silence_panics

from helpers import T, join, parked_senders, spawn, wait_until


def _fail(err):
    def f():
        if err is not None:
            raise err
    return f


@pytest.mark.parametrize("errs", [[], [None], ["e1"], ["e1", None], ["e1", None, "e2"]])
def test_zero_group(errs):
    named = {"e1": RuntimeError("errgroup_test: 1"), "e2": RuntimeError("errgroup_test: 2")}
    g = Group()
    first = None
    for e in errs:
        err = named.get(e)
        g.go(_fail(err))
        if first is None and err is not None:
            first = err
        assert g.wait(timeout=5) is first


@pytest.mark.parametrize("errs, want", [([], None), ([None], None), (["doom"], "doom"), (["doom", None], "doom")])
def test_with_context(errs, want):
    doom = RuntimeError("group_test: doomed")
    g, ctx = with_context(context.background())
    for e in errs:
        g.go(_fail(doom if e else None))
    assert g.wait(timeout=5) is (doom if want else None)
    assert ctx.done().try_recv()[2], "ctx.done() was not closed"


def test_try_go():
    g = Group()
    n = 42
    g.set_limit(42)
    ch = Chan(0)

    def fn():
        ch.send(None, timeout=5)

    for i in range(n):
        assert g.try_go(fn), f"TryGo should succeed at call {i}"
    assert not g.try_go(fn), "TryGo is expected to fail"

    def drain(k):
        for _ in range(k):
            ch.recv(timeout=5)

    threading.Thread(target=drain, args=(n,)).start()
    assert g.wait(timeout=5) is None
    assert g.try_go(fn), "TryGo should succeed after all goroutines"
    threading.Thread(target=drain, args=(1,)).start()
    g.wait(timeout=5)
    # switch limit
    g.set_limit(1)
    assert g.try_go(fn)
    assert not g.try_go(fn)
    threading.Thread(target=drain, args=(1,)).start()
    g.wait(timeout=5)
    # block all calls
    g.set_limit(0)
    for _ in range(1 << 10):
        assert not g.try_go(fn)
    g.wait(timeout=5)


def test_go_limit():
    """Go's TestGoLimit, on state instead of Go's 1 µs sleep: the first ``limit`` functions keep their
    slots until ``limit`` run at once and the next Go is parked on the group's semaphore; TryGo then
    refuses. Every function checks it never sees more than ``limit`` active."""
    limit = 10
    g = Group()
    g.set_limit(limit)
    active = 0
    peak = 0
    lock = threading.Lock()
    full = threading.Event()

    def f():
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
            n = active
        try:
            if n > limit:
                raise RuntimeError(f"saw {n} active goroutines; want <= {limit}")
            if not full.wait(T):
                raise RuntimeError("the limit was never reached")
        finally:
            with lock:
                active -= 1

    feeder = spawn(lambda: [g.go(f) for _ in range(200)])
    wait_until(lambda: peak == limit and parked_senders(g._sem) == 1,
               message=lambda: f"peak {peak}, {parked_senders(g._sem)} Go parked")
    assert active == limit and g.try_go(f) is False  # full: the 11th waits, TryGo refuses
    full.set()
    join(feeder, timeout=20)
    assert g.wait(timeout=20) is None
    assert peak == limit


@pytest.mark.parametrize("errs, want", [([], None), ([None], None), (["doom"], "doom"), (["doom", None], "doom")])
def test_cancel_cause(errs, want):
    doom = RuntimeError("group_test: doomed")
    g, ctx = with_context(context.background())
    for e in errs:
        g.try_go(_fail(doom if e else None))
    assert g.wait(timeout=5) is (doom if want else None)
    assert context.cause(ctx) is (doom if want else context.Canceled)


def test_first_error_cancels_siblings_before_wait():
    g, ctx = with_context(context.background())
    boom = ValueError("boom")
    stopped = []

    def sibling():
        _, ok = ctx.done().recv_ok(timeout=5)
        stopped.append(ok)
        raise ctx.err()

    g.go(sibling)
    g.go(sibling)
    g.go(_fail(boom))
    assert g.wait(timeout=5) is boom  # only the first error is kept
    assert stopped == [False, False]
    assert ctx.err() is context.Canceled and context.cause(ctx) is boom


def test_go_blocks_at_limit():
    g = Group()
    g.set_limit(1)
    release = threading.Event()
    g.go(release.wait, 5)
    started = threading.Event()

    def second_go():
        g.go(lambda: None)
        started.set()

    t = threading.Thread(target=second_go)
    t.start()
    wait_until(lambda: parked_senders(g._sem) == 1)  # blocked: parked on the taken slot
    assert not started.is_set()
    release.set()
    assert started.wait(5)
    t.join(5)
    assert g.wait(timeout=5) is None


def test_set_limit_while_active_panics():
    g = Group()
    g.set_limit(2)
    release = threading.Event()
    g.go(release.wait, 5)
    with pytest.raises(Panic) as ei:
        g.set_limit(3)
    assert str(ei.value) == "errgroup: modify limit while 1 goroutines in the group are still active"
    release.set()
    g.wait(timeout=5)
    g.set_limit(3)  # fine once idle
    g.set_limit(-1)  # unlimited
    assert g._sem is None


def test_panics_are_not_propagated_to_wait():
    g, ctx = with_context(context.background())
    with silence_panics():
        g.go(lambda: (_ for _ in ()).throw(Panic("boom")))
        assert g.wait(timeout=5) is None
    assert context.cause(ctx) is context.Canceled


def test_wait_timeout():
    g = Group()
    release = threading.Event()
    g.go(release.wait, 5)
    with pytest.raises(TimeoutError):
        g.wait(timeout=0.01)
    release.set()
    assert g.wait(timeout=5) is None


def test_bad_input():
    g = Group()
    with pytest.raises(TypeError, match="fn must be callable"):
        g.go(None)
    with pytest.raises(TypeError, match="fn must be callable"):
        g.try_go("x")
    with pytest.raises(TypeError, match="n must be an int"):
        g.set_limit(1.5)
    with pytest.raises(Panic, match="nil parent"):
        with_context(None)


def test_module_surface():
    assert errgroup.Group is Group and errgroup.with_context is with_context


def test_limit_zero_go_blocks_forever():
    g = Group()
    g.set_limit(0)
    returned = threading.Event()
    t = threading.Thread(target=lambda: (g.go(lambda: None), returned.set()), daemon=True)
    t.start()
    wait_until(lambda: parked_senders(g._sem) == 1)  # Go blocks: parked, no slot will ever free up
    assert not returned.is_set()
    g._sem.recv(timeout=5)  # test-only rescue: take the token the blocked go() is offering,
    assert returned.wait(5)
    g._sem.send(None, timeout=5)  # and give the finished goroutine the token it returns
    assert g.wait(timeout=5) is None
