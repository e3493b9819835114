"""Checker for exercise 12: the two-level cache read path (L1 -> Redis -> database)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Callable

import fakeredis

from ...clock import VirtualClock
from ...patterns.localcache import LocalCache
from . import Verdict, run_checks

__all__ = ["two_level_get"]

L1_TTL, L2_TTL = 5.0, 60.0


class _CountingRedis(fakeredis.FakeRedis):
    """A fakeredis client that counts the commands it sends (``calls``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: Counter = Counter()

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.calls[str(args[0]).upper()] += 1
        return super().execute_command(*args, **options)


class _Rig:
    def __init__(self, **rows: Any) -> None:
        self.clock = VirtualClock()
        self.l1 = LocalCache(maxsize=100, ttl=3600, clock=self.clock)  # a default TTL the learner must not rely on
        self.r = _CountingRedis(server=fakeredis.FakeServer(), decode_responses=True)
        self.rows = dict(rows)
        self.loads: list[str] = []

    def loader(self, key: str) -> Any:
        self.loads.append(key)
        return self.rows.get(key)

    def redis_calls(self) -> int:
        return sum(self.r.calls.values())


def two_level_get(get: Callable[..., Any]) -> Verdict:
    """Check ``get(key, l1, r, loader, l1_ttl, l2_ttl)``: L1 (a :class:`LocalCache`), then Redis ``r`` (the value
    JSON-encoded under ``key``), then ``loader(key)``; fills Redis for ``l2_ttl`` and L1 for ``l1_ttl`` seconds;
    caches falsy values; returns None for a missing row and caches nothing for it."""

    def call(rig: _Rig, key: str) -> Any:
        return get(key, rig.l1, rig.r, rig.loader, L1_TTL, L2_TTL)

    def l1_hit_touches_nothing() -> None:
        rig = _Rig()
        rig.l1.set("sku:1", {"price": 7})
        got = call(rig, "sku:1")
        assert got == {"price": 7}, f"an L1 hit should return L1's value, got {got!r}"
        assert rig.redis_calls() == 0 and not rig.loads, \
            f"an L1 hit must not call Redis ({dict(rig.r.calls)}) or the database ({rig.loads})"

    def l2_hit_fills_l1() -> None:
        rig = _Rig(**{"sku:2": {"price": 1}})
        rig.r.set("sku:2", json.dumps({"price": 9}))
        got = call(rig, "sku:2")
        assert got == {"price": 9}, f"an L2 hit should return Redis's value, got {got!r}"
        assert not rig.loads, "an L2 hit must not call the database"
        assert rig.l1.get("sku:2") == {"price": 9}, "an L2 hit should fill L1"
        rig.clock.advance(L1_TTL)
        assert "sku:2" not in rig.l1, \
            f"L1 filled from Redis should expire after l1_ttl = {L1_TTL:g} s (pass ttl=l1_ttl to l1.set)"

    def miss_loads_once_and_fills_both() -> None:
        rig = _Rig(**{"sku:3": {"price": 3}})
        assert call(rig, "sku:3") == {"price": 3}
        assert rig.loads == ["sku:3"], f"the database should be read once, was read {len(rig.loads)} times"
        raw = rig.r.get("sku:3")
        assert raw is not None and json.loads(raw) == {"price": 3}, f"Redis should hold the JSON value, has {raw!r}"
        pttl = rig.r.pttl("sku:3")
        assert 0 < pttl <= L2_TTL * 1000 and pttl > (L2_TTL - 1) * 1000, \
            f"the Redis TTL should be l2_ttl = {L2_TTL:g} s, PTTL is {pttl} ms"
        assert rig.l1.get("sku:3") == {"price": 3}, "a database load should fill L1 too"
        before = rig.redis_calls()
        assert call(rig, "sku:3") == {"price": 3} and rig.redis_calls() == before and rig.loads == ["sku:3"], \
            "the second get should be an L1 hit"

    def l1_uses_l1_ttl() -> None:
        rig = _Rig(**{"sku:4": 4})
        call(rig, "sku:4")
        rig.clock.advance(L1_TTL - 0.01)
        before = rig.redis_calls()
        call(rig, "sku:4")
        assert rig.redis_calls() == before, f"L1 should still answer {L1_TTL - 0.01:g} s after the fill"
        rig.clock.advance(0.01)
        call(rig, "sku:4")
        assert rig.redis_calls() > before, \
            f"L1 should expire after l1_ttl = {L1_TTL:g} s (pass ttl=l1_ttl to l1.set, not the cache default)"
        assert rig.loads == ["sku:4"], "after L1 expires the value should come from Redis, not the database"

    def falsy_values_are_cached() -> None:
        rig = _Rig(zero=0, empty="", none_list=[], false=False)
        for key, value in rig.rows.items():
            for i in range(3):
                before = rig.redis_calls()
                got = call(rig, key)
                assert got == value and type(got) is type(value), f"get({key!r}) returned {got!r}, expected {value!r}"
                assert i == 0 or rig.redis_calls() == before, \
                    f"get({key!r}) went to Redis again: the falsy value {value!r} in L1 was taken for a miss"
        counts = Counter(rig.loads)
        twice = [k for k, n in counts.items() if n > 1]
        assert not twice, f"falsy values were reloaded from the database: {twice} (test 'is None' / a sentinel, not truthiness)"

    def missing_rows_are_not_cached() -> None:
        rig = _Rig()
        assert call(rig, "ghost") is None, "a missing row should give None"
        assert call(rig, "ghost") is None
        assert rig.loads == ["ghost", "ghost"], \
            f"None must not be cached as a value (the database was read {len(rig.loads)} times for 2 gets)"
        assert rig.r.exists("ghost") == 0, "nothing should be stored in Redis for a missing row"
        assert "ghost" not in rig.l1, "nothing should be stored in L1 for a missing row"

    return run_checks("two-level cache get", [
        ("an L1 hit calls neither Redis nor the database", l1_hit_touches_nothing,
         "try l1.get(key, sentinel) first and return on a hit"),
        ("an L2 hit returns Redis's value and fills L1", l2_hit_fills_l1,
         "r.get(key) gives a JSON string or None; json.loads it and l1.set it"),
        ("a miss loads once and fills Redis (l2_ttl) and L1", miss_loads_once_and_fills_both,
         "r.set(key, json.dumps(value), px=int(l2_ttl * 1000)); l1.set(key, value, ttl=l1_ttl)"),
        ("L1 entries live exactly l1_ttl", l1_uses_l1_ttl, "l1.set(key, value, ttl=l1_ttl)"),
        ("falsy values (0, '', [], False) are cached", falsy_values_are_cached,
         "compare with a sentinel object or 'is None', never 'if value:'"),
        ("a missing row (None) is returned and cached nowhere", missing_rows_are_not_cached,
         "return None straight away when the loader returns None"),
    ])
