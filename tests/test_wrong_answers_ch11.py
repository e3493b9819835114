"""Exercise 11 (the atomic delay-queue claim): wrong solutions a learner writes are rejected, on every run and
on both backends, with a verdict naming the mistake; the reference and other correct designs are accepted."""

from __future__ import annotations

import threading

import pytest
import redis

from hcedu.course import check
from helpers import assert_accepted, assert_rejected

ITEMS = 300  # the threaded check's size: enough for four workers, quick on a real server


def verdict(claim, redis_backend):
    return check.delay_claim(claim, items=ITEMS, client=redis_backend.client())


# -- correct designs ------------------------------------------------------------------------------------

CLAIM_SCRIPT = """
local items = redis.call('ZRANGE', KEYS[1], '-inf', %s, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(items) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[3], id)
end
return items
"""


def lua_claim(client, due, leased, now, limit, lease, *, upper="ARGV[1]"):
    """The reference: one script reads, removes and leases (ZRANGE ... BYSCORE, Redis >= 6.2)."""
    script = client.register_script(CLAIM_SCRIPT % upper)
    return list(script(keys=[due, leased], args=[now, limit, now + lease]))


def zrem_reply_claim(client, due, leased, now, limit, lease):
    """Read, then keep only what this worker's own ZREM removed (ZREM's reply says who won)."""
    won = []
    for item in client.zrange(due, "-inf", now, byscore=True, offset=0, num=limit):
        if client.zrem(due, item) == 1:
            client.zadd(leased, {item: now + lease})
            won.append(item)
    return won


def watch_claim(client, due, leased, now, limit, lease):
    """Optimistic: WATCH the due set, read, MULTI remove + lease, retry when another client changed it."""
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(due)
                items = pipe.zrange(due, "-inf", now, byscore=True, offset=0, num=limit)
                pipe.multi()
                if items:
                    pipe.zrem(due, *items)
                    pipe.zadd(leased, {i: now + lease for i in items})
                pipe.execute()
                return list(items)
            except redis.WatchError:
                continue


_BELT_AND_BRACES = threading.Lock()


def lua_claim_under_a_python_lock(client, due, leased, now, limit, lease):
    """Atomic in Redis, plus a redundant process-local lock: the checker's other worker must not deadlock on it."""
    with _BELT_AND_BRACES:
        return lua_claim(client, due, leased, now, limit, lease)


@pytest.mark.timeout(60)  # the old checker deadlocked on the Python lock
@pytest.mark.parametrize("claim", [lua_claim, zrem_reply_claim, watch_claim, lua_claim_under_a_python_lock],
                         ids=lambda f: f.__name__)
def test_correct_designs_are_accepted(claim, redis_backend):
    assert_accepted(verdict(claim, redis_backend))


# -- wrong solutions, as a learner writes them ------------------------------------------------------------

def zrem_reply_ignored(client, due, leased, now, limit, lease):
    """The chapter's race: read, then ZREM without looking at its reply."""
    items = client.zrangebyscore(due, "-inf", now, start=0, num=limit)
    for item in items:
        client.zrem(due, item)
        client.zadd(leased, {item: now + lease})
    return items


def multi_without_watch(client, due, leased, now, limit, lease):
    """Non-atomic read-then-write: the write is a MULTI transaction, but the read happened before it."""
    items = client.zrange(due, "-inf", now, byscore=True, offset=0, num=limit)
    pipe = client.pipeline(transaction=True)
    if items:
        pipe.zrem(due, *items)
        pipe.zadd(leased, {i: now + lease for i in items})
    pipe.execute()
    return items


def pipelined_read_and_remove(client, due, leased, now, limit, lease):
    """Read and ZREMRANGEBYSCORE in one MULTI: atomic, but it removes every due item, not just `limit`."""
    pipe = client.pipeline(transaction=True)
    pipe.zrange(due, "-inf", now, byscore=True, offset=0, num=limit)
    pipe.zremrangebyscore(due, "-inf", now)
    items, _ = pipe.execute()
    if items:
        client.zadd(leased, {i: now + lease for i in items})
    return items


