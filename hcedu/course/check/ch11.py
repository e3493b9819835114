"""Checker for exercise 11: the atomic claim of a Redis ZSET delay queue."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any, Callable

import fakeredis

from . import Verdict, run_checks

__all__ = ["delay_claim"]

DUE, LEASED = "ex11:due", "ex11:leased"


class _RacyRedis(fakeredis.FakeRedis):
    """A client that pauses after every plain ZRANGEBYSCORE, so a read-then-remove claim races every time.
    (A Lua script runs inside Redis and is not slowed down.)"""

    def zrangebyscore(self, *args: Any, **kwargs: Any) -> Any:
        result = super().zrangebyscore(*args, **kwargs)
        time.sleep(0.002)
        return result


def _client() -> fakeredis.FakeRedis:
    return _RacyRedis(server=fakeredis.FakeServer(), decode_responses=True)


def delay_claim(claim: Callable[..., list], workers: int = 4, items: int = 2000) -> Verdict:
    """Check ``claim(client, due_key, leased_key, now, limit, lease) -> list[str]``: it takes up to ``limit``
    items due at ``now`` (earliest first), moves them to ``leased_key`` scored ``now + lease``, and hands each
    due item to exactly one of ``workers`` concurrent claimers over ``items`` due orders."""

    def due_only_earliest_first() -> None:
        r = _client()
        r.zadd(DUE, {"a": 1, "b": 2, "c": 3, "later": 100})
        got = list(claim(r, DUE, LEASED, 2.5, 10, 30))
        assert got == ["a", "b"], f"at now=2.5 expected ['a', 'b'], got {got!r}"
        assert r.zscore(DUE, "later") == 100, "an item that is not due yet was touched"

    def respects_limit() -> None:
        r = _client()
        r.zadd(DUE, {f"o{i}": i for i in range(10)})
        got = list(claim(r, DUE, LEASED, 100, 3, 30))
        assert got == ["o0", "o1", "o2"], f"limit=3 should give the 3 earliest, got {got!r}"
        assert r.zcard(DUE) == 7, f"7 items should still wait, {r.zcard(DUE)} do"

    def moves_to_leased() -> None:
        r = _client()
        r.zadd(DUE, {"a": 1})
        claim(r, DUE, LEASED, 10, 1, 30)
        assert r.zscore(DUE, "a") is None, "a claimed item must leave the due set"
        assert r.zscore(LEASED, "a") == 40, f"leased score should be now + lease = 40, got {r.zscore(LEASED, 'a')}"

    def empty_when_nothing_due() -> None:
        r = _client()
        r.zadd(DUE, {"a": 50})
        got = list(claim(r, DUE, LEASED, 10, 5, 30))
        assert got == [], f"nothing is due at now=10, got {got!r}"

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
                    batch = list(claim(r, DUE, LEASED, 1000, 20, 30))
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
         "ZRANGEBYSCORE due -inf now LIMIT 0 limit"),
        ("respects limit", respects_limit, "pass LIMIT 0 <limit> to ZRANGEBYSCORE"),
        ("moves each claimed item to the leased set at now + lease", moves_to_leased,
         "ZREM from due and ZADD leased (now + lease) for each item"),
        ("returns [] when nothing is due", empty_when_nothing_due, "an empty ZRANGEBYSCORE means nothing to do"),
        (f"{workers} concurrent workers claim each of {items} orders exactly once", exactly_once_under_concurrency,
         "read and remove in ONE step: a Lua script (client.register_script) runs atomically"),
    ])
