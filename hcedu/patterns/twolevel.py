"""Two-level cache: in-process L1 + Redis L2 + pub/sub invalidation (J2Cache; Caffeine + Redis; Go: ristretto + go-redis).

Each application instance owns one :class:`TwoLevelCache`: its own L1 (:class:`LocalCache`, TTL + LRU) in
front of a Redis L2 shared by every instance, in front of the database (``loader``). A write goes to Redis
and is **broadcast** on a Redis pub/sub channel, so every instance drops its L1 copy.

Invariants:
  * ``get`` reads L1, then L2, then ``loader(key)``; it fills L2 with ``l2_ttl`` and L1 with ``l1_ttl``.
    ``None`` from the loader means "no such row": it is returned and cached nowhere. Any other value
    (``0``, ``""``, ``[]`` included) is cached and returned as is;
  * concurrent misses on one key in one instance make one L2 read and at most one loader call (singleflight);
  * L1 is served only while the invalidation subscription is known to be live. When the subscriber sees
    its connection fail it flushes L1 and bypasses it; when a subscription is confirmed (first connect,
    reconnect, and redis-py's own silent re-subscribe) it flushes L1 again (``flush_on_reconnect``),
    because messages published while it was away are gone;
  * an L1 fill that raced an invalidation for the same instance is skipped (a sequence number), so an
    old value read from L2 just before an invalidation is not put back into L1 after it;
  * pub/sub is **at-most-once**: a message sent while a subscriber is disconnected or slow is lost, and
    nothing tells the subscriber. The L1 TTL is the backstop: a missed invalidation leaves an instance
    stale for at most ``l1_ttl`` seconds. Keep ``l1_ttl`` as short as the business tolerates;
  * L2 entries carry their expiry on the cache's clock (so a ``VirtualClock`` simulation expires them on
    virtual time) and also get Redis's own TTL (``PX``), which collects them on a real server.

The fault switch ``lose_invalidations`` (True, or a predicate on the key) makes the subscriber drop
messages silently, as a lost message would. :class:`CompetingConsumerInvalidation` is the wrong design
kept as a foil: invalidations on a work queue reach **one** instance each, so the others stay stale.

Values must be JSON-serialisable (``TypeError`` otherwise). Redis errors in ``get``/``set``/``invalidate``
propagate (``redis.RedisError``); the subscriber thread never raises: it retries with backoff until
:meth:`TwoLevelCache.close`.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import redis

from .. import _validate
from ..backend import Keyspace, connect
from ..clock import Clock, as_clock
from ..go.singleflight import Group
from .localcache import LocalCache
from ._redisargs import check_keyspace, resolve_keyspace

__all__ = ["TwoLevelCache", "TwoLevelStats", "CompetingConsumerInvalidation"]

_MISSING = object()
_names = itertools.count(1)


class _Gap(Exception):
    """Raised inside the subscriber loop to simulate a dropped connection for ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


def _key(key: Any) -> str:
    return _validate.key_part("key", key)


@dataclass(frozen=True)
class TwoLevelStats:
    """Counters of one instance. ``loads`` are loader (database) calls; ``received`` every invalidation
    message taken off the wire (including its own and lost ones); ``lost`` those dropped by the fault
    switch; ``evicted`` those applied; ``resyncs`` L1 flushes on (re)connect or disconnect."""

    # where each get was answered
    l1_hits: int = 0
    l2_hits: int = 0
    loads: int = 0
    not_found: int = 0
    # the invalidation messages
    published: int = 0
    received: int = 0
    lost: int = 0
    evicted: int = 0
    resyncs: int = 0

    @property
    def gets(self) -> int:
        return self.l1_hits + self.l2_hits + self.loads

    def rates(self) -> dict[str, float]:
        """Fraction of gets answered by L1, L2 and the database."""
        n = self.gets or 1
        return {"L1": self.l1_hits / n, "L2": self.l2_hits / n, "DB": self.loads / n}


