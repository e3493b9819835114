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
        chapter(18)
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


# ---- issue 20: bilingual answers, answered follow-ups, keywords per key point -------------------------------

#: Chapters whose bank is complete (every answer and follow-up in en + zh, keywords on every key point, full-width
#: Chinese punctuation). Extend this as chapters are translated; the two tests below then enforce it.
COMPLETE = ("00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15", "16", "17")


def complete_questions(chapters=COMPLETE):
    return [q for q in bank.load() if q.chapter in chapters]


@pytest.mark.parametrize("number", COMPLETE)
def test_complete_chapters_have_every_translation(number):
    qs = complete_questions((number,))
    assert qs, f"chapter {number} has no questions"
    assert bank.missing_translations(qs) == []
    for q in qs:
        assert q.answer_zh and q.answer("zh") == q.answer_zh and q.answer("en") == q.answer_en
        assert all(f.question_zh and f.answer_en and f.answer_zh for f in q.follow_ups), q.id
        assert all(kp.keywords_en and kp.keywords_zh for kp in q.key_points), q.id


@pytest.mark.parametrize("number", COMPLETE)
def test_complete_chapters_use_full_width_punctuation_in_chinese(number):
    assert bank.punctuation_problems(complete_questions((number,))) == []


def test_missing_translations_covers_the_whole_bank_and_names_what_is_missing():
    missing = bank.missing_translations()
    ids = {q.id for q in bank.load()}
    assert all(line.split(":")[0] in ids for line in missing)
    assert not any(line.startswith(tuple(f"ch{n}-" for n in COMPLETE)) for line in missing)


def test_the_whole_bank_is_bilingual_with_full_width_chinese_punctuation():
    """Issue 20's acceptance: 100 % of questions and follow-ups have en + zh answers, every key point has keywords,
    and the Chinese uses full-width punctuation, in every bank file (a new chapter's bank included)."""
    qs = bank.load()
    assert sorted({q.chapter for q in qs}) == sorted(COMPLETE), "a chapter's bank is missing from COMPLETE"
    assert bank.missing_translations(qs) == []
    assert bank.punctuation_problems(qs) == []


def test_missing_translations_names_each_gap(tmp_path):
    """The whole-bank check above can fail: an old-format question is reported field by field."""
    write(tmp_path, "01.yaml", GOOD.replace("follow_ups: []", 'follow_ups: ["Why?"]'))
    assert bank.missing_translations(bank.load(bank_dir=tmp_path)) == [
        "ch01-x: answer.zh", "ch01-x: follow_ups[1] question.zh + answer (en+zh)", "ch01-x: key_points[1] keywords (en+zh)"]


def test_the_punctuation_check_can_fail():
    qs = bank.load("08")
    import dataclasses
    bad = dataclasses.replace(qs[0], answer_zh="先加锁,再释放(用Lua)。code(1, 2)不算")
    problems = bank.punctuation_problems([bad])
    assert len(problems) == 2 and "answer.zh" in problems[0] and "'锁,'" in problems[0]
    assert len(bank.punctuation_problems([dataclasses.replace(qs[0], question_zh="为什么不能先SETNX再EXPIRE?")])) == 1
    ok = dataclasses.replace(qs[0], answer_zh="用 rate.NewLimiter(100, 200)，先加锁（用Lua）。")
    assert bank.punctuation_problems([ok]) == []


NEW = """
questions:
  - id: ch01-y
    chapter: "01"
    section: s
    level: senior
    question: {en: "Q?", zh: "问？"}
    key_points:
      - text: "atomic"
        keywords: {en: [atomic, lua], zh: [原子]}
      - plain old key point
    answer: {en: "A.", zh: "答。"}
    traps: [t]
    follow_ups:
      - question: {en: "F?", zh: "追问？"}
        answer: {en: "FA.", zh: "追答。"}
      - an old plain follow-up
    demo: "notebooks/01_goroutines_and_threads.ipynb#x"
"""


