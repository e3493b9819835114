"""Goroutine lifecycle toolkit (chapter 04): context-aware workers, a bounded worker pool, recover
wrappers, a goleak-style leak detector and the state-flow events of the source's diagram.

The source (2.1 "goroutine在高并发场景下的生命周期管理") says: start goroutines through a pool that
bounds concurrency (启动控制: 协程池), stop them with a context (退出机制: context), and stop a panic
from spreading with ``defer + recover`` (异常处理). Its state diagram is::

    created (go func) -> running -> cancel signal? --no--> running
                                                 --yes--> cleanup -> exit (stack freed)

Every piece here records those states in an :class:`EventLog`, so a notebook can draw the diagram
from a real run (:func:`hcedu.lab.lifecycle.chart_state_flow`) instead of from a picture.

Go counterparts: :func:`worker` is the source's ``worker(ctx)``; :class:`WorkerPool` is the usual
"N goroutines ranging over a jobs channel" pool (what ``ants``/``errgroup.SetLimit`` give you);
:func:`safe_go` is ``go func() { defer func() { recover() }() ... }()``; :func:`detect_leaks` /
:func:`verify_none` are ``go.uber.org/goleak``'s ``VerifyNone``, built on
:func:`hcedu.go.goroutine.running`.

Invariants:
  * a worker records ``created`` before it runs and ``exited`` last, whatever happens;
  * a ``WorkerPool`` never runs more than ``size`` tasks at once; a task's exception is recovered
    into its :class:`Task` (the worker survives); ``close()`` lets queued tasks finish;
  * the leak detector only blames goroutines *started inside* the checked block (or not in
    ``ignore``), and only after giving them ``timeout`` seconds to finish.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .. import _validate
from ..clock import REAL, RealClock, as_clock, poll_until
from .chan import Chan, ChanTimeout
from .goroutine import Goroutine, recover, running, spawn
from .selectgo import Recv, select

__all__ = ["EventLog", "STATES", "worker", "polling_worker", "WorkerPool", "Task", "safe_go",
           "LeakReport", "GoroutineLeakError", "detect_leaks", "verify_none", "timed_out_request",
           "state_transitions"]

#: The source diagram's states, in order.
STATES = ("created", "running", "check", "cleanup", "exited")


class EventLog:
    """A thread-safe list of ``(t, who, state, detail)`` events; ``t`` in seconds since the log began.

    ``clock`` defaults to a RealClock; with a VirtualClock the times are virtual.
    """

    def __init__(self, clock: Any = None) -> None:
        self._clock = as_clock(clock)
        self._t0 = self._clock.now()
        self._lock = threading.Lock()
        self._events: list[tuple[float, str, str, str]] = []

    def record(self, who: str, state: str, detail: str = "") -> None:
        """Append one event (``state`` is one of :data:`STATES` or any label, e.g. ``"panic"``)."""
        t = self._clock.now() - self._t0
        with self._lock:
            self._events.append((t, who, state, detail))

    def frame(self):
        """The events as a tidy DataFrame: ``t``, ``who``, ``state``, ``detail``, sorted by time."""
        import pandas as pd

        with self._lock:
            rows = list(self._events)
        df = pd.DataFrame(rows, columns=["t", "who", "state", "detail"])
        return df.sort_values(["t"], kind="stable").reset_index(drop=True)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)


def state_transitions(events) -> list[tuple[str, str, int]]:
    """Count state transitions per worker: ``[(from, to, count), ...]`` sorted; deterministic for a run
    whose *shape* is deterministic (the number of ``check -> running`` loops is the only varying count)."""
    counts: dict[tuple[str, str], int] = {}
    for _, g in events.groupby("who", sort=True):
        states = list(g["state"])
        for a, b in zip(states, states[1:]):
            counts[(a, b)] = counts.get((a, b), 0) + 1
    return sorted((a, b, n) for (a, b), n in counts.items())


# --- context-aware workers ---------------------------------------------------------------------

def worker(ctx: Any, work: Callable[[int], Any] | None = None, *, interval: float = 0.01,
           name: str = "worker", log: EventLog | None = None, cleanup: Callable[[], Any] | None = None,
           clock: Any = None) -> int:
    """The source's ``worker(ctx)``, done right: loop until ``ctx.done()`` closes, then clean up and return.

    Each turn checks the cancel signal first (Go: ``select { case <-ctx.Done(): ...; ... }``), then
    runs ``work(i)`` and waits ``interval`` seconds *on ``ctx.done()``* (Go: ``case <-time.After``),
    so a cancel is noticed at once instead of after a sleep. Returns how many turns ran. Records
    ``created``/``running``/``check``/``cleanup``/``exited`` events in ``log``. ``cleanup`` runs like a
    Go ``defer``: on cancel and also when ``work`` raises; the exception then propagates (use
    :func:`safe_go` to recover it) after ``exited`` is recorded.
    TypeError for a non-callable ``work``/``cleanup``; ValueError for a negative ``interval``.
    """
    if work is not None:
        _validate.function("work", work)
    if cleanup is not None:
        _validate.function("cleanup", cleanup)
    interval = _validate.number("interval", interval, minimum=0)
    rec = log.record if log is not None else (lambda *a: None)
    rec(name, "created")
    done = ctx.done()
    turns = 0
    try:
        while True:
            rec(name, "check")
            i, _, _ = select(Recv(done), default=True)
            if i == 0:
                rec(name, "cleanup", f"ctx.err() = {ctx.err()}")
                return turns
            rec(name, "running")
            if work is not None:
                work(turns)
            turns += 1
            if interval:
                if done is None:  # background(): never cancelled
                    as_clock(clock).sleep(interval)
                else:
                    try:  # wait for the interval or the cancel signal, whichever comes first
                        done.recv_ok(timeout=interval)
                    except ChanTimeout:
                        pass
    finally:
        try:
            if cleanup is not None:  # Go: defer cleanup(): runs on cancel and on a panic alike
                cleanup()
        finally:
            rec(name, "exited", f"turns={turns}")


def polling_worker(ctx: Any, work: Callable[[int], Any] | None = None, *, interval: float = 0.01,
                   name: str = "worker", log: EventLog | None = None, clock: Any = None) -> int:
    """The source's ``worker`` translated literally: ``select { case <-ctx.Done(): return; default: work; Sleep }``.

    It works, but a cancel arriving during the sleep is noticed only after the sleep: up to
    ``interval`` seconds of extra latency (compare :func:`worker`). Returns the number of turns.
    """
    interval = _validate.number("interval", interval, minimum=0)
    clk = as_clock(clock)
    rec = log.record if log is not None else (lambda *a: None)
    rec(name, "created")
    turns = 0
    try:
        while True:
            rec(name, "check")
            i, _, _ = select(Recv(ctx.done()), default=True)
            if i == 0:
                rec(name, "cleanup", "worker stopped")
                return turns
            rec(name, "running")
            if work is not None:
                work(turns)
            turns += 1
            clk.sleep(interval)
    finally:
        rec(name, "exited", f"turns={turns}")


# --- recover wrapper -------------------------------------------------------------------------

def safe_go(fn: Callable[..., Any], *args: Any, on_panic: Callable[[BaseException], Any] | None = None,
            name: str | None = None, log: EventLog | None = None) -> Goroutine:
    """``go func() { defer func() { if r := recover(); r != nil { on_panic(r) } }(); fn(args...) }()``.

    A panic (any ``Exception``) in ``fn`` stops at this goroutine: it is passed to ``on_panic`` and
    becomes the goroutine's result (``handle.result``), so it neither crashes anything nor is lost.
    Without ``on_panic`` the result is the exception itself. Records ``panic``/``recovered`` in ``log``.
    TypeError for non-callables.
    """
    _validate.function("fn", fn)
    if on_panic is not None:
        _validate.function("on_panic", on_panic)
    who = name or getattr(fn, "__name__", "fn")

    def handler(exc: BaseException) -> Any:
        if log is not None:
            log.record(who, "recovered", f"{type(exc).__name__}: {exc}")
        return on_panic(exc) if on_panic is not None else exc

    return spawn(recover(fn, handler=handler), *args, name=who, stacklevel=2)


# --- bounded worker pool ----------------------------------------------------------------------

class Task:
    """A task submitted to a :class:`WorkerPool`: ``result(timeout)``, ``exception``, ``done``."""

    def __init__(self, fn: Callable[..., Any], args: tuple) -> None:
        self.fn = fn
        self.args = args
        self._done = threading.Event()
        self._result: Any = None
        self.exception: BaseException | None = None
        self.worker: str | None = None

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the task; return its value or raise its (recovered) exception; TimeoutError after ``timeout``."""
        timeout = _validate.optional_timeout("timeout", timeout)
        if not self._done.wait(timeout):
            raise TimeoutError(f"task {getattr(self.fn, '__name__', 'fn')} not finished after {timeout} s")
        if self.exception is not None:
            raise self.exception
        return self._result

    def __repr__(self) -> str:
        state = "done" if self.done else "pending"
        return f"<Task {getattr(self.fn, '__name__', 'fn')} {state}>"


