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
    for cmd in ("doctor", "lab", "build", "build-exercises", "execute", "quiz"):
        assert cmd in out.stdout


def test_doctor_reports_the_embedded_backend():
    out = run("doctor")
    assert "embedded fakeredis" in out.stdout
    assert "redis" in out.stdout and "nbval" in out.stdout


def test_doctor_reports_a_real_backend(real_redis_server):
    out = run("doctor", env={"REDIS_URL": real_redis_server.url})
    assert f"real redis-server 7" in out.stdout or "real redis-server" in out.stdout
    assert f":{real_redis_server.port}" in out.stdout


@pytest.mark.cluster
def test_doctor_reports_a_cluster(local_redis_cluster):
    out = run("doctor", env={"REDIS_URL": local_redis_cluster.url})
    assert "Redis Cluster (redis-server 7" in out.stdout and "(3 primaries)" in out.stdout, out.stdout
    assert "pytest -m cluster" in out.stdout


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


def test_build_writes_a_notebook_from_its_percent_source_and_check_names_stale_ones(tmp_path, capsys):
    from hcedu.course.cli import main

    def build(*args):   # in-process: each `hcedu build` process pays ~3 s importing jupytext and nbformat
        try:
            code = main(["build", *args, "--root", str(tmp_path)])
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, out.err

    (tmp_path / "notebooks" / "src").mkdir(parents=True)
    source = tmp_path / "notebooks" / "src" / "98_demo.py"
    source.write_text("# %% [markdown]\n# # Demo\n\n# %%\nprint(6 * 7)\n", encoding="utf-8")
    code, out, err = build("--check")
    assert code == 1 and "notebooks/98_demo.ipynb: stale" in out, out + err
    done = run("build", "98", "--execute", "--root", str(tmp_path), timeout=180)   # the command line, once
    assert done.returncode == 0 and "notebooks/98_demo.ipynb: execute it" in done.stdout, done.stdout + done.stderr
    import nbformat
    cells = nbformat.read(tmp_path / "notebooks" / "98_demo.ipynb", 4).cells
    assert [c.source for c in cells] == ["# Demo", "print(6 * 7)"] and cells[1].outputs[0]["text"] == "42\n"
    code, out, err = build("--check")
    assert code == 0 and "notebooks/98_demo.ipynb: up to date" in out, out + err
    code, out, err = build("97")
    assert code == 2 and "neither a source file nor a chapter" in err, out + err


def test_lab_command_line_takes_port_ip_and_no_browser(tmp_path):
    import argparse
    import json

    from hcedu.course.cli import free_port, lab_command, write_lab_overrides

    args = argparse.Namespace(port=8890, ip="127.0.0.1", no_browser=True, token=None)
    cmd = lab_command(args, ["--ServerApp.base_url=/x/"], "tok")
    assert "--no-browser" in cmd and "--ServerApp.port=8890" in cmd and "--ServerApp.ip=127.0.0.1" in cmd
    assert "--IdentityProvider.token=tok" in cmd and "--ServerApp.port_retries=0" in cmd
    assert cmd[-1] == "--ServerApp.base_url=/x/"
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        assert free_port("127.0.0.1", busy) != busy
    path = write_lab_overrides(tmp_path)
    settings = json.loads(path.read_text())
    assert settings["@jupyter-widgets/jupyterlab-manager:plugin"]["saveState"] is True
    assert settings["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    path.write_text(json.dumps({"other": {"x": 1}}))
    assert json.loads(write_lab_overrides(tmp_path).read_text())["other"] == {"x": 1}  # merged, not replaced


def test_lab_refuses_to_start_with_a_dead_redis_url(monkeypatch):
    import socket
    import subprocess
    import sys
    with socket.socket() as s:  # a closed loopback port: nothing listens there once the socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    out = subprocess.run([sys.executable, "-m", "hcedu.course.cli", "lab", "--no-browser"], env=env,
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 1 and "JupyterLab was not started" in out.stderr and "restart" in out.stderr


def test_workspace_copies_once_updates_untouched_copies_and_keeps_the_learners(tmp_path):
    from hcedu.course.workspace import sync

    root = tmp_path / "course"
    for folder in ("notebooks", "exercises"):
        (root / folder).mkdir(parents=True)
        (root / folder / "01_x.ipynb").write_text(f"{folder} v1")
        (root / folder / "02_y.ipynb").write_text(f"{folder} y1")
    first = sync(root)
    assert sorted(first.copied) == ["exercises/01_x.ipynb", "exercises/02_y.ipynb", "notebooks/01_x.ipynb",
                                    "notebooks/02_y.ipynb"]
    ws = root / "workspace"
    (ws / "notebooks" / "01_x.ipynb").write_text("my work")          # the learner ran and saved it
    (root / "notebooks" / "01_x.ipynb").write_text("notebooks v2")    # the course changed both
    (root / "notebooks" / "02_y.ipynb").write_text("notebooks y2")
    second = sync(root)
    assert second.updated == ["notebooks/02_y.ipynb"] and second.kept == ["notebooks/01_x.ipynb"]
    assert (ws / "notebooks" / "01_x.ipynb").read_text() == "my work"   # never overwritten without asking
    assert (ws / "notebooks" / "02_y.ipynb").read_text() == "notebooks y2"
    assert "hcedu lab --refresh" in str(second)
    assert sync(root).kept == ["notebooks/01_x.ipynb"]                   # still flagged until refreshed
    third = sync(root, refresh=True)
    assert (ws / "notebooks" / "01_x.ipynb").read_text() == "notebooks v2"
    [mine] = third.backed_up
    assert (ws / mine).read_text() == "my work"
    assert sync(root).kept == [] and sync(root).updated == []


def test_workspace_is_git_ignored():
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    assert "workspace/" in (root / ".gitignore").read_text().split()


def test_workspace_copies_are_trusted_so_stored_widgets_render(tmp_path, monkeypatch):
    import nbformat
    from nbformat.sign import NotebookNotary

    from hcedu.course.workspace import sync

    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    root = tmp_path / "course"
    (root / "notebooks").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("w", outputs=[nbformat.v4.new_output(
        "display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "m", "version_major": 2,
                                                                            "version_minor": 0}, "text/plain": "VBox()"})])]
    nbformat.write(nb, root / "notebooks" / "01_w.ipynb")
    notary = NotebookNotary()
    assert not notary.check_signature(nbformat.read(root / "notebooks" / "01_w.ipynb", as_version=4))
    sync(root)
    assert notary.check_signature(nbformat.read(root / "workspace" / "notebooks" / "01_w.ipynb", as_version=4))
