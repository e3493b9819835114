"""Checker for exercise 11: the atomic claim of a Redis ZSET delay queue."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Callable

import redis

from . import Verdict, run_checks
from ._wire import fresh_client, spy_client

__all__ = ["delay_claim"]

DUE, LEASED = "ex11:due", "ex11:leased"
_INTERLEAVINGS = 6  # how many whole claims of another worker the interleaving check slips in


def _ids(got: object) -> list:
    """The learner's return value as a list of ids, or an AssertionError saying what came back instead."""
    assert isinstance(got, (list, tuple)), f"claim must return a list of ids, it returned {got!r}"
    assert all(isinstance(i, (str, bytes)) for i in got), f"claim must return a list of id strings, got {got!r}"
    return list(got)


def delay_claim(claim: Callable[..., list], workers: int = 4, items: int = 2000,
                client: redis.Redis | None = None) -> Verdict:
    """Check ``claim(client, due_key, leased_key, now, limit, lease) -> list[str]``: it takes up to ``limit``
    items due at ``now`` (score <= now, earliest first), moves them to ``leased_key`` scored ``now + lease``,
    and hands each due item to exactly one caller: even when another worker's whole claim runs between any
    two of its commands (a protocol-level hook puts one there, deterministically), and with ``workers``
    concurrent claimers over ``items`` due orders.

    ``client``: a redis client of the store to check on (keys ``ex11:*`` are overwritten); default a
    private embedded store.
    """
    base = client if client is not None else fresh_client()

    def _client() -> redis.Redis:
        base.delete(DUE, LEASED)
        return base

    def due_only_earliest_first() -> None:
        r = _client()
        r.zadd(DUE, {"a": 1, "b": 2, "c": 3, "later": 100})
        got = _ids(claim(r, DUE, LEASED, 2.5, 10, 30))
        early = [m for m in got if m in ("c", "later")]
        assert not early, f"at now=2.5 {early} (scored 3 and 100) are not due yet but were claimed"
        assert got == ["a", "b"], f"at now=2.5 expected ['a', 'b'], got {got!r}"
        assert r.zscore(DUE, "later") == 100, "an item that is not due yet was touched"

    def respects_limit() -> None:
        r = _client()
        r.zadd(DUE, {f"o{i}": i for i in range(10)})
        got = _ids(claim(r, DUE, LEASED, 100, 3, 30))
        assert got == ["o0", "o1", "o2"], f"limit=3 should give the 3 earliest, got {got!r}"
        assert r.zcard(DUE) == 7, (f"7 items should still wait in the due set, {r.zcard(DUE)} do: "
                                   f"items beyond the limit were removed without being claimed")

    def moves_to_leased() -> None:
        r = _client()
        r.zadd(DUE, {"a": 1})
        claim(r, DUE, LEASED, 10, 1, 30)
        assert r.zscore(DUE, "a") is None, "a claimed item must leave the due set"
        leased = r.zscore(LEASED, "a")
        assert leased is not None, ("a claimed item must be recorded in the leased set: otherwise a worker that "
                                    "dies before finishing loses the order")
        assert leased == 40, f"the leased score should be the lease deadline now + lease = 40, got {leased}"

    def due_exactly_at_now() -> None:
        r = _client()
        r.zadd(DUE, {"on_time": 10, "just_after": 10.001})
        got = _ids(claim(r, DUE, LEASED, 10, 5, 30))
        assert got == ["on_time"], \
            f"at now=10 an item scored 10 is due and one scored 10.001 is not: expected ['on_time'], got {got!r}"

    def empty_when_nothing_due() -> None:
        r = _client()
        r.zadd(DUE, {"a": 50})
        got = _ids(claim(r, DUE, LEASED, 10, 5, 30))
        assert got == [], f"nothing is due at now=10, got {got!r}"

    def interleaved_claims() -> None:
        r = _client()
        n = 3 * (_INTERLEAVINGS + 2)
        r.zadd(DUE, {f"o{i:02d}": i for i in range(n)})
        others: list[list[str]] = []

        def another_worker(_name: str) -> None:
            if len(others) < _INTERLEAVINGS:
                others.append([])  # counted before it runs: its own commands go through the plain client
                others[-1] = _ids(claim(base, DUE, LEASED, 1000, 3, 30))

        spy = spy_client(base, after_reply=another_worker)
        try:
            mine = _ids(claim(spy, DUE, LEASED, 1000, 3, 30))
        finally:
            spy.after_reply = None
            spy.close()
        assert others, "claim sent no command to Redis"
        got = Counter(mine)
        for batch in others:
            got.update(batch)
        twice = sorted(k for k, v in got.items() if v > 1)
        assert not twice, (f"{len(twice)} orders were claimed by more than one worker (e.g. {twice[0]}): another "
                           f"worker's claim ran between two of your commands")
        leased = r.zrange(LEASED, 0, -1)
        missing = sorted(set(got) - set(leased))
        assert not missing, f"claimed orders missing from the leased set: {missing[:3]}"
        due = set(r.zrange(DUE, 0, -1))
        lost = sorted({f"o{i:02d}" for i in range(n)} - due - set(leased))
        assert not lost, f"{len(lost)} orders left the due set without being leased (e.g. {lost[0]}): they are lost"
        stray = sorted(set(leased) - set(got))
        assert not stray, f"{stray[0]} is in the leased set but no worker was handed it: nobody will process it"

    def exactly_once_under_concurrency() -> None:
        r = _client()
        r.zadd(DUE, {f"o{i:05d}": i % 100 for i in range(items)})
        got: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(workers, timeout=10)
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                start.wait()
                mine = []
                while True:
                    batch = _ids(claim(r, DUE, LEASED, 1000, 20, 30))
                    if not batch:
                        break
                    mine.extend(batch)
                with lock:
                    got.extend(mine)
            except BaseException as exc:  # report the learner's error, not a hang
                errors.append(exc)

        ts = [threading.Thread(target=worker, name=f"hcedu-check11-{i}", daemon=True) for i in range(workers)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=60)
        if errors:
            raise errors[0]
        counts = Counter(got)
        twice = [k for k, v in counts.items() if v > 1]
        assert not twice, f"{len(twice)} of {items} orders were claimed by more than one worker (e.g. {twice[0]})"
        assert len(counts) == items, f"only {len(counts)} of {items} due orders were claimed"
        assert r.zcard(LEASED) == items, f"{r.zcard(LEASED)} of {items} claimed orders are in the leased set"

    return run_checks("atomic delay-queue claim", [
        ("claims only due items, earliest first", due_only_earliest_first,
         "read the due set by score, lowest first: ZRANGE due -inf now BYSCORE LIMIT 0 limit (Redis >= 6.2)"),
        ("an item due exactly at now is claimed, one due later is not", due_exactly_at_now,
         "'due' means score <= now: an inclusive upper bound, no '(' and no rounding of now"),
        ("respects limit", respects_limit, "pass LIMIT 0 <limit> to the read (ZRANGE ... BYSCORE LIMIT)"),
        ("moves each claimed item to the leased set at now + lease", moves_to_leased,
         "ZREM from due and ZADD leased (now + lease) for each item"),
        ("returns [] when nothing is due", empty_when_nothing_due, "an empty read means nothing to do"),
        ("another worker claiming between any two of your commands gets different orders", interleaved_claims,
         "between your read and your remove another worker can claim the same items: make read-and-remove "
         "one atomic step (a Lua script runs with nothing interleaved), or keep only the items whose own "
         "ZREM returned 1"),
        (f"{workers} concurrent workers claim each of {items} orders exactly once", exactly_once_under_concurrency,
         "read and remove in ONE step: a Lua script (client.register_script) runs atomically"),
    ])
