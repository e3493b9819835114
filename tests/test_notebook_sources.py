"""Every stored notebook is what its source builds (nbval compares outputs, not sources).

A chapter is edited in its jupytext percent source ``notebooks/src/NN_name.py`` (or ``solutions/src/``), then
rebuilt (``hcedu build NN``) and re-executed; this test catches a notebook whose source changed, or whose
generated text depends on the tree (notebook 00's chapter map), without the notebook being rebuilt. It also
checks every source is a canonical percent file: what jupytext (and so JupyterLab) writes back when it saves it.
"""

import re
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupytext.config import load_jupytext_config

from hcedu.course import nbbuild

ROOT = Path(__file__).resolve().parents[1]
SOURCES = nbbuild.sources(ROOT)
ids = lambda p: f"{p.parent.parent.name}/{p.stem}"  # noqa: E731


def test_every_notebook_has_a_source():
    for folder in ("notebooks", "solutions"):
        stored = {p.stem for p in (ROOT / folder).glob("*.ipynb")}
        scripts = {p.stem for p in (ROOT / folder / "src").glob("*.py")}
        assert stored == scripts, f"{folder}: notebooks without a source or sources without a notebook"


@pytest.mark.parametrize("source", SOURCES, ids=ids)
def test_every_source_is_a_canonical_percent_file(source):
    """jupytext reads it as percent cells and writes the very same bytes back (so opening and saving a source
    in JupyterLab changes nothing); no cell carries metadata other than tags."""
    text = source.read_text(encoding="utf-8")
    assert text.startswith("# ---\n# jupyter:\n#   kernelspec:\n"), f"{source.name}: no kernelspec header"
    nb = jupytext.reads(text, fmt=nbbuild.SOURCE_FORMAT)
    assert nb.cells and all(c.cell_type in ("markdown", "code") for c in nb.cells)
    assert nb.metadata["kernelspec"] == nbbuild.KERNELSPEC, f"{source.name}: not the course kernel"
    again = jupytext.writes(nb, fmt=nbbuild.SOURCE_FORMAT, config=load_jupytext_config(str(ROOT)))
    assert again == text, f"{source.name} is not what jupytext writes for it: `jupytext --to py:percent` it"
    for i, cell in enumerate(nb.cells):
        extra = set(cell.metadata) - {"tags"}
        assert not extra, f"{source.name}, cell {i} carries metadata {sorted(extra)}; only tags reach the notebook"


@pytest.mark.parametrize("source", SOURCES, ids=ids)
def test_stored_notebook_matches_its_source(source):
    notebook = nbbuild.notebook_for(source)
    stored = nbformat.read(notebook, as_version=4).cells
    generated = nbbuild.cells_for(notebook, nbbuild.read_source(source))
    rebuild = (f"rebuild it: .venv/bin/hcedu build {source.relative_to(ROOT)} (it keeps the outputs when only "
               f"markdown changed, else .venv/bin/hcedu execute {notebook.relative_to(ROOT)})")
    assert len(stored) == len(generated), f"{notebook.name}: {len(stored)} cells stored, source has " \
                                          f"{len(generated)}; {rebuild}"
    for i, (s, g) in enumerate(zip(stored, generated)):
        assert (s.cell_type, s.source) == (g.cell_type, g.source), f"{notebook.name}, cell {i} differs; {rebuild}"
        assert s.metadata.get("tags", []) == g.metadata.get("tags", []), f"{notebook.name}, cell {i} tags differ; {rebuild}"


PERCENT = """# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # 99 · A chapter
#
# <!-- hcedu: chapter map -->

# %%
x = 6 * 7
x

# %% tags=["nbval-ignore-output"]
measured = 1

# %%
# NBVAL_IGNORE_OUTPUT
also_measured = 2

# %% tags=["keep-me"]
# NBVAL_IGNORE_OUTPUT
both = 3
"""


def _course(tmp_path: Path, text: str = PERCENT) -> Path:
    """A course tree in ``tmp_path`` with one source, ``notebooks/src/99_x.py`` (99: no footer)."""
    (tmp_path / "notebooks" / "src").mkdir(parents=True)
    (tmp_path / "notebooks" / "01_goroutines_and_threads.ipynb").write_text("{}")
    (tmp_path / "jupytext.toml").write_text((ROOT / "jupytext.toml").read_text())
    source = tmp_path / "notebooks" / "src" / "99_x.py"
    source.write_text(text, encoding="utf-8")
    return source


def test_read_source_gives_the_cells_tags_and_generated_text(tmp_path):
    cells = nbbuild.read_source(_course(tmp_path))
    assert [c.cell_type for c in cells] == ["markdown", "code", "code", "code", "code"]
    assert cells[0].source.startswith("# 99 · A chapter\n\n| # | chapter | source section |\n|---|---|---|\n| 00 |")
    assert "| 01 | [Goroutines vs threads, and the GMP scheduler](01_goroutines_and_threads.ipynb) |" in cells[0].source
    assert "| 02 | Channels and select, as Go builds them *(planned)* |" in cells[0].source   # no notebook yet
    assert cells[1].source == "x = 6 * 7\nx" and "tags" not in cells[1].metadata
    assert [c.source for c in cells[2:]] == ["measured = 1", "also_measured = 2", "both = 3"]
    assert [c.metadata["tags"] for c in cells[2:]] == [["nbval-ignore-output"], ["nbval-ignore-output"],
                                                        ["keep-me", "nbval-ignore-output"]]


