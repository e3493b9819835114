"""Packaging and the two-command promise: pyproject, environment.yml, README, Makefile, CI."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(req: str) -> str:
    return re.split(r"[<>=!~ ]", req, maxsplit=1)[0].strip().lower()


def _requirements() -> list[str]:
    extras = PYPROJECT["project"]["optional-dependencies"]
    return PYPROJECT["project"]["dependencies"] + extras["dev"] + extras["go"]


def test_every_dependency_has_lower_and_upper_bounds():
    for req in _requirements():
        assert ">=" in req and "<" in req.replace("<=", ""), f"{req} needs a lower and an upper bound"
    assert PYPROJECT["project"]["requires-python"] == ">=3.10"
    assert PYPROJECT["project"]["scripts"]["hcedu"] == "hcedu.course.cli:main"


def test_environment_yml_installs_the_locked_set():
    """conda/Binder get the same tested versions as `make lab`: Python of the lock's version from conda-forge,
    every package through pip, constrained by constraints.txt, with the extras the Makefile installs."""
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    import deps

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge", "nodefaults"]
    conda = [d for d in env["dependencies"] if not isinstance(d, dict)]
    pip_section = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert conda == [f"python={deps.lock_python()}", "pip"], conda
    assert pip_section == [["-c constraints.txt", f"-e .[{deps.EXTRAS}]"]], pip_section
    lock = deps.read_lock()
    for req in _requirements():
        name = re.sub(r"\[.*\]", "", _name(req)).replace("_", "-")
        assert name in lock, f"{name} is in pyproject.toml but constraints.txt does not pin it (run make lock)"
    for extra in deps.EXTRAS.split(","):
        assert extra in PYPROJECT["project"]["optional-dependencies"], f"pyproject.toml has no [{extra}] extra"


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh|shell)?\n(.*?)```", readme, flags=re.S)
    setup = [line.split("#")[0].strip() for b in blocks[:1] for line in b.splitlines() if line.split("#")[0].strip()]
    assert setup == ["make lab", "make test"], setup
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M), ".ci/run must call the README's test command"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab:", makefile, flags=re.M) and re.search(r"^test:", makefile, flags=re.M)
    for chapter_nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert chapter_nb.name in readme, f"README's chapter list misses {chapter_nb.name}"


def test_make_test_runs_units_notebooks_solutions_and_exercises():
    makefile = (ROOT / "Makefile").read_text()
    test_recipe = makefile.split("\ntest:")[1].split("\n\n")[0]
    assert "tests notebooks solutions exercises" in test_recipe and "$(NBVAL)" in test_recipe  # one run
    assert test_recipe.count("pytest") == 1
    assert "--dist loadfile" in test_recipe and "--no-loadscope-reorder" in test_recipe and "-n $(WORKERS)" in test_recipe
    assert "--nbval " in makefile.split("NBVAL")[1].split("\n")[0]
    assert "unexport PYTHONDONTWRITEBYTECODE" in makefile
    assert "--nbval-sanitize-with .nbval_sanitize.cfg" in makefile and "--nbval-cell-timeout" in makefile


def test_root_conftest_runs_exercises_lax_and_hands_the_browser_test_out_first_and_spreads_the_waiting_files():
    import importlib.util

    from nbval.plugin import IPyNbFile

    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    for folder, compared in (("exercises", False), ("notebooks", True), ("solutions", True)):
        collector = object.__new__(IPyNbFile)
        collector.path, collector.compare_outputs = ROOT / folder / "00_x.ipynb", True
        conftest.pytest_collectstart(collector)
        assert collector.compare_outputs is compared, folder

    class Item:
        def __init__(self, name, marker=None):
            self.name, self.marker, self.nodeid = name, marker, f"tests/test_{name[0]}.py::{name}"

        def get_closest_marker(self, name):
            return object() if name == self.marker else None

    items = [Item("a1"), Item("b1", "browser"), Item("c1"), Item("d1", "browser")]
    conftest.pytest_collection_modifyitems(items)
    assert [i.name for i in items] == ["b1", "d1", "a1", "c1"]   # browser first, otherwise the order kept

    # files that mostly wait are spread evenly among the first two thirds of the others, each file whole: never
    # two in a row here, and none among the last third (the run's tail)
    items = [Item("a1"), Item("a2"), Item("b1"), Item("c1"), Item("d1"), Item("e1"), Item("f1"), Item("h1"),
             Item("i1"), Item("w1", "waits"), Item("w2", "waits"), Item("x1", "waits"), Item("g1", "browser")]
    conftest.pytest_collection_modifyitems(items)
    assert [i.name for i in items] == ["g1", "a1", "a2", "b1", "w1", "w2", "c1", "d1", "x1", "e1", "f1", "h1",
                                       "i1"]


def test_root_conftest_puts_every_worker_but_the_browser_tests_in_the_background(monkeypatch):
    """An xdist worker lowers its priority once, before its first test that is not a browser test; a plain
    pytest run (no worker) never does."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("root_conftest_nice", ROOT / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    calls = []
    monkeypatch.setattr(conftest.os, "nice", calls.append)

    class Item:
        def __init__(self, browser):
            self.browser = browser

        def get_closest_marker(self, name):
            return object() if name == "browser" and self.browser else None

    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    conftest.pytest_runtest_setup(Item(False))
    assert calls == []                                   # plain pytest: the foreground
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    for browser in (True, True):
        conftest.pytest_runtest_setup(Item(browser))
    assert calls == []                                   # the browser worker, while it runs the browser test
    for browser in (False, True, False):
        conftest.pytest_runtest_setup(Item(browser))
    assert calls == [conftest.BACKGROUND_NICE] and conftest.BACKGROUND_NICE > 0   # once, at its first other test


