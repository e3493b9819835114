"""How `make test` treats each folder it is given (tests, notebooks, solutions, exercises) in one pytest run.

* ``exercises/`` holds the generated learner copies: their stubs are meant to be filled in, so their outputs
  are never compared (as ``--nbval-lax`` would), while ``notebooks/`` and ``solutions/`` are (``--nbval``).
  One run instead of two lets the workers share all the work.
* The longest unit goes first. ``--dist loadfile`` keeps each file on one worker and ``make test`` passes
  ``--no-loadscope-reorder``, so files are handed out in the order below: the browser test (about 3 minutes
  of JupyterLab running chapters, mostly waiting on the kernel) starts at once instead of last, where it
  alone would decide when the run ends.
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
_background = False


def pytest_collectstart(collector):
    try:
        from nbval.plugin import IPyNbFile
    except ImportError:  # nbval not installed: nothing collects notebooks
        return
    if isinstance(collector, IPyNbFile) and collector.path.parent.name == LAX:
        collector.compare_outputs = False


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Browser tests first; otherwise the collection order (pytest's own, stable sort)."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is None)


def pytest_runtest_setup(item):
    """A worker (not a plain ``pytest`` run) turns background before its first test that is not a browser test."""
    global _background
    if _background or "PYTEST_XDIST_WORKER" not in os.environ or item.get_closest_marker("browser") is not None:
        return
    _background = True
    if hasattr(os, "nice"):
        os.nice(BACKGROUND_NICE)