class WorkerPool:
    """A bounded goroutine pool (the source's 协程池限制并发数): ``size`` goroutines ranging over a jobs channel.

    ``submit(fn, *args)`` returns a :class:`Task`; it blocks while the queue (capacity ``queue``)
    is full, which is the back-pressure a pool exists for (``timeout`` raises ``TimeoutError``).
    A task's exception is recovered into its Task (``defer recover()`` in the worker), so one bad
    task never kills a worker. ``close()`` stops accepting work; workers finish the queue and exit.
    With ``ctx``, workers also exit when ``ctx.done()`` closes (queued tasks are then dropped,
    their ``result`` raising the context's error). ``peak`` is the most tasks ever running at once.
    """

    def __init__(self, size: int, *, queue: int = 0, ctx: Any = None, name: str = "pool",
                 log: EventLog | None = None) -> None:
        self.size = _validate.integer("size", size, minimum=1)
        queue = _validate.integer("queue", queue, minimum=0)
        self.name = _validate.text("name", name)
        self._jobs = Chan(queue)
        self._ctx = ctx
        self._log = log
        self._lock = threading.Lock()
        self._closed = False
        self.active = 0
        self.peak = 0
        self.completed = 0
        self._workers = [spawn(self._run, i, name=f"{name}-worker-{i}", stacklevel=2) for i in range(self.size)]

    def _run(self, i: int) -> None:
        who = f"{self.name}-worker-{i}"
        rec = self._log.record if self._log is not None else (lambda *a: None)
        rec(who, "created")
        done = self._ctx.done() if self._ctx is not None else None
        idx = -1
        try:
            while True:
                rec(who, "check")
                if done is not None and done.closed:  # ctx first: select alone would pick at random
                    idx, task, ok = 1, None, False
                else:
                    idx, task, ok = select(Recv(self._jobs), Recv(done))
                if idx == 1 or not ok:
                    rec(who, "cleanup", "ctx done" if idx == 1 else "jobs closed")
                    return
                rec(who, "running")
                with self._lock:
                    self.active += 1
                    self.peak = max(self.peak, self.active)
                task.worker = who
                try:
                    task._result = task.fn(*task.args)
                except Exception as exc:  # noqa: BLE001 - defer + recover: the worker survives
                    task.exception = exc
                    rec(who, "recovered", f"{type(exc).__name__}: {exc}")
                finally:
                    with self._lock:
                        self.active -= 1
                        self.completed += 1
                    task._done.set()
        finally:
            if idx == 1:
                self._drop_queued()
            rec(who, "exited")

    def _drop_queued(self) -> None:
        while True:
            task, ok, selected = self._jobs.try_recv()
            if not selected or not ok:
                return
            task.exception = self._ctx.err()
            task._done.set()

    def submit(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None) -> Task:
        """Queue ``fn(*args)``; block while the queue is full (``TimeoutError`` after ``timeout``).

        RuntimeError after ``close()``; TypeError if ``fn`` is not callable.
        """
        _validate.function("fn", fn)
        timeout = _validate.optional_timeout("timeout", timeout)
        if self._closed:
            raise RuntimeError(f"{self.name} is closed")
        task = Task(fn, args)
        try:
            self._jobs.send(task, timeout=timeout)
        except ChanTimeout:
            raise TimeoutError(f"{self.name}: queue full for {timeout} s") from None
        return task

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], timeout: float | None = 30.0) -> list[Any]:
        """Submit ``fn(item)`` for every item and return the results in order (raises the first error)."""
        tasks = [self.submit(fn, item, timeout=timeout) for item in items]
        return [t.result(timeout) for t in tasks]

    def close(self, wait: bool = True, timeout: float | None = 10.0) -> bool:
        """Stop accepting tasks (close the jobs channel); with ``wait``, join the workers. Returns True if all exited."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._jobs.close()
        if not wait:
            return False
        deadline = None if timeout is None else REAL.monotonic() + timeout
        for g in self._workers:
            left = None if deadline is None else max(0.0, deadline - REAL.monotonic())
            if not g.join(left):
                return False
        return True

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<WorkerPool {self.name} size={self.size} active={self.active} peak={self.peak} done={self.completed}>"


# --- leak detector (goleak) ---------------------------------------------------------------------

class GoroutineLeakError(AssertionError):
    """goleak's failure: goroutines still running after the checked block (``report`` has them)."""

    def __init__(self, report: "LeakReport") -> None:
        super().__init__(report.message())
        self.report = report


