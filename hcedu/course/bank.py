"""The interview bank (COURSE.md §6): one YAML file per chapter under ``hcedu/course/bank/``.

File ``NN.yaml`` holds ``questions:``, a list of mappings with the fields in :data:`FIELDS`.
:func:`load` validates everything and raises :class:`BankError` naming the file and the question
(missing field, wrong type, unknown chapter or level, duplicate id, chapter not matching the file).

Bilingual fields (issue 20):

* ``answer: {en, zh}``;
* each follow-up ``{question: {en, zh}, answer: {en, zh}}``: a :class:`FollowUp`;
* each key point ``{text: ..., keywords: {en: [...], zh: [...]}}``: a :class:`KeyPoint` (the keywords feed the
  mock interview's "which key points did you touch" hint).

While the bank migrates, plain-string follow-ups and key points and a missing ``answer.zh`` still load;
:func:`missing_translations` lists what is left, :func:`punctuation_problems` finds half-width punctuation after
Chinese characters. Both :class:`KeyPoint` and :class:`FollowUp` are ``str`` subclasses (the English text), so
code that treats them as strings keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import re

import yaml

from .chapters import CHAPTERS

__all__ = ["BankError", "Question", "KeyPoint", "FollowUp", "load", "load_file", "missing_translations",
           "punctuation_problems", "fix_punctuation", "fix_file", "zh_strings", "BANK_DIR", "LEVELS", "FIELDS"]

BANK_DIR = Path(__file__).with_name("bank")
LEVELS = ("junior", "mid", "senior")
FIELDS = ("id", "chapter", "section", "level", "question", "key_points", "answer", "traps", "follow_ups", "demo")


class BankError(ValueError):
    """An interview-bank file that does not follow the format."""


class KeyPoint(str):
    """One key point: the English text (the ``str`` value) and keywords per language for the mock hint."""

    keywords_en: tuple[str, ...]
    keywords_zh: tuple[str, ...]

    def __new__(cls, text: str, keywords_en: tuple[str, ...] = (), keywords_zh: tuple[str, ...] = ()) -> "KeyPoint":
        self = super().__new__(cls, text)
        self.keywords_en, self.keywords_zh = tuple(keywords_en), tuple(keywords_zh)
        return self

    def keywords(self, lang: str = "both") -> tuple[str, ...]:
        """The keywords for ``lang`` ('en', 'zh' or 'both')."""
        return {"en": self.keywords_en, "zh": self.keywords_zh}.get(lang, self.keywords_en + self.keywords_zh)

    def __repr__(self) -> str:
        return f"KeyPoint({str(self)!r}, en={list(self.keywords_en)}, zh={list(self.keywords_zh)})"


class FollowUp(str):
    """A follow-up question (the ``str`` value is its English text) with its answer key in both languages."""

    question_en: str
    question_zh: str | None
    answer_en: str | None
    answer_zh: str | None

    def __new__(cls, question_en: str, question_zh: str | None = None, answer_en: str | None = None,
                answer_zh: str | None = None) -> "FollowUp":
        self = super().__new__(cls, question_en)
        self.question_en, self.question_zh, self.answer_en, self.answer_zh = (
            question_en, question_zh, answer_en, answer_zh)
        return self

    def __repr__(self) -> str:
        return f"FollowUp({self.question_en!r}, zh={self.question_zh!r}, answered={self.answer_en is not None})"


@dataclass(frozen=True)
class Question:
    """One interview question with what a strong answer covers."""

    id: str
    chapter: str
    section: str
    level: str
    question_en: str
    question_zh: str
    key_points: tuple[KeyPoint, ...]
    answer_en: str
    answer_zh: str | None
    traps: tuple[str, ...]
    follow_ups: tuple[FollowUp, ...]
    demo: str
    source: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"[{self.id}] {self.question_en}\n{self.question_zh}"

    def question(self, lang: str = "both") -> str:
        """The question in ``lang`` ('zh', 'en' or 'both': Chinese line, then English)."""
        return _pick(self.question_en, self.question_zh, lang)

    def answer(self, lang: str = "both") -> str:
        """The model answer in ``lang``; 'zh' falls back to English while a translation is missing."""
        return _pick(self.answer_en, self.answer_zh, lang)


LANGS = ("zh", "en", "both")


def _pick(en: str | None, zh: str | None, lang: str, sep: str = "\n") -> str:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)} (got {lang!r})")
    if lang == "en" or not zh:
        return en or zh or ""
    if lang == "zh" or not en:
        return zh
    return zh + sep + en


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


def _text(value: Any, where: str, langs: tuple[str, ...] = ("en", "zh")) -> dict[str, str]:
    """A ``{en, zh}`` mapping whose ``langs`` are required non-empty strings (others optional)."""
    if not isinstance(value, dict):
        raise BankError(f"{where} must be a mapping {{en: ..., zh: ...}}")
    unknown = set(value) - {"en", "zh"}
    if unknown:
        raise BankError(f"{where}: unknown language(s) {', '.join(sorted(map(str, unknown)))}")
    out = {}
    for lang in ("en", "zh"):
        v = value.get(lang)
        if v is None and lang not in langs:
            continue
        if not isinstance(v, str) or not v.strip():
            raise BankError(f"{where}.{lang} is required (a non-empty string)")
        out[lang] = v.strip()
    return out


def _key_points(item: dict, where: str) -> tuple[KeyPoint, ...]:
    value = item.get("key_points")
    if not isinstance(value, list) or not value:
        raise BankError(f"{where}: field 'key_points' must be a non-empty list of strings or {{text, keywords}}")
    points = []
    for i, kp in enumerate(value, 1):
        at = f"{where}: key_points[{i}]"
        if isinstance(kp, str) and kp.strip():
            points.append(KeyPoint(kp))
            continue
        if not isinstance(kp, dict) or set(kp) - {"text", "keywords"}:
            raise BankError(f"{at} must be a non-empty string or a mapping {{text, keywords: {{en, zh}}}}")
        if not isinstance(kp.get("text"), str) or not kp["text"].strip():
            raise BankError(f"{at}.text is required (a non-empty string)")
        kw = kp.get("keywords")
        if not isinstance(kw, dict) or set(kw) != {"en", "zh"}:
            raise BankError(f"{at}.keywords must be a mapping {{en: [...], zh: [...]}}")
        for lang in ("en", "zh"):
            words = kw[lang]
            if (not isinstance(words, list) or not words
                    or not all(isinstance(w, str) and w.strip() for w in words)):
                raise BankError(f"{at}.keywords.{lang} must be a non-empty list of non-empty strings")
        points.append(KeyPoint(kp["text"], tuple(w.strip() for w in kw["en"]), tuple(w.strip() for w in kw["zh"])))
    return tuple(points)


def _follow_ups(item: dict, where: str) -> tuple[FollowUp, ...]:
    value = item.get("follow_ups")
    if not isinstance(value, list):
        raise BankError(f"{where}: field 'follow_ups' must be a list (may be empty)")
    out = []
    for i, fu in enumerate(value, 1):
        at = f"{where}: follow_ups[{i}]"
        if isinstance(fu, str) and fu.strip():  # the old format, accepted while the bank migrates
            out.append(FollowUp(fu.strip()))
            continue
        if not isinstance(fu, dict) or set(fu) != {"question", "answer"}:
            raise BankError(f"{at} must be a non-empty string or a mapping {{question: {{en, zh}}, answer: {{en, zh}}}}")
        q = _text(fu["question"], f"{at}.question")
        a = _text(fu["answer"], f"{at}.answer")
        out.append(FollowUp(q["en"], q["zh"], a["en"], a["zh"]))
    return tuple(out)


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
    answer = _text(answer, f"{where}: answer", langs=("en",))
    return Question(
        id=qid, chapter=chapter, section=str(_req(item, "section", str, where)), level=level,
        question_en=question["en"].strip(), question_zh=question["zh"].strip(),
        key_points=_key_points(item, where), answer_en=answer["en"],
        answer_zh=answer.get("zh"), traps=_strings(item, "traps", where),
        follow_ups=_follow_ups(item, where),
        demo=_req(item, "demo", str, where), source=str(path))


def load_file(path: str | Path) -> list[Question]:
    """Load and validate one chapter file."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
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


