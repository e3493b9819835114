"""The hcedu command: help, doctor on both backends, and the clear error for a dead REDIS_URL."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HCEDU = [sys.executable, "-m", "hcedu.course.cli"]


def run(*args, env=None, timeout=120):
    e = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    e.update(env or {})
    return subprocess.run([*HCEDU, *args], capture_output=True, text=True, timeout=timeout, env=e)


def test_help_lists_the_commands():
    out = run("--help")
    assert out.returncode == 0
    for cmd in ("doctor", "lab", "build-exercises", "execute", "quiz"):
        assert cmd in out.stdout


def test_doctor_reports_the_embedded_backend():
    out = run("doctor")
    assert "embedded fakeredis" in out.stdout
    assert "redis" in out.stdout and "nbval" in out.stdout


def test_doctor_reports_a_real_backend(real_redis_server):
    out = run("doctor", env={"REDIS_URL": real_redis_server.url})
    assert f"real redis-server 7" in out.stdout or "real redis-server" in out.stdout
    assert f":{real_redis_server.port}" in out.stdout


def test_unreachable_redis_url_is_a_clear_error_not_a_traceback():
    out = run("doctor", env={"REDIS_URL": "redis://127.0.0.1:1"})
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert "Cannot reach Redis at redis://127.0.0.1:1" in text
    assert "unset REDIS_URL" in text and "redis-server --port 1" in text
    assert "Traceback" not in text


def test_unknown_arguments_are_refused():
    out = run("doctor", "--bogus")
    assert out.returncode == 2 and "unrecognized arguments" in out.stderr


def test_quiz_runs_in_a_terminal(tmp_path):
    p = subprocess.run([*HCEDU, "quiz", "--chapter", "00", "-n", "1"], input="\ny\n", capture_output=True,
                       text=True, timeout=60, env={**os.environ, "HCEDU_HOME": str(tmp_path)})
    assert p.returncode == 0, p.stderr
    assert "A strong answer covers" in p.stdout and "1 got" in p.stdout
    assert (tmp_path / "progress.json").exists()


def test_execute_runs_a_notebook_in_place(tmp_path):
    from hcedu.course.nbbuild import build, code
    nb = build(tmp_path / "n.ipynb", [code("print(6 * 7)")])
    out = run("execute", str(nb), timeout=180)
    assert out.returncode == 0, out.stderr
    import nbformat
    cell = nbformat.read(nb, 4).cells[0]
    assert cell.outputs[0]["text"] == "42\n" and cell.execution_count == 1
