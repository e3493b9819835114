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
deterministically wherever its gap is, and a warm lookup's round trips are counted. A pipeline without
MULTI (``pipeline(transaction=False)``) is one round trip but not one step: a real server may run other
clients' commands between its commands, so in the logout check its commands are sent one by one, and a
logout lands between them too.

The basic checks pin the contract: *all* the hash's fields come back (a session may hold more than
``user_id`` and ``cart``, e.g. a ``csrf`` token, and an anonymous one has no ``user_id``), and the TTL
becomes ``ttl`` whatever it was (shorter, longer, or none: ``EXPIRE ... GT``/``XX`` leave some alone); a
lookup must go through the client it is given (a script bound to a cached client sends nothing through it).
"""

from __future__ import annotations

from typing import Any, Callable

import redis

from ... import _validate
from ...lab.sessionlab import run_threads
from . import Verdict, run_checks
from ._protocol import command_names, embedded, spy

__all__ = ["sliding_expiry"]

KEY = "ex10:sess:abc"
SESSION = {"user_id": "alice", "cart": "sku-1,sku-7"}
WITH_CSRF = {"user_id": "bob", "cart": "sku-2", "csrf": "t0k3n"}  # more fields than the example session
ANONYMOUS = {"cart": "sku-3", "csrf": "an0n"}                       # a live session without a user_id


def _fields(got: Any) -> dict | None:
    assert got is None or isinstance(got, dict), (
        f"return the session's fields as a dict (or None), got {type(got).__name__} {got!r}")
    return got


def _split_plain_pipelines(client: Any, s: Any, plain: list[range]) -> None:
    """Make pipelines without MULTI of ``client`` (already spied: ``s``) send their commands one by one, each
    a round trip of ``s`` (so a hook can land between them, as another client's commands can on a real
    server); the indices of each such pipeline's round trips go to ``plain``. Replies and errors are as
    the pipeline's: a list, a ResponseError in place (raised after the rest ran when ``raise_on_error``)."""
    make_pipeline = client.pipeline

    def pipeline(transaction: bool = True, shard_hint: Any = None) -> Any:
        p = make_pipeline(transaction, shard_hint)
        run = p.execute

        def execute(raise_on_error: bool = True) -> Any:
            if p.transaction or p.explicit_transaction or p.watching or p.scripts or len(p.command_stack) < 2:
                return run(raise_on_error)
            stack, first, replies = list(p.command_stack), len(s.log), []
            try:
                for args, options in stack:
                    try:
                        replies.append(client.execute_command(*args, **options))
                    except redis.ResponseError as exc:
                        replies.append(exc)
            finally:
                p.reset()
                plain.append(range(first, len(s.log)))
            errors = [r for r in replies if isinstance(r, redis.ResponseError)]
            if errors and raise_on_error:
                raise errors[0]
            return replies

        p.execute = execute
        return p

    client.pipeline = pipeline


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

    def login(ttl: int | None = 100, key: str = KEY, session: dict = SESSION) -> None:
        other.delete(key)
        other.hset(key, mapping=session)
        if ttl is not None:
            other.expire(key, ttl)

    def returns_fields() -> None:
        login()
        got = _fields(load_and_slide(connect(), KEY, 1800))
        assert got == SESSION, f"expected the stored fields {SESSION}, got {got!r}"
        assert other.hgetall(KEY) == SESSION, "looking the session up changed its fields"
        login(session=WITH_CSRF)
        got = _fields(load_and_slide(connect(), KEY, 1800))
        assert got == WITH_CSRF, (f"a session holding {WITH_CSRF} came back as {got!r}: return all of its fields, "
                                  "not the ones you know by name (a session may hold more than user_id and cart)")
        login(session=ANONYMOUS)
        got = _fields(load_and_slide(connect(), KEY, 1800))
        assert got == ANONYMOUS, (f"a live anonymous session {ANONYMOUS} (no user_id yet) came back as {got!r}: "
                                  "the session is live as long as its hash exists, whatever fields it holds")
        other.delete(KEY)

    def slides_ttl() -> None:
        login(ttl=5)
        load_and_slide(connect(), KEY, 1800)
        ttl = other.ttl(KEY)
        assert 1799 <= ttl <= 1800, f"the TTL should be reset to 1800 s, it is {ttl}"
        login(ttl=7200)
        load_and_slide(connect(), KEY, 1800)
        ttl = other.ttl(KEY)
        assert 1799 <= ttl <= 1800, (f"a session with 7200 s left should have its TTL reset to 1800 s too, it is "
                                     f"{ttl}: EXPIRE ... GT only ever lengthens a TTL")
        login(ttl=None)
        load_and_slide(connect(), KEY, 1800)
        ttl = other.ttl(KEY)
        assert 1799 <= ttl <= 1800, (f"a session stored without a TTL should get a 1800 s one, its TTL is {ttl}"
                                     + (" (none): EXPIRE ... XX and GT leave a key without a TTL alone"
                                        if ttl == -1 else ""))
        other.delete(KEY)

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
        mine = connect()
        s = spy(mine)
        _split_plain_pipelines(mine, s, [])
        login()
        load_and_slide(mine, KEY, 1800)  # warm: scripts loaded
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
            plain: list[range] = []
            _split_plain_pipelines(mine, spied, plain)
            got = _fields(load_and_slide(mine, KEY, 1800))
            log = [" + ".join(command_names(c)) for c in spied.log]
            where = (f"between your {log[gap - 1]} and your {log[gap]}" if len(log) > gap
                     else f"after your {log[gap - 1]}")
            if any(gap - 1 in r and gap in r for r in plain):
                where += (" (two commands of one pipeline without MULTI: it saves round trips, but it is not "
                          "atomic, and Redis may run other clients' commands between its commands)")
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
        assert n, ("a lookup of a live session sent no command through the client it was given (0 round trips): "
                   "load_and_slide must use its client argument (a script registered on another client runs "
                   "there unless you call it with client=client)")
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
        ("resets the TTL to ttl", slides_ttl,
         "slide with EXPIRE key ttl (no GT/XX: the TTL becomes ttl whatever it was)"),
        ("returns None for a missing session and creates nothing", missing_is_none,
         "an empty hash is no session: return None, and never write a missing session"),
        ("a logout between any two of your round trips gives no torn read and is not undone", logout_in_every_gap,
         "whatever you decide from one command's reply may be stale by the next one: read the fields and slide "
         "in one step Redis runs with nothing in between, and slide with EXPIRE (it never creates a key), "
         "not SET/HSET (a pipeline without MULTI is not such a step)"),
        ("one round trip per lookup", one_round_trip,
         "send the read and the slide together, through the client you are given: one script "
         "(client.register_script) or one MULTI/EXEC transaction (client.pipeline())"),
        (f"{threads} threads × {calls} lookups all succeed and slide", concurrent,
         "no shared mutable state needed"),
    ])
