"""Numbers in the prose of notebooks 00-04 cannot drift from their measurements.

Every number a markdown cell states must appear in some code cell of the same notebook (in its source,
where it is a parameter or an assert bound, or in its stored output, where it was printed), unless it is
a fact listed below (a Go version, an issue number, a constant of Go's runtime). A sentence like "230x
faster" under an output that now says 3x fails here; build such sentences from the measured value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: numbers that are facts, not measurements, per notebook
FACTS = {
    "00_start_here": {"05"},                        # "Chapter 05"
    # benchmark size; Go's local run queue length; Go versions written without "Go"
    "01_goroutines_and_threads": {"100,000", "256", "1.5", "1.19"},
    "02_channels": set(),
    "03_sync_pool": {"64", "23199"},                # fmt's 64 KiB cap, golang/go#23199
    "04_goroutine_lifecycle": {"2.1"},              # the source's section number
}
NUMBER = re.compile(r"(?<![\w.#/])(\d[\d,]*(?:\.\d+)?)")
VERSION = re.compile(r"(Go|go|Python|Redis|PEP)\s*[≥<>=]*\s*\d[\d.]*(?:[–-]\d[\d.]*)?")


def _text(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def _evidence(nb: dict) -> str:
    parts = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        parts.append(_text(cell))
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain") or ""
            parts.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(parts).replace(",", "").replace("_", "")


def unbacked_numbers(path: Path, facts: set) -> list[str]:
    nb = json.loads(path.read_text())
    evidence = _evidence(nb)
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = _text(cell)
        if text.lstrip().startswith("## The chapters"):   # generated from hcedu.course.chapters
            continue
        text = re.sub(r"`[^`]*`", "", text)                # code spans name code, not measurements
        text = re.sub(r"\]\([^)]*\)", "]", text)            # link targets
        text = re.sub(r"\$[^$]*\$", "", text)               # formulas
        text = VERSION.sub("", text)
        for m in NUMBER.finditer(text):
            num = m.group(1).rstrip(".,")
            if num in facts or num.replace(",", "") in evidence:
                continue
            found.append(f"{num!r} in ...{text[max(0, m.start() - 50):m.end() + 20]!r}...")
    return found


@pytest.mark.parametrize("stem", sorted(FACTS))
def test_every_number_in_the_prose_is_printed_asserted_or_a_listed_fact(stem):
    missing = unbacked_numbers(ROOT / "notebooks" / f"{stem}.ipynb", FACTS[stem])
    assert not missing, "numbers in the prose that no code cell prints or asserts:\n" + "\n".join(missing)


def test_the_check_can_fail(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": "Threads start 230x slower."},
                    {"cell_type": "code", "source": "print(ratio)", "outputs": [{"text": "3.1x"}]}]}
    p = tmp_path / "x.ipynb"
    p.write_text(json.dumps(nb))
    assert unbacked_numbers(p, set()) and not unbacked_numbers(p, {"230"})
