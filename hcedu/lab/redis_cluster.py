"""Beyond one Redis, on loopback: a throwaway Redis Cluster, and a primary + replica watched by Sentinel.

    with local_cluster() as cluster:          # 3 primaries + 3 replicas, slots assigned, state ok
        rc = cluster.client()                 # redis.cluster.RedisCluster
    with sentinel_trio() as trio:             # primary, replica, one Sentinel (quorum 1)
        trio.primary.client().set("k", "v")

The top rungs of the course's Redis ladder (``redis_server`` is the single-server rung). Everything listens
on 127.0.0.1 only, keeps nothing on disk, and is stopped by PID when the block exits, also on error (the
invariant the tests check: no ``redis-server`` of ours survives the block). Needs the ``redis-server`` and
``redis-cli`` binaries (Debian: ``apt-get install redis-server``); fakeredis has no cluster mode.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import redis
from redis.cluster import ClusterNode, RedisCluster

from .. import _validate
from ..clock import REAL, poll_until
from . import redis_server
from .redis_server import RedisServerProcess

__all__ = ["available", "Cluster", "SentinelTrio", "local_cluster", "sentinel_trio", "cluster_ports", "stop_all"]

NOT_INSTALLED = "redis-server and redis-cli are needed for a local cluster (Debian: apt-get install redis-server)"


def available() -> bool:
    """True when both ``redis-server`` and ``redis-cli`` are on PATH."""
    return shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None


def cluster_ports(n: int, exclude: Iterable[int] = ()) -> list[int]:
    """``n`` ports (none in ``exclude``) that are free on loopback together with their cluster-bus ports
    (port + 10000), from :data:`~hcedu.lab.redis_server.CLUSTER_PORT_RANGE`: both below the ephemeral range,
    and the bus above every port a plain server is given."""
    ports: list[int] = []
    taken = set(exclude)
    while len(ports) < n:
        port = redis_server.free_port(ports=redis_server.CLUSTER_PORT_RANGE)
        if port not in ports and port not in taken and redis_server.bindable("127.0.0.1", port + 10000):
            ports.append(port)
    return ports


def _start_node(port: int, args: tuple[str, ...], used: set[int]) -> RedisServerProcess:
    """Start one cluster node on ``port``, or on another free port if a process took it (or its bus port)
    since the ports were chosen: the ports are chosen up front and the nodes start one after another."""
    for attempt in range(1, redis_server.PORT_TRIES + 1):
        used.add(port)
        try:
            return redis_server.start(port, args=(
                "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf", *args))
        except redis_server.PortInUse:
            if attempt == redis_server.PORT_TRIES:
                raise
            port = cluster_ports(1, exclude=used)[0]
    raise AssertionError("unreachable")


@dataclass
class Cluster:
    """A running local cluster: its nodes (primaries first), and clients for it."""

    nodes: list[RedisServerProcess]
    primaries: int
    replicas_per_primary: int
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL naming one node (``hcedu.backend.connect`` accepts it)."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}/0"

    def client(self, **kwargs) -> RedisCluster:
        kwargs.setdefault("decode_responses", True)
        return RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", n.port) for n in self.nodes], **kwargs)

    def node_for(self, key: str) -> RedisServerProcess:
        """The primary that currently serves ``key``'s slot."""
        with self.client() as rc:
            node = rc.get_node_from_key(key)
        return next(n for n in self.nodes if n.port == node.port)

    def stop(self) -> None:
        stop_all(self.nodes)
        self._stopped = True

    def __repr__(self) -> str:
        return f"<Cluster {self.primaries} primaries x {self.replicas_per_primary} replicas on ports " \
               f"{', '.join(str(n.port) for n in self.nodes)}>"


# A primary serves a new replica's full sync at once: Redis 7.0 defaults to diskless sync with a 5 s
# `repl-diskless-sync-delay` (waiting for more replicas to share one transfer), which made every replica
# link here take 5 s to come up.
SYNC_AT_ONCE = ("--repl-diskless-sync-delay", "0")


def stop_all(servers: list[RedisServerProcess]) -> None:
    """Stop every server, shutting them down together: each gets ``SIGTERM`` first, then each is waited for
    (and killed if it hangs) by :meth:`RedisServerProcess.stop`. One at a time, six cluster nodes took ~0.8 s."""
    for p in servers:
        if p.alive():
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for p in servers:
        p.stop()


def _wait(pred: Callable[[], Any], timeout: float, what: str) -> None:
    """Poll ``pred`` (a Redis error counts as "not yet") on the real clock; TimeoutError names ``what``."""
    def ready() -> Any:
        try:
            return pred()
        except (redis.RedisError, OSError):
            return False

    if not poll_until(ready, timeout, interval=0.05, clock=REAL):
        raise TimeoutError(f"{what} did not happen within {timeout:g} s")


