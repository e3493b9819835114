"""The course's Go programs: the source text's stdlib-only snippets (corrected) and the chapters' measurements.

Each ``*.go`` file here is a whole ``main`` program (``go vet`` clean) whose header comment says what
the source got wrong and what changed. :func:`show` runs one through :mod:`hcedu.gorun` and prints
the Go version and the output, or the one line saying how to get Go, so a notebook cell stays green
on a machine without a toolchain.

====================  =========================================================================
``buffered_channel``  第一章 Channel: the buffered channel; main now waits for the receiver
``buffer_pool``       第一章 sync.Pool: the bufferPool with Reset, a size guard, allocs/op as JSON
``ctx_worker``        2.1: the ctx.Done() worker, without the 100 ms polling sleep
``fetch_timeout``     2.3: WithTimeout + a fetchAPI that actually listens on ctx.Done()
====================  =========================================================================

The ``chNN_*`` programs are the chapters' real-Go measurements (goroutine cost, runnext order,
schedtrace, channel throughput, Pool allocations, a goroutine leak, a call chain under WithTimeout,
an x/time/rate table); :mod:`hcedu.lab.gocompare` runs them and returns tidy data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ... import _validate, gorun

__all__ = ["names", "source_snippets", "path", "source", "run", "show"]

_DIR = Path(__file__).parent


def names() -> list[str]:
    """The snippet names, sorted."""
    return sorted(p.stem for p in _DIR.glob("*.go"))


def source_snippets() -> list[str]:
    """The source text's snippets (not the ``chNN_`` chapter programs), sorted."""
    return [n for n in names() if not n.startswith("ch")]


def path(name: str) -> Path:
    """The ``.go`` file of snippet ``name``."""
    _validate.choice("name", name, names())
    return _DIR / f"{name}.go"


def source(name: str) -> str:
    """The Go source of snippet ``name`` (to print beside its output)."""
    return path(name).read_text()


def run(name: str, *args: str, **kwargs: Any) -> gorun.GoResult:
    """Build (cached) and run program ``name`` with ``args``; ``kwargs`` go to :func:`hcedu.gorun.run`."""
    return gorun.run_file(path(name), *args, **kwargs)


def show(name: str, *args: str, **kwargs: Any) -> gorun.GoResult | None:
    """Print ``<go version>`` and the program's output; without Go print how to get it and return ``None``."""
    if not gorun.available():
        print(gorun.HOW_TO_GET_GO)
        return None
    res = run(name, *args, **kwargs)
    print(f"# {gorun.version()}: {name}.go")
    print(res.stdout, end="")
    return res
