"""Redis session store with atomic sliding expiry (Spring Session's Redis repository; go-redis ``GETEX``/Lua).

What the source's Go middleware does in two round trips (``EXISTS`` then ``EXPIRE``), this store does in
one Lua script: check the session is alive **and** slide its deadline in the same step, so a session that
is logged out or expires in between can never be accepted (COURSE.md §5 item 7).

Keys (under a :class:`hcedu.backend.Keyspace`, all behind the one hash tag ``{sess}``):
  * ``...:{sess}:<sid>``        HASH  ``uid``, ``created_at``, ``last_seen``, ``expires_at``, optional
    ``absolute_at``, and one ``d:<name>`` field per data item (JSON-encoded);
  * ``...:{sess}:user:<uid>``   ZSET  the user's session ids ("log out everywhere") scored by a lower bound of
    their deadline (the deadline at creation: a touch only moves it later), cleaned lazily;
  * ``...:{sess}:expiry``       ZSET  sid -> ``expires_at`` (live count and sweeping);
  * ``...:sess-logout``         pub/sub channel for logout broadcasts.

Why a HASH, not one JSON string: :meth:`SessionStore.update` writes only the fields it names, so two
requests updating different fields never overwrite each other (a JSON blob needs read-modify-write), and
a touch rewrites two small fields, not the whole blob. The price: ``GETEX`` works on strings only, so the
sliding read is a Lua script (exercise 10 does the string + ``GETEX`` version).

Time (invariants):
  * the deadline is **data**: ``expires_at = min(now + ttl, absolute_at)`` on the injected clock, checked
    inside every script against the caller's ``now``. A session is live iff ``expires_at > now``;
  * the Redis key also gets a ``PEXPIRE`` of the remaining lifetime, so Redis frees memory by itself.
    With :class:`~hcedu.clock.RealClock` (the default, ``time.time()``) both deadlines coincide and the
    real-Redis path is the plain "TTL = 30 min idle" design. With a :class:`~hcedu.clock.VirtualClock` the
    data deadline decides (deterministic: a 4-hour simulation runs in a second) and the wall-clock TTL is
    only garbage collection, so use virtual TTLs longer than the run's wall time (seconds);
  * the app servers' clocks are the authority: servers whose clocks disagree expire sessions early or
    late by the skew (run NTP);
  * every mutation is one script, so a failed call (``redis.RedisError``, propagated unchanged) leaves the
    session as it was, and nothing ever re-creates a destroyed session.

Redis Cluster: every script gets every key it touches in ``KEYS`` (none is built inside Lua), and all of a
store's keys share one hash tag, so the store runs on a cluster -- in one slot, i.e. on one primary: the
expiry index is one ZSET that every touch updates, so the sessions cannot be spread without splitting it
(one store per shard, each with its own keyspace). Where a script needs the user's or the due session ids
it is given them: the method reads them first (one read), passes their keys, and the script re-checks
each against the index, so a concurrent change is never acted on blindly (``destroy_all`` and
``sessions_of`` start over if the user's index gained an id since the read).

:class:`NaiveSessionStore` is the source's EXISTS-then-EXPIRE middleware kept as a teaching foil: UNSAFE.
Keyspace ``expired`` events are not used for anything: they fire when Redis gets round to deleting the key,
travel over at-most-once pub/sub, and fakeredis never sends them (Spring Session needs a cleanup job
touching keys to make them fire at all).
"""

from __future__ import annotations

import json
import math
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import redis

from .. import _validate
from ..backend import Keyspace, connect
from ..clock import Clock, as_clock
from ._redisargs import resolve_keyspace

__all__ = ["Session", "SessionStore", "NaiveSessionStore", "LogoutListener", "new_sid", "valid_sid",
           "GET_LUA", "CREATE_LUA"]

#: a well-formed session id: what ``secrets.token_urlsafe`` produces (16..128 url-safe characters)
SID_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")

