"""Counters in Redis, shared by any number of processes (Redis ``INCR``/``INCRBY``).

Same interface as the in-process counters of :mod:`hcedu.patterns.counter` (``incr(n=1)``, ``value()``),
plus ``name``, ``keys`` (where they live, under a :class:`hcedu.backend.Keyspace`) and ``reset()``.

Redis (any number of processes):
  * :class:`RedisCounter` -- ``INCRBY`` on one key: atomic in Redis, one round trip per increment.
  * :class:`ShardedRedisCounter` -- ``shards`` keys ``cnt:{name}:i``; an increment goes to one shard (thread-
    or randomly chosen), a read ``MGET``s them all and sums.
  * :class:`BatchedRedisCounter` -- adds locally and flushes with one ``INCRBY`` every ``flush_every``
    increments or every ``flush_interval`` clock seconds; **a crash loses what was not yet flushed**.
  * :class:`NaiveRedisCounter` -- ``GET`` then ``SET``: loses updates between processes as well as threads.

Lost replies (the connection drops after Redis ran the command): the Redis counters send each write
**once** (never a blind client-level retry, which would count it twice), so a lost reply raises
``redis.ConnectionError`` and that increment happened once or not at all. Where a caller must retry until it
knows, :meth:`RedisCounter.incr` takes a ``request_id``: the increment and a marker ``...:req:<id>`` (kept
``dedup_ttl`` seconds) are written in one script, the call is retried with the same id, and a repeat returns
the first result instead of adding again. :class:`BatchedRedisCounter` gives every flush such an id.

Invariants:
  * every counter except the naive one is exact: after ``k`` concurrent ``incr(n)`` calls have
    returned (and, for the batched one, after ``flush()``/``close()``), ``value()`` is the sum of the ``n``;
  * a batched counter never double-counts: pending counts move to Redis in one idempotent script (the
    flush's id marks it done); if the reply is lost, the same batch is resent under the *same* id by the
    next flush, so it lands exactly once; its ``value()`` is what other readers see (Redis), which lags the true count by
    at most the pending amount.

Bad input (``n`` not an int, < 1; a bad ``shards``/flush setting) raises ``TypeError``/``ValueError``
before anything changes. Redis errors propagate unchanged.
"""

from __future__ import annotations

import itertools
import random
import threading
import uuid
from typing import Any, Callable

import redis
from redis.cluster import RedisCluster

from .. import _validate
from ..backend import Keyspace
from ..clock import Clock, Timer, as_clock
from ._once import call_once, eval_once, retry_idempotent, with_request_id
from ._redisargs import resolve_keyspace
from .counter import _n, _pause

__all__ = ["RedisCounter", "ShardedRedisCounter", "BatchedRedisCounter", "NaiveRedisCounter", "REDIS"]

#: KEYS: counter, request marker. ARGV: n, marker ttl (ms). INCRBY once per request id.
INCR_ONCE_LUA = with_request_id("return redis.call('INCRBY', KEYS[1], ARGV[1])")

#: the longest TTL/interval accepted, seconds (Redis PX is a signed 64-bit count of ms; a timer this long
#: would overflow ``threading.Timer``): 10 years
MAX_TTL = MAX_TIMER = 10 * 365 * 86_400.0

#: KEYS: counter, flushed HASH (instance -> last applied flush number). ARGV: n, instance, flush number,
#: ttl (ms). INCRBY unless this instance's flush number was already applied (a resend after a lost reply).
FLUSH_LUA = """
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if last >= tonumber(ARGV[3]) then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""

#: how long (s) a request id is remembered by default: retries of one request come within seconds
DEDUP_TTL = 3600.0

# -- Redis ----------------------------------------------------------------------------------------------

class _RedisBase:
    """Shared set-up: client, keyspace, name."""

    _ks_default = "counter"

    def __init__(self, name: str, client: redis.Redis | None, keyspace: Keyspace | None) -> None:
        self.name = _validate.text("name", name)
        if any(ch in name for ch in "{}*?[]"):
            raise ValueError(f"name must not contain {{}}*?[] (got {name!r})")
        self.client, self.keyspace = resolve_keyspace(client, keyspace, self._ks_default)

    @property
    def keys(self) -> list[str]:
        raise NotImplementedError

    def reset(self) -> None:
        """Delete the counter's keys."""
        self.client.delete(*self.keys)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, value={self.value()})"  # type: ignore[attr-defined]


