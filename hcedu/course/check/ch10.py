"""Checker for exercise 10: the atomic sliding-expiry lookup at the heart of a session middleware."""

from __future__ import annotations

from typing import Any, Callable

import fakeredis

from ...lab.sessionlab import RacingClient, run_threads
from . import Verdict, run_checks

__all__ = ["sliding_expiry"]

KEY = "ex10:sess:abc"


def _client() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)


def sliding_expiry(load_and_slide: Callable[..., Any], threads: int = 4, calls: int = 100) -> Verdict:
    """Check ``load_and_slide(client, key, ttl) -> str | None``: the session's value if the key is live, with
    its TTL reset to ``ttl`` seconds in the same step; None (and nothing written) if it is not. The race
    checks run it on a client that logs the session out right before the function's second Redis command,
    so a check-then-act version (EXISTS/GET, then EXPIRE) fails every time."""

    def returns_value() -> None:
        r = _client()
        r.set(KEY, "alice", ex=100)
        got = load_and_slide(r, KEY, 1800)
        assert got == "alice", f"expected the stored value 'alice', got {got!r}"

    def slides_ttl() -> None:
        r = _client()
        r.set(KEY, "alice", ex=5)
        load_and_slide(r, KEY, 1800)
        ttl = r.ttl(KEY)
        assert 1799 <= ttl <= 1800, f"the TTL should be reset to 1800 s, it is {ttl}"

    def missing_is_none() -> None:
        r = _client()
        got = load_and_slide(r, KEY, 1800)
        assert got is None, f"no session: expected None, got {got!r}"
        assert not r.exists(KEY), "looking up a missing session must not create it"

    def logout_in_the_gap() -> None:
        raw = _client()
        raw.set(KEY, "alice", ex=100)
        rc = RacingClient(raw)
        with rc.operation(lambda: raw.delete(KEY)) as log:
            got = load_and_slide(rc, KEY, 1800)
        cmds = [c for c, _ in log]
        assert got is None or len(cmds) <= 1, (
            f"the session was logged out between your commands {cmds[0]} and {cmds[1]}, "
            f"and you still returned {got!r}: a dead session was let in")

    def no_resurrection() -> None:
        raw = _client()
        raw.set(KEY, "alice", ex=100)
        rc = RacingClient(raw)
        with rc.operation(lambda: raw.delete(KEY)) as log:
            load_and_slide(rc, KEY, 1800)
        if len(log) > 1:
            assert not raw.exists(KEY), "a session logged out during the lookup was written back (resurrected)"

    def concurrent() -> None:
        r = _client()
        keys = [f"ex10:sess:{i}" for i in range(8)]
        for k in keys:
            r.set(k, k, ex=10)
        bad: list[str] = []

        def worker(w: int) -> None:
            for j in range(calls):
                k = keys[(w + j) % len(keys)]
                if load_and_slide(r, k, 600) != k:
                    bad.append(k)

        run_threads(worker, threads, threads, name="hcedu-check10", timeout=60)
        assert not bad, f"{len(bad)} of {threads * calls} concurrent lookups of live sessions failed"
        assert all(590 <= r.ttl(k) <= 600 for k in keys), "every looked-up session should have a 600 s TTL"

    return run_checks("atomic sliding expiry", [
        ("returns the value of a live session", returns_value, "GET the key (or GETEX, which also reads it)"),
        ("resets the TTL to ttl", slides_ttl, "GETEX key EX ttl does read + slide in one command"),
        ("returns None for a missing session and creates nothing", missing_is_none,
         "a missing key is no session; never SET it back"),
        ("a logout between your check and your EXPIRE is not let in", logout_in_the_gap,
         "do the check and the slide in ONE command: client.getex(key, ex=ttl), or trust EXPIRE's return value"),
        ("a logged-out session is never written back", no_resurrection,
         "don't slide with SET key value EX ttl: it re-creates a deleted session"),
        (f"{threads} threads × {calls} lookups all succeed and slide", concurrent, "no shared mutable state needed"),
    ])