def missing_translations(questions: list[Question] | None = None) -> list[str]:
    """What the bank still lacks for issue 20, one line each: ``"ch01-x: answer.zh"``,
    ``"ch01-x: follow_ups[1] answer (en+zh)"``, ``"ch01-x: key_points[2] keywords"``. Empty when complete."""
    questions = load() if questions is None else questions
    out = []
    for q in questions:
        if not q.answer_zh:
            out.append(f"{q.id}: answer.zh")
        for i, fu in enumerate(q.follow_ups, 1):
            if fu.answer_en is None or fu.answer_zh is None or fu.question_zh is None:
                out.append(f"{q.id}: follow_ups[{i}] question.zh + answer (en+zh)")
        for i, kp in enumerate(q.key_points, 1):
            if not kp.keywords_en or not kp.keywords_zh:
                out.append(f"{q.id}: key_points[{i}] keywords (en+zh)")
    return out


def zh_strings(q: Question) -> list[tuple[str, str]]:
    """Every Chinese string of a question as (field, text)."""
    out = [("question.zh", q.question_zh)]
    if q.answer_zh:
        out.append(("answer.zh", q.answer_zh))
    for i, fu in enumerate(q.follow_ups, 1):
        out += [(f"follow_ups[{i}].{part}.zh", text) for part, text in
                (("question", fu.question_zh), ("answer", fu.answer_zh)) if text]
    for i, kp in enumerate(q.key_points, 1):
        out += [(f"key_points[{i}].keywords.zh", w) for w in kp.keywords_zh]
    return out


