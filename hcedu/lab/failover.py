"""Failover loses a lock: a primary dies before its write reaches the replica, Sentinel promotes the replica,
and a second client acquires the "same" lock. Two holders, on real redis-server processes on loopback.

    result = lock_failover()            # FailoverResult: .frame (the steps), .holders, .lock_value_after
    result = lock_failover(wait=True)   # A runs WAIT 1 after acquiring and gives the lock up unless replicated

Made deterministic, not lucky: the replica is paused (SIGSTOP) and the primary drops its replication link
(``CLIENT KILL TYPE replica``) just before A acquires, so A's write cannot replicate (a paused replica
alone is not enough: the write would wait in its socket buffer and apply on resume); the primary is then killed (SIGKILL) and the replica resumed; Sentinel (quorum 1) promotes it;
B's ``SET NX`` succeeds on the new primary while A still believes it holds the lock for its whole TTL.

With ``wait=True``, A asks ``WAIT 1 <ms>`` after ``SET NX``: with the replica paused no replica acknowledges,
so A treats the lock as not acquired and B is the only holder. ``WAIT`` is not consensus: it only tells A
how many replicas had the write when it returned; a failover can still pick a replica that had not, and
the write is not rolled back on the primary. Fencing tokens checked by the resource, or a consensus store,
are what make a lock safe (chapter 08, Kleppmann's critique of Redlock).

Every process is stopped when the call returns, also on error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

import pandas as pd
import redis

from .. import _validate
from ..clock import REAL, Clock
from .redis_cluster import SentinelTrio, _wait, sentinel_trio

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FailoverResult", "lock_failover", "chart_failover", "unreplicated"]

KEY = "lock:orders"


@dataclass(frozen=True)
class FailoverResult:
    """``frame``: one row per step (``t`` seconds, ``actor``, ``event``, ``detail``); ``holders``: the
    clients that believed they held the lock at the end; ``wait``: whether A ran ``WAIT``;
    ``two_holders``: A and B both held it; ``lock_value_after``: the lock's value on the new primary."""

    frame: pd.DataFrame
    holders: tuple[str, ...]
    wait: bool = False
    two_holders: bool = False
    lock_value_after: str | None = None

    def __repr__(self) -> str:
        return f"<FailoverResult holders={list(self.holders)} wait={self.wait}>"


@contextlib.contextmanager
def unreplicated(trio: SentinelTrio, primary: redis.Redis, log: Callable[..., None] = lambda *a: None, *,
                 timeout: float = 30.0) -> Iterator[None]:
    """Inside the block nothing the primary acknowledges reaches the replica; on exit the primary dies.

    Enter: pause the replica (SIGSTOP) and make the primary close its replication link (``CLIENT KILL TYPE
    replica``; a paused replica alone is not enough, the writes would wait in its socket buffer). Exit
    without error: kill the primary (SIGKILL), resume the replica and wait until Sentinel has promoted it and
    it answers as a primary. The replica is resumed also on error. ``log(actor, event, detail)`` records
    each step."""
    os.kill(trio.replica.pid, signal.SIGSTOP)
    try:
        dropped = primary.execute_command("CLIENT", "KILL", "TYPE", "replica")
        log("replica", "paused, link dropped", f"the primary closed {dropped} replication link(s)")
        yield
        os.kill(trio.primary.pid, signal.SIGKILL)
        log("primary", "killed", "before the write replicated")
    finally:
        os.kill(trio.replica.pid, signal.SIGCONT)
    log("replica", "resumed")
    _wait(lambda: trio.current_primary()[1] == trio.replica.port, timeout, "Sentinel promoting the replica")
    log("Sentinel", "promoted the replica", f"port {trio.replica.port}")
    with trio.replica.client(socket_timeout=2) as b:
        _wait(lambda: b.info("replication").get("role") == "master", timeout, "the replica becoming a primary")


