"""hcedu.go.lifecycle: workers, pool, recover wrapper, leak detector, state-flow events."""

from __future__ import annotations

import threading
import time

import matplotlib

matplotlib.use("Agg")

import pytest

from hcedu.go import Chan, context, running
from hcedu.go.lifecycle import (EventLog, GoroutineLeakError, WorkerPool, detect_leaks, polling_worker, safe_go,
                                state_transitions, verify_none, worker)
from hcedu.lab.lifecycle import chart_live_goroutines, chart_state_flow, leak_experiment
from hcedu.go.goroutine import spawn

from helpers import parked_senders, wait_until


def test_worker_stops_on_cancel_and_records_the_source_states():
    log = EventLog()
    ctx, cancel = context.with_cancel(context.background())
    ran = threading.Event()
    cleaned = []
    g = spawn(worker, ctx, lambda i: ran.set(), interval=0.005, name="w", log=log,
              cleanup=lambda: cleaned.append(True))
    assert ran.wait(5)
    cancel()
    assert g.join(5)
    turns = g.result
    assert turns >= 1 and cleaned == [True]
    df = log.frame()
    states = list(df["state"])
    assert states[0] == "created" and states[-2:] == ["cleanup", "exited"]
    trans = {(a, b) for a, b, _ in state_transitions(df)}
    assert {("created", "check"), ("check", "running"), ("running", "check"), ("check", "cleanup"),
            ("cleanup", "exited")} == trans
    assert "context canceled" in df[df.state == "cleanup"]["detail"].iloc[0]


def test_worker_notices_cancel_without_waiting_the_interval():
    ctx, cancel = context.with_cancel(context.background())
    started = threading.Event()
    g = spawn(worker, ctx, lambda i: started.set(), interval=30)
    assert started.wait(5)
    cancel()
    assert g.join(5), "worker waited its 30 s interval instead of the cancel signal"


def test_worker_deadline_on_virtual_clock_and_exception():
    from hcedu.clock import VirtualClock

    clock = VirtualClock()
    ctx, cancel = context.with_timeout(context.background(), 1, clock=clock)
    clock.advance(1)
    assert worker(ctx, interval=0) == 0
    log = EventLog()
    ctx2, cancel2 = context.with_cancel(context.background())

    def boom(i):
        raise ValueError("work failed")

    cleaned = []
    with pytest.raises(ValueError):
        worker(ctx2, boom, log=log, name="b", cleanup=lambda: cleaned.append(1))
    assert cleaned == [1]  # cleanup is a defer: it runs on a panic too
    assert list(log.frame()["state"])[-1] == "exited"
    cancel(), cancel2()


def test_polling_worker_literal_translation():
    ctx, cancel = context.with_cancel(context.background())
    log = EventLog()
    turned = threading.Event()
    g = spawn(polling_worker, ctx, lambda i: turned.set(), interval=0.002, log=log, name="p")
    assert turned.wait(5)  # a turn ran (a 20 ms sleep did not promise one on a busy machine)
    cancel()
    assert g.join(5)
    assert g.result >= 1
    assert list(log.frame()["state"])[-1] == "exited"


def test_safe_go_recovers_panic():
    log = EventLog()
    h = safe_go(lambda: 1 / 0, name="divider", log=log)
    assert h.join(5)
    assert h.exception is None  # recovered: not a goroutine panic
    assert isinstance(h.result, ZeroDivisionError)
    assert list(log.frame()["state"]) == ["recovered"]
    seen = []
    h2 = safe_go(lambda x: x * 2, 21, on_panic=seen.append)
    assert h2.get(5) == 42 and seen == []
    h3 = safe_go(lambda: [][1], on_panic=lambda e: "handled")
    assert h3.get(5) == "handled"
    with pytest.raises(TypeError):
        safe_go(None)
    with pytest.raises(TypeError):
        safe_go(lambda: 0, on_panic=3)


def test_pool_bounds_concurrency_and_returns_results():
    busy, lock, full = [0, 0], threading.Lock(), threading.Event()   # tasks running now, most ever at once
    tasks = []

    def job(x):
        with lock:
            busy[0] += 1
            busy[1] = max(busy)
        try:
            assert busy[1] <= 3, f"{busy[1]} tasks ran at once on 3 workers"
            # the first three hold their workers until the pool is full: three running, two queued (5
            # submits returned) and the sixth submit parked; a fourth worker would have taken a sixth
            wait_until(lambda: full.is_set() or (busy[1] == 3 and len(tasks) == 5 and parked_senders(pool._jobs) == 1),
                       message=lambda: f"{busy[1]} ran at once, {len(tasks)} submitted")
            full.set()
            return x * x
        finally:
            with lock:
                busy[0] -= 1

    def submit_all():
        for x in range(20):
            tasks.append(pool.submit(job, x))

    with WorkerPool(3, queue=2, name="p3") as pool:
        assert spawn(submit_all).join(20)
        assert [t.result(5) for t in tasks] == [x * x for x in range(20)]
        assert pool.peak == busy[1] == 3
        assert pool.map(abs, [-1, -2]) == [1, 2]
        assert pool.completed == 22
    assert all(g.done for g in pool._workers)
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(job, 1)


def test_pool_recovers_task_exceptions_and_keeps_working():
    with WorkerPool(1, name="p1") as pool:
        bad = pool.submit(lambda: {}["missing"])
        good = pool.submit(lambda: "ok")
        with pytest.raises(KeyError):
            bad.result(5)
        assert good.result(5) == "ok"
        assert pool._workers[0].alive


