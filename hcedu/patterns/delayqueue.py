"""Redis ZSET delay queue (asynq ``forwardCmd`` + lease ZSET, Redisson ``RDelayedQueue``): run a job at a time.

The order-timeout pattern: ``put(order_id, created + 30 min)`` when the order is made, ``cancel(order_id)``
when it is paid, and workers ``claim(now)`` due orders to close them.

Keys (under a :class:`hcedu.backend.Keyspace`, behind the hash tag ``{dq:<name>}``: one Redis Cluster slot):
  * ``...:due``       ZSET  item -> due time (the waiting set);
  * ``...:leased``    ZSET  item -> lease deadline (claimed, being processed, not yet acked);
  * ``...:attempts``  HASH  item -> how many times it was claimed.

Invariants:
  * an item is in at most one of ``due`` and ``leased``;
  * :meth:`DelayQueue.claim` is one Lua script (ZRANGE ... BYSCORE LIMIT + ZREM + ZADD leased), so each
    due item is handed to exactly one claimer, however many workers race;
  * an item leaves ``leased`` only by :meth:`~DelayQueue.ack`, :meth:`~DelayQueue.cancel` or
    :meth:`~DelayQueue.recover` (lease expired -> due again): a worker that dies after claiming loses
    nothing, so delivery is **at-least-once** and the handler must be idempotent
    (``UPDATE orders SET status='CLOSED' WHERE id=? AND status='UNPAID'``);
  * **leases are fenced**: each claim bumps the item's attempt number and returns it with the id (a
    :class:`Lease`, a ``str``); ``ack``/``extend`` given that Lease succeed only while the item is leased
    under that attempt. A worker whose lease expired, was recovered and re-claimed by another worker gets
    False and changes nothing (a plain ``str`` id is unfenced, as before);
  * claims are sent once (a blind retry after a lost reply would lease more items and return only the
    second batch): a lost reply raises ``redis.ConnectionError`` and the items it leased come back through
    :meth:`~DelayQueue.recover` after the lease (at-least-once, nothing lost);
  * every time is a float of seconds on the injected clock (``VirtualClock`` in simulations). The claimer's
    clock is the authority: workers whose clocks disagree claim early or late by the skew.

:meth:`DelayQueue.claim_naive` is the broken two-step claim (read, then remove) kept as a teaching foil:
two workers that read before either removes both get the same item, and the order is closed twice.
Never rely on keyspace ``expired`` events as timers instead: they fire only when Redis gets round to
deleting the key, are pub/sub (lost while no subscriber is connected), and fakeredis never sends them.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import redis

from .. import _validate
from ..backend import Keyspace, connect
from ..clock import Clock, as_clock
from ._redisargs import resolve_keyspace
from ._once import eval_once

__all__ = ["DelayQueue", "Lease", "CLAIM_LUA", "CLAIM_FENCED_LUA", "RECOVER_LUA", "ACK_LUA", "MAX_LIMIT"]

#: the largest batch one ``claim``/``recover`` call may take (keeps each script short: Redis is single-threaded)
MAX_LIMIT = 10_000

#: KEYS: due, leased, attempts. ARGV: now, limit, lease deadline. (The chapter's claim; the queue itself runs
#: :data:`CLAIM_FENCED_LUA`, the same steps returning each lease's fence too.)
CLAIM_LUA = """
local items = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(items) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[3], id)
  redis.call('HINCRBY', KEYS[3], id, 1)
