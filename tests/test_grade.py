"""`hcedu grade`: a fake class of 20 submissions across 5 chapters (and an endless loop graded alone), every gradebook row asserted.

The class holds correct solutions, typical wrong ones, stubs, a check cell deleted and one edited to print a
fake ✓, a definition that raises at import, a learner's scratch cell, a kernel crash, an
output flood, a connection beyond loopback (to 0.0.0.0, which Linux routes to this host, so nothing leaves
the machine even if the guard failed) and a notebook that is no exercise at all.
"""

from __future__ import annotations

import copy
import csv
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from hcedu.course import grade as G
from hcedu.course._grade_worker import _loopback

ROOT = Path(__file__).resolve().parents[1]
SOL = ROOT / "solutions"
EX = ROOT / "exercises"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def solution(ex: str) -> nbformat.NotebookNode:
    return nbformat.read(SOL / f"{ex}.ipynb", as_version=4)


def stub(ex: str) -> nbformat.NotebookNode:
    return nbformat.read(EX / f"{ex}.ipynb", as_version=4)


def replace_region(nb: nbformat.NotebookNode, body: str, region: int = 0) -> nbformat.NotebookNode:
    """The learner's version: region number ``region`` (counted across cells) gets ``body``."""
    nb = copy.deepcopy(nb)
    seen = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or BEGIN not in cell.source:
            continue
        lines, out, inside = cell.source.splitlines(), [], False
        for line in lines:
            if line.strip() == BEGIN:
                if seen == region:
                    indent = line[: len(line) - len(line.lstrip())]
                    out += [indent + b for b in body.strip("\n").splitlines()]
                    inside = True
                else:
                    out.append(line)
                seen += 1
            elif line.strip() == END and inside:
                inside = False
            elif not inside:
                out.append(line)
        cell.source = "\n".join(out)
    return nb


def check_cell_index(nb: nbformat.NotebookNode) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and re.search(r"\bcheck\.\w+\(", c.source))


def without_check_cell(nb):
    nb = copy.deepcopy(nb)
    del nb.cells[check_cell_index(nb)]
    return nb


def with_fake_check(nb):
    nb = copy.deepcopy(nb)
    nb.cells[check_cell_index(nb)].source = 'print("✓ 5/5 checks passed")  # check.safe_release(release) was here'
    return nb


def with_cell(nb, source: str):
    """An extra cell just before the check cell."""
    nb = copy.deepcopy(nb)
    nb.cells.insert(check_cell_index(nb), nbformat.v4.new_code_cell(source))
    return nb


def raising_at_import(nb):
    """The definition cell starts with an import that fails, so nothing after it in that cell is defined."""
    nb = copy.deepcopy(nb)
    cell = next(c for c in nb.cells if c.cell_type == "code" and BEGIN in c.source)
    cell.source = "import no_such_module_for_grading\n" + cell.source
    return nb


WRONG_PREDICT = "return slots / service_time  # forgot that C < P leaves slots idle"
WRONG_RELEASE = "if client.get(key) == token:\n    return bool(client.delete(key))\nreturn False"
WRONG_ENCODE = "return points * 2 ** time_bits + ts  # later ts ranks higher: no tie break"
WRONG_ALLOW = "return True"


def fake_class(root: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """Write the class; return {(student, exercise): (expected verdict, a word the row's text must hold)}."""
    expect: dict[tuple[str, str], tuple[str, str]] = {}

    def put(student: str, ex: str, nb, verdict: str, mention: str = "", flat: bool = False) -> None:
        path = root / (f"{ex}_{student}.ipynb" if flat else f"{student}/{ex}.ipynb")
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        expect[(student, ex)] = (verdict, mention)

    for ex in ("08_safe_release", "13_tie_break"):   # 00, 09 and 12 pass for frank and grace below
        put("alice", ex, solution(ex), "pass")
    put("bob", "00_littles_law", replace_region(solution("00_littles_law"), WRONG_PREDICT), "fail")
    put("bob", "08_safe_release", replace_region(solution("08_safe_release"), WRONG_RELEASE), "fail", "atomic")
    put("bob", "09_token_bucket", replace_region(solution("09_token_bucket"), WRONG_ALLOW, region=2), "fail")
    put("bob", "12_two_level_get", stub("12_two_level_get"), "not solved")
    put("bob", "13_tie_break", stub("13_tie_break"), "not solved")
    put("carol", "00_littles_law", without_check_cell(solution("00_littles_law")), "pass")
    put("carol", "08_safe_release", with_fake_check(replace_region(solution("08_safe_release"), WRONG_RELEASE)),
        "fail", "atomic")
    # dave's endless loop is graded on its own below, with a short limit: here it would burn the whole limit
    # that keeps correct submissions safe on a busy machine (20 s of CPU for one row)
    put("dave", "08_safe_release", raising_at_import(solution("08_safe_release")), "error", "ModuleNotFoundError")
    put("eve", "13_tie_break", with_cell(solution("13_tie_break"), "print('x' * 4_000_000)"), "output limit", "printed more")
    put("eve", "09_token_bucket", with_cell(solution("09_token_bucket"), "import os\nos.abort()"), "crashed", "SIGABRT")
    put("frank", "00_littles_law", solution("00_littles_law"), "pass", flat=True)
    put("frank", "13_tie_break", replace_region(solution("13_tie_break"), WRONG_ENCODE), "fail", flat=True)
    put("frank", "12_two_level_get", with_cell(solution("12_two_level_get"),
        "import socket\ntry:\n    socket.create_connection(('0.0.0.0', 9), timeout=0.5)\nexcept OSError as e:\n    print(e)"),
        "network", "loopback", flat=True)
    put("grace", "09_token_bucket", solution("09_token_bucket"), "pass", flat=True)
    put("grace", "12_two_level_get", solution("12_two_level_get"), "pass", flat=True)
    put("heidi", "13_tie_break", solution("13_tie_break"), "pass")
    put("ivan", "08_safe_release", with_cell(solution("08_safe_release"), "scratch = [1, 2, 3]\nprint(sum(scratch))"),
        "pass")   # a learner's own scratch cell does not change the verdict
    nbformat.write(nbformat.v4.new_notebook(), root / "heidi" / "notes.ipynb")
    expect[("heidi", "")] = ("unknown exercise", "")
    return expect


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    expect = fake_class(root / "submissions")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "hcedu.course.cli", "grade", str(root / "submissions"),
                          "--out", str(root / "out" / "gradebook.csv"), "--jobs", "2", "--time-limit", "20"],
                         capture_output=True, text=True, timeout=600)
    return root, expect, out, time.perf_counter() - t0