def _cluster_ok(nodes: list[RedisServerProcess], replicas: int) -> bool:
    """Every node says ``cluster_state:ok``, knows every node, and sees every node in its final role (gossip
    spreads a replica's new role a moment after ``--cluster create`` returns); every replica's link is up."""
    primaries = len(nodes) // (1 + replicas)
    for n in nodes:
        with n.client(socket_timeout=1) as c:
            info = c.cluster("info")
            if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != len(nodes):
                return False
            flags = [v["flags"] for v in c.cluster("nodes").values()]
            if sum("master" in f for f in flags) != primaries:
                return False
    if replicas:
        for n in nodes:
            with n.client(socket_timeout=1) as c:
                repl = c.info("replication")
                if repl.get("role") == "slave" and repl.get("master_link_status") != "up":
                    return False
    return True


@contextlib.contextmanager
def local_cluster(primaries: int = 3, replicas: int = 1, *, node_timeout_ms: int = 2000,
                  timeout: float = 60.0) -> Iterator[Cluster]:
    """Start ``primaries * (1 + replicas)`` cluster nodes on free loopback ports, join them with
    ``redis-cli --cluster create``, wait until every node reports ``cluster_state:ok`` and every replica's
    link is up, yield the :class:`Cluster`, and stop every node when the block exits (also on error)."""
    primaries = _validate.integer("primaries", primaries, minimum=3, maximum=16)
    replicas = _validate.integer("replicas", replicas, minimum=0, maximum=3)
    if not available():
        raise FileNotFoundError(NOT_INSTALLED)
    nodes: list[RedisServerProcess] = []
    try:
        ports = cluster_ports(primaries * (1 + replicas))
        used = set(ports)
        for port in ports:
            nodes.append(_start_node(port, ("--cluster-node-timeout", str(node_timeout_ms),
                                            "--cluster-announce-ip", "127.0.0.1", *SYNC_AT_ONCE), used))
        out = subprocess.run([shutil.which("redis-cli"), "--cluster", "create",
                              *[f"127.0.0.1:{n.port}" for n in nodes], "--cluster-replicas", str(replicas),
                              "--cluster-yes"], capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0 or "[OK] All 16384 slots covered" not in out.stdout:
            raise RuntimeError(f"redis-cli --cluster create failed: {(out.stdout + out.stderr)[-1500:]}")
        _wait(lambda: _cluster_ok(nodes, replicas), timeout, "the cluster reaching state ok")
        cluster = Cluster(nodes, primaries, replicas)
        yield cluster
    finally:
        stop_all(nodes)


@dataclass
class SentinelTrio:
    """A primary, its replica, and one Sentinel watching them under the name ``master_name``."""

    primary: RedisServerProcess
    replica: RedisServerProcess
    sentinel: RedisServerProcess
    master_name: str = "hcedu"

    def sentinel_client(self) -> redis.Sentinel:
        return redis.Sentinel([("127.0.0.1", self.sentinel.port)], socket_timeout=1.0)

    def current_primary(self) -> tuple[str, int]:
        """``(host, port)`` of the primary the Sentinel names now."""
        host, port = self.sentinel_client().discover_master(self.master_name)
        return host, int(port)

    def stop(self) -> None:
        stop_all([self.sentinel, self.replica, self.primary])


@contextlib.contextmanager
def sentinel_trio(*, down_after_ms: int = 1000, failover_timeout_ms: int = 3000,
                  timeout: float = 30.0) -> Iterator[SentinelTrio]:
    """A primary, a replica (replication link up) and a Sentinel with quorum 1 that fails over after
    ``down_after_ms`` without a reply; all stopped when the block exits."""
    if not available():
        raise FileNotFoundError(NOT_INSTALLED)
    started: list[RedisServerProcess] = []
    try:
        primary = redis_server.start(args=SYNC_AT_ONCE)
        started.append(primary)
        replica = redis_server.start(args=("--replicaof", "127.0.0.1", str(primary.port)))
        started.append(replica)
        _wait(lambda: replica.client(socket_timeout=1).info("replication").get("master_link_status") == "up",
              timeout, "the replica's link to the primary")
        conf = (f"sentinel monitor hcedu 127.0.0.1 {primary.port} 1\n"
                f"sentinel down-after-milliseconds hcedu {down_after_ms}\n"
                f"sentinel failover-timeout hcedu {failover_timeout_ms}\n")
        sentinel = redis_server.start(config=conf, args=("--sentinel",))
        started.append(sentinel)
        trio = SentinelTrio(primary, replica, sentinel)
        _wait(lambda: trio.current_primary()[1] == primary.port, timeout, "the Sentinel finding the primary")
        yield trio
    finally:
        stop_all(started[::-1])