#: KEYS: sess, expiry. ARGV: now, mode ('peek' | 'touch'), sid, candidate deadline (now + ttl).
#: Returns the hash (flat list) of a live session, after sliding it in 'touch' mode; false otherwise.
GET_LUA = """
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then redis.call('ZREM', KEYS[2], ARGV[3]) return false end
local at = {}
for i = 1, #h, 2 do at[h[i]] = i + 1 end
local now = tonumber(ARGV[1])
if not at['expires_at'] or tonumber(h[at['expires_at']]) <= now then
  redis.call('DEL', KEYS[1]) redis.call('ZREM', KEYS[2], ARGV[3]) return false
end
if ARGV[2] == 'touch' then
  local new = ARGV[4]
  if at['absolute_at'] and tonumber(h[at['absolute_at']]) < tonumber(new) then new = h[at['absolute_at']] end
  redis.call('HSET', KEYS[1], 'last_seen', ARGV[1], 'expires_at', new)
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((tonumber(new) - now) * 1000)))
  redis.call('ZADD', KEYS[2], new, ARGV[3])
  h[at['last_seen']] = ARGV[1]
  h[at['expires_at']] = new
end
return h
"""

#: how many of the user's possibly-dead session ids one create examines (bounded work per login)
CLEANUP_BATCH = 32

#: KEYS: sess, user index, expiry, then the session keys of n candidate ids. ARGV: sid, now, deadline, pttl ms,
#: n, the n candidate ids, field/value pairs... The candidates are up to CLEANUP_BATCH of the user's ids whose
#: recorded deadline had passed when the caller read the index; each still due is examined: dead ones are
#: dropped, live ones (touched since) get their real deadline. Returns 0 on an id collision.
CREATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n = tonumber(ARGV[5])
redis.call('HSET', KEYS[1], unpack(ARGV, 6 + n))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
for i = 1, n do
  local s, k = ARGV[5 + i], KEYS[3 + i]
  local due = redis.call('ZSCORE', KEYS[2], s)
  if due and tonumber(due) <= tonumber(ARGV[2]) then
    local e = redis.call('HGET', k, 'expires_at')
    if not e or tonumber(e) <= tonumber(ARGV[2]) then
      redis.call('DEL', k) redis.call('ZREM', KEYS[3], s) redis.call('ZREM', KEYS[2], s)
    else
      redis.call('ZADD', KEYS[2], e, s)
    end
  end
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""

#: KEYS: sess. ARGV: now, field/value pairs... Writes only to a live session (never re-creates one).
UPDATE_LUA = """
local e = redis.call('HGET', KEYS[1], 'expires_at')
if not e or tonumber(e) <= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""

#: KEYS: sess, expiry. ARGV: sid, now. Returns 1 if a live session was destroyed.
DESTROY_LUA = """
local e = redis.call('HGET', KEYS[1], 'expires_at')
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
if e and tonumber(e) > tonumber(ARGV[2]) then return 1 end
return 0
"""

#: KEYS: user set, expiry, then the session key of every id the caller read from the user set. ARGV: now,
#: mode ('list' | 'destroy'), those ids (aligned with KEYS[3..]). Returns -1, changing nothing, if the set now
#: holds an id the caller did not pass (read it again). Dead sids are removed on the way; 'list' returns
#: {sid, hash, ...}, 'destroy' the number of live ones removed.
USER_LUA = """
local present = 0
for i = 3, #KEYS do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then present = present + 1 end
end
if redis.call('ZCARD', KEYS[1]) ~= present then return -1 end
local out, n = {}, 0
for i = 3, #KEYS do
  local s, k = ARGV[i], KEYS[i]
  local e = redis.call('HGET', k, 'expires_at')
  local live = e and tonumber(e) > tonumber(ARGV[1])
  if not live or ARGV[2] == 'destroy' then
    redis.call('DEL', k) redis.call('ZREM', KEYS[2], s) redis.call('ZREM', KEYS[1], s)
    if live then n = n + 1 end
  else
    table.insert(out, s) table.insert(out, redis.call('HGETALL', k))
  end
