"""Which Redis the course talks to: ``connect()`` returns a redis-py client for a real server
(``REDIS_URL``) or for the process-wide embedded fakeredis server (the default: nothing to install).

The Redis ladder (COURSE.md §2): in-process fakeredis -> :func:`serve_embedded` (a ``TcpFakeServer``
real clients in other processes can reach) -> a real ``redis-server`` -> several servers (Redlock).
The same pattern code runs on every rung.

Invariants:
  * one embedded ``FakeServer`` per process; every embedded client shares its data;
  * an unreachable server raises :class:`BackendUnavailable` (a ``redis.ConnectionError``) naming the
    URL with its password redacted (in the userinfo and in a ``?password=`` query), the cause, and the
    fixes; a server that refuses the credentials raises :class:`BackendAuthError` (a subclass) that says
    so, and an endpoint that does not speak RESP says it is probably not Redis;
  * ``connect()`` clients never resend a command (no redis-py ``Retry``): when a reply is lost after the
    server ran the command, a blind retry would run a write twice (``INCR`` adds 2). The error surfaces;
    retry yourself only what is idempotent (the patterns in :mod:`hcedu.patterns` do);
  * inside :func:`connect_deadline` a ``connect()`` client opens a *new* connection (TCP connect and the
    ``HELLO``/``CLIENT SETINFO`` hand-shake) within the caller's deadline: a hung server that accepts TCP but
    never replies costs the deadline, not ``socket_timeout`` (5 s) per hand-shake read;
  * key prefixes (:class:`Keyspace`) keep chapters apart, and ``cleanup()`` removes only their keys: a name
    is one segment (no ``:``), neither name nor root may contain glob characters.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import fakeredis
import redis
from fakeredis._clients import _tcp_server  # private: see _KeepAliveOnErrorHandler
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import _validate

__all__ = ["ENV_VAR", "BackendUnavailable", "BackendAuthError", "BackendInfo", "connect", "connect_deadline",
           "embedded_server", "serve_embedded", "EmbeddedServer", "describe", "Keyspace", "redact", "new_fake_server"]

ENV_VAR = "REDIS_URL"

# redis-py 8.1 changed its defaults (spec: redis-patterns §1); the course pins what it relies on.
CLIENT_DEFAULTS: dict[str, Any] = {
    "socket_timeout": 5.0,
    "socket_connect_timeout": 2.0,
}

_embedded_lock = threading.Lock()
_embedded: fakeredis.FakeServer | None = None


class BackendUnavailable(redis.ConnectionError):
    """The Redis named by ``REDIS_URL`` (or ``url=``) cannot be reached. The message says how to fix it."""

    def __init__(self, url: str, cause: BaseException, source: str, *, problem: str | None = None,
                 fix: str | None = None) -> None:
        self.url = redact(url)
        self.cause = cause
        problem = problem or f"Cannot reach Redis at {self.url} (from {source})"
        fix = fix or (f"start that server, e.g.  redis-server --port {_port_of(url)} --daemonize yes"
                      f"   (Debian: apt-get install redis-server)")
        super().__init__(
            f"{problem}: {_redact_text(str(cause), url)}\n"
            f"Fix it one of two ways:\n"
            f"  1. {fix}\n"
            f"  2. or use the embedded Redis (fakeredis, nothing to install):  unset {ENV_VAR}, then restart "
            f"JupyterLab (a running kernel keeps the environment it was started with)"
        )

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback wall
        return [f"BackendUnavailable: {self}"]


class BackendAuthError(BackendUnavailable):
    """The server answered but refused the credentials (``WRONGPASS``/``NOAUTH``): the server is up."""


def redact(url: str) -> str:
    """Return ``url`` with any password (``user:pw@`` or a ``?password=`` query parameter) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
        port = parts.port
    except ValueError:  # unparsable: hide everything after the scheme's userinfo, to be safe
        return url.split("@", 1)[-1] if "@" in url else url
    netloc = parts.netloc
    if password is not None:
        host = parts.hostname or ""
        if port is not None:
            host = f"{host}:{port}"
        netloc = f"{parts.username or ''}:***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() == "password" for k, _ in pairs):
            query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*")
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_text(text: str, url: str) -> str:
    """``text`` with every password that ``url`` carries replaced by ``***`` (errors may echo the URL)."""
    secrets: list[str] = []
    try:
        parts = urlsplit(url)
        if parts.password:
            secrets.append(parts.password)
        secrets += [v for k, v in parse_qsl(parts.query) if k.lower() == "password" and v]
    except ValueError:
        pass
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _port_of(url: str) -> int:
    try:
        return urlsplit(url).port or 6379
    except ValueError:
        return 6379