def _int(v: Any) -> int:
    return 0 if v is None else int(v)


class RedisCounter(_RedisBase):
    """One key, ``INCRBY``: atomic inside Redis (one command runs at a time), one round trip per increment.

    ``dedup_ttl`` (seconds) is how long a ``request_id`` given to :meth:`incr` is remembered.
    """

    def __init__(self, name: str = "pv", *, client: redis.Redis | None = None,
                 keyspace: Keyspace | None = None, dedup_ttl: float = DEDUP_TTL) -> None:
        super().__init__(name, client, keyspace)
        self.key = self.keyspace.tagged("cnt", name)  # request markers extend it: one cluster slot
        self.dedup_ttl = _validate.number("dedup_ttl", dedup_ttl, minimum=0.001, maximum=MAX_TTL)
        self._once = self.client.register_script(INCR_ONCE_LUA)

    @property
    def keys(self) -> list[str]:
        return [self.key]

    def incr(self, n: int = 1, *, request_id: str | int | None = None) -> int:
        """``INCRBY key n``; return the new value.

        Sent once: a lost reply raises ``redis.ConnectionError`` (the increment happened once or not at
        all). With ``request_id`` the increment is idempotent (one script writes it and a marker) and is
        retried on a connection error: a repeat of the same id returns the first result, adding nothing.
        """
        n = _n(n)
        if request_id is None:
            return int(call_once(self.client, "INCRBY", self.key, n))
        rid = _validate.key_part("request_id", request_id)
        keys = [self.key, f"{self.key}:req:{rid}"]
        args = [n, int(self.dedup_ttl * 1000)]
        return int(retry_idempotent(lambda: eval_once(self.client, self._once, keys, args)))

    def value(self) -> int:
        return _int(self.client.get(self.key))


class ShardedRedisCounter(_RedisBase):
    """A hot counter split over ``shards`` keys ``cnt:{name}:0`` ... ``cnt:{name}:N-1``; read = ``MGET`` + sum.

    ``pick="random"`` (default) picks a shard per increment from a ``seed``-ed RNG (``None``: seeded by the OS,
    so separate processes spread differently); ``"thread"`` gives each thread its own shard, round robin from
    a random offset (so instances in different processes do not all start on shard 0). ``hash_tag=True`` (default) wraps the name in ``{}`` so every
    shard hashes to the same Redis Cluster slot and one ``MGET`` can read them all -- which also means they
    all live on the same node: that spreads contention over keys, not load over nodes. ``hash_tag=False``
    lets Cluster spread the shards over nodes; a read must then group keys by slot (``MGET`` across slots
    fails with ``CROSSSLOT`` in Cluster; on a single server it works either way).
    """

    def __init__(self, name: str = "pv", shards: int = 8, *, pick: str = "random", seed: int | None = None,
                 hash_tag: bool = True, client: redis.Redis | None = None,
                 keyspace: Keyspace | None = None) -> None:
        super().__init__(name, client, keyspace)
        self.shards = _validate.integer("shards", shards, minimum=1, maximum=1024)
        self.pick = _validate.choice("pick", pick, ("thread", "random"))
        if not isinstance(hash_tag, bool):
            raise TypeError(f"hash_tag must be a bool (got {type(hash_tag).__name__}: {hash_tag!r})")
        self.hash_tag = hash_tag
        tag = f"{{{name}}}" if hash_tag else name
        self.shard_keys = [self.keyspace.key("cnt", tag, i) for i in range(self.shards)]
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._next = itertools.count(self._rng.randrange(self.shards))
        self._home = threading.local()

    @property
    def keys(self) -> list[str]:
        return list(self.shard_keys)

    def _shard(self) -> int:
        if self.pick == "random":
            with self._rng_lock:
                return self._rng.randrange(self.shards)
        try:
            return self._home.shard
        except AttributeError:
            s = self._home.shard = next(self._next) % self.shards
            return s

    def incr(self, n: int = 1) -> int:
        """``INCRBY`` one shard; return that shard's new value (not the total)."""
        n = _n(n)
        return int(call_once(self.client, "INCRBY", self.shard_keys[self._shard()], n))

    def shard_values(self) -> list[int]:
        if not self.hash_tag and isinstance(self.client, RedisCluster):  # shards on several slots (nodes)
            return [_int(v) for v in self.client.mget_nonatomic(self.shard_keys)]
        return [_int(v) for v in self.client.mget(self.shard_keys)]

    def value(self) -> int:
        """``MGET`` every shard and sum (one round trip; on a cluster without the hash tag, one per node)."""
        return sum(self.shard_values())