end
if ARGV[2] == 'destroy' then return n end
return out
"""

#: KEYS: expiry, then the session keys of the ids the caller found due. ARGV: now, those ids (aligned with
#: KEYS[2..]). Deletes each session still due in the index (not touched since the read); returns how many.
SWEEP_LUA = """
local n = 0
for i = 2, #KEYS do
  local e = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if e and tonumber(e) <= tonumber(ARGV[1]) then
    redis.call('DEL', KEYS[i]) redis.call('ZREM', KEYS[1], ARGV[i]) n = n + 1
  end
end
return n
"""

#: how many ids one sweep script call is given (a bounded script run, however large ``limit`` is)
SWEEP_CHUNK = 500

#: how often destroy_all/sessions_of read the user's index again when logins keep changing it under them
USER_RETRIES = 20

_META = ("uid", "created_at", "last_seen", "expires_at", "absolute_at")


def new_sid() -> str:
    """A fresh session id: 32 random bytes from ``secrets`` (256 bits), url-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def valid_sid(sid: Any) -> bool:
    """True if ``sid`` is a str shaped like a session id. Anything else is not a session (never a key)."""
    return isinstance(sid, str) and SID_RE.fullmatch(sid) is not None


def _sid_arg(sid: Any) -> str:
    if not isinstance(sid, str):
        raise TypeError(f"sid must be a str (got {type(sid).__name__}: {sid!r})")
    return sid


def _user(user_id: Any) -> str:
    return _validate.key_part("user_id", user_id)


