"""The interview drill: Leitner-box spaced repetition over the bank, in a terminal or a notebook.

Progress lives in a JSON file the learner owns: ``$HCEDU_HOME/progress.json`` (default
``~/.hcedu/progress.json``). A card starts in box 1; a self-grade of "got it" moves it up one box,
"missed" sends it back to box 1. A card in box ``b`` is due again ``INTERVALS[b]`` days after it
was last graded.

The file also remembers the learner's language choice (``"settings": {"lang": "zh" | "en" | "both"}``); a file
written before that setting existed (only ``"cards"``) loads with the default, "both".
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .bank import LANGS, Question, load

__all__ = ["INTERVALS", "LANGS", "Progress", "progress_path", "due", "run", "drill", "reveal", "reveal_html",
           "box_counts", "stats_table", "progress_chart"]

INTERVALS = {1: 0.0, 2: 1.0, 3: 3.0, 4: 7.0, 5: 14.0}  # box -> days until due again
DAY = 86400.0


def progress_path() -> Path:
    """Where progress is kept: ``$HCEDU_HOME/progress.json`` or ``~/.hcedu/progress.json``."""
    home = os.environ.get("HCEDU_HOME")
    return (Path(home) if home else Path.home() / ".hcedu") / "progress.json"


@dataclass
class Card:
    box: int = 1
    last: float = 0.0
    seen: int = 0


class Progress:
    """Leitner boxes per question id, stored as JSON."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else progress_path()
        self.cards: dict[str, Card] = {}
        self.settings: dict[str, str] = {}
        if self.path.exists():
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
                self.cards = {k: Card(**v) for k, v in raw.get("cards", {}).items()}
                self.settings = dict(raw.get("settings", {}))
            except (ValueError, TypeError, AttributeError) as exc:
                raise ValueError(f"progress file {self.path} is corrupt ({exc}); delete it to start over") from None

    @property
    def lang(self) -> str:
        """The language the drill shows answers in: 'zh', 'en' or 'both' (default), remembered in the file."""
        lang = self.settings.get("lang", "both")
        return lang if lang in LANGS else "both"

    @lang.setter
    def lang(self, value: str) -> None:
        if value not in LANGS:
            raise ValueError(f"lang must be one of {', '.join(LANGS)} (got {value!r})")
        if value != self.settings.get("lang"):
            self.settings["lang"] = value
            self.save()

    def __repr__(self) -> str:
        return f"Progress({str(self.path)!r}, cards={len(self.cards)}, lang={self.lang!r})"

    def card(self, qid: str) -> Card:
        return self.cards.get(qid, Card())

    def grade(self, qid: str, got_it: bool, now: float | None = None) -> Card:
        """Record a self-grade and move the card between boxes; saves the file."""
        now = time.time() if now is None else now
        card = self.card(qid)
        card = Card(box=min(card.box + 1, max(INTERVALS)) if got_it else 1, last=now, seen=card.seen + 1)
        self.cards[qid] = card
        self.save()
        return card

    def is_due(self, qid: str, now: float) -> bool:
        card = self.card(qid)
        return card.seen == 0 or now - card.last >= INTERVALS[card.box] * DAY

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        data = {"cards": {k: vars(v) for k, v in sorted(self.cards.items())}, "settings": self.settings}
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
        tmp.replace(self.path)


def due(questions: list[Question], progress: Progress, now: float | None = None) -> list[Question]:
    """Questions due now, lowest box first (then bank order)."""
    now = time.time() if now is None else now
    ready = [q for q in questions if progress.is_due(q.id, now)]
    return sorted(ready, key=lambda q: progress.card(q.id).box)


def _cols(text: str) -> int:
    """Terminal columns of ``text``: Chinese characters and full-width punctuation take two."""
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


#: A wrapping unit: one Chinese character with the full-width punctuation that must not start a line, a run of
#: other non-space characters, or spaces.
_TOKEN = re.compile(r"[\u3400-\u9fff][，。？！：；、）」』”]*|[^\s\u3400-\u9fff]+|\s+")


