"""The interview drill: Leitner-box spaced repetition over the bank, in a terminal or a notebook.

Progress lives in a JSON file the learner owns: ``$HCEDU_HOME/progress.json`` (default
``~/.hcedu/progress.json``). A card starts in box 1; a self-grade of "got it" moves it up one box,
"missed" sends it back to box 1. A card in box ``b`` is due again ``INTERVALS[b]`` days after it
was last graded.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .bank import Question, load

__all__ = ["INTERVALS", "Progress", "progress_path", "due", "run", "drill", "reveal", "reveal_html"]

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
        if self.path.exists():
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
                self.cards = {k: Card(**v) for k, v in raw.get("cards", {}).items()}
            except (ValueError, TypeError) as exc:
                raise ValueError(f"progress file {self.path} is corrupt ({exc}); delete it to start over") from None

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
        tmp.write_text(json.dumps({"cards": {k: vars(v) for k, v in sorted(self.cards.items())}}, indent=1))
        tmp.replace(self.path)


def due(questions: list[Question], progress: Progress, now: float | None = None) -> list[Question]:
    """Questions due now, lowest box first (then bank order)."""
    now = time.time() if now is None else now
    ready = [q for q in questions if progress.is_due(q.id, now)]
    return sorted(ready, key=lambda q: progress.card(q.id).box)


def _wrap(text: str, indent: str, width: int) -> list[str]:
    import textwrap
    return textwrap.wrap(text, width=max(40, width), initial_indent=indent,
                         subsequent_indent=" " * len(indent)) or [indent.rstrip()]


def reveal(q: Question, width: int | None = None) -> str:
    """The answer key as terminal text, wrapped to ``width`` columns (default: the terminal's)."""
    import shutil
    width = width or min(shutil.get_terminal_size((100, 24)).columns, 110)
    lines = ["A strong answer covers:"] + [line for p in q.key_points for line in _wrap(p, "  • ", width)]
    lines += ["", "Model answer:"] + _wrap(q.answer_en, "  ", width)
    if q.traps:
        lines += ["", "Traps (answers that lose points):"] + [line for t in q.traps for line in _wrap(t, "  ✗ ", width)]
    if q.follow_ups:
        lines += ["", "Likely follow-ups:"] + [line for f in q.follow_ups for line in _wrap(f, "  → ", width)]
    lines += ["", f"See it happen: {q.demo}"]
    return "\n".join(lines)


def demo_href(demo: str) -> str:
    """A link to the demo cell that works from a chapter notebook: ``08_x.ipynb#Heading-with-dashes``
    (JupyterLab's heading anchors replace spaces with dashes)."""
    from urllib.parse import quote
    path, _, heading = demo.partition("#")
    href = quote(Path(path).name)
    return href + ("#" + quote(heading.replace(" ", "-"), safe="-_.~`'") if heading else "")


def reveal_html(q: Question) -> str:
    """The answer key as HTML for the drill widget: wrapped prose, lists, and a link to the demo."""
    import html
    e = html.escape
    parts = ["<div style='line-height:1.45'><b>A strong answer covers:</b><ul>"]
    parts += [f"<li>{e(p)}</li>" for p in q.key_points]
    parts += [f"</ul><b>Model answer:</b><p>{e(q.answer_en)}</p>"]
    if q.traps:
        parts += ["<b>Traps (answers that lose points):</b><ul>"] + [f"<li>✗ {e(t)}</li>" for t in q.traps] + ["</ul>"]
    if q.follow_ups:
        parts += ["<b>Likely follow-ups:</b><ul>"] + [f"<li>→ {e(f)}</li>" for f in q.follow_ups] + ["</ul>"]
    parts += [f"<p>See it happen: <a href='{e(demo_href(q.demo))}' target='_self'>{e(q.demo.partition('#')[2] or q.demo)}</a>"
              f" <small>({e(q.demo.partition('#')[0])})</small></p></div>"]
    return "".join(parts)


def run(chapter: str | int | None = None, limit: int = 5, *, ask: Callable[[str], str] = input,
        say: Callable[[str], None] = print, progress: Progress | None = None, now: float | None = None) -> dict:
    """Drill up to ``limit`` due questions in a terminal; return {'asked', 'got', 'missed'}."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be an int >= 1 (got {limit!r})")
    progress = progress or Progress()
    questions = due(load(chapter), progress, now)[:limit]
    stats = {"asked": 0, "got": 0, "missed": 0}
    if not questions:
        say("Nothing is due. Come back tomorrow, or drill another chapter.")
        return stats
    for i, q in enumerate(questions, 1):
        say(f"\n── Question {i}/{len(questions)} · chapter {q.chapter} · {q.level} ──")
        say(q.question_zh)
        say(q.question_en)
        answer = ask("Answer out loud (or type), then press Enter to reveal (q to quit): ")
        if answer.strip().lower() == "q":
            break
        say(reveal(q))
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


def drill(chapter: str | int, progress: Progress | None = None):
    """A notebook widget drilling one chapter's questions (ipywidgets)."""
    import html

    import ipywidgets as w

    progress = progress or Progress()
    questions = load(chapter)
    if not questions:
        return w.HTML(f"<i>No interview questions for chapter {chapter} yet.</i>")
    state = {"i": 0, "queue": due(questions, progress) or questions}
    title = w.HTML()
    body = w.HTML()
    reveal_btn = w.Button(description="Reveal key points", icon="eye", layout=w.Layout(width="auto"))
    got_btn = w.Button(description="Got it", button_style="success", icon="check")
    miss_btn = w.Button(description="Missed it", button_style="warning", icon="times")
    status = w.HTML()

    def show() -> None:
        q = state["queue"][state["i"] % len(state["queue"])]
        title.value = (f"<b>Q{state['i'] % len(state['queue']) + 1}/{len(state['queue'])}</b> · {q.level} · "
                       f"<code>{html.escape(q.id)}</code><br><b>{html.escape(q.question_zh)}</b><br>"
                       f"{html.escape(q.question_en)}")
        body.value = ""
        got_btn.disabled = miss_btn.disabled = True

    def on_reveal(_: object) -> None:
        q = state["queue"][state["i"] % len(state["queue"])]
        body.value = reveal_html(q)
        got_btn.disabled = miss_btn.disabled = False

    def on_grade(got: bool) -> None:
        q = state["queue"][state["i"] % len(state["queue"])]
        card = progress.grade(q.id, got)
        status.value = f"{q.id} → box {card.box}"
        state["i"] += 1
        show()

    reveal_btn.on_click(on_reveal)
    got_btn.on_click(lambda _: on_grade(True))
    miss_btn.on_click(lambda _: on_grade(False))
    show()
    return w.VBox([title, reveal_btn, body, w.HBox([got_btn, miss_btn]), status])
