"""The Leitner drill: scheduling, the progress file, the terminal loop, the widget."""

import json

import pytest

from hcedu.course import quiz
from hcedu.course.bank import load


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HCEDU_HOME", str(tmp_path))
    return tmp_path


def test_progress_path_follows_hcedu_home(home):
    assert quiz.progress_path() == home / "progress.json"


def test_leitner_boxes(home):
    p = quiz.Progress()
    assert p.card("q").box == 1 and p.is_due("q", 0)
    assert p.grade("q", True, now=0).box == 2
    assert not p.is_due("q", now=0.5 * quiz.DAY)
    assert p.is_due("q", now=1.0 * quiz.DAY)
    assert p.grade("q", True, now=quiz.DAY).box == 3
    assert p.grade("q", False, now=2 * quiz.DAY).box == 1  # a miss goes back to box 1
    for _ in range(10):
        p.grade("q", True, now=0)
    assert p.card("q").box == max(quiz.INTERVALS)
    again = quiz.Progress()  # persisted
    assert again.card("q").box == max(quiz.INTERVALS)
    assert json.loads((home / "progress.json").read_text())["cards"]["q"]["seen"] == 13


def test_corrupt_progress_file_says_how_to_fix(home):
    (home / "progress.json").write_text("{not json")
    with pytest.raises(ValueError, match="delete it to start over"):
        quiz.Progress()


def test_terminal_drill_grades_and_saves(home):
    answers = iter(["my answer", "y", "", "n", "", "maybe", "y"])
    said = []
    stats = quiz.run("00", limit=3, ask=lambda _: next(answers), say=said.append, now=0)
    assert stats == {"asked": 3, "got": 2, "missed": 1}
    text = "\n".join(said)
    assert "A strong answer covers" in text and "Traps" in text
    p = quiz.Progress()
    boxes = sorted(c.box for c in p.cards.values())
    assert boxes == [1, 2, 2]
    # next day: the missed card is due first
    due = quiz.due(load("00"), p, now=0.5 * quiz.DAY)
    assert p.card(due[0].id).box == 1


def test_quit_and_bad_limit(home):
    stats = quiz.run("00", limit=2, ask=lambda _: "q", say=lambda _: None, now=0)
    assert stats["asked"] == 0
    with pytest.raises(ValueError, match="limit must be an int >= 1"):
        quiz.run("00", limit=0)


def test_drill_widget_reveals_and_grades(home):
    w = quiz.drill("00")
    title, reveal_btn, body, buttons, status, _lang = w.children
    got_btn = buttons.children[0]
    assert "Q1/" in title.value and got_btn.disabled
    reveal_btn.click()
    assert "A strong answer covers" in body.value and not got_btn.disabled
    got_btn.click()
    assert "box 2" in status.value and "Q2/" in title.value


def test_unknown_chapter_is_one_line_not_a_traceback():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "hcedu.course.cli", "quiz", "--chapter", "99"],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "chapter must be one of 00" in out.stderr


def test_reveal_wraps_to_the_width_and_the_widget_links_the_demo():
    from hcedu.course.bank import load
    from hcedu.course.quiz import demo_href, reveal, reveal_html

    q = max(load("08"), key=lambda q: len(q.answer_en))
    text = reveal(q, width=60)
    assert max(len(line) for line in text.splitlines() if not line.startswith("See it happen")) <= 60
    assert " ".join(text.split()).count(" ".join(q.answer_en.split()[:8])) == 1  # words kept, only re-wrapped
    page = reveal_html(q)
    assert "<pre" not in page and "<a href='08_distributed_lock.ipynb#" in page
    assert demo_href("notebooks/08_x.ipynb#Break it: the plain `DEL`") == "08_x.ipynb#Break-it%3A-the-plain-`DEL`"


def script(*answers):
    """An ``ask`` function that plays scripted answers."""
    it = iter(answers)
    return lambda _prompt: next(it)


# ---- issue 20: language choice, remembered ---------------------------------------------------------------------

def test_an_old_drills_progress_file_still_loads_and_keeps_its_cards(home):
    old = {"cards": {"ch00-littles-law": {"box": 3, "last": 100.0, "seen": 4}}}  # written before "settings"
    (home / "progress.json").write_text(json.dumps(old, indent=1))
    p = quiz.Progress()
    assert p.lang == "both" and p.card("ch00-littles-law").box == 3
    p.lang = "zh"
    raw = json.loads((home / "progress.json").read_text())
    assert raw["cards"] == old["cards"] and raw["settings"] == {"lang": "zh"}
    assert quiz.Progress().lang == "zh"
    with pytest.raises(ValueError, match="lang must be one of"):
        p.lang = "fr"


