"""Loading an exercise's model answer as learner code, and planting a learner's mistake in it.

The wrong-answer suites (``tests/test_wrong_answers_chNN.py``) start from the solution notebook's code
(its source ``solutions/src/NN_*.py``), apply a textual edit a learner could make, and run it as
*learner* code: compiled under a file name outside ``hcedu``, so the checker reports its errors as the
learner's, as it would for a notebook cell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hcedu.course.nbbuild import read_source

ROOT = Path(__file__).resolve().parents[1]


def solution_code(stem: str, index: int = 0) -> str:
    """The source of the ``index``-th code cell of ``solutions/src/<stem>.py`` (the model answer)."""
    cells = [c for c in read_source(ROOT / "solutions" / "src" / f"{stem}.py") if c.cell_type == "code"]
    return cells[index].source


def plant(src: str, *edits: tuple[str, str]) -> str:
    """Apply ``(old, new)`` text edits, each of which must match exactly once (so a change to the model
    answer cannot silently turn a planted bug into a no-op)."""
    for old, new in edits:
        n = src.count(old)
        assert n == 1, f"edit target found {n} times, want once: {old!r}"
        src = src.replace(old, new)
    return src


def load(src: str, name: str, **names: Any) -> dict[str, Any]:
    """Execute ``src`` as learner code (a notebook cell named ``name``) with ``names`` predefined, and
    return its namespace."""
    ns: dict[str, Any] = {"__name__": f"learner_{name}", **names}
    exec(compile(src, f"<learner {name}>", "exec"), ns)
    return ns
