"""Checker for exercise 01: a bounded worker pool built from ``go`` and ``WaitGroup``."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from . import Verdict, run_checks

__all__ = ["bounded_worker_pool"]

LIMIT = 10.0  # seconds any single call of the learner's pool may take
GRACE = 1.0   # a pool that does not wait returns within milliseconds of starting its workers


def _call(run_pool: Callable[..., Any], *args: Any) -> Any:
    """Run the learner's pool on a goroutine so a deadlock fails the check instead of hanging the notebook."""
    from ...go.goroutine import spawn

    g = spawn(run_pool, *args, report=False, name="check01-run_pool")
    if not g.join(LIMIT):
        raise AssertionError(f"run_pool did not return within {LIMIT:g} s (does every worker exit? "
                             f"does wait() have a timeout?)")
    if g.exception is not None:
        raise g.exception
    return g.result


class _Probe:
    """A job function that records who ran which job, how many ran at once, and on which threads."""

    def __init__(self, delay: float = 0.0, fail_on: frozenset = frozenset()) -> None:
        self.lock = threading.Lock()
        self.calls: dict[Any, int] = {}
        self.active = 0
        self.peak = 0
        self.threads: set[str] = set()
        self.delay = delay
        self.fail_on = fail_on

    def __call__(self, job: Any) -> Any:
        with self.lock:
            self.calls[job] = self.calls.get(job, 0) + 1
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.threads.add(threading.current_thread().name)
        try:
            if self.delay:
                time.sleep(self.delay)
            if job in self.fail_on:
                raise ValueError(f"job {job} failed")
            return job * job
        finally:
            with self.lock:
                self.active -= 1