def lock_failover(*, wait: bool = False, ttl_ms: int = 30_000, wait_timeout_ms: int = 200,
                  clock: Clock | None = None, timeout: float = 30.0) -> FailoverResult:
    """Run the failover scenario once on a fresh primary + replica + Sentinel; return what happened."""
    ttl_ms = _validate.integer("ttl_ms", ttl_ms, minimum=1_000, maximum=600_000)
    wait_timeout_ms = _validate.integer("wait_timeout_ms", wait_timeout_ms, minimum=1, maximum=10_000)
    clock = clock or REAL
    t0 = 0.0
    rows: list[dict] = []

    def log(actor: str, event: str, detail: str = "") -> None:
        rows.append({"t": round(clock.monotonic() - t0, 3), "actor": actor, "event": event, "detail": detail})

    holders: list[str] = []
    with sentinel_trio(down_after_ms=1000, failover_timeout_ms=3000, timeout=timeout) as trio:
        a = trio.primary.client(socket_timeout=2)
        token_a, token_b = f"A-{uuid.uuid4().hex[:8]}", f"B-{uuid.uuid4().hex[:8]}"
        t0 = clock.monotonic()
        with unreplicated(trio, a, log, timeout=timeout):
            got = a.set(KEY, token_a, nx=True, px=ttl_ms)
            log("A", "SET NX on the primary", "OK" if got else "refused")
            keep = bool(got)
            if got and wait:
                acked = a.execute_command("WAIT", 1, wait_timeout_ms)
                log("A", f"WAIT 1 {wait_timeout_ms}", f"{acked} replica(s) acknowledged")
                if acked < 1:
                    keep = False
                    log("A", "gives the lock up", "not on any replica: a failover would lose it")
            if keep:
                holders.append("A")
        b = trio.replica.client(socket_timeout=2)
        got_b = b.set(KEY, token_b, nx=True, px=ttl_ms)
        log("B", "SET NX on the new primary", "OK" if got_b else "refused")
        if got_b:
            holders.append("B")
        value = b.get(KEY)
        log("B", "GET", f"the lock holds {value}")
        a.close()
        b.close()
    frame = pd.DataFrame(rows, columns=["t", "actor", "event", "detail"])
    return FailoverResult(frame, tuple(holders), wait=wait, two_holders=len(holders) == 2,
                          lock_value_after=value)


def chart_failover(result: FailoverResult) -> "Figure":
    """Each actor's steps on one time axis; the takeaway in the title (two holders, or one)."""
    import matplotlib.pyplot as plt

    from .plot import Mark, color, finish, timeline

    actors = list(dict.fromkeys(result.frame["actor"]))
    fig, ax = plt.subplots(figsize=(8, 2.8))
    span = max(float(result.frame["t"].max()), 1e-3)
    marks = [Mark(actor, t, color=color(actor, actors.index(actor)))
             for actor, t in zip(result.frame["actor"], result.frame["t"])]
    ypos = timeline(ax, actors, marks=marks)
    for actor in actors:
        rows = result.frame[result.frame["actor"] == actor]
        groups: list[list] = []  # an actor's steps close in time share one label ("a → b"), not overprinted
        for t, event in zip(rows["t"], rows["event"]):
            if groups and t - groups[-1][0] <= 0.05 * span:
                groups[-1][1].append(event)
            else:
                groups.append([t, [event]])
        for t, events in groups:
            ax.annotate(" → ".join(events), (t, ypos[actor]), xytext=(4, 6), textcoords="offset points", fontsize=7)
    ax.set_xlim(-0.03 * span, 1.4 * span)    # room for the last steps' labels on the right
    who = " and ".join(result.holders) or "nobody"
    title = (f"after failover {who} hold the lock" if len(result.holders) == 2
             else f"after failover only {who} holds the lock")
    return finish(ax, title=title + (" (A used WAIT)" if result.wait else ""),
                  xlabel="seconds since the start", legend=None)