def test_the_new_format_loads_with_old_entries_mixed_in(tmp_path):
    write(tmp_path, "01.yaml", NEW)
    (q,) = bank.load(bank_dir=tmp_path)
    kp, old = q.key_points
    assert kp == "atomic" and kp.keywords("en") == ("atomic", "lua") and kp.keywords() == ("atomic", "lua", "原子")
    assert old == "plain old key point" and old.keywords() == ()
    new, plain = q.follow_ups
    assert (new, new.question_zh, new.answer_en, new.answer_zh) == ("F?", "追问？", "FA.", "追答。")
    assert plain == "an old plain follow-up" and plain.answer_en is None
    assert q.answer("both") == "答。\nA." and q.question("zh") == "问？"
    assert bank.missing_translations([q]) == ["ch01-y: follow_ups[2] question.zh + answer (en+zh)",
                                              "ch01-y: key_points[2] keywords (en+zh)"]
    with pytest.raises(ValueError, match="lang must be one of"):
        q.answer("fr")


@pytest.mark.parametrize("edit, msg", [
    (lambda s: s.replace("keywords: {en: [atomic, lua], zh: [原子]}", "keywords: {en: [atomic]}"),
     r"key_points\[1\].keywords must be a mapping"),
    (lambda s: s.replace("zh: [原子]", "zh: []"), r"key_points\[1\].keywords.zh must be a non-empty list"),
    (lambda s: s.replace('- text: "atomic"', '- txt: "atomic"'), r"key_points\[1\] must be"),
    (lambda s: s.replace('answer: {en: "FA.", zh: "追答。"}', 'answer: {en: "FA."}'),
     r"follow_ups\[1\].answer.zh is required"),
    (lambda s: s.replace('question: {en: "F?", zh: "追问？"}', 'question: "F?"'),
     r"follow_ups\[1\].question must be a mapping"),
    (lambda s: s.replace("      - an old plain follow-up\n", "      - 42\n"), r"follow_ups\[2\] must be"),
    (lambda s: s.replace('answer: {en: "A.", zh: "答。"}', 'answer: {en: "A.", zh: "", fr: "R."}'),
     "unknown language"),
    (lambda s: s.replace('answer: {en: "A.", zh: "答。"}', 'answer: {en: "A.", zh: ""}'), r"answer.zh is required"),
])
def test_malformed_new_fields_name_the_problem(tmp_path, edit, msg):
    write(tmp_path, "01.yaml", edit(textwrap.dedent(NEW)))
    with pytest.raises(bank.BankError, match=msg):
        bank.load(bank_dir=tmp_path)


def test_fix_file_makes_chinese_punctuation_full_width_and_leaves_the_rest(tmp_path):
    bad = (NEW.replace('zh: "问？"', 'zh: "为什么先SETNX再EXPIRE?"')
              .replace('zh: "答。"', 'zh: "两条命令,中间崩溃(进程退出)就没有TTL:用 rate.NewLimiter(100, 200) 不受影响"')
              .replace("zh: [原子]", 'zh: ["原子(atomic)"]'))
    path = write(tmp_path, "01.yaml", bad)
    (before,) = bank.load(bank_dir=tmp_path)
    assert len(bank.punctuation_problems([before])) == 6  # ? ; , ( ) : in the answer ; ( in the keyword
    assert bank.fix_file(path) == 3 and bank.fix_file(path) == 0
    (after,) = bank.load(bank_dir=tmp_path)
    assert bank.punctuation_problems([after]) == []
    assert after.question_zh == "为什么先SETNX再EXPIRE？"
    assert after.answer_zh == "两条命令，中间崩溃（进程退出）就没有TTL：用 rate.NewLimiter(100, 200) 不受影响"
    assert after.key_points[0].keywords_zh == ("原子（atomic）",)
    assert (after.question_en, after.answer_en, after.key_points, after.traps) == (
        before.question_en, before.answer_en, before.key_points, before.traps)
