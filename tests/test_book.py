"""`make book`: the course as a static site, built from the stored outputs (nothing executed, nothing
downloaded). A page per chapter and per worked exercise, each chapter's charts as images, contents,
previous/next links and search; it opens on the chapter map."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
JB = Path(sys.executable).with_name("jupyter-book")


def test_the_contents_list_every_chapter_and_worked_exercise():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    from hcedu.course.chapters import CHAPTERS

    assert toc["root"] == "notebooks/00_start_here"
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    chapters = [f"notebooks/{n}_{c.slug}" for n, c in CHAPTERS.items() if n != "00"]
    solutions = [f"solutions/{p.stem}" for p in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))]
    assert files == chapters + solutions


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not JB.exists() and not shutil.which("jupyter-book"):
        pytest.skip("jupyter-book is not installed (pip install 'hcedu[book]')")
    out = tmp_path_factory.mktemp("book")
    run = subprocess.run([str(JB if JB.exists() else "jupyter-book"), "build", str(ROOT), "--path-output", str(out),
                          "-W", "--keep-going", "-q"], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return out / "_build" / "html"


def _charts(notebook: Path) -> int:
    import nbformat
    nb = nbformat.read(notebook, as_version=4)
    return sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "image/png" in o.get("data", {}))


def test_a_page_per_chapter_with_its_charts(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "url=notebooks/00_start_here.html" in index, "the book must open on chapter 00"
    assert "The chapters" in (site / "notebooks" / "00_start_here.html").read_text(encoding="utf-8"), "no chapter map"
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))[1:] + sorted((ROOT / "solutions").glob("*.ipynb")):
        page = site / nb.parent.name / f"{nb.stem}.html"
        assert page.exists(), f"no page for {nb.parent.name}/{nb.name}"
        html = page.read_text(encoding="utf-8")
        images = re.findall(r'<img[^>]+src="([^"]+)"', html)
        assert len([i for i in images if "_images/" in i]) >= _charts(nb), f"{page.name}: charts missing"
        for src in images:
            if "_images/" in src:
                assert (page.parent / src).resolve().exists(), f"{page.name}: broken image {src}"
        assert "prev-next" in html or 'class="prev' in html or "footer-prev-next" in html, f"{page.name}: no prev/next links"
    assert (site / "search.html").exists() and (site / "searchindex.js").exists()
