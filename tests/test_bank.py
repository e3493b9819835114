"""The interview bank: every file validates, and malformed files fail with clear errors."""

import textwrap
from pathlib import Path

import pytest

from hcedu.course import bank
from hcedu.course.chapters import CHAPTERS, chapter


def test_the_shipped_bank_loads_and_ids_are_unique():
    qs = bank.load()
    assert len(qs) >= 4
    assert len({q.id for q in qs}) == len(qs)
    for q in qs:
        assert q.chapter in CHAPTERS and q.level in bank.LEVELS
        assert q.key_points and q.traps and q.question_zh and q.question_en
        nb = q.demo.split("#")[0]
        assert nb.startswith(("notebooks/", "solutions/")) and nb.endswith(".ipynb"), q.id


def test_load_by_chapter():
    assert {q.chapter for q in bank.load("00")} == {"00"}
    assert {q.chapter for q in bank.load(0)} == {"00"}


GOOD = """
questions:
  - id: ch01-x
    chapter: "01"
    section: s
    level: mid
    question: {en: "Q?", zh: "问?"}
    key_points: [a]
    answer: {en: "A."}
    traps: [t]
    follow_ups: []
    demo: "notebooks/01_goroutines_and_threads.ipynb#x"
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_a_good_file_loads(tmp_path):
    write(tmp_path, "01.yaml", GOOD)
    (q,) = bank.load(bank_dir=tmp_path)
    assert q.id == "ch01-x" and q.answer_zh is None and q.follow_ups == ()


@pytest.mark.parametrize("edit, msg", [
    (lambda s: s.replace("    level: mid\n", ""), "missing field 'level'"),
    (lambda s: s.replace("level: mid", "level: guru"), "level must be one of"),
    (lambda s: s.replace('chapter: "01"', 'chapter: "42"'), "unknown chapter"),
    (lambda s: s.replace('chapter: "01"', 'chapter: "02"'), "does not match the file"),
    (lambda s: s.replace('zh: "问?"', 'zh: ""'), "question.zh is required"),
    (lambda s: s.replace("key_points: [a]", "key_points: []"), "key_points"),
    (lambda s: s.replace("traps: [t]", "traps: t"), "traps"),
    (lambda s: s.replace("    demo:", "    colour: red\n    demo:"), "unknown field"),
    (lambda s: s + "  - id: ch01-x\n" + GOOD.split("  - id: ch01-x\n")[1], "duplicate id 'ch01-x'"),
    (lambda s: "questions: []", "non-empty 'questions'"),
    (lambda s: "questions: [", "not valid YAML"),
])
def test_malformed_files_name_file_and_problem(tmp_path, edit, msg):
    write(tmp_path, "01.yaml", edit(textwrap.dedent(GOOD)))
    with pytest.raises(bank.BankError, match=msg):
        bank.load(bank_dir=tmp_path)


def test_unknown_chapter_file(tmp_path):
    write(tmp_path, "99.yaml", GOOD)
    with pytest.raises(bank.BankError, match="99.yaml: unknown chapter file"):
        bank.load(bank_dir=tmp_path)


def test_chapter_lookup():
    assert chapter(8).notebook == "notebooks/08_distributed_lock.ipynb"
    assert chapter("08") is chapter(8)
    with pytest.raises(ValueError, match="chapter must be one of"):
        chapter(17)
    with pytest.raises(TypeError):
        chapter(None)


def test_every_demo_points_at_a_real_notebook_heading():
    """`demo: notebooks/NN_x.ipynb#Heading` must name a notebook that exists and a heading in it."""
    import nbformat

    root = Path(__file__).resolve().parents[1]
    headings: dict[str, set[str]] = {}
    missing = []
    for q in bank.load():
        path, _, heading = q.demo.partition("#")
        if path not in headings:
            nb_path = root / path
            if not nb_path.exists():
                missing.append(f"{q.id}: {path} does not exist")
                continue
            nb = nbformat.read(nb_path, as_version=4)
            headings[path] = {line.lstrip("#").strip() for c in nb.cells if c.cell_type == "markdown"
                              for line in c.source.splitlines() if line.startswith("#")}
        if heading and heading.strip() not in headings[path]:
            missing.append(f"{q.id}: no heading {heading!r} in {path}")
    assert not missing, "\n".join(missing)
