"""Exercise 12 (the two-level cache read path and its invalidation): wrong solutions a learner writes are
rejected, on every run and on both backends, with a verdict naming the mistake; correct designs pass."""

from __future__ import annotations

import json

import pytest

from hcedu.course import check
from helpers import assert_accepted, assert_rejected

MISSING = object()


def verdict(get, invalidate, redis_backend):
    return check.two_level_get(get, invalidate, client=redis_backend.client())


# -- correct designs ------------------------------------------------------------------------------------

def get_ok(key, l1, r, loader, l1_ttl, l2_ttl, *, null_marker=False):
    """The reference: a sentinel for L1 misses, JSON in Redis, None cached nowhere. ``null_marker``:
    chapter 09's penetration fix instead, remembering 'no such row' (JSON null) for l1_ttl in both levels."""
    value = l1.get(key, MISSING)
    if value is not MISSING:
        return value
    raw = r.get(key)
    if raw is not None:
        value = json.loads(raw)
        l1.set(key, value, ttl=l1_ttl)
        return value
    value = loader(key)
    if value is None and not null_marker:
        return None
    r.set(key, json.dumps(value), px=int((l2_ttl if value is not None else l1_ttl) * 1000))
    l1.set(key, value, ttl=l1_ttl)
    return value


def get_null_marker(key, l1, r, loader, l1_ttl, l2_ttl):
    return get_ok(key, l1, r, loader, l1_ttl, l2_ttl, null_marker=True)


def invalidate_ok(key, l1, r):
    """Redis first, then L1: a get in between still finds L1's old entry and refills nothing."""
    r.delete(key)
    l1.delete(key)


def invalidate_double_delete(key, l1, r):
    """L1, Redis, and L1 again: the second L1 delete removes what a get in between refilled."""
    l1.delete(key)
    r.delete(key)
    l1.delete(key)


def get_in_then_get_safely(key, l1, r, loader, l1_ttl, l2_ttl):
    """Two L1 reads, but the second one with a sentinel: an entry that expired in between falls through to
    Redis instead of answering None. Redis through psetex (milliseconds) rather than px=."""
    if key in l1:
        value = l1.get(key, MISSING)
        if value is not MISSING:
            return value
    raw = r.get(key)
    if raw is not None:
        value = json.loads(raw)
        l1.set(key, value, ttl=l1_ttl)
        return value
    value = loader(key)
    if value is None:
        return None
    r.psetex(key, round(l2_ttl * 1000), json.dumps(value))
    l1.set(key, value, ttl=l1_ttl)
    return value


@pytest.mark.parametrize("get, invalidate", [(get_ok, invalidate_ok), (get_null_marker, invalidate_ok),
                                             (get_ok, invalidate_double_delete),
                                             (get_in_then_get_safely, invalidate_ok)],
                         ids=["reference", "null-marker", "double-delete", "in-then-sentinel-get, psetex"])
def test_correct_designs_are_accepted(get, invalidate, redis_backend):
    assert_accepted(verdict(get, invalidate, redis_backend))


# -- wrong read paths, as a learner writes them ---------------------------------------------------------

def get_with(*, l1_ttl_arg=True, fill_l1_on_l2_hit=True, truthy=False, null="none", l2_px=True,
             px_in_seconds=False, decode=True, encode=json.dumps, fixed_l1_ttl=None, fixed_l2_ttl=None,
             ex_whole_seconds=False, truthy_l2=False, in_then_get=False):
    """A read path with one learner's mistake switched on (the defaults give the reference)."""

    def get(key, l1, r, loader, l1_ttl, l2_ttl):
        if fixed_l1_ttl is not None:  # the try-it cell's numbers instead of the arguments
            l1_ttl = fixed_l1_ttl
        if fixed_l2_ttl is not None:
            l2_ttl = fixed_l2_ttl
        if in_then_get:  # check-then-act on L1: the entry may expire between the two reads
            if key in l1:
                return l1.get(key)
        else:
            value = l1.get(key) if truthy else l1.get(key, MISSING)
            if (value if truthy else value is not MISSING):
                return value
        raw = r.get(key)
        if truthy_l2:  # the sentinel for L1, but truthiness on the value decoded from Redis
            value = json.loads(raw) if raw is not None else None
            if value:
                l1.set(key, value, ttl=l1_ttl)
                return value
            raw = None
        if raw is not None:
            value = json.loads(raw) if decode else raw
            if fill_l1_on_l2_hit:
                l1.set(key, value, **({"ttl": l1_ttl} if l1_ttl_arg else {}))
            return value
        value = loader(key)
        if value is None:
            if null == "redis-forever":
                r.set(key, json.dumps(None))
            elif null == "l1-default-ttl":
                l1.set(key, None)
            return None
        px = int(l2_ttl) if px_in_seconds else int(l2_ttl * 1000)
        if ex_whole_seconds:
            r.set(key, encode(value), ex=int(l2_ttl))
        elif l2_px:
            r.set(key, encode(value), px=px)
        else:
            r.set(key, encode(value))
        l1.set(key, value, **({"ttl": l1_ttl} if l1_ttl_arg else {}))
        return value

    return get