class TwoLevelCache:
    """One instance's two-level cache. See the module docstring for the invariants.

    ``client``: redis-py client (default ``keyspace.client`` or :func:`hcedu.backend.connect`);
    ``loader(key) -> value | None`` reads the database; ``l1_size`` entries and ``l1_ttl`` seconds bound
    L1; ``l2_ttl`` seconds is the Redis TTL; ``keyspace`` scopes keys and the channel (default
    ``Keyspace("twolevel")``); ``clock`` gives ``now`` for both levels; ``channel`` names the invalidation
    channel inside the keyspace; ``name`` labels the instance (thread ``hcedu-twolevel-<name>``).

    ``subscribe=False`` starts no subscriber: L1 is then always served and delivering invalidations
    (:meth:`evict_local`) is the caller's job. With ``subscribe=True`` the constructor waits up to
    ``ready_timeout`` seconds for the subscription; if it is not confirmed by then, L1 stays bypassed
    until it is. Stop the subscriber with :meth:`close` (or use ``with``).
    """

    def __init__(self, client: redis.Redis | None = None, *, loader: Callable[[str], Any],
                 l1_size: int = 1024, l1_ttl: float = 5.0, l2_ttl: float = 300.0,
                 keyspace: Keyspace | None = None, clock: Clock | None = None, channel: str = "invalidate",
                 name: str | None = None, subscribe: bool = True, flush_on_reconnect: bool = True,
                 ready_timeout: float = 5.0) -> None:
        self.loader = _validate.function("loader", loader)
        self.l1_ttl = _validate.number("l1_ttl", l1_ttl, minimum=0, strict=True, allow_inf=True)
        self.l2_ttl = _validate.number("l2_ttl", l2_ttl, minimum=0, strict=True)
        _validate.text("channel", channel)
        check_keyspace(keyspace)
        ready_timeout = _validate.number("ready_timeout", ready_timeout, minimum=0)
        self.clock = as_clock(clock)
        self.l1 = LocalCache(_validate.integer("l1_size", l1_size, minimum=1), self.l1_ttl, clock=self.clock)
        self.client, self.keyspace = resolve_keyspace(client, keyspace, "twolevel")
        self.channel = self.keyspace.key("l1-invalidate", channel)
        self.name = _validate.text("name", name) if name is not None else f"node{next(_names)}"
        self.flush_on_reconnect = bool(flush_on_reconnect)
        #: fault switch: True drops every invalidation this instance receives; a callable drops those
        #: whose key it returns True for. Dropped messages are counted in ``stats.lost``.
        self.lose_invalidations: bool | Callable[[str], bool] = False
        self._origin = uuid.uuid4().hex
        self._flight = Group()
        self._mu = threading.Lock()  # guards the counters, _seq and the (check seq, fill L1) step
        self._seq = 0                # bumped by every eviction and flush
        self._counts = dict.fromkeys(TwoLevelStats.__dataclass_fields__, 0)
        self._received = threading.Condition(self._mu)
        self._stop = threading.Event()
        self._gap: float | None = None
        self._closed = False
        self._subscribed = not subscribe
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        if subscribe:
            self._thread = threading.Thread(target=self._run, name=f"hcedu-twolevel-{self.name}", daemon=True)
            self._thread.start()
            self._ready.wait(ready_timeout)

    # -- helpers -----------------------------------------------------------------------------------
    def l2_key(self, key: Any) -> str:
        """The Redis key that holds ``key``'s L2 entry."""
        return self.keyspace.key("l2", _key(key))

    def _count(self, field: str, n: int = 1) -> None:
        with self._mu:
            self._counts[field] += n

    @property
    def subscribed(self) -> bool:
        """True while the invalidation subscription is known to be live (L1 is served only then)."""
        return self._subscribed

    # -- reads ---------------------------------------------------------------------------------------
    def get(self, key: Any) -> Any:
        """L1 → L2 → ``loader``; fill the levels on the way back. Returns None if the loader returned None.

        A loader exception propagates (nothing cached); so does a Redis error.
        """
        k = _key(key)
        use_l1 = self._subscribed
        if use_l1:
            value = self.l1.get(k, _MISSING)
            if value is not _MISSING:
                self._count("l1_hits")
                return value
        return self._flight.do(k, lambda: self._miss(k))[0]

    def _miss(self, k: str) -> Any:
        with self._mu:
            seq = self._seq
        raw = self.client.get(self.l2_key(k))
        if raw is not None:
            env = json.loads(raw)
            if env["x"] > self.clock.now():
                self._count("l2_hits")
                self._fill_l1(k, env["v"], seq)
                return env["v"]
        value = self.loader(k)
        self._count("loads")
        if value is None:
            self._count("not_found")
            return None
        self._write_l2(k, value)
        self._fill_l1(k, value, seq)
        return value

    def _fill_l1(self, k: str, value: Any, seq: int) -> None:
        with self._mu:
            if self._subscribed and seq == self._seq:
                self.l1.set(k, value)

    def _write_l2(self, k: str, value: Any) -> None:
        try:
            env = json.dumps({"v": value, "x": self.clock.now() + self.l2_ttl})
        except (TypeError, ValueError) as exc:
            raise TypeError(f"value must be JSON-serialisable (got {type(value).__name__}): {exc}") from None
        self.client.set(self.l2_key(k), env, px=max(1, math.ceil(self.l2_ttl * 1000)))

    # -- writes --------------------------------------------------------------------------------------
    def set(self, key: Any, value: Any) -> int:
        """Write ``value`` through to Redis (``l2_ttl``) and this L1, and broadcast an invalidation so every
        other instance drops its L1 copy. Returns how many subscribers Redis delivered the message to
        (delivered is not processed: see the module docstring). Call it after the database write."""
        k = _key(key)
        if value is None:
            raise ValueError("value must not be None (None means 'not found'; use invalidate to delete)")
        self._write_l2(k, value)
        with self._mu:
            self._seq += 1  # any fill in flight read the old value
            if self._subscribed:
                self.l1.set(k, value)
        return self._publish(k)

    def invalidate(self, key: Any) -> int:
        """Delete ``key`` from Redis and this L1 and broadcast the invalidation (cache-aside: call it after
        the database write). Returns how many subscribers Redis delivered the message to."""
        k = _key(key)
        self.client.delete(self.l2_key(k))
        self.evict_local(k)
        return self._publish(k)

    def _publish(self, k: str) -> int:
        n = int(self.client.publish(self.channel, json.dumps({"k": k, "o": self._origin})))
        self._count("published")
        return n

    def evict_local(self, key: Any) -> bool:
        """Drop ``key`` from this instance's L1 only (what an invalidation message does)."""
        k = _key(key)
        with self._mu:
            self._seq += 1
            return self.l1.delete(k)

    def flush_local(self) -> int:
        """Drop every L1 entry of this instance; return how many there were."""
        with self._mu:
            self._seq += 1
            return self.l1.clear()

    # -- subscriber ----------------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            ps = None
            try:
                ps = self.client.pubsub()
                ps.subscribe(self.channel)
                while not self._stop.is_set():
                    if self._gap is not None:
                        gap, self._gap = self._gap, None
                        raise _Gap(gap)
                    msg = ps.get_message(timeout=0.05)
                    if msg is not None:
                        self._on_message(msg)
                        backoff = 0.05
            except _Gap as g:  # a silent drop: the app does not know, L1 is still served
                ps.close()
                ps = None
                self._stop.wait(g.seconds)
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                self._disconnected()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 1.0)
            except Exception:  # noqa: BLE001 - a server error reply: resubscribe, never die
                self._disconnected()
                self._stop.wait(backoff)
            finally:
                if ps is not None:
                    try:
                        ps.close()
                    except Exception:  # noqa: BLE001 - closing a broken connection
                        pass
        self._subscribed = False

    def _disconnected(self) -> None:
        with self._mu:
            was = self._subscribed
            self._subscribed = False
            if was:
                self._seq += 1
                self.l1.clear()
                self._counts["resyncs"] += 1

    def _on_message(self, msg: dict) -> None:
        kind = msg.get("type")
        if kind == "subscribe":
            with self._mu:
                if self.flush_on_reconnect:
                    self._seq += 1
                    self.l1.clear()
                    self._counts["resyncs"] += 1
                self._subscribed = True
            self._ready.set()
            return
        if kind != "message":
            return
        data = msg["data"]
        try:
            body = json.loads(data.decode() if isinstance(data, bytes) else data)
            k, origin = str(body["k"]), str(body["o"])
        except (ValueError, TypeError, KeyError):
            return  # not ours: ignore, do not count
        lose = self.lose_invalidations
        dropped = origin != self._origin and (lose(k) if callable(lose) else bool(lose))
        with self._received:
            self._counts["received"] += 1
            if dropped:
                self._counts["lost"] += 1
            elif origin != self._origin:
                self._seq += 1
                self.l1.delete(k)
                self._counts["evicted"] += 1
            self._received.notify_all()

    def wait_received(self, n: int, timeout: float = 5.0) -> bool:
        """Block until this instance has taken ``n`` invalidation messages off the wire in total (applied,
        its own, or lost), or ``timeout`` seconds pass; return whether it got there. Simulations use it
        to keep their reads in step with the subscriber thread."""
        n = _validate.integer("n", n, minimum=0)
        timeout = _validate.number("timeout", timeout, minimum=0)
        with self._received:
            return self._received.wait_for(lambda: self._counts["received"] >= n, timeout)

    def drop_connection(self, gap: float = 0.0) -> None:
        """Fault: make the subscriber drop its connection silently and re-subscribe ``gap`` seconds later
        (what redis-py's transparent reconnect looks like to the app). Messages published meanwhile are lost;
        L1 keeps being served; the re-subscribe flushes L1 only if ``flush_on_reconnect``."""
        gap = _validate.number("gap", gap, minimum=0)
        if self._thread is None:
            raise RuntimeError("drop_connection needs subscribe=True")
        self._gap = gap

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def stats(self) -> TwoLevelStats:
        """A snapshot of the instance's counters."""
        with self._mu:
            return TwoLevelStats(**self._counts)

    def close(self, timeout: float = 2.0) -> None:
        """Stop the subscriber thread (idempotent). L1 is no longer served afterwards."""
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._mu:
            self._subscribed = False
            self.l1.clear()

    def __enter__(self) -> "TwoLevelCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self.stats
        state = "closed" if self._closed else ("subscribed" if self._subscribed else "L1 bypassed")
        return (f"<TwoLevelCache {self.name} {state} l1={len(self.l1)}/{self.l1.maxsize} "
                f"l1_ttl={self.l1_ttl:g}s l2_ttl={self.l2_ttl:g}s L1={s.l1_hits} L2={s.l2_hits} DB={s.loads}>")


