# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 01: a bounded worker pool from `go` and `WaitGroup`
#
# Goroutines are cheap, but the things they touch are not: a million goroutines each opening a Redis
# connection is an outage. The standard Go answer is a **bounded worker pool**: start K workers, let them
# pull jobs until none are left, and wait for all of them.
#
# Write `run_pool(jobs, workers, fn)`:
#
# * run `fn(job)` for every job, **exactly once**, with **at most `workers`** running at the same time;
# * start the workers with `go(...)` or `wg.go(...)` and wait for them with a `WaitGroup` (use
#   `wait(timeout=...)` so a bug cannot hang the notebook);
# * return the results **in job order** (`results[i]` is `fn(jobs[i])`), whatever order they finish in;
# * if `fn(job)` raises, store the exception as that job's result and keep going (a Go worker would
#   `recover`);
# * raise `ValueError` if `workers < 1`.
#
# Then run the check cell: it prints `✓ …` when every check passes, otherwise the first failing check and a hint.

# %%
import threading
from hcedu.go import go, WaitGroup


def run_pool(jobs, workers, fn):
    """Run fn(job) for every job on at most `workers` goroutines; return results in job order."""
    ### BEGIN SOLUTION
    if workers < 1:
        raise ValueError(f"workers must be >= 1 (got {workers})")
    jobs = list(jobs)
    results = [None] * len(jobs)
    indexes = iter(range(len(jobs)))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:                      # hand out each job index exactly once
                i = next(indexes, None)
            if i is None:
                return
            try:
                results[i] = fn(jobs[i])
            except Exception as exc:        # defer + recover: one bad job must not kill the pool
                results[i] = exc

    wg = WaitGroup()
    for _ in range(min(workers, len(jobs))):
        wg.go(worker)
    if not wg.wait(timeout=60):
        raise TimeoutError("workers did not finish within 60 s")
    return results
    ### END SOLUTION


# %% [markdown]
# ## Check

# %%
from hcedu.course import check

check.bounded_worker_pool(run_pool)

# %% [markdown]
# **Going further.** Rewrite the pool with a `Chan` of job indexes instead of the lock (chapter 02), and
# think about what changes if jobs arrive over time instead of as a list: who closes the channel, and
# when? In Go, `golang.org/x/sync/errgroup` with `SetLimit(k)` is this pool with error propagation.
