"""Checker for exercise 08: a safe release for a Redis lease lock (token + atomic compare-and-delete)."""

from __future__ import annotations

from typing import Any, Callable

import fakeredis

from . import Verdict, run_checks

__all__ = ["safe_release"]

KEY = "ex08:lock:order"


class _RacyRedis(fakeredis.FakeRedis):
    """A client on which, right after a plain GET of the lock, the lease runs out and client B acquires
    (a one-shot hook). A Lua script runs inside Redis and never calls this client's ``get``."""

    hook: Callable[[], None] | None = None

    def get(self, name: Any) -> Any:
        result = super().get(name)
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        return result


def _client(server: fakeredis.FakeServer | None = None) -> _RacyRedis:
    return _RacyRedis(server=server or fakeredis.FakeServer(), decode_responses=True)


def safe_release(release: Callable[[Any, str, str], Any]) -> Verdict:
    """Check ``release(client, key, token) -> bool``: it deletes ``key`` only if it still holds ``token``,
    returns True then and False otherwise, and cannot be raced between the check and the delete."""

    def releases_own_lock() -> None:
        r = _client()
        r.set(KEY, "token-A", px=30_000)
        got = release(r, KEY, "token-A")
        assert got is True or got == 1, f"releasing our own lock should return True, got {got!r}"
        assert not r.exists(KEY), "our own lock is still there after release"

    def lease_expiry_scenario() -> None:
        from ...lab.lockdemo import lease_expiry
        server = fakeredis.FakeServer()
        s = lease_expiry(lambda: fakeredis.FakeRedis(server=server, decode_responses=True), release, key=KEY)
        assert s.summary["b_lock_survived"], "A's late release deleted B's lock (A's lease had run out and B held it)"
        assert not s.summary["a_release"], "A's late release returned True, but the lock was no longer A's"
        assert not s.summary["c_got_in"], "client C acquired while B still held the lock"

    def nobody_holds_it() -> None:
        r = _client()
        got = release(r, KEY, "token-A")
        assert not got, f"releasing a lock nobody holds should return False, got {got!r}"
        assert not r.exists(KEY), "release created the key"

    def someone_else_holds_it() -> None:
        r = _client()
        r.set(KEY, "token-B", px=30_000)
        got = release(r, KEY, "token-A")
        assert not got, f"expected False for a lock held by another token, got {got!r}"
        assert r.get(KEY) == "token-B", "B's lock was deleted"

    def atomic_check_and_delete() -> None:
        r = _client()
        r.set(KEY, "token-A", px=30_000)
        fired = []

        def lease_runs_out_and_b_acquires() -> None:
            fired.append(1)
            r.delete(KEY)
            r.set(KEY, "token-B", nx=True, px=30_000)

        r.hook = lease_runs_out_and_b_acquires
        got = release(r, KEY, "token-A")
        if fired:
            assert r.get(KEY) == "token-B", ("B acquired between your GET and your DEL, and your DEL deleted B's "
                                             "lock: check-then-act is not atomic")
            assert not got, "returned True although the lock was B's by the time of the delete"
        else:
            assert not r.exists(KEY) and (got is True or got == 1), "our own lock was not released"

    return run_checks("safe lock release", [
        ("releases our own lock and returns True", releases_own_lock,
         "compare the key's value with the token, delete, return True"),
        ("A/B lease-expiry scenario: B's lock survives A's late release", lease_expiry_scenario,
         "delete only if GET key == token; a plain DEL is the source's bug"),
        ("returns False when nobody holds the lock", nobody_holds_it, "GET returns None: nothing to delete"),
        ("returns False and keeps the lock when another token holds it", someone_else_holds_it,
         "compare before deleting"),
        ("atomic: nobody can slip in between the check and the delete", atomic_check_and_delete,
         "do GET+compare+DEL in one Lua script (client.register_script), which Redis runs atomically"),
    ])
