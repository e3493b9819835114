"""hcedu.go.goroutine: go(), the Goroutine handle, panic capture and report, running(), recover."""

from __future__ import annotations

import sys
import threading

import pytest

from hcedu.go import Goroutine, GoroutinePanic, Panic, go, recover, running
from hcedu.go.goroutine import current, silence_panics, spawn

T = 5  # bound for every blocking call


def test_go_runs_fn_with_args_and_returns_handle():
    g = go(lambda a, b=0: a + b, 2, b=3)
    assert isinstance(g, Goroutine)
    assert g.join(T)
    assert g.done and g.state == "done" and not g.panicked
    assert g.result == 5 and g.get(T) == 5
    assert g.exception is None and g.traceback is None and g.panic_report is None


def test_thread_is_daemon_and_named_after_id():
    seen = {}

    def probe():
        t = threading.current_thread()
        seen["name"], seen["daemon"] = t.name, t.daemon
        seen["current"] = current()

    g = go(probe)
    assert g.join(T)
    assert seen["name"] == f"hcedu-goroutine-{g.id}" == g.thread_name
    assert seen["daemon"] is True
    assert seen["current"] is g
    assert current() is None  # the test thread is not a goroutine


def test_ids_increase_and_name_defaults_to_qualname():
    def worker():
        pass

    a, b = go(worker), go(worker)
    assert b.id > a.id
    assert a.name.endswith("worker")
    assert a.join(T) and b.join(T)
    named = spawn(worker, name="fetcher")
    assert named.name == "fetcher" and named.join(T)


def test_started_at_points_to_the_caller_line():
    line = sys._getframe().f_lineno + 1
    g = go(lambda: None)
    assert g.started_at == f"{__file__}:{line}"
    assert g.created_by == "test_started_at_points_to_the_caller_line"
    assert g.join(T)


def test_running_lists_live_goroutines_sorted_by_start_order():
    release = threading.Event()
    gs = [go(release.wait, T) for _ in range(4)]
    try:
        live = running()
        mine = [g for g in live if g in gs]
        assert mine == gs  # all four, in start order
        assert [g.id for g in live] == sorted(g.id for g in live)
        assert all(g.alive and g.state == "running" for g in mine)
    finally:
        release.set()
    assert all(g.join(T) for g in gs)
    assert not any(g in running() for g in gs)


def test_result_while_running_raises_and_get_times_out():
    release = threading.Event()
    g = go(release.wait, T)
    try:
        with pytest.raises(RuntimeError, match="still running"):
            g.result
        with pytest.raises(TimeoutError):
            g.get(timeout=0.01)
        assert g.join(timeout=0) is False
    finally:
        release.set()
    assert g.join(T)


def test_panic_is_captured_reported_once_in_go_style(capsys):
    def boom():
        return 1 / 0

    g = go(boom)
    assert g.join(T)
    err = capsys.readouterr().err
    assert err.count("panic: ") == 1
    assert err.startswith("panic: ZeroDivisionError: division by zero\n\ngoroutine ")
    assert f"goroutine {g.id} [running]:" in err
    assert "boom(...)" in err and "created by test_panic_is_captured_reported_once_in_go_style" in err
    assert g.started_at in err
    assert g.panicked and g.state == "panicked"
    assert isinstance(g.exception, ZeroDivisionError)
    assert "ZeroDivisionError" in g.traceback and "Traceback" in g.traceback
    assert g.panic_report == err
    with pytest.raises(GoroutinePanic) as ei:
        g.result
    assert ei.value.value is g.exception and ei.value.__cause__ is g.exception
    assert ei.value.goroutine is g and isinstance(ei.value, Panic)
    # joining again or reading result again never reports a second time
    assert g.join(T)
    with pytest.raises(GoroutinePanic):
        g.get(T)
    assert capsys.readouterr().err == ""


def test_go_panic_value_prints_its_message_verbatim(capsys):
    g = go(lambda: (_ for _ in ()).throw(Panic("send on closed channel")))
    assert g.join(T)
    assert capsys.readouterr().err.startswith("panic: send on closed channel\n")


def test_silence_panics_skips_report_but_keeps_exception(capsys):
    with silence_panics():
        g = go(lambda: [][1])
        child_holder = []
        parent = go(lambda: child_holder.append(go(lambda: {}["k"])))
    assert g.join(T) and parent.join(T) and child_holder[0].join(T)
    # a goroutine started after the block reports again
    loud = go(lambda: 1 / 0)
    assert loud.join(T)
    err = capsys.readouterr().err
    assert err.count("panic: ") == 1 and "ZeroDivisionError" in err
    assert isinstance(g.exception, IndexError)
    assert isinstance(child_holder[0].exception, KeyError)
    assert child_holder[0].parent == parent.id


def test_spawn_report_false(capsys):
    g = spawn(lambda: 1 / 0, report=False)
    assert g.join(T)
    assert capsys.readouterr().err == "" and g.panic_report.startswith("panic: ")


def test_panic_does_not_reach_threading_excepthook():
    hits = []
    old = threading.excepthook
    threading.excepthook = lambda args: hits.append(args)
    try:
        with silence_panics():
            g = go(lambda: 1 / 0)
        assert g.join(T)
    finally:
        threading.excepthook = old
    assert hits == []


def test_panicked_goroutine_leaves_running():
    with silence_panics():
        g = go(lambda: 1 / 0)
    assert g.join(T)
    assert g not in running()


def test_go_rejects_non_callable():
    with pytest.raises(TypeError, match="fn must be callable"):
        go(42)
    with pytest.raises(TypeError, match="fn must be callable"):
        spawn("not a function")
    with pytest.raises(ValueError, match="timeout"):
        go(lambda: None).join(-1)
    with pytest.raises(ValueError, match="name"):
        spawn(lambda: None, name="")


def test_recover_passes_recovered_value_to_handler():
    got = []

    @recover(handler=lambda r: got.append(r) or "recovered")
    def risky(x):
        if x < 0:
            raise Panic("negative")
        return x * 2

    assert risky(4) == 8 and got == []
    assert risky(-1) == "recovered"
    assert len(got) == 1 and str(got[0]) == "negative"
    assert risky.__name__ == "risky"


def test_recover_bare_and_wrapper_forms():
    @recover
    def bad():
        raise ValueError("x")

    assert bad() is None
    wrapped = recover(lambda: 1 / 0, handler=type)
    assert wrapped() is ZeroDivisionError


def test_recover_inside_goroutine_means_no_panic(capsys):
    got = []
    g = go(recover(lambda: 1 / 0, handler=got.append))
    assert g.join(T)
    assert not g.panicked and isinstance(got[0], ZeroDivisionError)
    assert capsys.readouterr().err == ""


def test_recover_does_not_swallow_base_exceptions():
    @recover
    def leave():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        leave()


def test_recover_rejects_bad_arguments():
    with pytest.raises(TypeError, match="handler must be callable"):
        recover(handler=3)
    with pytest.raises(TypeError, match="fn must be callable"):
        recover(5)
