"""Checker for exercise 10: the sliding-expiry lookup at the heart of a session middleware.

The session is a HASH (``user_id``, ``cart``) with a TTL. ``load_and_slide(client, key, ttl)`` returns its
fields and pushes its TTL back to ``ttl``, or None. Admitting a request whose session is logged out *while*
the lookup runs is not the harm (either order is a valid history: admission happened when the session was
read). The source's EXISTS → EXPIRE → read pattern has three real harms, and these checks target them:

* **torn read** -- a logout lands between the check and the read: the request gets an empty session
  (``user_id`` None), a state that never existed;
* **resurrection** -- the slide writes the session back (``SET``/``HSET`` ... ``EX``) after a logout;
* **round trips** -- three commands per request where one does.

The client handed to the learner is spied at the protocol level (:mod:`._protocol`): a logout is fired
in *every* gap between two of the function's round trips (one run per gap), so a check-then-read fails
deterministically wherever its gap is, and a warm lookup's round trips are counted.
"""

from __future__ import annotations

from typing import Any, Callable

from ... import _validate
from ...lab.sessionlab import run_threads
from . import Verdict, run_checks
from ._protocol import command_names, embedded, spy

__all__ = ["sliding_expiry"]

KEY = "ex10:sess:abc"
SESSION = {"user_id": "alice", "cart": "sku-1,sku-7"}


def _fields(got: Any) -> dict | None:
    assert got is None or isinstance(got, dict), (
        f"return the session's fields as a dict (or None), got {type(got).__name__} {got!r}")
    return got


def sliding_expiry(load_and_slide: Callable[..., Any], connect: Callable[[], Any] | None = None,
                   threads: int = 4, calls: int = 100) -> Verdict:
    """Check ``load_and_slide(client, key, ttl) -> dict | None`` on a HASH session: its fields if the key is
    live, with its TTL reset to ``ttl`` seconds; None (and nothing written) if not; never a torn read, never
    a resurrected session, one round trip per lookup.

    ``connect``: a zero-argument factory of redis-py clients (``decode_responses=True``) sharing one store;
    default a fresh embedded fakeredis. The tests pass a real ``redis-server``'s too.
    """
    load_and_slide = _validate.function("load_and_slide", load_and_slide)
    connect = embedded() if connect is None else _validate.function("connect", connect)
    threads = _validate.integer("threads", threads, minimum=1, maximum=64)
    calls = _validate.integer("calls", calls, minimum=1, maximum=10_000)
    other = connect()

    def login(ttl: int = 100, key: str = KEY) -> None:
        other.delete(key)
        other.hset(key, mapping=SESSION)
        other.expire(key, ttl)

    def returns_fields() -> None:
        login()
        got = _fields(load_and_slide(connect(), KEY, 1800))
        assert got == SESSION, f"expected the stored fields {SESSION}, got {got!r}"
        assert other.hgetall(KEY) == SESSION, "looking the session up changed its fields"

    def slides_ttl() -> None:
        login(ttl=5)
        load_and_slide(connect(), KEY, 1800)
        ttl = other.ttl(KEY)
        assert 1799 <= ttl <= 1800, f"the TTL should be reset to 1800 s, it is {ttl}"

    def missing_is_none() -> None:
        other.delete(KEY)
        got = _fields(load_and_slide(connect(), KEY, 1800))
        assert got is None, (f"no session: expected None, got {got!r} (a middleware testing `is not None` "
                             "would let that request in)")
        assert not other.exists(KEY), "looking up a missing session created it"

    def warm_round_trips() -> tuple[Any, Any]:
        """A client whose first lookup (scripts loaded) is done, and its spy."""
        mine = connect()
        s = spy(mine)
        login()
        load_and_slide(mine, KEY, 1800)
        return mine, s

    def logout_in_every_gap() -> None:
        mine, s = warm_round_trips()
        start = len(s.log)
        login()
        load_and_slide(mine, KEY, 1800)
        clean = s.log[start:]
        for gap in range(1, len(clean)):
            login()
            mine = connect()
            fired: list[str] = []

            def before(i: int, commands: Any, gap: int = gap) -> None:
                if i == gap and not fired:
                    fired.append("yes")
                    other.delete(KEY)  # logged out (or expired) between round trips gap and gap + 1

            spied = spy(mine, before=before)
            got = _fields(load_and_slide(mine, KEY, 1800))
            log = [" + ".join(command_names(c)) for c in spied.log]
            where = (f"between your {log[gap - 1]} and your {log[gap]}" if len(log) > gap
                     else f"after your {log[gap - 1]}")
            assert got is None or got == SESSION, (
                f"the session was logged out {where} and you returned {got!r}: a torn read (the check saw a "
                "live session, the read a deleted one: the request would run with user_id None)")
            if other.exists(KEY):
                raise AssertionError(f"the session was logged out {where} and your function wrote it back "
                                     f"(TTL {other.ttl(KEY)} s): a resurrected session, a logout that does not stick")

    def one_round_trip() -> None:
        mine, s = warm_round_trips()
        start = len(s.log)
        login()
        load_and_slide(mine, KEY, 1800)
        n = len(s.log) - start
        assert n == 1, (f"a lookup of a live session took {n} round trips ({s.summary(start)}); the middleware "
                        "runs on every request, so each extra trip is paid by every request")

    def concurrent() -> None:
        keys = [f"ex10:sess:{i}" for i in range(8)]
        for k in keys:
            login(ttl=10, key=k)
        clients = [connect() for _ in range(threads)]
        bad: list[str] = []

        def worker(w: int) -> None:
            for j in range(calls):
                k = keys[(w + j) % len(keys)]
                if load_and_slide(clients[w], k, 600) != SESSION:
                    bad.append(k)

        run_threads(worker, threads, threads, name="hcedu-check10", timeout=60)
        assert not bad, f"{len(bad)} of {threads * calls} concurrent lookups of live sessions failed"
        assert all(590 <= other.ttl(k) <= 600 for k in keys), "every looked-up session should have a 600 s TTL"
        other.delete(*keys)

    return run_checks("sliding expiry without torn reads", [
        ("returns the fields of a live session", returns_fields, "read the whole hash (HGETALL)"),
        ("resets the TTL to ttl", slides_ttl, "slide with EXPIRE key ttl"),
        ("returns None for a missing session and creates nothing", missing_is_none,
         "an empty hash is no session: return None, and never write a missing session"),
        ("a logout between any two of your round trips gives no torn read and is not undone", logout_in_every_gap,
         "whatever you decide from one command's reply may be stale by the next one: read the fields and slide "
         "in one step Redis runs with nothing in between, and slide with EXPIRE (it never creates a key), "
         "not SET/HSET"),
        ("one round trip per lookup", one_round_trip,
         "send the read and the slide together: one script (client.register_script) or one MULTI/EXEC "
         "transaction (client.pipeline())"),
        (f"{threads} threads × {calls} lookups all succeed and slide", concurrent,
         "no shared mutable state needed"),
    ])
