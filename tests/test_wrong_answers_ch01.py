"""Exercise 01 (bounded worker pool): typical wrong solutions are rejected, naming the mistake."""

from __future__ import annotations

import pytest

from hcedu.course import check
from helpers import assert_accepted, assert_rejected
from learner import load, plant, solution_code

pytestmark = pytest.mark.waits  # rejecting a hanging answer waits out its timeout: see the root conftest.py

REF = solution_code("01_bounded_worker_pool")
START = """    wg = WaitGroup()
    for _ in range(min(workers, len(jobs))):
        wg.go(worker)
"""
WAIT = """    if not wg.wait(timeout=60):
        raise TimeoutError("workers did not finish within 60 s")
"""
RUN_JOB = """            try:
                results[i] = fn(jobs[i])
            except Exception as exc:        # defer + recover: one bad job must not kill the pool
                results[i] = exc
"""

WRONG = {
    # "goroutines are cheap": one per job, no bound at all
    "one_goroutine_per_job": ([(START, """    wg = WaitGroup()
    for i in range(len(jobs)):
        wg.go(lambda i=i: results.__setitem__(i, fn(jobs[i])))
""")], ("at most", "workers")),
    # results appended in completion order
    "appends_results": ([("    results = [None] * len(jobs)\n", "    results = []\n"),
                         (RUN_JOB, """            try:
                results.append(fn(jobs[i]))
            except Exception as exc:
                results.append(exc)
""")], ("job order",)),
    # forgetting to wait
    "no_wait": ([(WAIT, "")], ("wait for every worker", "returned while")),
    # swallowing errors: the failed job's slot stays None
    "swallows_errors": ([("                results[i] = exc\n", "                pass\n")], ("failing job",)),
    # no recover: an exception kills the worker and the jobs it would have run
    "no_recover": ([(RUN_JOB, "            results[i] = fn(jobs[i])\n")], ("failing job", "contained")),
    # plain threads, not goroutines: invisible to the runtime (and to the leak detector)
    "plain_threads": ([(START + WAIT, """    threads = [threading.Thread(target=worker) for _ in range(min(workers, len(jobs)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
""")], ("go()", "goroutines")),
    # off-by-one: workers - 1 goroutines (none at all for workers=1)
    "workers_minus_one": ([("    for _ in range(min(workers, len(jobs))):", "    for _ in range(min(workers - 1, len(jobs))):")],
                          ("one worker", "not workers - 1")),
    # no validation: workers=0 starts nobody and returns [None, None]
    "no_validation": ([("""    if workers < 1:
        raise ValueError(f"workers must be >= 1 (got {workers})")
""", "")], ("workers < 1", "ValueError")),
}

# a different correct design: a channel of job indexes instead of the lock (the "going further" task)
ALTERNATIVE = '''
from hcedu.go import Chan, WaitGroup


def run_pool(jobs, workers, fn):
    if workers < 1:
        raise ValueError(f"workers must be >= 1 (got {workers})")
    jobs = list(jobs)
    results = [None] * len(jobs)
    todo = Chan(len(jobs) or 1)
    for i in range(len(jobs)):
        todo.send(i)
    todo.close()

    def worker():
        for i in todo:
            try:
                results[i] = fn(jobs[i])
            except Exception as exc:
                results[i] = exc

    wg = WaitGroup()
    for _ in range(workers):
        wg.go(worker)
    if not wg.wait(timeout=60):
        raise TimeoutError("workers did not finish")
    return results
'''


def _checker(src: str, name: str):
    run_pool = load(src, name)["run_pool"]
    return lambda: check.bounded_worker_pool(run_pool)


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_solution_is_rejected(name):
    edits, mentions = WRONG[name]
    run = _checker(plant(REF, *edits), name)
    assert_rejected(run(), *mentions, runs=5 if name == "no_wait" else 1, check=run)


@pytest.mark.parametrize("src", [REF, ALTERNATIVE], ids=["model", "channel_of_indexes"])
def test_correct_solutions_are_accepted(src):
    assert_accepted(_checker(src, "correct")())
