"""Redlock: one lock over N independent Redis masters (antirez's algorithm, redis.io "Distributed Locks
with Redis"; Go: ``github.com/go-redsync/redsync/v4``; Python: pottery ``Redlock``).

Algorithm (one attempt):

1. take a random token and ``start = clock.now()``;
2. ``SET name token NX PX ttl`` on every node, in parallel (one daemon thread per node, each bounded by
   ``node_timeout``); an error or a timeout counts as "not acquired there";
3. ``validity = ttl - drift - elapsed`` with ``drift = ttl * drift_factor + drift_min`` (pottery:
   1 % + 2 ms; redsync: factor 0.01);
4. the lock is held iff at least ``quorum = N // 2 + 1`` nodes said yes **and** ``validity > 0``;
   otherwise release it on *every* node (compare-and-delete) and, when blocking, retry after a random
   delay in ``[0, retry_delay]``.

What it assumes, and the course shows breaking (chapter 08): bounded network delay, bounded process
pauses, and clocks that advance at about the same rate on every node. One node whose clock jumps
forward (or that restarts without persistence) can expire its copy early and let a second client
reach a quorum while the first still believes it holds the lock. Redlock issues no fencing token.
"""

from __future__ import annotations

import random
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import redis

from .. import _validate
from ..clock import REAL, Clock, as_clock
from ._once import call_once, eval_once
from ._redisargs import check_client

#: extra seconds the fan-out waits beyond ``node_timeout`` for the per-command timeouts to fire
_REPLY_SLACK = 0.05
from .lock import EXTEND_LUA, RELEASE_LUA

__all__ = ["Redlock", "NodeResult"]


@dataclass(frozen=True)
class NodeResult:
    """What one node answered in the last operation: ``ok`` True/False, or ``error`` (then ok is False)."""

    node: int
    ok: bool
    error: str | None = None