def _deps():
    import importlib.util

    spec = importlib.util.spec_from_file_location("hcedu_tools_deps", ROOT / "tools" / "deps.py")
    deps = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(deps)
    return deps


def test_install_writes_the_pth_that_skips_jsonschemas_slow_iri_checker(tmp_path, monkeypatch):
    """tools/deps.py puts its .pth into the site-packages of the interpreter it installs into."""
    import subprocess
    import types

    deps = _deps()
    asked = []

    def fake_run(cmd, **kw):
        asked.append(cmd)
        return types.SimpleNamespace(stdout=f"{tmp_path}\n")

    monkeypatch.setattr(deps.subprocess, "run", fake_run)
    path = deps.skip_slow_iri_checker("/some/env/bin/python")
    assert asked[0][0] == "/some/env/bin/python" and "purelib" in asked[0][-1]
    assert path == tmp_path / deps.FAST_IMPORTS and path.suffix == ".pth"
    line = path.read_text()
    assert line.startswith("import ") and line.count("\n") == 1        # site.py executes an 'import' line
    assert 'sys.modules.setdefault("rfc3987_syntax", None)' in line   # an import of it then raises ImportError


@pytest.mark.parametrize("locked_python", ["3.11", "2.7"])
def test_install_and_newest_write_the_pth_whichever_way_they_install(monkeypatch, tmp_path, locked_python):
    """Both branches of install() (the lock's Python, or another one) and the scratch venv of `make newest`."""
    deps = _deps()
    wrote, pips = [], []
    monkeypatch.setattr(deps, "_pip", lambda python, *args: pips.append(args))
    monkeypatch.setattr(deps, "_python_version", lambda python: "3.11")
    monkeypatch.setattr(deps, "lock_python", lambda: locked_python)
    monkeypatch.setattr(deps, "skip_slow_iri_checker", wrote.append)
    deps.install("/env/bin/python")
    assert wrote == ["/env/bin/python"] and any("-e" in a for a in pips)
    monkeypatch.setattr(deps, "_scratch_venv", lambda where: "/scratch/bin/python")
    assert deps._newest_env(tmp_path) == "/scratch/bin/python" and wrote[-1] == "/scratch/bin/python"


def test_the_make_installed_venv_validates_notebooks_without_the_slow_iri_checker():
    """In the venv `make` installs, importing nbformat no longer imports rfc3987_syntax (Lark grammars), and
    nbformat still validates; jsonschema only loses the IRI formats, which no Jupyter schema uses."""
    import subprocess
    import sys
    import sysconfig

    import pytest

    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("not the venv `make` installs (.venv)")
    deps = _deps()
    assert (Path(sysconfig.get_paths()["purelib"]) / deps.FAST_IMPORTS).read_text() == deps._FAST_IMPORTS_LINE
    code = ("import sys, nbformat, jsonschema\n"
            "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')])\n"
            "nbformat.validate(nb)\n"
            "del nb.cells[0]['source']\n"
            "try:\n    nbformat.validate(nb)\nexcept nbformat.ValidationError:\n    print('invalid caught')\n"
            "print(sys.modules['rfc3987_syntax'] is None, 'iri' in jsonschema.FormatChecker.checkers)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["invalid caught", "True False"], out.stdout
