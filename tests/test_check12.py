"""Exercise 12's checker passes a correct two-level get and catches each classic bug."""

from __future__ import annotations

import json

import pytest

from hcedu.course import check


def make_get(*, skip_l1=False, truthy=False, default_ttl_on_l2_hit=False, cache_none=False, swap_ttls=False):
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
        if value is None and not cache_none:
            return None
        r.set(key, json.dumps(value), px=int(l2_ttl * 1000))
        l1.set(key, value, ttl=l1_ttl)
        return value

    return get


def test_correct_solution_passes():
    v = check.two_level_get(make_get())
    assert v.ok and str(v) == "✓ 6/6 checks passed: two-level cache get"


@pytest.mark.parametrize("bug, failed", [
    ("skip_l1", "an L1 hit calls neither Redis nor the database"),
    ("default_ttl_on_l2_hit", "an L2 hit returns Redis's value and fills L1"),  # the source's localCache.put
    ("swap_ttls", "an L2 hit returns Redis's value and fills L1"),
    ("truthy", "falsy values (0, '', [], False) are cached"),
    ("cache_none", "a missing row (None) is returned and cached nowhere"),
])
def test_each_bug_is_caught(bug, failed):
    v = check.two_level_get(make_get(**{bug: True}))
    assert not v and v.failed == failed, str(v)


def test_stub_is_not_solved_yet():
    def stub(*args):
        raise NotImplementedError

    assert check.two_level_get(stub).unsolved