def new_fake_server() -> fakeredis.FakeServer:
    """A fresh ``fakeredis.FakeServer`` whose database 0 already exists.

    fakeredis 2.41 creates a database on first use through a ``defaultdict`` outside its lock: when the
    first connections to a fresh server are made by several threads at once, two of them can each create
    "database 0" and the clients split between two invisible copies of the data (a limiter then admits
    its limit once per copy: the sliding log's "50 admitted against a limit of 25", issue 12). Creating
    database 0 up front closes that window.
    """
    server = fakeredis.FakeServer()
    server.dbs[0]  # noqa: B018 - create it now, single-threaded
    return server


def _blmove_blocks() -> bool:
    """Make fakeredis's ``BLMOVE`` block as Redis's does; True if it had to be fixed.

    fakeredis 2.41 declares BLMOVE's source as ``Key(list, None)`` (LMOVE's "a missing key replies nil"), so on
    an empty source BLMOVE replies nil at once instead of waiting up to its timeout for a push. A worker loop on
    it spins (exercise 16's reference worker made about 4,000 calls a second and kept the flash sale's
    ``stop()`` from ever seeing it idle: 10 s and 11 CPU-s per check), and the course's own queues had to use
    ``BRPOPLPUSH`` instead. The replacement is one pass of fakeredis's own blocking ``BLMOVEM`` (``COUNT 1``)
    run by its ``_blocking`` loop, like ``BRPOPLPUSH``; it is installed only while the faulty declaration is
    there, so a fakeredis that fixes it is left alone.
    """
    import functools

    try:   # private fakeredis names: a release that moves them gets its own BLMOVE, as it is
        from fakeredis._command_args_parsing import Timeout
        from fakeredis._commands import SUPPORTED_COMMANDS, Key, Signature
        from fakeredis.commands_mixins.list_mixin import ListCommandsMixin, _parse_list_end
    except ImportError:
        return False
    sig = SUPPORTED_COMMANDS.get("blmove")
    if sig is None or not (sig.fixed and isinstance(sig.fixed[0], Key) and sig.fixed[0].missing_return is None):
        return False
    if not hasattr(ListCommandsMixin, "_blmovem_pass"):
        return False

    def blmove(self: Any, source: bytes, destination: bytes, wherefrom: bytes, whereto: bytes, timeout: float) -> Any:
        from_left, to_left = _parse_list_end(wherefrom), _parse_list_end(whereto)
        one = functools.partial(self._blmovem_pass, source, destination, from_left, to_left, False, 1, True)
        return self._blocking(timeout, one, lambda moved: moved[0] if moved else None)

    ListCommandsMixin.blmove = blmove  # type: ignore[method-assign]
    SUPPORTED_COMMANDS["blmove"] = Signature("blmove", "blmove", (bytes, bytes, bytes, bytes, Timeout),
                                             flags="".join(sig.flags), server_types=sig.server_types)
    return True


_blmove_blocks()


def embedded_server() -> fakeredis.FakeServer:
    """The process-wide embedded fakeredis server (created on first use; Lua enabled)."""
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            _embedded = new_fake_server()
        return _embedded


_deadline = threading.local()


