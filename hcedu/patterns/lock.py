"""A Redis lease lock done right (Redis ``SET key token NX PX ttl`` + Lua compare-and-delete; Go: redsync's
single-node ``Mutex``): random token, Lua release/extend, bounded blocking acquire with jittered backoff,
an optional watchdog, and a fencing token.

Invariants (each one tested on fakeredis and on a real ``redis-server``):

* **Only the holder releases.** ``release()`` deletes the key only if it still holds *this* lock's
  random token (one Lua script: GET, compare, DEL). After the lease ran out and another client took
  the lock, ``release()`` returns False and deletes nothing.
* **Every grant gets a larger fence.** Acquisition is one Lua script that does ``SET NX PX`` and, only
  if that succeeded, ``INCR`` the lock's fence counter; so grants and fence numbers are ordered the same way.
  Hand ``lock.fence`` to the storage you protect (:class:`hcedu.patterns.fencing.FencedResource`):
  the lease cannot stop a paused holder from writing late, the fence can get the write rejected.
* **Bounded waiting.** ``acquire(timeout=...)`` never waits longer than ``timeout`` (on the lock's clock);
  it polls with exponential backoff and full jitter so waiters don't retry in lock step. Each try waits
  for Redis's reply at most until the deadline, or 10 % of the timeout (0.25..1 s) for a try begun just
  before it (a hung server cannot stretch the wait to the socket timeout):
  then ``redis.TimeoutError`` is raised, because whether that last try took the lock is unknown.
* **A lost reply is not a lost lock.** Every try of one ``acquire`` carries the same token and the script is
  idempotent, so when a reply is lost after Redis granted the lock (a connection reset), the retry finds
  the key holding our token and returns our fence instead of "taken". Commands are sent once (no client-
  level blind retry: :mod:`hcedu.patterns._once`); ``release`` is sent once too, and a lost release reply
  raises ``redis.ConnectionError`` (the lease then ends by its TTL at the latest).
* **The watchdog never leaks.** With ``watchdog=True`` a renewal runs every ``ttl/3`` while held. On a
  :class:`~hcedu.clock.RealClock` it is one daemon thread named ``hcedu-lock-watchdog-<name>-<n>``, which
  stops on ``release()``, on the first failed renewal (lease lost), or when the lock object is garbage
  collected; on any other clock (``VirtualClock``) renewals are timers on that clock and no thread exists.
* **Not re-entrant.** Acquiring a lock object that already holds raises ``RuntimeError`` (a second
  acquire from the same holder would otherwise wait for itself until its own lease expired).

What a lease lock cannot do: keep a holder that pauses longer than the TTL (GC, swap, SIGSTOP) from
acting on a lock it no longer has. A watchdog does not help there (its thread pauses too), and a
hung-but-alive holder's watchdog renews forever; use ``max_renewals`` to cap it. See chapter 08.

The lock key and its fence counter are two keys in one script, so they must share a Redis Cluster slot:
the fence key is :func:`~hcedu.patterns._slots.companion` ``(name, "fence")``: ``"{lock:orders}:fence"`` for a
tagged name (``"{lock:orders}"``, the cluster-friendly way to name a lock), ``"<name>:{<name>}:fence"`` for
an untagged one (the tag is the whole name, which is what Redis hashes for the lock key). A ``fence_key``
given explicitly must be in the lock's slot too (``ValueError`` otherwise).
"""

from __future__ import annotations

import itertools
import random
import secrets
import threading
import weakref
from typing import Any, Callable

import redis

from .. import _validate
from ..clock import Clock, RealClock, Timer, as_clock
from ._once import TRANSIENT, eval_once, reply_slack
from ._redisargs import check_client
from ._slots import companion, slot

__all__ = ["RedisLock", "LockError", "LockTimeout", "LockLost", "fence_key_for",
           "ACQUIRE_LUA", "RELEASE_LUA", "EXTEND_LUA", "unsafe_release"]

#: KEYS[1] lock, KEYS[2] fence counter; ARGV[1] token, ARGV[2] ttl in ms. Returns the new fence, or 0.
#: Idempotent: if the key already holds *our* token (our first try ran but its reply was lost), the lease is
#: renewed and our fence returned (no grant since ours could have bumped the counter: the key was ours).
ACQUIRE_LUA = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]))
end
return 0
"""

#: KEYS[1] lock; ARGV[1] token. Deletes the key only if it still holds our token. Returns 1 or 0.
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

#: KEYS[1] lock; ARGV[1] token, ARGV[2] ttl in ms. Resets the remaining lease only if ours. Returns 1 or 0.
EXTEND_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_serial = itertools.count(1)


def fence_key_for(name: str) -> str:
    """The default fence counter key of the lock ``name``: in ``name``'s cluster slot (see the module docstring).
    ``"{lock:orders}"`` -> ``"{lock:orders}:fence"``; ``"lock:orders"`` -> ``"lock:orders:{lock:orders}:fence"``."""
    return companion(_validate.text("name", name), "fence")



class LockError(Exception):
    """Base class of this module's lock errors."""