def _wrap(text: str, indent: str, width: int) -> list[str]:
    """Wrap to ``width`` terminal columns; English breaks at spaces, Chinese between characters."""
    import textwrap
    width = max(40, width)
    if not re.search(r"[\u3400-\u9fff]", text):
        return textwrap.wrap(text, width=width, initial_indent=indent,
                             subsequent_indent=" " * len(indent)) or [indent.rstrip()]
    lines, line = [], indent
    for token in _TOKEN.findall(" ".join(text.split())):
        if line.strip() and _cols(line + token.rstrip()) > width:
            lines.append(line.rstrip())
            line = " " * len(indent)
            if token.isspace():
                continue
        line += token
    lines.append(line.rstrip())
    return lines


def _texts(en: str | None, zh: str | None, lang: str) -> list[str]:
    """The paragraphs to show for ``lang``: Chinese first for 'both'; English stands in for a missing Chinese."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)} (got {lang!r})")
    picked = {"en": [en], "zh": [zh or en], "both": [zh, en]}[lang]
    return [t for t in picked if t]


def reveal(q: Question, width: int | None = None, lang: str = "both", follow_ups: bool = True) -> str:
    """The answer key as terminal text in ``lang`` ('zh', 'en', 'both'), wrapped to ``width`` columns
    (default: the terminal's). Follow-ups are listed with their answer keys."""
    import shutil
    width = width or min(shutil.get_terminal_size((100, 24)).columns, 110)
    lines = ["A strong answer covers:"] + [line for p in q.key_points for line in _wrap(p, "  • ", width)]
    lines += ["", "Model answer:"]
    for i, text in enumerate(_texts(q.answer_en, q.answer_zh, lang)):
        lines += ([""] if i else []) + _wrap(text, "  ", width)
    if q.traps:
        lines += ["", "Traps (answers that lose points):"] + [line for t in q.traps for line in _wrap(t, "  ✗ ", width)]
    if q.follow_ups and follow_ups:
        lines += ["", "Likely follow-ups:"]
        for f in q.follow_ups:
            lines += [line for t in _texts(f.question_en, f.question_zh, lang) for line in _wrap(t, "  → ", width)]
            lines += [line for t in _texts(f.answer_en, f.answer_zh, lang) for line in _wrap(t, "      ", width)]
    lines += ["", f"See it happen: {q.demo}"]
    return "\n".join(lines)


def demo_href(demo: str) -> str:
    """A link to the demo cell that works from a chapter notebook: ``08_x.ipynb#Heading-with-dashes``
    (JupyterLab's heading anchors replace spaces with dashes)."""
    from urllib.parse import quote
    path, _, heading = demo.partition("#")
    href = quote(Path(path).name)
    return href + ("#" + quote(heading.replace(" ", "-"), safe="-_.~`'") if heading else "")


def demo_link_html(demo: str) -> str:
    """An HTML link to a demo cell, with the notebook's path beside it."""
    import html
    e = html.escape
    return (f"<a href='{e(demo_href(demo))}' target='_self'>{e(demo.partition('#')[2] or demo)}</a>"
            f" <small>({e(demo.partition('#')[0])})</small>")


def reveal_html(q: Question, lang: str = "both", follow_ups: bool = True) -> str:
    """The answer key as HTML for the drill widget in ``lang``: wrapped prose, lists, and a link to the demo."""
    import html
    e = html.escape
    parts = ["<div style='line-height:1.45'><b>A strong answer covers:</b><ul>"]
    parts += [f"<li>{e(p)}</li>" for p in q.key_points]
    parts += ["</ul><b>Model answer:</b>"] + [f"<p>{e(t)}</p>" for t in _texts(q.answer_en, q.answer_zh, lang)]
    if q.traps:
        parts += ["<b>Traps (answers that lose points):</b><ul>"] + [f"<li>✗ {e(t)}</li>" for t in q.traps] + ["</ul>"]
    if q.follow_ups and follow_ups:
        parts += ["<b>Likely follow-ups:</b><ul>"]
        for f in q.follow_ups:
            asked = "<br>".join(e(t) for t in _texts(f.question_en, f.question_zh, lang))
            answered = "".join(f"<br><small>{e(t)}</small>" for t in _texts(f.answer_en, f.answer_zh, lang))
            parts += [f"<li>→ {asked}{answered}</li>"]
        parts += ["</ul>"]
    parts += [f"<p>See it happen: {demo_link_html(q.demo)}</p></div>"]
    return "".join(parts)


def run(chapter: str | int | None = None, limit: int = 5, *, ask: Callable[[str], str] = input,
        say: Callable[[str], None] = print, progress: Progress | None = None, now: float | None = None,
        lang: str | None = None) -> dict:
    """Drill up to ``limit`` due questions in a terminal; return {'asked', 'got', 'missed'}.

    ``lang`` ('zh', 'en', 'both') picks the language of questions and answers and is remembered in the
    progress file; None uses the remembered one."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be an int >= 1 (got {limit!r})")
    progress = progress or Progress()
    if lang is not None:
        progress.lang = lang
    lang = progress.lang
    questions = due(load(chapter), progress, now)[:limit]
    stats = {"asked": 0, "got": 0, "missed": 0}
    if not questions:
        say("Nothing is due. Come back tomorrow, or drill another chapter.")
        return stats
    for i, q in enumerate(questions, 1):
        say(f"\n── Question {i}/{len(questions)} · chapter {q.chapter} · {q.level} ──")
        say(q.question(lang))
        answer = ask("Answer out loud (or type), then press Enter to reveal (q to quit): ")
        if answer.strip().lower() == "q":
            break
        say(reveal(q, lang=lang))
        grade = ""
        while grade not in ("y", "n", "q"):
            grade = ask("Did your answer cover the key points? [y/n, q to quit]: ").strip().lower()
        if grade == "q":
            break
        card = progress.grade(q.id, grade == "y", now)
        stats["asked"] += 1
        stats["got" if grade == "y" else "missed"] += 1
        say(f"→ box {card.box}")
    say(f"\nDone: {stats['got']} got, {stats['missed']} missed. Progress saved to {progress.path}")
    return stats


def lang_toggle(progress: Progress, on_change: Callable[[str], None]):
    """Language buttons (中文 / English / both) bound to the progress file's remembered choice."""
    import ipywidgets as w
    toggle = w.ToggleButtons(options=[("中文", "zh"), ("English", "en"), ("中文 + English", "both")],
                             value=progress.lang, style={"button_width": "auto"})

    def changed(change: dict) -> None:
        progress.lang = change["new"]
        on_change(change["new"])

    toggle.observe(changed, names="value")
    return toggle


def grade_buttons(on_grade: Callable[[bool], None]):
    """The self-grade buttons ("Got it", "Missed it"), disabled until an answer is revealed; they call
    ``on_grade(True)`` / ``on_grade(False)``."""
    import ipywidgets as w
    got_btn = w.Button(description="Got it", button_style="success", icon="check", disabled=True)
    miss_btn = w.Button(description="Missed it", button_style="warning", icon="times", disabled=True)
    got_btn.on_click(lambda _: on_grade(True))
    miss_btn.on_click(lambda _: on_grade(False))
    return got_btn, miss_btn


def question_html(q: Question, lang: str) -> str:
    """The question in ``lang`` as HTML (Chinese in bold when both are shown)."""
    import html
    zh, en = html.escape(q.question_zh), html.escape(q.question_en)
    return {"zh": f"<b>{zh}</b>", "en": f"<b>{en}</b>", "both": f"<b>{zh}</b><br>{en}"}[lang]


def drill(chapter: str | int, progress: Progress | None = None):
    """A notebook widget drilling one chapter's questions (ipywidgets), in the remembered language."""
    import html

    import ipywidgets as w

    progress = progress or Progress()
    questions = load(chapter)
    if not questions:
        return w.HTML(f"<i>No interview questions for chapter {chapter} yet.</i>")
    state = {"i": 0, "queue": due(questions, progress) or questions, "revealed": False}
    title = w.HTML()
    body = w.HTML()
    reveal_btn = w.Button(description="Reveal key points", icon="eye", layout=w.Layout(width="auto"))
    status = w.HTML()

    def show() -> None:
        q = state["queue"][state["i"] % len(state["queue"])]
        title.value = (f"<b>Q{state['i'] % len(state['queue']) + 1}/{len(state['queue'])}</b> · {q.level} · "
                       f"<code>{html.escape(q.id)}</code><br>{question_html(q, progress.lang)}")
        body.value = reveal_html(q, progress.lang) if state["revealed"] else ""
        got_btn.disabled = miss_btn.disabled = not state["revealed"]

    def on_reveal(_: object) -> None:
        state["revealed"] = True
        show()

    def on_grade(got: bool) -> None:
        q = state["queue"][state["i"] % len(state["queue"])]
        card = progress.grade(q.id, got)
        status.value = f"{q.id} → box {card.box}"
        state["i"] += 1
        state["revealed"] = False
        show()

    reveal_btn.on_click(on_reveal)
    got_btn, miss_btn = grade_buttons(on_grade)
    toggle = lang_toggle(progress, lambda _: show())
    show()
    return w.VBox([title, reveal_btn, body, w.HBox([got_btn, miss_btn]), status, toggle])


#: Columns of the progress table and chart: cards never graded, then each Leitner box.
STAGES = ("new",) + tuple(f"box {b}" for b in INTERVALS)
#: Red for cards you keep missing, through to green for the ones you know (grey: not drilled yet).
BOX_COLORS = {"new": "lightgray", "box 1": "tab:red", "box 2": "tab:orange", "box 3": "gold",
              "box 4": "yellowgreen", "box 5": "tab:green"}


def box_counts(progress: Progress | None = None, now: float | None = None,
               questions: list[Question] | None = None) -> dict[str, dict[str, int]]:
    """Per chapter: how many cards are new / in each box, and how many are due now
    (``{"08": {"new": 9, "box 1": 1, ..., "due": 10, "total": 12}}``)."""
    progress = progress or Progress()
    now = time.time() if now is None else now
    questions = load() if questions is None else questions
    table: dict[str, dict[str, int]] = {}
    for q in questions:
        row = table.setdefault(q.chapter, {**{s: 0 for s in STAGES}, "due": 0, "total": 0})
        card = progress.card(q.id)
        row["new" if card.seen == 0 else f"box {card.box}"] += 1
        row["due"] += progress.is_due(q.id, now)
        row["total"] += 1
    return dict(sorted(table.items()))


def stats_table(chapter: str | int | None = None, progress: Progress | None = None, now: float | None = None,
                questions: list[Question] | None = None) -> str:
    """``hcedu quiz --stats``: cards per Leitner box per chapter and what is due now, as a text table."""
    questions = load(chapter) if questions is None else questions
    counts = box_counts(progress, now, questions)
    cols = STAGES + ("due", "total")
    lines = ["chapter  " + "  ".join(f"{c:>5}" for c in cols)]
    for number, row in counts.items():
        lines.append(f"{number:<7}  " + "  ".join(f"{row[c]:>5}" for c in cols))
    total = {c: sum(r[c] for r in counts.values()) for c in cols}
    lines.append("all      " + "  ".join(f"{total[c]:>5}" for c in cols))
    higher = sum(total[f"box {b}"] for b in INTERVALS if b >= 3)
    lines.append(f"\n{total['due']} card(s) due now; {higher} of {total['total']} in box 3 or higher "
                 f"(boxes are due again after {', '.join(f'{d:g}' for d in INTERVALS.values())} days).")
    return "\n".join(lines)


def progress_chart(progress: Progress | None = None, now: float | None = None,
                   questions: list[Question] | None = None):
    """A bar per chapter stacked by Leitner box (new cards at the bottom), with the number due now above each
    bar: where your interview answers are solid, and what to drill today. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    from ..lab.plot import finish

    counts = box_counts(progress, now, questions)
    chapters = list(counts)
    fig, ax = plt.subplots(figsize=(8.5, 3.6))
    bottom = [0] * len(chapters)
    for stage in STAGES:
        heights = [counts[c][stage] for c in chapters]
        ax.bar(chapters, heights, bottom=bottom, label=stage, color=BOX_COLORS[stage])
        bottom = [b + h for b, h in zip(bottom, heights)]
    for x, c in enumerate(chapters):
        ax.annotate(f"{counts[c]['due']} due", (x, counts[c]["total"]), ha="center", va="bottom", fontsize=8,
                    xytext=(0, 2), textcoords="offset points")
    due = sum(r["due"] for r in counts.values())
    total = sum(r["total"] for r in counts.values())
    finish(ax, title=f"Interview cards per Leitner box: {due} of {total} due now", xlabel="chapter",
           ylabel="cards", legend="outside", integer_y=True, ylim_zero=True)
    ax.set_ylim(top=max(r["total"] for r in counts.values()) * 1.15 + 1)
    plt.close(fig)
    return fig