@dataclass
class LeakReport:
    """What :func:`detect_leaks` found: ``leaks`` (live goroutine handles), ``checked`` (after ``waited`` s)."""

    leaks: list[Goroutine] = field(default_factory=list)
    checked: bool = False
    waited: float = 0.0

    @property
    def ok(self) -> bool:
        return self.checked and not self.leaks

    def message(self) -> str:
        if not self.leaks:
            return "no leaked goroutines"
        lines = [f"found unexpected goroutines: {len(self.leaks)} still running after {self.waited:.2g} s"]
        for g in self.leaks:
            lines.append(f"  goroutine {g.id} [{g.state}]: {g.name}, started at {g.started_at} by {g.created_by}")
        return "\n".join(lines)

    def frame(self):
        """The leaks as a DataFrame: ``id``, ``name``, ``state``, ``started_at``, ``created_by``."""
        import pandas as pd

        return pd.DataFrame([(g.id, g.name, g.state, g.started_at, g.created_by) for g in self.leaks],
                            columns=["id", "name", "state", "started_at", "created_by"])

    def __str__(self) -> str:
        return self.message()


def _wait_for(pred_live: Callable[[], list[Goroutine]], timeout: float) -> tuple[list[Goroutine], float]:
    """Poll ``pred_live`` until it returns no goroutine or ``timeout`` s pass; return the last answer and the
    seconds waited. Goroutines are real threads, so the wait is on the real clock."""
    live: list[Goroutine] = []

    def settled() -> bool:
        live[:] = pred_live()
        return not live

    start = REAL.monotonic()
    poll_until(settled, timeout, interval=0.005, clock=REAL)
    return live, REAL.monotonic() - start


