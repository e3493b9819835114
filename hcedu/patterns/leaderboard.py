"""Redis ZSET leaderboard (``ZINCRBY`` / ``ZRANGE … REV`` / ``ZREVRANK``; go-redis ``ZIncrBy``, ``ZRangeArgs{Rev: true}``).

``ZRANGE … REV`` (Redis 6.2+) replaces ``ZREVRANGE``, deprecated since 6.2.

A real-time board: players score points, anyone asks for the top N, a page, their own rank or the players
around them. Redis keeps a sorted set (a skiplist + hash; a listpack while small), so every one of those
queries is O(log N + M) however large the board grows.

Two orderings (``tie_break``):

* ``"none"`` -- the score *is* the points (``ZINCRBY``). Equal scores sort **lexicographically by member**,
  so under ``ZRANGE … REV`` ``bob`` ranks above ``alice`` whoever got there first.
* ``"earliest"`` (default) -- whoever reached a total first ranks first. The stored score is the composite
  ``points * 2**time_bits + (max_tick - tick)`` (see :class:`Composite`): more points always win, and on equal
  points the larger remainder (the earlier tick) wins. An update re-encodes with the time of *that* update,
  in one Lua script (decode, add, re-encode, ZADD), so concurrent adds never lose points.

Invariants:
  * every stored composite score is an integer below ``2**53``, so the IEEE double Redis keeps is exact; a
    write that would leave the budget raises ``ValueError`` (client side) or a ``redis.ResponseError`` from
    the script (server side, board unchanged);
  * ``add`` is atomic under any number of concurrent writers (``ZINCRBY`` or one script);
  * ranks are 1-based; an absent member has rank/score ``None`` and an empty ``around``;
  * ``around`` reads rank and neighbours in one script, so the window always contains the member;
  * with ``period="daily"``/``"weekly"`` writes go to the board of the current period (from the injected
    clock, UTC); :meth:`Leaderboard.rotate` deletes boards older than ``keep`` periods, and each board also
    gets a relative ``EXPIRE`` as a backstop; :meth:`Leaderboard.merge` builds "the last N periods".

:meth:`Leaderboard.add_naive` is the broken read-modify-write (``ZSCORE`` then ``ZADD``) kept as a teaching
foil: two writers that read before either writes lose one update.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
from typing import Any, Callable, Iterable, NamedTuple

import redis

from .. import _validate
from ..backend import Keyspace
from ..clock import Clock, as_clock
from ._redisargs import resolve_keyspace
from ._once import eval_once, retry_idempotent, with_request_id

__all__ = ["Leaderboard", "Entry", "Composite", "EXACT_BITS", "MAX_EXACT", "ADD_LUA", "AROUND_LUA", "MERGE_LUA",
           "PERIODS"]

#: an IEEE double holds every integer up to 2**53 exactly; past it, neighbouring integers collide
EXACT_BITS = 53
MAX_EXACT = 2 ** EXACT_BITS

#: period name -> length in seconds (``"all"``: one board forever)
PERIODS = {"all": None, "daily": 86_400, "weekly": 7 * 86_400}

#: the largest top/page/around window one call may return
MAX_WINDOW = 10_000
#: the instants a period label can name (datetime's range: 0001-01-01 .. 9999-12-31 UTC)
MIN_T, MAX_T = -62_135_596_800.0, 253_402_300_799.0

#: KEYS: board. ARGV: member, delta, base (2**time_bits), code of now (max_tick - tick), max points, ttl (0 = none).
#: Decode the member's points, add, re-encode with this update's time. Returns the new points.
#: string.format('%.0f') keeps all digits: Lua 5.1's default number-to-string is '%.14g', which rounds
#: scores above 1e14 on Redis versions that use it.
ADD_LUA = """
local base = tonumber(ARGV[3])
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
local pts = 0
if s then pts = math.floor(tonumber(s) / base) end
local new = pts + tonumber(ARGV[2])
if new < 0 or new > tonumber(ARGV[5]) then
  return redis.error_reply('points out of range: ' .. string.format('%.0f', new) .. ' not in 0..' .. ARGV[5])
