"""Go's concurrency primitives in Python, with Go's names and Go's documented semantics.

Names are resolved lazily so that each mechanism lives in its own module (one file per
mechanism, like Go's runtime) and importing ``hcedu.go`` stays cheap::

    from hcedu.go import Chan, select, Recv, Send, go, WaitGroup, Pool, gc, Panic
    from hcedu.go import context, errgroup, singleflight, rate, sched

A ``None`` channel is Go's nil channel wherever a channel is accepted. Where Go panics,
hcedu.go raises :class:`Panic` (or a subclass) with Go's message.
"""

from __future__ import annotations

import importlib
from typing import Any

from .panic import Panic

# name -> submodule that defines it (relative to this package)
_EXPORTS = {
    # goroutines (runtime/proc.go)
    "go": "goroutine",
    "Goroutine": "goroutine",
    "GoroutinePanic": "goroutine",
    "running": "goroutine",
    "recover": "goroutine",
    "spawn": "goroutine",
    "current": "goroutine",
    "silence_panics": "goroutine",
    # sync.WaitGroup
    "WaitGroup": "waitgroup",
    # channels (runtime/chan.go) and select (runtime/select.go)
    "Chan": "chan",
    "ChanTimeout": "chan",
    "select": "selectgo",
    "Recv": "selectgo",
    "Send": "selectgo",
    # sync.Pool (sync/pool.go) and the GC hook that runs poolCleanup
    "Pool": "pool",
    "gc": "pool",
}

_SUBMODULES = {"context", "errgroup", "singleflight", "rate", "sched", "goroutine", "waitgroup",
               "chan", "selectgo", "pool", "lifecycle"}

__all__ = ["Panic", *_EXPORTS, *sorted(_SUBMODULES)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'hcedu.go' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
