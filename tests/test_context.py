"""hcedu.go.context against Go's own context tests (x_test.go) and every rule of specs §4.

Go's timing tests use shortDuration/veryLongDuration on the real clock; here deadlines run on a
VirtualClock (deterministic), plus one short real-clock check.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from hcedu.clock import VirtualClock
from hcedu.go import Chan, Panic, context, running
from hcedu.go.context import (Canceled, CanceledError, Context, DeadlineExceeded, DeadlineExceededError,
                              after_func, background, cause, todo, with_cancel, with_cancel_cause,
                              with_deadline, with_deadline_cause, with_timeout, with_timeout_cause,
                              with_value, without_cancel)

from helpers import wait_until

FOREVER = 1e6


def is_done(c) -> bool:
    d = c.done()
    if d is None:
        return False
    return d.try_recv()[2]


def wait_done(c, timeout=5.0) -> None:
    _, ok = c.done().recv_ok(timeout=timeout)
    assert ok is False


class OtherContext(Context):
    """Go's otherContext: a Context that is not one of the package's types (delegates everything)."""

    def __init__(self, inner):
        self.inner = inner

    def deadline(self):
        return self.inner.deadline()

    def done(self):
        return self.inner.done()

    def err(self):
        return self.inner.err()

    def value(self, key):
        return self.inner.value(key)


# --- Background / TODO (rule 1) ----------------------------------------------------------------

def test_background():
    c = background()
    assert c is not None and c.done() is None and c.err() is None
    assert c.deadline() is None and c.value("x") is None
    assert str(c) == "context.Background"


def test_todo():
    c = todo()
    assert c.done() is None and c.err() is None
    assert str(c) == "context.TODO"


# --- WithCancel (rule 2) -------------------------------------------------------------------------

def test_with_cancel():
    c1, cancel = with_cancel(background())
    assert str(c1) == "context.Background.WithCancel"
    o = OtherContext(c1)
    c2, _ = with_cancel(o)
    contexts = [c1, o, c2]
    for i, c in enumerate(contexts):
        assert isinstance(c.done(), Chan), i
        assert c.err() is None, i
        assert not is_done(c), i
    cancel()  # should propagate synchronously
    for i, c in enumerate(contexts):
        assert is_done(c), i
        assert c.err() is Canceled, i


def test_done_is_lazy_and_stable():
    c, cancel = with_cancel(background())
    assert c._done is None  # created lazily
    d = c.done()
    assert c.done() is d
    cancel()
    assert c.done() is d and d.closed
    c2, cancel2 = with_cancel(background())
    cancel2()
    assert c2.done().closed  # cancelled before done() was called: the shared closed channel


def test_cancel_is_idempotent_and_thread_safe():
    c, cancel = with_cancel(background())
    ts = [threading.Thread(target=cancel) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(5)
    cancel()
    assert c.err() is Canceled


def test_parent_finishes_child():
    parent, cancel = with_cancel(background())
    cancel_child, stop_child = with_cancel(parent)
    timer_child, stop_timer = with_timeout(parent, FOREVER, clock=VirtualClock())
    value_child = with_value(parent, "key", "value")
    timer_child2, stop_timer2 = with_timeout(value_child, FOREVER, clock=VirtualClock())
    after_calls = []
    after_stop = after_func(parent, lambda: after_calls.append(1))
    kids = [cancel_child, timer_child, value_child, timer_child2]
    for k in kids:
        assert k.err() is None
    assert len(parent._children) == 4  # value_child is not registered; its timer child is
    cancel()
    for k in kids:
        assert is_done(k) and k.err() is Canceled
    assert parent._children == {}
    assert after_stop() is False  # already started
    stop_child(), stop_timer(), stop_timer2()


def test_child_finishes_first():
    for parent_kind in ("cancel", "background"):
        if parent_kind == "cancel":
            parent, cancel_parent = with_cancel(background())
        else:
            parent, cancel_parent = background(), None
        child, cancel_child = with_cancel(parent)
        if cancel_parent:
            assert child in parent._children
        cancel_child()
        assert child.err() is Canceled
        if cancel_parent:
            assert child not in parent._children  # unlinked
            assert parent.err() is None and not is_done(parent)  # never upward
            cancel_parent()
            assert parent.err() is Canceled


def test_child_cancel_never_touches_siblings():
    parent, cancel = with_cancel(background())
    a, cancel_a = with_cancel(parent)
    b, cancel_b = with_cancel(parent)
    cancel_a()
    assert a.err() is Canceled and b.err() is None and parent.err() is None
    cancel()
    assert b.err() is Canceled


# --- WithDeadline / WithTimeout (rule 4) -----------------------------------------------------------

def test_deadline():
    clock = VirtualClock(100)
    c, _ = with_deadline(background(), clock.now() + 0.001, clock=clock)
    assert str(c).startswith("context.Background.WithDeadline(")
    assert c.err() is None and c.deadline() == pytest.approx(100.001)
    clock.advance(0.001)
    assert is_done(c) and c.err() is DeadlineExceeded

    c, _ = with_deadline(background(), clock.now() + 0.001, clock=clock)
    o = OtherContext(c)
    clock.advance(0.001)
    assert is_done(o) and o.err() is DeadlineExceeded

    c, _ = with_deadline(background(), clock.now() + 0.001, clock=clock)
    o = OtherContext(c)
    c2, cancel2 = with_deadline(o, clock.now() + FOREVER)
    assert c2.deadline() == c.deadline()  # never later than the parent's
    clock.advance(0.001)
    wait_done(c2)
    assert c2.err() is DeadlineExceeded
    cancel2()

    c, _ = with_deadline(background(), clock.now() - 0.001, clock=clock)  # in the past
    assert is_done(c) and c.err() is DeadlineExceeded
    c, _ = with_deadline(background(), clock.now(), clock=clock)  # now
    assert is_done(c) and c.err() is DeadlineExceeded


def test_timeout():
    clock = VirtualClock()
    c, _ = with_timeout(background(), 0.001, clock=clock)
    assert str(c).startswith("context.Background.WithDeadline(")
    clock.advance(0.001)
    assert c.err() is DeadlineExceeded

    c, _ = with_timeout(background(), 0.001, clock=clock)
    o = OtherContext(c)
    c2, cancel2 = with_timeout(o, FOREVER, clock=clock)
    clock.advance(0.001)
    wait_done(c2)
    assert c2.err() is DeadlineExceeded
    cancel2()


def test_timeout_real_clock():
    c, cancel = with_timeout(background(), 0.01)
    try:
        wait_done(c, timeout=5)
        assert c.err() is DeadlineExceeded
    finally:
        cancel()


def test_canceled_timeout():
    clock = VirtualClock()
    c, _ = with_timeout(background(), 1, clock=clock)
    o = OtherContext(c)
    c2, cancel = with_timeout(o, FOREVER, clock=clock)
    cancel()  # should propagate synchronously
    assert is_done(c2) and c2.err() is Canceled


def test_child_deadline_never_after_parent():
    clock = VirtualClock()
    parent, pc = with_timeout(background(), 5, clock=clock)
    child, cc = with_timeout(parent, 10)  # clock inherited from the parent
    assert child.deadline() == parent.deadline() == 5
    assert type(child).__name__ == "_CancelCtx"  # just WithCancel(parent)
    earlier, ec = with_timeout(parent, 2)
    assert earlier.deadline() == 2
    clock.advance(2)
    assert earlier.err() is DeadlineExceeded and child.err() is None
    clock.advance(3)
    assert child.err() is DeadlineExceeded and parent.err() is DeadlineExceeded
    pc(), cc(), ec()


def test_cancel_before_deadline_wins_and_stops_timer():
    clock = VirtualClock()
    c, cancel = with_timeout(background(), 1, clock=clock)
    assert clock.pending() == 1
    cancel()
    assert c.err() is Canceled
    assert clock.pending() == 0  # timer stopped
    clock.advance(2)
    assert c.err() is Canceled  # stable


def test_deadline_exceeded_supports_timeout():
    assert DeadlineExceeded.timeout() is True
    assert DeadlineExceeded.temporary() is True
    assert isinstance(DeadlineExceeded, TimeoutError)
    assert isinstance(DeadlineExceeded, DeadlineExceededError)
    assert str(DeadlineExceeded) == "context deadline exceeded"
    assert str(Canceled) == "context canceled" and isinstance(Canceled, CanceledError)


# --- WithValue (rule 6) ----------------------------------------------------------------------------

class Key1(int):
    pass


class Key2(int):
    def __str__(self):
        return f"{type(self).__module__}.Key2({int(self)})"


k1 = Key1(1)
k2 = Key2(1)  # same int as k1, different type
k3 = Key2(3)  # same type as k2, different int


def test_values():
    def check(c, nm, v1, v2, v3):
        for k, want in ((k1, v1), (k2, v2), (k3, v3)):
            got = c.value(k)
            assert (got or "") == want, f"{nm}.value({k!r}) = {got!r} want {want!r}"

    c0 = background()
    check(c0, "c0", "", "", "")
    c1 = with_value(background(), k1, "c1k1")
    check(c1, "c1", "c1k1", "", "")
    mod = __name__
    assert str(c1) == f"context.Background.WithValue({mod}.Key1, c1k1)"
    c2 = with_value(c1, k2, "c2k2")
    check(c2, "c2", "c1k1", "c2k2", "")
    assert str(c2) == f"context.Background.WithValue({mod}.Key1, c1k1).WithValue({mod}.Key2(1), c2k2)"
    c3 = with_value(c2, k3, "c3k3")
    check(c3, "c2", "c1k1", "c2k2", "c3k3")
    c4 = with_value(c3, k1, None)
    check(c4, "c4", "", "c2k2", "c3k3")
    assert str(c4) == (f"context.Background.WithValue({mod}.Key1, c1k1).WithValue({mod}.Key2(1), c2k2)"
                       f".WithValue({mod}.Key2(3), c3k3).WithValue({mod}.Key1, <nil>)")
    o0 = OtherContext(background())
    check(o0, "o0", "", "", "")
    o1 = OtherContext(with_value(background(), k1, "c1k1"))
    check(o1, "o1", "c1k1", "", "")
    o2 = with_value(o1, k2, "o2k2")
    check(o2, "o2", "c1k1", "o2k2", "")
    o3 = OtherContext(c4)
    check(o3, "o3", "", "c2k2", "c3k3")
    o4 = with_value(o3, k3, None)
    check(o4, "o4", "", "c2k2", "")


def test_value_keys_compare_by_type_and_value():
    c = with_value(background(), 1, "int")
    assert c.value(1) == "int"
    assert c.value(1.0) is None  # equal value, different type
    assert c.value(True) is None


def test_with_value_checks_key():
    with pytest.raises(Panic) as ei:
        with_value(background(), [b"foo"], "bar")
    assert str(ei.value) == "key is not comparable"
    with pytest.raises(Panic) as ei:
        with_value(background(), None, "bar")
    assert str(ei.value) == "nil key"


def test_invalid_derived_fail():
    msg = "cannot create context from nil parent"
    for f in (lambda: with_cancel(None), lambda: with_cancel_cause(None),
              lambda: with_deadline(None, 1.0), lambda: with_timeout(None, 1.0),
              lambda: with_value(None, "foo", "bar"), lambda: without_cancel(None),
              lambda: after_func(None, lambda: None)):
        with pytest.raises(Panic) as ei:
            f()
        assert str(ei.value) == msg


def test_negative_timeout_is_an_expired_context_like_go():
    # Go: WithTimeout(parent, d) is WithDeadline(parent, time.Now().Add(d)); a past deadline is done at birth
    from hcedu.go.context import DeadlineExceeded, cause, with_timeout_cause
    for make in (lambda: with_timeout(background(), -1), lambda: with_timeout(background(), 0),
                 lambda: with_timeout(background(), float("-inf"))):
        ctx, cancel = make()
        assert ctx.err() is DeadlineExceeded and ctx.done().try_recv() == (None, False, True)
        assert ctx.deadline() <= time.time()
        cancel()
        assert ctx.err() is DeadlineExceeded  # cancel after expiry changes nothing
    why = TimeoutError("budget spent upstream")
    ctx, cancel = with_timeout_cause(background(), -0.25, why)
    assert ctx.err() is DeadlineExceeded and cause(ctx) is why
    cancel()


def test_bad_input():
    with pytest.raises(TypeError, match="parent must be a Context"):
        with_cancel("ctx")
    with pytest.raises(TypeError, match="timeout must be a number"):
        with_timeout(background(), "1s")
    with pytest.raises(ValueError):
        with_timeout(background(), float("nan"))
    with pytest.raises(TypeError, match="f must be callable"):
        after_func(background(), 42)
    with pytest.raises(TypeError, match="cause must be an exception"):
        with_cancel_cause(background())[1]("because")
    with pytest.raises(TypeError, match="clock"):
        with_timeout(background(), 1, clock="wall")


# --- concurrency (Go's SimultaneousCancels, InterlockedCancels, Layers) --------------------------

def test_simultaneous_cancels():
    root, cancel = with_cancel(background())
    m = {root: cancel}
    q = [root]
    while q and len(m) < 100:
        parent = q.pop(0)
        for _ in range(4):
            ctx, c = with_cancel(parent)
            m[ctx] = c
            q.append(ctx)
    cancels = list(m.values())
    random.Random(1).shuffle(cancels)
    ts = [threading.Thread(target=c) for c in cancels]
    for t in ts:
        t.start()
    for ctx in m:
        wait_done(ctx)
    for t in ts:
        t.join(5)
        assert not t.is_alive()


def test_interlocked_cancels():
    parent, cancel_parent = with_cancel(background())
    child, cancel_child = with_cancel(parent)

    def f():
        parent.done().recv(timeout=5)
        cancel_child()

    t = threading.Thread(target=f)
    t.start()
    cancel_parent()
    wait_done(child)
    t.join(5)


@pytest.mark.parametrize("test_timeout", [False, True])
def test_layers(test_timeout):
    seed = 12345 + int(test_timeout)
    r = random.Random(seed)
    clock = VirtualClock()
    vals, cancels, num_timers = [], [], 0
    ctx = background()
    i = 0
    while i < 30 or num_timers == 0 or not cancels or not vals:
        kind = r.randrange(3)
        if kind == 0:
            v = object()
            ctx = with_value(ctx, v, v)
            vals.append(v)
        elif kind == 1:
            ctx, c = with_cancel(ctx)
            cancels.append(c)
        else:
            ctx, c = with_timeout(ctx, 0.001 if test_timeout else FOREVER, clock=clock)
            cancels.append(c)
            num_timers += 1
        i += 1

    def check_values():
        for key in vals:
            assert ctx.value(key) is key

    if not test_timeout:
        assert not is_done(ctx)
    assert str(ctx).startswith("context.Background.")
    check_values()
    if test_timeout:
        clock.advance(0.001)
        wait_done(ctx)
    else:
        r.choice(cancels)()
        assert is_done(ctx)
    check_values()


def test_cancel_removes():
    def check_children(ctx, want):
        assert len(ctx._children) == want

    ctx, _ = with_cancel(background())
    check_children(ctx, 0)
    _, cancel = with_cancel(ctx)
    check_children(ctx, 1)
    cancel()
    check_children(ctx, 0)
    _, cancel = with_timeout(ctx, 60, clock=VirtualClock())
    check_children(ctx, 1)
    cancel()
    check_children(ctx, 0)
    cctx, _ = with_cancel(ctx)
    stop = after_func(cctx, lambda: None)
    check_children(cctx, 1)
    assert stop() is True
    check_children(cctx, 0)


# --- born-canceled children and causes (rules 3, 7) ---------------------------------------------

def test_with_cancel_canceled_parent():
    parent, pcancel = with_cancel_cause(background())
    because = RuntimeError("Because!")
    pcancel(because)
    c, _ = with_cancel(parent)
    assert is_done(c)
    assert c.err() is Canceled
    assert cause(c) is because
    t, _ = with_timeout(parent, FOREVER, clock=VirtualClock())
    assert t.err() is Canceled and cause(t) is because


def test_with_cancel_simultaneously_canceled_parent():
    for _ in range(100):
        parent, pcancel = with_cancel_cause(background())
        because = RuntimeError("Because!")
        t = threading.Thread(target=pcancel, args=(because,))
        t.start()
        c, _ = with_cancel(parent)
        wait_done(c)
        assert c.err() is Canceled
        assert cause(c) is because
        t.join(5)


PARENT_CAUSE = RuntimeError("parentCause")
CHILD_CAUSE = RuntimeError("childCause")
TOO_SLOW = RuntimeError("tooSlow")
FINISHED_EARLY = RuntimeError("finishedEarly")


def _c_with_cancel():
    ctx, cancel = with_cancel(background()); cancel(); return ctx


def _c_cause():
    ctx, cancel = with_cancel_cause(background()); cancel(PARENT_CAUSE); return ctx


def _c_cause_nil():
    ctx, cancel = with_cancel_cause(background()); cancel(None); return ctx


def _parent_before_child():
    ctx, cp = with_cancel_cause(background()); ctx, cc = with_cancel_cause(ctx)
    cp(PARENT_CAUSE); cc(CHILD_CAUSE); return ctx


def _parent_after_child():
    ctx, cp = with_cancel_cause(background()); ctx, cc = with_cancel_cause(ctx)
    cc(CHILD_CAUSE); cp(PARENT_CAUSE); return ctx


def _parent_before_nil():
    ctx, cp = with_cancel_cause(background()); ctx, cc = with_cancel(ctx)
    cp(PARENT_CAUSE); cc(); return ctx


def _parent_after_nil():
    ctx, cp = with_cancel_cause(background()); ctx, cc = with_cancel(ctx)
    cc(); cp(PARENT_CAUSE); return ctx


def _child_after_nil():
    ctx, cp = with_cancel(background()); ctx, cc = with_cancel_cause(ctx)
    cp(); cc(CHILD_CAUSE); return ctx


def _child_before_nil():
    ctx, cp = with_cancel(background()); ctx, cc = with_cancel_cause(ctx)
    cc(CHILD_CAUSE); cp(); return ctx


def _timeout():
    ctx, cancel = with_timeout(background(), 0, clock=VirtualClock()); cancel(); return ctx


def _timeout_canceled():
    ctx, cancel = with_timeout(background(), FOREVER, clock=VirtualClock()); cancel(); return ctx


def _timeout_cause():
    ctx, cancel = with_timeout_cause(background(), 0, TOO_SLOW, clock=VirtualClock()); cancel(); return ctx


def _timeout_cause_canceled():
    ctx, cancel = with_timeout_cause(background(), FOREVER, TOO_SLOW, clock=VirtualClock()); cancel(); return ctx


def _timeout_cause_stacked():
    ctx, cancel = with_cancel_cause(background())
    ctx, _ = with_timeout_cause(ctx, 0, TOO_SLOW, clock=VirtualClock())
    cancel(FINISHED_EARLY); return ctx


def _timeout_cause_stacked_canceled():
    ctx, cancel = with_cancel_cause(background())
    ctx, _ = with_timeout_cause(ctx, FOREVER, TOO_SLOW, clock=VirtualClock())
    cancel(FINISHED_EARLY); return ctx


def _without_cancel_canceled():
    ctx, cancel = with_cancel_cause(background()); ctx = without_cancel(ctx); cancel(FINISHED_EARLY); return ctx


def _without_cancel_timeout():
    ctx, cancel = with_timeout_cause(background(), 0, TOO_SLOW, clock=VirtualClock())
    ctx = without_cancel(ctx); cancel(); return ctx


def _deadline_cause_expiry_only():
    clock = VirtualClock()
    ctx, cancel = with_deadline_cause(background(), 5, TOO_SLOW, clock=clock)
    clock.advance(5); cancel(); return ctx


CAUSE_CASES = [
    ("Background", background, None, None),
    ("TODO", todo, None, None),
    ("WithCancel", _c_with_cancel, Canceled, Canceled),
    ("WithCancelCause", _c_cause, Canceled, PARENT_CAUSE),
    ("WithCancelCause nil", _c_cause_nil, Canceled, Canceled),
    ("parent cause before child", _parent_before_child, Canceled, PARENT_CAUSE),
    ("parent cause after child", _parent_after_child, Canceled, CHILD_CAUSE),
    ("parent cause before nil", _parent_before_nil, Canceled, PARENT_CAUSE),
    ("parent cause after nil", _parent_after_nil, Canceled, Canceled),
    ("child cause after nil", _child_after_nil, Canceled, Canceled),
    ("child cause before nil", _child_before_nil, Canceled, CHILD_CAUSE),
    ("WithTimeout", _timeout, DeadlineExceeded, DeadlineExceeded),
    ("WithTimeout canceled", _timeout_canceled, Canceled, Canceled),
    ("WithTimeoutCause", _timeout_cause, DeadlineExceeded, TOO_SLOW),
    ("WithTimeoutCause canceled", _timeout_cause_canceled, Canceled, Canceled),
    ("WithTimeoutCause stacked", _timeout_cause_stacked, DeadlineExceeded, TOO_SLOW),
    ("WithTimeoutCause stacked canceled", _timeout_cause_stacked_canceled, Canceled, FINISHED_EARLY),
    ("WithoutCancel", lambda: without_cancel(background()), None, None),
    ("WithoutCancel canceled", _without_cancel_canceled, None, None),
    ("WithoutCancel timeout", _without_cancel_timeout, None, None),
    ("WithDeadlineCause expiry", _deadline_cause_expiry_only, DeadlineExceeded, TOO_SLOW),
]


@pytest.mark.parametrize("name, make, err, want_cause", CAUSE_CASES, ids=[c[0] for c in CAUSE_CASES])
def test_cause(name, make, err, want_cause):
    ctx = make()
    assert ctx.err() is err
    assert cause(ctx) is want_cause


def test_cause_race():
    because = RuntimeError("TestCauseRace")
    ctx, cancel = with_cancel_cause(background())
    t = threading.Thread(target=cancel, args=(because,))
    t.start()
    seen = []  # the first non-nil cause read while cancel runs must already be the cause (Go's loop yields)
    wait_until(lambda: seen.append(cause(ctx)) or seen[-1] is not None, step=0)
    assert seen[-1] is because
    t.join(5)


def test_cause_nil_until_canceled():
    ctx, cancel = with_cancel_cause(background())
    assert cause(ctx) is None
    cancel(PARENT_CAUSE)
    assert cause(ctx) is PARENT_CAUSE


# --- WithoutCancel (rule 8) --------------------------------------------------------------------

def test_without_cancel():
    ctx = with_value(background(), "key", "value")
    ctx = without_cancel(ctx)
    assert ctx.deadline() is None and ctx.done() is None and ctx.err() is None
    assert ctx.value("key") == "value"
    assert str(ctx) == "context.Background.WithValue(key, value).WithoutCancel"
    parent, cancel = with_timeout(with_value(background(), "k", 1), 1, clock=VirtualClock())
    wc = without_cancel(parent)
    cancel()
    assert wc.err() is None and wc.deadline() is None and wc.value("k") == 1
    child, cc = with_cancel(wc)  # a child of WithoutCancel is not cancelled by the grandparent
    assert child.err() is None
    cc()


# --- custom contexts -------------------------------------------------------------------------------

class CustomDoneContext(OtherContext):
    def __init__(self, inner, donec):
        super().__init__(inner)
        self.donec = donec

    def done(self):
        return self.donec


def test_custom_context_propagation():
    because = RuntimeError("TestCustomContextPropagation")
    donec = Chan(0)
    ctx1, cancel1 = with_cancel_cause(background())
    ctx2 = CustomDoneContext(ctx1, donec)
    ctx3, cancel3 = with_cancel(ctx2)  # propagated by a goroutine
    try:
        cancel1(because)
        donec.close()
        wait_done(ctx3)
        assert ctx3.err() is Canceled
        assert cause(ctx3) is because
    finally:
        cancel3()


class CustomCauseContext(Context):
    def __init__(self):
        self.mu = threading.Lock()
        self.donec = Chan(0)
        self.error = None
        self.cancel_child = None

    def done(self):
        with self.mu:
            return self.donec

    def err(self):
        with self.mu:
            return self.error

    def cancel(self):
        with self.mu:
            self.error = Canceled
            self.donec.close()
            cc = self.cancel_child
        if cc is not None:
            cc()


def test_custom_context_cause():
    ccc = CustomCauseContext()
    ccc.cancel()
    assert ccc.err() is Canceled and cause(ccc) is Canceled

    ccc = CustomCauseContext()
    ctx, cause_func = with_cancel_cause(ccc)
    because = RuntimeError("TestCustomContextCause")
    cause_func(because)
    assert ctx.err() is Canceled and cause(ctx) is because
    assert ccc.err() is None and cause(ccc) is None
    ccc.cancel()
    assert ctx.err() is Canceled and cause(ctx) is because
    assert ccc.err() is Canceled and cause(ccc) is Canceled

    ccc = CustomCauseContext()
    ctx, cancel_func = with_cancel(ccc)
    ccc.cancel_child = cancel_func
    ccc.cancel()
    assert ctx.err() is Canceled and cause(ctx) is Canceled
    assert ccc.err() is Canceled and cause(ccc) is Canceled


class AfterFuncContext(Context):
    """A custom context implementing Go's afterFuncer: propagation goes through its after_func."""

    def __init__(self):
        self.donec = Chan(0)
        self.error = None
        self.funcs = []

    def done(self):
        return self.donec

    def err(self):
        return self.error

    def after_func(self, f):
        self.funcs.append(f)

        def stop():
            if f in self.funcs:
                self.funcs.remove(f)
                return True
            return False
        return stop

    def cancel(self):
        self.error = Canceled
        self.donec.close()
        for f in list(self.funcs):
            f()


