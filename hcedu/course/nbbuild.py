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


NAV_TAG = "hcedu-nav"


def _link(target: Path, here: Path) -> str:
    import os
    return os.path.relpath(target, here.parent).replace(os.sep, "/")


def nav_cell(path: str | Path) -> NotebookNode | None:
    """The navigation footer a course notebook ends with (tagged ``hcedu-nav``): previous and next chapter,
    the chapter's exercise and where its worked solution is; ``None`` for a notebook outside the course."""
    import re

    from .chapters import CHAPTERS

    path = Path(path)
    m = re.match(r"^(\d\d)_", path.stem)
    if not m or path.parent.name not in ("notebooks", "solutions"):
        return None
    root, number = path.parent.parent, m.group(1)
    if number not in CHAPTERS:
        return None
    chapter_nb = root / CHAPTERS[number].notebook
    solutions = sorted((root / "solutions").glob(f"{number}_*.ipynb")) or sorted((root / "solutions" / "src").glob(f"{number}_*.py"))
    exercise = f"{solutions[0].stem}.ipynb" if solutions else None
    if path.parent.name == "notebooks":
        numbers = list(CHAPTERS)
        i = numbers.index(number)
        parts = []
        if i > 0:
            c = CHAPTERS[numbers[i - 1]]
            parts.append(f"← [{c.number} · {c.title}]({_link(root / c.notebook, path)})")
        if exercise:
            parts.append(f"exercise: [{exercise}]({_link(root / 'exercises' / exercise, path)}) "
                         f"(worked solution: [{exercise}]({_link(root / 'solutions' / exercise, path)}))")
        if i + 1 < len(numbers):
            c = CHAPTERS[numbers[i + 1]]
            parts.append(f"[{c.number} · {c.title}]({_link(root / c.notebook, path)}) →")
        text = "---\n**Where next** · " + " · ".join(parts)
    else:
        text = (f"---\n**Chapter:** [{number} · {CHAPTERS[number].title}]({_link(chapter_nb, path)}) · this is the "
                f"worked solution of [exercises/{path.name}]({_link(root / 'exercises' / path.name, path)})")
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = [NAV_TAG]
    return cell


def exercise_nav(cell: NotebookNode, name: str) -> NotebookNode:
    """The footer of a solution notebook, rewritten for the exercise generated from it."""
    import re
    m = re.search(r"\*\*Chapter:\*\* (\[[^\]]*\]\([^)]*\))", cell.source)
    chapter = m.group(1) if m else ""
    cell.source = (f"---\n**Chapter:** {chapter} · stuck? Try first, then compare with the worked solution "
                   f"[solutions/{name}](../solutions/{name})")
    return cell


def cells_for(path: str | Path, cells: Iterable[NotebookNode]) -> list[NotebookNode]:
    """The cells a generator's notebook holds: its own, then the navigation footer."""
    out = list(cells)
    nav = nav_cell(path)
    return out + [nav] if nav is not None else out


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
    """Write a fresh, unexecuted notebook with the course kernelspec to ``path`` (with its navigation footer)."""
    return write(new_notebook(cells_for(path, cells)), path)


def rebuild_keeping_outputs(path: str | Path, cells: Iterable[NotebookNode]) -> bool:
    """Rewrite ``path`` from its generator's ``cells`` when only markdown changed: every code cell (source
    and tags, in order) must equal the stored one, whose outputs and execution counts are kept. Returns
    False, writing nothing, when a code cell differs: then the notebook must be executed again."""
    path = Path(path)
    stored = nbformat.read(path, as_version=4)
    fresh = new_notebook(cells_for(path, cells))
    old_code = [c for c in stored.cells if c.cell_type == "code"]
    new_code = [c for c in fresh.cells if c.cell_type == "code"]
    key = lambda c: (c.source, c.get("metadata", {}).get("tags", []))  # noqa: E731
    if [key(c) for c in old_code] != [key(c) for c in new_code]:
        return False
    for old, new in zip(old_code, new_code):
        new.outputs, new.execution_count = old.outputs, old.execution_count
    fresh.metadata = stored.metadata
    write(fresh, path)
    return True
