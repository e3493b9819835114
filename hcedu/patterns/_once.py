"""Send a command exactly once: no blind retry of a write whose reply was lost.

redis-py (>= 6) retries every command on ``ConnectionError``/``TimeoutError`` by default (``Retry`` with 3
attempts), and a client may be built with any retry policy. For a read that is harmless; for a write it is
not: when the reply is lost *after* Redis executed the command (a connection reset, a proxy restart, a read
timeout on a slow server), the retry runs it a second time -- ``INCRBY 1`` adds 2, ``RPUSH`` stores two
copies, a ``SET NX`` lock acquire sees its own key and reports "taken".

:func:`call_once` sends one command on a pooled connection and reads its reply with no retry: a lost reply
raises ``redis.ConnectionError`` / ``redis.TimeoutError`` and the caller knows the outcome is *unknown*
(the command ran once or not at all, never twice); on a ``RedisCluster`` it goes to the plain client of the
primary that owns the keys' slot (the cluster client would resend). :func:`eval_once` does the same for a
registered Lua script (``EVALSHA``; after a ``NOSCRIPT`` error, which means the script did not run, it loads the
script and sends it once more). ``timeout`` bounds the whole call (a caller's deadline on a hung server): opening a
new connection if the pool has none (TCP connect and hand-shake, :func:`hcedu.backend.connect_deadline`) and
waiting for the reply; ``None`` uses the connection's ``socket_connect_timeout``/``socket_timeout``.

The patterns use these for writes that are not idempotent; writes that are made idempotent (a lock acquire
carrying its token, a purchase carrying its order id, an increment carrying a request id) may be retried,
and :func:`retry_idempotent` does that, bounded by a deadline.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script

from ..backend import connect_deadline
from ..clock import REAL, Clock

__all__ = ["call_once", "eval_once", "resends", "socket_timeout", "retry_idempotent", "with_request_id", "reply_slack",
           "TRANSIENT"]

#: errors after which the outcome of a write is unknown (it may or may not have run)
TRANSIENT = (redis.ConnectionError, redis.TimeoutError)

T = TypeVar("T")


class _Bounded:
    """A connection whose ``read_response`` waits at most ``timeout`` seconds (redis-py's per-read timeout)."""

    def __init__(self, conn: Any, timeout: float) -> None:
        self._conn = conn
        self._timeout = timeout

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout)
        return self._conn.read_response(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def resends(client: redis.Redis) -> bool:
    """True if ``client``'s connections retry a command after a connection error (redis-py ``Retry`` with
    retries > 0, or ``retry_on_error``/``retry_on_timeout``), i.e. would run a write twice on a lost reply.
    A ``RedisCluster`` client retries by design (to follow a failover): True."""
    if isinstance(client, RedisCluster):
        return True
    kw = getattr(client.connection_pool, "connection_kwargs", {})
    retry = kw.get("retry")
    if retry is None:  # redis-py's Connection: Retry(NoBackoff(), 1) if retry_on_error/_timeout, else 0
        return bool(kw.get("retry_on_error") or kw.get("retry_on_timeout"))
    return retry.get_retries() > 0


def call_once(client: redis.Redis, *args: Any, timeout: float | None = None, **options: Any) -> Any:
    """Send ``args`` (one Redis command) once and return its parsed reply; never resend it.

    A lost reply raises ``redis.ConnectionError``/``redis.TimeoutError`` (the connection is closed, so the
    pool opens a fresh one next time). ``timeout`` (seconds, > 0) bounds the whole call: a new connection's
    connect and hand-shake (on :func:`hcedu.backend.connect` clients) and the wait for this reply.
    A client that does not resend (no ``Retry``: :func:`hcedu.backend.connect`'s, redis-py 8's default)
    is used through its ``execute_command`` as usual, so spies that wrap it still see every command;
    otherwise, or with a ``timeout``, the command goes straight to a pooled connection.
    """
    if isinstance(client, RedisCluster):  # its own retry would resend: send on the owning node's client
        return call_once(_node_client(client, args), *args, timeout=timeout, **options)
    if timeout is None and not resends(client):
        return client.execute_command(*args, **options)
    pool = client.connection_pool
    single = getattr(client, "connection", None)
    end = None if timeout is None else REAL.monotonic() + max(0.001, float(timeout))  # a socket deadline: real
    if single is None:
        with connect_deadline(None if timeout is None else max(0.001, float(timeout))):
            conn = pool.get_connection()
    else:
        conn = single
    try:
        with connect_deadline(None if end is None else max(0.001, end - REAL.monotonic())):
            conn.send_command(*args)  # (re)connects a single connection that is closed
        reader = conn if end is None else _Bounded(conn, max(0.001, end - REAL.monotonic()))
        return client.parse_response(reader, args[0], **options)
    except TRANSIENT:
        conn.disconnect()
        raise
    finally:
        if single is None:
            pool.release(conn)


def socket_timeout(client: redis.Redis) -> float | None:
    """The ``socket_timeout`` (s) ``client``'s connections use (a cluster client's node connections), or None."""
    if isinstance(client, RedisCluster):
        kw = getattr(client.nodes_manager, "connection_kwargs", {})
    else:
        kw = getattr(client.connection_pool, "connection_kwargs", {})
    return kw.get("socket_timeout")


def _node_client(client: RedisCluster, args: tuple[Any, ...]) -> redis.Redis:
    """The plain client of the primary serving the slot of ``args``'s keys (a ``MOVED`` during resharding then
    surfaces as an error instead of a silent resend; the cluster client learns the new map on its next call)."""
    node = client.nodes_manager.get_node_from_slot(client.determine_slot(*args))
    if node.redis_connection is None:
        client.nodes_manager.create_redis_connections([node])
    return node.redis_connection


def eval_once(client: redis.Redis, script: Script, keys: list[Any], args: list[Any], *,
              timeout: float | None = None) -> Any:
    """Run a registered ``script`` once (``EVALSHA``; on ``NOSCRIPT`` load it and send once more)."""
    try:
        return call_once(client, "EVALSHA", script.sha, len(keys), *keys, *args, timeout=timeout)
    except redis.exceptions.NoScriptError:  # not run: safe to send again
        script.sha = client.script_load(script.script)
        return call_once(client, "EVALSHA", script.sha, len(keys), *keys, *args, timeout=timeout)


def retry_idempotent(fn: Callable[[], T], *, attempts: int = 3, deadline: float | None = None,
                     base: float = 0.01, clock: Clock = REAL) -> T:
    """Call ``fn`` (an *idempotent* operation) up to ``attempts`` times while it raises a transient Redis
    error and ``deadline`` (if any, on ``clock.monotonic()``) has not passed; re-raise the last error. The
    back-off between attempts (``base`` s, doubling) is ``clock.sleep``."""
    for k in range(attempts):
        try:
            return fn()
        except TRANSIENT:
            left = None if deadline is None else deadline - clock.monotonic()
            if k == attempts - 1 or (left is not None and left <= 0):
                raise
            pause = base * (2 ** k)
            clock.sleep(pause if left is None else min(pause, max(0.0, left)))
    raise AssertionError("unreachable")  # pragma: no cover


def reply_slack(timeout: float | None) -> float:
    """How much longer than a caller's deadline one reply may be waited for: 10 % of ``timeout``, at least
    0.25 s (a normal round trip on a busy host) and at most 1 s (no timeout: 1 s). A hung server then costs
    the deadline plus this slack, never the socket timeout times the retries."""
    if timeout is None:
        return 1.0
    return max(0.25, min(1.0, 0.1 * timeout))


def with_request_id(lua: str) -> str:
    """Wrap a Lua script so a retried call with the same request id returns the first call's result
    instead of running again (exactly-once effect under retries).

    The wrapped script takes one extra key (last in KEYS: the request's marker, ``...:req:<id>``) and one
    extra argument (last in ARGV: how long to remember the request, ms). The first call runs the body and
    stores its number or string result under the marker; a repeat returns the stored result. An error
    reply is not remembered (nothing was done, the caller may retry).
    """
    return ("local function body()\n" + lua + "\nend\n"
            "local mark = KEYS[#KEYS]\n"
            "local done = redis.call('GET', mark)\n"
            "if done then\n"
            "  if string.sub(done, 1, 1) == 'n' then return tonumber(string.sub(done, 2)) end\n"
            "  return string.sub(done, 2)\n"
            "end\n"
            "local r = body()\n"
            "if type(r) == 'number' then\n"
            "  redis.call('SET', mark, 'n' .. string.format('%.17g', r), 'PX', ARGV[#ARGV])\n"
            "elseif type(r) == 'string' then\n"
            "  redis.call('SET', mark, 's' .. r, 'PX', ARGV[#ARGV])\n"
            "end\n"
            "return r\n")