@contextlib.contextmanager
def connect_deadline(seconds: float | None) -> Iterator[None]:
    """While inside, a :func:`connect` client that opens a new connection on this thread finishes the TCP connect
    and the hand-shake within ``seconds`` (or raises ``redis.TimeoutError``), instead of waiting
    ``socket_connect_timeout`` / ``socket_timeout`` per step. ``None`` changes nothing. Nested: the earliest
    deadline wins. Connections that are already open are not touched (a command's own reply is bounded by the
    caller, e.g. :func:`hcedu.patterns._once.call_once`'s ``timeout``)."""
    if seconds is None:
        yield
        return
    seconds = _validate.number("seconds", seconds, minimum=0)
    outer = getattr(_deadline, "at", None)
    at = time.monotonic() + seconds
    _deadline.at = at if outer is None else min(outer, at)
    try:
        yield
    finally:
        _deadline.at = outer


def _connect_budget() -> float | None:
    """Seconds left before this thread's :func:`connect_deadline` (at least 1 ms), or None outside one."""
    at = getattr(_deadline, "at", None)
    return None if at is None else max(0.001, at - time.monotonic())


def _bounded(value: float | None, budget: float) -> float:
    return budget if value is None or value <= 0 else min(float(value), budget)


class _DeadlineConnection:
    """Mixed into a ``connect()`` client's connection class: inside :func:`connect_deadline` the socket connect
    and the hand-shake replies wait at most until the deadline; afterwards the socket gets its own
    ``socket_timeout`` back."""

    def _connect(self) -> Any:
        budget = _connect_budget()
        if budget is None:
            return super()._connect()  # type: ignore[misc]
        saved = self.socket_connect_timeout  # type: ignore[has-type]
        self.socket_connect_timeout = _bounded(saved, budget)
        try:
            return super()._connect()  # type: ignore[misc]
        finally:
            self.socket_connect_timeout = saved

    def on_connect_check_health(self, *args: Any, **kwargs: Any) -> Any:
        budget = _connect_budget()
        if budget is None:
            return super().on_connect_check_health(*args, **kwargs)  # type: ignore[misc]
        saved = self.socket_timeout  # type: ignore[has-type]
        self.socket_timeout = _bounded(saved, budget)
        self.update_current_socket_timeout(-1)  # type: ignore[attr-defined]
        try:
            return super().on_connect_check_health(*args, **kwargs)  # type: ignore[misc]
        finally:
            self.socket_timeout = saved
            self.update_current_socket_timeout(-1)  # type: ignore[attr-defined]


_deadline_classes: dict[type, type] = {}


def _deadline_class(cls: type) -> type:
    """``cls`` with :class:`_DeadlineConnection` mixed in (cached); fakeredis connections (they cannot hang)
    and classes without a socket hand-shake are returned unchanged."""
    if (issubclass(cls, (_DeadlineConnection, fakeredis.FakeRedisConnection))
            or not issubclass(cls, redis.connection.AbstractConnection)):
        return cls
    with _embedded_lock:
        if cls not in _deadline_classes:
            _deadline_classes[cls] = type(cls.__name__, (_DeadlineConnection, cls), {"__module__": __name__})
        return _deadline_classes[cls]


