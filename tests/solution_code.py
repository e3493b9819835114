"""The reference solutions of the exercises, so the wrong-answer suites test (and subclass) the very code the
solution notebooks ship, not a copy of it: :func:`reference` reads one object from a solution's source
(``solutions/src/NN_*.py``), :func:`solution_namespace` runs a stored notebook's solution cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

from hcedu.course.nbbuild import read_source

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions" / "src"


def reference(generator: str, name: str) -> Any:
    """The object ``name`` defined by the first code cell of ``solutions/src/<generator>`` that defines it."""
    cells = read_source(SOLUTIONS / generator)
    for cell in cells:
        if cell.cell_type == "code" and (f"def {name}(" in cell.source or f"class {name}" in cell.source):
            namespace: dict[str, Any] = {}
            exec(compile(cell.source, f"<{generator}: {name}>", "exec"), namespace)
            return namespace[name]
    raise LookupError(f"no code cell of {generator} defines {name!r}")


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
