"""The model answer of an exercise, loaded from its solution notebook, so that the wrong-answer suites test
against the very code the solution notebook ships (and subclass it for the wrong variants)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def solution_namespace(notebook: str) -> dict[str, Any]:
    """Run every code cell of ``solutions/<notebook>`` that holds a ``### BEGIN SOLUTION`` region and return
    the names it defines."""
    nb = nbformat.read(ROOT / "solutions" / notebook, as_version=4)
    ns: dict[str, Any] = {"__name__": f"solution_{Path(notebook).stem}"}
    cells = [c.source for c in nb.cells if c.cell_type == "code" and "### BEGIN SOLUTION" in c.source]
    assert cells, f"{notebook} has no solution cell"
    for source in cells:
        exec(compile(source, f"solutions/{notebook}", "exec"), ns)
    return ns
