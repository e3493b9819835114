"""The reference solutions of the exercises, loaded from their generators (``solutions/src/NN_*.py``), so the
wrong-answer suites test the very code the solution notebooks ship, not a copy of it."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions" / "src"


def reference(generator: str, name: str) -> Any:
    """The object ``name`` defined by the first code cell of ``solutions/src/<generator>.py`` that defines it."""
    cells = runpy.run_path(str(SOLUTIONS / generator))["cells"]
    for cell in cells:
        if cell.cell_type == "code" and (f"def {name}(" in cell.source or f"class {name}" in cell.source):
            namespace: dict[str, Any] = {}
            exec(compile(cell.source, f"<{generator}: {name}>", "exec"), namespace)
            return namespace[name]
    raise LookupError(f"no code cell of {generator} defines {name!r}")
