"""A reliable queue on Redis lists, the processing-queue pattern (chapter 07): at-least-once, leases, dead letters.

:class:`ListQueue`: ``LPUSH`` to ``ready``; a consumer moves a message to ``processing`` atomically (Lua
``RPOPLPUSH`` + lease, or ``BRPOPLPUSH`` when blocking) and acks with ``LREM``; a reaper puts messages whose
lease (on the injected clock) expired back on ``ready``, or on ``dead`` after ``max_deliveries``.
:meth:`ListQueue.take_unsafe` is plain ``RPOP`` (the source's pattern): a crash between pop and done loses the
message. The shared contract (:class:`~hcedu.patterns.reliable.Message`, idempotent handling) is in
:mod:`hcedu.patterns.reliable`.

fakeredis gap (specs §11): fakeredis 2.41's ``BLMOVE`` does not block (:mod:`hcedu.backend` fixes it once
imported, a bare fakeredis does not), so the queue blocks with ``BRPOPLPUSH`` (deprecated in 6.2 but equivalent
to ``BLMOVE src dst RIGHT LEFT``).
"""

from __future__ import annotations

import json
from typing import Any

import redis

from .. import _validate
from ..backend import Keyspace
from ..clock import REAL, Clock, as_clock
from ._once import call_once, eval_once, reply_slack, socket_timeout
from ._redisargs import resolve_keyspace
from .reliable import MAX_BATCH, MAX_LEASE, Message, _msg_id, _pairs, _s

__all__ = ["ListQueue"]

# --------------------------------------------------------------------------------------------------
# Lists
# --------------------------------------------------------------------------------------------------
#: KEYS: ready, processing, leases, deliveries. ARGV: deadline, n. Atomic RPOPLPUSH + lease, up to n times.
TAKE_LUA = """
local out = {}
for i = 1, tonumber(ARGV[2]) do
  local raw = redis.call('RPOPLPUSH', KEYS[1], KEYS[2])
  if not raw then break end
  redis.call('ZADD', KEYS[3], ARGV[1], raw)
  local n = redis.call('HINCRBY', KEYS[4], raw, 1)
  out[#out + 1] = raw
  out[#out + 1] = n
end
return out
"""

#: KEYS: ready, processing, leases, deliveries, dead. ARGV: now, lease, max_deliveries, limit.
#: Messages in ``processing`` with no lease (a consumer died between BRPOPLPUSH and recording its lease) get
#: one now; those whose lease expired go back to ``ready`` (taken next) or, after max deliveries, to ``dead``.
REAP_LUA = """
local now = tonumber(ARGV[1])
local items = redis.call('LRANGE', KEYS[2], -tonumber(ARGV[4]), -1)  -- the oldest are at the tail
local requeued, dead = {}, {}
for _, raw in ipairs(items) do
  local deadline = redis.call('ZSCORE', KEYS[3], raw)
  if not deadline then
    redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), raw)
  elseif tonumber(deadline) <= now then
    redis.call('LREM', KEYS[2], 1, raw)
    redis.call('ZREM', KEYS[3], raw)
    local n = tonumber(redis.call('HGET', KEYS[4], raw) or '0')
    if n >= tonumber(ARGV[3]) then
      redis.call('HDEL', KEYS[4], raw)
      redis.call('LPUSH', KEYS[5], raw)
      dead[#dead + 1] = raw
    else
      redis.call('RPUSH', KEYS[1], raw)
      requeued[#requeued + 1] = raw
    end
  end
end
return {requeued, dead}
"""

#: KEYS: processing, leases, deliveries. ARGV: raw values. Returns how many were still in processing.
ACK_LUA = """
local n = 0
for _, raw in ipairs(ARGV) do
  n = n + redis.call('LREM', KEYS[1], 1, raw)
  redis.call('ZREM', KEYS[2], raw)
  redis.call('HDEL', KEYS[3], raw)
end
return n
"""


def _secs(x: float) -> str:
    """A blocking command's timeout in seconds, as Redis parses it (>= 1 ms)."""
    return f"{max(0.001, x):.3f}"