class LockTimeout(LockError, TimeoutError):
    """``with lock:`` could not acquire within the lock's ``blocking_timeout``."""


class LockLost(LockError):
    """Leaving ``with lock:`` found the lease already gone: the critical section may have overlapped
    another holder's. Raised only when no other exception is in flight."""


def unsafe_release(client: redis.Redis, name: str) -> bool:
    """The source's first version of unlock: a plain ``DEL name``. Kept to show the bug: after the lease
    ran out and someone else took the lock, this deletes *their* lock. Returns True if a key was deleted."""
    return bool(client.delete(name))


#: the longest lease accepted (s): 10 years (Redis PX is a 64-bit count of ms; longer is a bug, not a lease)
MAX_TTL = 10 * 365 * 86_400.0


def _ms(name: str, seconds: float) -> int:
    seconds = _validate.number(name, seconds, minimum=0, strict=True, maximum=MAX_TTL)
    ms = int(round(seconds * 1000))
    if ms < 1:
        raise ValueError(f"{name} must be at least 0.001 s, Redis leases are whole milliseconds (got {seconds!r})")
    return ms


def _text(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else v


class RedisLock:
    """A lease lock on one Redis (``SET name token NX PX ttl``; Go: redsync ``Mutex`` on one pool).

    ``client`` is a redis-py client (fakeredis or real); ``name`` is the lock's key; ``ttl`` the lease in
    seconds. Options:

    * ``clock``: where waiting and the watchdog take their time (default :class:`RealClock`);
    * ``watchdog``: renew the lease every ``ttl/3`` while held (Redisson's lock watchdog);
      ``max_renewals`` caps how many renewals one holding gets (None = renew for ever);
    * ``blocking_timeout``: the timeout ``with lock:`` uses (None = wait for ever);
    * ``retry_base`` / ``retry_cap``: the blocking poll sleeps ``uniform(0, min(cap, base * 2**k))`` after
      the k-th failed try (full jitter); ``retry_base=0`` retries immediately (a spin);
    * ``rng``: a ``random.Random`` for the jitter (seed it for reproducible waits);
    * ``fence_key``: the fence counter's key (default :func:`fence_key_for` ``(name)``, in the lock's cluster
      slot; one counter per lock);
    * ``on_event``: ``on_event(lock, event)`` after ``"acquire"``, ``"extend"``, ``"extend-failed"``,
      ``"release"``, ``"release-failed"`` (used by the chapter's timelines).

    Redis errors (``redis.ConnectionError`` ...) propagate from ``acquire``/``release``/``extend``; a
    watchdog that hits one treats it as a lost lease and stops.
    """

    def __init__(self, client: redis.Redis, name: str, ttl: float, clock: Clock | None = None, *,
                 watchdog: bool = False, max_renewals: int | None = None,
                 blocking_timeout: float | None = None, retry_base: float = 0.002, retry_cap: float = 0.05,
                 rng: random.Random | None = None, fence_key: str | None = None,
                 on_event: Callable[["RedisLock", str], Any] | None = None) -> None:
        self.client = check_client("client", client)
        self.name = _validate.text("name", name)
        self._ttl_ms = _ms("ttl", ttl)
        self.ttl = self._ttl_ms / 1000
        self.clock = as_clock(clock)
        self.watchdog = bool(watchdog)
        self.max_renewals = (None if max_renewals is None
                             else _validate.integer("max_renewals", max_renewals, minimum=0))
        self.blocking_timeout = _validate.optional_timeout("blocking_timeout", blocking_timeout)
        self.retry_base = _validate.number("retry_base", retry_base, minimum=0)
        self.retry_cap = _validate.number("retry_cap", retry_cap, minimum=0)
        if rng is not None and not isinstance(rng, random.Random):
            raise TypeError(f"rng must be a random.Random (got {type(rng).__name__})")
        self._rng = rng or random.Random()
        self.fence_key = _validate.text("fence_key", fence_key) if fence_key is not None else fence_key_for(name)
        if self.fence_key == self.name:
            raise ValueError("fence_key must differ from name")
        if slot(self.fence_key) != slot(self.name):
            raise ValueError(f"fence_key must be in the lock's Redis Cluster slot (the script touches both): "
                             f"give both one hash tag, e.g. name='{{lock:orders}}', fence_key='{{lock:orders}}:fence' "
                             f"(got name={self.name!r}, fence_key={self.fence_key!r})")
        self._on_event = _validate.function("on_event", on_event) if on_event is not None else None
        self._acquire_script = client.register_script(ACQUIRE_LUA)
        self._release_script = client.register_script(RELEASE_LUA)
        self._extend_script = client.register_script(EXTEND_LUA)
        self._state = threading.RLock()
        self._token: str | None = None
        self.fence: int | None = None
        self.renewals = 0
        self.lost = False
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._timer: Timer | None = None
        self.attempts = 0

    # -- acquisition -----------------------------------------------------------------------------
    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lock; return True if acquired (``lock.fence`` then holds this grant's fence number).

        ``blocking=False`` tries once. ``blocking=True`` retries with jittered exponential backoff until
        it gets the lock or ``timeout`` seconds (on the lock's clock) have passed, then returns False;
        ``timeout=None`` waits for ever, ``timeout=0`` tries once. Raises ``RuntimeError`` if this object
        already holds the lock (not re-entrant) and ``ValueError`` for a negative timeout or a timeout
        with ``blocking=False``. A connection error or a reply that did not come back is retried with the
        same token (the script is idempotent), up to 3 tries while the deadline allows; then the Redis error
        propagates.
        """
        timeout = _validate.optional_timeout("timeout", timeout)
        if not blocking and timeout is not None:
            raise ValueError("timeout only applies with blocking=True")
        with self._state:
            if self._token is not None:
                raise RuntimeError(f"lock {self.name!r} is already held by this RedisLock; it is not re-entrant "
                                   f"(release() it first)")
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        token = secrets.token_hex(16)
        tries = 0
        failures = 0
        self.attempts = 0
        while True:
            tries += 1
            self.attempts = tries
            left = None if deadline is None else deadline - self.clock.monotonic()
            try:
                fence = int(eval_once(self.client, self._acquire_script, [self.name, self.fence_key],
                                      [token, self._ttl_ms], timeout=self._reply_timeout(left, timeout)))
            except TRANSIENT:
                failures += 1
                left = None if deadline is None else deadline - self.clock.monotonic()
                if failures >= 3 or (left is not None and left <= 0):
                    raise  # outcome of the last try unknown; its lease (if any) ends by the TTL
                continue  # the same token again: the script returns our fence if the lost try won
            if fence:
                with self._state:
                    self._token, self.fence, self.renewals, self.lost = token, fence, 0, False
                    if self.watchdog:
                        self._start_watchdog()
                self._emit("acquire")
                return True
            if not blocking:
                return False
            delay = min(self.retry_cap, self.retry_base * (2 ** min(tries - 1, 30)))
            delay = self._rng.uniform(0, delay) if delay > 0 else 0.0
            if deadline is not None:
                left = deadline - self.clock.monotonic()
                if left <= 0:
                    return False
                delay = min(delay, left)
            if delay > 0:
                self.clock.sleep(delay)
            elif not isinstance(self.clock, RealClock):
                raise ValueError("retry_base=0 (retry immediately) needs a RealClock: spinning never lets a "
                                 "virtual clock advance, so the wait could not end")

    def _reply_timeout(self, left: float | None, timeout: float | None) -> float | None:
        """How long to wait for one reply: until the caller's deadline but at least :func:`reply_slack` (a try
        begun just before the deadline still gets a normal round trip), on a real clock; else the socket's."""
        if left is None or not isinstance(self.clock, RealClock):
            return None
        return max(reply_slack(timeout), left)

    def release(self) -> bool:
        """Release the lock (Lua compare-and-delete); stop the watchdog.

        Return True if our lease was still there and is now deleted; False, deleting nothing, when the
        lock is no longer ours (the lease ran out, maybe someone else holds it now) or was never acquired.
        The local state is cleared either way, so the object can ``acquire()`` again.
        """
        with self._state:
            token = self._token
            self._token = None
            stopper = self._detach_watchdog()
        stopper()  # joins a renewal in flight *before* the DEL, outside the state lock
        if token is None:
            return False
        ok = bool(eval_once(self.client, self._release_script, [self.name], [token]))
        if not ok:
            self.lost = True
        self._emit("release" if ok else "release-failed")
        return ok

    def extend(self, ttl: float | None = None) -> bool:
        """Reset the remaining lease to ``ttl`` seconds (default: the lock's ``ttl``), only if still ours
        (Lua compare-and-PEXPIRE). Return False, changing nothing, when the lock is not ours."""
        ms = self._ttl_ms if ttl is None else _ms("ttl", ttl)
        with self._state:
            token = self._token
        if token is None:
            return False
        return self._extend(token, ms)

    def _extend(self, token: str, ms: int) -> bool:
        ok = bool(self._extend_script(keys=[self.name], args=[token, ms]))
        with self._state:
            if self._token != token:  # released meanwhile: not a lost lease, just late
                return ok
            if not ok:
                self.lost = True
        self._emit("extend" if ok else "extend-failed")
        return ok

    def owned(self) -> bool:
        """True if the key currently holds this lock's token (one GET). Note: by the time you act on the
        answer the lease may have run out; the fence, not this check, protects the write."""
        with self._state:
            token = self._token
        return token is not None and _text(self.client.get(self.name)) == token

    def locked(self) -> bool:
        """True if anyone holds the lock (EXISTS)."""
        return bool(self.client.exists(self.name))

    @property
    def token(self) -> str | None:
        """This holding's random token, or None when not held."""
        return self._token

    @property
    def held(self) -> bool:
        """True between a successful ``acquire()`` and ``release()`` (what this client *believes*)."""
        return self._token is not None

    # -- context manager -------------------------------------------------------------------------
    def __enter__(self) -> "RedisLock":
        if not self.acquire(blocking=True, timeout=self.blocking_timeout):
            raise LockTimeout(f"could not acquire lock {self.name!r} within {self.blocking_timeout} s")
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        ok = self.release()
        if not ok and exc_type is None:
            raise LockLost(f"lock {self.name!r} was no longer ours at release: its lease ran out inside the "
                           f"critical section (fence {self.fence})")

    # -- watchdog --------------------------------------------------------------------------------
    @property
    def watchdog_thread(self) -> threading.Thread | None:
        """The running watchdog thread (RealClock only), or None."""
        return self._thread

    def _interval(self) -> float:
        return self.ttl / 3

    def _start_watchdog(self) -> None:  # called with self._state held
        token = self._token
        if isinstance(self.clock, RealClock):
            stop = threading.Event()
            self._stop = stop
            ref = weakref.ref(self)
            t = threading.Thread(target=_watchdog_loop, args=(ref, token, stop, self._interval()),
                                 name=f"hcedu-lock-watchdog-{self.name}-{next(_serial)}", daemon=True)
            self._thread = t
            t.start()
        else:
            self._timer = self.clock.after(self._interval(), self._renew_timer, token)

    def _detach_watchdog(self) -> Callable[[], None]:
        """Called with self._state held: cancel the timer, signal the thread; return a function that
        joins the thread (call it after dropping the state lock, the thread may be waiting for it)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        stop, t = self._stop, self._thread
        self._stop = self._thread = None
        if stop is not None:
            stop.set()

        def join() -> None:
            if t is not None and t is not threading.current_thread():
                t.join(timeout=10)
        return join

    def _renew_once(self, token: str) -> bool:
        """One watchdog renewal for the holding ``token``; False means stop renewing."""
        with self._state:
            if self._token != token:
                return False
            if self.max_renewals is not None and self.renewals >= self.max_renewals:
                self.lost = True  # nobody keeps the lease any more: it runs out within ttl
                return False
        try:
            ok = self._extend(token, self._ttl_ms)
        except redis.RedisError:
            ok = False
            with self._state:
                if self._token == token:
                    self.lost = True
        if ok:
            with self._state:
                self.renewals += 1
        return ok

    def _renew_timer(self, token: str) -> None:
        with self._state:
            if self._token != token:
                return
            self._timer = None
        if self._renew_once(token):
            with self._state:
                if self._token == token and self._timer is None:
                    self._timer = self.clock.after(self._interval(), self._renew_timer, token)

    def _emit(self, event: str) -> None:
        if self._on_event is not None:
            self._on_event(self, event)

    def __del__(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()

    def __repr__(self) -> str:
        state = f"held fence={self.fence}" if self._token else "not held"
        return f"<RedisLock {self.name!r} ttl={self.ttl:g}s {state}>"


def _watchdog_loop(ref: "weakref.ref[RedisLock]", token: str, stop: threading.Event, interval: float) -> None:
    """Body of the watchdog thread: renew every ``interval`` until stopped, the lease is lost, the renewal
    cap is reached, or the lock object is gone. Holds no strong reference to the lock between renewals."""
    while not stop.wait(interval):
        lock = ref()
        if lock is None:
            return
        try:
            if not lock._renew_once(token):
                return
        finally:
            del lock