def claims_not_yet_due(client, due, leased, now, limit, lease):
    """Off by one on the bound: 'due within the next second' claims items that are not due yet."""
    return lua_claim(client, due, leased, now + 1, limit, lease - 1)


def exclusive_bound(client, due, leased, now, limit, lease):
    """Off by one the other way: '(now' skips an item due exactly now."""
    return lua_claim(client, due, leased, now, limit, lease, upper="'(' .. ARGV[1]")


def forgets_the_lease(client, due, leased, now, limit, lease):
    """Pops due items atomically but never records the lease: a worker that dies loses the order."""
    script = client.register_script("""
    local items = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
    for _, id in ipairs(items) do redis.call('ZREM', KEYS[1], id) end
    return items
    """)
    return list(script(keys=[due], args=[now, limit]))


def lease_is_a_duration(client, due, leased, now, limit, lease):
    """Scores the lease with its length (30) instead of its deadline (now + 30)."""
    return lua_claim(client, due, leased, now, limit, lease - now)


def zpopmin(client, due, leased, now, limit, lease):
    """ZPOPMIN is atomic, but it pops the earliest items whether or not they are due."""
    items = [m for m, _ in client.zpopmin(due, limit)]
    if items:
        client.zadd(leased, {i: now + lease for i in items})
    return items


def ignores_limit(client, due, leased, now, limit, lease):
    """Atomic, but claims every due item: one worker hogs the backlog."""
    return lua_claim(client, due, leased, now, 10 ** 6, lease)


def swallows_errors(client, due, leased, now, limit, lease):
    """A typo in the script (ZRANGEBYSCORE has no BYSCORE flag) and a bare except that hides it."""
    try:
        script = client.register_script(
            "return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])")
        return list(script(keys=[due], args=[now, limit]))
    except Exception:
        return []


def forgets_to_return(client, due, leased, now, limit, lease):
    """Does the work and forgets the return statement."""
    lua_claim(client, due, leased, now, limit, lease)


def truncates_now(client, due, leased, now, limit, lease):
    """Scores are 'seconds', so now goes in as an int: an item due at 100.25 is not claimed at 100.75."""
    now = int(now)
    return lua_claim(client, due, leased, now, limit, lease)


def hardcoded_lease(client, due, leased, now, limit, lease):
    """Ignores the lease argument: every lease is 30 s (the course's DelayQueue default)."""
    return lua_claim(client, due, leased, now, limit, 30)


def lease_then_zrem(client, due, leased, now, limit, lease):
    """'Never lose an item': lease it first, then ZREM and keep it only if the ZREM won. The loser's lease
    overwrites the winner's deadline."""
    won = []
    for item in client.zrange(due, "-inf", now, byscore=True, offset=0, num=limit):
        client.zadd(leased, {item: now + lease})
        if client.zrem(due, item) == 1:
            won.append(item)
    return won


def zrem_reply_but_leases_all(client, due, leased, now, limit, lease):
    """Checks ZREM's reply for the return value, but records a lease for every item it read."""
    items = client.zrange(due, "-inf", now, byscore=True, offset=0, num=limit)
    won = [i for i in items if client.zrem(due, i) == 1]
    if items:
        client.zadd(leased, {i: now + lease for i in items})
    return won


def watch_gives_up(client, due, leased, now, limit, lease):
    """WATCH/MULTI, but on a conflict it returns [] ('someone else got them') instead of retrying."""
    with client.pipeline() as pipe:
        try:
            pipe.watch(due)
            items = pipe.zrange(due, "-inf", now, byscore=True, offset=0, num=limit)
            pipe.multi()
            if items:
                pipe.zrem(due, *items)
                pipe.zadd(leased, {i: now + lease for i in items})
            pipe.execute()
            return list(items)
        except redis.WatchError:
            return []


_CLAIM_LOCK = threading.Lock()


def python_lock(client, due, leased, now, limit, lease):
    """The chapter's race 'fixed' with a module-level threading.Lock: it excludes this process's threads only
    (and it hung the checker, whose other worker ran on the learner's thread while the lock was held)."""
    with _CLAIM_LOCK:
        return zrem_reply_ignored(client, due, leased, now, limit, lease)


_LOCKS = {"claim": threading.Lock()}


