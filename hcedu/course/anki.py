"""The interview bank as an Anki deck (issue 20): ``hcedu export-anki PATH [--lang zh|en|both]``.

One note per question. Front: the question in Chinese and English. Back: the key points, the model answer in the
chosen language(s), the traps, the follow-ups with their answer keys, and the notebook cell that demonstrates it.

Re-importing updates instead of duplicating: every note's guid is derived from the question id
(``genanki.guid_for``), and the deck and note type have fixed ids, so Anki recognises them as the same deck and
the same notes after the bank changes. Needs ``genanki`` (the ``anki`` extra: ``pip install 'hcedu[anki]'``).
"""

from __future__ import annotations

import html
from pathlib import Path

from .bank import Question, load
from .quiz import _texts

__all__ = ["DECK_ID", "MODEL_ID", "DECK_NAME", "FIELDS", "note_fields", "build_deck", "export"]

#: Fixed ids: never change them, or Anki treats the next export as a different deck / note type.
DECK_ID = 1_747_020_208
MODEL_ID = 1_747_020_209
DECK_NAME = "hcedu · high-concurrency interview bank"
FIELDS = ("Id", "Question", "KeyPoints", "Answer", "Traps", "FollowUps", "Demo")

CSS = """.card { font-family: -apple-system, "PingFang SC", "Noto Sans CJK SC", sans-serif; font-size: 17px;
  text-align: left; line-height: 1.5; max-width: 46em; margin: auto; }
.zh { font-weight: bold; } .en { color: #555; } .meta { color: #888; font-size: 13px; }
h4 { margin: .8em 0 .2em; } ul { margin-top: .2em; }"""

FRONT = "<div class=meta>{{Id}}</div>{{Question}}"
BACK = ("{{FrontSide}}<hr id=answer><h4>A strong answer covers</h4>{{KeyPoints}}<h4>Model answer</h4>{{Answer}}"
        "<h4>Traps</h4>{{Traps}}{{#FollowUps}}<h4>Likely follow-ups</h4>{{FollowUps}}{{/FollowUps}}"
        "<div class=meta>See it happen: {{Demo}}</div>")


def _ul(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def note_fields(q: Question, lang: str = "both") -> list[str]:
    """The note's fields (see :data:`FIELDS`) as HTML, answers in ``lang``."""
    e = html.escape
    question = f"<div class=zh>{e(q.question_zh)}</div><div class=en>{e(q.question_en)}</div>"
    answer = "".join(f"<p>{e(t)}</p>" for t in _texts(q.answer_en, q.answer_zh, lang))
    follow = [" <br>".join(e(t) for t in _texts(f.question_en, f.question_zh, lang))
              + "".join(f"<br><small>{e(t)}</small>" for t in _texts(f.answer_en, f.answer_zh, lang))
              for f in q.follow_ups]
    return [q.id, question, _ul([e(p) for p in q.key_points]), answer, _ul([e(t) for t in q.traps]),
            _ul(follow) if follow else "", e(q.demo)]


def build_deck(questions: list[Question] | None = None, lang: str = "both"):
    """A ``genanki.Deck`` holding one note per question (tags: chapter and level)."""
    try:
        import genanki
    except ImportError:
        raise ImportError("the Anki export needs genanki: pip install 'hcedu[anki]' (or pip install genanki)") from None
    _texts("", "", lang)  # validates lang, naming the argument
    model = genanki.Model(MODEL_ID, "hcedu interview question", fields=[{"name": f} for f in FIELDS],
                          templates=[{"name": "Question → answer", "qfmt": FRONT, "afmt": BACK}], css=CSS)
    deck = genanki.Deck(DECK_ID, DECK_NAME)
    for q in load() if questions is None else questions:
        deck.add_note(genanki.Note(model=model, fields=note_fields(q, lang), guid=genanki.guid_for("hcedu", q.id),
                                   tags=[f"hcedu::ch{q.chapter}", f"hcedu::{q.level}"]))
    return deck


def export(path: str | Path, lang: str = "both", questions: list[Question] | None = None) -> tuple[Path, int]:
    """Write the deck to ``path`` (an ``.apkg``); return (path, number of notes)."""
    path = Path(path)
    if path.suffix != ".apkg":
        raise ValueError(f"path must end in .apkg (got {str(path)!r})")
    deck = build_deck(questions, lang)  # first: it explains a missing genanki
    import genanki
    path.parent.mkdir(parents=True, exist_ok=True)
    genanki.Package(deck).write_to_file(str(path))
    return path, len(deck.notes)
