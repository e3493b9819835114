"""Exercise 12's checker passes a correct two-level get and catches each classic bug."""

from __future__ import annotations

import json

import pytest

from hcedu.course import check


def good(key, l1, r, loader, l1_ttl, l2_ttl):
    missing = object()
    value = l1.get(key, missing)
    if value is not missing:
        return value
    raw = r.get(key)
    if raw is not None:
        value = json.loads(raw)
        l1.set(key, value, ttl=l1_ttl)
        return value
    value = loader(key)
    if value is None:
        return None
    r.set(key, json.dumps(value), px=int(l2_ttl * 1000))
    l1.set(key, value, ttl=l1_ttl)
    return value


def source_like(key, l1, r, loader, l1_ttl, l2_ttl):  # the source: L1 backfilled with the cache's default TTL
    v = l1.get(key)
    if v is not None:
        return v
    raw = r.get(key)
    if raw is not None:
        v = json.loads(raw)
        l1.set(key, v)
        return v
    v = loader(key)
    if v is not None:
        r.set(key, json.dumps(v), px=int(l2_ttl * 1000))
        l1.set(key, v, ttl=l1_ttl)
    return v


def truthy(key, l1, r, loader, l1_ttl, l2_ttl):
    v = l1.get(key)
    if v:
        return v
    raw = r.get(key)
    if raw:
        v = json.loads(raw)
        l1.set(key, v, ttl=l1_ttl)
        return v
    v = loader(key)
    if v is None:
        return None
    r.set(key, json.dumps(v), px=int(l2_ttl * 1000))
    l1.set(key, v, ttl=l1_ttl)
    return v


def caches_none(key, l1, r, loader, l1_ttl, l2_ttl):
    missing = object()
    v = l1.get(key, missing)
    if v is not missing:
        return v
    raw = r.get(key)
    if raw is not None:
        v = json.loads(raw)
        l1.set(key, v, ttl=l1_ttl)
        return v
    v = loader(key)
    r.set(key, json.dumps(v), px=int(l2_ttl * 1000))
    l1.set(key, v, ttl=l1_ttl)
    return v


def swapped_ttls(key, l1, r, loader, l1_ttl, l2_ttl):
    return good(key, l1, r, loader, l2_ttl, l1_ttl)


def skips_l1(key, l1, r, loader, l1_ttl, l2_ttl):
    raw = r.get(key)
    if raw is not None:
        return json.loads(raw)
    return good(key, l1, r, loader, l1_ttl, l2_ttl)


def stub(*args):
    raise NotImplementedError


def test_correct_solution_passes():
    v = check.two_level_get(good)
    assert v.ok and str(v) == "✓ 6/6 checks passed: two-level cache get"


@pytest.mark.parametrize("impl, failed", [
    (skips_l1, "an L1 hit calls neither Redis nor the database"),
    (source_like, "an L2 hit returns Redis's value and fills L1"),
    (swapped_ttls, "an L2 hit returns Redis's value and fills L1"),
    (truthy, "falsy values (0, '', [], False) are cached"),
    (caches_none, "a missing row (None) is returned and cached nowhere"),
])
def test_each_bug_is_caught(impl, failed):
    v = check.two_level_get(impl)
    assert not v and v.failed == failed, str(v)


def test_stub_is_not_solved_yet():
    assert check.two_level_get(stub).unsolved
