"""A throwaway ``redis-server`` process on a free loopback port: the top rungs of the Redis ladder.

Used by the test suite (real-Redis half) and by chapters that need several independent servers
(Redlock). The server keeps nothing on disk (``--save '' --appendonly no``) and is stopped by PID.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
from typing import Iterator

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..clock import REAL, poll_until

__all__ = ["available", "free_port", "RedisServerProcess", "start", "real_redis", "still_running", "PortInUse"]

NOT_INSTALLED = "redis-server is not installed (Debian: apt-get install redis-server)"


def available() -> bool:
    """True when a ``redis-server`` binary is on PATH."""
    return shutil.which("redis-server") is not None


#: Where :func:`free_port` looks: below the ephemeral range (Linux 32768-60999, macOS and Windows 49152-65535),
#: with room for a cluster node's bus port (port + 10000) below it too. A port found with ``bind(0)`` comes from
#: the ephemeral range, where every other ``bind(0)`` looks as well: a Jupyter kernel's ports are chosen that way
#: and bound a moment later, so a server started in between on the same port makes the kernel die before it
#: replies to ``kernel_info`` (the likely cause of one such death in a loaded ``make test``, whose 3 workers start
#: ~100 kernels and dozens of servers). Below the range, only a process that asks for that very port can take it.
#: Cluster nodes take their ports from :data:`CLUSTER_PORT_RANGE` instead, whose bus ports (port + 10000,
#: 30000-32767) lie above every port handed out here: a node's bus can never take another server's port (it
#: did once in a loaded ``make test``: a cluster node found its port taken and never answered).
PORT_RANGE = range(10000, 20000)
CLUSTER_PORT_RANGE = range(20000, 22768)
_ports = random.Random()   # its own generator: a test that seeds ``random`` must not make workers pick alike


def bindable(host: str, port: int) -> bool:
    """True if ``host:port`` can be bound right now (nobody listens or is connected from it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


class PortInUse(OSError):
    """``redis-server`` could not listen on its port (or its cluster bus port): another process took it
    between the moment the port was found free and the server's start."""


def free_port(host: str = "127.0.0.1", ports: range = PORT_RANGE) -> int:
    """A TCP port in ``ports`` that was free on ``host`` a moment ago (an ephemeral one, as a last resort, if
    200 random picks there are all taken)."""
    for _ in range(200):
        port = _ports.choice(ports)
        if bindable(host, port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class RedisServerProcess:
    """One ``redis-server`` started by :func:`start`; ``stop()`` kills it by PID (idempotent)."""

    def __init__(self, port: int, pid: int, workdir: str) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.pid = pid
        self._workdir = workdir

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def client(self, **kwargs) -> redis.Redis:
        kwargs.setdefault("decode_responses", True)
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def alive(self) -> bool:
        """True while the process runs. A zombie (exited, not yet reaped: a daemonized server is
        reparented to PID 1) counts as dead."""
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            return state not in ("Z", "X")
        except (OSError, IndexError):
            return True

    def stop(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            if not poll_until(lambda: not self.alive(), 5, interval=0.02, clock=REAL):
                os.kill(self.pid, signal.SIGKILL)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> "RedisServerProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RedisServerProcess pid={self.pid} {self.url}>"


#: every server this process started, by PID (:func:`still_running` reports the ones left alive)
_started: dict[int, "RedisServerProcess"] = {}


def still_running() -> list[RedisServerProcess]:
    """The servers :func:`start` started in this process that are still alive (the test suite checks that
    none is left when it ends: every start has its stop, also on failure)."""
    return [p for p in list(_started.values()) if p.alive() and _is_redis(p.pid)]


def _is_redis(pid: int) -> bool:
    """False when ``pid`` now belongs to another program (the server died and the PID was reused)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
        return b"redis-server" in cmd or b"redis-sentinel" in cmd
    except OSError:
        return True  # no /proc: trust the PID


#: how many free ports :func:`start` tries when another process takes the one it picked
PORT_TRIES = 5


def start(port: int | None = None, timeout: float = 10.0, args: tuple[str, ...] | list[str] = (),
          config: str | None = None) -> RedisServerProcess:
    """Start ``redis-server`` on ``port`` and wait until it answers PING.

    Without ``port``, a free one; if another process takes it before the server listens, up to
    :data:`PORT_TRIES` ports are tried. With ``port``, :class:`PortInUse` says it was taken (the caller
    picks another). ``args``: extra command-line options (``("--cluster-enabled", "yes")``); ``config``: the
    text of a config file written into the server's own folder and passed first (Sentinel needs one it can
    rewrite)."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise FileNotFoundError(NOT_INSTALLED)
    if port is not None:
        return _start(exe, port, timeout, args, config)
    for attempt in range(1, PORT_TRIES + 1):
        try:
            return _start(exe, free_port(), timeout, args, config)
        except PortInUse:
            if attempt == PORT_TRIES:
                raise
    raise AssertionError("unreachable")


def _log_says_port_taken(logfile: str) -> bool:
    """True once the server's log says it could not listen (``Failed listening on port N (TCP|cluster)``)."""
    try:
        with open(logfile, errors="replace") as f:
            return "Failed listening on port" in f.read()
    except OSError:
        return False


def _start(exe: str, port: int, timeout: float, args: tuple[str, ...] | list[str],
           config: str | None) -> RedisServerProcess:
    workdir = tempfile.mkdtemp(prefix="hcedu-redis-")
    pidfile = os.path.join(workdir, "redis.pid")
    head = [exe]
    if config is not None:
        conf = os.path.join(workdir, "redis.conf")
        with open(conf, "w") as f:
            f.write(config)
        head.append(conf)
    logfile = os.path.join(workdir, "redis.log")
    subprocess.run([*head, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--daemonize", "yes", "--pidfile", pidfile, "--dir", workdir,
                    "--logfile", logfile, *args],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
    # one try per poll: redis-py 8 retries a refused connection 10 times with backoff by default, so a poll
    # made before the server listens took seconds instead of milliseconds; and a process that took the port but
    # never answers must not hold a poll up
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, socket_timeout=0.5,
                         retry=Retry(NoBackoff(), 0))

    def answers() -> bool:
        # the pidfile is this server's own: a PING answered by another process on the port does not count
        if _log_says_port_taken(logfile):   # the daemon exited: say so now, not after the timeout
            shutil.rmtree(workdir, ignore_errors=True)
            raise PortInUse(f"redis-server could not listen on port {port} or its cluster bus port: taken")
        try:
            return bool(client.ping()) and os.path.exists(pidfile)
        except (redis.ConnectionError, redis.TimeoutError):
            return False

    try:
        if not poll_until(answers, timeout, interval=0.02, clock=REAL):
            _stop_from_pidfile(pidfile, port, workdir)  # a daemon that came up late must not outlive us
            raise TimeoutError(f"redis-server on port {port} did not answer within {timeout} s")
    finally:
        client.close()
    with open(pidfile) as f:
        pid = int(f.read().strip())
    proc = RedisServerProcess(port, pid, workdir)
    _started[pid] = proc
    return proc


def _stop_from_pidfile(pidfile: str, port: int, workdir: str) -> None:
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        shutil.rmtree(workdir, ignore_errors=True)
        return
    RedisServerProcess(port, pid, workdir).stop()


@contextlib.contextmanager
def real_redis(url: str | None = None, *, required: bool = True) -> Iterator[str | None]:
    """A real Redis for a benchmark: ``url``, else ``$REDIS_URL``, else a throwaway ``redis-server`` started
    now and stopped when the block exits (even on error). Yields its ``redis://`` URL.

    With neither a URL nor the binary: ``FileNotFoundError`` naming the fix, or (``required=False``) ``None``.
    """
    url = url or os.environ.get("REDIS_URL") or None
    if url is not None:
        yield url
        return
    if not available():
        if required:
            raise FileNotFoundError(f"{NOT_INSTALLED}, and REDIS_URL is not set")
        yield None
        return
    server = start()
    try:
        yield server.url
    finally:
        server.stop()
