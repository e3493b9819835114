"""Exercise 10 (sliding expiry on a HASH session): wrong lookups a learner writes are rejected, on both backends.

Each ``load_and_slide`` runs through ``check.sliding_expiry`` with clients of the ``redis_backend`` store
(embedded fakeredis and a real redis-server); race-type ones five times, rejected every time, with a
verdict naming the harm (torn read, resurrection, round trips, ...). A Lua script and a MULTI/EXEC
transaction are both accepted.
"""

from __future__ import annotations

import pytest

from hcedu.course.check import sliding_expiry
from helpers import assert_accepted, assert_rejected
from solution_code import reference

LOOKUP_LUA = """
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return nil end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return fields
"""


def _as_dict(flat):
    return dict(zip(flat[::2], flat[1::2])) if flat else None


def check(fn, backend):
    return sliding_expiry(fn, connect=backend.client, threads=2, calls=20)


# -- correct ---------------------------------------------------------------------------------------------
def lua_lookup(client, key, ttl):
    return _as_dict(client.register_script(LOOKUP_LUA)(keys=[key], args=[ttl]))


multi_exec_lookup = reference("10_sliding_expiry.py", "load_and_slide")  # the solution's MULTI/EXEC lookup


# -- wrong ------------------------------------------------------------------------------------------------
def source_exists_expire_read(client, key, ttl):  # the source: EXISTS, EXPIRE (reply ignored), then read
    if not client.exists(key):
        return None
    client.expire(key, ttl)
    return client.hgetall(key)


def source_with_empty_check(client, key, ttl):  # no torn read any more, but three round trips
    if not client.exists(key):
        return None
    client.expire(key, ttl)
    return client.hgetall(key) or None


def expire_then_read(client, key, ttl):  # trusts EXPIRE's reply, then reads: the read can still be torn
    if not client.expire(key, ttl):
        return None
    return client.hgetall(key)


def slide_by_rewriting(client, key, ttl):  # "refresh" by writing the session back with a new TTL
    fields = client.hgetall(key)
    if not fields:
        return None
    client.hset(key, mapping=fields)
    client.expire(key, ttl)
    return fields


def read_then_expire(client, key, ttl):  # linearizable, but two round trips per request
    fields = client.hgetall(key)
    if fields:
        client.expire(key, ttl)
    return fields or None


def forgets_to_slide(client, key, ttl):
    return client.hgetall(key) or None


def milliseconds(client, key, ttl):  # PEXPIRE takes milliseconds
    return _as_dict(client.register_script(LOOKUP_LUA.replace("'EXPIRE'", "'PEXPIRE'"))(keys=[key], args=[ttl]))


def empty_dict_for_missing(client, key, ttl):  # {} is falsy, but it is not None
    pipe = client.pipeline()
    pipe.hgetall(key)
    pipe.expire(key, ttl)
    return pipe.execute()[0]


def getex_on_a_hash(client, key, ttl):  # the string one-liner does not apply to a hash
    return client.getex(key, ex=ttl)


def returns_the_flat_reply(client, key, ttl):  # forgot to turn HGETALL's flat array into a dict
    return client.register_script(LOOKUP_LUA)(keys=[key], args=[ttl])


@pytest.mark.parametrize("fn", [lua_lookup, multi_exec_lookup])
def test_correct_lookups_are_accepted(redis_backend, fn):
    assert_accepted(check(fn, redis_backend))


RACES = [
    (source_exists_expire_read, ("torn read",)),
    (expire_then_read, ("torn read",)),
    (slide_by_rewriting, ("resurrected",)),
]


@pytest.mark.parametrize("fn,mentions", RACES, ids=[f.__name__ for f, _ in RACES])
def test_racy_lookups_are_rejected_every_time(redis_backend, fn, mentions):
    again = lambda: check(fn, redis_backend)  # noqa: E731
    assert_rejected(again(), *mentions, runs=5, check=again)


WRONG = [
    (source_with_empty_check, ("3 round trips",)),
    (read_then_expire, ("2 round trips",)),
    (forgets_to_slide, ("TTL should be reset",)),
    (milliseconds, ("TTL should be reset",)),
    (empty_dict_for_missing, ("expected None",)),
    (getex_on_a_hash, ("WRONGTYPE", "wrong kind")),
    (returns_the_flat_reply, ("as a dict",)),
]


@pytest.mark.parametrize("fn,mentions", WRONG, ids=[f.__name__ for f, _ in WRONG])
def test_wrong_lookups_are_rejected(redis_backend, fn, mentions):
    assert_rejected(check(fn, redis_backend), *mentions)


def test_a_linearizable_lookup_is_not_called_a_dead_session():
    """Issue 13: GET then EXPIRE is linearizable (admitted when read); its harm is the extra round trip."""
    v = sliding_expiry(read_then_expire)
    assert "round trip" in str(v) and "dead session" not in str(v)
    assert v.passed == 4
