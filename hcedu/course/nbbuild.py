"""Build the course notebooks from their sources: jupytext percent files (``notebooks/src/NN_name.py``,
``solutions/src/NN_name.py``).

A source is a plain Python file that JupyterLab (with jupytext) and editors open as a notebook and that diffs
line by line: ``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell (its lines commented),
``# %% tags=["nbval-ignore-output"]`` gives a cell tags. :func:`read_source` turns it into the notebook's cells
and ``hcedu build`` (:func:`build_sources`) writes ``notebooks/NN_name.ipynb`` with the course kernelspec, the
navigation footer and the generated text (chapter 00's map); then ``hcedu execute notebooks/NN_name.ipynb``
stores the outputs nbval compares. When only markdown changed, ``hcedu build`` keeps the stored outputs.

The cell helpers still build notebooks from code (the tests use them)::

    from hcedu.course.nbbuild import md, code, build
    build("notebooks/02_channels.ipynb", [md("# Channels"), code("from hcedu.go import Chan")])
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Iterable

import nbformat
from nbformat import NotebookNode

__all__ = ["md", "code", "build", "KERNELSPEC", "write", "IGNORE_OUTPUT", "IGNORE_OUTPUT_TAG", "SOURCE_FORMAT",
           "GENERATED", "chapter_map", "read_source", "notebook_for", "sources", "select_sources", "build_source",
           "build_sources"]

KERNELSPEC = {"name": "hcedu", "display_name": "hcedu (Python 3)", "language": "python"}


def _clean(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


#: A source may mark a measured cell by starting it with this line; the notebook gets nbval's cell tag
#: instead, so the learner sees the code, not the test plumbing.
IGNORE_OUTPUT = "# NBVAL_IGNORE_OUTPUT"
IGNORE_OUTPUT_TAG = "nbval-ignore-output"


def _cell(cell_type: str, text: str, tags: Iterable[str] = ()) -> NotebookNode:
    """A cell as the notebook holds it: a code cell whose first line is ``# NBVAL_IGNORE_OUTPUT`` loses that
    line and gets the tag ``nbval-ignore-output`` instead."""
    tags = list(tags)
    if cell_type == "code":
        first, _, rest = text.partition("\n")
        if first.strip() == IGNORE_OUTPUT:
            text = rest.strip("\n")
            tags += [] if IGNORE_OUTPUT_TAG in tags else [IGNORE_OUTPUT_TAG]
        cell = nbformat.v4.new_code_cell(text)
    elif cell_type == "markdown":
        cell = nbformat.v4.new_markdown_cell(text)
    else:
        raise ValueError(f"cell_type must be 'code' or 'markdown' (got {cell_type!r})")
    if tags:
        cell.metadata["tags"] = tags
    return cell


def md(text: str) -> NotebookNode:
    """A markdown cell (the text is dedented and stripped)."""
    return _cell("markdown", _clean(text))


def code(source: str) -> NotebookNode:
    """A code cell (the source is dedented and stripped). A first line ``# NBVAL_IGNORE_OUTPUT`` becomes the
    cell tag ``nbval-ignore-output`` (nbval does not compare the cell's output; shown only in the tag bar)."""
    return _cell("code", _clean(source))


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
    """The cells a notebook holds: its source's, then the navigation footer."""
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
    """Rewrite ``path`` from its source's ``cells`` when only markdown changed: every code cell (source
    and tags, in order) must equal the stored one, whose outputs and execution counts are kept. Returns
    False, writing nothing, when a code cell differs: then the notebook must be executed again."""
    path = Path(path)
    stored = nbformat.read(path, as_version=4)
    fresh = new_notebook(cells_for(path, cells))
    old_code = [c for c in stored.cells if c.cell_type == "code"]
    new_code = [c for c in fresh.cells if c.cell_type == "code"]
    if [_cell_key(c) for c in old_code] != [_cell_key(c) for c in new_code]:
        return False
    for old, new in zip(old_code, new_code):
        new.outputs, new.execution_count = old.outputs, old.execution_count
    fresh.metadata = stored.metadata
    write(fresh, path)
    return True


# --- sources: jupytext percent files -------------------------------------------------------------------------

#: The format of ``notebooks/src/*.py`` and ``solutions/src/*.py`` (jupytext's name for it).
SOURCE_FORMAT = "py:percent"
SOURCE_DIRS = ("notebooks", "solutions")


def chapter_map(root: str | Path) -> str:
    """Chapter 00's table of chapters, from :data:`hcedu.course.chapters.CHAPTERS`: a chapter whose notebook
    is not in ``root`` yet is listed as planned."""
    from .chapters import CHAPTERS

    rows = "\n".join(
        f"| {c.number} | [{c.title}]({c.number}_{c.slug}.ipynb) | {c.source} |"
        if (Path(root) / c.notebook).exists() else f"| {c.number} | {c.title} *(planned)* | {c.source} |"
        for c in CHAPTERS.values())
    return "| # | chapter | source section |\n|---|---|---|\n" + rows


#: Text the builder writes, not the source: in a markdown cell, each key is replaced by what its function
#: makes from the course root (the folder holding ``notebooks/``), so the text follows the code and the tree.
GENERATED = {"<!-- hcedu: chapter map -->": chapter_map}


def notebook_for(source: str | Path) -> Path:
    """The notebook a source builds: ``notebooks/src/NN_x.py`` -> ``notebooks/NN_x.ipynb``."""
    source = Path(source)
    if source.suffix != ".py" or source.parent.name != "src":
        raise ValueError(f"source must be a notebooks/src/*.py or solutions/src/*.py file (got {str(source)!r})")
    return source.parent.parent / f"{source.stem}.ipynb"


def read_source(source: str | Path) -> list[NotebookNode]:
    """The cells of a percent source as its notebook holds them, before the navigation footer: markdown and
    code cells with their tags (no other cell metadata), the ``# NBVAL_IGNORE_OUTPUT`` first line turned into
    the tag, and the :data:`GENERATED` text filled in."""
    import jupytext

    source = Path(source)
    root = notebook_for(source).resolve().parent.parent
    cells = []
    for i, cell in enumerate(jupytext.read(source, fmt=SOURCE_FORMAT).cells):
        if cell.cell_type not in ("markdown", "code"):
            raise ValueError(f"{source}, cell {i}: a {cell.cell_type} cell; a source holds markdown and code cells")
        text = cell.source.strip("\n")
        if cell.cell_type == "markdown":
            for key, make in GENERATED.items():
                if key in text:
                    text = text.replace(key, make(root))
        cells.append(_cell(cell.cell_type, text, cell.metadata.get("tags", [])))
    return cells


def sources(root: str | Path = ".") -> list[Path]:
    """Every notebook source under ``root``, chapters first, then solutions."""
    return [p for folder in SOURCE_DIRS for p in sorted((Path(root) / folder / "src").glob("*.py"))]


def select_sources(names: Iterable[str], root: str | Path = ".") -> list[Path]:
    """The sources ``names`` mean: a source path, a notebook path (its source), or a chapter number such as
    ``02`` (its chapter and its solution); no names means every source."""
    names, everything = list(names), sources(root)
    if not names:
        return everything
    chosen: list[Path] = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb":
            path = path.parent / "src" / f"{path.stem}.py"
        if path.suffix == ".py":
            if not path.exists():
                raise ValueError(f"no notebook source {path}")
            found = [path]
        else:
            found = [p for p in everything if p.name.startswith(f"{name}_")]
            if not found:
                raise ValueError(f"{name!r} is neither a source file nor a chapter with a source, such as 02")
        chosen += [p for p in found if p not in chosen]
    return chosen


def _cell_key(cell: NotebookNode) -> tuple:
    return cell.cell_type, cell.source, list(cell.get("metadata", {}).get("tags", []))


def build_source(source: str | Path, check: bool = False) -> str:
    """Bring the notebook of ``source`` up to date and say how: ``"up to date"`` (cells, sources and tags
    equal: nothing written), ``"outputs kept"`` (only markdown changed: rewritten with the stored outputs),
    ``"execute it"`` (a code cell changed: written fresh, without outputs). With ``check``, nothing is written
    and a stale notebook is ``"stale"``."""
    notebook, cells = notebook_for(source), read_source(source)
    if notebook.exists():
        stored = nbformat.read(notebook, as_version=4)
        if [_cell_key(c) for c in stored.cells] == [_cell_key(c) for c in cells_for(notebook, cells)]:
            return "up to date"
        if check:
            return "stale"
        if rebuild_keeping_outputs(notebook, cells):
            return "outputs kept"
    elif check:
        return "stale"
    build(notebook, cells)
    return "execute it"


def build_sources(names: Iterable[str] = (), root: str | Path = ".", check: bool = False) -> list[tuple[Path, str]]:
    """:func:`build_source` for each source ``names`` select (see :func:`select_sources`): ``(notebook, how)``."""
    return [(notebook_for(s), build_source(s, check=check)) for s in select_sources(names, root)]
