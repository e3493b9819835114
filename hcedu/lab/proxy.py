"""Latency and fault injection between a redis-py client and Redis (toxiproxy's ``latency``, ``timeout``
and ``reset_peer`` toxics), on a real loopback socket or inside the embedded fakeredis.

Two ways in, one plan:
  * :class:`LatencyProxy` is a TCP proxy on ``127.0.0.1`` (one asyncio event loop on one
    goroutine, ``hcedu-proxy-<port>``) in front of any Redis that speaks TCP: a real ``redis-server`` or
    ``hcedu.backend.serve_embedded()``. Point a client at ``proxy.url``.
  * :class:`DelayedConnection` is a fakeredis connection class that applies the same plan in-process,
    so the lab also runs with nothing installed:
    ``redis.Redis(connection_pool=BlockingConnectionPool(connection_class=DelayedConnection,
    server=new_fake_server(), toxics=t))``.

Both read a :class:`Toxics` object, which you can change while traffic flows:
  * ``delay`` (+ uniform ``jitter``) is added once per request (a command or a whole pipeline; the
    proxy decides per chunk the client writes, which is one per request unless it is very large), on
    the way to the server, so it models a round-trip time; requests on one connection never overtake
    each other;
  * faults apply to the next ``count`` requests (``inject``) or to a random fraction (``set_rate``,
    seeded): ``stall`` holds the request for ``duration`` seconds (a client whose ``socket_timeout``
    is shorter gets ``redis.TimeoutError``), ``drop`` closes the connection (``redis.ConnectionError``
    "Connection closed by server"), ``reset`` aborts it with a TCP RST (``redis.ConnectionError``,
    errno 104). A dropped or reset request is not forwarded. ``lose_reply`` forwards the request, lets
    the server execute it, then closes the connection instead of passing the reply back
    (``redis.ConnectionError``): the fault that makes a blind retry run a write twice.
  * connection hand-shake commands (``HELLO``, ``AUTH``, ``CLIENT``, ``SELECT``) are delayed but never
    faulted, so ``count`` means what a learner expects: the next *user* commands;
  * every delay and fault is recorded (``toxics.report()`` gives a frame; ``toxics.counts``).

Shutdown invariant: ``LatencyProxy.stop()`` (also on ``with`` exit and at interpreter exit) closes the
listening socket and every proxied connection and joins the loop's goroutine; it is idempotent.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import socket
import struct
import threading
import weakref
from typing import Any
from urllib.parse import urlsplit

import fakeredis
from ..backend import new_fake_server  # db 0 made up front: fakeredis 2.41's first-use race
import redis

from .. import _validate
from ..backend import BackendUnavailable
from ..clock import REAL
from ..go import spawn
from .toxics import _FAULTS, FAULTS, FaultEvent, Toxics

__all__ = ["FAULTS", "Toxics", "FaultEvent", "LatencyProxy", "DelayedConnection", "DelayedTCPConnection",
           "parse_address"]

_HANDSHAKE = {b"HELLO", b"AUTH", b"CLIENT", b"SELECT"}


def parse_address(upstream: Any) -> tuple[str, int]:
    """``"redis://host:port/0"``, ``"host:port"``, ``(host, port)`` or anything with ``.url`` -> ``(host, port)``."""
    if hasattr(upstream, "url") and not isinstance(upstream, str):
        upstream = upstream.url
    if isinstance(upstream, tuple) and len(upstream) == 2:
        host, port = upstream
        _validate.text("host", host)
        return host, _validate.integer("port", port, minimum=1, maximum=65535)
    if isinstance(upstream, str):
        parts = urlsplit(upstream if "://" in upstream else f"redis://{upstream}")
        if parts.scheme not in ("redis", "tcp") or not parts.hostname:
            raise ValueError(f"upstream must be redis://host:port, host:port or (host, port) (got {upstream!r})")
        return parts.hostname, parts.port or 6379
    raise TypeError(f"upstream must be a URL, (host, port) or a server with .url (got {type(upstream).__name__})")


def _command_name(data: bytes) -> bytes:
    """First word of a RESP request (``*3\\r\\n$3\\r\\nSET...`` -> ``SET``); b"" when unknown."""
    if data[:1] != b"*":
        return data.split(b" ", 1)[0].strip().upper()
    parts = data.split(b"\r\n", 3)
    return parts[2].upper() if len(parts) > 2 else b""


class _Pipe:
    """One proxied connection: the client's transport, the upstream transport and the request schedule."""

    def __init__(self, proxy: "LatencyProxy", cid: int) -> None:
        self.proxy = proxy
        self.id = cid
        self.client: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None
        self.pending: list[bytes] = []   # requests that arrived before upstream was connected
        self.next_send = 0.0             # keeps requests in order despite jitter
        self.closed = False
        self.lose_reply = False          # close the connection when the next reply arrives

    def send_up(self, data: bytes) -> None:
        if self.closed:
            return
        if self.upstream is None:
            self.pending.append(data)
        else:
            self.upstream.write(data)
            self.proxy._bytes["up"] += len(data)

    def close(self, rst: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        for tr in (self.client, self.upstream):
            if tr is None or tr.is_closing():
                continue
            if rst:
                sock = tr.get_extra_info("socket")
                if sock is not None:
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    except OSError:
                        pass
                tr.abort()
            else:
                tr.close()
        self.proxy._pipes.discard(self)


class _ClientSide(asyncio.Protocol):
    def __init__(self, proxy: "LatencyProxy") -> None:
        self.proxy = proxy
        self.pipe: _Pipe | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        proxy = self.proxy
        self.pipe = pipe = _Pipe(proxy, next(proxy._ids))
        pipe.client = transport  # type: ignore[assignment]
        proxy._pipes.add(pipe)
        proxy._accepted += 1
        proxy._tasks.add(asyncio.ensure_future(self._open_upstream(pipe)))

    async def _open_upstream(self, pipe: _Pipe) -> None:
        proxy = self.proxy
        loop = asyncio.get_running_loop()
        try:
            tr, _ = await asyncio.wait_for(
                loop.create_connection(lambda: _UpstreamSide(pipe), *proxy.upstream), proxy.connect_timeout)
        except (OSError, asyncio.TimeoutError):
            proxy._upstream_failures += 1
            pipe.close(rst=True)
            return
        finally:
            proxy._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
        if pipe.closed:
            tr.close()
            return
        pipe.upstream = tr  # type: ignore[assignment]
        for data in pipe.pending:
            pipe.send_up(data)
        pipe.pending.clear()

    def data_received(self, data: bytes) -> None:
        pipe = self.pipe
        if pipe is None or pipe.closed:
            return
        proxy = self.proxy
        delay, fault, dur = proxy.toxics.decide(pipe.id, handshake=_command_name(data) in _HANDSHAKE)
        extra = 0.0 if fault is None else _FAULTS[fault].on_proxy(pipe, dur)
        if extra is None:  # the fault ended the request here
            return
        loop = proxy._loop
        now = loop.time()
        at = max(now + delay + extra, pipe.next_send)
        pipe.next_send = at
        if at <= now:
            pipe.send_up(data)
        else:
            loop.call_at(at, pipe.send_up, data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pipe is not None:
            self.pipe.close()


class _UpstreamSide(asyncio.Protocol):
    def __init__(self, pipe: _Pipe) -> None:
        self.pipe = pipe

    def data_received(self, data: bytes) -> None:
        pipe = self.pipe
        if pipe.lose_reply:  # the server executed the request; its reply is lost with the connection
            pipe.close(rst=False)
            return
        if not pipe.closed and pipe.client is not None:
            pipe.client.write(data)
            pipe.proxy._bytes["down"] += len(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pipe.close()


_live_proxies: "weakref.WeakSet[LatencyProxy]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:  # pragma: no cover - interpreter exit
    for p in list(_live_proxies):
        p.stop()


class LatencyProxy:
    """A toxiproxy-style TCP proxy on loopback: adds round-trip delay and injects stalls, drops and resets.

    ``upstream`` is a Redis URL, ``(host, port)`` or a server object with ``.url`` (``redis_server.start()``,
    ``backend.serve_embedded()``). The proxy checks that it is reachable first and raises
    :class:`hcedu.backend.BackendUnavailable` if not. If upstream dies later, new client connections
    are reset (``redis.ConnectionError``) and counted in ``stats()["upstream_failures"]``.

    ``toxics`` (or ``delay``/``jitter``/``seed`` to build one) is the plan; change it live through
    ``proxy.toxics``. Always ``stop()`` it, or use ``with LatencyProxy(...) as p:``.
    """

    def __init__(self, upstream: Any, *, delay: float = 0.0, jitter: float = 0.0, seed: int | None = 0,
                 toxics: Toxics | None = None, host: str = "127.0.0.1", port: int = 0,
                 connect_timeout: float = 2.0) -> None:
        self.upstream = parse_address(upstream)
        _validate.text("host", host)
        port = _validate.integer("port", port, minimum=0, maximum=65535)
        self.connect_timeout = _validate.number("connect_timeout", connect_timeout, minimum=0, strict=True)
        if toxics is None:
            toxics = Toxics(delay, jitter, seed=seed)
        elif not isinstance(toxics, Toxics):
            raise TypeError(f"toxics must be a Toxics (got {type(toxics).__name__})")
        self.toxics = toxics
        url = f"redis://{self.upstream[0]}:{self.upstream[1]}"
        try:
            socket.create_connection(self.upstream, timeout=self.connect_timeout).close()
        except OSError as exc:
            raise BackendUnavailable(url, exc, "proxy upstream") from None
        self._ids = itertools.count(1)
        self._pipes: set[_Pipe] = set()
        self._tasks: set[asyncio.Future] = set()
        self._bytes = {"up": 0, "down": 0}
        self._accepted = 0
        self._upstream_failures = 0
        self._stopped = False
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.AbstractServer | None = None
        self._error: BaseException | None = None
        # the event loop runs on its own goroutine for the proxy's whole life
        self._g = spawn(self._run, host, port, name="hcedu-proxy", report=False)
        if not self._ready.wait(10) or self._error is not None:
            self._stopped = True
            err = self._error
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._g.join(5)
            raise OSError(f"proxy could not listen on {host}:{port}: {err}") from err
        self.host, self.port = self._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
        self._g.name = f"hcedu-proxy-{self.port}"
        _live_proxies.add(self)

    def _run(self, host: str, port: int) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                loop.create_server(lambda: _ClientSide(self), host, port, reuse_address=True))
        except BaseException as exc:  # reported to the constructor
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in list(self._pipes):
            pipe.close(rst=True)
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except asyncio.TimeoutError:
                pass
        await asyncio.sleep(0)

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``: give this to ``redis.Redis.from_url``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        return not self._stopped and self._g.alive

    def stats(self) -> dict[str, int]:
        """Connections accepted and open, upstream failures, bytes each way, and the plan's counters."""
        return {"accepted": self._accepted, "open": len(self._pipes),
                "upstream_failures": self._upstream_failures,
                "bytes_up": self._bytes["up"], "bytes_down": self._bytes["down"], **self.toxics.counts}

    def reset_all(self) -> int:
        """Abort every open proxied connection with an RST now (a network blip); return how many."""
        if self._stopped:
            return 0
        fut = asyncio.run_coroutine_threadsafe(self._reset_all(), self._loop)
        return fut.result(5)

    async def _reset_all(self) -> int:
        pipes = list(self._pipes)
        for p in pipes:
            p.close(rst=True)
        return len(pipes)

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every connection, stop the loop and join its goroutine (idempotent).

        Raises ``RuntimeError`` if the goroutine has not stopped within ``timeout`` seconds.
        """
        if self._stopped:
            return
        self._stopped = True
        _live_proxies.discard(self)
        try:
            self._loop.call_soon_threadsafe(self._loop.stop)
        except RuntimeError:  # loop already closed
            pass
        if not self._g.join(timeout):
            raise RuntimeError(f"proxy goroutine {self._g.name} did not stop within {timeout:g} s")

    def __enter__(self) -> "LatencyProxy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LatencyProxy {self.host}:{self.port} -> {self.upstream[0]}:{self.upstream[1]} {state} {self.toxics}>"


_inproc_ids = itertools.count(1)


class _ToxicConnection:
    """Mixin over a redis-py connection class: obey a :class:`Toxics` plan in-process (see subclasses)."""

    _host_label = "socket"

    def __init__(self, *args: Any, toxics: Toxics | None = None, **kwargs: Any) -> None:
        if toxics is not None and not isinstance(toxics, Toxics):
            raise TypeError(f"toxics must be a Toxics (got {type(toxics).__name__})")
        self.toxics = toxics if toxics is not None else Toxics()
        self._conn_id = next(_inproc_ids)
        self._owed: tuple[float, str | None, float] | None = None
        self._handshaking = False
        super().__init__(*args, **kwargs)

    def on_connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        self._handshaking = True
        try:
            super().on_connect_check_health(*args, **kwargs)  # type: ignore[misc]
        finally:
            self._handshaking = False

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        super().send_packed_command(command, check_health=check_health)  # type: ignore[misc]
        if self._owed is None:
            self._owed = self.toxics.decide(self._conn_id, handshake=self._handshaking, via="in-process")

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        owed, self._owed = self._owed, None
        if owed is not None:
            delay, fault, dur = owed
            read = lambda: super(_ToxicConnection, self).read_response(*args, **kwargs)  # noqa: E731
            total = delay + (0.0 if fault is None else _FAULTS[fault].on_connection(self, dur, read))
            limit = self.socket_timeout  # type: ignore[attr-defined]
            if limit is not None and total > limit:
                self.toxics.clock.sleep(limit)
                self.disconnect()
                raise redis.TimeoutError(f"Timeout reading from {self._host_label} "
                                         f"(injected stall of {total:.3g} s)")
            if total > 0:
                self.toxics.clock.sleep(total)
        response = super().read_response(*args, **kwargs)  # type: ignore[misc]
        if self.health_check_interval:  # type: ignore[attr-defined]
            # redis-py does this in Connection.read_response; fakeredis's override forgets it, which
            # would make every command send a health-check PING first. (redis-py compares it with the
            # monotonic clock; REAL.monotonic() is perf_counter, the same CLOCK_MONOTONIC on Linux.)
            self.next_health_check = REAL.monotonic() + self.health_check_interval  # type: ignore[attr-defined]
        return response

    def disconnect(self, *args: Any, **kwargs: Any) -> None:
        self._owed = None
        super().disconnect(*args, **kwargs)  # type: ignore[misc]


class DelayedConnection(_ToxicConnection, fakeredis.FakeRedisConnection):
    """An embedded-fakeredis connection that obeys a :class:`Toxics` plan: the in-process twin of the proxy.

    Pass ``toxics=`` through the pool's connection kwargs. The delay is slept (the GIL is released)
    once per request (a command or a pipeline), before its reply is read, while the connection is
    checked out, exactly where a network round trip would be. A ``stall`` longer than
    ``socket_timeout`` sleeps ``socket_timeout``, closes the connection and raises
    ``redis.TimeoutError`` (fakeredis itself never times out); ``drop`` and ``reset`` close it and
    raise ``redis.ConnectionError``. Hand-shake commands are delayed, never faulted.
    """

    _host_label = "fakeredis"


class DelayedTCPConnection(_ToxicConnection, redis.Connection):
    """A real TCP ``redis.Connection`` that obeys a :class:`Toxics` plan in-process (same rules as
    :class:`DelayedConnection`): injected latency that costs the client no CPU, unlike a proxy
    running in the client's own process."""

    _host_label = "redis (in-process toxics)"