def test_every_gradebook_row_is_what_the_submission_deserves(graded):
    root, expect, out, seconds = graded
    assert out.returncode == 0, out.stdout + out.stderr
    with (root / "out" / "gradebook.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(expect) >= 20 and len({ex[:2] for _, ex in expect if ex}) >= 5
    got = {(r["student"], r["exercise"]): r for r in rows}
    assert set(got) == set(expect), (set(got) ^ set(expect))
    wrong = []
    for key, (verdict, mention) in expect.items():
        r = got[key]
        text = " ".join((r["check"], r["detail"], r["hint"], r["line"]))
        if r["verdict"] != verdict or (mention and mention.lower() not in text.lower()):
            wrong.append(f"{key}: expected {verdict} mentioning {mention!r}, got {r['verdict']}: {text}")
    assert not wrong, "\n".join(wrong)
    fails = [r for r in rows if r["verdict"] == "fail"]
    assert all(r["check"] and r["hint"] for r in fails), "a failed row must name its failing check and hint"
    assert [(r["student"], r["chapter"]) for r in rows] == sorted((r["student"], r["chapter"]) for r in rows)


def test_an_endless_loop_is_cut_at_its_cpu_time_limit(tmp_path):
    """The same command on a class of one: dave's endless loop, cut at a 3 s CPU limit (a correct submission
    needs about 1 CPU-s, up to 2 on a loaded machine, so this limit is only safe for a class without one)."""
    sub = tmp_path / "submissions" / "dave" / "00_littles_law.ipynb"
    sub.parent.mkdir(parents=True)
    nbformat.write(with_cell(solution("00_littles_law"), "while True:\n    pass"), sub)
    out = subprocess.run([sys.executable, "-m", "hcedu.course.cli", "grade", str(tmp_path / "submissions"),
                          "--out", str(tmp_path / "gradebook.csv"), "--time-limit", "3"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    with (tmp_path / "gradebook.csv").open(encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["student"], row["verdict"]) == ("dave", "timed out"), row
    assert "3 s CPU time limit" in row["detail"], "the endless loop is cut by its CPU-time limit"


def test_reports_beside_the_gradebook(graded):
    root, expect, out, _ = graded
    summary = list(csv.DictReader((root / "out" / "summary.csv").open(encoding="utf-8")))
    by = {s["exercise"]: s for s in summary}
    assert by["00_littles_law"]["submissions"] == "3" and by["00_littles_law"]["passed"] == "2"
    assert by["08_safe_release"]["most_common_failing_check"].startswith("atomic")
    assert (root / "out" / "summary.png").stat().st_size > 5000
    feedback = (root / "out" / "feedback" / "bob.md").read_text(encoding="utf-8")
    assert "08_safe_release" in feedback and "Hint:" in feedback and "not solved" in feedback
    assert "pass rate" not in out.stderr and "08_safe_release" in out.stdout  # the summary table is printed


def test_the_network_guard_only_lets_loopback_through():
    assert _loopback("127.0.0.1") and _loopback("::1") and _loopback("localhost") and _loopback("127.8.9.10")
    assert not _loopback("0.0.0.0") and not _loopback("192.0.2.1") and not _loopback("example.com")


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="jobs"):
        G.grade(tmp_path, SOL, jobs=0)
    with pytest.raises(ValueError, match="submissions_dir"):
        G.grade(tmp_path / "nope", SOL)
    with pytest.raises(ValueError, match="no solution notebooks"):
        G.grade(tmp_path, tmp_path)


def test_exercise_notebooks_carry_their_id():
    for path in sorted(EX.glob("[0-9][0-9]_*.ipynb")):
        meta = nbformat.read(path, as_version=4).metadata.get("hcedu")
        assert meta == {"chapter": path.stem[:2], "exercise": path.stem}, path.name


def test_the_worker_reads_a_submission_as_json_without_importing_nbformat(tmp_path):
    """nbformat's import costs ~2 s of CPU here (jsonschema compiles its format grammars): the worker runs once
    per submission, so it reads v4 notebooks as the JSON they are, sources given as strings or line lists."""
    path = tmp_path / "nb.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# title"),
                                         nbformat.v4.new_code_cell("x = 1\ny = 2")])
    nbformat.write(nb, path)   # nbformat stores sources as lists of lines
    code = ("import sys; from hcedu.course._grade_worker import _cells; "
            f"print(_cells({str(path)!r})); print('nbformat' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines() == ["[('markdown', '# title'), ('code', 'x = 1\\ny = 2')]", "False"], out.stderr
