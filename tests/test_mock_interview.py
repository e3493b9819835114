"""The mock interview (issue 20): a seeded plan junior → senior across chapters, the key-point hint, the scripted
terminal session (``hcedu quiz --mock --seed 1``), the time limit, the weak-topic summary, the notebook widget."""

import io

import pytest

from hcedu.course import bank, cli, mock, quiz


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HCEDU_HOME", str(tmp_path))
    return tmp_path


def test_the_plan_is_seeded_goes_junior_to_senior_and_spreads_over_chapters():
    a, b = mock.plan(5, seed=1), mock.plan(5, seed=1)
    assert a == b and mock.plan(5, seed=2) != a
    levels = [bank.LEVELS.index(i.question.level) for i in a]
    assert levels == sorted(levels) and levels[0] == 0 and levels[-1] == 2
    keyworded = {q.chapter for q in bank.load() if all(kp.keywords_en for kp in q.key_points)}
    assert len({i.question.chapter for i in a}) == min(5, len(keyworded))  # a chapter repeats only when it must
    assert all(i.follow_up in i.question.follow_ups for i in a)
    assert mock._levels(3) == ["junior", "mid", "senior"]
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        mock.plan(0)
    with pytest.raises(ValueError, match="n must be at most"):
        mock.plan(10_000)


def test_the_hint_matches_keywords_in_both_languages_and_is_not_a_grade():
    q = next(q for q in bank.load("08") if q.id == "ch08-why-lua")
    h = mock.hint("先GET再DEL之间锁可能过期，所以要用 Lua 脚本保证原子性", q.key_points)
    touched = {str(kp) for kp, _ in h.touched}
    assert q.key_points[0] in touched and q.key_points[1] in touched  # 之间 / 原子, Lua / 脚本
    assert q.key_points[3] in h.missed  # nothing about WATCH/MULTI or DELEX
    assert "not a grade" in h.lines()[0]
    assert mock.hint("", q.key_points).touched == ()
    assert mock.hint("WATCH then MULTI", q.key_points).touched[0][1] == ("watch", "multi")


def good_answer(q):
    """An answer that uses one keyword of each of the first two key points (the first in Chinese)."""
    return f"{q.key_points[0].keywords_zh[0]}, and {q.key_points[1].keywords_en[0]}"


def script_for(seed):
    """Per round: answer, follow-up answer, self-grade; rounds 1 and 3 good, 2 and 4 missed, q at round 5."""
    items = mock.plan(5, seed=seed)
    return [good_answer(items[0].question), "a follow-up answer", "y", "I don't know", "", "n",
            good_answer(items[2].question), "", "y", "", "", "n", "q"]


def test_hcedu_quiz_mock_seed_1_runs_scripted(home, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(script_for(1)) + "\n"))
    assert cli.main(["quiz", "--mock", "--seed", "1", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert out.count("Key-point hint (keyword match, not a grade)") == 4  # q at round 5
    assert "  ✓ " in out and "  ✗ " in out and "Follow-up:" in out and "Answer key:" in out
    assert "Model answer:" in out and "Traps (answers that lose points):" in out
    assert "Mock interview over: 2/4 self-graded as covered" in out
    assert "Weak topics by chapter:" in out and "Weak topics by topic:" in out
    plan = mock.plan(5, seed=1)
    missed = [plan[1].question, plan[3].question]
    for q in missed:
        assert f"  {q.demo}" in out and f"{q.chapter} · " in out
    p = quiz.Progress()  # self-grades moved the cards
    assert p.card(plan[0].question.id).box == 2 and p.card(plan[1].question.id).box == 1
    assert p.card(plan[4].question.id).seen == 0  # quit before grading round 5
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(script_for(1)) + "\n"))
    cli.main(["quiz", "--mock", "--seed", "1", "--lang", "en"])
    import re
    clockless = lambda text: re.sub(r"\d+:\d\d left", "m:ss left", text)  # noqa: E731 (the only wall-clock part)
    assert clockless(capsys.readouterr().out) == clockless(out)  # deterministic under the seed


def test_the_time_limit_stops_the_session_and_the_summary_still_prints(home):
    now = [0.0]

    def ask(_prompt):
        now[0] += 200  # each prompt takes 200 s: a round (answer, follow-up, grade) 600 s
        return "y"

    said = []
    s = mock.run_mock(5, seed=3, minutes=15, ask=ask, say=said.append, clock=lambda: now[0], lang="zh")
    text = "\n".join(said)
    assert "Time is up" in text and len(s.results) == 2 and "Mock interview over: 2/2" in text
    assert "15:00 left" in text and "5:00 left" in text
    assert "没有弱项" not in text and "No weak topic this time" in text
    with pytest.raises(ValueError, match="minutes must be a number > 0"):
        mock.MockSession([], minutes=0)


def test_the_widget_runs_a_whole_interview(home):
    ui = mock.mock_interview(n=2, seed=1, minutes=None)
    head, prompt, box, submit, feedback, buttons, lang = ui.children
    got, missed = buttons.children
    first = ui.session.items[0]
    assert "Q1/2" in head.value and got.disabled and first.question.question_en.split()[0] in prompt.value
    box.value = good_answer(first.question)
    submit.click()
    assert "Key-point hint (keyword match, not a grade)" in feedback.value and "✓" in feedback.value
    assert "Model answer" in feedback.value and "Follow-up" in prompt.value and box.value == ""
    submit.click()  # answer the follow-up with nothing
    assert "Follow-up answer key" in feedback.value and not got.disabled
    missed.click()
    assert "Q2/2" in head.value
    submit.click(), submit.click(), got.click()
    assert "Mock interview over: 1/2" in feedback.value and "Revisit" in feedback.value
    import html
    assert html.escape(quiz.demo_href(first.question.demo)) in feedback.value  # an attribute value, escaped
    assert quiz.Progress().card(first.question.id).box == 1
