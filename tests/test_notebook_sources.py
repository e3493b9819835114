"""Every stored notebook is what its generator script writes (nbval compares outputs, not sources).

A chapter is edited in ``notebooks/src/NN_name.py`` (or ``solutions/src/``) and then re-generated and
re-executed; this test catches a notebook whose generator changed, or whose generated text depends on the
tree (notebook 00's chapter map), without the notebook being rebuilt.
"""

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
GENERATORS = sorted([*(ROOT / "notebooks" / "src").glob("*.py"), *(ROOT / "solutions" / "src").glob("*.py")])


def _generated_cells(script: Path) -> list:
    spec = importlib.util.spec_from_file_location(f"_nbgen_{script.parent.parent.name}_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)   # generators only build their notebook under __main__
    return module.cells


def test_every_notebook_has_a_generator():
    for folder in ("notebooks", "solutions"):
        stored = {p.stem for p in (ROOT / folder).glob("*.ipynb")}
        scripts = {p.stem for p in (ROOT / folder / "src").glob("*.py")}
        assert stored == scripts, f"{folder}: notebooks without a generator or generators without a notebook"


@pytest.mark.parametrize("script", GENERATORS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_stored_notebook_matches_its_generator(script):
    notebook = script.parent.parent / f"{script.stem}.ipynb"
    from hcedu.course.nbbuild import cells_for
    stored = nbformat.read(notebook, as_version=4).cells
    generated = cells_for(notebook, _generated_cells(script))
    rebuild = (f"re-generate and re-execute it: python {script.relative_to(ROOT)} && "
               f".venv/bin/hcedu execute {notebook.relative_to(ROOT)}")
    assert len(stored) == len(generated), f"{notebook.name}: {len(stored)} cells stored, generator has " \
                                          f"{len(generated)}; {rebuild}"
    for i, (s, g) in enumerate(zip(stored, generated)):
        assert (s.cell_type, s.source) == (g.cell_type, g.source), f"{notebook.name}, cell {i} differs; {rebuild}"
        assert s.metadata.get("tags", []) == g.metadata.get("tags", []), f"{notebook.name}, cell {i} tags differ; {rebuild}"


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
