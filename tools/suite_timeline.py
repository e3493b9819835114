"""Where `make test`'s time goes: a pytest plugin that logs each test's wall time and CPU, and a summary.

    HCEDU_TIMELINE=/tmp/tl PYTHONPATH=tools PYTEST_ADDOPTS="-p suite_timeline" make test
    python tools/suite_timeline.py /tmp/tl          # per worker, per file, waiting vs CPU

One line per test and worker (``<dir>/<worker>.tsv``): start, end, the worker's own CPU seconds and its reaped
children's (kernels, servers, subprocesses) during the test, node id. "Waiting" is wall minus both: sleeps,
timeouts, servers and the browser working in processes the worker does not reap. Session 7 found with it that
xdist handed the browser test out last and that each worker spent ~40 % of its time waiting.
"""

from __future__ import annotations

import collections
import os
import resource
import sys
import time
from pathlib import Path

import pytest


def _cpu() -> tuple[float, float]:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    folder = Path(os.environ.get("HCEDU_TIMELINE", "suite-timeline"))
    t0, (own0, kids0) = time.time(), _cpu()
    yield
    t1, (own1, kids1) = time.time(), _cpu()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.tsv", "a") as f:
        f.write(f"{t0:.3f}\t{t1:.3f}\t{own1 - own0:.3f}\t{kids1 - kids0:.3f}\t{item.nodeid}\n")


def summary(folder: Path, top: int = 25) -> str:
    rows = [(p.stem, *map(float, line.split("\t")[:4]), line.rstrip("\n").split("\t")[4])
            for p in sorted(folder.glob("*.tsv")) for line in open(p)]
    if not rows:
        return f"no timeline in {folder}"
    start = min(r[1] for r in rows)
    out = []
    for worker in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == worker]
        wall = sum(r[2] - r[1] for r in mine)
        cpu = sum(r[3] + r[4] for r in mine)
        out.append(f"{worker}: ends at {max(r[2] for r in mine) - start:.0f} s, {wall:.0f} s of tests, "
                   f"{cpu:.0f} CPU-s ({cpu / max(wall, 1e-9):.0%})")
    files: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, float("inf")])
    for _, t0, t1, own, kids, node in rows:
        f = files[node.split("::")[0]]
        f[0] += t1 - t0
        f[1] += own + kids
        f[2] = min(f[2], t0 - start)
    out.append(f"{'wall s':>7} {'CPU s':>7} {'starts':>7}  file")
    for name, (wall, cpu, first) in sorted(files.items(), key=lambda kv: -kv[1][0])[:top]:
        out.append(f"{wall:7.1f} {cpu:7.1f} {first:7.0f}  {name}")
    return "\n".join(out)


if __name__ == "__main__":
    print(summary(Path(sys.argv[1] if len(sys.argv) > 1 else "suite-timeline")))