def bounded_worker_pool(run_pool: Callable[[Any, int, Callable[[Any], Any]], list]) -> Verdict:
    """Check ``run_pool(jobs, workers, fn) -> list``: every job runs exactly once on at most ``workers``
    goroutines at a time, results come back in job order, a failing job's slot holds its exception without
    stopping the others, bad input raises ``ValueError``, and no worker goroutine outlives the call."""
    from ...go.goroutine import running

    def results_in_job_order() -> None:
        # 4 jobs on 4 workers finishing in reverse order: job i waits until job i+1 is done
        done = [threading.Event() for _ in range(4)]

        def backwards(job: int) -> int:
            if job < 3:
                done[job + 1].wait(2.0)
            done[job].set()
            return job * job

        got = _call(run_pool, [0, 1, 2, 3], 4, backwards)
        assert not (isinstance(got, list) and None in got), (
            f"run_pool returned {got!r}: some jobs had not finished yet (wait for every worker before returning)")
        assert got == [0, 1, 4, 9], (f"jobs finishing in the order 3, 2, 1, 0 came back as {got!r}, want "
                                     f"[0, 1, 4, 9]: results must follow job order, not finishing order")
        got = _call(run_pool, list(range(20)), 4, _Probe())
        want = [i * i for i in range(20)]
        assert got == want, f"expected {want[:6]}…, got {got if not isinstance(got, list) else got[:6]}…"

    def each_job_exactly_once() -> None:
        probe = _Probe()
        _call(run_pool, list(range(50)), 3, probe)
        wrong = {j: n for j, n in probe.calls.items() if n != 1}
        missing = [j for j in range(50) if j not in probe.calls]
        assert not missing, f"jobs {missing[:5]} never ran"
        assert not wrong, f"jobs ran more than once: {dict(list(wrong.items())[:5])}"

    def bounded_and_concurrent() -> None:
        probe = _Probe(delay=0.02)
        _call(run_pool, list(range(16)), 4, probe)
        assert probe.peak <= 4, f"{probe.peak} jobs ran at once with workers=4"
        assert probe.peak >= 2, "jobs never overlapped: the pool runs them one by one"

    def runs_on_goroutines() -> None:
        probe = _Probe(delay=0.005)
        _call(run_pool, list(range(12)), 3, probe)
        not_go = sorted(t for t in probe.threads if not t.startswith("hcedu-goroutine-"))
        assert not not_go, f"jobs ran on threads not started with go(): {not_go}"
        assert len(probe.threads) <= 3 + 1, (
            f"jobs ran on {len(probe.threads)} goroutines for workers=3: start K workers, not one per job")

    def waits_for_every_job() -> None:
        # job 5 blocks until the checker lets it go: a pool that returns first has not waited for it
        gate, started = threading.Event(), threading.Event()

        def fn(job: Any) -> Any:
            if job == 5:
                started.set()
                gate.wait(LIMIT)
            return job * job

        from ...go.goroutine import spawn
        g = spawn(run_pool, list(range(8)), 2, fn, report=False, name="check01-run_pool")
        try:
            assert started.wait(LIMIT), "job 5 never started"
            returned_early = g.join(GRACE)  # a correct pool is still waiting for job 5 here
        finally:
            gate.set()
        assert g.join(LIMIT), f"run_pool did not return within {LIMIT:g} s after its last job finished"
        assert not returned_early, (
            "run_pool returned while job 5 was still running: wait for every worker before returning")
        if g.exception is not None:
            raise g.exception
        assert g.result == [i * i for i in range(8)], f"expected the 8 squares, got {g.result!r}"

    def no_worker_outlives_the_call() -> None:
        probe = _Probe(delay=0.002)
        _call(run_pool, list(range(10)), 3, probe)
        left = [g for g in running() if g.thread_name in probe.threads]
        assert not left, f"{len(left)} worker goroutine(s) still running after run_pool returned (wait for them)"

    def failing_job_is_contained() -> None:
        probe = _Probe(fail_on=frozenset({3, 7}))
        got = _call(run_pool, list(range(10)), 2, probe)
        assert isinstance(got, list) and len(got) == 10, f"expected 10 results, got {got!r}"
        assert isinstance(got[3], ValueError) and isinstance(got[7], ValueError), (
            f"slots 3 and 7 should hold the ValueError each job raised, got {got[3]!r} and {got[7]!r}")
        assert [got[i] for i in (0, 1, 2, 4, 9)] == [0, 1, 4, 16, 81], "the other jobs must still run"

    def edge_cases() -> None:
        assert _call(run_pool, [], 4, _Probe()) == [], "no jobs -> []"
        assert _call(run_pool, [5], 8, _Probe()) == [25], "more workers than jobs must still work"
        got = _call(run_pool, [1, 2, 3], 1, _Probe())
        assert got == [1, 4, 9], f"workers=1 returned {got!r}, want [1, 4, 9] (one worker runs them all)"
        for bad in (0, -1):
            try:
                _call(run_pool, [1, 2], bad, _Probe())
            except ValueError:
                continue
            raise AssertionError(f"workers={bad} should raise ValueError")

    return run_checks("bounded worker pool", [
        ("results come back in job order", results_in_job_order,
         "write each result into results[i] for job i instead of appending"),
        ("every job runs exactly once", each_job_exactly_once,
         "hand out job indexes under a lock (or through a channel) so two workers never take the same one"),
        ("at most `workers` jobs at once, and they overlap", bounded_and_concurrent,
         "start exactly `workers` goroutines, each looping over jobs until none are left"),
        ("jobs run on goroutines started with go()", runs_on_goroutines,
         "use go(...) or wg.go(...) to start the workers"),
        ("run_pool returns only after every job finished", waits_for_every_job,
         "wg.wait(timeout=...) before returning: forgetting to wait returns half-filled results"),
        ("no worker outlives run_pool", no_worker_outlives_the_call, "wg.wait(timeout=...) before returning"),
        ("a failing job is contained", failing_job_is_contained,
         "catch the exception inside the worker and store it as that job's result"),
        ("edge cases: no jobs, few jobs, one worker, workers < 1", edge_cases,
         "validate workers >= 1 first; start exactly `workers` goroutines (not workers - 1)"),
    ])
