"""Chapter 08's real pause: a spawned process holds a lock and is frozen with ``SIGSTOP``.

:func:`sigstop_pause` is not simulated: the child's watchdog thread freezes with it, Redis expires the lease,
another client takes the lock with the next fence, and the child's late write is rejected by a Redis-side
fenced store. Returns a :class:`SigstopPause` (a :class:`~hcedu.lab.lockscenarios.Scenario`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis

from .. import _validate
from ..clock import REAL, Clock, as_clock
from ..patterns.lock import RedisLock, fence_key_for
from .lockscenarios import Scenario, _wait_gone
from .lockcontention import _preload_scripts

if TYPE_CHECKING:  # pandas is imported where the frame is built: the spawned holder never needs it
    import pandas as pd

__all__ = ["SigstopPause", "sigstop_pause"]

# -- 3b. a real pause: SIGSTOP a process that holds the lock --------------------------------------------

def _preload_all(client: redis.Redis) -> None:
    from ..patterns.fencing import FENCED_WRITE_LUA
    _preload_scripts(client)
    client.script_load(FENCED_WRITE_LUA)


def _paused_holder(url: str, key: str, store: str, ttl: float, go: Any, out: Any) -> None:
    """Child process A: acquire with a watchdog, report the fence, wait on ``go`` (the parent freezes
    us here with SIGSTOP), then write with our fence and release; report what happened."""
    from ..patterns.fencing import RedisFencedResource
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        _preload_all(client)
        lock = RedisLock(client, key, ttl, watchdog=True)
        if not lock.acquire(timeout=10):
            out.put(("error", "A could not acquire"))
            return
        out.put(("acquired", lock.fence))
        go.get(timeout=60)  # a Queue, not an Event: setting an Event blocks while its waiter is stopped
        ok = RedisFencedResource(client, store).write("A's data", lock.fence)
        out.put(("wrote", ok, lock.release()))
    except BaseException as exc:  # report, never hang the parent
        out.put(("error", repr(exc)))
    finally:
        client.close()


@dataclass(frozen=True)
class SigstopPause(Scenario):
    """:func:`sigstop_pause`'s outcome: whether B acquired while A was stopped, both fences ``(A, B)``,
    whether A's late write was accepted, what A's release returned, and the value the store kept."""

    b_acquired_while_a_paused: bool
    fences: tuple[int, int]
    a_write_accepted: bool
    a_release: bool
    final_value: Any


def sigstop_pause(url: str, *, ttl: float = 0.3, key: str = "hcedu:ch08:lock:sigstop",
                  store: str = "hcedu:ch08:storage", clock: Clock = REAL) -> SigstopPause:
    """Not simulated: process A (spawned) takes the lock with a watchdog, then the parent freezes it
    with ``SIGSTOP`` — a real stop-the-world pause that freezes A's watchdog thread too. When Redis has
    expired A's lease, B (this process) acquires with the next fence and writes; then ``SIGCONT``: A
    writes with its old fence and is rejected by a Redis-side fenced store
    (:class:`~hcedu.patterns.fencing.RedisFencedResource`), and its release returns False.

    ``url``: a real server or :func:`hcedu.backend.serve_embedded`. POSIX only. Frames carry real
    elapsed seconds on ``clock`` (wall time: not deterministic; the outcome fields are). Raises
    ``TimeoutError`` if a step takes > 30 s.
    """
    import multiprocessing as mp
    import os
    import queue as queue_mod
    import signal

    from ..patterns.fencing import RedisFencedResource
    if not hasattr(signal, "SIGSTOP"):
        raise NotImplementedError("sigstop_pause needs POSIX signals (SIGSTOP/SIGCONT)")
    _validate.text("url", url)
    ttl = _validate.number("ttl", ttl, minimum=0.01)
    clock = as_clock(clock)
    client = redis.Redis.from_url(url, decode_responses=True)
    _preload_all(client)
    client.delete(key, fence_key_for(key), store)
    ctx = mp.get_context("spawn")
    go, out = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_paused_holder, args=(url, key, store, ttl, go, out), daemon=True,
                       name="hcedu-lock-paused-holder")
    t0 = clock.monotonic()
    rows: list[dict[str, Any]] = []

    def row(actor: str, event: str, ok: Any = None, fence: Any = None, detail: str = "") -> None:
        rows.append({"t": clock.monotonic() - t0, "actor": actor, "event": event, "ok": ok, "fence": fence,
                     "detail": detail})

    def get(timeout: float = 30) -> tuple:
        try:
            msg = out.get(timeout=timeout)
        except queue_mod.Empty:
            raise TimeoutError("process A did not report within 30 s") from None
        if msg[0] == "error":
            raise RuntimeError(f"process A failed: {msg[1]}")
        return msg

    stopped = False
    try:
        proc.start()
        _, a_fence = get()
        row("A", "acquire", True, a_fence, f"pid {proc.pid}, watchdog on, ttl {ttl:g} s")
        os.kill(proc.pid, signal.SIGSTOP)
        stopped = True
        row("A", "pause", None, a_fence, "SIGSTOP: the whole process freezes, watchdog included")
        _wait_gone(client, key, timeout=30)
        row("redis", "expire", True, None, "A's lease ran out: nobody renewed it")
        b = RedisLock(client, key, 30)
        b_ok = b.acquire(timeout=10)
        row("B", "acquire", b_ok, b.fence)
        storage = RedisFencedResource(client, store)
        b_wrote = storage.write("B's data", b.fence) if b_ok else False
        row("B", "write", b_wrote, b.fence)
        go.put("go")
        os.kill(proc.pid, signal.SIGCONT)
        stopped = False
        row("A", "resume", None, a_fence, "SIGCONT")
        _, a_wrote, a_release = get()
        row("A", "write", a_wrote, a_fence, "accepted" if a_wrote else "REJECTED (stale fence)")
        row("A", "release", a_release, a_fence)
        b_release = b.release()
        row("B", "release", b_release, b.fence)
        final = storage.value
    finally:
        if stopped:
            os.kill(proc.pid, signal.SIGCONT)
            go.put("go")
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
        client.delete(key, fence_key_for(key), store)
        client.close()
    import pandas as pd

    return SigstopPause("a real SIGSTOP pause", pd.DataFrame(rows), b_acquired_while_a_paused=b_ok,
                        fences=(a_fence, b.fence), a_write_accepted=a_wrote, a_release=a_release, final_value=final)
