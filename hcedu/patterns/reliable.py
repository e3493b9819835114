"""Reliable Redis queues (Redis Streams consumer groups; the LIST ``BLMOVE``/``RPOPLPUSH`` processing-queue
pattern): at-least-once delivery, leases, dead letters, and idempotent handlers for effectively-once.

Two designs, one contract: a message a consumer has taken stays recorded as *in flight* until the consumer
acks it; a consumer that dies before acking loses nothing, because after a lease its messages are handed to
someone else. So every message is processed **at least once**, and a handler that dedupes by message id
(:class:`IdempotentHandler`) turns that into effectively-once.

* :class:`StreamQueue` -- ``XADD``; ``XREADGROUP GROUP g c ... >`` puts each entry in the consumer's Pending
  Entries List (PEL) until ``XACK``; ``XAUTOCLAIM`` hands entries idle longer than the lease to a live
  consumer (bumping their delivery count); an entry delivered more than ``max_deliveries`` times is moved to
  a dead-letter stream instead of being retried forever. Leases are measured by the **Redis server's** clock
  (PEL idle time), in seconds.
* :class:`ListQueue` -- ``LPUSH`` to ``ready``; a consumer moves a message to ``processing`` atomically
  (Lua ``RPOPLPUSH`` + lease, or ``BRPOPLPUSH`` when blocking) and acks with ``LREM``; a reaper puts
  messages whose lease (on the injected clock) expired back on ``ready``, or on ``dead`` after
  ``max_deliveries``. :meth:`ListQueue.take_unsafe` is plain ``RPOP`` (the source's pattern): a crash between
  pop and done loses the message.

fakeredis gaps (specs §11) are designed around, so the same code runs on fakeredis and real Redis:
``XREADGROUP COUNT n BLOCK t`` returns at once on fakeredis, so :meth:`StreamQueue.read` treats an early empty
reply as "poll again after ``poll_interval``" until its deadline; ``BLMOVE`` does not block there, so the list
queue blocks with ``BRPOPLPUSH`` (deprecated in 6.2 but equivalent to ``BLMOVE src dst RIGHT LEFT``).
Blocking waits are real-time I/O timeouts (monotonic), never unbounded unless ``None`` is passed explicitly.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import redis

from .. import _validate
from ..backend import Keyspace, connect
from ..clock import Clock, as_clock
from ._once import call_once, eval_once, reply_slack, socket_timeout

#: the longest lease or idle time, seconds (10 years: Redis takes milliseconds as int64; more is a mistake)
MAX_LEASE = 10 * 365 * 86_400.0

__all__ = ["Message", "StreamQueue", "ListQueue", "IdempotentHandler", "InProgress", "ProcessResult"]


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _ks(keyspace: Keyspace | None, client: redis.Redis | None, default: str) -> tuple[redis.Redis, Keyspace]:
    if keyspace is not None and not isinstance(keyspace, Keyspace):
        raise TypeError(f"keyspace must be a hcedu.backend.Keyspace (got {type(keyspace).__name__})")
    c = client if client is not None else (keyspace.client if keyspace is not None else connect())
    return c, keyspace if keyspace is not None else Keyspace(default, c)


def _msg_id(value: Any) -> str:
    if value is None:
        return uuid.uuid4().hex
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"msg_id must be a str or int (got {type(value).__name__}: {value!r})")
    text = str(value)
    if not text:
        raise ValueError("msg_id must be a non-empty string")
    return text


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
# Streams
# --------------------------------------------------------------------------------------------------
class StreamQueue:
    """A Redis Stream with one consumer group: ``XADD`` / ``XREADGROUP`` / ``XACK`` / ``XAUTOCLAIM`` + dead letters.

    ``lease`` (seconds, server clock) is the idle time after which :meth:`reclaim` may take an un-acked entry
    from a (presumed dead) consumer; ``max_deliveries`` is how many deliveries an entry gets before it goes to
    the dead-letter stream ``<stream>:dead``. ``poll_interval`` is how often a blocking :meth:`read` re-polls
    where the server answers a blocking ``XREADGROUP COUNT`` at once (fakeredis).
    """

    def __init__(self, stream: str = "jobs", group: str = "workers", *, client: redis.Redis | None = None,
                 keyspace: Keyspace | None = None, lease: float = 30.0, max_deliveries: int = 5,
                 poll_interval: float = 0.01, maxlen: int | None = None) -> None:
        _validate.text("stream", stream)
        self.group = _validate.text("group", group)
        self.lease = _validate.number("lease", lease, minimum=0, maximum=MAX_LEASE)
        self.max_deliveries = _validate.integer("max_deliveries", max_deliveries, minimum=1)
        self.poll_interval = _validate.number("poll_interval", poll_interval, minimum=0, strict=True)
        self.maxlen = None if maxlen is None else _validate.integer("maxlen", maxlen, minimum=1)
        self.client, self.keyspace = _ks(keyspace, client, "reliable")
        # one hash tag: the dead-letter MULTI (XADD dead + XACK stream) stays in one cluster slot
        self.stream = self.keyspace.tagged("stream", stream)
        self.dead_stream = self.stream + ":dead"
        self.ensure_group()

    def ensure_group(self) -> None:
        """``XGROUP CREATE stream group 0 MKSTREAM`` unless the group exists (BUSYGROUP is ignored)."""
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # -- producer ---------------------------------------------------------------------------------
    def publish(self, body: str, msg_id: str | int | None = None) -> str:
        """``XADD stream * id <msg_id> body <body>``; returns the entry id. ``msg_id`` defaults to a uuid."""
        _validate.text("body", body, empty=True)
        return _s(self.client.xadd(self.stream, {"id": _msg_id(msg_id), "body": body},
                                   maxlen=self.maxlen, approximate=True))

    def publish_many(self, items: list[tuple[str | int, str]], *, batch: int = 500) -> list[str]:
        """Publish ``[(msg_id, body), ...]`` with pipelined XADDs (``batch`` per round trip)."""
        batch = _validate.integer("batch", batch, minimum=1, maximum=100_000)
        ids: list[str] = []
        checked = _pairs(items)
        for i in range(0, len(checked), batch):
            pipe = self.client.pipeline(transaction=False)
            for m, b in checked[i:i + batch]:
                pipe.xadd(self.stream, {"id": m, "body": b}, maxlen=self.maxlen, approximate=True)
            ids.extend(_s(x) for x in pipe.execute())
        return ids

    # -- consumer ---------------------------------------------------------------------------------
    @staticmethod
    def _messages(reply: Any, deliveries: int = 1) -> list[Message]:
        out = []
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                if fields is None:  # entry deleted while pending
                    continue
                f = {_s(k): _s(v) for k, v in fields.items()}
                out.append(Message(f.get("id", _s(entry_id)), f.get("body", ""), _s(entry_id), deliveries))
        return out

    def read(self, consumer: str, count: int = 10, block: float | None = 0) -> list[Message]:
        """``XREADGROUP GROUP g consumer COUNT count [BLOCK ms] STREAMS s >``: up to ``count`` new entries,
        now in ``consumer``'s PEL until acked.

        ``block``: 0 = don't wait; t > 0 = wait up to t seconds for the first entry, then return ``[]``;
        ``None`` = wait until something arrives. Where the server answers a blocking read with COUNT at once
        (fakeredis), the wait becomes a poll every ``poll_interval`` until the deadline. Deadline: with
        ``block`` > 0 each reply (and a new connection's hand-shake) is waited for at most until the deadline
        plus :func:`~hcedu.patterns._once.reply_slack`, so a hung server raises ``redis.TimeoutError`` then.
        """
        _validate.text("consumer", consumer)
        count = _validate.integer("count", count, minimum=1, maximum=MAX_BATCH)
        block = _validate.optional_timeout("block", block)
        deadline = None if block is None else time.monotonic() + block
        slack = reply_slack(block)
        while True:
            left = None if not block or deadline is None else max(slack, deadline - time.monotonic())
            msgs = self._messages(self._xreadgroup(consumer, count, None, left))
            if msgs or block == 0:
                return msgs
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return []
            wait = 1.0 if remaining is None else min(remaining, 1.0)
            started = time.monotonic()
            reply = self._xreadgroup(consumer, count, max(1, int(wait * 1000)), wait + slack)
            msgs = self._messages(reply)
            if msgs:
                return msgs
            if time.monotonic() - started < wait / 2:  # answered at once: this server does not block here
                time.sleep(min(self.poll_interval, max(0.0, wait)))

    def _xreadgroup(self, consumer: str, count: int, block_ms: int | None, timeout: float | None) -> Any:
        """One ``XREADGROUP ... >``, sent once; with ``timeout`` a hung server (or a new connection to it) costs
        at most that long (``redis.TimeoutError``): an entry it delivered stays in the PEL for :meth:`reclaim`."""
        args: list[Any] = ["XREADGROUP", "GROUP", self.group, consumer, "COUNT", count]
        if block_ms is not None:
            args += ["BLOCK", block_ms]
        return call_once(self.client, *args, "STREAMS", self.stream, ">", timeout=timeout)

    def reclaim(self, consumer: str, count: int = 100, min_idle: float | None = None) -> list[Message]:
        """``XAUTOCLAIM stream group consumer min-idle 0-0 COUNT count``: take over up to ``count`` entries idle
        longer than ``min_idle`` (default: the lease) from any consumer. Entries already delivered more than
        ``max_deliveries`` times are moved to the dead-letter stream (XADD dead + XACK in one MULTI) instead of
        being returned. Safe to run from several consumers: XAUTOCLAIM resets the idle time, so one wins.
        """
        _validate.text("consumer", consumer)
        count = _validate.integer("count", count, minimum=1, maximum=MAX_BATCH)
        idle = self.lease if min_idle is None else _validate.number("min_idle", min_idle, minimum=0, maximum=MAX_LEASE)
        claimed: list[Message] = []
        cursor = "0-0"
        while len(claimed) < count:
            reply = self.client.xautoclaim(self.stream, self.group, consumer, int(idle * 1000),
                                           start_id=cursor, count=count - len(claimed))
            cursor = _s(reply[0])
            got = self._messages([(self.stream, reply[1])])
            if got:
                pipe = self.client.pipeline(transaction=False)
                for m in got:
                    pipe.xpending_range(self.stream, self.group, m.entry_id, m.entry_id, 1)
                counts = [p[0]["times_delivered"] if p else 1 for p in pipe.execute()]
                for m, n in zip(got, counts):
                    msg = Message(m.msg_id, m.body, m.entry_id, int(n))
                    if msg.deliveries > self.max_deliveries:
                        self._dead_letter(msg)
                    else:
                        claimed.append(msg)
            if cursor == "0-0":
                break
        return claimed

    def _dead_letter(self, msg: Message) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(self.dead_stream, {"id": msg.msg_id, "body": msg.body, "entry": msg.entry_id,
                                     "deliveries": str(msg.deliveries - 1)})
        pipe.xack(self.stream, self.group, msg.entry_id)
        pipe.execute()

    def ack(self, *entry_ids: str) -> int:
        """``XACK``: remove entries from the PEL (done). Returns how many were pending. Acking an entry that
        was reclaimed by another consumer still acks it: the work was done."""
        ids = [_validate.text("entry_id", e) for e in entry_ids]
        return int(self.client.xack(self.stream, self.group, *ids)) if ids else 0

    def process(self, consumer: str, handler: Callable[[Message], Any], *, count: int = 10,
                block: float | None = 0, reclaim: bool = True) -> ProcessResult:
        """One consumer step: reclaim expired entries (if ``reclaim``), else read new ones; call ``handler`` on
        each; ack those that returned. A handler that raises leaves its entry pending (retried after the lease,
        dead-lettered after ``max_deliveries``); the exception is kept in ``result.errors``.
        """
        _validate.text("consumer", consumer)
        _validate.function("handler", handler)
        count = _validate.integer("count", count, minimum=1, maximum=MAX_BATCH)
        block = _validate.optional_timeout("block", block)  # checked before reclaim sends anything
        res = ProcessResult()
        msgs = self.reclaim(consumer, count) if reclaim else []
        res.reclaimed = len(msgs)
        if not msgs:
            msgs = self.read(consumer, count, block)
        done: list[str] = []
        for m in msgs:
            try:
                handler(m)
            except Exception as exc:  # noqa: BLE001 - the handler's failure is data here
                res.failed += 1
                res.errors.append(exc)
            else:
                done.append(m.entry_id)
                res.handled += 1
        self.ack(*done)
        return res

    # -- inspection -------------------------------------------------------------------------------
    def pending(self) -> int:
        """Entries delivered and not yet acked (the PEL size)."""
        return int(self.client.xpending(self.stream, self.group)["pending"])

    def backlog(self) -> int:
        """Entries in the stream (acked entries stay until trimmed)."""
        return int(self.client.xlen(self.stream))

    def dead_letters(self, limit: int = 1000) -> list[Message]:
        """The dead-letter stream's oldest ``limit`` messages (``deliveries`` = how many times each was tried).
        Bounded: a dead-letter stream that grew to millions is not read in one call."""
        limit = _validate.integer("limit", limit, minimum=1, maximum=MAX_BATCH)
        return [Message(_s(f["id"]), _s(f["body"]), _s(f["entry"]), int(f["deliveries"]))
                for _eid, f in self.client.xrange(self.dead_stream, count=limit)]

    def clear(self) -> None:
        """Delete the stream (and its group) and the dead-letter stream."""
        self.client.delete(self.stream, self.dead_stream)

    def __repr__(self) -> str:
        return f"<StreamQueue {self.stream} group={self.group} lease={self.lease:g}s>"


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


#: the most messages one take_many/reap script handles (Redis runs a script with nothing else in between)
MAX_BATCH = 10_000

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
        self.client, self.keyspace = _ks(keyspace, client, "reliable")
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

        Deadline: the wait blocks in chunks shorter than the client's ``socket_timeout`` and waits for each
        reply at most until ``timeout`` (plus 10 %, 0.25..1 s: :func:`~hcedu.patterns._once.reply_slack`), so a hung server raises
        ``redis.TimeoutError`` at the deadline, never after socket timeout x retries. Every command is sent
        once; a move whose reply was lost leaves the message in ``processing``, where the reaper finds it
        (at-least-once, nothing lost).
        """
        timeout = _validate.optional_timeout("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        slack = reply_slack(timeout)
        got = self._take_many(1, deadline, slack)
        if got:
            return got[0]
        if timeout == 0:
            return None
        sock = socket_timeout(self.client)
        chunk_cap = max(0.05, min(5.0, (sock or 10.0) / 2))
        while True:
            left = None if deadline is None else deadline - time.monotonic()
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
        left = None if deadline is None else max(slack, deadline - time.monotonic())
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
        self.client, self.keyspace = _ks(keyspace, client, "reliable")
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
