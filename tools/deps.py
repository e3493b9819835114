"""The course's dependency set: install the tested versions, refresh them, and catch a new release that
changes what the notebooks print.

    python tools/deps.py install PYTHON   # pip-install the course into PYTHON's environment, pinned by the lock
    python tools/deps.py lock             # make lock: newest versions pyproject.toml allows -> constraints.txt
    python tools/deps.py newest           # scratch venv with the newest allowed versions; run the notebooks

Why: ``pyproject.toml`` keeps ranges (people install the package elsewhere), but the notebooks' stored
outputs were produced with one exact set of versions. ``constraints.txt`` records that set; ``make lab``
and ``make test`` install it, so a learner gets what was tested. ``newest`` installs what a fresh
install without the lock would get today and runs the notebooks and solutions under nbval: a release that
changes a compared output fails there the day it appears, naming the packages that moved.

The lock is for the Python version written in its header; on another Python the install falls back to
the ranges (a pinned wheel may not exist for it) and says so.

Every install by this script (``make``) also writes :data:`FAST_IMPORTS` into the environment
(:func:`skip_slow_iri_checker`). ``jsonschema`` imports ``rfc3987_syntax`` eagerly, which compiles ~35 Lark
grammars at import time, only to check the ``iri``/``iri-reference`` formats that no Jupyter or nbformat
schema uses. Every process that imports nbformat (pytest and its xdist workers under nbval, JupyterLab,
``hcedu build``/``grade``/``execute``) paid 1-2 s of CPU for it on an idle 2-core machine (5 s on a busy
one): measured, test_cli.py + test_exercises.py took 28 CPU-s with it and 13 without. Upstream:
https://github.com/python-jsonschema/jsonschema/issues/1428. The ``.pth`` file makes that import fail in
this environment only, which jsonschema handles (it then skips the IRI formats).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "constraints.txt"
EXTRAS = "dev,go,anki,book"
HEADER = "# constraints.txt: the exact versions the stored notebook outputs were produced with (see tools/deps.py)."


def _pip(python: str, *args: str) -> None:
    subprocess.run([python, "-m", "pip", "--disable-pip-version-check", *args], check=True)


def _python_version(python: str) -> str:
    return subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          check=True, capture_output=True, text=True).stdout.strip()


def lock_python() -> str | None:
    """The ``X.Y`` Python version the lock was made with, from its header."""
    if not LOCK.exists():
        return None
    m = re.search(r"^# python (\d+\.\d+)$", LOCK.read_text(), flags=re.M)
    return m.group(1) if m else None


def read_lock(path: Path = LOCK) -> dict[str, str]:
    """``{normalised name: version}`` of a lock (or any ``pip freeze`` output)."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            pins[_norm(name)] = version.split(";")[0].strip()
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def install(python: str, quiet: bool = True) -> None:
    """Install the course (editable, with the dev and go extras) into ``python``'s environment."""
    q = ["--quiet"] if quiet else []
    _pip(python, "install", *q, "--upgrade", "pip")
    have, want = _python_version(python), lock_python()
    if want and have == want:
        _pip(python, "install", *q, "-c", str(LOCK), "-e", f"{ROOT}[{EXTRAS}]")
    else:
        print(f"note: constraints.txt was made with Python {want}; this is Python {have}, so the newest versions "
              f"pyproject.toml allows are installed (stored notebook outputs may differ slightly)")
        _pip(python, "install", *q, "-e", f"{ROOT}[{EXTRAS}]")
    skip_slow_iri_checker(python)


FAST_IMPORTS = "hcedu-skip-rfc3987-syntax.pth"
_FAST_IMPORTS_LINE = ('import sys; sys.modules.setdefault("rfc3987_syntax", None)  '
                      '# hcedu (tools/deps.py): jsonschema then skips its slow IRI format checker\n')


def skip_slow_iri_checker(python: str) -> Path:
    """Write :data:`FAST_IMPORTS` into the site-packages of ``python``'s environment; return its path."""
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    path = Path(site) / FAST_IMPORTS
    path.write_text(_FAST_IMPORTS_LINE)
    return path