class detect_leaks:
    """goleak for a block: ``with detect_leaks(timeout=0.5) as report: ...``.

    On exit, waits up to ``timeout`` seconds for goroutines started inside the block to finish, then
    fills ``report.leaks`` with those still running (with where they started). With ``raise_=True``
    (default False) raises :class:`GoroutineLeakError` instead of only reporting. Goroutines alive
    before the block are never blamed.
    """

    def __init__(self, timeout: float = 0.5, *, raise_: bool = False) -> None:
        self.timeout = _validate.number("timeout", timeout, minimum=0)
        self.raise_ = bool(raise_)
        self.report = LeakReport()
        self._before: set[int] = set()

    def __enter__(self) -> LeakReport:
        self._before = {g.id for g in running()}
        return self.report

    def __exit__(self, *exc: Any) -> None:
        before = self._before
        live, waited = _wait_for(lambda: [g for g in running() if g.id not in before], self.timeout)
        self.report.leaks = live
        self.report.checked = True
        self.report.waited = waited
        if live and self.raise_ and exc[0] is None:
            raise GoroutineLeakError(self.report)


def verify_none(timeout: float = 1.0, ignore: Iterable[Goroutine] = ()) -> None:
    """goleak's ``VerifyNone``: raise :class:`GoroutineLeakError` if any goroutine (except ``ignore``) is
    still running after ``timeout`` seconds of retrying."""
    timeout = _validate.number("timeout", timeout, minimum=0)
    skip = {g.id for g in ignore}
    live, waited = _wait_for(lambda: [g for g in running() if g.id not in skip], timeout)
    if live:
        raise GoroutineLeakError(LeakReport(live, True, waited))


# --- the leak experiment (a caller that times out on an unbuffered result channel) --------------

def timed_out_request(variant: str, rescue: list[Chan], i: int = 1) -> Goroutine:
    """Go's ``go func(){ ch <- fetch() }(); select { case r := <-ch: ...; case <-timeout: }``, timing out.

    A goroutine fetches; the caller gives up first (deterministically: the fetch answers only after
    the caller's timeout), then:

    * ``leaky``: the fetcher sends on an **unbuffered** channel nobody reads any more: blocked
      forever. Its channel is appended to ``rescue``; receive from it to let the goroutine exit;
    * ``buffered``: the result channel has capacity 1, so the late send succeeds and it exits;
    * ``ctx``: the fetcher selects on the send and ``ctx.done()``; the caller cancels, so it exits.

    Returns the fetcher's goroutine handle. ValueError for an unknown ``variant``.
    """
    from . import context as _context

    _validate.choice("variant", variant, ("leaky", "buffered", "ctx"))

    ctx, cancel = _context.with_cancel(_context.background())
    ch = Chan(1 if variant == "buffered" else 0)
    gave_up = threading.Event()

    def fetch() -> None:
        gave_up.wait(10)  # the downstream answers only after the caller's deadline
        if variant == "ctx":
            from .selectgo import Send

            select(Send(ch, f"result-{i}"), Recv(ctx.done()))
        else:
            ch.send(f"result-{i}")

    g = spawn(fetch, name=f"fetch[{variant}]", stacklevel=2)
    try:
        ch.recv(timeout=0.001)  # the caller's timeout: always hit, since fetch waits for gave_up
    except ChanTimeout:
        pass
    cancel()
    gave_up.set()
    if variant == "leaky":
        rescue.append(ch)
    return g
