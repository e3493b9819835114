"""hcedu.go.singleflight against x/sync/singleflight's own tests (and specs §6)."""

from __future__ import annotations

import threading

import pytest

from hcedu.go import Chan, Panic, singleflight
from hcedu.go.goroutine import silence_panics
from hcedu.go.singleflight import Group, PanicError, Result

from helpers import crowd_one_flight, flight_waiters, wait_until


def test_do():
    g = Group()
    v, shared = g.do("key", lambda: "bar")
    assert v == "bar" and type(v) is str
    assert shared is False


def test_do_err():
    g = Group()
    some_err = ValueError("Some error")

    def fn():
        raise some_err

    with pytest.raises(ValueError) as ei:
        g.do("key", fn)
    assert ei.value is some_err


def test_do_dup_suppress():
    g = Group()
    c = Chan(1)
    calls = []
    calls_lock = threading.Lock()
    first = threading.Event()
    n = 10

    def fn():
        with calls_lock:
            calls.append(1)
        first.set()
        v = c.recv(timeout=5)
        c.send(v)  # pump; make available for any future calls
        return v

    entered = threading.Barrier(n + 1, timeout=5)
    results, errors = [], []

    def worker():
        entered.wait()
        try:
            results.append(g.do("key", fn))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    entered.wait()
    assert first.wait(5)
    # Go sleeps here so the others "have at least reached Do"; waiting on the group's state proves it:
    # the other n - 1 callers are parked on the first call, so fn ran exactly once
    wait_until(lambda: flight_waiters(g, "key") >= n - 1)
    c.send("bar")
    for t in threads:
        t.join(5)
    assert not errors
    assert [v for v, _ in results] == ["bar"] * n
    assert len(calls) == 1
    assert any(shared for _, shared in results)


def test_waiters_share_and_originator_shared_flag():
    g = Group()
    release = threading.Event()
    started = threading.Event()
    out = {}

    def slow():
        started.set()
        assert release.wait(5)
        return 42

    t1 = threading.Thread(target=lambda: out.__setitem__("a", g.do("k", slow)))
    t1.start()
    assert started.wait(5)
    t2 = threading.Thread(target=lambda: out.__setitem__("b", g.do("k", lambda: 0)))
    t2.start()
    wait_until(lambda: flight_waiters(g, "k") >= 1)
    release.set()
    t1.join(5)
    t2.join(5)
    assert out == {"a": (42, True), "b": (42, True)}


def test_no_caching_after_completion():
    g = Group()
    calls = []
    for _ in range(3):
        v, shared = g.do("k", lambda: calls.append(1) or len(calls))
        assert shared is False
    assert v == 3 and len(calls) == 3
    assert g._m == {}


def test_error_is_raised_in_every_waiter():
    g = Group()
    boom = KeyError("db down")
    caught = crowd_one_flight(g, "k", boom, 3)
    assert len(caught) == 4 and all(e is boom for e in caught)
    assert "k" not in g._m


def test_forget():
    """Go's TestForget (golang/go#31420): a stale call must not evict the fresh one."""
    g = Group()
    first_started, unblock_first, first_finished = threading.Event(), threading.Event(), threading.Event()

    def first():
        first_started.set()
        assert unblock_first.wait(5)
        first_finished.set()
        return None

    t = threading.Thread(target=lambda: g.do("key", first))
    t.start()
    assert first_started.wait(5)
    g.forget("key")

    unblock_second = threading.Event()

    def second():
        assert unblock_second.wait(5)
        return 2

    second_result = g.do_chan("key", second)
    unblock_first.set()
    assert first_finished.wait(5)
    t.join(5)
    third_result = g.do_chan("key", lambda: 3)
    unblock_second.set()
    second_result.recv(timeout=5)
    r = third_result.recv(timeout=5)
    assert r.val == 2, "should receive the result produced by the second call"


def test_do_chan():
    g = Group()
    ch = g.do_chan("key", lambda: "bar")
    assert isinstance(ch, Chan) and ch.cap == 1
    res = ch.recv(timeout=5)
    assert isinstance(res, Result)
    assert res.val == "bar" and res.err is None and res.shared is False
    # never closed: nothing more arrives
    assert ch.try_recv() == (None, False, False)


def test_do_chan_error_in_result():
    g = Group()
    err = RuntimeError("nope")

    def fn():
        raise err

    res = g.do_chan("k", fn).recv(timeout=5)
    assert res.val is None and res.err is err


def test_panic_do():
    """Go's TestPanicDo (golang/go#41133): every Do re-panics, none hangs."""
    g = Group()
    n = 5
    barrier = threading.Barrier(n, timeout=5)
    panics = []
    lock = threading.Lock()

    def fn():
        # every other caller joins this call before it panics (Go's test leaves that to the scheduler),
        # so the panic must reach all n callers, the waiters as well as the originator
        wait_until(lambda: flight_waiters(g, "key") == n - 1)
        raise Panic("invalid memory address or nil pointer dereference")

    def call():
        barrier.wait()
        try:
            g.do("key", fn)
        except PanicError as e:
            with lock:
                panics.append(e)

    ts = [threading.Thread(target=call) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(5)
    assert not any(t.is_alive() for t in ts), "Do hangs"
    assert len(panics) == n and all(p is panics[0] for p in panics)  # one call, one panic, seen by all n
    e = panics[0]
    assert isinstance(e.value, Panic) and "nil pointer dereference" in str(e)
    assert e.unwrap() is e.value and e.stack
    assert g._m == {}


def test_goexit_do():
    """Go's TestGoexitDo: a BaseException (Goexit) propagates to every Do; no error is invented."""

    class Goexit(BaseException):
        pass

    assert len(crowd_one_flight(Group(), "key", Goexit(), 2)) == 3


def test_panic_do_chan_does_not_hang():
    g = Group()

    def fn():
        raise Panic("Panicking in DoChan")

    with silence_panics():
        res = g.do_chan("", fn).recv(timeout=5)
    assert isinstance(res.err, PanicError) and "Panicking in DoChan" in str(res.err)


def test_bad_input():
    g = Group()
    with pytest.raises(TypeError, match="fn must be callable"):
        g.do("k", 3)
    with pytest.raises(TypeError, match="key must be hashable"):
        g.do(["k"], lambda: 1)
    with pytest.raises(TypeError, match="fn must be callable"):
        g.do_chan("k", None)


def test_module_exports():
    assert singleflight.Group is Group


def test_do_runs_fn_in_the_caller_and_do_chan_in_a_goroutine():
    from hcedu.go.goroutine import current

    g = Group()
    where = []
    g.do("a", lambda: where.append(threading.current_thread()))
    assert where == [threading.current_thread()]
    seen = []
    g.do_chan("b", lambda: seen.append(current())).recv(timeout=5)
    assert seen and seen[0] is not None and seen[0].name.startswith("singleflight.DoChan")