def _data_args(data: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for k, v in data.items():
        _validate.text("data key", k)
        try:
            args += [f"d:{k}", json.dumps(v, separators=(",", ":"), sort_keys=True)]
        except (TypeError, ValueError) as exc:
            raise TypeError(f"session data {k!r} must be JSON-serializable ({exc})") from None
    return args


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


@dataclass(frozen=True)
class Session:
    """A snapshot of one session as read from Redis (times on the store's clock)."""

    sid: str
    user_id: str | None
    created_at: float
    last_seen: float
    expires_at: float
    absolute_at: float | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def remaining(self, now: float) -> float:
        """Seconds of life left at ``now`` (0 if expired), as of this snapshot."""
        return max(0.0, self.expires_at - _validate.number("now", now))

    @classmethod
    def from_flat(cls, sid: str, flat: list[Any]) -> "Session":
        pairs = {_s(flat[i]): _s(flat[i + 1]) for i in range(0, len(flat), 2)}
        return cls.from_hash(sid, pairs)

    @classmethod
    def from_hash(cls, sid: str, h: dict[str, str]) -> "Session":
        def num(name: str) -> float:
            return float(h[name]) if name in h else math.nan

        data = {k[2:]: json.loads(v) for k, v in sorted(h.items()) if k.startswith("d:")}
        return cls(sid, h.get("uid"), num("created_at"), num("last_seen"), num("expires_at"),
                   float(h["absolute_at"]) if "absolute_at" in h else None, data)


class SessionStore:
    """Sessions in Redis with atomic sliding expiry, an optional absolute cap, and "log out everywhere".

    ``ttl``: idle timeout in clock seconds (> 0): every :meth:`get`/:meth:`touch` of a live session pushes
    its deadline to ``now + ttl``. ``absolute_ttl``: optional hard cap (> 0) from creation, whatever the
    activity (re-authenticate at least this often). ``client``: a redis-py client (default
    :func:`hcedu.backend.connect`); ``keyspace``: a :class:`Keyspace` (default ``Keyspace("sessions")``);
    ``clock``: time source (default :class:`~hcedu.clock.RealClock`; see the module docstring).

    Errors: bad arguments raise ``TypeError``/``ValueError`` before touching Redis; a ``str`` that is not a
    well-formed session id is simply not a session (``get`` -> None, ``destroy`` -> False), because it comes
    from a cookie an attacker controls. Redis errors propagate; each method writes in one script (``create``,
    ``destroy_all``, ``sessions_of`` and ``sweep`` first read the ids it needs), so a failed call changes nothing.
    """

    def __init__(self, client: redis.Redis | None = None, *, ttl: float, keyspace: Keyspace | None = None,
                 clock: Clock | None = None, absolute_ttl: float | None = None) -> None:
        self.ttl = _validate.number("ttl", ttl, minimum=0, strict=True)
        self.absolute_ttl = (None if absolute_ttl is None
                             else _validate.number("absolute_ttl", absolute_ttl, minimum=0, strict=True))
        self.clock = as_clock(clock)
        self.client, self.keyspace = resolve_keyspace(client, keyspace, "sessions")
        base = self.keyspace.tagged("sess")  # every key of the store shares this hash tag (one cluster slot)
        self.prefix = base + ":"
        self.expiry_key = base + ":expiry"
        self.channel = self.keyspace.key("sess-logout")
        self._get = self.client.register_script(GET_LUA)
        self._create = self.client.register_script(CREATE_LUA)
        self._update = self.client.register_script(UPDATE_LUA)
        self._destroy = self.client.register_script(DESTROY_LUA)
        self._user = self.client.register_script(USER_LUA)
        self._sweep = self.client.register_script(SWEEP_LUA)

    def key(self, sid: str) -> str:
        """The Redis key of session ``sid``."""
        return self.prefix + _validate.text("sid", sid)

    def user_key(self, user_id: str | int) -> str:
        """The Redis ZSET holding ``user_id``'s session ids (scored by a lower bound of their deadline)."""
        return f"{self.prefix}user:{_user(user_id)}"  # a sid has no ':', so never collides with a session key

    # -- lifecycle ---------------------------------------------------------------------------------
    def create(self, user_id: str | int, data: dict[str, Any] | None = None) -> str:
        """Log ``user_id`` in: store a new session with ``data`` (JSON-serializable values) and return its id,
        a fresh 256-bit random :func:`new_sid`. Also drops up to :data:`CLEANUP_BATCH` of the user's dead
        session ids from its index: the work per login is bounded, however many sessions the user has.
        """
        uid = _user(user_id)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise TypeError(f"data must be a dict (got {type(data).__name__})")
        fields = _data_args(data)
        now = self.clock.now()
        deadline = now + self.ttl
        absolute = None if self.absolute_ttl is None else now + self.absolute_ttl
        if absolute is not None:
            deadline = min(deadline, absolute)
        meta = ["uid", uid, "created_at", repr(now), "last_seen", repr(now), "expires_at", repr(deadline)]
        if absolute is not None:
            meta += ["absolute_at", repr(absolute)]
        pttl = max(1, math.ceil((deadline - now) * 1000))
        user_key = self.user_key(uid)
        due = [_s(x) for x in self.client.zrange(user_key, "-inf", repr(now), byscore=True, offset=0,
                                                  num=CLEANUP_BATCH)]
        for _ in range(3):  # a collision of 256-bit ids does not happen; retrying costs nothing
            sid = new_sid()
            if self._create(keys=[self.key(sid), user_key, self.expiry_key, *map(self.key, due)],
                            args=[sid, repr(now), repr(deadline), pttl, len(due), *due, *meta, *fields]):
                return sid
        raise RuntimeError("could not allocate a unique session id")  # pragma: no cover

    def get(self, sid: str, touch: bool = True) -> Session | None:
        """The live session ``sid``, or None (unknown, expired, destroyed, malformed id).

        With ``touch=True`` (the middleware's call) the same script that finds it alive slides its deadline
        to ``min(now + ttl, absolute_at)``: the check and the act are one atomic step. ``touch=False``
        only reads. An expired session found on the way is deleted.
        """
        if not valid_sid(_sid_arg(sid)):
            return None
        now = self.clock.now()
        flat = self._get(keys=[self.key(sid), self.expiry_key],
                         args=[repr(now), "touch" if touch else "peek", sid, repr(now + self.ttl)])
        return Session.from_flat(sid, flat) if flat else None

    def touch(self, sid: str) -> bool:
        """Slide ``sid``'s deadline; True if it was live (and now is), False otherwise."""
        return self.get(sid, touch=True) is not None

    def update(self, sid: str, **data: Any) -> bool:
        """Set data fields of a live session (only those named; others untouched). False, and nothing
        written, if the session is gone: an update never re-creates a logged-out session."""
        if not valid_sid(_sid_arg(sid)):
            return False
        if not data:
            return self.get(sid, touch=False) is not None
        return bool(self._update(keys=[self.key(sid)], args=[repr(self.clock.now()), *_data_args(data)]))

    def destroy(self, sid: str) -> bool:
        """Log one session out (DEL). True if a live session was removed. The user index forgets it lazily."""
        if not valid_sid(_sid_arg(sid)):
            return False
        return bool(self._destroy(keys=[self.key(sid), self.expiry_key], args=[sid, repr(self.clock.now())]))

    def _user_script(self, user_id: str | int, mode: str) -> Any:
        """Read the user's ids, then run USER_LUA on exactly their keys; again if the index changed meanwhile."""
        user_key = self.user_key(user_id)
        for _ in range(USER_RETRIES):
            sids = [_s(x) for x in self.client.zrange(user_key, 0, -1)]
            out = self._user(keys=[user_key, self.expiry_key, *map(self.key, sids)],
                             args=[repr(self.clock.now()), mode, *sids])
            if not (isinstance(out, int) and out < 0):
                return out
        raise RuntimeError(f"the sessions of {user_id!r} kept changing during {USER_RETRIES} tries; try again")

    def destroy_all(self, user_id: str | int) -> int:
        """Log ``user_id`` out everywhere, atomically (one script over the ids read just before it, run
        again if a login added one in between); returns how many live sessions were removed."""
        return int(self._user_script(user_id, "destroy"))

    def sessions_of(self, user_id: str | int) -> list[Session]:
        """``user_id``'s live sessions (oldest first), without touching them; dead ids are dropped on the way."""
        flat = self._user_script(user_id, "list")
        found = [Session.from_flat(_s(flat[i]), flat[i + 1]) for i in range(0, len(flat), 2)]
        return sorted(found, key=lambda s: (s.created_at, s.sid))

    def live_count(self) -> int:
        """How many sessions are live now (ZCOUNT of the expiry index above ``now``)."""
        return int(self.client.zcount(self.expiry_key, f"({self.clock.now()!r}", "+inf"))

    def sweep(self, limit: int = 10_000) -> int:
        """Delete up to ``limit`` expired sessions now (Redis frees them by itself on a real clock; on a
        VirtualClock their wall-clock TTL is far away). Returns how many were deleted."""
        limit = _validate.integer("limit", limit, minimum=1, maximum=100_000)
        now = repr(self.clock.now())
        due = [_s(x) for x in self.client.zrange(self.expiry_key, "-inf", now, byscore=True, offset=0, num=limit)]
        deleted = 0
        for i in range(0, len(due), SWEEP_CHUNK):
            ids = due[i:i + SWEEP_CHUNK]
            deleted += int(self._sweep(keys=[self.expiry_key, *map(self.key, ids)], args=[now, *ids]))
        return deleted

    # -- logout broadcast --------------------------------------------------------------------------
    def publish_logout(self, sid: str) -> int:
        """PUBLISH ``sid`` on the logout channel so every :class:`LogoutListener` evicts it from its local
        cache. Returns how many subscribers received it. At-most-once: a listener that is disconnected
        misses it, so local caches must also have a short TTL and flush on reconnect."""
        _validate.text("sid", sid)
        return int(self.client.publish(self.channel, sid))

    def logout(self, sid: str) -> bool:
        """:meth:`destroy` then :meth:`publish_logout`; returns what ``destroy`` returned."""
        removed = self.destroy(sid)
        if valid_sid(sid):
            self.publish_logout(sid)
        return removed

    def __repr__(self) -> str:
        cap = "" if self.absolute_ttl is None else f", absolute_ttl={self.absolute_ttl:g}"
        return f"<SessionStore {self.keyspace.prefix} ttl={self.ttl:g}{cap}>"


class NaiveSessionStore(SessionStore):
    """UNSAFE, teaching foil: the source's Go middleware, ``Exists`` then ``Expire`` in two round trips.

    ``get`` runs ``EXISTS`` (reject if 0), then ``PEXPIRE`` ignoring its result, then reads the hash, and
    returns a Session even when the key vanished in between (logged out by another request or server,
    or expired): the request is let in on a dead session (``user_id`` None, empty data). It checks only
    Redis's own TTL, not the stored deadline, exactly like the source. ``between(sid)`` is called between
    the two commands so a demo can script the interleaving. ``accepted_dead`` counts the requests it let
    in although its own EXPIRE had answered 0 (key gone), which the source never looks at.
    """

    def __init__(self, client: redis.Redis | None = None, *, ttl: float, keyspace: Keyspace | None = None,
                 clock: Clock | None = None, absolute_ttl: float | None = None,
                 between: Callable[[str], Any] | None = None) -> None:
        super().__init__(client, ttl=ttl, keyspace=keyspace, clock=clock, absolute_ttl=absolute_ttl)
        self.between = None if between is None else _validate.function("between", between)
        self.accepted_dead = 0
        self._count_lock = threading.Lock()

    def get(self, sid: str, touch: bool = True) -> Session | None:
        if not valid_sid(_sid_arg(sid)):
            return None
        key = self.key(sid)
        if not self.client.exists(key):  # 1. check
            return None
        if self.between is not None:
            self.between(sid)
        slid = self.client.pexpire(key, max(1, math.ceil(self.ttl * 1000)))  # 2. act (the source ignores this)
        if not slid:
            with self._count_lock:
                self.accepted_dead += 1
        h = {_s(k): _s(v) for k, v in self.client.hgetall(key).items()}
        return Session.from_hash(sid, h)


class LogoutListener:
    """A pub/sub subscriber thread that evicts logged-out sids from an in-process cache.

    Runs on a daemon thread named ``hcedu-session-logout``; :meth:`close` stops it (bounded join).
    ``cache`` is any mapping with ``pop`` (default a new dict, available as ``.cache``); ``on_logout(sid)``
    is called after each eviction. Pub/sub is at-most-once: a message published while this listener is
    disconnected is lost, so on every (re)subscribe confirmation the whole cache is flushed, and the
    cache's own entries should carry a short TTL as a backstop.
    """

    def __init__(self, store: SessionStore, cache: Any = None, *,
                 on_logout: Callable[[str], Any] | None = None, poll: float = 0.05) -> None:
        if not isinstance(store, SessionStore):
            raise TypeError(f"store must be a SessionStore (got {type(store).__name__})")
        self.store = store
        self.cache = {} if cache is None else cache
        if not hasattr(self.cache, "pop"):
            raise TypeError(f"cache must have pop(key, default) (got {type(self.cache).__name__})")
        self.on_logout = None if on_logout is None else _validate.function("on_logout", on_logout)
        self.poll = _validate.number("poll", poll, minimum=0, strict=True, maximum=5)
        self.evicted = 0
        self.flushes = 0
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._pubsub = store.client.pubsub(ignore_subscribe_messages=False)
        self._pubsub.subscribe(store.channel)
        self._thread = threading.Thread(target=self._run, name="hcedu-session-logout", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self._pubsub.get_message(timeout=self.poll)
            except (redis.ConnectionError, ValueError, AttributeError):  # closed under us, or connection lost
                if self._stop.is_set():
                    return
                self._stop.wait(self.poll)
                continue
            if msg is None:
                continue
            if msg["type"] == "subscribe":  # (re)connected: anything published meanwhile is lost: flush
                self._flush()
                self._ready.set()
            elif msg["type"] == "message":
                sid = _s(msg["data"])
                self.cache.pop(sid, None)
                self.evicted += 1
                if self.on_logout is not None:
                    self.on_logout(sid)

    def _flush(self) -> None:
        clear = getattr(self.cache, "clear", None)
        if clear is not None:
            clear()
        self.flushes += 1

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """Block until the subscription is confirmed (True) or ``timeout`` passes (False)."""
        return self._ready.wait(_validate.number("timeout", timeout, minimum=0))

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread (within about ``poll`` seconds) and close the subscription; idempotent."""
        self._stop.set()
        self._thread.join(timeout)
        try:
            self._pubsub.close()
        except redis.RedisError:  # pragma: no cover - closing a broken connection
            pass

    def __enter__(self) -> "LogoutListener":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
