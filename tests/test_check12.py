"""Exercise 12's checker passes a correct two-level get and catches each classic bug."""

from __future__ import annotations

import json

import pytest

from hcedu.course import check


def make_get(*, skip_l1=False, truthy=False, default_ttl_on_l2_hit=False, cache_none=False, null_forever=False,
             swap_ttls=False):
    """A two-level get, correct with no arguments; each switch plants one bug."""

    def get(key, l1, r, loader, l1_ttl, l2_ttl):
        if swap_ttls:
            l1_ttl, l2_ttl = l2_ttl, l1_ttl
        missing = None if truthy else object()
        value = missing if skip_l1 else l1.get(key, missing)
        if (value if truthy else value is not missing):
            return value
        raw = r.get(key)
        if raw is not None:
            value = json.loads(raw)
            l1.set(key, value, ttl=None if default_ttl_on_l2_hit else l1_ttl)
            return value
        value = loader(key)
        if value is None and null_forever:  # "no such row" cached with no TTL in Redis
            r.set(key, json.dumps(None))
            return None
        if value is None and not cache_none:  # cache_none: chapter 09's null marker, for the value TTLs
            return None
        r.set(key, json.dumps(value), px=int(l2_ttl * 1000))
        l1.set(key, value, ttl=l1_ttl)
        return value

    return get


def test_correct_solution_passes():
    v = check.two_level_get(make_get())
    assert v.ok and str(v) == "✓ 6/6 checks passed: two-level cache get"


def test_a_short_ttl_null_marker_is_accepted():
    """Chapter 09's penetration fix (cache "no such row" briefly) is a correct read path too (issue 13)."""
    v = check.two_level_get(make_get(cache_none=True))
    assert v.ok, str(v)


@pytest.mark.parametrize("bug, failed", [
    ("skip_l1", "an L1 hit calls neither Redis nor the database"),
    ("default_ttl_on_l2_hit", "an L2 hit returns Redis's value and fills L1"),  # the source's localCache.put
    ("swap_ttls", "an L2 hit returns Redis's value and fills L1"),
    ("truthy", "falsy values (0, '', [], False) are cached"),
    ("null_forever", "a missing row gives None, remembered briefly at most"),
])
def test_each_bug_is_caught(bug, failed):
    v = check.two_level_get(make_get(**{bug: True}))
    assert not v and v.failed == failed, str(v)


def test_stub_is_not_solved_yet():
    def stub(*args):
        raise NotImplementedError

    assert check.two_level_get(stub).unsolved