def connect(url: str | None = None, *, decode_responses: bool = True, check: bool = True,
            **kwargs: Any) -> redis.Redis:
    """Return a redis-py client: to ``url`` or ``$REDIS_URL`` if either is set, else to the embedded server.

    ``check=True`` sends a PING so a dead server fails here, with :class:`BackendUnavailable`, and not
    in the middle of a lesson. Extra keyword arguments go to ``redis.Redis``. The client never resends a
    command, and inside :func:`connect_deadline` it opens a new connection within the caller's deadline.
    """
    source = "url argument"
    if url is None:
        url = os.environ.get(ENV_VAR) or None
        source = f"${ENV_VAR}"
    if url is None:
        return fakeredis.FakeRedis(server=embedded_server(), decode_responses=decode_responses, **kwargs)
    _validate.text("url", url)
    scheme = urlsplit(url).scheme
    if scheme in ("redis+cluster", "rediss+cluster"):
        return _connect_cluster(url, source, decode_responses=decode_responses, check=check, **kwargs)
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"url must start with redis://, rediss://, unix:// or redis+cluster:// "
                         f"(got {redact(url)!r})")
    # No automatic retry: a lost reply must not run a write twice (see the module docstring).
    options = {**CLIENT_DEFAULTS, "retry": Retry(NoBackoff(), 0), **kwargs}
    try:
        client = redis.Redis.from_url(url, decode_responses=decode_responses, **options)
    except ValueError as exc:  # a malformed URL: say so without echoing its password
        raise ValueError(f"url is not a valid Redis URL ({redact(url)!r}): {_redact_text(str(exc), url)}") from None
    pool = client.connection_pool
    pool.connection_class = _deadline_class(pool.connection_class)  # no connection is open yet
    if check:
        try:
            client.ping()
        except (redis.exceptions.AuthenticationError, redis.exceptions.AuthenticationWrongNumberOfArgsError,
                redis.ResponseError) as exc:
            client.close()
            if isinstance(exc, redis.ResponseError) and not _is_auth_error(exc):
                raise
            raise _auth_error(url, exc, source) from None
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            client.close()
            raise BackendUnavailable(url, exc, source) from None
        except redis.exceptions.InvalidResponse as exc:
            client.close()
            raise BackendUnavailable(url, exc, source, problem=f"The server at {redact(url)} (from {source}) "
                                     f"did not answer like Redis (is that port another service?)",
                                     fix="point the URL at a Redis port (6379 by default)") from None
    return client


def _connect_cluster(url: str, source: str, *, decode_responses: bool, check: bool, **kwargs: Any):
    """A ``redis.cluster.RedisCluster`` for ``redis+cluster://host:port`` (any one node: the client learns the
    others and the slot map from it). Like :func:`connect`, no automatic resend of a command whose reply was
    lost, and a dead cluster fails here with :class:`BackendUnavailable`."""
    from redis.cluster import RedisCluster

    plain = url.replace("+cluster://", "://", 1)
    options = {k: v for k, v in CLIENT_DEFAULTS.items() if k in ("socket_timeout", "socket_connect_timeout")}
    options.update(kwargs)
    unreachable = (redis.RedisError, redis.exceptions.RedisClusterException, OSError)
    try:
        client = RedisCluster.from_url(plain, decode_responses=decode_responses, **options)
    except unreachable as exc:
        raise BackendUnavailable(url, exc, source, problem=f"Cannot reach the Redis Cluster at {redact(url)} "
                                 f"(from {source})", fix="start it, e.g. hcedu.lab.redis_cluster.local_cluster()") from None
    except ValueError as exc:
        raise ValueError(f"url is not a valid Redis Cluster URL ({redact(url)!r}): {_redact_text(str(exc), url)}") from None
    if check:
        try:
            client.ping()
        except unreachable as exc:
            client.close()
            raise BackendUnavailable(url, exc, source) from None
    return client


def _is_auth_error(exc: BaseException) -> bool:
    text = str(exc)
    return isinstance(exc, redis.exceptions.AuthenticationError) or any(
        w in text for w in ("NOAUTH", "WRONGPASS", "invalid password", "HELLO must be called"))


def _auth_error(url: str, exc: BaseException, source: str) -> "BackendAuthError":
    """Which auth problem: no password given to a server that wants one, or credentials refused."""
    try:
        has_password = urlsplit(url).password is not None or "password=" in urlsplit(url).query.lower()
    except ValueError:
        has_password = True
    if not has_password:
        return BackendAuthError(url, exc, source, problem=f"Redis at {redact(url)} (from {source}) needs a password",
                                fix="put it in the URL: redis://:password@host:port/0 (or user:password@ with ACLs)")
    return BackendAuthError(url, exc, source, problem=f"Redis at {redact(url)} (from {source}) refused the "
                            f"credentials", fix="check the user name and password in the URL "
                            "(redis://user:password@host:port/0) against the server's requirepass/ACL")


