"""Mock interview (issue 20): a timed session of N questions drawn across chapters, junior → senior like a real
loop, each followed by one of its follow-ups.

For every typed answer the session shows which key points the text *touched* and which it *missed*: a keyword
match against the key points' keywords in both languages (``key_points[i].keywords`` in the bank). It is a hint,
labelled as one, never a grade: an answer can use none of the words and be right, or all of them and be wrong.
Then the model answer and the traps; the learner grades themself (that moves the Leitner card, like the drill).
At the end: weak topics by chapter and by topic, with links to the demo cells to revisit.

:class:`MockSession` holds the logic; :func:`run_mock` drives it in a terminal (``hcedu quiz --mock``, with
injected ``ask``/``say`` so a test can script it) and :func:`mock_interview` in a notebook (ipywidgets).
The same ``seed`` always draws the same questions and follow-ups.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from .bank import LEVELS, FollowUp, KeyPoint, Question, load
from .chapters import CHAPTERS
from .quiz import Progress, _texts, demo_link_html, reveal

__all__ = ["MockItem", "MockSession", "Hint", "hint", "plan", "run_mock", "mock_interview", "HINT_LABEL"]

HINT_LABEL = "Key-point hint (keyword match, not a grade)"


@dataclass(frozen=True)
class Hint:
    """Which key points a typed answer touched (with the keywords found) and which it missed."""

    touched: tuple[tuple[KeyPoint, tuple[str, ...]], ...]
    missed: tuple[KeyPoint, ...]
    unchecked: tuple[KeyPoint, ...] = ()  # key points with no keywords in the bank yet

    def lines(self) -> list[str]:
        out = [f"{HINT_LABEL}: touched {len(self.touched)} of {len(self.touched) + len(self.missed)}"]
        out += [f"  ✓ {kp}   [{', '.join(words)}]" for kp, words in self.touched]
        out += [f"  ✗ {kp}" for kp in self.missed]
        out += [f"  ? {kp}   (no keywords in the bank yet)" for kp in self.unchecked]
        return out


def hint(text: str, key_points: tuple[KeyPoint, ...]) -> Hint:
    """Match ``text`` against every key point's keywords (both languages, case-insensitive substring)."""
    low = text.casefold()
    touched, missed, unchecked = [], [], []
    for kp in key_points:
        words = kp.keywords("both")
        if not words:
            unchecked.append(kp)
            continue
        found = tuple(dict.fromkeys(w for w in words if w.casefold() in low))
        if found:
            touched.append((kp, found))
        else:
            missed.append(kp)
    return Hint(tuple(touched), tuple(missed), tuple(unchecked))


@dataclass(frozen=True)
class MockItem:
    """One round: a question and the follow-up asked after it (None if the question has none)."""

    question: Question
    follow_up: FollowUp | None


