"""How `make test` treats each folder it is given (tests, notebooks, solutions, exercises) in one pytest run.

* ``exercises/`` holds the generated learner copies: their stubs are meant to be filled in, so their outputs
  are never compared (as ``--nbval-lax`` would), while ``notebooks/`` and ``solutions/`` are (``--nbval``).
  One run instead of two lets the workers share all the work.
* The longest unit goes first. ``--dist loadfile`` keeps each file on one worker and ``make test`` passes
  ``--no-loadscope-reorder``, so files are handed out in the order below: the browser test (about 3 minutes
  of JupyterLab running chapters, mostly waiting on the kernel) starts at once instead of last, where it
  alone would decide when the run ends. Files marked ``waits`` (mostly timeouts, little CPU) are spread
  evenly among the first two thirds of the rest, so the workers never all wait at once on a CPU-bound run, and
  the run ends on short CPU-bound files that the workers share out evenly.
* The browser test is the foreground. It checks what a learner sees (a slider redraws its chart within 1 s,
  widgets restore on open), so JupyterLab, its kernels and Chromium must not share the CPU on equal terms with
  the rest of the suite. Every other worker lowers its own scheduling priority (``os.nice``, inherited by its
  kernels, servers and subprocesses) before its first test that is not a browser test; the worker that runs
  the browser test does so once that test is done. The rest of the suite then fills the cores the browser
  test leaves idle (most of its time is spent waiting on the kernel) instead of slowing it down.
"""

from __future__ import annotations

import os

import pytest

LAX = "exercises"
BACKGROUND_NICE = 10   # CFS weight 110 against 1024 at nice 0: the browser test's processes come first
# Waiting files go among the first two thirds of the others: one left near the end (chapter 06's wrong answers,
# 19 s of waiting) kept its worker busy while the other two ran out of work, the cores ~1.3 busy for ~30 s.
WAITS_SPAN = 2 / 3
_background = False


def pytest_collectstart(collector):
    try:
        from nbval.plugin import IPyNbFile
    except ImportError:  # nbval not installed: nothing collects notebooks
        return
    if isinstance(collector, IPyNbFile) and collector.path.parent.name == LAX:
        collector.compare_outputs = False


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "waits: a file whose tests mostly wait (timeouts that prove a hang or a "
                                       "leak, hung servers) rather than use the CPU; spread out among the others")


def _file(item) -> str:
    return item.nodeid.split("::")[0]


def pytest_collection_modifyitems(items):
    """Browser tests first; then the files marked ``waits`` spread evenly among the first :data:`WAITS_SPAN` of
    the other files, each file kept whole and otherwise in pytest's collection order.

    ``make test`` is CPU-bound on 2 cores, except where every worker waits at once: the wrong-answer files of
    chapters 01-07 (each rejection of a hanging answer waits out a timeout) are neighbours in collection order,
    so the three workers took them together and the machine sat idle for about 20 s (measured with
    tools/suite_timeline.py and /proc/stat). Spread out, one worker waits while the others compute."""
    browser = [i for i in items if i.get_closest_marker("browser") is not None]
    files: dict[str, list] = {}
    for item in items:
        if item.get_closest_marker("browser") is None:
            files.setdefault(_file(item), []).append(item)
    waiting = [f for f, its in files.items() if its[0].get_closest_marker("waits") is not None]
    others = [f for f in files if f not in waiting]
    n, m = len(others), len(waiting)
    span = n * WAITS_SPAN
    after = [round((j + 1) * span / (m + 1)) for j in range(m)]   # the j-th waiting file follows this many others
    order: list[str] = []
    j = 0
    for k in range(n + 1):
        while j < m and after[j] == k:
            order.append(waiting[j])
            j += 1
        if k < n:
            order.append(others[k])
    items[:] = browser + [i for f in order for i in files[f]]


def pytest_runtest_setup(item):
    """A worker (not a plain ``pytest`` run) turns background before its first test that is not a browser test."""
    global _background
    if _background or "PYTEST_XDIST_WORKER" not in os.environ or item.get_closest_marker("browser") is not None:
        return
    _background = True
    if hasattr(os, "nice"):
        os.nice(BACKGROUND_NICE)
