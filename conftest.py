"""How `make test` treats each folder it is given (tests, notebooks, solutions, exercises) in one pytest run.

* ``exercises/`` holds the generated learner copies: their stubs are meant to be filled in, so their outputs
  are never compared (as ``--nbval-lax`` would), while ``notebooks/`` and ``solutions/`` are (``--nbval``).
  One run instead of two lets the workers share all the work.
* The longest unit goes first. ``--dist loadfile`` keeps each file on one worker and ``make test`` passes
  ``--no-loadscope-reorder``, so files are handed out in the order below: the browser test (about 3 minutes
  of JupyterLab running chapters, mostly waiting on the kernel) starts at once instead of last, where it
  alone would decide when the run ends.
"""

from __future__ import annotations

import pytest

LAX = "exercises"


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
