"""The CI templates a teacher's fork gets stay in step with .ci/run and the README's test command."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _ci_packages() -> set[str]:
    return set(re.findall(r"need\+=\(([\w.+-]+)\)", (ROOT / ".ci" / "run").read_text()))


def _readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.findall(r"```(?:bash|sh|shell)?\n(.*?)```", readme, flags=re.S)[0]
    return [line.strip() for line in block.splitlines() if line.strip()][1]


def _commands(obj) -> list[str]:
    """Every shell line in a parsed YAML tree (GitHub `run:` values, GitLab script lists)."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("run", "script", "before_script") and isinstance(v, str):
                out += v.splitlines()
            elif k in ("script", "before_script") and isinstance(v, list):
                out += [str(x) for x in v]
            else:
                out += _commands(v)
    elif isinstance(obj, list):
        for v in obj:
            out += _commands(v)
    return [line.strip() for line in out if line.strip()]


TEMPLATES = {"github": ROOT / ".github" / "workflows" / "ci.yml", "gitlab": ROOT / ".gitlab-ci.yml"}


def test_ci_run_installs_something_and_calls_the_readme_command():
    assert {"redis-server"} <= _ci_packages()
    assert _readme_test_command() == "make test"
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), flags=re.M)


def test_templates_run_the_readme_command_and_install_what_ci_installs():
    for name, path in TEMPLATES.items():
        tree = yaml.safe_load(path.read_text())
        commands = _commands(tree)
        assert _readme_test_command() in commands, f"{name}: does not run `{_readme_test_command()}`"
        installs = " ".join(c for c in commands if "apt-get install" in c)
        missing = {p for p in _ci_packages() if not re.search(rf"(?<![\w.-]){re.escape(p)}(?![\w.-])", installs)}
        assert not missing, f"{name}: installs none of {sorted(missing)}, which .ci/run installs"
        assert "make newest" in commands, f"{name}: the newest-versions check is missing"
        text = path.read_text()
        assert "pyproject.toml" in text and "constraints.txt" in text, f"{name}: the venv cache must be keyed by both"


def test_ci_installs_what_the_templates_install():
    ci = _ci_packages()
    for name, path in TEMPLATES.items():
        for cmd in _commands(yaml.safe_load(path.read_text())):
            if "apt-get install" in cmd:
                pkgs = {w for w in cmd.split() if not w.startswith("-") and w not in ("sudo", "apt-get", "install")
                        and "=" not in w}
                assert pkgs <= ci, f"{name} installs {sorted(pkgs - ci)}, which .ci/run does not"
