"""Convert the old notebook generator scripts into jupytext percent sources, in place (issue 16, item 9).

An old generator (``notebooks/src/NN_x.py`` or ``solutions/src/NN_x.py``) is a script that builds
``cells = [md(...), code(...)]`` with ``hcedu.course.nbbuild`` and writes its notebook under ``__main__``.
This tool runs each one (not as ``__main__``, so nothing is written), takes the cells it builds, puts the
:data:`hcedu.course.nbbuild.GENERATED` markers back where the builder fills text in (chapter 00's map), and
writes the percent source over the script, with jupytext and the repository's ``jupytext.toml``.

It is safe to re-run: a file that already has ``# %%`` cells is skipped, so after merging branches that still
edited old-format generators, run it again on the merged tree:

    PYTHONPATH=. .venv/bin/python tools/nbsrc_to_percent.py          # every source; --check only reports

Each conversion is verified before the tool moves on: the new source, read back by
``nbbuild.read_source``, must give the same cells (types, sources, tags) as the old script; otherwise the old
script is restored and the tool exits 1. Then ``hcedu build --check`` (or ``tests/test_notebook_sources.py``)
says whether the stored notebooks match their sources. Delete this tool once no old-format generator is left.
"""

from __future__ import annotations

import argparse
import re
import runpy
import sys
from pathlib import Path

import jupytext
import nbformat
from jupytext.config import load_jupytext_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hcedu.course import nbbuild  # noqa: E402

PERCENT_CELL = re.compile(r"^# %%", re.MULTILINE)


def is_percent(text: str) -> bool:
    """A percent source has ``# %%`` cell markers; an old generator builds a ``cells`` list instead."""
    return bool(PERCENT_CELL.search(text))


def old_cells(script: Path) -> list[nbformat.NotebookNode]:
    """The cells an old generator builds (its ``cells`` list), without running its ``__main__`` block."""
    cells = runpy.run_path(str(script), run_name=f"_old_generator_{script.stem}").get("cells")
    if not isinstance(cells, list):
        raise ValueError(f"{script}: neither a percent source (no '# %%' line) nor a generator defining cells = [...]")
    return cells


def percent_text(cells: list[nbformat.NotebookNode], root: Path) -> str:
    """The percent source whose cells are ``cells``: generated text replaced by its marker, the course
    kernelspec in the header, written as JupyterLab would save it (``jupytext.toml``'s filters)."""
    generated = {make(root): key for key, make in nbbuild.GENERATED.items()}
    out = []
    for cell in cells:
        text = cell.source
        if cell.cell_type == "markdown":
            for value, key in generated.items():
                text = text.replace(value, key)
        new = nbformat.v4.new_code_cell(text) if cell.cell_type == "code" else nbformat.v4.new_markdown_cell(text)
        if cell.get("metadata", {}).get("tags"):
            new.metadata["tags"] = list(cell.metadata["tags"])
        out.append(new)
    nb = nbformat.v4.new_notebook(cells=out, metadata={"kernelspec": dict(nbbuild.KERNELSPEC)})
    return jupytext.writes(nb, fmt=nbbuild.SOURCE_FORMAT, config=load_jupytext_config(str(root)))


def key(cells: list[nbformat.NotebookNode]) -> list[tuple]:
    return [(c.cell_type, c.source, c.get("metadata", {}).get("tags", [])) for c in cells]


def convert(script: Path, check: bool = False) -> str:
    """Convert one file in place; return what happened."""
    text = script.read_text(encoding="utf-8")
    if is_percent(text):
        return "already percent"
    cells = old_cells(script)
    if check:
        return "old format: would convert"
    root = nbbuild.notebook_for(script).resolve().parent.parent
    script.write_text(percent_text(cells, root), encoding="utf-8")
    try:
        same = key(nbbuild.read_source(script)) == key(cells)
    except Exception:
        same = False
    if not same:
        script.write_text(text, encoding="utf-8")
        raise RuntimeError(f"{script}: the percent source would not give the same cells; the script is left as it was")
    return f"converted ({len(cells)} cells)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="generator scripts (default: notebooks/src/*.py, solutions/src/*.py)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if an old-format one is left")
    args = parser.parse_args(argv)
    paths = [Path(p) for p in args.paths] or nbbuild.sources(ROOT)
    left, failed = 0, 0
    for path in paths:
        try:
            how = convert(path, check=args.check)
        except Exception as exc:  # report every file, then fail
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        left += how.startswith("old format")
        print(f"{path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path}: {how}")
    return 1 if failed or left else 0


if __name__ == "__main__":
    sys.exit(main())