def test_chapter_00_map_is_generated_not_frozen_in_its_source():
    text = (ROOT / "notebooks" / "src" / "00_start_here.py").read_text(encoding="utf-8")
    marker = next(iter(nbbuild.GENERATED))
    assert f"# {marker}\n" in text and "| 01 |" not in text


def test_build_keeps_outputs_when_only_markdown_changed_and_says_when_to_execute(tmp_path):
    source = _course(tmp_path)
    notebook = tmp_path / "notebooks" / "99_x.ipynb"
    assert nbbuild.build_sources([str(source)]) == [(notebook, "execute it")]
    nb = nbformat.read(notebook, as_version=4)
    assert nb.metadata["kernelspec"] == nbbuild.KERNELSPEC and [c.id for c in nb.cells][:2] == ["cell-00", "cell-01"]
    nb.cells[1].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "42"}, execution_count=1)]
    nbbuild.write(nb, notebook)
    stored = notebook.read_bytes()
    assert nbbuild.build_source(source) == "up to date" and notebook.read_bytes() == stored

    source.write_text(PERCENT.replace("# # 99 · A chapter", "# # 99 · A better title"), encoding="utf-8")
    assert nbbuild.build_source(source, check=True) == "stale" and notebook.read_bytes() == stored
    assert nbbuild.build_source(source) == "outputs kept"
    nb = nbformat.read(notebook, as_version=4)
    assert nb.cells[0].source.startswith("# 99 · A better title") and nb.cells[1].outputs[0]["data"]["text/plain"] == "42"

    source.write_text(PERCENT.replace("x = 6 * 7", "x = 7 * 6"), encoding="utf-8")
    assert nbbuild.build_source(source) == "execute it"
    nb = nbformat.read(notebook, as_version=4)
    assert nb.cells[1].source == "x = 7 * 6\nx" and nb.cells[1].outputs == []


def test_a_source_saved_from_jupyterlab_is_unchanged(tmp_path):
    """JupyterLab opens a source through jupytext's contents manager; saving it after a run (outputs, execution
    metadata, language_info) must rewrite the same bytes, thanks to jupytext.toml's filters."""
    from jupytext.sync_contentsmanager import TextFileContentsManager

    source = _course(tmp_path, (ROOT / "notebooks" / "src" / "02_channels.py").read_text(encoding="utf-8"))
    before = source.read_bytes()
    cm = TextFileContentsManager(root_dir=str(tmp_path))
    path = source.relative_to(tmp_path).as_posix()
    model = cm.get(path, type="notebook")
    assert model["type"] == "notebook" and model["content"]["metadata"]["kernelspec"]["name"] == "hcedu"
    for cell in model["content"]["cells"]:
        cell["metadata"].update(trusted=True, collapsed=False)
        if cell["cell_type"] == "code":
            cell["metadata"]["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00Z"}
            cell["outputs"], cell["execution_count"] = [nbformat.v4.new_output("stream", text="out\n")], 1
    model["content"]["metadata"]["language_info"] = {"name": "python", "version": "3.11.7"}
    cm.save(model, path)
    assert source.read_bytes() == before
    assert sorted(p.name for p in source.parent.parent.iterdir()) == ["01_goroutines_and_threads.ipynb", "src"]


def test_measured_cells_carry_the_tag_not_the_comment():
    """nbval reads the cell tag; the learner should not see test plumbing at the top of a cell."""
    from hcedu.course.nbbuild import IGNORE_OUTPUT, IGNORE_OUTPUT_TAG, code
    cell = code(f"""
        {IGNORE_OUTPUT}
        x = measure()""")
    assert cell.source == "x = measure()" and cell.metadata["tags"] == [IGNORE_OUTPUT_TAG]
    for folder in ("notebooks", "solutions", "exercises"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            for i, c in enumerate(nbformat.read(path, as_version=4).cells):
                assert not c.source.startswith(IGNORE_OUTPUT), f"{path.name}, cell {i} shows {IGNORE_OUTPUT}"


def test_every_chapter_links_its_neighbours_exercise_and_solution():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nav = nbformat.read(path, as_version=4).cells[-1]
        assert "hcedu-nav" in nav.metadata.get("tags", []), f"{path.name} has no navigation footer"
        for target in re.findall(r"\]\(([^)]+)\)", nav.source):
            assert (path.parent / target).resolve().exists(), f"{path.name}: broken link {target}"
        assert "../exercises/" in nav.source and "../solutions/" in nav.source
    for path in sorted((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb")):
        nav = nbformat.read(path, as_version=4).cells[-1]
        assert f"../solutions/{path.name}" in nav.source and "../notebooks/" in nav.source, path.name
