"""The interview bank (COURSE.md §6): one YAML file per chapter under ``hcedu/course/bank/``.

File ``NN.yaml`` holds ``questions:``, a list of mappings with the fields in :data:`FIELDS`.
:func:`load` validates everything and raises :class:`BankError` naming the file and the question
(missing field, wrong type, unknown chapter or level, duplicate id, chapter not matching the file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .chapters import CHAPTERS

__all__ = ["BankError", "Question", "load", "load_file", "BANK_DIR", "LEVELS", "FIELDS"]

BANK_DIR = Path(__file__).with_name("bank")
LEVELS = ("junior", "mid", "senior")
FIELDS = ("id", "chapter", "section", "level", "question", "key_points", "answer", "traps", "follow_ups", "demo")


class BankError(ValueError):
    """An interview-bank file that does not follow the format."""


@dataclass(frozen=True)
class Question:
    """One interview question with what a strong answer covers."""

    id: str
    chapter: str
    section: str
    level: str
    question_en: str
    question_zh: str
    key_points: tuple[str, ...]
    answer_en: str
    answer_zh: str | None
    traps: tuple[str, ...]
    follow_ups: tuple[str, ...]
    demo: str
    source: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"[{self.id}] {self.question_en}\n{self.question_zh}"


def _req(item: dict, key: str, kind: type, where: str) -> Any:
    if key not in item:
        raise BankError(f"{where}: missing field {key!r}")
    value = item[key]
    if not isinstance(value, kind) or (isinstance(value, (str, list)) and not value):
        raise BankError(f"{where}: field {key!r} must be a non-empty {kind.__name__}")
    return value


def _strings(item: dict, key: str, where: str, allow_empty: bool = False) -> tuple[str, ...]:
    value = item.get(key, None)
    if value is None or not isinstance(value, list) or (not value and not allow_empty):
        raise BankError(f"{where}: field {key!r} must be a {'' if allow_empty else 'non-empty '}list of strings")
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise BankError(f"{where}: every entry of {key!r} must be a non-empty string")
    return tuple(value)


def _parse(item: Any, path: Path, index: int) -> Question:
    where = f"{path.name}, question {index + 1}"
    if not isinstance(item, dict):
        raise BankError(f"{where}: must be a mapping")
    qid = _req(item, "id", str, where)
    where = f"{path.name}, question {qid!r}"
    unknown = set(item) - set(FIELDS)
    if unknown:
        raise BankError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    chapter = str(_req(item, "chapter", (str, int), where)).zfill(2)
    if chapter not in CHAPTERS:
        raise BankError(f"{where}: unknown chapter {item['chapter']!r} (chapters: {', '.join(CHAPTERS)})")
    if chapter != path.stem:
        raise BankError(f"{where}: chapter {chapter} does not match the file {path.name}")
    level = _req(item, "level", str, where)
    if level not in LEVELS:
        raise BankError(f"{where}: level must be one of {', '.join(LEVELS)} (got {level!r})")
    question = _req(item, "question", dict, where)
    answer = _req(item, "answer", dict, where)
    for lang in ("en", "zh"):
        if not isinstance(question.get(lang), str) or not question[lang].strip():
            raise BankError(f"{where}: question.{lang} is required")
    if not isinstance(answer.get("en"), str) or not answer["en"].strip():
        raise BankError(f"{where}: answer.en is required")
    return Question(
        id=qid, chapter=chapter, section=str(_req(item, "section", str, where)), level=level,
        question_en=question["en"].strip(), question_zh=question["zh"].strip(),
        key_points=_strings(item, "key_points", where), answer_en=answer["en"].strip(),
        answer_zh=(answer.get("zh") or None), traps=_strings(item, "traps", where),
        follow_ups=_strings(item, "follow_ups", where, allow_empty=True),
        demo=_req(item, "demo", str, where), source=str(path))


def load_file(path: str | Path) -> list[Question]:
    """Load and validate one chapter file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BankError(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list) or not data["questions"]:
        raise BankError(f"{path.name}: must be a mapping with a non-empty 'questions' list")
    return [_parse(item, path, i) for i, item in enumerate(data["questions"])]


def load(chapter: str | int | None = None, bank_dir: str | Path | None = None) -> list[Question]:
    """Load every question (or one chapter's), validated; ids must be unique across the bank."""
    bank_dir = Path(bank_dir) if bank_dir is not None else BANK_DIR
    files = sorted(bank_dir.glob("*.yaml"))
    for f in files:
        if f.stem not in CHAPTERS:
            raise BankError(f"{f.name}: unknown chapter file (chapters: {', '.join(CHAPTERS)})")
    questions: list[Question] = []
    seen: dict[str, str] = {}
    for f in files:
        for q in load_file(f):
            if q.id in seen:
                raise BankError(f"{f.name}: duplicate id {q.id!r} (also in {seen[q.id]})")
            seen[q.id] = f.name
            questions.append(q)
    if chapter is not None:
        from .chapters import chapter as lookup
        number = lookup(chapter).number
        questions = [q for q in questions if q.chapter == number]
    return questions