class CompetingConsumerInvalidation:
    """The wrong transport, kept as a foil: invalidations on one shared work queue (a Redis list).

    A work queue hands each message to **one** consumer (RabbitMQ/Kafka-group/Redis-list semantics), which
    is right for jobs and wrong for invalidation: every instance holds its own L1 copy, so every instance
    must see every message. With ``n`` instances, ``n - 1`` of them keep the stale value until their L1
    TTL expires. The fix is broadcast: pub/sub (as :class:`TwoLevelCache` does), a fan-out exchange, or
    one queue / consumer group per instance.

    ``caches`` are the consuming instances (create them with ``subscribe=False`` so only this queue
    delivers). :meth:`deliver_round_robin` hands messages out deterministically, as a broker's round-robin
    dispatch does; :meth:`start` runs one real ``BRPOP`` consumer thread per cache instead (stop with
    :meth:`stop`).
    """

    def __init__(self, caches: Iterable[TwoLevelCache], *, client: redis.Redis | None = None,
                 keyspace: Keyspace | None = None, name: str = "invalidate") -> None:
        self.caches = list(caches)
        if not self.caches or not all(isinstance(c, TwoLevelCache) for c in self.caches):
            raise TypeError("caches must be a non-empty list of TwoLevelCache")
        _validate.text("name", name)
        first = self.caches[0]
        self.client = client if client is not None else first.client
        self.keyspace = keyspace if keyspace is not None else first.keyspace
        self.queue = self.keyspace.key("l1-invalidate-queue", name)
        self._next = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._mu = threading.Lock()
        self.consumed = [0] * len(self.caches)  # messages taken by each consumer

    def invalidate(self, origin: TwoLevelCache, key: Any) -> None:
        """``origin.invalidate(key)`` (Redis DEL + its own L1), then put the key on the work queue."""
        k = _key(key)
        origin.invalidate(k)
        self.client.lpush(self.queue, k)

    def _apply(self, i: int, k: str) -> None:
        self.caches[i].evict_local(k)
        with self._mu:
            self.consumed[i] += 1

    def deliver_round_robin(self) -> int:
        """Hand every queued message to one consumer, in turn; return how many were delivered."""
        n = 0
        while (k := self.client.rpop(self.queue)) is not None:
            self._apply(self._next, k.decode() if isinstance(k, bytes) else k)
            self._next = (self._next + 1) % len(self.caches)
            n += 1
        return n

    def start(self) -> None:
        """Start one BRPOP consumer thread per cache (daemons ``hcedu-wq-consumer-<i>``)."""
        if self._threads:
            return
        self._stop.clear()
        for i in range(len(self.caches)):
            t = threading.Thread(target=self._consume, args=(i,), name=f"hcedu-wq-consumer-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def _consume(self, i: int) -> None:
        while not self._stop.is_set():
            try:
                item = self.client.brpop([self.queue], timeout=0.1)
            except redis.RedisError:
                self._stop.wait(0.05)
                continue
            if item is not None:
                k = item[1]
                self._apply(i, k.decode() if isinstance(k, bytes) else k)

    def pending(self) -> int:
        """Messages waiting on the queue."""
        return int(self.client.llen(self.queue))

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the consumer threads (idempotent)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def __enter__(self) -> "CompetingConsumerInvalidation":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
