"""One way the lab starts concurrent work: each worker on its own goroutine under a WaitGroup.

The experiments race clients, buyers, readers and writers against each other. They all start them here,
with the course's own primitives (:func:`hcedu.go.spawn` and :class:`hcedu.go.WaitGroup`, Go 1.25's
``wg.Go``), so the lab uses the medicine it teaches and there is one place that decides what happens to
a worker's exception or a worker that never returns.

    done = run_workers(buy, 50, name="buyer")          # buy(0) ... buy(49), each on its own goroutine
    done.raise_first()                                 # or inspect done.errors / done.results

Invariants:
- ``run_workers`` returns only after every worker has returned or raised, or raises ``TimeoutError``
  naming how many are still running after ``timeout`` seconds (they are daemon threads and are left);
- a worker's exception never escapes its goroutine and is never printed: it is returned in
  ``Finished.errors`` (in worker order) and the worker's slot in ``Finished.results`` is None;
- with ``start_together=True`` no worker body starts before every goroutine exists (a barrier), so a
  race between them is not decided by the order they were started in.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import _validate
from ..go import WaitGroup, spawn

__all__ = ["Finished", "run_workers", "JOIN_TIMEOUT"]

#: How long :func:`run_workers` waits by default: far above any experiment's run, far below "hung".
JOIN_TIMEOUT = 120.0


@dataclass(frozen=True)
class Finished:
    """What a batch of workers left: ``results[i]`` is worker ``i``'s return value (None if it raised) and
    ``errors`` the exceptions raised, in worker order."""

    results: list = field(repr=False)
    errors: list = field(default_factory=list)

    def raise_first(self) -> "Finished":
        """Re-raise the first worker's exception, if any; return self otherwise (for chaining)."""
        if self.errors:
            raise self.errors[0]
        return self

    def __repr__(self) -> str:
        return f"Finished(workers={len(self.results)}, errors={len(self.errors)})"


def run_workers(worker: Callable[[int], Any], n: int, *, name: str = "worker", timeout: float = JOIN_TIMEOUT,
                start_together: bool = False) -> Finished:
    """Run ``worker(0) ... worker(n-1)``, each on its own goroutine, and wait for all of them.

    ``name`` labels the goroutines (``name-0`` ...) in :func:`hcedu.go.running` and in a dump;
    ``timeout`` (seconds) bounds the wait; ``start_together`` holds every body at a barrier until all
    ``n`` goroutines are running.
    """
    _validate.function("worker", worker)
    n = _validate.integer("n", n, minimum=0)
    name = _validate.text("name", name)
    timeout = _validate.number("timeout", timeout, minimum=0)
    results: list[Any] = [None] * n
    errors: dict[int, BaseException] = {}
    gate = threading.Barrier(n) if start_together and n > 1 else None
    wg = WaitGroup()

    def body(i: int) -> None:
        try:
            if gate is not None:
                gate.wait(timeout)
            results[i] = worker(i)
        except BaseException as exc:  # returned to the caller, never printed from a goroutine
            errors[i] = exc
        finally:
            wg.done()

    for i in range(n):
        wg.add(1)
        try:
            spawn(body, i, name=f"{name}-{i}", report=False)
        except BaseException:
            wg.done()
            raise
    if not wg.wait(timeout):
        raise TimeoutError(f"{name}: {wg.counter} of {n} workers were still running after {timeout:g} s")
    return Finished(results, [errors[i] for i in sorted(errors)])
