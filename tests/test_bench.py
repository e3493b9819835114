"""hcedu.lab.bench: the claim table `make bench` prints, and what makes it fail."""

import math

import pytest

from hcedu.lab import bench


def test_claims_print_check_and_record(tmp_path, monkeypatch):
    path = tmp_path / "claims.jsonl"
    monkeypatch.setenv(bench.ENV, str(path))
    lines = []
    c = bench.Claims("demo", out=lines.append)
    assert c.check("fast / slow", 3.0, at_least=2.0) is True
    assert c.check("ratio in a band", 1.3, at_least=0.85, at_most=1.15) is False
    assert c.exact("received / sent", 10, 10) is True
    assert lines[0] == bench.header() and len(lines) == 4
    assert lines[1].split("|")[1:] == ["     3.00x ", " >= 2x         ", " PASS"]
    assert lines[2].endswith("| 0.85x - 1.15x | FAIL") and "| == 1x" in lines[3]
    assert c.exit_code() == 1 and [f.claim for f in c.failed] == ["ratio in a band"]
    assert [(k.source, k.claim, k.passed) for k in bench.load(str(path))] == [
        ("demo", "fast / slow", True), ("demo", "ratio in a band", False), ("demo", "received / sent", True)]
    assert "3 checked, 1 failed" in repr(c)


def test_edge_cases():
    c = bench.Claims("edge", out=None)
    assert c.check("no measurement", math.nan, at_most=1.0) is False      # a NaN never passes
    assert c.exact("nothing expected, nothing got", 0, 0) is True
    assert c.exact("something where nothing was expected", 2, 0) is False
    assert bench.load("/nonexistent/claims.jsonl") == []
    with pytest.raises(ValueError, match="at_least, at_most"):
        c.check("unbounded", 1.0)
    with pytest.raises(ValueError, match="source"):
        bench.Claims("")


def _run_py():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("bench_run", Path(__file__).resolve().parents[1] / "benchmarks" / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    return run


STEP = """
import os, sys
from hcedu.lab import bench
counter = sys.argv[1]
n = int(open(counter).read()) if os.path.exists(counter) else 0
open(counter, "w").write(str(n + 1))
c = bench.Claims("flaky step")
c.check("measured / roofline", float(sys.argv[2 + min(n, len(sys.argv) - 3)]), at_least=0.75)
sys.exit(c.exit_code())
"""


@pytest.mark.parametrize("ratios, attempts, runs, counted", [
    ((0.5, 0.9), 2, 2, [0.9]),        # a stalled run, then a good one: the good one counts
    ((0.5, 0.9), 1, 1, [0.5]),        # a step without retries keeps its failure
    ((0.9, 0.5), 2, 1, [0.9]),        # passed at once: not measured again
    ((0.5, 0.6), 2, 2, [0.6]),        # failed both times: the last run counts, and it fails
])
def test_make_bench_measures_a_failed_step_again_and_counts_the_better_run(tmp_path, ratios, attempts, runs, counted):
    import os

    run = _run_py()
    script, path = tmp_path / "step.py", str(tmp_path / "claims.jsonl")
    script.write_text(STEP)
    env = dict(os.environ, PYTHONPATH=run.ROOT, **{bench.ENV: path})
    said = []
    claims, broken, n = run.run_step("flaky", [str(script), str(tmp_path / "n"), *map(str, ratios)], env, path,
                                     attempts, out=lambda *a, **k: said.append(a[0]))
    assert (n, [c.ratio for c in claims], broken) == (runs, counted, None)
    assert len(bench.load(path)) == runs                        # every run's claims stay in the record
    assert bool(said) == (runs > 1)                            # a second run is announced


def test_make_bench_names_a_step_that_crashed_or_checked_nothing(tmp_path):
    import os

    run = _run_py()
    path = str(tmp_path / "claims.jsonl")
    env = dict(os.environ, PYTHONPATH=run.ROOT, **{bench.ENV: path})
    crash, quiet = tmp_path / "crash.py", tmp_path / "quiet.py"
    crash.write_text("raise SystemExit(3)")
    quiet.write_text("pass")
    assert run.run_step("crash", [str(crash)], env, path, 2)[1:] == ("crash exited with status 3 without a failed claim", 1)
    assert run.run_step("quiet", [str(quiet)], env, path, 2)[1:] == ("quiet checked no claim", 1)


SERVING_STEP = """
import json, os, sys, time
from hcedu.lab import redis_server
from hcedu.lab.bench import run_main

def main():
    with redis_server.real_redis() as url:
        server = redis_server.still_running()[0]
        with open(sys.argv[1] + ".tmp", "w") as f:
            json.dump({"step": os.getpid(), "server": server.pid}, f)
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        time.sleep(120)   # a long measurement, stopped from outside

run_main(main)
"""

DRIVER = """
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location("bench_run", sys.argv[1])
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)
run.bench.run_main(lambda: run._call(sys.argv[2:], dict(os.environ)))
"""


def _alive(pid: int) -> bool:
    from hcedu.lab.redis_server import RedisServerProcess

    return RedisServerProcess(0, pid, "/nonexistent").alive()


@pytest.mark.parametrize("stopped", ["the benchmark script", "make bench (benchmarks/run.py)"])
def test_a_stopped_benchmark_stops_the_redis_server_it_started(tmp_path, stopped):
    """`kill`/`timeout` send SIGTERM, whose Python default skips `finally`: the daemonized server outlived the
    benchmark. With bench.run_main it unwinds `with real_redis()`; run.py passes the signal on to its step."""
    import json
    import os
    import signal
    import subprocess
    import sys

    from hcedu.clock import REAL, poll_until
    from hcedu.lab import redis_server

    if not redis_server.available():
        pytest.skip(redis_server.NOT_INSTALLED)
    run = _run_py()
    step, driver, said = tmp_path / "step.py", tmp_path / "driver.py", tmp_path / "pids.json"
    step.write_text(SERVING_STEP)
    driver.write_text(DRIVER)
    cmd = [sys.executable, str(step), str(said)]
    if stopped != "the benchmark script":
        cmd = [sys.executable, str(driver), os.path.join(run.HERE, "run.py"), str(step), str(said)]
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["PYTHONPATH"] = run.ROOT
    proc = subprocess.Popen(cmd, env=env, cwd=run.ROOT)
    pids: dict = {}
    try:
        assert poll_until(said.exists, 60, interval=0.02, clock=REAL), "the step never started its server"
        pids = json.loads(said.read_text())
        assert _alive(pids["server"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 128 + signal.SIGTERM
        if stopped != "the benchmark script":
            assert not _alive(pids["step"]), "run.py exited and left its step running"
        assert not _alive(pids["server"]), "the redis-server outlived the stopped benchmark"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in (pids.get("step"), pids.get("server")):
            if pid and _alive(pid):
                os.kill(pid, signal.SIGKILL)
