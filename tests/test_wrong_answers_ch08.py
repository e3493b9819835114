"""Exercise 08 (safe lock release): wrong solutions a learner writes are rejected, on both backends.

Each wrong release is run through ``check.safe_release`` with clients of the ``redis_backend`` store
(embedded fakeredis and a real redis-server); the race-type ones five times, rejected every time, with a
verdict naming the mistake. The reference Lua release and two other correct designs are accepted.
"""

from __future__ import annotations

import pytest
import redis

from hcedu.course.check import safe_release
from helpers import assert_accepted, assert_rejected
from solution_code import reference

LUA_CAD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


# -- correct ---------------------------------------------------------------------------------------------
lua_compare_and_delete = reference("08_safe_release.py", "release")  # the solution notebook's own release


def watch_multi_compare_and_delete(client, key, token):
    """The optimistic alternative: WATCH the key, compare, then DEL inside MULTI/EXEC (aborts if it changed)."""
    with client.pipeline() as pipe:
        try:
            pipe.watch(key)
            if pipe.get(key) != token:
                pipe.unwatch()
                return False
            pipe.multi()
            pipe.delete(key)
            return pipe.execute()[0] == 1
        except redis.WatchError:
            return False


def transaction_helper(client, key, token):
    """The same with redis-py's client.transaction (retries on WatchError, then finds the lock not ours)."""
    def body(pipe):
        if pipe.get(key) != token:
            return False
        pipe.multi()
        pipe.delete(key)
        return True
    return client.transaction(body, key, value_from_callable=True)


# -- wrong ------------------------------------------------------------------------------------------------
def plain_del(client, key, token):  # the source's first version
    return bool(client.delete(key))


def get_then_del(client, key, token):  # check-then-act across two round trips
    if client.get(key) == token:
        return bool(client.delete(key))
    return False


def mget_then_del(client, key, token):  # the same race through another read command
    if client.mget([key])[0] == token:
        return bool(client.delete(key))
    return False


def exists_then_del(client, key, token):  # truthiness: "there is a lock" is not "it is mine"
    if client.exists(key):
        client.delete(key)
        return True
    return False


def getdel_then_put_back(client, key, token):  # deletes B's lock, then re-creates it with no TTL
    old = client.getdel(key)
    if old == token:
        return True
    if old is not None:
        client.set(key, old)
    return False


def getdel_then_put_back_with_ttl(client, key, token):  # keeps the TTL, still deletes B's lock for a moment
    ttl = client.pttl(key)
    old = client.getdel(key)
    if old == token:
        return True
    if old is not None:
        client.set(key, old, px=max(ttl, 1))
    return False


def pipelined_get_and_del(client, key, token):  # one round trip, but the DEL does not depend on the GET
    pipe = client.pipeline()
    pipe.get(key)
    pipe.delete(key)
    value, deleted = pipe.execute()
    return value == token and deleted == 1


def lua_without_compare(client, key, token):  # a script, but it forgot the compare
    return bool(client.register_script("return redis.call('DEL', KEYS[1])")(keys=[key], args=[token]))


def expire_instead_of_delete(client, key, token):  # "let it expire now", still check-then-act
    if client.get(key) == token:
        return bool(client.pexpire(key, 1))
    return False


def identity_compare(client, key, token):  # `is` compares objects, not strings
    return bool(client.register_script(LUA_CAD)(keys=[key], args=[token])) if client.get(key) is token else False


def swallows_errors(client, key, token):  # a broken script, and the error swallowed
    try:
        return bool(client.register_script("if redis.call('GET', KEYS[1]) == ARGV[1] then return "
                                           "redis.call('DEL', KEYS[1])")(keys=[key], args=[token]))
    except redis.ResponseError:
        return False


def always_true(client, key, token):  # atomic, but does not say whether it deleted anything
    client.register_script(LUA_CAD)(keys=[key], args=[token])
    return True


def ttl_guard_then_get_del(client, key, token):  # a PTTL guard first: the race is after the second round trip
    if client.pttl(key) <= 0:
        return False
    if client.get(key) != token:
        return False
    return bool(client.delete(key))


def exists_get_del(client, key, token):  # EXISTS, then GET, then DEL: the same race, one round trip later
    if not client.exists(key):
        return False
    if client.get(key) == token:
        return client.delete(key) == 1
    return False


def lua_fixed_token(client, key, token):  # atomic, but compares with the token the examples happened to use
    script = client.register_script("if redis.call('GET', KEYS[1]) == 'token-A' then "
                                    "return redis.call('DEL', KEYS[1]) end return 0")
    return bool(script(keys=[key]))


def lua_substring_match(client, key, token):  # string.find: "the value contains the token" is not "equals"
    script = client.register_script("local v = redis.call('GET', KEYS[1]) "
                                    "if v and string.find(v, ARGV[1], 1, true) then "
                                    "return redis.call('DEL', KEYS[1]) end return 0")
    return bool(script(keys=[key], args=[token]))