end
redis.call('ZADD', KEYS[1], string.format('%.0f', new * base + tonumber(ARGV[4])), ARGV[1])
if tonumber(ARGV[6]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[6]) end
return new
"""

#: KEYS: board. ARGV: member, delta, max points ('' = none), ttl (0 = none). ``tie_break="none"``: ZINCRBY
#: with the range check inside the script (nothing to undo), so one add is one atomic step.
ADD_PLAIN_LUA = """
local new = tonumber(redis.call('ZINCRBY', KEYS[1], ARGV[2], ARGV[1]))
if ARGV[3] ~= '' and (new > tonumber(ARGV[3]) or new < -tonumber(ARGV[3])) then
  redis.call('ZINCRBY', KEYS[1], -tonumber(ARGV[2]), ARGV[1])
  return redis.error_reply('points out of range: ' .. string.format('%.17g', new) .. ' not in -' .. ARGV[3] .. '..' .. ARGV[3])
end
if tonumber(ARGV[4]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
return string.format('%.17g', new)
"""

#: KEYS: board. ARGV: member, k. Returns {rank0, member, score, member, score, ...} or {} if absent.
AROUND_LUA = """
local r = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not r then return {} end
local k = tonumber(ARGV[2])
local lo = r - k
if lo < 0 then lo = 0 end
local out = {lo}
local rows = redis.call('ZRANGE', KEYS[1], lo, r + k, 'REV', 'WITHSCORES')
for _, v in ipairs(rows) do out[#out + 1] = v end
return out
"""

#: KEYS: dest, sources... ARGV: base, max points, ttl. Sum decoded points over the sources; the merged tie
#: code is the smallest (= the latest update), so a tie on the merged board goes to whoever finished first.
#: O(total members) in one script: fine for daily boards of thousands, not for millions (see merge()).
MERGE_LUA = """
local base = tonumber(ARGV[1])
local pts, code = {}, {}
for i = 2, #KEYS do
  local rows = redis.call('ZRANGE', KEYS[i], 0, -1, 'WITHSCORES')
  for j = 1, #rows, 2 do
    local m, s = rows[j], tonumber(rows[j + 1])
    local p = math.floor(s / base)
    local c = s - p * base
    pts[m] = (pts[m] or 0) + p
    if code[m] == nil or c < code[m] then code[m] = c end
  end
end
redis.call('DEL', KEYS[1])
local n = 0
for m, p in pairs(pts) do
  if p > tonumber(ARGV[2]) then
    redis.call('DEL', KEYS[1])
    return redis.error_reply('merged points out of range for ' .. m)
  end
  redis.call('ZADD', KEYS[1], string.format('%.0f', p * base + code[m]), m)
  n = n + 1
end
if n > 0 and tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return n
"""


class Entry(NamedTuple):
    """One row of a board: 1-based ``rank``, ``member`` and its ``points`` (decoded from the score)."""

    rank: int
    member: str
    points: float


class Composite:
    """Pack (points, time) into one ZSET score so that equal points rank earliest-first.

    ``score = points * 2**time_bits + (max_tick - tick)`` with ``tick = floor((t - epoch) / resolution)``
    and ``max_tick = 2**time_bits - 1``.

    The bit budget: a Redis score is an IEEE-754 double, whose 53-bit significand holds every integer
    below ``2**53`` exactly. The low ``time_bits`` hold the inverted tick, the high ``53 - time_bits`` the
    points, so ``max_points = 2**(53 - time_bits) - 1`` and the largest score is ``2**53 - 1``. With the
    defaults (``time_bits=32``, 1-second ticks) times span 136 years from ``epoch`` and points reach
    2,097,151; with ``time_bits=41`` and millisecond ticks (``resolution=0.001``) 69 years and 4,095 points.
    Past ``2**53`` the double rounds to a neighbouring even integer: the time field is corrupted first, and
    ties silently fall back to lexicographic order -- so :meth:`encode` refuses instead (``ValueError``).

    ``max_points`` may be set lower than the budget allows (to reserve room), never higher.
    """

    def __init__(self, time_bits: int = 32, *, max_points: int | None = None, epoch: float = 0.0,
                 resolution: float = 1.0) -> None:
        self.time_bits = _validate.integer("time_bits", time_bits, minimum=1, maximum=EXACT_BITS - 1)
        self.base = 2 ** self.time_bits
        self.max_tick = self.base - 1
        budget = 2 ** (EXACT_BITS - self.time_bits) - 1
        if max_points is None:
            max_points = budget
        max_points = _validate.integer("max_points", max_points, minimum=1)
        if max_points > budget:
            raise ValueError(f"max_points must be <= {budget} = 2**(53 - time_bits) - 1 with time_bits={self.time_bits}"
                             f" (got {max_points}): points * 2**{self.time_bits} would pass 2**53")
        self.max_points = max_points
        self.epoch = _validate.number("epoch", epoch)
        self.resolution = _validate.number("resolution", resolution, minimum=0, strict=True)

    def tick(self, t: float) -> int:
        """The integer tick of time ``t``; ``ValueError`` if it is before ``epoch`` or past ``max_tick``."""
        t = _validate.number("t", t)
        tick = math.floor((t - self.epoch) / self.resolution)
        if not 0 <= tick <= self.max_tick:
            raise ValueError(f"t must be within [epoch, epoch + {self.max_tick} * resolution] = "
                             f"[{self.epoch:g}, {self.epoch + self.max_tick * self.resolution:g}] (got {t!r}): "
                             f"time_bits={self.time_bits} is too small for it")
        return tick

    def encode_tick(self, points: int, tick: int) -> int:
        """Score for ``points`` at integer ``tick`` (an exact int below 2**53)."""
        points = _validate.integer("points", points, minimum=0, maximum=self.max_points)
        tick = _validate.integer("tick", tick, minimum=0, maximum=self.max_tick)
        return points * self.base + (self.max_tick - tick)

    def encode(self, points: int, t: float) -> int:
        """Score for ``points`` reached at time ``t``."""
        return self.encode_tick(points, self.tick(t))

    def decode_tick(self, score: float) -> tuple[int, int]:
        """``(points, tick)`` of a stored score; ``ValueError`` if it is not an exact in-budget integer."""
        score = _validate.number("score", score, minimum=0)
        if score >= MAX_EXACT or score != math.floor(score):
            raise ValueError(f"score must be an integer in [0, 2**53) (got {score!r}): not a composite score")
        s = int(score)
        points, code = divmod(s, self.base)
        return points, self.max_tick - code

    def decode(self, score: float) -> tuple[int, float]:
        """``(points, t)`` of a stored score, ``t`` being the start of its tick."""
        points, tick = self.decode_tick(score)
        return points, self.epoch + tick * self.resolution

    def __repr__(self) -> str:
        return (f"Composite(time_bits={self.time_bits}, max_points={self.max_points}, epoch={self.epoch:g}, "
                f"resolution={self.resolution:g})")


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _member(value: Any) -> str:
    return _validate.key_part("member", value)


#: how long (ms) a request id of :meth:`Leaderboard.add` is remembered
_DEDUP_MS = 86_400_000


def _request_id(value: Any) -> str:
    return _validate.key_part("request_id", value)


def _plain(v: float) -> float:
    return int(v) if float(v).is_integer() else float(v)


class Leaderboard:
    """A Redis ZSET leaderboard with time tie-break, pages, around-me and daily/weekly rotation.

    ``name`` picks the board inside ``keyspace`` (default ``Keyspace("leaderboard")``); ``client`` is a
    redis-py client (default :func:`hcedu.backend.connect`); ``clock`` supplies the time of every write
    (the tie-break) and the current period. ``tie_break="earliest"`` stores :class:`Composite` scores
    (``time_bits``, ``max_score`` = the largest points total, ``epoch``, ``resolution`` as there; points
    are integers ``0..max_score``); ``"none"`` stores the points themselves (any finite number).
    ``period`` is ``"all"``, ``"daily"`` or ``"weekly"`` (UTC periods of the clock's time); ``keep`` is
    how many periods :meth:`rotate` keeps, and sets the backstop ``EXPIRE``.

    Errors: bad arguments raise ``TypeError``/``ValueError`` before touching Redis; a write that would push
    a total outside ``0..max_score`` raises ``ValueError`` and leaves the board unchanged; Redis errors
    propagate unchanged.
    """

    def __init__(self, name: str = "board", *, client: redis.Redis | None = None, keyspace: Keyspace | None = None,
                 clock: Clock | None = None, tie_break: str = "earliest", time_bits: int = 32,
                 max_score: int | None = None, epoch: float = 0.0, resolution: float = 1.0,
                 period: str = "all", keep: int = 8) -> None:
        _validate.text("name", name)
        if any(ch in name for ch in "*?[]:"):
            raise ValueError(f"name must not contain *?[]: (got {name!r})")
        self.tie_break = _validate.choice("tie_break", tie_break, ("earliest", "none"))
        self.period = _validate.choice("period", period, tuple(PERIODS))
        self.keep = _validate.integer("keep", keep, minimum=1, maximum=10_000)
        self.clock = as_clock(clock)
        self.client, self.keyspace = resolve_keyspace(client, keyspace, "leaderboard")
        self.name = name
        try:
            self.codec = (Composite(time_bits, max_points=max_score, epoch=epoch, resolution=resolution)
                          if tie_break == "earliest" else None)
        except (TypeError, ValueError) as exc:  # Composite says max_points; here the argument is max_score
            raise type(exc)(str(exc).replace("max_points", "max_score")) from None
        if self.codec is None and max_score is not None:
            self.max_score = _validate.number("max_score", max_score, minimum=0, strict=True)
        else:
            self.max_score = self.codec.max_points if self.codec else None
        self.periods_key = self.keyspace.tagged("lb", name) + ":periods"  # every key of the board shares this hash tag
        self._add = self.client.register_script(ADD_LUA)
        self._add_plain = self.client.register_script(ADD_PLAIN_LUA)
        self._add_rid = self.client.register_script(with_request_id(ADD_LUA))
        self._add_plain_rid = self.client.register_script(with_request_id(ADD_PLAIN_LUA))
        self._around = self.client.register_script(AROUND_LUA)
        self._merge = self.client.register_script(MERGE_LUA)

    # -- keys and periods ------------------------------------------------------------------------
    @property
    def _base(self) -> str:
        """Every key of this leaderboard starts with it: one hash tag, so a merge's keys share a cluster slot."""
        return self.keyspace.tagged("lb", self.name)

    def _board(self, label: str) -> str:
        return f"{self._base}:{label}"

    def period_key(self, t: float | None = None) -> str:
        """The period label of time ``t`` (default now): ``"all"``, ``"2026-11-25"`` or ``"2026-W48"`` (ISO week, UTC)."""
        t = self.clock.now() if t is None else _t(t)
        if self.period == "all":
            return "all"
        day = _dt.datetime.fromtimestamp(t, tz=_dt.timezone.utc)
        if self.period == "daily":
            return day.strftime("%Y-%m-%d")
        return day.strftime("%G-W%V")

    def period_start(self, t: float | None = None) -> float:
        """Start (clock seconds, UTC) of the period containing ``t``; ``-inf`` for ``"all"``."""
        t = self.clock.now() if t is None else _t(t)
        length = PERIODS[self.period]
        if length is None:
            return float("-inf")
        if self.period == "daily":
            return math.floor(t / 86_400) * 86_400.0
        day = math.floor(t / 86_400)
        monday = day - (day + 3) % 7  # 1970-01-01 was a Thursday
        return monday * 86_400.0

    def key(self, period: str | None = None) -> str:
        """The Redis key of the board for ``period`` (a label from :meth:`period_key`; default: now)."""
        label = self.period_key() if period is None else _validate.text("period", period)
        return self._board(label)

    def _ttl(self, t: float) -> int:
        length = PERIODS[self.period]
        if length is None:
            return 0
        end = self.period_start(t) + length
        return max(1, math.ceil(end + self.keep * length - t))

    def _touch(self, t: float) -> str:
        """The current board's key; registers the period so rotate() can find it."""
        label = self.period_key(t)
        if self.period != "all":
            self.client.zadd(self.periods_key, {label: self.period_start(t)})
        return self._board(label)

    # -- writes ----------------------------------------------------------------------------------
    def _points(self, name: str, value: Any, *, signed: bool) -> float:
        if self.codec is not None:
            v = _validate.integer(name, value)
            if not signed and v < 0:
                raise ValueError(f"{name} must be >= 0 (got {v})")
            if abs(v) > self.codec.max_points:
                raise ValueError(f"{name} must be within ±{self.codec.max_points} (max_score) (got {v})")
            return v
        bound = self.max_score if self.max_score is not None else MAX_EXACT
        v = _validate.number(name, value, minimum=-bound if signed else 0, maximum=bound)
        if isinstance(value, numbers.Integral) and abs(int(value)) > MAX_EXACT:  # pragma: no cover - bound covers
            raise ValueError(f"{name} must be within ±2**53 (got {value})")
        return v

    def add(self, member: str | int, points: int | float, *, request_id: str | int | None = None) -> float:
        """Add ``points`` (may be negative) to ``member``'s total, creating it at 0; returns the new total.

        Atomic: one Lua script (``ZINCRBY`` for ``tie_break="none"``; for ``"earliest"`` decode the member's
        score, add, and re-encode with the time of this call). A total that would leave ``0..max_score``
        (``±max_score``, or ±2**53 where doubles stop being exact, for ``"none"``) raises ``ValueError`` and
        changes nothing. Sent once: a lost reply raises ``redis.ConnectionError`` (the add happened once or
        not at all). With ``request_id`` it is idempotent (a marker ``<board>:req:<id>`` is written with it,
        kept one day) and retried on a connection error; a repeat returns the first result.
        """
        m = _member(member)
        delta = self._points("points", points, signed=True)
        rid = None if request_id is None else _request_id(request_id)
        t = self.clock.now()
        key = self._touch(t)
        ttl = self._ttl(t)
        bound = self.max_score if self.max_score is not None else MAX_EXACT
        if self.codec is None:
            script = self._add_plain if rid is None else self._add_plain_rid
            args = [m, repr(float(delta)), repr(float(bound)), ttl]
        else:
            code = self.codec.max_tick - self.codec.tick(t)
            script = self._add if rid is None else self._add_rid
            args = [m, int(delta), self.codec.base, code, self.codec.max_points, ttl]
        keys = [key] if rid is None else [key, f"{key}:req:{rid}"]
        if rid is not None:
            args.append(_DEDUP_MS)
        run = (lambda: eval_once(self.client, script, keys, args))
        try:
            res = run() if rid is None else retry_idempotent(run)
        except redis.ResponseError as exc:
            if "points out of range" in str(exc):
                limit = f"0..{self.codec.max_points}" if self.codec else f"±{bound:g}"
                raise ValueError(f"points total must stay within {limit} (max_score): "
                                 f"{str(exc).split(': ', 1)[-1]}") from None
            raise
        return int(res) if self.codec is not None else _plain(float(res))

    def add_naive(self, member: str | int, points: int, *, between: Callable[[], Any] | None = None) -> float:
        """The broken read-modify-write: ``ZSCORE``, add in the client, ``ZADD``. Teaching foil only.

        Two writers that both read before either writes both write ``old + their points``: one update is
        lost. ``between()`` is called between the read and the write so a demo can line writers up.
        """
        m = _member(member)
        delta = self._points("points", points, signed=True)
        if between is not None:
            _validate.function("between", between)
        t = self.clock.now()
        key = self._touch(t)
        raw = self.client.zscore(key, m)
        old = self._decode_points(raw) if raw is not None else 0
        if between is not None:
            between()
        new = old + delta
        self.client.zadd(key, {m: self._encode(new, t)})
        return _plain(new)

    def set_score(self, member: str | int, points: int | float) -> None:
        """Set ``member``'s total to ``points`` (``ZADD``), stamped with the current time for the tie-break."""
        m = _member(member)
        p = self._points("points", points, signed=False)
        t = self.clock.now()
        key = self._touch(t)
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(key, {m: self._encode(p, t)})
        ttl = self._ttl(t)
        if ttl:
            pipe.expire(key, ttl)
        pipe.execute()

    def remove(self, *members: str | int) -> int:
        """``ZREM`` members from the current board; returns how many were there."""
        ms = [_member(m) for m in members]
        return int(self.client.zrem(self.key(), *ms)) if ms else 0

    def clear(self) -> None:
        """Delete every board of this leaderboard (all periods, merged boards) and the period registry."""
        keys = list(self.client.scan_iter(match=self._base + ":*", count=500))
        for i in range(0, len(keys), 500):
            self.client.delete(*keys[i:i + 500])

    # -- encoding --------------------------------------------------------------------------------
    def _encode(self, points: float, t: float) -> float:
        if self.codec is None:
            return points
        if not 0 <= points <= self.codec.max_points:
            raise ValueError(f"points total must stay within 0..{self.codec.max_points} (max_score) (got {points})")
        return self.codec.encode(int(points), t)

    def _decode_points(self, raw: Any) -> float:
        score = float(raw)
        return self.codec.decode_tick(score)[0] if self.codec is not None else _plain(score)

    def _entries(self, rows: Iterable[tuple[Any, Any]], first_rank: int) -> list[Entry]:
        return [Entry(first_rank + i, _s(m), self._decode_points(s)) for i, (m, s) in enumerate(rows)]

    # -- reads -----------------------------------------------------------------------------------
    def score(self, member: str | int, *, period: str | None = None) -> float | None:
        """``member``'s points (``ZSCORE``, decoded), or None if absent."""
        raw = self.client.zscore(self.key(period), _member(member))
        return None if raw is None else self._decode_points(raw)

    def updated_at(self, member: str | int, *, period: str | None = None) -> float | None:
        """When ``member`` last reached its total (start of that tick); None if absent or ``tie_break="none"``."""
        raw = self.client.zscore(self.key(period), _member(member))
        if raw is None or self.codec is None:
            return None
        return self.codec.decode(float(raw))[1]

    def rank(self, member: str | int, *, period: str | None = None) -> int | None:
        """1-based rank (``ZREVRANK`` + 1), or None if absent."""
        r = self.client.zrevrank(self.key(period), _member(member))
        return None if r is None else int(r) + 1

    def top(self, n: int = 10, *, period: str | None = None) -> list[Entry]:
        """The ``n`` best entries (``ZRANGE key 0 n-1 REV WITHSCORES``), best first."""
        n = _validate.integer("n", n, minimum=1, maximum=MAX_WINDOW)
        rows = self.client.zrange(self.key(period), 0, n - 1, desc=True, withscores=True)
        return self._entries(rows, 1)

    def page(self, page: int, size: int = 10, *, period: str | None = None) -> list[Entry]:
        """Page ``page`` (1-based) of ``size`` entries; ``[]`` past the end."""
        size = _validate.integer("size", size, minimum=1, maximum=MAX_WINDOW)
        page = _validate.integer("page", page, minimum=1, maximum=2 ** 62 // size)  # a Redis index is int64
        start = (page - 1) * size
        rows = self.client.zrange(self.key(period), start, start + size - 1, desc=True, withscores=True)
        return self._entries(rows, start + 1)

    def around(self, member: str | int, k: int = 2, *, period: str | None = None) -> list[Entry]:
        """``member`` and up to ``k`` entries above and below it (fewer at the edges); ``[]`` if absent.

        One script (``ZREVRANK``, then ``ZRANGE r-k r+k REV``), so a concurrent write cannot move the member
        out of its own window between the two reads.
        """
        m = _member(member)
        k = _validate.integer("k", k, minimum=0, maximum=MAX_WINDOW // 2)
        out = self._around(keys=[self.key(period)], args=[m, k])
        if not out:
            return []
        lo = int(out[0])
        flat = out[1:]
        return self._entries(zip(flat[0::2], flat[1::2]), lo + 1)

    def size(self, *, period: str | None = None) -> int:
        """How many members the board has (``ZCARD``)."""
        return int(self.client.zcard(self.key(period)))

    __len__ = size

    # -- rotation --------------------------------------------------------------------------------
    def periods(self) -> list[str]:
        """Labels of the period boards written so far and not rotated out, oldest first."""
        return [_s(x) for x in self.client.zrange(self.periods_key, 0, -1)]

    def last(self, n: int, t: float | None = None) -> list[str]:
        """Labels of the ``n`` periods ending with the one containing ``t`` (default now), oldest first."""
        n = _validate.integer("n", n, minimum=1, maximum=self.keep)
        if self.period == "all":
            raise ValueError("last() needs period='daily' or 'weekly'")
        t = self.clock.now() if t is None else _t(t)
        length = PERIODS[self.period]
        if t - (n - 1) * length < MIN_T:
            raise ValueError(f"t must leave room for {n} periods after {MIN_T:g} (got {t!r})")
        start = self.period_start(t)
        return [self.period_key(start - i * length) for i in range(n - 1, -1, -1)]

    def rotate(self) -> list[str]:
        """Delete the boards older than ``keep`` periods (by the clock); returns their labels.

        The relative ``EXPIRE`` each write sets removes them too, on Redis's own clock; ``rotate`` is the
        deterministic path (and the only one a ``VirtualClock`` moves).
        """
        if self.period == "all":
            return []
        length = PERIODS[self.period]
        cutoff = self.period_start() - (self.keep - 1) * length
        old = [_s(x) for x in self.client.zrange(self.periods_key, "-inf", f"({cutoff!r}", byscore=True)]
        if old:
            self.client.delete(*[self._board(lab) for lab in old])
            self.client.zrem(self.periods_key, *old)
        return old

    def merge(self, periods: Iterable[str], dest: str | None = None) -> str:
        """Combine the boards of ``periods`` (labels, e.g. :meth:`last` ``(7)``) into one board; returns its key.

        ``tie_break="none"``: ``ZUNIONSTORE dest ... AGGREGATE SUM``. ``"earliest"``: a plain ZUNIONSTORE
        would add the time fields too (they carry into the points), so a script decodes and sums the points
        and keeps the latest update's time; it is O(total members), so for very large boards maintain the
        rolling board incrementally instead (write each add to it as well). The result is read with
        ``period=<dest label>``; ``dest`` defaults to ``"merged"``.
        """
        labels = [_validate.text("periods[]", p) for p in _validate.iterable("periods", periods, what="labels")]
        if not labels:
            raise ValueError("periods must name at least one period")
        dest_label = "merged" if dest is None else _validate.text("dest", dest)
        if dest_label in labels:
            raise ValueError(f"dest must differ from the merged periods (got {dest_label!r})")
        dest_key = self._board(dest_label)
        keys = [self._board(lab) for lab in labels]
        ttl = self._ttl(self.clock.now())
        if self.codec is None:
            pipe = self.client.pipeline(transaction=True)
            pipe.zunionstore(dest_key, keys, aggregate="SUM")
            if ttl:
                pipe.expire(dest_key, ttl)
            pipe.execute()
        else:
            try:
                self._merge(keys=[dest_key, *keys], args=[self.codec.base, self.codec.max_points, ttl])
            except redis.ResponseError as exc:
                if "out of range" in str(exc):
                    raise ValueError(f"merged points exceed max_score={self.codec.max_points}: {exc}") from None
                raise
        return dest_label

    def __repr__(self) -> str:
        return f"<Leaderboard {self.name!r} tie_break={self.tie_break} period={self.period} key={self.key()!r}>"


def _t(t: Any) -> float:
    """A unix time a period label can name (``MIN_T`` .. ``MAX_T``); TypeError/ValueError naming ``t``."""
    return _validate.number("t", t, minimum=MIN_T, maximum=MAX_T)