end
return items
"""

#: :data:`CLAIM_LUA` returning ``{id, attempt, id, attempt, ...}``: the attempt number (HINCRBY) is the fence.
CLAIM_FENCED_LUA = """
local items = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(items) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[3], id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HINCRBY', KEYS[3], id, 1)
end
return out
"""

#: KEYS: leased, attempts. ARGV: item, fence ('' = unfenced). Acks only if the item is leased *and* (when
#: fenced) its attempt number is still ours: a worker whose lease was recovered and re-claimed gets 0.
ACK_LUA = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""

#: KEYS: due, leased. ARGV: now, limit. Items whose lease deadline <= now go back to ``due`` at ``now``.
RECOVER_LUA = """
local items = redis.call('ZRANGE', KEYS[2], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(items) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], ARGV[1], id)
end
return items
"""

#: KEYS: due, leased. ARGV: item, due. ZADD unless the item is leased (in one step, so put never races claim).
PUT_LUA = """
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
return redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
"""

#: KEYS: due, leased, attempts. ARGV: item. Returns 1 if the item was waiting or leased.
CANCEL_LUA = """
local n = redis.call('ZREM', KEYS[1], ARGV[1]) + redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return n
"""

#: KEYS: leased, attempts. ARGV: item, new deadline, fence ('' = unfenced). Extends a lease only if the item
#: is still leased (and, when fenced, still under our attempt number).
EXTEND_LUA = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if ARGV[3] ~= '' and redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[3] then return 0 end
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  return 1
end
return 0
"""


class Lease(str):
    """A claimed item id (a ``str``, so existing code keeps working) that remembers its lease's fence:
    ``attempt``, the claim number Redis gave this lease. :meth:`DelayQueue.ack`/:meth:`~DelayQueue.extend`
    given a Lease act only while the item is still leased under that number."""

    attempt: int

    def __new__(cls, item: str, attempt: int) -> "Lease":
        obj = super().__new__(cls, item)
        obj.attempt = int(attempt)
        return obj


