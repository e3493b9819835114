"""The Anki export (issue 20): one note per question, stable guids, the chosen language on the back."""

import sqlite3
import zipfile

import pytest

from hcedu.course import anki, cli
from hcedu.course.bank import load

pytest.importorskip("genanki")


def notes_in(apkg):
    """(guid, fields, tags) of every note in an .apkg: a zip holding the sqlite collection.anki2."""
    with zipfile.ZipFile(apkg) as z:
        assert "collection.anki2" in z.namelist()
        db = apkg.with_suffix(".anki2")
        db.write_bytes(z.read("collection.anki2"))
    con = sqlite3.connect(db)
    try:
        rows = con.execute("select guid, flds, tags from notes").fetchall()
        decks = con.execute("select decks from col").fetchone()[0]
    finally:
        con.close()
    return [(g, f.split("\x1f"), t.split()) for g, f, t in rows], decks


def test_hcedu_export_anki_writes_one_note_per_question_with_stable_guids(tmp_path, capsys):
    questions = load()
    first, second = tmp_path / "a" / "deck.apkg", tmp_path / "b" / "deck.apkg"
    assert cli.main(["export-anki", str(first)]) == 0
    assert f"wrote {len(questions)} notes" in capsys.readouterr().out
    assert cli.main(["export-anki", str(second), "--lang", "zh"]) == 0
    a, decks = notes_in(first)
    b, _ = notes_in(second)
    assert len(a) == len(questions) and str(anki.DECK_ID) in decks
    assert sorted(f[0] for _, f, _ in a) == sorted(q.id for q in questions)  # one note per question
    assert {g for g, _, _ in a} == {g for g, _, _ in b} and len({g for g, _, _ in a}) == len(a)  # same guids
    from html import unescape
    by_id = {f[0]: [unescape(x) for x in f] for _, f, _ in a}
    zh_only = {f[0]: [unescape(x) for x in f] for _, f, _ in b}
    q = next(q for q in questions if q.id == "ch08-why-lua")
    front, back = by_id[q.id][1], by_id[q.id][3]
    assert q.question_zh in front and q.question_en in front
    assert q.answer_zh in back and back.index(q.answer_zh) < back.index(q.answer_en.split(".")[0])
    assert "Lua" in zh_only[q.id][3] and q.answer_en.split(".")[0] not in zh_only[q.id][3]
    assert by_id[q.id][anki.FIELDS.index("Demo")] == q.demo
    assert q.follow_ups[0].answer_en in by_id[q.id][anki.FIELDS.index("FollowUps")]
    assert all(t in by_id[q.id][anki.FIELDS.index("Traps")] for t in q.traps)
    assert all(p in by_id[q.id][anki.FIELDS.index("KeyPoints")] for p in q.key_points)
    tags = next(t for _, f, t in a if f[0] == q.id)
    assert tags == ["hcedu::ch08", "hcedu::mid"]


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert cli.main(["export-anki", str(tmp_path / "deck.txt")]) == 2
    assert "path must end in .apkg" in capsys.readouterr().err
    with pytest.raises(ValueError, match="lang must be one of"):
        anki.build_deck(lang="fr")
