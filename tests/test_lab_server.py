"""`make lab` really starts JupyterLab with the course: start it headless, query it, stop it."""

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from hcedu.lab.redis_server import free_port

from helpers import wait_for_url

ROOT = Path(__file__).resolve().parents[1]


def get(url: str):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read()


def test_hcedu_lab_serves_the_course(tmp_path):
    port = free_port()
    token = "hcedu-test-token"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "HCEDU_WORKSPACE": str(tmp_path / "workspace"), "JUPYTER_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hcedu.course.cli", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_url(proc, f"{base}/api/status?token={token}", timeout=90,
                     log=lambda: proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "")
        status, body = get(f"{base}/api/status?token={token}")
        assert status == 200 and "started" in json.loads(body)
        status, body = get(f"{base}/api/contents/notebooks/00_start_here.ipynb?token={token}")
        nb = json.loads(body)
        assert status == 200 and nb["type"] == "notebook" and nb["content"]["metadata"]["kernelspec"]["name"] == "hcedu"
        for folder in ("solutions", "exercises"):  # the workspace holds the whole course, not just notebooks/
            assert get(f"{base}/api/contents/{folder}?token={token}")[0] == 200
        with urllib.request.urlopen(f"{base}/?token={token}", timeout=5) as resp:  # lands on chapter 00
            assert resp.status == 200 and "/lab/tree/notebooks/00_start_here.ipynb" in resp.url
        assert (tmp_path / "workspace" / "notebooks" / "00_start_here.ipynb").exists(), "no learner workspace"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass  # it had already exited (the assertion above says why)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    assert proc.returncode is not None
