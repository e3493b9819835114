"""Checker for exercise 08: a safe release for a Redis lease lock (token + atomic compare-and-delete).

The race checks hook the learner's client at the protocol level (:mod:`._protocol`): after **every** round
trip that names the lock key, whatever the command (``GET``, ``MGET``, ``GETDEL``, ``EXISTS``, a script, a
pipeline), the world moves on: the first time, A's lease runs out and B acquires; every time, client C
tries ``SET NX``. So any check-then-act release fails deterministically, and one that deletes B's lock
"only for a moment" (``GETDEL``, then ``SET`` it back) lets C in. The lock's TTL must survive too.
"""

from __future__ import annotations

from typing import Any, Callable

from ... import _validate
from . import Verdict, run_checks
from ._protocol import Commands, command_names, embedded, names_key, spy

__all__ = ["safe_release"]

KEY = "ex08:lock:order"
A, B, C = "token-A", "token-B", "token-C"
LEASE_MS = 30_000
B_LEASE_MS = 20_000  # B's lock in "someone else holds it": a write-back with a fresh PX 30000 shows


class _World:
    """What other clients do between the learner's round trips (runs on ``other``, never on the spied client).

    After each round trip of A's client that names the lock key: the first time, if ``lease_runs_out``,
    A's lease expires (if A still holds it) and B acquires; every time, if ``c_polls``, C tries ``SET NX``.
    """

    def __init__(self, other: Any, *, lease_runs_out: bool, c_polls: bool) -> None:
        self.other = other
        self.lease_pending = lease_runs_out
        self.c_polls = c_polls
        self.fired = False
        self.a_held_at_expiry: bool | None = None
        self.b_acquired = False
        self.c_got_in: str | None = None  # the round trip after which C got in

    def after(self, i: int, commands: Commands) -> None:
        if not names_key(commands, KEY):
            return
        self.fired = True
        if self.lease_pending:
            self.lease_pending = False
            self.a_held_at_expiry = self.other.get(KEY) == A
            if self.a_held_at_expiry:
                self.other.delete(KEY)  # A's lease runs out
            self.b_acquired = bool(self.other.set(KEY, B, nx=True, px=LEASE_MS))
        if self.c_polls and self.c_got_in is None and self.other.set(KEY, C, nx=True, px=LEASE_MS):
            self.c_got_in = "+".join(command_names(commands))


def _setup(connect: Callable[[], Any], holder: str | None, px: int = LEASE_MS, **world: bool) -> tuple[Any, Any, _World]:
    mine, other = connect(), connect()
    other.delete(KEY)
    if holder is not None:
        other.set(KEY, holder, px=px)
    w = _World(other, **world) if world else None
    if w is not None:
        spy(mine, after=w.after)
    return mine, other, w


def _truthy(got: Any) -> bool:
    assert got is None or isinstance(got, (bool, int)), (
        f"release should return True or False, got {type(got).__name__} {got!r}")
    return bool(got)


def _b_lock_intact(other: Any, lease_ms: int) -> None:
    value = other.get(KEY)
    assert value is not None, "B's lock was deleted by your release"
    assert value == B, f"B's lock now holds {value!r} instead of {B!r}"
    pttl = other.pttl(KEY)
    assert 0 < pttl <= lease_ms, (f"B's lock lost its expiry (PTTL {pttl} ms): written back without its TTL, "
                                  "so if B crashes now nobody ever gets the lock")


def safe_release(release: Callable[[Any, str, str], Any], connect: Callable[[], Any] | None = None) -> Verdict:
    """Check ``release(client, key, token) -> bool``: it deletes ``key`` only if it still holds ``token``,
    returns True then and False otherwise, and cannot be raced between the check and the delete.

    ``connect``: a zero-argument factory of redis-py clients (``decode_responses=True``) sharing one store;
    default a fresh embedded fakeredis. The tests pass a real ``redis-server``'s too.
    """
    release = _validate.function("release", release)
    connect = embedded() if connect is None else _validate.function("connect", connect)

    def releases_own_lock() -> None:
        mine, other, _ = _setup(connect, A)
        got = _truthy(release(mine, KEY, A))
        assert got, "releasing our own lock should return True"
        assert not other.exists(KEY), "our own lock is still there after release"

    def lease_expiry_scenario() -> None:
        from ...lab.lockscenarios import lease_expiry
        connect().delete(KEY)
        s = lease_expiry(connect, release, key=KEY)
        assert s.b_lock_survived, "A's late release deleted B's lock (A's lease had run out and B held it)"
        assert not s.a_release, "A's late release returned True, but the lock was no longer A's"
        assert not s.c_got_in, "client C acquired while B still held the lock"

    def nobody_holds_it() -> None:
        mine, other, _ = _setup(connect, None)
        assert not _truthy(release(mine, KEY, A)), "releasing a lock nobody holds should return False"
        assert not other.exists(KEY), "release created the key"

    def someone_else_holds_it() -> None:
        mine, other, w = _setup(connect, B, px=B_LEASE_MS, lease_runs_out=False, c_polls=True)
        got = _truthy(release(mine, KEY, A))
        assert w.c_got_in is None, (f"client C acquired the lock after your {w.c_got_in} while B held it: your "
                                    "release deleted B's lock (putting it back afterwards is too late)")
        _b_lock_intact(other, B_LEASE_MS)
        assert not got, "expected False for a lock held by another token"

    def atomic_check_and_delete() -> None:
        mine, other, w = _setup(connect, A, lease_runs_out=True, c_polls=True)
        got = _truthy(release(mine, KEY, A))
        if not w.fired:
            assert not other.exists(KEY) and got, "our own lock was not released"
            return
        assert w.c_got_in is None, (f"client C acquired the lock after your {w.c_got_in}: A's lease had run out "
                                    "right after your first read, B acquired, and your release deleted B's lock "
                                    "(check-then-act is not atomic)")
        if w.a_held_at_expiry:
            _b_lock_intact(other, LEASE_MS)
            assert not got, ("returned True although A's lease ran out right after your first read and the lock "
                             "was B's by the time of the delete")
        else:  # A's first command already deleted A's own lock in one step; B acquired afterwards
            assert w.b_acquired, "B could not acquire after your release"
            _b_lock_intact(other, LEASE_MS)
            assert got, "your release deleted our lock but returned False"

    return run_checks("safe lock release", [
        ("releases our own lock and returns True", releases_own_lock,
         "compare the key's value with the token, delete, return True"),
        ("A/B lease-expiry scenario: B's lock survives A's late release", lease_expiry_scenario,
         "delete only if the key's value == token; a plain DEL is the source's bug"),
        ("returns False when nobody holds the lock", nobody_holds_it, "the key is missing: nothing to delete"),
        ("another token's lock is never touched, not even for a moment, and keeps its TTL", someone_else_holds_it,
         "never delete (GETDEL, DEL) before you know the lock is yours, and never write a lock back"),
        ("atomic: nobody can slip in between the check and the delete", atomic_check_and_delete,
         "check-then-act across two round trips is not atomic: make the compare and the delete one step that "
         "Redis runs without interleaving (a Lua script via client.register_script, or WATCH + MULTI/EXEC)"),
    ])
