"""Go channel -> Redis queue bridge (``ch := make(chan Task, n)`` + a goroutine doing ``RPUSH``/``XADD``), with
back-pressure policies, pipelined batches and graceful shutdown through a ``context``.

Producers :meth:`Bridge.put` items into a bounded :class:`hcedu.go.Chan`; one drain goroutine takes up to
``batch`` items at a time and writes them to Redis in one round trip (``RPUSH key v1 v2 ...`` or a
pipeline of ``XADD``). The buffer absorbs bursts (peak shaving); what happens when it is full is the
**back-pressure policy**:

=================  ====================================================================================
``block``          the producer waits for room (Go's ``ch <- v``); wakes with :class:`BridgeClosed` on shutdown
``block_timeout``  waits up to ``put_timeout`` seconds, then gives up: ``put`` returns False (``timed_out``)
``drop_newest``    the new item is discarded at once: ``put`` returns False (``dropped_newest``)
``drop_oldest``    the oldest buffered item is evicted to make room (``dropped_oldest``; ``on_drop`` sees it)
``reject``         ``put`` raises :class:`QueueFull` at once (``rejected``): the caller answers 503 / degrades
=================  ====================================================================================

Shutdown: cancel the parent context (or call :meth:`Bridge.close`). The drain goroutine then closes the
channel (so later ``put`` calls raise :class:`BridgeClosed`), writes everything still buffered, and reports
in :class:`ShutdownReport` the items it could not write (``unsent``, e.g. Redis down), so **no accepted
item is silently lost**: after shutdown ``accepted == sent + dropped_oldest + len(unsent)`` and
``offered == accepted + rejected + dropped_newest + timed_out``.

Redis errors: a batch that fails is retried with exponential backoff (interruptible by shutdown) and
kept meanwhile, so the buffer fills and back-pressure reaches producers instead of items vanishing.

:class:`NaiveBridge` is the source's version (``for task := range ch { client.RPush(...) }``): one round
trip per item, no shutdown (buffered items die with the process), no error handling (one Redis error
kills the goroutine and producers then block forever once the buffer fills). Kept as a foil.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import redis

from .. import _validate
from ..backend import Keyspace, connect
from ..go import context
from ..go.chan import Chan, ChanTimeout, SendOnClosedChannel
from ..go.goroutine import Goroutine, silence_panics, spawn
from ..go.selectgo import Recv, Send, select
from ._redisargs import resolve_keyspace

__all__ = ["POLICIES", "SINKS", "Bridge", "BridgeStats", "ShutdownReport", "QueueFull", "BridgeClosed",
           "NaiveBridge"]

POLICIES = ("block", "block_timeout", "drop_newest", "drop_oldest", "reject")
SINKS = ("list", "stream")


class QueueFull(Exception):
    """``reject`` policy: the buffer is full; the item was not accepted."""


class BridgeClosed(Exception):
    """The bridge is shutting down or shut down; the item was not accepted."""


@dataclass
class BridgeStats:
    """Counters (a snapshot). See the module docstring for the invariants they satisfy after shutdown."""

    # the producer's side: what offer() decided for each item
    offered: int = 0
    accepted: int = 0
    rejected: int = 0
    dropped_newest: int = 0
    dropped_oldest: int = 0
    timed_out: int = 0
    # the Redis side: what the flusher did with the accepted ones
    sent: int = 0
    unsent: int = 0
    batches: int = 0
    errors: int = 0

    @property
    def dropped(self) -> int:
        """Items discarded by the policy (new ones turned away, old ones evicted, waits that timed out)."""
        return self.dropped_newest + self.dropped_oldest + self.timed_out

    def as_dict(self) -> dict[str, int]:
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "dropped": self.dropped}


@dataclass
class ShutdownReport:
    """What the bridge did by the time it stopped: every accepted item is sent, evicted, or in ``unsent``."""

    stats: BridgeStats
    unsent: list[str] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def complete(self) -> bool:
        """True when the counters account for every offered and every accepted item."""
        s = self.stats
        return (s.offered == s.accepted + s.rejected + s.dropped_newest + s.timed_out
                and s.accepted == s.sent + s.dropped_oldest + len(self.unsent))


def _item(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"item must be a str (got {type(value).__name__}: {value!r})")
    return value


class Bridge:
    """A bounded channel drained into Redis by one goroutine: the source's pattern, made safe.

    Arguments: ``ctx`` (parent :mod:`hcedu.go.context`; cancelling it shuts the bridge down), ``client`` /
    ``keyspace`` (Redis; default :func:`hcedu.backend.connect`), ``key`` (list or stream name inside the
    keyspace), ``sink`` (``"list"`` or ``"stream"``), ``capacity`` (buffer size, >= 1), ``policy`` (one of
    :data:`POLICIES`), ``put_timeout`` (seconds, for ``block_timeout``), ``batch`` (max items per round
    trip), ``retry_backoff`` (first retry delay in seconds; doubles up to 1 s), ``final_attempts`` (write
    attempts per batch during shutdown before it is reported unsent), ``rate`` (items/s ceiling on the
    drain, to model a slow downstream in labs; None = as fast as Redis goes), ``on_sent(batch)`` /
    ``on_drop(item)`` callbacks (called in the drain goroutine / the producer), ``start`` (False: no
    goroutine; call :meth:`pump` yourself, for deterministic simulations).
    """

    def __init__(self, ctx: Any = None, *, client: redis.Redis | None = None, keyspace: Keyspace | None = None,
                 key: str = "tasks", sink: str = "list", capacity: int = 100, policy: str = "block",
                 put_timeout: float | None = None, batch: int = 64, retry_backoff: float = 0.05,
                 final_attempts: int = 3, rate: float | None = None,
                 on_sent: Callable[[list[str]], Any] | None = None,
                 on_drop: Callable[[str], Any] | None = None, start: bool = True) -> None:
        self.policy = _validate.choice("policy", policy, POLICIES)
        self.sink = _validate.choice("sink", sink, SINKS)
        self.capacity = _validate.integer("capacity", capacity, minimum=1)
        self.batch = _validate.integer("batch", batch, minimum=1)
        if policy == "block_timeout":
            if put_timeout is None:
                raise ValueError("put_timeout is required with policy='block_timeout' (seconds, >= 0)")
            self.put_timeout: float | None = _validate.number("put_timeout", put_timeout, minimum=0)
        elif put_timeout is not None:
            raise ValueError(f"put_timeout only applies to policy='block_timeout' (policy is {policy!r})")
        else:
            self.put_timeout = None
        self.retry_backoff = _validate.number("retry_backoff", retry_backoff, minimum=0)
        self.final_attempts = _validate.integer("final_attempts", final_attempts, minimum=1)
        self.rate = None if rate is None else _validate.number("rate", rate, minimum=0, strict=True)
        self.on_sent = None if on_sent is None else _validate.function("on_sent", on_sent)
        self.on_drop = None if on_drop is None else _validate.function("on_drop", on_drop)
        _validate.text("key", key)
        self.client, self.keyspace = resolve_keyspace(client, keyspace, "queue")
        self.key = self.keyspace.key("bridge", key)
        self.ch = Chan(self.capacity)
        self.ctx, self._cancel = context.with_cancel(ctx if ctx is not None else context.background())
        self._lock = threading.Lock()
        self._settled = threading.Condition(threading.Lock())
        self._active = 0  # put() calls in progress: a report waits for them so its counts add up
        self._stats = BridgeStats()
        self._unsent: list[str] = []
        self._error: BaseException | None = None
        self._stopped = threading.Event()
        self._g: Goroutine | None = None
        if start:
            self._g = spawn(self._run, name=f"hcedu-bridge {self.key}", stacklevel=2)

    # -- producer side -----------------------------------------------------------------------------
    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self._stats, name, getattr(self._stats, name) + n)

    def _closed(self) -> BridgeClosed:
        self._count("rejected")
        return BridgeClosed(f"bridge {self.key} is shut down ({self.ctx.err()})")

    def put(self, item: str) -> bool:
        """Offer ``item`` (a str) to the buffer under the bridge's policy.

        Returns True if accepted (it will be written, evicted by ``drop_oldest``, or reported unsent), False
        if the policy discarded it (``drop_newest``, or ``block_timeout`` after ``put_timeout``). Raises
        :class:`QueueFull` (``reject``, buffer full) or :class:`BridgeClosed` (shut down, including a ``block``
        producer woken by the shutdown); ``TypeError`` if ``item`` is not a str.
        """
        item = _item(item)
        with self._settled:
            self._active += 1
        try:
            return self._put(item)
        finally:
            with self._settled:
                self._active -= 1
                if not self._active:
                    self._settled.notify_all()

    def _put(self, item: str) -> bool:
        self._count("offered")
        if self.ctx.err() is not None:
            raise self._closed()
        try:
            if self.policy in ("block", "block_timeout"):
                try:
                    i, _, _ = select(Send(self.ch, item), Recv(self.ctx.done()), timeout=self.put_timeout)
                except ChanTimeout:
                    self._count("timed_out")
                    return False
                if i == 1:
                    raise self._closed()
            elif self.policy == "drop_newest":
                if not self.ch.try_send(item):
                    self._count("dropped_newest")
                    return False
            elif self.policy == "reject":
                if not self.ch.try_send(item):
                    self._count("rejected")
                    raise QueueFull(f"buffer of {self.capacity} is full (policy 'reject')")
            else:  # drop_oldest
                while not self.ch.try_send(item):
                    old, ok, selected = self.ch.try_recv()
                    if selected and ok:
                        self._count("dropped_oldest")
                        if self.on_drop is not None:
                            self.on_drop(old)
        except SendOnClosedChannel:
            raise self._closed() from None
        self._count("accepted")
        return True

    def try_put(self, item: str) -> bool:
        """Non-blocking offer that ignores the policy: True if buffered, False if the buffer is full (nothing is
        counted as dropped; ``offered``/``accepted`` are). For simulations that model waiting producers."""
        item = _item(item)
        if self.ctx.err() is not None:
            self._count("offered")
            raise self._closed()
        try:
            ok = self.ch.try_send(item)
        except SendOnClosedChannel:
            self._count("offered")
            raise self._closed() from None
        if ok:
            self._count("offered")
            self._count("accepted")
        return ok

    def note_timed_out(self, n: int = 1) -> None:
        """Count ``n`` offers that waited outside the buffer and gave up (used with :meth:`try_put`)."""
        n = _validate.integer("n", n, minimum=0)
        self._count("offered", n)
        self._count("timed_out", n)

    # -- drain side --------------------------------------------------------------------------------
    def _write(self, items: list[str]) -> None:
        if self.sink == "list":
            self.client.rpush(self.key, *items)
        else:
            pipe = self.client.pipeline(transaction=False)
            for v in items:
                pipe.xadd(self.key, {"v": v})
            pipe.execute()

    def _take_batch(self, first: list[str]) -> list[str]:
        items = first
        while len(items) < self.batch:
            v, ok, selected = self.ch.try_recv()
            if not selected or not ok:
                break
            items.append(v)
        return items

    def _deliver(self, items: list[str]) -> None:
        with self._lock:
            self._stats.sent += len(items)
            self._stats.batches += 1
        if self.on_sent is not None:
            self.on_sent(items)

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` unless shutdown starts; True if shutdown started."""
        if seconds <= 0:
            return self.ctx.err() is not None
        try:
            self.ctx.done().recv(timeout=seconds)
        except ChanTimeout:
            return False
        return True

    def pump(self, max_items: int | None = None) -> int:
        """Drain up to ``max_items`` buffered items (default: all) to Redis now, in ``batch``-sized writes; returns
        how many were written. For ``start=False`` bridges (simulations). A Redis error propagates after the
        failing batch is recorded in ``unsent`` (reported by :meth:`wait`), so no item is lost silently.
        """
        limit = None if max_items is None else _validate.integer("max_items", max_items, minimum=0)
        written = 0
        while limit is None or written < limit:
            room = self.batch if limit is None else min(self.batch, limit - written)
            items: list[str] = []
            while len(items) < room:
                v, ok, selected = self.ch.try_recv()
                if not selected or not ok:
                    break
                items.append(v)
            if not items:
                break
            try:
                self._write(items)
            except redis.RedisError:
                with self._lock:
                    self._unsent.extend(items)
                    self._stats.unsent += len(items)
                    self._stats.errors += 1
                raise
            self._deliver(items)
            written += len(items)
        return written

    def _run(self) -> None:
        done = self.ctx.done()
        pending: list[str] = []
        backoff = self.retry_backoff
        try:
            while True:
                if not pending:
                    i, v, ok = select(Recv(self.ch), Recv(done))
                    if i == 1:
                        break
                    pending = self._take_batch([v])
                try:
                    self._write(pending)
                except redis.RedisError:
                    self._count("errors")
                    if self._sleep(backoff):
                        break
                    backoff = min(1.0, max(backoff * 2, 0.001))
                    continue
                backoff = self.retry_backoff
                items, pending = pending, []
                self._deliver(items)
                if self.rate is not None and self._sleep(len(items) / self.rate):
                    break
        except BaseException as exc:  # never let an unexpected error lose the buffer: report it
            self._error = exc
        finally:
            self._shutdown(pending)

    def _shutdown(self, pending: list[str]) -> None:
        try:
            self.ch.close()
        except Exception:  # already closed
            pass
        leftovers = list(pending)
        for v in self.ch:  # closed: yields what is buffered, then stops
            leftovers.append(v)
        for i in range(0, len(leftovers), self.batch):
            chunk = leftovers[i:i + self.batch]
            for _attempt in range(self.final_attempts):
                try:
                    self._write(chunk)
                except redis.RedisError:
                    self._count("errors")
                    continue
                self._deliver(chunk)
                break
            else:
                with self._lock:
                    self._unsent.extend(chunk)
                    self._stats.unsent += len(chunk)
        self._stopped.set()

    # -- lifecycle -----------------------------------------------------------------------------------
    def close(self, timeout: float | None = 5.0) -> ShutdownReport:
        """Shut down (cancel the bridge's context), wait up to ``timeout`` seconds for the drain, and report.
        Raises ``TimeoutError`` if the drain goroutine has not finished by then (it keeps going)."""
        self._cancel()
        return self.wait(timeout)

    def wait(self, timeout: float | None = 5.0) -> ShutdownReport:
        """Wait for a shutdown started by the parent context; ``TimeoutError`` if not done in ``timeout`` s."""
        timeout = _validate.optional_timeout("timeout", timeout)
        if self._g is None:  # manual mode: shut down synchronously
            if self.ctx.err() is None:
                self._cancel()
            if not self._stopped.is_set():
                self._shutdown([])
        elif not self._stopped.wait(timeout):
            raise TimeoutError(f"bridge {self.key} still draining after {timeout} s")
        if self._g is not None:
            self._g.join(timeout=1.0)
        with self._settled:  # producers woken by the shutdown finish counting (they return at once)
            self._settled.wait_for(lambda: self._active == 0, timeout=1.0)
        with self._lock:
            return ShutdownReport(BridgeStats(**vars(self._stats)), list(self._unsent), self._error)

    @property
    def stats(self) -> BridgeStats:
        """A snapshot of the counters."""
        with self._lock:
            return BridgeStats(**vars(self._stats))

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def depth(self) -> int:
        """Items in the buffer now (``len(ch)``)."""
        return len(self.ch)

    def __enter__(self) -> "Bridge":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._stopped.is_set():
            self.close()

    def __repr__(self) -> str:
        s = self.stats
        return (f"<Bridge {self.key} {self.sink} cap={self.capacity} policy={self.policy} "
                f"accepted={s.accepted} sent={s.sent} dropped={s.dropped}{' stopped' if self.stopped else ''}>")