def test_custom_after_funcer_propagation_and_removal():
    p = AfterFuncContext()
    c, cancel = with_cancel(p)
    assert len(p.funcs) == 1
    cancel()  # removeChild calls stop()
    assert p.funcs == []
    c2, cancel2 = with_cancel(p)
    p.cancel()
    assert c2.err() is Canceled
    cancel2()


# --- AfterFunc (rule 9) ----------------------------------------------------------------------------

def test_after_func_called_after_cancel():
    ctx, cancel = with_cancel(background())
    donec = Chan(0)
    stop = after_func(ctx, donec.close)
    assert donec.try_recv()[2] is False  # not called before done
    cancel()
    donec.recv_ok(timeout=5)
    assert stop() is False


def test_after_func_called_after_timeout():
    clock = VirtualClock()
    ctx, cancel = with_timeout(background(), 0.001, clock=clock)
    donec = Chan(0)
    after_func(ctx, donec.close)
    clock.advance(0.001)
    _, ok = donec.recv_ok(timeout=5)
    assert ok is False
    cancel()


def test_after_func_called_immediately():
    ctx, cancel = with_cancel(background())
    cancel()
    donec = Chan(0)
    after_func(ctx, donec.close)
    _, ok = donec.recv_ok(timeout=5)
    assert ok is False


