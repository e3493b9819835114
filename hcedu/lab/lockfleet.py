"""Chapter 08's Redlock fleet: N independent Redis nodes and the two ways Redlock fails.

:class:`Nodes` (embedded FakeServers via :func:`fake_nodes`, or real ``redis-server`` processes via
:func:`real_nodes`) can crash a node or cut a link; :func:`redlock_outage` tabulates acquisitions as nodes go
down, :func:`redlock_clock_jump` shows two holders after one node's clock jumps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import fakeredis
from ..backend import new_fake_server  # db 0 made up front: fakeredis 2.41's first-use race
import pandas as pd
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .. import _validate
from ..clock import VirtualClock
from ..patterns.redlock import Redlock
from .lockscenarios import Scenario, expire_now
from .runner import run_workers

__all__ = ["Nodes", "fake_nodes", "real_nodes", "redlock_outage", "ClockJump", "redlock_clock_jump"]

# -- 4. Redlock ------------------------------------------------------------------------------------------

class Nodes:
    """N independent Redis nodes for Redlock: embedded FakeServers or real ``redis-server`` processes.

    ``clients`` (one per node), ``crash(i)`` (fake: ``connected=False``; real: SIGKILL), ``unreachable()``
    (a client whose link is cut: every call raises ``redis.ConnectionError``), ``stop()``.
    """

    def __init__(self, kind: str, clients: list[redis.Redis], crash: Callable[[int], None],
                 unreachable: Callable[[], redis.Redis], stop: Callable[[], None]) -> None:
        self.kind, self.clients = kind, clients
        self._crash, self._unreachable, self._stop = crash, unreachable, stop
        self.down: set[int] = set()

    def crash(self, i: int) -> None:
        self._crash(i)
        self.down.add(i)

    def unreachable(self) -> redis.Redis:
        return self._unreachable()

    def stop(self) -> None:
        self._stop()

    def __enter__(self) -> "Nodes":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __len__(self) -> int:
        return len(self.clients)


def fake_nodes(n: int = 5) -> Nodes:
    """``n`` embedded fakeredis servers (in-process; a crash is ``server.connected = False``)."""
    n = _validate.integer("n", n, minimum=1)
    servers = [new_fake_server() for _ in range(n)]
    cut = new_fake_server()
    cut.connected = False

    def crash(i: int) -> None:
        servers[i].connected = False

    return Nodes("fake", [fakeredis.FakeRedis(server=s, decode_responses=True) for s in servers], crash,
                 lambda: fakeredis.FakeRedis(server=cut, decode_responses=True), lambda: None)


def _node_client(port: int) -> redis.Redis:
    # no retries, short timeouts: a dead node must answer "no" at once, not after redis-py's backoff
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, retry=Retry(NoBackoff(), 0),
                       socket_timeout=1.0, socket_connect_timeout=0.5)


def real_nodes(n: int = 5) -> Nodes:
    """``n`` throwaway ``redis-server`` processes on loopback (a crash is SIGKILL). Call ``stop()``."""
    import os
    import signal

    from . import redis_server
    n = _validate.integer("n", n, minimum=1)
    procs = [redis_server.start() for _ in range(n)]

    def crash(i: int) -> None:
        os.kill(procs[i].pid, signal.SIGKILL)

    def stop() -> None:
        for p in procs:
            try:
                os.kill(p.pid, signal.SIGKILL)  # instant; stop() below then only tidies up
            except OSError:
                pass
        run_workers(lambda i: procs[i].stop(), len(procs), name="hcedu-redis-stop", timeout=30).raise_first()

    return Nodes("real", [_node_client(p.port) for p in procs], crash,
                 lambda: _node_client(redis_server.free_port()), stop)


def redlock_outage(nodes: Nodes, max_down: int = 3, *, key: str = "hcedu:ch08:redlock") -> pd.DataFrame:
    """Crash nodes one by one (0 .. ``max_down`` down) and try a Redlock each time. One row per
    (down, node): ``down, node, up, holds, acquired, quorum``."""
    max_down = _validate.integer("max_down", max_down, minimum=0, maximum=len(nodes))
    rows = []
    for down in range(max_down + 1):
        while len(nodes.down) < down:
            nodes.crash(len(nodes) - 1 - len(nodes.down))
        lock = Redlock(nodes.clients, key, 10, clock=VirtualClock())
        ok = lock.acquire(blocking=False)
        for r in lock.last:
            rows.append({"down": down, "node": r.node, "up": r.node not in nodes.down, "holds": r.ok,
                         "acquired": ok, "quorum": lock.quorum})
        if ok:
            lock.release()
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class ClockJump(Scenario):
    """:func:`redlock_clock_jump`'s outcome: whether each client's Redlock succeeded, and both at once.
    Its ``frame`` has one row per (step, node): ``t, step, node, holder``."""

    client1_holds: bool
    client2_holds: bool
    two_holders: bool


def redlock_clock_jump(nodes: Nodes, *, key: str = "hcedu:ch08:redlock-jump") -> ClockJump:
    """Kleppmann's scenario on 5 nodes: client 1 reaches A, B, C (D, E cut off); C's clock jumps forward
    so its copy expires early (enacted by forcing its TTL to 1 ms); client 2 reaches C, D, E (A, B cut
    off). Both believe they hold the lock. Frames: one row per (step, node) with who holds the key."""
    if len(nodes) != 5:
        raise ValueError(f"the clock-jump scenario needs 5 nodes (got {len(nodes)})")
    names = "ABCDE"
    cut = nodes.unreachable()
    c = nodes.clients
    for cl in c:
        cl.delete(key)
    clock = VirtualClock()
    one = Redlock(c[:3] + [cut, cut], key, 30, clock=clock)
    two = Redlock([cut, cut] + c[2:], key, 30, clock=clock)
    owner: dict[str, str] = {}
    rows: list[dict[str, Any]] = []

    def snap(t: float, step: str) -> None:
        for i, cl in enumerate(c):
            v = cl.get(key)
            rows.append({"t": t, "step": step, "node": names[i], "holder": owner.get(v, v) if v else ""})

    snap(0, "start")
    ok1 = one.acquire(blocking=False)
    owner[one.token] = "client 1"
    snap(1, f"client 1 acquires on A,B,C (D,E unreachable): {'held' if ok1 else 'failed'}")
    expire_now(c[2], key)
    snap(2, "C's clock jumps forward: its copy expires early")
    ok2 = two.acquire(blocking=False)
    if two.token:
        owner[two.token] = "client 2"
    snap(3, f"client 2 acquires on C,D,E (A,B unreachable): {'held' if ok2 else 'failed'}")
    one.release()
    two.release()
    return ClockJump("Redlock with a clock jump on one node", pd.DataFrame(rows), client1_holds=ok1,
                     client2_holds=ok2, two_holders=ok1 and ok2)