def test_terminal_drill_speaks_the_chosen_language_and_remembers_it(home):
    q = quiz.due(load("08"), quiz.Progress(), now=0)[0]
    said = []
    quiz.run("08", limit=1, ask=script("", "y"), say=said.append, now=0, lang="zh")
    text = "\n".join(said)
    assert q.question_zh in text and q.question_en not in text
    flat = "".join(text.split())
    assert "".join(q.answer_zh.split())[:30] in flat
    assert " ".join(q.answer_en.split()[:8]) not in " ".join(text.split())
    assert "".join(q.follow_ups[0].answer_zh.split())[:20] in flat
    assert quiz.Progress().lang == "zh"
    said.clear()
    quiz.run("08", limit=1, ask=script("", "y"), say=said.append, now=0)  # remembered
    assert quiz.Progress().lang == "zh" and "Model answer" in "\n".join(said)
    en = quiz.reveal(q, width=10_000, lang="en")
    assert q.answer_en in en and q.answer_zh not in en and q.follow_ups[0].answer_en in en
    both = quiz.reveal(q, width=10_000, lang="both")
    assert both.index(q.answer_zh) < both.index(q.answer_en)


def test_widget_language_toggle_rerenders_and_is_remembered(home):
    w = quiz.drill("08")
    title, reveal_btn, body, buttons, status, lang = w.children
    q = quiz.due(load("08"), quiz.Progress(), now=0)[0]
    assert lang.value == "both" and q.question_en in title.value
    reveal_btn.click()
    lang.value = "zh"
    assert q.question_en not in title.value and q.question_zh in title.value
    import html
    assert html.escape(q.answer_zh) in body.value and html.escape(q.answer_en) not in body.value
    assert not buttons.children[0].disabled  # still revealed after switching
    assert quiz.Progress().lang == "zh" and quiz.drill("08").children[-1].value == "zh"


# ---- issue 20: progress you can see ---------------------------------------------------------------------------

def test_stats_table_counts_boxes_and_due_per_chapter(home, capsys):
    from hcedu.course import cli
    p = quiz.Progress()
    ids = [q.id for q in load("08")]
    p.grade(ids[0], True, now=0)   # box 2, due after 1 day
    p.grade(ids[1], False, now=0)  # box 1, due again at once
    counts = quiz.box_counts(p, now=0.5 * quiz.DAY)
    assert counts["08"]["box 2"] == 1 and counts["08"]["box 1"] == 1 and counts["08"]["new"] == len(ids) - 2
    assert counts["08"]["due"] == len(ids) - 1 and counts["08"]["total"] == len(ids)
    table = quiz.stats_table("08", p, now=0.5 * quiz.DAY)
    head, row = table.splitlines()[:2]
    assert head.split() == ["chapter", "new", "box", "1", "box", "2", "box", "3", "box", "4", "box", "5", "due", "total"]
    assert row.split() == ["08", str(len(ids) - 2), "1", "1", "0", "0", "0", str(len(ids) - 1), str(len(ids))]
    assert cli.main(["quiz", "--stats"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == head and all(f"\n{n} " in out for n in ("00", "08", "16"))


def test_progress_chart_stacks_boxes_and_labels_what_is_due(home):
    import hcedu.course
    p = quiz.Progress()
    p.grade(load("08")[0].id, True, now=0)
    fig = hcedu.course.progress_chart(progress=p, now=0)
    ax = fig.axes[0]
    assert "due now" in ax.get_title() and ax.get_ylabel() == "cards"
    labels = [t.get_text() for t in ax.texts]
    assert len(labels) == len({q.chapter for q in load()}) and all(t.endswith(" due") for t in labels)
    total = len(load())
    assert f"{total - 1} of {total} due now" in ax.get_title()
    assert sum(bar.get_height() for bar in ax.patches) == total
    assert ax.get_legend() is not None and [t.get_text() for t in ax.get_legend().get_texts()] == list(quiz.STAGES)


def test_chinese_wraps_by_terminal_columns_between_characters():
    q = next(q for q in load("09") if q.id == "ch09-oversell")
    lines = quiz.reveal(q, width=60, lang="zh").splitlines()
    model = lines[lines.index("Model answer:") + 1:lines.index("", lines.index("Model answer:"))]
    assert len(model) > 3 and all(quiz._cols(line) <= 60 for line in model)
    assert "".join("".join(model).split()) == "".join(q.answer_zh.split())  # nothing lost but spaces
    assert not any(line.strip()[0] in "，。？！：；" for line in model)  # no line starts with punctuation
    assert quiz._cols("锁lock，") == 2 + 4 + 2