@dataclass(frozen=True)
class BackendInfo:
    """What :func:`describe` found: ``kind`` is ``"embedded"``, ``"real"`` or ``"cluster"``."""

    kind: str
    url: str | None
    version: str

    def __str__(self) -> str:
        if self.kind == "embedded":
            return f"embedded fakeredis {self.version} (in-process; set {ENV_VAR} to use a real server)"
        if self.kind == "cluster":
            return f"Redis Cluster (redis-server {self.version}) at {self.url}"
        return f"real redis-server {self.version} at {self.url}"


def describe(client: redis.Redis | None = None) -> BackendInfo:
    """Say which backend is live: the given client's, or the one :func:`connect` would return."""
    from redis.cluster import RedisCluster

    if client is None:
        client = connect()
    if isinstance(client, RedisCluster):
        primaries = client.get_primaries()
        try:
            version = str(client.info("server", target_nodes=RedisCluster.RANDOM).get("redis_version", "?"))
        except redis.RedisError as exc:
            raise BackendUnavailable(f"redis+cluster://{primaries[0].name}", exc, "client") from None
        return BackendInfo("cluster", f"redis+cluster://{primaries[0].name} ({len(primaries)} primaries)", version)
    _require_client(client)
    if isinstance(client, fakeredis.FakeRedis) or _is_fake_pool(client):
        return BackendInfo("embedded", None, fakeredis.__version__)
    kw = client.connection_pool.connection_kwargs
    host = kw.get("path") or f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}"
    try:
        version = str(client.info("server").get("redis_version", "?"))
    except redis.RedisError as exc:
        raise BackendUnavailable(f"redis://{host}", exc, "client") from None
    return BackendInfo("real", f"redis://{host}", version)


def _require_client(client: object) -> None:
    from redis.cluster import RedisCluster

    if not isinstance(client, (redis.Redis, RedisCluster)):
        raise TypeError(f"client must be a redis.Redis client, e.g. hcedu.backend.connect() (got {type(client).__name__})")


def _is_fake_pool(client: redis.Redis) -> bool:
    cls = client.connection_pool.connection_class
    return isinstance(cls, type) and issubclass(cls, fakeredis.FakeRedisConnection)


class _KeepAliveOnErrorHandler(_tcp_server.TCPFakeRequestHandler):
    """fakeredis 2.40's TCP handler closes the connection after any error *reply* (its ``read_response``
    raises the ``ResponseError`` and the handler's catch-all then hangs up), so the first call of every
    ``register_script`` script (NOSCRIPT, then SCRIPT LOAD) broke the connection. A real server sends the
    error and keeps the connection: so does this handler.
    """

    def setup(self) -> None:
        super().setup()
        conn = self.current_client
        if getattr(conn, "_hcedu_keepalive", False):
            return
        read = conn.read_response

        def read_response(*args: Any, **kwargs: Any) -> Any:
            try:
                return read(*args, **kwargs)
            except redis.ResponseError as exc:  # an error reply, not a broken connection
                return exc

        conn.read_response = read_response
        conn._hcedu_keepalive = True


class EmbeddedServer:
    """A running ``TcpFakeServer``: real redis clients (any process, ``redis-cli`` too) can reach it."""

    def __init__(self, port: int, host: str, share: bool) -> None:
        self._tcp = fakeredis.TcpFakeServer((host, port))
        self._tcp.RequestHandlerClass = _KeepAliveOnErrorHandler
        self._tcp.daemon_threads = True
        self._tcp.block_on_close = False
        self._tcp.fake_server.dbs[0]  # noqa: B018 - see new_fake_server
        if share:
            self._tcp.fake_server = embedded_server()
        self.host, self.port = self._tcp.server_address[:2]
        self._thread = threading.Thread(target=self._tcp.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"hcedu-embedded-redis-{self.port}", daemon=True)
        self._thread.start()
        self._stopped = False

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def fake_server(self) -> fakeredis.FakeServer:
        return self._tcp.fake_server

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._tcp.shutdown()
        self._tcp.server_close()
        self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return not self._stopped and self._thread.is_alive()

    def __enter__(self) -> "EmbeddedServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<EmbeddedServer {self.url} {'running' if self.running else 'stopped'}>"