def lua_prefix_of_token(client, key, token):  # the other way round: the token starts with the value
    script = client.register_script("local v = redis.call('GET', KEYS[1]) "
                                    "if v and string.sub(ARGV[1], 1, #v) == v then "
                                    "return redis.call('DEL', KEYS[1]) end return 0")
    return bool(script(keys=[key], args=[token]))


def watch_true_on_abort(client, key, token):  # WATCH + MULTI/EXEC, but an aborted EXEC counts as released
    with client.pipeline() as pipe:
        try:
            pipe.watch(key)
            if pipe.get(key) != token:
                pipe.unwatch()
                return False
            pipe.multi()
            pipe.delete(key)
            pipe.execute()
            return True
        except redis.WatchError:
            return True


@pytest.mark.parametrize("release", [lua_compare_and_delete, watch_multi_compare_and_delete, transaction_helper])
def test_correct_releases_are_accepted(redis_backend, release):
    assert_accepted(safe_release(release, connect=redis_backend.client))


RACES = [
    (get_then_del, ("not atomic", "check-then-act")),
    (mget_then_del, ("not atomic", "check-then-act")),
    (getdel_then_put_back, ("B's lock", "TTL", "expiry")),
    (getdel_then_put_back_with_ttl, ("C acquired", "B's lock")),
    # a guard before the read: A's lease runs out after the 2nd round trip naming the key (the sweep's k=2)
    (ttl_guard_then_get_del, ("second round trip naming the key (GET)",)),
    (exists_get_del, ("second round trip naming the key (GET)",)),
    (watch_true_on_abort, ("transaction was aborted",)),
]


@pytest.mark.parametrize("release,mentions", RACES, ids=[f.__name__ for f, _ in RACES])
def test_racy_releases_are_rejected_every_time(redis_backend, release, mentions):
    check = lambda: safe_release(release, connect=redis_backend.client)  # noqa: E731
    assert_rejected(check(), *mentions, runs=5, check=check)


WRONG = [
    (plain_del, ("B's lock",)),
    (exists_then_del, ("B's lock",)),
    (pipelined_get_and_del, ("B's lock", "C acquired")),
    (lua_without_compare, ("B's lock",)),
    (identity_compare, ("should return True",)),
    (swallows_errors, ("should return True",)),
    (always_true, ("returned True",)),
    (lua_fixed_token, ("never sent its token",)),      # tokens are random: a fixed 'token-A' matches no lock
    (lua_substring_match, ("contains ours", "not a substring")),
    (lua_prefix_of_token, ("is contained in ours", "not a substring")),
    # PEXPIRE 1 ms: "still there" if the checker looks within the millisecond; on a busy machine the key has
    # expired by then and the next check rejects it for its real mistake, the check-then-act (hooks: every run)
    (expire_instead_of_delete, ("still there", "check-then-act")),
]


@pytest.mark.parametrize("release,mentions", WRONG, ids=[f.__name__ for f, _ in WRONG])
def test_wrong_releases_are_rejected(redis_backend, release, mentions):
    assert_rejected(safe_release(release, connect=redis_backend.client), *mentions)


def test_the_getdel_hole_is_closed_and_names_the_lost_ttl(redis_backend):
    """Issue 13: GETDEL then SET back passed 5/5; now the lock's TTL and C's chance to get in are checked."""
    v = safe_release(getdel_then_put_back, connect=redis_backend.client)
    assert "another token's lock is never touched" in str(v)


def test_learner_garbage_is_the_learners_error_not_the_checkers():
    v = safe_release(lambda c, k, t: "OK")
    assert_rejected(v, "should return True or False")


def test_the_protocol_spy_sees_every_round_trip(redis_backend):
    """Scripts, pipelines and watched pipelines are round trips too; hooks never see their own commands."""
    from hcedu.course.check._protocol import spy

    c = redis_backend.client()
    seen = []
    s = spy(c, after=lambda i, cmds: seen.append(i))
    c.set("k", "v")
    c.register_script("return 1")(keys=["k"])  # NOSCRIPT, SCRIPT LOAD, EVALSHA (or EVALSHA alone if cached)
    with c.pipeline() as p:
        p.get("k").delete("k").execute()
    with c.pipeline() as p:
        p.watch("k")
        p.get("k")
        p.multi()
        p.set("k", "w")
        p.execute()
    names = [name for trip in s.log for name in [[str(x[0]).upper() for x in trip]]]
    assert names[0] == ["SET"] and ["GET", "DEL"] in names and ["WATCH"] in names and ["SET"] == names[-1]
    assert "EVALSHA" in {n for trip in names for n in trip}
    assert len(seen) <= len(s.log) and c.get("k") == "w"
