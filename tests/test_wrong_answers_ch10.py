"""Exercise 10 (sliding expiry on a HASH session): wrong lookups a learner writes are rejected, on both backends.

Each ``load_and_slide`` runs through ``check.sliding_expiry`` with clients of the ``redis_backend`` store
(embedded fakeredis and a real redis-server); race-type ones five times, rejected every time, with a
verdict naming the harm (torn read, resurrection, round trips, ...). A Lua script, a MULTI/EXEC
transaction and a pipeline without MULTI that reads before it slides (HGETALL then EXPIRE: a logout between
them leaves nothing to slide) are accepted.
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


def plain_pipeline_read_then_expire(client, key, ttl):  # not atomic, but read-then-slide is linearizable
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(key)
    pipe.expire(key, ttl)
    fields, _ = pipe.execute()
    return fields or None


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


def pipelined_source(client, key, ttl):  # "one round trip": the source's three commands in a pipeline without MULTI
    pipe = client.pipeline(transaction=False)
    pipe.exists(key)
    pipe.expire(key, ttl)
    pipe.hgetall(key)
    exists, _, fields = pipe.execute()
    return fields if exists else None


def hmget_known_fields(client, key, ttl):  # reads the example session's two fields by name
    pipe = client.pipeline()
    pipe.hmget(key, "user_id", "cart")
    pipe.expire(key, ttl)
    (user_id, cart), _ = pipe.execute()
    if user_id is None:
        return None
    return {"user_id": user_id, "cart": cart}


def expire_gt(client, key, ttl):  # "sliding only ever extends": EXPIRE ... GT
    pipe = client.pipeline()
    pipe.hgetall(key)
    pipe.expire(key, ttl, gt=True)
    fields, _ = pipe.execute()
    return fields or None


def expire_xx(client, key, ttl):  # "only slide sessions that have a TTL": EXPIRE ... XX
    pipe = client.pipeline()
    pipe.hgetall(key)
    pipe.expire(key, ttl, xx=True)
    fields, _ = pipe.execute()
    return fields or None


def script_on_the_first_client():
    """A lookup that registers its script once, on the first client it is given, and calls it without
    client=: every later lookup runs on that first client, not on the one it is given (fresh per test)."""
    cached = []

    def load_and_slide(client, key, ttl):
        if not cached:
            cached.append(client.register_script(LOOKUP_LUA))
        return _as_dict(cached[0](keys=[key], args=[ttl]))

    return load_and_slide


@pytest.mark.parametrize("fn", [lua_lookup, multi_exec_lookup, plain_pipeline_read_then_expire])
def test_correct_lookups_are_accepted(redis_backend, fn):
    assert_accepted(check(fn, redis_backend))


RACES = [
    (source_exists_expire_read, ("torn read",)),
    (expire_then_read, ("torn read",)),
    (slide_by_rewriting, ("resurrected",)),
    (pipelined_source, ("pipeline without MULTI",)),
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
    (hmget_known_fields, ("all of its fields",)),
    (expire_gt, ("GT only ever lengthens",)),
    (expire_xx, ("XX and GT leave a key without a TTL",)),
]


@pytest.mark.parametrize("fn,mentions", WRONG, ids=[f.__name__ for f, _ in WRONG])
def test_wrong_lookups_are_rejected(redis_backend, fn, mentions):
    assert_rejected(check(fn, redis_backend), *mentions)


def test_a_linearizable_lookup_is_not_called_a_dead_session():
    """Issue 13: GET then EXPIRE is linearizable (admitted when read); its harm is the extra round trip."""
    v = sliding_expiry(read_then_expire)
    assert "round trip" in str(v) and "dead session" not in str(v)
    assert v.passed == 4


def test_a_lookup_that_ignores_its_client_is_told_so(redis_backend):
    """A script bound to the first client ever passed sends nothing through the client it is given: the
    verdict says so (not "send the read and the slide together")."""
    assert_rejected(check(script_on_the_first_client(), redis_backend), "must use its client argument")