def test_after_func_not_called_after_stop():
    ctx, cancel = with_cancel(background())
    called = threading.Event()

    def stopped_func():
        called.set()

    stop = after_func(ctx, stopped_func)
    assert stop() is True
    cancel()  # an AfterFunc still registered would be spawned inside cancel(), so by now it is running or has run
    assert not called.is_set() and not [g for g in running() if "stopped_func" in g.name]
    assert stop() is False


def test_after_func_called_asynchronously():
    """Cancelling does not wait for AfterFuncs to finish."""
    ctx, cancel = with_cancel(background())
    donec = Chan(0)
    stop = after_func(ctx, lambda: donec.send(None, timeout=5))
    cancel()  # returns although f blocks on an unbuffered send
    donec.recv(timeout=5)
    stop()


def test_after_funcs_are_independent_and_run_once():
    ctx, cancel = with_cancel(background())
    calls = []
    lock = threading.Lock()
    done = threading.Semaphore(0)

    def mk(tag):
        def f():
            with lock:
                calls.append(tag)
            done.release()
        return f

    stops = [after_func(ctx, mk(i)) for i in range(3)]
    assert stops[1]() is True
    cancel()
    cancel()
    assert done.acquire(timeout=5) and done.acquire(timeout=5)
    assert not done.acquire(timeout=0.05)
    assert sorted(calls) == [0, 2]


