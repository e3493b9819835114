"""Course plumbing: chapter set-up and tear-down, exercises, checkers, the interview bank and drill.

A chapter notebook starts with ``ks = setup("08")`` and ends with ``finish(ks)``.
"""

from __future__ import annotations

import random
import threading
from typing import Any

__all__ = ["setup", "finish", "drill", "mock_interview", "progress_chart", "LeakError"]


class LeakError(RuntimeError):
    """A chapter ended with goroutines still running (they would keep the kernel busy)."""


def setup(chapter: str | int, *, seed: int = 0, redis: bool = True):
    """Prepare a chapter: seed ``random`` and numpy, set plotting defaults, and return a clean
    :class:`hcedu.backend.Keyspace` named ``chNN`` (or None with ``redis=False``).

    Raises :class:`hcedu.backend.BackendUnavailable` (with the fix) if ``REDIS_URL`` is set but unreachable.
    """
    from .chapters import chapter as lookup

    number = lookup(chapter).number
    random.seed(seed)
    try:
        import numpy as np
        np.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    try:
        import matplotlib
        matplotlib.rcParams.update({"figure.figsize": (7.5, 3.6), "figure.dpi": 90, "axes.grid": True,
                                    "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False})
    except ImportError:  # pragma: no cover
        pass
    if not redis:
        return None
    from ..backend import Keyspace
    ks = Keyspace(f"ch{number}")
    ks.cleanup()
    return ks


def _live_goroutines() -> list[Any]:
    try:
        from ..go.goroutine import running
    except ImportError:
        return []
    return list(running())


def finish(keyspace=None, timeout: float = 5.0) -> None:
    """End a chapter: wait up to ``timeout`` s for goroutines to finish, then raise :class:`LeakError`
    listing any still running (with where they started); delete the chapter's Redis keys and
    print a one-line confirmation.
    """
    from ..clock import REAL, poll_until

    live: list = []

    def settled() -> bool:
        live[:] = _live_goroutines()
        return not live

    poll_until(settled, timeout, interval=0.02, clock=REAL)   # goroutines are threads: real time
    if keyspace is not None:
        keyspace.cleanup()
    if live:
        where = "\n".join(f"  {g!r}" for g in live)
        raise LeakError(f"{len(live)} goroutine(s) still running at the end of the chapter:\n{where}")
    stray = [t.name for t in threading.enumerate() if t.name.startswith("hcedu-") and not t.daemon]
    if stray:
        raise LeakError(f"non-daemon hcedu threads still running: {', '.join(sorted(stray))}")
    print("✓ chapter finished: no goroutine left running, chapter keys cleaned")


def drill(chapter: str | int):
    """The interview drill for a chapter, as a notebook widget (see :mod:`hcedu.course.quiz`)."""
    from .quiz import drill as _drill
    return _drill(chapter)


def mock_interview(n: int = 5, seed: int | None = None, minutes: float | None = 20, **kwargs: Any):
    """A timed mock interview across chapters, as a notebook widget (see :mod:`hcedu.course.mock`)."""
    from .mock import mock_interview as _mock
    return _mock(n, seed, minutes, **kwargs)


def progress_chart(**kwargs: Any):
    """Your interview cards per Leitner box per chapter, and what is due (see :func:`hcedu.course.quiz.progress_chart`)."""
    from .quiz import progress_chart as _chart
    return _chart(**kwargs)