#: A half-width , ? : ; ! ( ) right after a Chinese character (CJK ideographs), or , ? : ; ! right before one
#: ("TTL,只有"), or a Chinese sentence ending in a half-width ? or ! ("再EXPIRE?"): Chinese text uses ，？：；！（）.
HALF_WIDTH_AFTER_ZH = re.compile(r"[\u3400-\u9fff][,?:;!()]|[,?:;!] ?[\u3400-\u9fff]|[?!]\s*$")


def punctuation_problems(questions: list[Question]) -> list[str]:
    """Chinese strings with half-width punctuation after a Chinese character, one line each."""
    return [f"{q.id}: {where}: {m.group()!r} in …{text[max(0, m.start() - 12):m.end() + 4]}…"
            for q in questions for where, text in zh_strings(q) for m in HALF_WIDTH_AFTER_ZH.finditer(text)]


_CJK = "\u3400-\u9fff"
_FULL = {",": "，", "?": "？", ":": "：", ";": "；", "!": "！"}


def fix_punctuation(text: str) -> str:
    """Chinese punctuation made full-width where :func:`punctuation_problems` wants it: ``,?:;!`` after a Chinese
    character or before one (a following space dropped), a ``?``/``!`` ending the text, and parentheses whose
    opening follows a Chinese character or which enclose Chinese. Code stays as it is
    (``rate.NewLimiter(100, 200)``), but check a SQL ``?`` placeholder right before Chinese by hand."""
    out = list(text)
    stack = []
    for i, ch in enumerate(text):
        if ch == "(":
            stack.append(i)
        elif ch == ")" and stack:
            j = stack.pop()
            if (j and re.match(f"[{_CJK}]", text[j - 1])) or re.search(f"[{_CJK}]", text[j + 1:i]):
                out[j], out[i] = "（", "）"
    text = "".join(out)
    text = re.sub(f"([{_CJK}）])([,?:;!]) ?", lambda m: m.group(1) + _FULL[m.group(2)], text)
    text = re.sub(f"([,?:;!]) ?(?=[{_CJK}])", lambda m: _FULL[m.group(1)], text)
    return re.sub(r"([?!])(\s*)$", lambda m: _FULL[m.group(1)] + m.group(2), text) if re.search(f"[{_CJK}]", text) else text


def fix_file(path: str | Path) -> int:
    """Apply :func:`fix_punctuation` to the Chinese values (``zh:`` entries and their keyword lists) of one bank
    file in place, keeping its layout; return the number of lines changed. The file must load the same before
    and after, apart from those strings."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    changed = 0
    for i, line in enumerate(lines):
        key, sep, value = line.partition("zh:")
        if not sep or not re.search(f"[{_CJK}]", value):
            continue
        body, newline = (value[:-1], "\n") if value.endswith("\n") else (value, "")
        closing = re.search(r'("\s*[}\]]*\s*)$', body)  # keep the closing quote/brackets out of the fix
        head, tail = (body[:closing.start()], closing.group()) if closing else (body, "")
        fixed = key + sep + fix_punctuation(head) + tail + newline
        if fixed != line:
            lines[i] = fixed
            changed += 1
    if changed:
        path.write_text("".join(lines), encoding="utf-8")
        load_file(path)  # still valid
    return changed


if __name__ == "__main__":  # pragma: no cover - python -m hcedu.course.bank fix-punctuation FILE...
    import sys
    if len(sys.argv) < 3 or sys.argv[1] != "fix-punctuation":
        sys.exit("usage: python -m hcedu.course.bank fix-punctuation hcedu/course/bank/NN.yaml ...")
    for name in sys.argv[2:]:
        print(f"{name}: {fix_file(name)} line(s) fixed")