def test_after_func_on_background_never_runs():
    stop = after_func(background(), lambda: None)
    assert stop() is True


def test_errors_can_be_raised():
    ctx, cancel = with_cancel(background())
    cancel()
    with pytest.raises(CanceledError) as ei:
        raise ctx.err()
    assert ei.value is Canceled


def test_module_surface():
    for name in ("background", "todo", "with_cancel", "with_cancel_cause", "with_timeout", "with_deadline",
                 "with_value", "without_cancel", "after_func", "cause", "Canceled", "DeadlineExceeded"):
        assert hasattr(context, name), name


def test_exercise_checker_measures_wasted_work():
    from hcedu.course import check
    from hcedu.go import go

    def naive(ctx, calls):  # the bug: downstreams get background()
        results = [None] * len(calls)
        errs = []

        def run(i, call):
            try:
                results[i] = call(context.background())
            except Exception as e:  # noqa: BLE001
                errs.append(e)
        gs = [go(run, i, c) for i, c in enumerate(calls)]
        for g in gs:
            g.join(5)
        if errs:
            raise errs[0]
        return results

    v = check.deadline_propagation(naive)
    assert not v and "deadline reaches every call" in str(v)

    from tests.solution_code import reference
    good = reference("06_context_timeouts.py", "call_all")   # the shipped solution, not a copy of it
    assert check.deadline_propagation(good).ok