def _item(name: str, value: Any) -> str:
    return _validate.key_part(name, value)


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class DelayQueue:
    """A Redis ZSET delay queue with an atomic Lua claim, leases, recovery and cancel.

    ``client`` is a redis-py client (default :func:`hcedu.backend.connect`); ``keyspace`` a
    :class:`Keyspace` (default ``Keyspace("delayqueue")``); ``name`` picks the queue inside it;
    ``lease`` is how long (clock seconds) a claimed item may stay un-acked before :meth:`recover`
    makes it due again; ``clock`` supplies ``now`` when a method is called without one.

    Errors: bad arguments raise ``TypeError``/``ValueError`` before touching Redis; Redis errors
    (``redis.RedisError``) propagate unchanged, and because every mutation is one command or one
    script, a failed call leaves the queue as it was.
    """

    def __init__(self, name: str = "orders", *, client: redis.Redis | None = None,
                 keyspace: Keyspace | None = None, lease: float = 30.0, clock: Clock | None = None) -> None:
        _validate.text("name", name)
        self.lease = _validate.number("lease", lease, minimum=0, strict=True)
        self.clock = as_clock(clock)
        self.client, self.keyspace = resolve_keyspace(client, keyspace, "delayqueue")
        self.name = name
        base = self.keyspace.tagged("dq", name)  # one hash tag: the scripts' keys share a cluster slot
        self.due_key, self.leased_key, self.attempts_key = base + ":due", base + ":leased", base + ":attempts"
        self._put = self.client.register_script(PUT_LUA)
        self._claim = self.client.register_script(CLAIM_FENCED_LUA)
        self._recover = self.client.register_script(RECOVER_LUA)
        self._cancel = self.client.register_script(CANCEL_LUA)
        self._extend = self.client.register_script(EXTEND_LUA)
        self._ack = self.client.register_script(ACK_LUA)

    # -- helpers ---------------------------------------------------------------------------------
    def _now(self, now: float | None) -> float:
        return self.clock.now() if now is None else _validate.number("now", now)

    @staticmethod
    def _limit(limit: Any) -> int:
        return _validate.integer("limit", limit, minimum=1, maximum=MAX_LIMIT)

    # -- producer side ---------------------------------------------------------------------------
    def put(self, item_id: str | int, due_at: float) -> bool:
        """ZADD ``item_id`` with score ``due_at``. Returns True if it was new, False if it was already
        waiting (its due time is then moved to ``due_at``). An item that is currently leased is not
        touched by ``put`` (returns False): it is being processed.
        """
        item = _item("item_id", item_id)
        due = _validate.number("due_at", due_at)
        return bool(self._put(keys=[self.due_key, self.leased_key], args=[item, repr(due)]))

    def put_many(self, items: dict[str | int, float]) -> int:
        """ZADD many ``{item_id: due_at}`` (5,000 per command) for bulk loads; returns how many were new.
        Unlike :meth:`put` it does not skip leased items: use it to load a fresh queue."""
        if not isinstance(items, dict):
            raise TypeError(f"items must be a dict of item_id -> due_at (got {type(items).__name__})")
        mapping = {_item("item_id", k): _validate.number("due_at", v) for k, v in items.items()}
        if not mapping:
            return 0
        added = 0
        pairs = list(mapping.items())
        for i in range(0, len(pairs), 5000):
            added += self.client.zadd(self.due_key, dict(pairs[i:i + 5000]))
        return int(added)

    def put_after(self, item_id: str | int, delay: float) -> bool:
        """``put(item_id, clock.now() + delay)``; ``delay`` must be >= 0."""
        delay = _validate.number("delay", delay, minimum=0)
        return self.put(item_id, self.clock.now() + delay)

    def cancel(self, item_id: str | int) -> bool:
        """Remove ``item_id`` wherever it is (order paid before its timeout). True if it was waiting or
        leased; False if it was unknown or already acked. Cancelling a leased item does not stop a worker
        already processing it: the close must still check the order's status.
        """
        return bool(self._cancel(keys=[self.due_key, self.leased_key, self.attempts_key],
                                 args=[_item("item_id", item_id)]))

    # -- consumer side ---------------------------------------------------------------------------
    def claim(self, now: float | None = None, limit: int = 1) -> list[str]:
        """Atomically take up to ``limit`` items due at ``now`` (default ``clock.now()``), earliest first.

        One Lua script does ZRANGE ``due -inf now BYSCORE LIMIT 0 limit``, ZREM from ``due``, ZADD to ``leased``
        with deadline ``now + lease`` and counts the attempt, so concurrent claimers never share an item.
        Returns ``[]`` when nothing is due; each item is a :class:`Lease` (a ``str`` carrying its attempt
        number, the fence that :meth:`ack`/:meth:`extend` check). The caller must :meth:`ack` each item when
        done; one it never acks comes back through :meth:`recover` after the lease. Sent once: a lost reply
        raises ``redis.ConnectionError`` (what it leased is recovered after the lease).
        """
        now = self._now(now)
        limit = self._limit(limit)
        flat = eval_once(self.client, self._claim, [self.due_key, self.leased_key, self.attempts_key],
                         [repr(now), limit, repr(now + self.lease)])
        return [Lease(_s(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]

    def claim_naive(self, now: float | None = None, limit: int = 1,
                    between: Callable[[list[str]], Any] | None = None) -> list[str]:
        """The broken two-step claim (rq-scheduler style): ZRANGE ... BYSCORE, then ZREM, as two commands.

        Teaching foil only. Every worker that reads before another removes gets the same items, and
        this version returns what it *read*, not what it removed, so the order is closed twice. No lease
        is taken, so a crash after the ZREM also loses the item. ``between(items)`` is called between the
        two steps so a demo can line workers up (e.g. a ``threading.Barrier``).
        """
        now = self._now(now)
        limit = self._limit(limit)
        if between is not None:
            _validate.function("between", between)
        items = [_s(i) for i in self.client.zrange(self.due_key, "-inf", now, byscore=True, offset=0, num=limit)]
        if between is not None:
            between(items)
        if items:
            self.client.zrem(self.due_key, *items)
        return items

    def ack(self, item_id: str | int) -> bool:
        """Done with a claimed item: ZREM it from ``leased`` (and forget its attempts). True if it was leased;
        False if its lease had already been recovered (someone else may be processing it: that is the
        at-least-once case) or it was cancelled. Given the :class:`Lease` that :meth:`claim` returned, the ack
        is fenced: False, changing nothing, unless the item is still leased under that attempt.
        """
        item = _item("item_id", item_id)
        fence = str(item_id.attempt) if isinstance(item_id, Lease) else ""
        return bool(self._ack(keys=[self.leased_key, self.attempts_key], args=[item, fence]))

    def ack_many(self, item_ids: Iterable[str | int]) -> int:
        """Ack several items in one round trip (fenced per :class:`Lease`, as :meth:`ack`); returns how many
        were acked."""
        ids = _validate.iterable("item_ids", item_ids, what="ids")
        items = [(_item("item_id", i), str(i.attempt) if isinstance(i, Lease) else "") for i in ids]
        if not items:
            return 0
        pipe = self.client.pipeline(transaction=True)
        for item, fence in items:
            self._ack(keys=[self.leased_key, self.attempts_key], args=[item, fence], client=pipe)
        return int(sum(int(x) for x in pipe.execute()))

    def extend(self, item_id: str | int, now: float | None = None) -> bool:
        """Heartbeat: push a leased item's deadline to ``now + lease``. False if it is no longer leased
        (recovered or cancelled; or, given a :class:`Lease`, re-claimed by someone else): the worker should
        stop and not ack.
        """
        item = _item("item_id", item_id)
        now = self._now(now)
        fence = str(item_id.attempt) if isinstance(item_id, Lease) else ""
        return bool(self._extend(keys=[self.leased_key, self.attempts_key], args=[item, repr(now + self.lease), fence]))

    def recover(self, now: float | None = None, limit: int = MAX_LIMIT) -> list[str]:
        """Atomically move up to ``limit`` items whose lease deadline is <= ``now`` back to ``due`` (due at
        ``now``, so the next claim takes them) and return their ids. Run it periodically (asynq's
        recoverer); it is safe to run from several processes at once.
        """
        now = self._now(now)
        limit = self._limit(limit)
        items = self._recover(keys=[self.due_key, self.leased_key], args=[repr(now), limit])
        return [_s(i) for i in items]

    # -- inspection ------------------------------------------------------------------------------
    def waiting(self) -> int:
        """How many items wait in ``due`` (due or not yet)."""
        return int(self.client.zcard(self.due_key))

    def ready(self, now: float | None = None) -> int:
        """How many waiting items are due at ``now``."""
        return int(self.client.zcount(self.due_key, "-inf", self._now(now)))

    def leased(self) -> int:
        """How many items are claimed and not yet acked."""
        return int(self.client.zcard(self.leased_key))

    def next_due(self) -> float | None:
        """The earliest due time waiting, or None (lets a worker sleep exactly until then)."""
        head = self.client.zrange(self.due_key, 0, 0, withscores=True)
        return float(head[0][1]) if head else None

    def due_at(self, item_id: str | int) -> float | None:
        """The due time of a waiting item, or None."""
        score = self.client.zscore(self.due_key, _item("item_id", item_id))
        return None if score is None else float(score)

    def attempts(self, item_id: str | int) -> int:
        """How many times the item has been claimed since it was put (0 if never or acked)."""
        v = self.client.hget(self.attempts_key, _item("item_id", item_id))
        return int(v) if v is not None else 0

    def clear(self) -> None:
        """Delete this queue's keys."""
        self.client.delete(self.due_key, self.leased_key, self.attempts_key)

    def __len__(self) -> int:
        return self.waiting() + self.leased()

    def __repr__(self) -> str:
        return f"<DelayQueue {self.due_key.rsplit(':', 1)[0]} lease={self.lease:g}s>"