class NaiveBridge:
    """The source's version, verbatim in spirit: ``ch := make(chan Task, 100)`` and
    ``go func() { for task := range ch { client.RPush("task_queue", task.Data) } }()``.

    ``put(item, timeout)`` is a plain blocking ``ch <- item`` (the timeout only keeps demos bounded; it raises
    :class:`ChanTimeout`). Weaknesses, each shown in chapter 07: one round trip per item; no shutdown
    (:meth:`crash` models the process exiting: whatever is buffered is lost, and nobody knows how much);
    no error handling (a Redis error ends the goroutine, the buffer then fills and producers block).
    """

    def __init__(self, *, client: redis.Redis | None = None, keyspace: Keyspace | None = None,
                 key: str = "task_queue", capacity: int = 100) -> None:
        self.capacity = _validate.integer("capacity", capacity, minimum=1)
        _validate.text("key", key)
        self.client, self.keyspace = resolve_keyspace(client, keyspace, "queue")
        self.key = self.keyspace.key("naive", key)
        self.ch = Chan(self.capacity)
        self.sent = 0
        self.lost = 0
        self._crashed = False
        with silence_panics():
            self.goroutine = spawn(self._run, name=f"hcedu-naive-bridge {self.key}", report=False, stacklevel=2)

    def _run(self) -> None:
        for task in self.ch:
            if self._crashed:
                self.lost += 1
                continue
            self.client.rpush(self.key, task)  # one round trip per item; an error ends the goroutine
            self.sent += 1

    def put(self, item: str, timeout: float | None = None) -> None:
        """``ch <- item``. Blocks while the buffer is full; ``ChanTimeout`` after ``timeout`` seconds."""
        self.ch.send(_item(item), timeout=_validate.optional_timeout("timeout", timeout))

    def crash(self) -> int:
        """The process exits: buffered items are gone. Returns how many (the real program could not tell)."""
        self._crashed = True
        lost_now = len(self.ch)
        try:
            self.ch.close()
        except Exception:
            pass
        self.goroutine.join(timeout=5)
        return lost_now

    @property
    def dead(self) -> bool:
        """True once the drain goroutine has died (e.g. on a Redis error) while the channel was still open."""
        return self.goroutine.done and not self._crashed

    def depth(self) -> int:
        return len(self.ch)

    def __repr__(self) -> str:
        return f"<NaiveBridge {self.key} cap={self.capacity} sent={self.sent} depth={self.depth()}>"
