"""Benchmark claims: a measured figure, as a ratio to a baseline measured in the same run, against a tolerance.

Every script in ``benchmarks/`` (and the roofline measurements in ``tests/``) states what it measured as
claims and prints each one the same way::

    claim                                              |    ratio | tolerance     | verdict
    Chan(128) / queue.Queue(128), msgs/s               |    1.43x | >= 1.25x      | PASS

A ratio against a baseline from the *same* run survives a machine that is uniformly slower (a laptop, a
shared CI runner); an absolute figure would not. ``benchmarks/run.py`` (``make bench``) runs every script,
collects the claims they record (a JSON line each, in the file named by ``$HCEDU_CLAIMS``) and exits
non-zero when one failed.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from dataclasses import asdict, dataclass
from typing import Callable, NoReturn

__all__ = ["Claim", "Claims", "ENV", "header", "load", "run_main"]

ENV = "HCEDU_CLAIMS"  # where recorded claims are appended (JSON lines), when set
_W = 60


@dataclass(frozen=True)
class Claim:
    """One checked figure: ``ratio`` must lie in [``lo``, ``hi``] (either bound may be None)."""

    source: str
    claim: str
    ratio: float
    lo: float | None = None
    hi: float | None = None

    @property
    def passed(self) -> bool:
        if math.isnan(self.ratio):
            return False
        return (self.lo is None or self.ratio >= self.lo) and (self.hi is None or self.ratio <= self.hi)

    @property
    def tolerance(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"== {self.lo:g}x" if self.lo == self.hi else f"{self.lo:g}x - {self.hi:g}x"
        if self.lo is not None:
            return f">= {self.lo:g}x"
        return f"<= {self.hi:g}x" if self.hi is not None else "any"

    def line(self) -> str:
        name = self.claim if len(self.claim) <= _W else self.claim[:_W - 1] + "…"
        return f"{name:<{_W}} | {self.ratio:>8.2f}x | {self.tolerance:<13} | {'PASS' if self.passed else 'FAIL'}"


def header() -> str:
    """The column header every claim table starts with."""
    return f"{'claim':<{_W}} | {'ratio':>9} | {'tolerance':<13} | verdict"


class Claims:
    """The claims of one benchmark: ``check`` prints each as it is measured; ``exit_code()`` is 1 on a FAIL.

    >>> c = Claims("demo", out=None)
    >>> c.check("fast / slow", 3.0, at_least=2.0)
    True
    >>> c.exit_code()
    0
    """

    def __init__(self, source: str, out=print) -> None:
        if not isinstance(source, str) or not source:
            raise ValueError(f"source must be a non-empty str, got {source!r}")
        self.source = source
        self.claims: list[Claim] = []
        self._out = out
        self._headed = False

    def check(self, claim: str, ratio: float, *, at_least: float | None = None,
              at_most: float | None = None) -> bool:
        """Record and print one claim: ``ratio`` (measured / baseline) must be within the bounds given."""
        if at_least is None and at_most is None:
            raise ValueError("check() needs at_least, at_most or both")
        c = Claim(self.source, claim, float(ratio), at_least, at_most)
        self.claims.append(c)
        if self._out is not None:
            if not self._headed:
                self._out(header())
                self._headed = True
            self._out(c.line())
        path = os.environ.get(ENV)
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(c)) + "\n")
        return c.passed

    def exact(self, claim: str, got: float, want: float) -> bool:
        """A count that must come out exactly (nothing lost, nothing duplicated): got / want == 1."""
        ratio = (got / want) if want else (1.0 if got == want else math.inf)
        return self.check(claim, ratio, at_least=1.0, at_most=1.0)

    @property
    def failed(self) -> list[Claim]:
        return [c for c in self.claims if not c.passed]

    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def __repr__(self) -> str:
        return f"<Claims {self.source}: {len(self.claims)} checked, {len(self.failed)} failed>"


def load(path: str) -> list[Claim]:
    """The claims recorded in ``path`` (JSON lines written by :meth:`Claims.check`), in order."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [Claim(**json.loads(line)) for line in f if line.strip()]


def run_main(main: Callable[[], int | None]) -> NoReturn:
    """A benchmark script's entry point: ``sys.exit(main())``, with SIGTERM turned into ``SystemExit(143)``.

    Python's default for SIGTERM ends the process on the spot, skipping ``finally`` blocks, so a ``redis-server``
    the script started (daemonized: it outlives its parent) was left running when ``make bench`` was stopped
    with ``kill`` or ``timeout``. Raised as an exception, the signal unwinds ``with real_redis()`` and friends,
    which stop their servers; the exit status is still the shell's 128 + 15."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    sys.exit(main())


def _exit_on_sigterm(signum: int, frame: object) -> NoReturn:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)   # a second SIGTERM while unwinding ends the process at once
    raise SystemExit(128 + signum)
