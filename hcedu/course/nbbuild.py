"""Write chapter notebooks from a short Python generator script (``notebooks/src/NN_name.py``).

Keeping the notebook's source as a script makes it reviewable in a diff and re-generatable; the
executed ``.ipynb`` (with outputs) is what learners open and what nbval compares.

    from hcedu.course.nbbuild import md, code, build
    build("notebooks/02_channels.ipynb", [md("# Channels"), code("from hcedu.go import Chan")])

then ``hcedu execute notebooks/02_channels.ipynb`` stores the outputs.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Iterable

import nbformat
from nbformat import NotebookNode

__all__ = ["md", "code", "build", "KERNELSPEC", "write", "IGNORE_OUTPUT", "IGNORE_OUTPUT_TAG"]

KERNELSPEC = {"name": "hcedu", "display_name": "hcedu (Python 3)", "language": "python"}


def _clean(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def md(text: str) -> NotebookNode:
    """A markdown cell (the text is dedented and stripped)."""
    return nbformat.v4.new_markdown_cell(_clean(text))


#: A generator marks a measured cell by starting it with this line; the notebook gets nbval's cell tag
#: instead, so the learner sees the code, not the test plumbing.
IGNORE_OUTPUT = "# NBVAL_IGNORE_OUTPUT"
IGNORE_OUTPUT_TAG = "nbval-ignore-output"


def code(source: str) -> NotebookNode:
    """A code cell (the source is dedented and stripped). A first line ``# NBVAL_IGNORE_OUTPUT`` becomes the
    cell tag ``nbval-ignore-output`` (nbval does not compare the cell's output; shown only in the tag bar)."""
    text = _clean(source)
    first, _, rest = text.partition("\n")
    if first.strip() == IGNORE_OUTPUT:
        cell = nbformat.v4.new_code_cell(rest.strip("\n"))
        cell.metadata["tags"] = [IGNORE_OUTPUT_TAG]
        return cell
    return nbformat.v4.new_code_cell(text)


def new_notebook(cells: Iterable[NotebookNode]) -> NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"  # stable ids keep diffs small
    nb.metadata = {"kernelspec": dict(KERNELSPEC),
                   "language_info": {"name": "python"}}
    return nb


def write(nb: NotebookNode, path: str | Path) -> Path:
    """Write ``nb`` deterministically (sorted keys, one-space indent, trailing newline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = nbformat.writes(nb, version=4)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return path


def build(path: str | Path, cells: Iterable[NotebookNode]) -> Path:
    """Write a fresh, unexecuted notebook with the course kernelspec to ``path``."""
    return write(new_notebook(cells), path)