class BatchedRedisCounter(_RedisBase):
    """Count locally, ``INCRBY`` the batch to Redis every ``flush_every`` increments or ``flush_interval`` s.

    Round trips drop from one per increment to one per batch. The price: readers of the Redis key see the
    count late (by up to the pending amount / interval), and **a crash loses everything not yet flushed**
    (:meth:`crash` shows it). Each flush is one idempotent script carrying this instance's id and a flush
    number (Redis keeps the last number applied per instance in ``<key>:flushed``); a flush whose reply was
    lost is resent under the same number by the next flush, so a batch never lands twice. Use it for counts you can afford to lose a little of (page views), never for
    money or stock.

    ``flush_interval`` runs on ``clock`` (default real time; a ``VirtualClock`` makes it deterministic): a
    timer flushes whatever is pending and re-arms until :meth:`close`. ``flush_interval=None`` flushes on
    count only. The count-triggered flush runs in the incrementing thread. A failed ``INCRBY`` puts the
    batch back (nothing lost, nothing doubled) and re-raises.

    Counters: ``increments`` (incr calls), ``round_trips`` (INCRBYs sent), ``flushed`` (total sent).
    """

    def __init__(self, name: str = "pv", *, flush_every: int = 100, flush_interval: float | None = 1.0,
                 clock: Clock | None = None, client: redis.Redis | None = None,
                 keyspace: Keyspace | None = None) -> None:
        super().__init__(name, client, keyspace)
        self.key = self.keyspace.tagged("cnt", name)  # the flush marker extends it: one cluster slot
        self.flush_every = _validate.integer("flush_every", flush_every, minimum=1)
        self.flush_interval = (None if flush_interval is None
                               else _validate.number("flush_interval", flush_interval, minimum=0, strict=True,
                                                     maximum=MAX_TIMER))
        self.clock = as_clock(clock)
        self._lock = threading.Lock()
        self._pending = 0
        self._pending_incrs = 0
        self._closed = False
        self._timer: Timer | None = None
        self._unsent: tuple[int, int] | None = None  # (flush number, amount) whose reply was lost
        self._flush_lock = threading.RLock()   # one flush on the wire; a timer tick holds it from its closed check
        self._instance = uuid.uuid4().hex
        self._flush_no = 0
        self.flushed_key = self.key + ":flushed"
        self._script = self.client.register_script(FLUSH_LUA)
        self.increments = 0
        self.round_trips = 0
        self.flushed = 0
        self._arm()

    @property
    def keys(self) -> list[str]:
        return [self.key]

    @property
    def pending(self) -> int:
        """Counted locally, not yet known to be in Redis (what a crash now may lose): the pending count plus
        a batch whose flush failed (:attr:`unsent`)."""
        return self._pending + self.unsent

    @property
    def closed(self) -> bool:
        return self._closed

    def _arm(self) -> None:
        if self.flush_interval is not None and not self._closed:
            self._timer = self.clock.after(self.flush_interval, self._tick)

    def _tick(self) -> None:
        # the closed check and the flush under _flush_lock: close() takes it after setting _closed, so either
        # it waits for this flush to be answered, or this tick sees _closed and sends nothing
        with self._flush_lock:
            with self._lock:
                if self._closed:
                    return
            try:
                self.flush()
            finally:
                self._arm()

    def incr(self, n: int = 1) -> None:
        """Add ``n`` locally; flush if ``flush_every`` increments are pending. Raises ``RuntimeError`` once
        closed or crashed."""
        n = _n(n)
        with self._lock:
            if self._closed:
                raise RuntimeError("incr on a closed BatchedRedisCounter")
            self._pending += n
            self._pending_incrs += 1
            self.increments += 1
            due = self._pending_incrs >= self.flush_every
        if due:
            self.flush()

    def flush(self) -> int:
        """Send the pending count with one idempotent ``INCRBY`` script (none if nothing is pending); return
        the amount sent. A batch whose reply was lost is resent first, under its original flush id."""
        with self._lock:
            batch, self._pending, self._pending_incrs = self._pending, 0, 0
        if not batch and self._unsent is None:
            return 0
        with self._flush_lock:  # one flush on the wire at a time, so a lost one is resent before the next
            sent = 0
            if self._unsent is not None:
                fid, lost = self._unsent
                try:
                    self._send(fid, lost)
                except BaseException:
                    with self._lock:  # the new batch was not sent: put it back
                        self._pending += batch
                    raise
                self._unsent = None
                sent += lost
            if batch:
                self._flush_no += 1
                fid = self._flush_no
                try:
                    self._send(fid, batch)
                except redis.RedisError:
                    self._unsent = (fid, batch)  # the next flush resends it under the same number
                    raise
                except BaseException:
                    with self._lock:
                        self._pending += batch
                    raise
                sent += batch
            return sent

    def _send(self, fid: int, batch: int) -> None:
        eval_once(self.client, self._script, [self.key, self.flushed_key],
                  [batch, self._instance, fid, int(DEDUP_TTL * 1000)])
        with self._lock:
            self.round_trips += 1
            self.flushed += batch

    def reset(self) -> None:
        """Delete the counter's key and its flush log."""
        self.client.delete(self.key, self.flushed_key)

    @property
    def unsent(self) -> int:
        """A flushed batch whose reply was lost (it may or may not be in Redis; the next flush settles it)."""
        return self._unsent[1] if self._unsent is not None else 0

    def value(self) -> int:
        """The count in Redis: what every other reader sees (excludes this instance's pending count)."""
        return _int(self.client.get(self.key))

    def local_value(self) -> int:
        """Redis plus this instance's pending count (what this process believes; a batch whose flush reply
        was lost is not added: it may already be in Redis)."""
        return self.value() + self._pending

    def close(self) -> int:
        """Flush, stop the timer and refuse further increments (idempotent); return the amount flushed. Returns
        only once a flush the timer had started is answered, so the client can be closed right after."""
        with self._lock:
            self._closed = True  # first, so no increment can slip in after the final flush
        if self._timer is not None:
            self._timer.cancel()
        with self._flush_lock:   # a timer tick's flush may be on the wire: wait for its reply
            return self.flush()

    def crash(self) -> int:
        """Simulate the process dying: drop the pending count without flushing; return how much was lost."""
        with self._lock:
            lost, self._pending, self._pending_incrs = self._pending + self.unsent, 0, 0
            self._unsent = None
            self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        return lost

    def __enter__(self) -> "BatchedRedisCounter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NaiveRedisCounter(_RedisBase):
    """``GET`` then ``SET value+n``: two commands, so concurrent clients overwrite each other. Loses updates.

    ``pause`` runs between the two (default: nothing -- the round trip itself is the gap); pass a barrier to
    force the bad interleaving (GET, GET, SET, SET: two increments, one counted).
    """

    def __init__(self, name: str = "pv", *, pause: Callable[[], Any] | None = None,
                 client: redis.Redis | None = None, keyspace: Keyspace | None = None) -> None:
        super().__init__(name, client, keyspace)
        self.key = self.keyspace.tagged("cnt", name)  # the same key as RedisCounter(name)
        self._pause = _pause(pause)

    @property
    def keys(self) -> list[str]:
        return [self.key]

    def incr(self, n: int = 1) -> None:
        """GET, (pause), SET -- not atomic."""
        n = _n(n)
        v = _int(self.client.get(self.key))
        if self._pause is not None:
            self._pause()
        self.client.set(self.key, v + n)

    def value(self) -> int:
        return _int(self.client.get(self.key))

REDIS: dict[str, type] = {"naive redis": NaiveRedisCounter, "redis INCR": RedisCounter,
                          "sharded redis": ShardedRedisCounter, "batched redis": BatchedRedisCounter}
