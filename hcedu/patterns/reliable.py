"""Reliable Redis queues (Redis Streams consumer groups; the LIST ``BLMOVE``/``RPOPLPUSH`` processing-queue
pattern): at-least-once delivery, leases, dead letters, and idempotent handlers for effectively-once.

Two designs, one contract: a message a consumer has taken stays recorded as *in flight* until the consumer
acks it; a consumer that dies before acking loses nothing, because after a lease its messages are handed to
someone else. So every message is processed **at least once**, and a handler that dedupes by message id
(:class:`IdempotentHandler`) turns that into effectively-once.

* ``StreamQueue`` (:mod:`hcedu.patterns.streamqueue`) -- ``XADD``; ``XREADGROUP GROUP g c ... >`` puts each
  entry in the consumer's Pending Entries List (PEL) until ``XACK``; ``XAUTOCLAIM`` hands entries idle longer
  than the lease to a live consumer (bumping their delivery count); an entry delivered more than
  ``max_deliveries`` times is moved to a dead-letter stream instead of being retried forever. Leases are
  measured by the **Redis server's** clock (PEL idle time), in seconds.
* ``ListQueue`` (:mod:`hcedu.patterns.listqueue`) -- ``LPUSH`` to ``ready``; a consumer moves a message to
  ``processing`` atomically (Lua ``RPOPLPUSH`` + lease, or ``BRPOPLPUSH`` when blocking) and acks with
  ``LREM``; a reaper puts messages whose lease (on the injected clock) expired back on ``ready``, or on
  ``dead`` after ``max_deliveries``. ``ListQueue.take_unsafe`` is plain ``RPOP`` (the source's pattern): a
  crash between pop and done loses the message.

This module holds what both share (:class:`Message`, :class:`ProcessResult`, the limits) and
:class:`IdempotentHandler`. fakeredis gaps (specs §11) are designed around, so the same code runs on fakeredis
and real Redis: ``XREADGROUP COUNT n BLOCK t`` returns at once on fakeredis, so ``StreamQueue.read`` treats an
early empty reply as "poll again after ``poll_interval``" until its deadline; ``BLMOVE`` does not block there,
so the list queue blocks with ``BRPOPLPUSH`` (deprecated in 6.2 but equivalent to ``BLMOVE src dst RIGHT
LEFT``). Blocking waits are real-time I/O timeouts (monotonic), never unbounded unless ``None`` is passed
explicitly.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import redis

from .. import _validate
from ..backend import Keyspace
from ._redisargs import resolve_keyspace

__all__ = ["Message", "IdempotentHandler", "InProgress", "ProcessResult", "MAX_LEASE", "MAX_BATCH"]

#: the longest lease or idle time, seconds (10 years: Redis takes milliseconds as int64; more is a mistake)
MAX_LEASE = 10 * 365 * 86_400.0
#: the most messages one take_many/reap script handles (Redis runs a script with nothing else in between)
MAX_BATCH = 10_000


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _msg_id(value: Any) -> str:
    return uuid.uuid4().hex if value is None else _validate.key_part("msg_id", value)


def _pairs(items: Any) -> list[tuple[str, str]]:
    """``[(msg_id, body), ...]`` checked: TypeError/ValueError naming ``items``, ``msg_id`` or ``body``."""
    out = []
    for pair in _validate.iterable("items", items, what="(msg_id, body) pairs"):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"items must hold (msg_id, body) pairs (got {pair!r})")
        out.append((_msg_id(pair[0]), _validate.text("body", pair[1], empty=True)))
    return out


@dataclass(frozen=True)
class Message:
    """One delivery of a message. ``msg_id`` is the business id (dedupe key); ``entry_id`` is where it lives
    in Redis (the stream entry id, or the raw list value); ``deliveries`` counts deliveries including this one.
    """

    msg_id: str
    body: str
    entry_id: str
    deliveries: int = 1


@dataclass
class ProcessResult:
    """What one :meth:`StreamQueue.process` call did."""

    handled: int = 0
    failed: int = 0
    reclaimed: int = 0
    dead: int = 0
    errors: list[BaseException] = field(default_factory=list)


class InProgress(Exception):
    """Raised by :class:`IdempotentHandler` when another worker is handling the same message right now;
    the message is left un-acked so it is retried after its lease."""


# --------------------------------------------------------------------------------------------------
# Idempotency
# --------------------------------------------------------------------------------------------------
#: KEYS: marker. ARGV: our inflight value, ttl ms. PEXPIRE only while the marker is still ours.
_RENEW_MARK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

#: KEYS: marker. ARGV: our inflight value. DEL only if still ours (a failed handler lets a retry run).
_DROP_MARK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

#: KEYS: marker. ARGV: our inflight value, done ttl (s). Mark done (ours, or expired meanwhile: the effect
#: happened either way); returns 0 if another worker's marker was there (both ran: the window was missed).
_DONE_MARK_LUA = """
local cur = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], 'done', 'EX', ARGV[2])
if cur == ARGV[1] or not cur then return 1 end
return 0
"""


class IdempotentHandler:
    """Dedupe by message id (the consumer side of effectively-once): ``SET done:<id> inflight NX PX`` before the
    handler, ``SET done:<id> done EX ttl`` after it.

    Calling it with a :class:`Message` returns ``"handled"`` (the handler ran and succeeded) or ``"duplicate"``
    (already done: ack and move on), or raises :class:`InProgress` (another worker holds it right now; leave
    it un-acked). If the handler raises, the marker is deleted so a retry can run it, and the exception
    propagates. If the worker dies mid-handler, the ``inflight`` marker expires after ``inflight_ttl`` seconds;
    while the handler runs, a daemon thread renews the marker every ``inflight_ttl / 3`` (compare-and-
    PEXPIRE on this call's own marker value), so a handler slower than ``inflight_ttl`` is not run again
    by another worker meanwhile.

    The one window left: a crash after the handler's effect but before the ``done`` marker runs the handler
    again. Close it by making the effect itself conditional (``UPDATE ... WHERE status='UNPAID'``) or by
    writing the marker in the same transaction as the effect. ``seen``/``duplicates`` count calls, for demos.
    """

    def __init__(self, handler: Callable[[Message], Any], *, client: redis.Redis | None = None,
                 keyspace: Keyspace | None = None, name: str = "handler", ttl: float = 86_400,
                 inflight_ttl: float = 30.0) -> None:
        self.handler = _validate.function("handler", handler)
        _validate.text("name", name)
        self.ttl = _validate.number("ttl", ttl, minimum=0, strict=True)
        self.inflight_ttl = _validate.number("inflight_ttl", inflight_ttl, minimum=0, strict=True)
        self.client, self.keyspace = resolve_keyspace(client, keyspace, "reliable")
        self._prefix = self.keyspace.key("idem", name)
        self._renew = self.client.register_script(_RENEW_MARK_LUA)
        self._drop = self.client.register_script(_DROP_MARK_LUA)
        self._done = self.client.register_script(_DONE_MARK_LUA)
        self._lock = threading.Lock()
        self.handled = 0
        self.duplicates = 0

    def key(self, msg_id: str) -> str:
        return f"{self._prefix}:{msg_id}"

    def __call__(self, msg: Message) -> str:
        if not isinstance(msg, Message):
            raise TypeError(f"msg must be a Message (got {type(msg).__name__})")
        k = self.key(msg.msg_id)
        mine = f"inflight:{uuid.uuid4().hex}"
        px = max(1, int(self.inflight_ttl * 1000))
        for _ in range(3):
            if self.client.set(k, mine, nx=True, px=px):
                break
            state = self.client.get(k)
            if state is None:
                continue  # expired between SET NX and GET: try again
            if _s(state) == "done":
                with self._lock:
                    self.duplicates += 1
                return "duplicate"
            raise InProgress(f"message {msg.msg_id!r} is being handled by another worker")
        else:  # pragma: no cover - needs three expiries in a row
            raise InProgress(f"message {msg.msg_id!r}: could not take the marker")
        stop = threading.Event()
        keeper = threading.Thread(target=self._keep, args=(k, mine, px, stop), daemon=True,
                                  name=f"hcedu-idem-renew-{msg.msg_id}")
        keeper.start()
        try:
            self.handler(msg)
        except BaseException:
            stop.set()
            keeper.join()
            self._drop(keys=[k], args=[mine])
            raise
        stop.set()
        keeper.join()
        self._done(keys=[k], args=[mine, max(1, int(self.ttl))])
        with self._lock:
            self.handled += 1
        return "handled"

    def _keep(self, k: str, mine: str, px: int, stop: threading.Event) -> None:
        """Renew our ``inflight`` marker every ``inflight_ttl / 3`` while the handler runs, so a handler
        slower than ``inflight_ttl`` is not run a second time by another worker. Stops when the marker is
        no longer ours or Redis fails (then the marker expires and the at-least-once window reopens)."""
        while not stop.wait(self.inflight_ttl / 3):
            try:
                if not self._renew(keys=[k], args=[mine, px]):
                    return
            except redis.RedisError:
                return

    def __repr__(self) -> str:
        return f"<IdempotentHandler {self._prefix} handled={self.handled} duplicates={self.duplicates}>"
