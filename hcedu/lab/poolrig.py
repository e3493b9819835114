"""The pool lab's rig: a Redis with injected round-trip time on any rung of the ladder.

:class:`PoolLab` puts a Redis (embedded, fakeredis over TCP, or a real server) behind an injected RTT
(in the client connection, or a :class:`~hcedu.lab.proxy.LatencyProxy`) and hands out instrumented
clients (:mod:`hcedu.lab.instrpool`). ``close()`` (or ``with``) closes every client and stops the proxy
and server it started.
"""

from __future__ import annotations

import os
from typing import Any

import fakeredis
from ..backend import new_fake_server  # db 0 made up front: fakeredis 2.41's first-use race
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .. import _validate
from .. import backend as _backend
from .proxy import LatencyProxy, Toxics
from .instrpool import make_pool

__all__ = ["PoolLab"]

class PoolLab:
    """A Redis with injected round-trip time, handing out instrumented clients: one object per experiment.

    ``backend``:
      * ``"embedded"``: a private in-process ``FakeServer``; latency via :class:`DelayedConnection`
        (nothing to install, no sockets);
      * ``"tcp"``: ``hcedu.backend.serve_embedded`` (fakeredis over real TCP);
      * a ``redis://`` URL (e.g. a real ``redis-server``);
      * ``None``: ``$REDIS_URL`` if set, else ``"embedded"``.
    ``via`` says where the latency is injected for the TCP rungs: ``"connection"`` (default: a
    :class:`DelayedTCPConnection` sleeps in the client, costing it no CPU, like a real network) or
    ``"proxy"`` (a :class:`LatencyProxy`, needed for connection resets; it runs in this process, so
    its own work competes with the client for the GIL).
    ``delay``/``jitter`` (seconds) set the injected RTT; change it later through ``lab.toxics``.
    An unreachable URL raises :class:`hcedu.backend.BackendUnavailable`. ``close()`` (or ``with``)
    closes every client and stops the proxy and server it started.
    """

    def __init__(self, backend: str | None = None, *, delay: float = 0.002, jitter: float = 0.0,
                 seed: int | None = 0, via: str = "connection") -> None:
        if backend is None:
            backend = os.environ.get(_backend.ENV_VAR) or "embedded"
        _validate.text("backend", backend)
        self.via = _validate.choice("via", via, ("connection", "proxy"))
        self.toxics = Toxics(delay, jitter, seed=seed, record=False)
        self._clients: list[redis.Redis] = []
        self._server: Any = None
        self.proxy: LatencyProxy | None = None
        self.fake_server: fakeredis.FakeServer | None = None
        if backend == "embedded":
            self.kind = "embedded"
            self.fake_server = new_fake_server()
            self.upstream_url: str | None = None
            # where every client's pool connects, chosen once here (:meth:`client` just applies it)
            self._target: dict[str, Any] = {"server": self.fake_server, "toxics": self.toxics}
        elif backend == "tcp":
            self.kind = "tcp"
            self._server = _backend.serve_embedded(0, share=False)
            self.upstream_url = self._server.url
        elif "://" in backend:
            self.kind = "real"
            self.upstream_url = backend
        else:
            raise ValueError(f"backend must be 'embedded', 'tcp', a redis:// URL or None (got {backend!r})")
        if self.upstream_url is not None:
            try:
                if via == "proxy":
                    self.proxy = LatencyProxy(self.upstream_url, toxics=self.toxics)
                    self._target = {"url": self.proxy.url}
                else:
                    self._target = {"url": self.upstream_url, "toxics": self.toxics}
                    probe = redis.Redis.from_url(self.upstream_url, socket_connect_timeout=2.0,
                                                 socket_timeout=2.0, retry=Retry(NoBackoff(), 0))
                    try:
                        probe.ping()
                    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                        raise _backend.BackendUnavailable(self.upstream_url, exc, "PoolLab backend") from None
                    finally:
                        probe.close()
            except BaseException:
                self.close()
                raise

    def client(self, pool_size: int = 10, kind: str = "blocking", **kwargs: Any) -> redis.Redis:
        """A new client whose instrumented pool (``client.connection_pool``) has ``pool_size`` connections.

        Keyword arguments go to :func:`make_pool` (``timeout``, ``socket_timeout``, ``retries``, ...).
        """
        pool = make_pool(kind, max_connections=pool_size, **self._target, **kwargs)
        c = redis.Redis(connection_pool=pool)
        self._clients.append(c)
        return c

    def describe(self) -> str:
        where = {"embedded": "embedded fakeredis (in-process)", "tcp": "fakeredis over TCP",
                 "real": "real redis-server"}[self.kind]
        if self.upstream_url is not None:
            where += f" (latency via {self.via})"
        return f"{where}, injected RTT {self.toxics.delay * 1e3:g} ms ± {self.toxics.jitter * 1e3:g} ms"

    def close(self) -> None:
        """Close clients, stop the proxy and any server this lab started (idempotent)."""
        for c in self._clients:
            try:
                c.connection_pool.disconnect()
                c.close()
            except Exception:  # pragma: no cover - best effort on teardown
                pass
        self._clients.clear()
        if self.proxy is not None:
            self.proxy.stop()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "PoolLab":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<PoolLab {self.describe()}>"
