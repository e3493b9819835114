"""Checker for exercise 12: the two-level cache read path (L1 -> Redis -> database)."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any, Callable

import redis

from ...clock import VirtualClock
from ...patterns.localcache import LocalCache
from . import Verdict, run_checks
from ._wire import fresh_client, spy_client

__all__ = ["two_level_get"]

L1_TTL, L2_TTL = 5.0, 60.0
P = "ex12:"  # every key the checker uses starts with this


def _json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise AssertionError(f"Redis should hold the value JSON-encoded, it holds {raw!r}") from None


_ABSENT = object()


class _SpyL1(LocalCache):
    """A LocalCache that calls ``on_change()`` after every delete or clear (the interleaving points), and
    ``on_hit()`` (once, then it is cleared) right after a ``get`` or an ``in`` found a live entry."""

    on_change: Callable[[], Any] | None = None
    on_hit: Callable[[], Any] | None = None

    def _hit(self) -> None:
        hook, self.on_hit = self.on_hit, None
        if hook is not None:
            hook()

    def get(self, key: Any, default: Any = None) -> Any:
        value = super().get(key, _ABSENT)
        if value is _ABSENT:
            return default
        self._hit()
        return value

    def __contains__(self, key: Any) -> bool:
        found = super().__contains__(key)
        if found:
            self._hit()
        return found

    def delete(self, key: Any) -> bool:
        removed = super().delete(key)
        if self.on_change is not None:
            self.on_change()
        return removed

    def clear(self) -> int:
        n = super().clear()
        if self.on_change is not None:
            self.on_change()
        return n


class _Rig:
    def __init__(self, base: redis.Redis, **rows: Any) -> None:
        self.clock = VirtualClock()
        self.l1 = _SpyL1(maxsize=100, ttl=3600, clock=self.clock)  # a default TTL the learner must not rely on
        self.base = base
        stale = list(base.scan_iter(match=P + "*", count=1000))
        if stale:
            base.delete(*stale)
        self.r = spy_client(base)
        self.rows = {k if k.startswith(P) else P + k: v for k, v in rows.items()}
        self.loads: list[str] = []

    def loader(self, key: str) -> Any:
        self.loads.append(key)
        return self.rows.get(key)

    def redis_calls(self) -> int:
        return sum(self.r.calls.values())


def two_level_get(get: Callable[..., Any], invalidate: Callable[..., Any] | None = None,
                  client: redis.Redis | None = None) -> Verdict:
    """Check ``get(key, l1, r, loader, l1_ttl, l2_ttl)``: L1 (a :class:`LocalCache`), then Redis ``r`` (the value
    JSON-encoded under ``key``), then ``loader(key)``; fills Redis for ``l2_ttl`` and L1 for ``l1_ttl`` seconds,
    the arguments as given (other TTLs than the try-it cell's, fractional ones such as 0.5 s in Redis too);
    reads L1 once (an entry that expires right after the first L1 read must not turn an existing row into
    None); caches falsy values in both levels (another server with an empty L1 takes them from Redis without
    reading the database); returns None for a missing row and remembers "no such row" (chapter 09's null
    marker) at most ``l2_ttl`` in Redis and ``l1_ttl`` in L1, or not at all.

    ``invalidate(key, l1, r)`` (checked when given): after a database write, the old value is gone from
    Redis and L1, also when a ``get`` of the same server runs between any two of its steps.
    ``client``: a redis client of the store to check on (keys ``ex12:*`` are deleted); default a private
    embedded store.
    """
    base = client if client is not None else fresh_client()

    def call(rig: _Rig, key: str) -> Any:
        return get(key, rig.l1, rig.r, rig.loader, L1_TTL, L2_TTL)

    def l1_hit_touches_nothing() -> None:
        rig = _Rig(base)
        rig.l1.set(P + "sku:1", {"price": 7})
        got = call(rig, P + "sku:1")
        assert got == {"price": 7}, f"an L1 hit should return L1's value, got {got!r}"
        assert rig.redis_calls() == 0 and not rig.loads, \
            f"an L1 hit must not call Redis ({dict(rig.r.calls)}) or the database ({rig.loads})"
        # the L1 entry expires right after the first L1 read that finds it: a second read (`key in l1`,
        # then `l1.get(key)`) misses, and must not turn an existing row into "no such row"
        rig = _Rig(base, **{"sku:6": {"price": 6}})
        key = P + "sku:6"
        rig.base.set(key, json.dumps({"price": 6}), px=int(L2_TTL * 1000))
        rig.l1.set(key, {"price": 6}, ttl=1.0)
        rig.l1.on_hit = lambda: rig.clock.advance(1.0)
        got = call(rig, key)
        assert got == {"price": 6}, (
            f"get returned {got!r} for a row that exists: its L1 entry expired between your two L1 reads "
            f"(check-then-act: `key in l1`, then `l1.get(key)`); read L1 once, with l1.get(key, sentinel)")

    def l2_hit_fills_l1() -> None:
        rig = _Rig(base, **{P + "sku:2": {"price": 1}})
        rig.base.set(P + "sku:2", json.dumps({"price": 9}))
        got = call(rig, P + "sku:2")
        assert got == {"price": 9}, f"an L2 hit should return Redis's value, got {got!r}"
        assert not rig.loads, "an L2 hit must not call the database"
        assert rig.l1.get(P + "sku:2") == {"price": 9}, "an L2 hit should fill L1"
        rig.clock.advance(L1_TTL)
        assert P + "sku:2" not in rig.l1, \
            f"L1 filled from Redis should expire after l1_ttl = {L1_TTL:g} s (pass ttl=l1_ttl to l1.set)"

    def miss_loads_once_and_fills_both() -> None:
        rig = _Rig(base, **{P + "sku:3": {"price": 3}})
        assert call(rig, P + "sku:3") == {"price": 3}
        assert rig.loads == [P + "sku:3"], f"the database should be read once, was read {len(rig.loads)} times"
        raw = rig.base.get(P + "sku:3")
        assert raw is not None and _json(raw) == {"price": 3}, f"Redis should hold the JSON value, has {raw!r}"
        pttl = rig.base.pttl(P + "sku:3")
        assert 0 < pttl <= L2_TTL * 1000 and pttl > (L2_TTL - 1) * 1000, \
            f"the Redis TTL should be l2_ttl = {L2_TTL:g} s, PTTL is {pttl} ms"
        assert rig.l1.get(P + "sku:3") == {"price": 3}, "a database load should fill L1 too"
        before = rig.redis_calls()
        assert call(rig, P + "sku:3") == {"price": 3} and rig.redis_calls() == before and rig.loads == [P + "sku:3"], \
            "the second get should be an L1 hit"
        for l2_ttl in (0.5, 2.5):  # other TTLs than the try-it cell's, and fractions of a second
            rig = _Rig(base, **{"sku:9": 9})
            key = P + "sku:9"
            start = time.monotonic()
            try:
                get(key, rig.l1, rig.r, rig.loader, 1.0, l2_ttl)
            except redis.RedisError as exc:
                raise AssertionError(
                    f"with l2_ttl = {l2_ttl:g} s get raised {type(exc).__name__} ({str(exc).strip()}): l2_ttl may "
                    f"be a fraction of a second, and ex= takes whole seconds: pass px=int(l2_ttl * 1000)") from None
            pttl = rig.base.pttl(key)
            late = (time.monotonic() - start) * 1000 + 1  # ms that passed since the SET at most (PTTL rounds down)
            if rig.r.calls.get("PSETEX") and "fakeredis" in type(rig.base.connection_pool).__module__ + \
                    rig.base.connection_pool.connection_class.__module__:
                late += 1000  # the embedded store's PSETEX truncates the expiry to a whole second (fakeredis 2.41)
            want = l2_ttl * 1000
            why = ""
            if pttl > want:
                why = ": use the l2_ttl argument, not a fixed TTL"
            elif 0 < pttl <= int(l2_ttl) * 1000:
                why = ": whole seconds (ex=int(l2_ttl)) drop the fraction; pass px=int(l2_ttl * 1000)"
            assert want - late <= pttl <= want, (
                f"with l2_ttl = {l2_ttl:g} s the Redis TTL should be {want:g} ms, PTTL is {pttl} ms{why}")

    def l1_uses_l1_ttl() -> None:
        rig = _Rig(base, **{P + "sku:4": 4})
        call(rig, P + "sku:4")
        rig.clock.advance(L1_TTL - 0.01)
        before = rig.redis_calls()
        call(rig, P + "sku:4")
        assert rig.redis_calls() == before, f"L1 should still answer {L1_TTL - 0.01:g} s after the fill"
        rig.clock.advance(0.01)
        call(rig, P + "sku:4")
        assert rig.redis_calls() > before, \
            f"L1 should expire after l1_ttl = {L1_TTL:g} s (pass ttl=l1_ttl to l1.set, not the cache default)"
        assert rig.loads == [P + "sku:4"], "after L1 expires the value should come from Redis, not the database"
        for l1_ttl in (0.75, 8.0):  # other TTLs than the try-it cell's, on a database fill and on an L2 hit
            for source in ("the database", "Redis"):
                rig = _Rig(base, **{"sku:5": 5})
                key = P + "sku:5"
                if source == "Redis":
                    rig.base.set(key, json.dumps(5), px=int(L2_TTL * 1000))
                get(key, rig.l1, rig.r, rig.loader, l1_ttl, L2_TTL)
                rig.clock.advance(l1_ttl - 0.25)
                assert key in rig.l1, (f"with l1_ttl = {l1_ttl:g} s an L1 entry filled from {source} was gone "
                                       f"{l1_ttl - 0.25:g} s later: pass ttl=l1_ttl to l1.set, not a fixed TTL")
                rig.clock.advance(0.25)
                assert key not in rig.l1, (f"with l1_ttl = {l1_ttl:g} s an L1 entry filled from {source} outlives "
                                           f"it: pass ttl=l1_ttl to l1.set, not a fixed TTL")

    def falsy_values_are_cached() -> None:
        rig = _Rig(base, zero=0, empty="", none_list=[], false=False)
        for key, value in rig.rows.items():  # keys ex12:zero, ex12:empty, ...
            for i in range(3):
                before = rig.redis_calls()
                got = call(rig, key)
                assert got == value and type(got) is type(value), f"get({key!r}) returned {got!r}, expected {value!r}"
                assert i == 0 or rig.redis_calls() == before, \
                    f"get({key!r}) went to Redis again: the falsy value {value!r} in L1 was taken for a miss"
        counts = Counter(rig.loads)
        twice = [k for k, n in counts.items() if n > 1]
        assert not twice, f"falsy values were reloaded from the database: {twice} (test 'is None' / a sentinel, not truthiness)"
        other = _SpyL1(maxsize=100, ttl=3600, clock=rig.clock)  # another server: its L1 is empty, Redis is shared
        for key, value in rig.rows.items():
            raw = rig.base.get(key)
            assert raw is not None and _json(raw) == value, \
                f"Redis should hold the falsy value {value!r} of {key!r} too, it holds {raw!r}"
            loads = len(rig.loads)
            got = get(key, other, rig.r, rig.loader, L1_TTL, L2_TTL)
            assert got == value and type(got) is type(value), \
                f"on another server (empty L1) get({key!r}) returned {got!r}, Redis holds {raw!r}"
            assert len(rig.loads) == loads, (
                f"on another server (empty L1) get({key!r}) read the database although Redis holds {raw!r}: the "
                f"falsy value from Redis was taken for a miss (test 'raw is not None', not the decoded value)")

    def missing_rows() -> None:
        rig = _Rig(base)
        key = P + "ghost"
        assert call(rig, key) is None, "a missing row should give None"
        got = call(rig, key)
        assert got is None, f"a missing row should give None every time, the second get gave {got!r}"
        pttl = rig.base.pttl(key)
        assert pttl != -1, ("'no such row' is stored in Redis with no TTL: a row inserted later stays invisible "
                            "for ever (a null marker needs a short TTL, or cache nothing for None)")
        assert pttl <= L2_TTL * 1000, f"the null marker lives {pttl} ms in Redis, longer than l2_ttl"
        rig.clock.advance(L1_TTL)
        assert key not in rig.l1, ("'no such row' outlives l1_ttl in L1: the cache default keeps it for an "
                                   "hour (pass ttl=l1_ttl, or store nothing in L1 for None)")
        rig.rows[key] = {"price": 5}  # the row is inserted; its null marker in Redis expires
        rig.base.delete(key)
        got = call(rig, key)
        assert got == {"price": 5}, f"once the null marker expired, the inserted row should be read, got {got!r}"

    def invalidate_drops_both() -> None:
        rig = _Rig(base, **{"sku:7": {"price": 1}})
        key = P + "sku:7"
        call(rig, key)
        rig.rows[key] = {"price": 2}  # the database write, then the invalidation
        invalidate(key, rig.l1, rig.r)
        assert rig.base.exists(key) == 0, ("Redis still holds the old value after invalidate: every other server "
                                           "reads it for up to l2_ttl")
        assert key not in rig.l1, "L1 still holds the old value after invalidate: this server serves it"
        got = call(rig, key)
        assert got == {"price": 2}, f"a get after invalidate should read the new row, got {got!r}"

    def invalidate_with_a_get_in_between() -> None:
        rig = _Rig(base, **{"sku:8": {"price": 1}})
        key = P + "sku:8"
        call(rig, key)
        rig.rows[key] = {"price": 2}
        busy = [False]

        def a_get_runs_now(*_: Any) -> None:  # another request of this server, between two of your steps
            if busy[0]:
                return
            busy[0] = True
            try:
                get(key, rig.l1, rig.base, rig.loader, L1_TTL, L2_TTL)
            finally:
                busy[0] = False

        rig.l1.on_change = rig.r.after_reply = a_get_runs_now
        try:
            invalidate(key, rig.l1, rig.r)
        finally:
            rig.l1.on_change = rig.r.after_reply = None
        got = call(rig, key)
        assert got == {"price": 2}, (f"a get that ran between your steps re-filled the cache with the old value, "
                                     f"which is now served ({got!r}) until its TTL")

    checks = [
        ("an L1 hit calls neither Redis nor the database", l1_hit_touches_nothing,
         "try l1.get(key, sentinel) first and return on a hit: one read of L1, not `in` and then get"),
        ("an L2 hit returns Redis's value and fills L1", l2_hit_fills_l1,
         "r.get(key) gives a JSON string or None; json.loads it and l1.set it"),
        ("a miss loads once and fills Redis (l2_ttl) and L1", miss_loads_once_and_fills_both,
         "r.set(key, json.dumps(value), px=int(l2_ttl * 1000)); l1.set(key, value, ttl=l1_ttl)"),
        ("L1 entries live exactly l1_ttl", l1_uses_l1_ttl, "l1.set(key, value, ttl=l1_ttl)"),
        ("falsy values (0, '', [], False) are cached", falsy_values_are_cached,
         "compare with a sentinel object or 'is None', never 'if value:', in L1 and on the value from Redis"),
        ("a missing row gives None, remembered briefly at most", missing_rows,
         "None means 'no such row': return it; cache nothing, or a null marker with a short TTL in both levels"),
    ]
    if invalidate is not None:
        checks += [
            ("invalidate removes the old value from Redis and L1", invalidate_drops_both,
             "DEL the key in Redis and delete it from this server's L1"),
            ("a get running between invalidate's steps cannot bring the old value back", invalidate_with_a_get_in_between,
             "the order matters: while Redis still has the old value, an L1 miss re-fills L1 from it"),
        ]
    return run_checks("two-level cache get" + (" and invalidate" if invalidate is not None else ""), checks)
