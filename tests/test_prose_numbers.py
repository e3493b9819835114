"""Every number a chapter's prose states is tied to evidence (issue: "numbers that cannot drift").

A number in a markdown cell must appear in the notebook's own code (a literal the cell uses or asserts) or
in its stored outputs (printed by the cell that measures it), or be a constant listed for that notebook in
``tests/prose_numbers.yaml`` with the reason it is fixed (a Go or Redis fact, a protocol constant, a quoted
figure with its source). Citations need no listing: versions after a product name ("Go 1.23", "Redis 6.2",
"redis-py 8.0"), chapter and section references, issue numbers, list numbering and HTTP status codes.

So a sentence such as "the buffer absorbs 0.2 s" drifts into a failure as soon as the cell under it stops
printing 0.2, instead of silently disagreeing with the output below it.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ALLOWED = yaml.safe_load((ROOT / "tests" / "prose_numbers.yaml").read_text(encoding="utf-8")) or {}

NUMBER = re.compile(r"(?<![\w.\-/#§'’])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w.]*\w)")
# what stands right before a number that makes it a citation, not a claim
CITATION = re.compile(
    r"(?ix)(?:\b(?:go|golang|redis|redis-py|go-redis|python|cpython|java|jdk|rocketmq|redisson|kafka|lua|"
    r"jupyterlab|fakeredis|linux|kernel|arm(?:v8)?|armv|x86|http|rfc|chapter|chapters|ch|section|sections|"
    r"issue|golang/go\#|go\#|step|part|exercise|round|version|v|pep|sa|cve|ieee|utf|sha|md|base|tls|"
    r"source|source's|sources|since|before|until|from)"
    r"[\s\-:#]*(?:\d[\d.]*\s*(?:and|,|/|–|-|or|to)\s*)*$)")
HTTP = re.compile(r"\b(?:[1-5]\d\d)\b")


def _stream(o) -> str:
    parts = [o.get("text", "")]
    data = o.get("data", {})
    parts += [data.get("text/plain", ""), data.get("text/html", ""), data.get("text/markdown", "")]
    return " ".join("".join(p) if isinstance(p, list) else p for p in parts)


def _norm(n: str) -> str:
    n = n.replace(",", "")
    return n.rstrip("0").rstrip(".") if "." in n else n


def evidence(nb) -> set[str]:
    """Every number the notebook's code contains or its outputs print (normalised: 9,000 = 9000, 2.50 = 2.5)."""
    text = []
    for c in nb.cells:
        if c.cell_type == "code":
            text.append(c.source)
            text += [_stream(o) for o in c.get("outputs", [])]
    found = set()
    for m in re.finditer(r"\d+(?:[.,_]\d+)*(?:e-?\d+)?", " ".join(text)):
        raw = m.group(0).replace("_", "")
        found.add(_norm(raw))
        found.update(_norm(p) for p in raw.split(","))
        try:  # the same quantity in the next unit: 0.2 (s) is "200 ms", 200 (ms) is "0.2 s", 1e-3 is "1 ms"
            value = float(raw.replace(",", ""))
        except ValueError:
            continue
        for scaled in (value * 1000, value / 1000):
            found.add(_norm(f"{scaled:.6f}"))
    return found


def prose_numbers(source: str) -> list[tuple[str, str]]:
    """``(number, context)`` for each number the markdown states as a claim (citations left out)."""
    text = re.sub(r"```.*?```", " ", source, flags=re.S)      # code blocks are code
    text = re.sub(r"`[^`]*`", " ", text)                      # so are code spans
    text = re.sub(r"\]\([^)]*\)", "]", text)                  # link targets
    text = re.sub(r"<[^>]+>", " ", text)                      # html tags
    text = re.sub(r"(?m)^\s*(?:\d+[.)]|[|>#*-])\s*", " ", text)  # list numbers, table pipes, quote marks
    out, cited = [], set()
    for m in NUMBER.finditer(text):
        before = text[max(0, m.start() - 40):m.start()]
        after = text[m.end():m.end() + 2]
        if (CITATION.search(before) or m.group(1) in cited or re.fullmatch(r"0\d", m.group(1))  # chapter "09"
                or re.match(r"\s?[\u4e00-\u9fff]", after)):                                     # "2.1 goroutine在…"
            cited.add(m.group(1))
            continue
        if HTTP.fullmatch(m.group(1)) and re.search(r"(?i)(http|status|→|->|\b4\d\d\b|\b5\d\d\b)", before[-12:] + " "):
            continue
        out.append((m.group(1), text[max(0, m.start() - 30):m.end() + 12].replace("\n", " ").strip()))
    return out


def unexplained(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    have = evidence(nb)
    allowed = {_norm(str(k)) for k in (ALLOWED.get(path.stem) or {})}
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown" or "hcedu-nav" in cell.get("metadata", {}).get("tags", []):
            continue  # the generated navigation footer holds chapter numbers, not claims
        for number, context in prose_numbers(cell.source):
            n = _norm(number)
            if n not in have and n not in allowed:
                problems.append(f"cell {i}: {number!r} in “…{context}…”")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_number_in_the_prose_is_printed_asserted_or_a_listed_constant(path):
    problems = unexplained(path)
    assert not problems, (
        f"{path.name}: the prose states numbers that no cell prints or asserts: " + "; ".join(problems[:12])
        + f"{' …' if len(problems) > 12 else ''}. Build the sentence from the measured value, assert it in the "
        "cell, or (for a fixed fact) list it under " + path.stem + " in tests/prose_numbers.yaml with its reason.")


def test_the_scan_catches_drift_and_lets_citations_through():
    assert [n for n, _ in prose_numbers("a 100-slot buffer absorbs 0.2 s of a burst")] == ["100", "0.2"]
    assert prose_numbers("since Go 1.13, Redis 6.2 and redis-py 8.0; see chapter 09 and golang/go#23199") == []
    assert prose_numbers("1. first\n2. second") == []
    assert prose_numbers("it answers HTTP 503, or → 429") == []
    assert [n for n, _ in prose_numbers("drains 9,000 items in `x = 5` time")] == ["9,000"]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("throughput rises 230× here"),
                nbformat.v4.new_code_cell("r = run()", outputs=[nbformat.v4.new_output("stream", text="ratio 231\n")])]
    assert _norm("230") not in evidence(nb) and "231" in evidence(nb)


def test_listed_constants_have_reasons_and_belong_to_a_notebook():
    stems = {p.stem for p in NOTEBOOKS}
    for stem, numbers in ALLOWED.items():
        assert stem in stems, f"tests/prose_numbers.yaml lists {stem}, which is no notebook"
        for number, reason in (numbers or {}).items():
            assert isinstance(reason, str) and len(reason) >= 8, f"{stem}: {number} needs a reason"