class ListQueue:
    """The LIST processing-queue pattern: ``ready`` -> (atomic move) -> ``processing`` -> ``LREM`` on ack, plus a reaper.

    Messages are stored as JSON ``{"id": msg_id, "body": body}`` so each list value is unique (``LREM``
    removes by value). ``lease`` is in seconds of the injected ``clock``; :meth:`reap` must be called
    periodically (any process may); ``max_deliveries`` bounds retries before a message goes to ``dead``.
    """

    def __init__(self, name: str = "jobs", *, client: redis.Redis | None = None, keyspace: Keyspace | None = None,
                 lease: float = 30.0, max_deliveries: int = 5, clock: Clock | None = None) -> None:
        _validate.text("name", name)
        self.lease = _validate.number("lease", lease, minimum=0, strict=True, maximum=MAX_LEASE)
        self.max_deliveries = _validate.integer("max_deliveries", max_deliveries, minimum=1)
        self.clock = as_clock(clock)
        self.client, self.keyspace = resolve_keyspace(client, keyspace, "reliable")
        base = self.keyspace.tagged("list", name)  # one hash tag: scripts, MULTI and BRPOPLPUSH share a slot
        k = lambda part: f"{base}:{part}"  # noqa: E731
        self.ready_key, self.processing_key = k("ready"), k("processing")
        self.leases_key, self.deliveries_key, self.dead_key = k("leases"), k("deliveries"), k("dead")
        self._take = self.client.register_script(TAKE_LUA)
        self._reap = self.client.register_script(REAP_LUA)
        self._ack = self.client.register_script(ACK_LUA)

    @staticmethod
    def _encode(msg_id: str, body: str) -> str:
        return json.dumps({"id": msg_id, "body": body}, separators=(",", ":"), sort_keys=True)

    @staticmethod
    def _decode(raw: Any, deliveries: int = 1) -> Message:
        raw = _s(raw)
        d = json.loads(raw)
        return Message(str(d["id"]), str(d["body"]), raw, int(deliveries))

    def push(self, body: str, msg_id: str | int | None = None) -> str:
        """``LPUSH ready`` a message; returns its ``msg_id`` (a uuid by default).

        Sent once (never a blind retry, which would store two copies when the reply is lost): a lost reply
        raises ``redis.ConnectionError`` and the message is queued once or not at all. Pushing it again with
        the same ``msg_id`` is then the producer's at-least-once retry; an :class:`IdempotentHandler` on the
        consumer side runs it once.
        """
        _validate.text("body", body, empty=True)
        m = _msg_id(msg_id)
        call_once(self.client, "LPUSH", self.ready_key, self._encode(m, body))
        return m

    def push_many(self, items: list[tuple[str | int, str]], *, batch: int = 1000) -> int:
        """``LPUSH`` ``[(msg_id, body), ...]`` in batches of ``batch`` values per command, in order."""
        batch = _validate.integer("batch", batch, minimum=1, maximum=100_000)
        raws = [self._encode(m, b) for m, b in _pairs(items)]
        for i in range(0, len(raws), batch):
            call_once(self.client, "LPUSH", self.ready_key, *raws[i:i + batch])
        return len(raws)

    def take(self, timeout: float | None = 0) -> Message | None:
        """Move the oldest ready message to ``processing`` under a lease and return it; None if none came.

        Without waiting this is one Lua script (RPOPLPUSH + lease + delivery count). With ``timeout`` > 0 (or
        None = forever) and an empty queue it blocks in ``BRPOPLPUSH`` and records the lease right after; if
        the consumer dies in that gap the reaper gives the message a lease when it first sees it.

        Deadline: ``timeout`` is real time (:data:`~hcedu.clock.REAL`) whatever ``clock`` the leases use, since
        the server blocks in real time; the wait blocks in chunks shorter than the client's ``socket_timeout`` and waits for each
        reply at most until ``timeout`` (plus 10 %, 0.25..1 s: :func:`~hcedu.patterns._once.reply_slack`), so a hung server raises
        ``redis.TimeoutError`` at the deadline, never after socket timeout x retries. Every command is sent
        once; a move whose reply was lost leaves the message in ``processing``, where the reaper finds it
        (at-least-once, nothing lost).
        """
        timeout = _validate.optional_timeout("timeout", timeout)
        deadline = None if timeout is None else REAL.monotonic() + timeout  # a socket deadline: real time
        slack = reply_slack(timeout)
        got = self._take_many(1, deadline, slack)
        if got:
            return got[0]
        if timeout == 0:
            return None
        sock = socket_timeout(self.client)
        chunk_cap = max(0.05, min(5.0, (sock or 10.0) / 2))
        while True:
            left = None if deadline is None else deadline - REAL.monotonic()
            if left is not None and left <= 0:
                return None
            chunk = chunk_cap if left is None else min(chunk_cap, left)
            raw = call_once(self.client, "BRPOPLPUSH", self.ready_key, self.processing_key, _secs(chunk),
                            timeout=chunk + slack)
            if raw is not None:
                break
        raw = _s(raw)
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(self.leases_key, {raw: self.clock.now() + self.lease})
        pipe.hincrby(self.deliveries_key, raw, 1)
        _, n = pipe.execute()
        return self._decode(raw, n)

    def _take_many(self, n: int, deadline: float | None, slack: float = 1.0) -> list[Message]:
        left = None if deadline is None else max(slack, deadline - REAL.monotonic())
        flat = eval_once(self.client, self._take,
                         [self.ready_key, self.processing_key, self.leases_key, self.deliveries_key],
                         [repr(self.clock.now() + self.lease), n], timeout=left)
        return [self._decode(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]

    def take_many(self, n: int) -> list[Message]:
        """Atomically move up to ``n`` ready messages to ``processing`` (no waiting)."""
        n = _validate.integer("n", n, minimum=1, maximum=MAX_BATCH)
        return self._take_many(n, None)

    def take_unsafe(self) -> Message | None:
        """The naive consumer: ``RPOP ready``. Nothing records that the message is in flight, so a consumer
        that crashes before finishing loses it for good. Teaching foil."""
        raw = self.client.rpop(self.ready_key)
        return None if raw is None else self._decode(raw)

    def ack(self, msg: Message) -> bool:
        """Done: ``LREM processing 1 msg`` and drop its lease. False if it was no longer in processing (reaped)."""
        if not isinstance(msg, Message):
            raise TypeError(f"msg must be a Message (got {type(msg).__name__})")
        return bool(self._ack(keys=[self.processing_key, self.leases_key, self.deliveries_key],
                              args=[msg.entry_id]))

    def ack_many(self, msgs: list[Message]) -> int:
        """Ack several messages in one script; returns how many were still in processing."""
        msgs = _validate.iterable("msgs", msgs, what="Messages")
        for m in msgs:
            if not isinstance(m, Message):
                raise TypeError(f"msgs must hold Messages (got {type(m).__name__})")
        if not msgs:
            return 0
        return int(self._ack(keys=[self.processing_key, self.leases_key, self.deliveries_key],
                             args=[m.entry_id for m in msgs]))

    def reap(self, now: float | None = None, limit: int = 1_000) -> tuple[list[Message], list[Message]]:
        """The reaper: requeue messages whose lease expired by ``now`` (default ``clock.now()``); send those
        delivered ``max_deliveries`` times to ``dead``. Returns ``(requeued, dead)``. One script, so two reapers
        never requeue a message twice. Scans at most ``limit`` messages of ``processing``, oldest first (RPOPLPUSH
        pushes new ones at the head, so the oldest sit at the tail).
        """
        now = self.clock.now() if now is None else _validate.number("now", now)
        limit = _validate.integer("limit", limit, minimum=1, maximum=MAX_BATCH)
        requeued, dead = self._reap(keys=[self.ready_key, self.processing_key, self.leases_key,
                                          self.deliveries_key, self.dead_key],
                                    args=[repr(now), repr(self.lease), self.max_deliveries, limit])
        return [self._decode(r) for r in requeued], [self._decode(r) for r in dead]

    def ready(self) -> int:
        return int(self.client.llen(self.ready_key))

    def in_flight(self) -> int:
        return int(self.client.llen(self.processing_key))

    def dead_letters(self, limit: int = 1000) -> list[Message]:
        """The newest ``limit`` dead messages (bounded: one LRANGE of at most ``limit``)."""
        limit = _validate.integer("limit", limit, minimum=1, maximum=MAX_BATCH)
        return [self._decode(r) for r in self.client.lrange(self.dead_key, 0, limit - 1)]

    def clear(self) -> None:
        self.client.delete(self.ready_key, self.processing_key, self.leases_key, self.deliveries_key,
                           self.dead_key)

    def __repr__(self) -> str:
        return f"<ListQueue {self.ready_key.rsplit(':', 1)[0]} lease={self.lease:g}s>"
