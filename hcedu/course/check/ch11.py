"""Checker for exercise 11: the atomic claim of a Redis ZSET delay queue.

``claim(client, due, leased, now, limit, lease)`` is checked for

* the edges: only items scored <= ``now`` (inclusive, ``now`` used as given: a fractional ``now`` is not
  truncated), earliest first, at most ``limit``, each moved to ``leased`` scored exactly ``now + lease``
  (with the ``lease`` passed, not a fixed one);
* atomicity, deterministically: a protocol-level hook in the learner's connection (:mod:`._wire`) slips
  another worker's whole claim (at another ``now`` and ``lease``) in after every reply the learner's
  client reads. No item may go to two callers, leave ``due`` unleased, or be leased by a caller that was
  not handed it (a lost race's stale ``ZADD`` shows as a lease deadline other than its winner's). Then
  another worker takes one item once while the learner's call runs: a call that loses that race must
  still take the other due items, not return [] (a WATCH transaction that gives up on WatchError);
* ``workers`` concurrent claimers over ``items`` due orders: each claimed exactly once.

The other worker runs the learner's ``claim`` on its own thread (a bounded join, so it cannot deadlock the
checker). If the learner's call holds a process-local lock (``threading.Lock``/``RLock``/``Condition``
found on its stack) when the hook fires, the other worker stands for another *process*, which that lock
does not stop: it runs an atomic reference claim instead, and a race it then wins is reported with the lock.
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections import Counter
from typing import Any, Callable

import redis

from . import Verdict, _is_library_file, run_checks
from ._wire import fresh_client, spy_client

__all__ = ["delay_claim"]

DUE, LEASED = "ex11:due", "ex11:leased"
_INTERLEAVINGS = 6  # how many whole claims of another worker the interleaving check slips in
_PATIENCE = 10.0    # s another worker's claim may wait while the learner's call is paused before it counts as blocked
MY_NOW, MY_LEASE = 1000, 30          # the learner's call in the interleaving check ...
OTHER_NOW, OTHER_LEASE = 500, 20     # ... and the other worker's: their lease deadlines differ (1030 vs 520)

_REFERENCE_LUA = """
local items = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(items) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[3], id)
end
return items
"""
_LOCK_TYPES = tuple({type(threading.Lock()), type(threading.RLock()), threading._RLock,  # type: ignore[attr-defined]
                     threading.Condition})


def _ids(got: object) -> list:
    """The learner's return value as a list of ids, or an AssertionError saying what came back instead."""
    assert isinstance(got, (list, tuple)), f"claim must return a list of ids, it returned {got!r}"
    assert all(isinstance(i, (str, bytes)) for i in got), f"claim must return a list of id strings, got {got!r}"
    return list(got)


def _is_held(lock: Any) -> bool:
    """True if ``lock`` (a threading lock type) is held: an RLock/Condition by this thread, a Lock by anyone."""
    try:
        return bool(lock._is_owned()) if hasattr(lock, "_is_owned") else bool(lock.locked())
    except Exception:  # an exotic lock-alike: not ours to judge
        return False


def _held_process_locks() -> list[str]:
    """Names of process-local locks that learner code on this thread's stack holds right now.

    Looks, in each learner frame (not hcedu's, not a library's), at its locals (closure cells included), the
    globals its code names, and those objects' attributes its code names (``self._lock``, ``locks.CLAIM``).
    """
    found: dict[int, str] = {}
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if not _is_library_file(code.co_filename):
            names = set(code.co_names)
            objects = dict(frame.f_locals)
            objects.update({n: frame.f_globals[n] for n in names if n in frame.f_globals})
            for name, obj in list(objects.items()):
                for attr in names:
                    try:
                        value = inspect.getattr_static(obj, attr)
                    except Exception:
                        continue
                    if isinstance(value, _LOCK_TYPES):
                        objects[f"{name}.{attr}"] = value
            for name, obj in objects.items():
                if isinstance(obj, _LOCK_TYPES) and id(obj) not in found and _is_held(obj):
                    found[id(obj)] = name
        frame = frame.f_back
    return list(found.values())


