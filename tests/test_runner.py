"""hcedu.lab.runner: the one way the lab starts concurrent workers (goroutines under a WaitGroup)."""

import threading

import pytest

from hcedu.go import running
from hcedu.lab.runner import Finished, run_workers


def test_every_worker_runs_once_and_results_keep_worker_order():
    done = run_workers(lambda i: i * i, 8, name="square")
    assert done.results == [i * i for i in range(8)] and done.errors == []
    assert repr(done) == "Finished(workers=8, errors=0)"


def test_errors_are_returned_in_worker_order_not_raised_or_printed(capfd):
    def worker(i):
        if i in (3, 1):
            raise ValueError(f"worker {i}")
        return i

    done = run_workers(worker, 5)
    assert [str(e) for e in done.errors] == ["worker 1", "worker 3"]
    assert done.results == [0, None, 2, None, 4]
    assert capfd.readouterr().err == ""
    with pytest.raises(ValueError, match="worker 1"):
        done.raise_first()


def test_workers_are_goroutines_named_after_the_batch():
    seen, release = [], threading.Event()

    def worker(i):
        if i == 0:
            seen.extend(g.name for g in running())
            release.set()
        else:
            release.wait(5)

    run_workers(worker, 3, name="buyer", start_together=True)
    assert {"buyer-0", "buyer-1", "buyer-2"} <= set(seen)


def test_start_together_holds_every_body_until_all_goroutines_exist():
    started = []
    lock = threading.Lock()

    def worker(i):
        with lock:
            started.append(i)
            return len(started)

    # with the barrier no body runs before all are spawned; each body still sees the others start
    done = run_workers(worker, 6, start_together=True)
    assert sorted(done.results) == list(range(1, 7))


def test_a_worker_that_never_returns_is_named_by_the_timeout():
    stop = threading.Event()
    try:
        with pytest.raises(TimeoutError, match="1 of 2 workers were still running after 0.2 s"):
            run_workers(lambda i: stop.wait(10) if i else None, 2, name="stuck", timeout=0.2)
    finally:
        stop.set()


@pytest.mark.parametrize("kwargs, err, word", [
    ({"worker": 3, "n": 1}, TypeError, "worker"),
    ({"worker": print, "n": -1}, ValueError, "n"),
    ({"worker": print, "n": 1.5}, TypeError, "n"),
    ({"worker": print, "n": 1, "timeout": -1}, ValueError, "timeout"),
])
def test_bad_input_names_the_argument(kwargs, err, word):
    with pytest.raises(err, match=word):
        run_workers(**kwargs)


def test_finished_is_frozen():
    with pytest.raises(AttributeError):
        Finished([], []).results = [1]
