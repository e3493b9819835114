"""A reliable queue on a Redis Stream with one consumer group (chapter 07): at-least-once, leases, dead letters.

:class:`StreamQueue`: ``XADD``; ``XREADGROUP GROUP g c ... >`` puts each entry in the consumer's Pending Entries
List (PEL) until ``XACK``; ``XAUTOCLAIM`` hands entries idle longer than the lease to a live consumer (bumping
their delivery count); an entry delivered more than ``max_deliveries`` times is moved to a dead-letter stream
instead of being retried forever. Leases are measured by the **Redis server's** clock (PEL idle time), in
seconds. The shared contract (:class:`~hcedu.patterns.reliable.Message`, idempotent handling) is in
:mod:`hcedu.patterns.reliable`.

fakeredis gap (specs §11): ``XREADGROUP COUNT n BLOCK t`` returns at once on fakeredis, so
:meth:`StreamQueue.read` treats an early empty reply as "poll again after ``poll_interval``" until its deadline.
"""

from __future__ import annotations

from typing import Any, Callable

import redis

from .. import _validate
from ..backend import Keyspace
from ..clock import REAL, Clock, as_clock
from ._once import call_once, reply_slack
from ._redisargs import resolve_keyspace
from .reliable import MAX_BATCH, MAX_LEASE, Message, ProcessResult, _msg_id, _pairs, _s

__all__ = ["StreamQueue"]

# --------------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------------
class StreamQueue:
    """A Redis Stream with one consumer group: ``XADD`` / ``XREADGROUP`` / ``XACK`` / ``XAUTOCLAIM`` + dead letters.

    ``lease`` (seconds, server clock) is the idle time after which :meth:`reclaim` may take an un-acked entry
    from a (presumed dead) consumer; ``max_deliveries`` is how many deliveries an entry gets before it goes to
    the dead-letter stream ``<stream>:dead``. ``poll_interval`` is how often a blocking :meth:`read` re-polls
    where the server answers a blocking ``XREADGROUP COUNT`` at once (fakeredis). ``clock`` (default
    :data:`~hcedu.clock.REAL`) times :meth:`read`'s wait: its deadline (``clock.monotonic()``) and that re-poll
    (``clock.sleep``). The server blocks in real time, so it must be a real clock (a
    :class:`~hcedu.clock.RealClock`, or one derived from it).
    """

    def __init__(self, stream: str = "jobs", group: str = "workers", *, client: redis.Redis | None = None,
                 keyspace: Keyspace | None = None, lease: float = 30.0, max_deliveries: int = 5,
                 poll_interval: float = 0.01, maxlen: int | None = None, clock: Clock = REAL) -> None:
        _validate.text("stream", stream)
        self.group = _validate.text("group", group)
        self.lease = _validate.number("lease", lease, minimum=0, maximum=MAX_LEASE)
        self.max_deliveries = _validate.integer("max_deliveries", max_deliveries, minimum=1)
        self.poll_interval = _validate.number("poll_interval", poll_interval, minimum=0, strict=True)
        self.maxlen = None if maxlen is None else _validate.integer("maxlen", maxlen, minimum=1)
        self.clock = as_clock(clock)
        self.client, self.keyspace = resolve_keyspace(client, keyspace, "reliable")
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
        deadline = None if block is None else self.clock.monotonic() + block
        slack = reply_slack(block)
        while True:
            left = None if not block or deadline is None else max(slack, deadline - self.clock.monotonic())
            msgs = self._messages(self._xreadgroup(consumer, count, None, left))
            if msgs or block == 0:
                return msgs
            remaining = None if deadline is None else deadline - self.clock.monotonic()
            if remaining is not None and remaining <= 0:
                return []
            wait = 1.0 if remaining is None else min(remaining, 1.0)
            started = self.clock.monotonic()
            reply = self._xreadgroup(consumer, count, max(1, int(wait * 1000)), wait + slack)
            msgs = self._messages(reply)
            if msgs:
                return msgs
            if self.clock.monotonic() - started < wait / 2:  # answered at once: this server does not block here
                self.clock.sleep(min(self.poll_interval, max(0.0, wait)))

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