def _levels(n: int) -> list[str]:
    """A loop's level mix for ``n`` questions, easiest first: 5 -> junior, junior, mid, mid, senior."""
    return [LEVELS[min(len(LEVELS) - 1, i * len(LEVELS) // n)] for i in range(n)]


def plan(n: int = 5, seed: int | None = None, questions: list[Question] | None = None) -> list[MockItem]:
    """Draw ``n`` questions across chapters (a chapter repeats only when every chapter is used), with the level
    mix of :func:`_levels` (the nearest level when one runs out), each with one of its follow-ups. While the bank
    migrates, questions with keywords on their key points are drawn first."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1 (got {n!r})")
    questions = load() if questions is None else list(questions)
    if n > len(questions):
        raise ValueError(f"n must be at most {len(questions)} (the questions available), got {n}")
    rng = random.Random(seed)
    left = list(questions)
    chosen: list[Question] = []
    for level in _levels(n):
        used = Counter(q.chapter for q in chosen)
        rank = LEVELS.index(level)
        # questions whose key points carry keywords first (the hint needs them; the bank is migrating), then the
        # chapter used least, then the closest level; ties broken by the seeded shuffle
        rng.shuffle(left)
        best = min(left, key=lambda q: (not all(kp.keywords_en for kp in q.key_points), used[q.chapter],
                                        abs(LEVELS.index(q.level) - rank)))
        left.remove(best)
        chosen.append(best)
    return [MockItem(q, rng.choice(q.follow_ups) if q.follow_ups else None) for q in chosen]


@dataclass
class Result:
    item: MockItem
    answer: str
    hint: Hint
    follow_up_answer: str = ""
    got: bool | None = None


@dataclass
class MockSession:
    """The state of one mock interview; the terminal and the widget both drive it."""

    items: list[MockItem]
    minutes: float | None = None
    clock: Callable[[], float] = field(default=None)  # type: ignore[assignment]
    progress: Progress | None = None
    lang: str = "both"
    results: list[Result] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.clock is None:
            from ..clock import RealClock
            self.clock = RealClock().now
        if self.minutes is not None and (isinstance(self.minutes, bool) or not self.minutes > 0):
            raise ValueError(f"minutes must be a number > 0 (got {self.minutes!r})")
        self.started = self.clock()

    def remaining(self) -> float | None:
        """Seconds left (None when untimed); never negative."""
        if self.minutes is None:
            return None
        return max(0.0, self.started + self.minutes * 60 - self.clock())

    def time_up(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def clock_text(self) -> str:
        left = self.remaining()
        return "untimed" if left is None else f"{int(left // 60)}:{int(left % 60):02d} left"

    def answer(self, item: MockItem, text: str) -> Result:
        """Record the typed answer to the main question; return the result with its key-point hint."""
        result = Result(item, text, hint(text, item.question.key_points))
        self.results.append(result)
        return result

    def grade(self, result: Result, got: bool) -> None:
        """The learner's self-grade; moves the question's Leitner card when a progress file is attached."""
        result.got = got
        if self.progress is not None:
            self.progress.grade(result.item.question.id, got, self.clock())

    def weak(self) -> dict[str, Counter]:
        """Missed rounds counted by chapter and by topic (a round is weak if self-graded missed)."""
        missed = [r for r in self.results if r.got is False]
        return {"chapter": Counter(r.item.question.chapter for r in missed),
                "topic": Counter(topic(r.item.question) for r in missed)}

    def summary_lines(self) -> list[str]:
        graded = [r for r in self.results if r.got is not None]
        got = sum(r.got for r in graded)
        lines = [f"Mock interview over: {got}/{len(graded)} self-graded as covered "
                 f"({sum(len(r.hint.touched) for r in graded)} of "
                 f"{sum(len(r.hint.touched) + len(r.hint.missed) for r in graded)} key points touched by keyword)."]
        weak = self.weak()
        if not weak["chapter"]:
            return lines + ["No weak topic this time: try a harder mix (--n, another --seed)."]
        lines.append("Weak topics by chapter:")
        lines += [f"  {n} · {CHAPTERS[n].title}: {c} missed" for n, c in sorted(weak["chapter"].items())]
        lines.append("Weak topics by topic:")
        lines += [f"  {t}: {c} missed" for t, c in sorted(weak["topic"].items())]
        lines.append("Revisit the demo cells:")
        lines += [f"  {r.item.question.demo}" for r in self.results if r.got is False]
        return lines


def topic(q: Question) -> str:
    """A question's topic: its id without the chapter prefix (``ch08-fencing`` -> ``fencing``)."""
    return q.id.split("-", 1)[1] if "-" in q.id else q.id


def run_mock(n: int = 5, seed: int | None = None, minutes: float | None = 20, *, ask: Callable[[str], str] = input,
             say: Callable[[str], None] = print, progress: Progress | None = None,
             clock: Callable[[], float] | None = None, lang: str | None = None,
             questions: list[Question] | None = None) -> MockSession:
    """A mock interview in a terminal. ``q`` at any prompt ends it (the summary still prints)."""
    progress = progress or Progress()
    if lang is not None:
        progress.lang = lang
    lang = progress.lang
    session = MockSession(plan(n, seed, questions), minutes, clock, progress, lang)
    levels = " → ".join(dict.fromkeys(i.question.level for i in session.items))
    say(f"Mock interview: {len(session.items)} questions ({levels}), "
        f"{'untimed' if minutes is None else f'{minutes:g} minutes'}, seed {seed}. "
        "Type your answer on one line; q quits.")
    for i, item in enumerate(session.items, 1):
        if session.time_up():
            say("\n⏰ Time is up: in a real loop the interviewer would move on here.")
            break
        q = item.question
        say(f"\n── Question {i}/{len(session.items)} · chapter {q.chapter} · {q.level} · {session.clock_text()} ──")
        say(q.question(lang))
        text = ask("Your answer: ")
        if text.strip().lower() == "q":
            break
        result = session.answer(item, text)
        say("\n".join(result.hint.lines()))
        say(reveal(q, lang=lang, follow_ups=False))
        if item.follow_up is not None:
            f = item.follow_up
            say("\nFollow-up: " + "\n".join(_texts(f.question_en, f.question_zh, lang)))
            result.follow_up_answer = ask("Your answer: ")
            if result.follow_up_answer.strip().lower() == "q":
                break
            key = _texts(f.answer_en, f.answer_zh, lang) or ["(no answer key in the bank yet)"]
            say("Answer key:\n" + "\n".join(f"  {t}" for t in key))
        grade = ""
        while grade not in ("y", "n", "q"):
            grade = ask("Did you cover the key points (and the follow-up)? [y/n, q to quit]: ").strip().lower()
        if grade == "q":
            break
        session.grade(result, grade == "y")
    say("\n" + "\n".join(session.summary_lines()))
    return session


def mock_interview(n: int = 5, seed: int | None = None, minutes: float | None = 20, *,
                   progress: Progress | None = None, lang: str | None = None,
                   clock: Callable[[], float] | None = None, questions: list[Question] | None = None):
    """The mock interview as a notebook widget: type an answer, submit, read the hint and the model answer,
    answer the follow-up, grade yourself; the summary links the demo cells of what you missed."""
    import html

    import ipywidgets as w

    from .quiz import grade_buttons, lang_toggle, question_html, reveal_html

    progress = progress or Progress()
    if lang is not None:
        progress.lang = lang
    session = MockSession(plan(n, seed, questions), minutes, clock, progress, progress.lang)
    e = html.escape
    state = {"i": 0, "stage": "answer", "result": None}
    head, prompt, feedback = w.HTML(), w.HTML(), w.HTML()
    box = w.Textarea(placeholder="Type your answer as you would say it…", layout=w.Layout(width="100%", height="7em"))
    submit = w.Button(description="Submit answer", button_style="primary", icon="paper-plane")

    def item() -> MockItem:
        return session.items[state["i"]]

    def render() -> None:
        lang = progress.lang
        if state["stage"] == "done" or state["i"] >= len(session.items):
            state["stage"] = "done"
            head.value = "<b>Mock interview over</b>"
            prompt.value = feedback.value = ""
            weak_links = "".join(f"<li>{demo_link_html(r.item.question.demo)}</li>"
                                 for r in session.results if r.got is False)
            feedback.value = ("<pre style='white-space:pre-wrap'>" + e("\n".join(session.summary_lines()))
                              + "</pre>" + (f"<b>Revisit:</b><ul>{weak_links}</ul>" if weak_links else ""))
            box.layout.display = submit.layout.display = "none"
            got_btn.disabled = miss_btn.disabled = True
            return
        q = item().question
        head.value = (f"<b>Q{state['i'] + 1}/{len(session.items)}</b> · chapter {q.chapter} · {q.level} · "
                      f"⏱ {session.clock_text()}")
        stage = state["stage"]
        if stage == "follow_up":
            f = item().follow_up
            prompt.value = "<b>Follow-up:</b><br>" + "<br>".join(e(t) for t in _texts(f.question_en, f.question_zh, lang))
        else:
            prompt.value = question_html(q, lang)
        box.layout.display = submit.layout.display = None if stage in ("answer", "follow_up") else "none"
        got_btn.disabled = miss_btn.disabled = stage != "grade"

    def feedback_html(result: Result) -> str:
        h = result.hint
        items = ([f"<li>✓ {e(kp)} <small>[{e(', '.join(ws))}]</small></li>" for kp, ws in h.touched]
                 + [f"<li>✗ {e(kp)}</li>" for kp in h.missed] + [f"<li>? {e(kp)} <small>(no keywords yet)</small></li>"
                                                                 for kp in h.unchecked])
        return (f"<div><b>{HINT_LABEL}:</b> touched {len(h.touched)} of {len(h.touched) + len(h.missed)}"
                f"<ul>{''.join(items)}</ul></div>" + reveal_html(result.item.question, progress.lang, follow_ups=False))

    def on_submit(_: object) -> None:
        if session.time_up():
            feedback.value = "<b>⏰ Time is up.</b>"
            state["stage"] = "done"
            render()
            return
        if state["stage"] == "answer":
            state["result"] = session.answer(item(), box.value)
            feedback.value = feedback_html(state["result"])
            state["stage"] = "follow_up" if item().follow_up is not None else "grade"
        elif state["stage"] == "follow_up":
            f = item().follow_up
            state["result"].follow_up_answer = box.value
            key = _texts(f.answer_en, f.answer_zh, progress.lang) or ["(no answer key in the bank yet)"]
            feedback.value += "<b>Follow-up answer key:</b>" + "".join(f"<p>{e(t)}</p>" for t in key)
            state["stage"] = "grade"
        box.value = ""
        render()

    def on_grade(got: bool) -> None:
        session.grade(state["result"], got)
        state["i"] += 1
        state["stage"] = "answer"
        feedback.value = ""
        render()

    submit.on_click(on_submit)
    got_btn, miss_btn = grade_buttons(on_grade)
    toggle = lang_toggle(progress, lambda _: render())
    render()
    ui = w.VBox([head, prompt, box, submit, feedback, w.HBox([got_btn, miss_btn]), toggle])
    ui.session = session  # for tests and for the curious
    return ui