class Redlock:
    """A lock held on a majority of ``clients`` (independent Redis masters), with a validity time.

    * ``acquire(blocking=True, timeout=None) -> bool``: one attempt with ``blocking=False``; otherwise
      retries (random delay up to ``retry_delay``) until acquired, ``timeout`` seconds have passed on the
      lock's clock, or ``max_tries`` attempts were made; returns False then. A failed attempt leaves no
      key behind on any reachable node.
    * ``validity``: seconds the holder may rely on the lock, measured from the start of the winning
      attempt (``valid_until`` on the lock's clock).
    * ``release() -> bool``: compare-and-delete on every node; True if a quorum still held our token.
    * ``extend() -> bool``: reset the lease on every node still holding our token; True on a quorum
      (and then the validity restarts).
    * ``last``: per-node :class:`NodeResult` of the last operation (what the chapter's charts draw).

    Node errors never propagate (an unreachable node is just a "no"); bad arguments raise
    ``TypeError``/``ValueError``.
    """

    def __init__(self, clients: Sequence[redis.Redis], name: str, ttl: float, clock: Clock | None = None, *,
                 drift_factor: float = 0.01, drift_min: float = 0.002, retry_delay: float = 0.2,
                 max_tries: int | None = 32, node_timeout: float = 1.0, parallel: bool = True,
                 rng: random.Random | None = None) -> None:
        if isinstance(clients, (str, bytes)) or not isinstance(clients, Sequence):
            raise TypeError(f"clients must be a list of redis-py clients (got {type(clients).__name__})")
        if not clients:
            raise ValueError("clients must name at least one Redis node (Redlock wants 5 independent masters)")
        for i, c in enumerate(clients):
            check_client(f"clients[{i}]", c)
        self.clients = list(clients)
        self.name = _validate.text("name", name)
        ttl = _validate.number("ttl", ttl, minimum=0, strict=True, maximum=10 * 365 * 86_400.0)
        self._ttl_ms = int(round(ttl * 1000))
        if self._ttl_ms < 1:
            raise ValueError(f"ttl must be at least 0.001 s (got {ttl!r})")
        self.ttl = self._ttl_ms / 1000
        self.clock = as_clock(clock)
        self.drift_factor = _validate.number("drift_factor", drift_factor, minimum=0, maximum=1)
        self.drift_min = _validate.number("drift_min", drift_min, minimum=0)
        self.retry_delay = _validate.number("retry_delay", retry_delay, minimum=0)
        self.max_tries = None if max_tries is None else _validate.integer("max_tries", max_tries, minimum=1)
        self.node_timeout = _validate.number("node_timeout", node_timeout, minimum=0, strict=True, maximum=3600)
        self.parallel = bool(parallel)
        if rng is not None and not isinstance(rng, random.Random):
            raise TypeError(f"rng must be a random.Random (got {type(rng).__name__})")
        self._rng = rng or random.Random()
        self._release = [c.register_script(RELEASE_LUA) for c in self.clients]
        self._extend = [c.register_script(EXTEND_LUA) for c in self.clients]
        self._mu = threading.Lock()
        self._token: str | None = None
        self.validity = 0.0
        self.valid_until: float | None = None
        self.last: list[NodeResult] = []
        self.attempts = 0

    @property
    def quorum(self) -> int:
        """How many nodes must agree: N // 2 + 1."""
        return len(self.clients) // 2 + 1

    @property
    def drift(self) -> float:
        """The clock-drift allowance subtracted from the validity: ``ttl * drift_factor + drift_min``."""
        return self.ttl * self.drift_factor + self.drift_min

    @property
    def held(self) -> bool:
        """True between a successful acquire and release (what this client believes)."""
        return self._token is not None

    @property
    def token(self) -> str | None:
        return self._token

    # -- per-node fan-out ------------------------------------------------------------------------
    def _fan_out(self, op: Callable[[int], Any], *, nowait: frozenset[int] = frozenset()) -> list[NodeResult]:
        """Run ``op(i)`` on every node; each command waits at most ``node_timeout`` for its reply (so a hung
        node costs ``node_timeout``, not the socket timeout, even with ``parallel=False``). Nodes in
        ``nowait`` (they just timed out) are sent the command from a daemon thread and not waited for."""
        results: list[NodeResult | None] = [None] * len(self.clients)
        done = threading.Condition()

        def run(i: int) -> None:
            try:
                r = NodeResult(i, bool(op(i)))
            except (redis.RedisError, OSError) as exc:
                r = NodeResult(i, False, type(exc).__name__)
            with done:
                results[i] = r
                done.notify_all()

        threads = []
        for i in range(len(self.clients)):
            if self.parallel or i in nowait:
                t = threading.Thread(target=run, args=(i,), name=f"hcedu-redlock-{self.name}-{i}", daemon=True)
                threads.append(t)
                t.start()
            else:
                run(i)
        if threads:
            end = REAL.monotonic() + self.node_timeout + _REPLY_SLACK  # real: the nodes answer in real time

            def settled() -> bool:
                return all(r is not None for i, r in enumerate(results) if i not in nowait)

            with done:
                while not settled():
                    left = end - REAL.monotonic()
                    if left <= 0:
                        break
                    done.wait(left)
        return [r if r is not None else NodeResult(i, False, "Timeout") for i, r in enumerate(list(results))]

    def _set_all(self, token: str) -> list[NodeResult]:
        return self._fan_out(lambda i: call_once(self.clients[i], "SET", self.name, token, "NX", "PX", self._ttl_ms,
                                                 timeout=self.node_timeout))

    def _release_all(self, token: str) -> list[NodeResult]:
        hung = frozenset(r.node for r in self.last if r.error in ("Timeout", "TimeoutError"))
        return self._fan_out(lambda i: eval_once(self.clients[i], self._release[i], [self.name], [token],
                                                 timeout=self.node_timeout), nowait=hung)

    def _elapsed_since(self, mark: float) -> float:
        """Seconds since ``mark`` (a ``clock.monotonic()`` reading): a wall-clock step during an acquire must
        not inflate or shrink the validity."""
        return self.clock.monotonic() - mark

    # -- public API ------------------------------------------------------------------------------
    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Acquire on a quorum within the validity budget; see the class docstring. ``RuntimeError`` if
        this object already holds the lock (not re-entrant)."""
        timeout = _validate.optional_timeout("timeout", timeout)
        if not blocking and timeout is not None:
            raise ValueError("timeout only applies with blocking=True")
        with self._mu:
            if self._token is not None:
                raise RuntimeError(f"Redlock {self.name!r} is already held by this object; it is not re-entrant")
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        self.attempts = 0
        while True:
            self.attempts += 1
            token = secrets.token_hex(16)
            start = self.clock.now()
            mark = self.clock.monotonic()
            results = self._set_all(token)
            elapsed = self._elapsed_since(mark)
            validity = self.ttl - self.drift - elapsed
            self.last = results
            if sum(r.ok for r in results) >= self.quorum and validity > 0:
                with self._mu:
                    self._token = token
                    self.validity = validity
                    self.valid_until = start + validity
                return True
            self._release_all(token)  # undo partial success everywhere, reachable or not
            if not blocking or (self.max_tries is not None and self.attempts >= self.max_tries):
                return False
            delay = self._rng.uniform(0, self.retry_delay)
            if deadline is not None:
                left = deadline - self.clock.monotonic()
                if left <= 0:
                    return False
                delay = min(delay, left)
            self.clock.sleep(delay)

    def release(self) -> bool:
        """Compare-and-delete on every node; True if a quorum still held our token. Never raises for a
        node that is down. Clears local state either way."""
        with self._mu:
            token, self._token = self._token, None
            self.valid_until = None
        if token is None:
            return False
        self.last = self._release_all(token)
        return sum(r.ok for r in self.last) >= self.quorum

    def extend(self) -> bool:
        """Reset the lease to ``ttl`` on every node still holding our token; True if that is a quorum
        (validity restarts from now minus drift). False, when not held."""
        with self._mu:
            token = self._token
        if token is None:
            return False
        start = self.clock.now()
        mark = self.clock.monotonic()
        self.last = self._fan_out(lambda i: eval_once(self.clients[i], self._extend[i], [self.name],
                                                      [token, self._ttl_ms], timeout=self.node_timeout))
        validity = self.ttl - self.drift - self._elapsed_since(mark)
        if sum(r.ok for r in self.last) >= self.quorum and validity > 0:
            self.validity, self.valid_until = validity, start + validity
            return True
        return False

    def holders(self) -> list[bool]:
        """For each node: does it hold our token right now? (False for an unreachable node.)"""
        token = self._token
        out = []
        for c in self.clients:
            try:
                v = c.get(self.name)
            except (redis.RedisError, OSError):
                out.append(False)
                continue
            v = v.decode() if isinstance(v, bytes) else v
            out.append(token is not None and v == token)
        return out

    def __enter__(self) -> "Redlock":
        if not self.acquire():
            raise TimeoutError(f"could not acquire Redlock {self.name!r} on {self.quorum}/{len(self.clients)} nodes")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = f"held validity={self.validity:.3f}s" if self._token else "not held"
        return f"<Redlock {self.name!r} N={len(self.clients)} quorum={self.quorum} {state}>"
