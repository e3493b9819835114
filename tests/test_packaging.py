"""Packaging and the two-command promise: pyproject, environment.yml, README, Makefile, CI."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# pip name -> conda-forge name where they differ
CONDA_NAMES = {"redis": "redis-py", "fakeredis[lua]": "fakeredis", "jupyter-client": "jupyter_client"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~ ]", req, maxsplit=1)[0].strip().lower()


def _requirements() -> list[str]:
    return PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["dev"]


def test_every_dependency_has_lower_and_upper_bounds():
    for req in _requirements():
        assert ">=" in req and "<" in req.replace("<=", ""), f"{req} needs a lower and an upper bound"
    assert PYPROJECT["project"]["requires-python"] == ">=3.10"
    assert PYPROJECT["project"]["scripts"]["hcedu"] == "hcedu.course.cli:main"


def test_environment_yml_is_in_step_with_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge", "nodefaults"]
    conda = {}
    pip_section = None
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_section = dep["pip"]
            continue
        name, _, bound = dep.partition(">=")
        conda[name.strip().lower()] = bound.strip()
    assert pip_section == ["-e ."]
    for req in _requirements():
        name = _name(req)
        name = CONDA_NAMES.get(name, CONDA_NAMES.get(req.split(">=")[0], name))
        lower = req.split(">=")[1].split(",")[0].strip()
        assert name in conda, f"{name} is in pyproject.toml but not environment.yml"
        assert conda[name] == lower, f"{name}: environment.yml has >={conda[name]}, pyproject >={lower}"
    assert "lupa" in conda  # fakeredis[lua] on conda needs lupa spelled out
    pip_names = {CONDA_NAMES.get(_name(r), CONDA_NAMES.get(r.split('>=')[0], _name(r))) for r in _requirements()}
    extra = set(conda) - pip_names - {"python", "pip", "lupa"}
    assert not extra, f"environment.yml lists packages pyproject.toml does not: {extra}"


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
    assert "tests notebooks solutions" in test_recipe and "--nbval-lax" in test_recipe and "exercises" in test_recipe
    assert "--dist loadfile" in test_recipe and "-n 2" in test_recipe
    assert "--nbval-sanitize-with .nbval_sanitize.cfg" in makefile and "--nbval-cell-timeout" in makefile