def serve_embedded(port: int = 0, *, host: str = "127.0.0.1", share: bool = True) -> EmbeddedServer:
    """Serve fakeredis over TCP on ``host:port`` (0 = a free port) for multi-process demos.

    ``share=True`` serves the same data as the in-process embedded server. Stop it with ``stop()``
    or use it as a context manager.
    """
    port = _validate.integer("port", port, minimum=0, maximum=65535)
    _validate.text("host", host)
    return EmbeddedServer(port, host, share)


_GLOB = "*?[]\\"


class Keyspace:
    """A key prefix for one chapter or experiment, e.g. ``Keyspace("ch08").key("lock", "order")``
    -> ``"hcedu:ch08:lock:order"``; ``cleanup()`` deletes every key under the prefix (SCAN + UNLINK).

    ``name`` is one segment: no ``:`` (``Keyspace("ch08:lock")`` would live inside ``Keyspace("ch08")``, whose
    cleanup would delete it) and no glob characters ``*?[]\\`` (``SCAN MATCH`` would reach other apps' keys).
    ``root`` is ``:``-separated segments with the same rule (no empty segment, no glob). A keyspace made
    *explicitly* inside another (``root=parent.prefix``) is that parent's child: the parent's cleanup
    deletes it too, and nothing else.
    """

    def __init__(self, name: str, client: redis.Redis | None = None, root: str = "hcedu") -> None:
        _validate.text("name", name)
        if any(ch in name for ch in _GLOB + ":") or name != name.strip():
            raise ValueError(f"name must be one key segment: no ':', no glob characters *?[]\\ and no surrounding "
                             f"spaces (got {name!r})")
        _validate.text("root", root)
        if any(ch in root for ch in _GLOB) or any(not seg or seg != seg.strip() for seg in root.split(":")):
            raise ValueError(f"root must be ':'-separated non-empty segments without glob characters *?[]\\ "
                             f"(got {root!r})")
        self.prefix = f"{root}:{name}"
        if client is not None:
            _require_client(client)
        self.client = client if client is not None else connect()

    def key(self, *parts: object) -> str:
        """Join ``parts`` under the prefix with ``:``."""
        return ":".join([self.prefix, *map(str, parts)])

    def tagged(self, *parts: object) -> str:
        """Like :meth:`key`, with the parts after the prefix wrapped in one Redis Cluster hash tag:
        ``Keyspace("ch08").tagged("lock", "orders")`` -> ``"hcedu:ch08:{lock:orders}"``.

        A pattern that touches several keys in one script or ``MULTI`` builds them all by extending this one
        (``+ ":fence"``, ``+ ":due"``): Redis Cluster hashes only the tag, so they share a slot (no CROSSSLOT),
        and on one server nothing changes. The parts must not contain ``{`` or ``}``.
        """
        if not parts:
            raise ValueError("tagged needs at least one part (the pattern's name)")
        body = ":".join(map(str, parts))
        if "{" in body or "}" in body or not body:
            raise ValueError(f"tagged parts must be non-empty and contain no '{{' or '}}' (got {parts!r})")
        return f"{self.prefix}:{{{body}}}"

    def keys(self) -> list[str]:
        """Every key under the prefix, sorted."""
        return sorted(_s(k) for k in self.client.scan_iter(match=f"{self.prefix}:*", count=500))

    def cleanup(self) -> int:
        """Delete every key under the prefix; return how many were deleted."""
        keys = list(self.client.scan_iter(match=f"{self.prefix}:*", count=500))
        deleted = 0
        for i in range(0, len(keys), 500):
            deleted += self.client.delete(*keys[i:i + 500])
        return deleted

    def __repr__(self) -> str:
        return f"Keyspace({self.prefix!r})"


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