WRONG_GETS = [
    ("no L1 TTL (the cache's default)", get_with(l1_ttl_arg=False), ["l1_ttl"]),
    ("L2 hit does not fill L1", get_with(fill_l1_on_l2_hit=False), ["should fill L1"]),
    ("truthiness test on L1", get_with(truthy=True), ["falsy", "sentinel"]),
    ("None cached in Redis for ever", get_with(null="redis-forever"), ["no TTL"]),
    ("None cached in L1 with the default TTL", get_with(null="l1-default-ttl"), ["outlives l1_ttl"]),
    ("no Redis TTL", get_with(l2_px=False), ["Redis TTL", "l2_ttl"]),
    ("TTL in seconds passed as px", get_with(px_in_seconds=True), ["Redis TTL", "l2_ttl"]),
    ("Redis value returned undecoded", get_with(decode=False), ["Redis's value", "json.loads"]),
    ("str() instead of JSON in Redis", get_with(encode=str, decode=False), ["Redis's value", "JSON"]),
    ("the try-it cell's TTLs (5 s, 60 s) hard-coded", get_with(fixed_l1_ttl=5, fixed_l2_ttl=60),
     ["not a fixed TTL"]),
    ("a fixed L1 TTL", get_with(fixed_l1_ttl=5), ["not a fixed TTL"]),
    ("ex=int(l2_ttl): whole seconds", get_with(ex_whole_seconds=True), ["ex= takes whole seconds"]),
    ("truthiness test on the value from Redis", get_with(truthy_l2=True),
     ["falsy value from Redis was taken for a miss"]),
    ("`key in l1` then `l1.get(key)`", get_with(in_then_get=True), ["check-then-act"]),
]


@pytest.mark.parametrize("get, mentions", [w[1:] for w in WRONG_GETS], ids=[w[0] for w in WRONG_GETS])
def test_wrong_read_path_is_rejected(get, mentions, redis_backend):
    assert_rejected(verdict(get, invalidate_ok, redis_backend), *mentions)


# -- wrong invalidations -------------------------------------------------------------------------------

def invalidate_l1_only(key, l1, r):
    """The classic: drop the local copy and forget the shared one."""
    l1.delete(key)


def invalidate_redis_only(key, l1, r):
    """The other half: Redis is clean, this server's L1 serves the old value until it expires."""
    r.delete(key)


def invalidate_l1_first(key, l1, r):
    """Both levels, in the wrong order: a get between the two deletes refills L1 from Redis's old value."""
    l1.delete(key)
    r.delete(key)


def invalidate_overwrite_redis(key, l1, r):
    """Writes 'null' into Redis instead of deleting: every get now answers 'no such row' for an hour."""
    l1.delete(key)
    r.set(key, json.dumps(None), ex=3600)


def test_invalidation_only_in_l1_is_rejected(redis_backend):
    assert_rejected(verdict(get_ok, invalidate_l1_only, redis_backend), "Redis still holds the old value")


def test_invalidation_only_in_redis_is_rejected(redis_backend):
    assert_rejected(verdict(get_ok, invalidate_redis_only, redis_backend), "L1 still holds the old value")


def test_overwriting_instead_of_deleting_is_rejected(redis_backend):
    assert_rejected(verdict(get_null_marker, invalidate_overwrite_redis, redis_backend), "Redis still holds")


def test_l1_before_redis_is_rejected_every_time(redis_backend):
    """Race-type: a get slipped in between the two deletes (deterministically, by the spies) re-fills L1."""
    assert_rejected(verdict(get_ok, invalidate_l1_first, redis_backend), "re-filled the cache with the old value",
                    runs=5, check=lambda: verdict(get_ok, invalidate_l1_first, redis_backend))