def test_pool_submit_backpressure_timeout():
    release = threading.Event()
    pool = WorkerPool(1, queue=0, name="bp")
    try:
        pool.submit(release.wait, 5)
        with pytest.raises(TimeoutError, match="queue full"):
            pool.submit(lambda: None, timeout=0.02)
    finally:
        release.set()
        assert pool.close(timeout=5)


def test_pool_stops_on_context_and_drops_queue():
    ctx, cancel = context.with_cancel(context.background())
    release = threading.Event()
    pool = WorkerPool(1, queue=5, ctx=ctx, name="cp")
    started = threading.Event()
    running = pool.submit(lambda: started.set() or release.wait(5))
    assert started.wait(5)
    queued = [pool.submit(lambda: "never") for _ in range(3)]
    cancel()
    release.set()
    assert running.result(5) is True
    for t in queued:
        with pytest.raises(context.CanceledError):
            t.result(5)
    assert pool.close(timeout=5)


def test_pool_bad_input():
    with pytest.raises(ValueError):
        WorkerPool(0)
    with pytest.raises(TypeError):
        WorkerPool(2.5)
    with pytest.raises(ValueError):
        WorkerPool(1, queue=-1)
    with WorkerPool(1, name="bad") as pool:
        with pytest.raises(TypeError):
            pool.submit("not callable")


def test_detect_leaks_catches_a_blocked_goroutine_and_ignores_old_ones():
    old_release = threading.Event()
    old = spawn(old_release.wait, 5, name="old")
    ch = Chan(0)
    with detect_leaks(timeout=0.05) as report:
        leaked = spawn(ch.send, "x", name="stuck-sender")
        quick = spawn(lambda: None, name="quick")
        assert quick.join(5)  # finished: never blamed (the 0.05 s grace alone is a race on a busy machine)
    assert report.checked and not report.ok
    assert [g.name for g in report.leaks] == ["stuck-sender"]
    assert "stuck-sender" in report.message() and "started at" in report.message()
    assert list(report.frame().columns) == ["id", "name", "state", "started_at", "created_by"]
    ch.recv(timeout=5)
    assert leaked.join(5) and quick.join(5)
    with detect_leaks(timeout=5) as clean:  # returns as soon as the sleeper is done
        spawn(time.sleep, 0.01)  # not synchronisation: the scenario is a goroutine still running as the block ends
    assert clean.ok
    old_release.set()
    old.join(5)


def test_detect_leaks_raise_and_verify_none():
    ch = Chan(0)
    with pytest.raises(GoroutineLeakError) as ei:
        with detect_leaks(timeout=0.02, raise_=True):
            g = spawn(ch.recv, name="stuck-receiver")
    assert "stuck-receiver" in str(ei.value)
    with pytest.raises(GoroutineLeakError):
        verify_none(timeout=0.02)
    verify_none(timeout=0.02, ignore=[g])
    ch.send(1, timeout=5)
    assert g.join(5)
    verify_none(timeout=2)
    with pytest.raises(ValueError):
        detect_leaks(timeout=-1)


def test_leak_experiment_is_deterministic_and_cleans_up():
    df = leak_experiment(requests=6)
    assert list(df.columns) == ["variant", "request", "live"]
    leaky = df[df.variant == "leaky"]["live"].tolist()
    assert leaky == [1, 2, 3, 4, 5, 6]
    assert df[df.variant != "leaky"]["live"].tolist() == [0] * 12
    verify_none(timeout=5)
    fig = chart_live_goroutines(df)
    assert len(fig.axes) == 1
    with pytest.raises(ValueError):
        leak_experiment(requests=0)
    with pytest.raises(ValueError):
        leak_experiment(requests=1, variants=("nope",))


def test_chart_state_flow_from_events():
    log = EventLog()
    for w in ("a", "b"):
        for s in ("created", "check", "running", "check", "running", "check", "cleanup", "exited"):
            log.record(w, s)
    df = log.frame()
    assert ("check", "running", 4) in state_transitions(df)
    fig = chart_state_flow(df)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "no ×4" in texts and "yes ×2" in texts
    assert "2 goroutine(s)" in fig.axes[0].get_title()


def test_exercise_checker_rejects_the_leaky_version_and_accepts_a_fix():
    from hcedu.course import check
    from hcedu.go import ChanTimeout, go

    chans = []

    def leaky(fetch, timeout):
        ch = Chan()
        chans.append(ch)
        go(lambda: ch.send(fetch()))
        try:
            return ch.recv(timeout=timeout)
        except ChanTimeout:
            raise TimeoutError from None

    v = check.goroutine_leak(leaky)
    assert not v and "no goroutine left after a timeout" in str(v)
    def unleaked():  # un-leak what the leaky version left behind: receive what its goroutines still send
        for ch in chans:
            ch.try_recv()
        return not any(g.created_by == "leaky" for g in running())
    wait_until(unleaked, step=0.01)
    verify_none(timeout=5)

    def fixed(fetch, timeout):
        if timeout < 0:
            raise ValueError("timeout")
        ch = Chan(1)

        def run():
            try:
                ch.send((fetch(), None))
            except Exception as e:  # noqa: BLE001
                ch.send((None, e))
        go(run)
        try:
            v, err = ch.recv(timeout=timeout)
        except ChanTimeout:
            raise TimeoutError from None
        if err:
            raise err
        return v

    assert check.goroutine_leak(fixed).ok

    def stub(fetch, timeout):
        raise NotImplementedError
    assert "not solved yet" in str(check.goroutine_leak(stub))