def _scratch_venv(where: Path) -> str:
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    return str(where / "bin" / "python")


def _freeze(python: str) -> str:
    out = subprocess.run([python, "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"],
                         check=True, capture_output=True, text=True).stdout
    return "".join(line + "\n" for line in sorted(out.splitlines(), key=str.lower)
                   if line and not line.startswith("-e ") and not _norm(line).startswith("hcedu=="))


def _newest_env(where: Path) -> str:
    python = _scratch_venv(where)
    _pip(python, "install", "--quiet", "--upgrade", "pip")
    _pip(python, "install", "--quiet", "--upgrade", "--upgrade-strategy", "eager", "-e", f"{ROOT}[{EXTRAS}]")
    skip_slow_iri_checker(python)
    return python


def lock() -> None:
    """Refresh ``constraints.txt`` from a scratch venv holding the newest versions pyproject.toml allows."""
    with tempfile.TemporaryDirectory(prefix="hcedu-lock-") as tmp:
        python = _newest_env(Path(tmp) / "venv")
        frozen = _freeze(python)
        version = _python_version(python)
    LOCK.write_text(f"{HEADER}\n# Refresh: make lock, then re-execute the notebooks (hcedu execute) and commit both.\n"
                    f"# python {version}\n{frozen}")
    print(f"wrote {LOCK.relative_to(ROOT)} ({len(read_lock())} packages, Python {version})")


def moved(newest: dict[str, str], locked: dict[str, str]) -> list[str]:
    """Lines ``name locked -> newest`` for every package whose version differs (or is new/gone)."""
    out = []
    for name in sorted(set(newest) | set(locked)):
        a, b = locked.get(name), newest.get(name)
        if a != b:
            out.append(f"{name} {a or '(not in the lock)'} -> {b or '(not installed)'}")
    return out


def newest(paths: list[str], jobs: str = "2") -> int:
    """Run ``paths`` (notebooks, solutions) under nbval in a venv holding the newest allowed versions."""
    with tempfile.TemporaryDirectory(prefix="hcedu-newest-") as tmp:
        python = _newest_env(Path(tmp) / "venv")
        frozen = Path(tmp) / "freeze.txt"
        frozen.write_text(_freeze(python))
        changes = moved(read_lock(frozen), read_lock())
        print("newest allowed versions vs constraints.txt: " + ("; ".join(changes) if changes else "no change"))
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        cmd = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", jobs, "--dist", "loadfile",
               "--nbval", "--nbval-current-env", "--nbval-cell-timeout=120",
               "--nbval-sanitize-with", str(ROOT / ".nbval_sanitize.cfg"), *paths]
        run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        sys.stdout.write(run.stdout[-4000:])
        if run.returncode != 0:
            named = [c for c in changes if c.split()[0] in run.stdout.lower()] or changes
            print("FAIL: stored notebook outputs differ under the newest versions pyproject.toml allows. "
                  "Packages that moved since constraints.txt: " + ("; ".join(named) if named else "none (the "
                  "difference is not a version change: look at the failing cells above)") +
                  ". Fix the cell so its compared output holds for every allowed version, or tighten the range, "
                  "then `make lock`.")
        return run.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_install = sub.add_parser("install", help="install the course pinned by constraints.txt")
    p_install.add_argument("python", help="the interpreter of the environment to install into")
    sub.add_parser("lock", help="refresh constraints.txt with the newest allowed versions")
    p_new = sub.add_parser("newest", help="run notebooks under nbval with the newest allowed versions")
    p_new.add_argument("paths", nargs="*", default=["notebooks", "solutions"])
    args = parser.parse_args(argv)
    if args.cmd == "install":
        install(args.python)
        return 0
    if args.cmd == "lock":
        lock()
        return 0
    return newest(args.paths)


if __name__ == "__main__":
    sys.exit(main())