class _OtherWorker:
    """Another worker's whole claims (``claim(client, DUE, LEASED, now, limit, lease)``), slipped in after the
    replies of the learner's spied client (it is the spy's ``after_reply`` hook), at most ``times`` of them.

    Each runs the learner's ``claim`` on its own thread and waits for it (so the interleaving is still
    deterministic) at most ``_PATIENCE`` s: a lock the paused learner's call holds cannot deadlock the checker.
    When the learner's call holds a process-local lock, the other worker is a worker of another process, which
    that lock does not exclude: the reference script claims instead. :meth:`settle` (after the learner's call)
    reports a blocked or failed other worker."""

    def __init__(self, claim: Callable[..., Any], client: redis.Redis, now: float, limit: int, lease: float,
                 times: int) -> None:
        self.claim, self.client = claim, client
        self.now, self.limit, self.lease, self.times = now, limit, lease, times
        self.batches: list[list] = []
        self.locks: list[str] = []
        self.blocked: threading.Thread | None = None
        self.error: BaseException | None = None

    def __call__(self, _name: str) -> None:
        if len(self.batches) >= self.times or self.blocked is not None or self.error is not None:
            return
        self.batches.append([])  # counted before it runs
        held = _held_process_locks()
        if held:
            self.locks.extend(n for n in held if n not in self.locks)
            script = self.client.register_script(_REFERENCE_LUA)
            self.batches[-1] = list(script(keys=[DUE, LEASED], args=[self.now, self.limit, self.now + self.lease]))
            return
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["ids"] = self.claim(self.client, DUE, LEASED, self.now, self.limit, self.lease)
            except BaseException as exc:  # reported by settle(), not through the learner's code
                box["error"] = exc

        t = threading.Thread(target=run, name="hcedu-check11-other", daemon=True)
        t.start()
        t.join(_PATIENCE)
        if t.is_alive():
            self.blocked = t  # let the learner's call go on: its lock is released when it returns
        elif "error" in box:
            self.error = box["error"]
        else:
            try:
                self.batches[-1] = _ids(box["ids"])
            except AssertionError as exc:
                self.error = exc

    def settle(self) -> None:
        """After the learner's call: fail if the other worker could not run, or raised."""
        if self.blocked is not None:
            self.blocked.join(_PATIENCE)  # it can go on now: no stray write after the verdict
            raise AssertionError(
                f"another worker's claim, started while your call was between two commands, could not finish "
                f"within {_PATIENCE:g} s: it waited for something your call held, e.g. a Python lock "
                "(threading.Lock). A Python lock only excludes threads of this process: workers in other "
                "processes (other machines) are not stopped by it")
        if self.error is not None:
            raise self.error

    def lock_note(self) -> str:
        if not self.locks:
            return ""
        return (f" (your call held the Python lock {self.locks[0]} meanwhile: a Python lock only excludes "
                "threads of this process, and workers in other processes (other machines), like this one, are "
                "not stopped by it)")


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
        r.zadd(DUE, {"b": 2})
        now, lease = 20.25, 45  # both exact in binary: now + lease is exact however it is computed
        claim(r, DUE, LEASED, now, 1, lease)
        leased = r.zscore(LEASED, "b")
        assert leased == now + lease, (
            f"claimed at now={now} with lease={lease}, the leased score should be the lease deadline "
            f"now + lease = {now + lease}, got {leased}"
            + (": use the lease argument, not a fixed 30 s" if leased is not None and leased - now == 30 else "")
            + (": use now as given, not rounded" if leased is not None and leased == int(now) + lease else ""))

    def due_exactly_at_now() -> None:
        r = _client()
        r.zadd(DUE, {"on_time": 10, "just_after": 10.001})
        got = _ids(claim(r, DUE, LEASED, 10, 5, 30))
        assert got == ["on_time"], \
            f"at now=10 an item scored 10 is due and one scored 10.001 is not: expected ['on_time'], got {got!r}"
        r.delete(DUE, LEASED)
        r.zadd(DUE, {"due": 100.25, "not_yet": 100.875})  # exact in binary, so no rounding on the way
        got = _ids(claim(r, DUE, LEASED, 100.75, 5, 30))
        assert got == ["due"], (f"at now=100.75 an item scored 100.25 is due and one scored 100.875 is not: "
                                f"expected ['due'], got {got!r}: now is a float, use it as given (no int(), "
                                "no rounding)")

    def empty_when_nothing_due() -> None:
        r = _client()
        r.zadd(DUE, {"a": 50})
        got = _ids(claim(r, DUE, LEASED, 10, 5, 30))
        assert got == [], f"nothing is due at now=10, got {got!r}"

    def interleaved(orders: list[str], limit: int, times: int) -> tuple[list, _OtherWorker]:
        """The learner's claim (at MY_NOW) with another worker's (at OTHER_NOW, ``limit`` each) slipped in after
        each of its first ``times`` replies; checks no order is claimed twice, lost, or leased by a caller
        not handed it, each lease the deadline of the caller that was. Returns what the learner claimed."""
        r = _client()
        r.zadd(DUE, {o: i for i, o in enumerate(orders)})
        other = _OtherWorker(claim, base, OTHER_NOW, limit, OTHER_LEASE, times)
        spy = spy_client(base, after_reply=other)
        try:
            result = claim(spy, DUE, LEASED, MY_NOW, 3, MY_LEASE)
        finally:
            spy.after_reply = None
            spy.close()
            other.settle()
        mine = _ids(result)
        assert other.batches, "claim sent no command to Redis"
        got = Counter(mine)
        for batch in other.batches:
            got.update(batch)
        twice = sorted(k for k, v in got.items() if v > 1)
        assert not twice, (f"{len(twice)} orders were claimed by more than one worker (e.g. {twice[0]}): another "
                           f"worker's claim ran between two of your commands{other.lock_note()}")
        leased = dict(r.zrange(LEASED, 0, -1, withscores=True))
        missing = sorted(set(got) - set(leased))
        assert not missing, f"claimed orders missing from the leased set: {missing[:3]}"
        due = set(r.zrange(DUE, 0, -1))
        lost = sorted(set(orders) - due - set(leased))
        assert not lost, f"{len(lost)} orders left the due set without being leased (e.g. {lost[0]}): they are lost"
        stray = sorted(set(leased) - set(got))
        assert not stray, f"{stray[0]} is in the leased set but no worker was handed it: nobody will process it"
        mine_set, mine_deadline, other_deadline = set(mine), MY_NOW + MY_LEASE, OTHER_NOW + OTHER_LEASE
        for order in sorted(leased):
            want = mine_deadline if order in mine_set else other_deadline
            if leased[order] != want:
                if order not in mine_set and leased[order] == mine_deadline:
                    raise AssertionError(
                        f"another worker claimed {order} (lease deadline {other_deadline}) while your call ran, "
                        f"and your call, which did not return it, overwrote its lease with your deadline "
                        f"{mine_deadline}: a lease written for an order you lost the race for (ZADD to the "
                        "leased set for an item whose ZREM did not return 1) moves the winner's deadline")
                raise AssertionError(f"{order} is leased until {leased[order]}, but the worker handed it "
                                     f"claimed with the deadline {want}")
        return mine, other

    def interleaved_claims() -> None:
        n = 3 * (_INTERLEAVINGS + 2)
        interleaved([f"o{i:02d}" for i in range(n)], 3, _INTERLEAVINGS)
        orders = [f"p{i}" for i in range(6)]
        mine, other = interleaved(orders, 1, 1)  # one other claim of one order, after your first reply
        left = base.zrange(DUE, 0, -1)
        assert mine or not left, (
            f"another worker claimed {other.batches[0]} while your call ran, {len(left)} more orders were still "
            f"due, and your call returned []{other.lock_note()}: a claim that loses a race must retry (on "
            "WatchError: WATCH, read and MULTI again) or keep what it won, not give up: its caller would think "
            "nothing is due")

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
         "ZREM from due and ZADD leased (now + lease, with the now and lease passed in) for each item"),
        ("returns [] when nothing is due", empty_when_nothing_due, "an empty read means nothing to do"),
        ("another worker claiming between any two of your commands gets different orders", interleaved_claims,
         "between your read and your remove another worker can claim the same items: make read-and-remove "
         "one atomic step in Redis (a Lua script runs with nothing interleaved; MULTI with WATCH, retried "
         "when it fails), or keep and lease only the items whose own ZREM returned 1"),
        (f"{workers} concurrent workers claim each of {items} orders exactly once", exactly_once_under_concurrency,
         "read and remove in ONE step: a Lua script (client.register_script) runs atomically"),
    ])