def python_lock_out_of_sight(client, due, leased, now, limit, lease):
    """The same, with the lock where the checker's look at your frames does not find it (a dict's value): the
    other worker's thread waits for it until the checker's patience runs out."""
    with _LOCKS["claim"]:
        return zrem_reply_ignored(client, due, leased, now, limit, lease)


WRONG = [
    (zrem_reply_ignored, ["more than one worker", "ZREM"], 5),
    (multi_without_watch, ["more than one worker"], 5),
    (pipelined_read_and_remove, ["removed without being claimed"], 1),
    (claims_not_yet_due, ["not due yet"], 1),
    (exclusive_bound, ["scored 10 is due", "inclusive"], 1),
    (forgets_the_lease, ["dies before finishing"], 1),
    (lease_is_a_duration, ["lease deadline"], 1),
    (zpopmin, ["not due yet"], 1),
    (ignores_limit, ["limit"], 1),
    (swallows_errors, ["expected ['a', 'b']"], 1),
    (forgets_to_return, ["must return a list"], 1),
    (truncates_now, ["no int()"], 1),
    (hardcoded_lease, ["not a fixed 30 s"], 1),
    (lease_then_zrem, ["overwrote its lease"], 5),
    (zrem_reply_but_leases_all, ["overwrote its lease"], 5),
    (watch_gives_up, ["returned []", "not give up"], 5),
]


@pytest.mark.parametrize("claim, mentions, runs", WRONG, ids=[w[0].__name__ for w in WRONG])
def test_wrong_solution_is_rejected(claim, mentions, runs, redis_backend):
    assert_rejected(verdict(claim, redis_backend), *mentions, runs=runs,
                    check=lambda: verdict(claim, redis_backend))


@pytest.mark.timeout(60)
def test_a_python_lock_is_named_and_does_not_hang_the_checker(redis_backend):
    """A lock held by the learner's call is found on its stack: the other worker claims as another process
    would (the lock does not stop it), at once, and the verdict names the lock."""
    assert_rejected(verdict(python_lock, redis_backend), "Python lock _CLAIM_LOCK", "only excludes threads",
                    runs=5, check=lambda: verdict(python_lock, redis_backend))


@pytest.mark.timeout(60)
def test_a_lock_out_of_sight_fails_after_the_patience_instead_of_hanging(redis_backend, monkeypatch):
    """A lock the look at the frames misses blocks the other worker's thread: the checker stops waiting after
    its patience (shortened here) and says what the other worker waited for."""
    from hcedu.course.check import ch11

    monkeypatch.setattr(ch11, "_PATIENCE", 0.1)
    assert_rejected(verdict(python_lock_out_of_sight, redis_backend), "could not finish within 0.1 s")


def test_the_race_is_caught_by_the_deterministic_interleaving(redis_backend):
    """The racy claim fails at the interleaving check, before the threaded one, so no luck is involved."""
    v = verdict(zrem_reply_ignored, redis_backend)
    assert v.failed and v.failed.startswith("another worker claiming between any two"), str(v)


def test_the_spy_sees_every_way_a_client_sends_commands(redis_backend):
    """The interleaving hook sits in the connection: plain commands, scripts, pipelines and WATCH
    transactions all pass through it, so no correct or wrong design can route around it."""
    from hcedu.course.check._wire import spy_client

    seen = []
    spy = spy_client(redis_backend.client(), after_reply=seen.append)
    try:
        spy.set("ex11:spy", 1)
        spy.register_script("return redis.call('GET', KEYS[1])")(keys=["ex11:spy"])
        pipe = spy.pipeline()
        pipe.incr("ex11:spy")
        pipe.execute()
        with spy.pipeline() as tx:
            tx.watch("ex11:spy")
            tx.get("ex11:spy")
            tx.multi()
            tx.incr("ex11:spy")
            tx.execute()
        assert spy.get("ex11:spy") == "3"
    finally:
        spy.close()
    assert {"SET", "EVALSHA", "PIPELINE", "WATCH", "GET"} <= set(spy.calls), dict(spy.calls)
    assert seen.count("GET") >= 2 and "WATCH" in seen and "PIPELINE" in seen
