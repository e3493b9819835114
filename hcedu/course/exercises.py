"""Exercises from one source (COURSE.md §7): ``solutions/NN_*.ipynb`` -> ``exercises/NN_*.ipynb``.

In a solution notebook, the learner's part sits inside a function body between the marker lines
``### BEGIN SOLUTION`` and ``### END SOLUTION``. The generated exercise replaces each region with a
stub that raises ``NotImplementedError`` (same indentation), clears every output, and is otherwise
identical, so an unsolved exercise still runs top to bottom and its checker says "not solved yet".

Invariants: generation is deterministic (same solution -> same bytes); a region at module level
(indentation 0) or an unbalanced marker is an :class:`ExerciseError` naming the file and cell.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from .nbbuild import NAV_TAG, exercise_nav, write

__all__ = ["ExerciseError", "strip_solutions", "build_exercise", "build_all", "STUB"]

BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
STUB = 'raise NotImplementedError("exercise: write your solution here")'


class ExerciseError(ValueError):
    """A solution notebook whose solution markers are malformed."""


def strip_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """Replace every solution region in ``source``; return (new source, regions replaced)."""
    out: list[str] = []
    inside: str | None = None
    regions = 0
    for lineno, line in enumerate(source.splitlines(), 1):
        if inside is None:
            m = BEGIN.match(line)
            if m:
                indent = m.group(1)
                if not indent:
                    raise ExerciseError(f"{where}, line {lineno}: a solution region must sit inside a function "
                                        "body (indented), so the unsolved exercise still runs")
                inside = indent
                regions += 1
                out.append(f"{indent}# YOUR CODE HERE")
                out.append(f"{indent}{STUB}")
            elif END.match(line):
                raise ExerciseError(f"{where}, line {lineno}: '### END SOLUTION' without a BEGIN")
            else:
                out.append(line)
        elif END.match(line):
            inside = None
        elif BEGIN.match(line):
            raise ExerciseError(f"{where}, line {lineno}: nested '### BEGIN SOLUTION'")
    if inside is not None:
        raise ExerciseError(f"{where}: '### BEGIN SOLUTION' without an END")
    return "\n".join(out), regions


def build_exercise(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return the exercise notebook generated from a solution notebook."""
    nb = copy.deepcopy(solution)
    total = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source, n = strip_solutions(cell.source, f"{name}, cell {i}")
            total += n
            cell.outputs = []
            cell.execution_count = None
        cell.get("metadata", {}).pop("execution", None)
        if cell.cell_type == "markdown" and NAV_TAG in cell.get("metadata", {}).get("tags", []):
            exercise_nav(cell, Path(name).name)
    if total == 0:
        raise ExerciseError(f"{name}: no '### BEGIN SOLUTION' region; every solution notebook needs one")
    stem = Path(name).stem
    if re.match(r"^\d\d_", stem):  # `hcedu grade` reads which exercise a submitted copy is from here
        nb.metadata["hcedu"] = {"chapter": stem[:2], "exercise": stem}
    return nb


def build_all(root: str | Path = ".", check: bool = False) -> list[Path]:
    """Regenerate ``exercises/`` from ``solutions/`` under ``root``.

    Returns the exercise paths that were stale (with ``check=True`` nothing is written; stale
    includes exercises whose solution no longer exists).
    """
    root = Path(root)
    sol_dir, ex_dir = root / "solutions", root / "exercises"
    stale: list[Path] = []
    expected: set[str] = set()
    for sol in sorted(sol_dir.glob("*.ipynb")):
        target = ex_dir / sol.name
        expected.add(sol.name)
        nb = build_exercise(nbformat.read(sol, as_version=4), str(sol.relative_to(root)))
        text = nbformat.writes(nb, version=4)
        text = text if text.endswith("\n") else text + "\n"
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != text:
            stale.append(target)
            if not check:
                write(nb, target)
    for ex in sorted(ex_dir.glob("*.ipynb")):
        if ex.name not in expected:
            stale.append(ex)
            if not check:
                ex.unlink()
    return stale
