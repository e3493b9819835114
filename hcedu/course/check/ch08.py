"""Checker for exercise 08: a safe release for a Redis lease lock (token + atomic compare-and-delete).

Every lock's token is fresh and random (so a release that compares with a fixed value fails), and the
"someone else holds it" check also uses holders whose token contains ours or is contained in it (so a
substring or prefix match, ``string.find``, shows). The race checks hook the learner's client at the protocol
level (:mod:`._protocol`): after a round trip that names the lock key, whatever the command (``GET``,
``MGET``, ``GETDEL``, ``EXISTS``, ``PTTL``, a script, a pipeline), the world moves on. The atomic check is a
sweep, like a crash-point sweep: an undisturbed release is counted first (it names the key in ``n`` round
trips), then the release is run once for each ``k`` in 1..n with A's lease running out (and B acquiring) right
after the k-th of them; after every one, client C tries ``SET NX``. So any check-then-act release fails
deterministically, however many guards (``EXISTS``, ``PTTL``) come before its read, one that deletes B's lock
"only for a moment" (``GETDEL``, then ``SET`` it back) lets C in, and one that returns True after its
``MULTI``/``EXEC`` was aborted is named. The lock's TTL must survive too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Callable

from ... import _validate
from . import Verdict, run_checks
from ._protocol import Commands, command_names, embedded, names_key, spy

__all__ = ["safe_release"]

KEY = "ex08:lock:order"
LEASE_MS = 30_000
B_LEASE_MS = 20_000  # B's lock in "someone else holds it": a write-back with a fresh PX 30000 shows
MAX_SWEEP = 20       # round trips naming the key that the atomic sweep interrupts, at most
SCRIPT_COMMANDS = {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "SCRIPT", "FCALL", "FCALL_RO", "FUNCTION"}


@dataclass(frozen=True)
class _Tokens:
    """The three clients' tokens for one checker run: fresh and random, like real lock tokens."""

    a: str
    b: str
    c: str

    @classmethod
    def fresh(cls) -> _Tokens:
        return cls(*(f"token-{secrets.token_hex(8)}" for _ in range(3)))


def _nth(k: int) -> str:
    return {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}.get(k, f"{k}th")


class _World:
    """What other clients do between the learner's round trips (runs on ``other``, never on the spied client).

    After the ``lease_after``-th round trip of A's client that names the lock key (None: never), A's lease
    expires (if A still holds it) and B acquires; after every such round trip, if ``c_polls``, C tries
    ``SET NX``. ``key_trips`` counts those round trips; ``aborted`` (filled by :meth:`done`) lists those that
    raised after the lease ran out (a ``MULTI``/``EXEC`` aborted by ``WatchError``; a ``NOSCRIPT`` is not one).
    """

    def __init__(self, other: Any, tokens: _Tokens, *, lease_after: int | None, c_polls: bool) -> None:
        self.other, self.tokens = other, tokens
        self.lease_after = lease_after
        self.c_polls = c_polls
        self.key_trips = 0
        self.fired = False           # A's lease ran out (the k-th round trip naming the key happened)
        self.fired_after = ""        # "second round trip naming the key (GET)"
        self.a_held_at_expiry: bool | None = None
        self.b_acquired = False
        self.c_got_in: str | None = None  # the round trip after which C got in
        self._sent: dict[int, Commands] = {}
        self.aborted: list[str] = []

    def before(self, i: int, commands: Commands) -> None:
        if self.fired:
            self._sent[i] = commands

    def after(self, i: int, commands: Commands) -> None:
        self._sent.pop(i, None)
        if not names_key(commands, KEY):
            return
        self.key_trips += 1
        if self.key_trips == self.lease_after:
            self.fired = True
            self.fired_after = (f"{_nth(self.key_trips)} round trip naming the key "
                                f"({'+'.join(command_names(commands))})")
            self.a_held_at_expiry = self.other.get(KEY) == self.tokens.a
            if self.a_held_at_expiry:
                self.other.delete(KEY)  # A's lease runs out
            self.b_acquired = bool(self.other.set(KEY, self.tokens.b, nx=True, px=LEASE_MS))
        if self.c_polls and self.c_got_in is None and self.other.set(KEY, self.tokens.c, nx=True, px=LEASE_MS):
            self.c_got_in = "+".join(command_names(commands))

    def done(self) -> None:
        """After the release returned: the round trips that never answered (raised) once the lease ran out."""
        self.aborted = ["+".join(command_names(c)) for c in self._sent.values()
                        if names_key(c, KEY) and command_names(c)[:1] != ["EVALSHA"]]  # not a NOSCRIPT retry


def _setup(connect: Callable[[], Any], tokens: _Tokens, holder: str | None, px: int = LEASE_MS,
           **world: Any) -> tuple[Any, Any, _World | None]:
    mine, other = connect(), connect()
    other.delete(KEY)
    if holder is not None:
        other.set(KEY, holder, px=px)
    w = _World(other, tokens, **world) if world else None
    if w is not None:
        spy(mine, before=w.before, after=w.after)
    return mine, other, w


def _truthy(got: Any) -> bool:
    assert got is None or isinstance(got, (bool, int)), (
        f"release should return True or False, got {type(got).__name__} {got!r}")
    return bool(got)


def _b_lock_intact(other: Any, b: str, lease_ms: int, why: str = "") -> None:
    value = other.get(KEY)
    assert value is not None, f"B's lock was deleted by your release{why}"
    assert value == b, f"B's lock now holds {value!r} instead of {b!r}"
    pttl = other.pttl(KEY)
    assert 0 < pttl <= lease_ms, (f"B's lock lost its expiry (PTTL {pttl} ms): written back without its TTL, "
                                  "so if B crashes now nobody ever gets the lock")


def safe_release(release: Callable[[Any, str, str], Any], connect: Callable[[], Any] | None = None) -> Verdict:
    """Check ``release(client, key, token) -> bool``: it deletes ``key`` only if it still holds ``token``
    (the whole token: fresh random ones, some holders' containing ours or contained in it), returns True then
    and False otherwise, and cannot be raced between the check and the delete, wherever A's lease runs out.

    ``connect``: a zero-argument factory of redis-py clients (``decode_responses=True``) sharing one store;
    default a fresh embedded fakeredis. The tests pass a real ``redis-server``'s too.
    """
    release = _validate.function("release", release)
    connect = embedded() if connect is None else _validate.function("connect", connect)
    t = _Tokens.fresh()

    def releases_own_lock() -> None:
        mine, other, _ = _setup(connect, t, t.a)
        trips = spy(mine)
        got = _truthy(release(mine, KEY, t.a))
        if not got:
            scripted = any(name in SCRIPT_COMMANDS for trip in trips.log for name in command_names(trip))
            sent_token = any(a in (t.a, t.a.encode()) for trip in trips.log for c in trip for a in c[1:])
            assert not scripted or sent_token, (
                f"releasing our own lock should return True, but your script was never sent its token ({t.a!r}, "
                "random like every lock's): pass it as args=[token] and compare with ARGV[1], not a fixed value")
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
        mine, other, _ = _setup(connect, t, None)
        assert not _truthy(release(mine, KEY, t.a)), "releasing a lock nobody holds should return False"
        assert not other.exists(KEY), "release created the key"

    def someone_else_holds_it() -> None:
        # B's token: unrelated to ours, then one that contains ours, then one that ours contains
        holders = [(t.b, ""),
                   (f"{t.a}:{secrets.token_hex(2)}", "contains ours"),
                   (t.a[:-4], "is contained in ours")]
        for b, relation in holders:
            why = (f" (B's token {b!r} {relation}, {t.a!r}: compare the whole value with ==, not a substring "
                   "or prefix)") if relation else ""
            mine, other, w = _setup(connect, _Tokens(t.a, b, t.c), b, px=B_LEASE_MS, lease_after=None,
                                    c_polls=True)
            got = _truthy(release(mine, KEY, t.a))
            assert w.c_got_in is None, (f"client C acquired the lock after your {w.c_got_in} while B held it: your "
                                        f"release deleted B's lock{why or ' (putting it back afterwards is too late)'}")
            _b_lock_intact(other, b, B_LEASE_MS, why)
            assert not got, f"expected False for a lock held by another token{why}"

    def atomic_check_and_delete() -> None:
        # undisturbed (the first check saw it release our lock): how many round trips name the key
        mine, _, w = _setup(connect, t, t.a, lease_after=None, c_polls=False)
        release(mine, KEY, t.a)
        for k in range(1, min(w.key_trips, MAX_SWEEP) + 1):
            mine, other, w = _setup(connect, t, t.a, lease_after=k, c_polls=True)
            got = _truthy(release(mine, KEY, t.a))
            w.done()
            if not w.fired:  # this run named the key fewer times than the undisturbed one
                assert not other.exists(KEY) and got, "our own lock was not released"
                continue
            assert w.c_got_in is None, (f"client C acquired the lock after your {w.c_got_in}: A's lease had run "
                                        f"out right after your {w.fired_after}, B acquired, and your release "
                                        "deleted B's lock (check-then-act is not atomic)")
            if w.a_held_at_expiry:
                _b_lock_intact(other, t.b, LEASE_MS)
                assert not (got and w.aborted), (
                    f"returned True although your transaction was aborted: A's lease ran out right after your "
                    f"{w.fired_after}, B acquired, and your {w.aborted[0]} failed (EXEC raised WatchError, "
                    "nothing was deleted): return False when the transaction is aborted")
                assert not got, (f"returned True although A's lease ran out right after your {w.fired_after} "
                                 "and the lock was B's by the time of the delete")
            else:  # that round trip already deleted A's own lock in one step; B acquired afterwards
                assert w.b_acquired, "B could not acquire after your release"
                _b_lock_intact(other, t.b, LEASE_MS)
                assert got, "your release deleted our lock but returned False"

    return run_checks("safe lock release", [
        ("releases our own lock and returns True", releases_own_lock,
         "compare the key's value with the token, delete, return True"),
        ("A/B lease-expiry scenario: B's lock survives A's late release", lease_expiry_scenario,
         "delete only if the key's value == token; a plain DEL is the source's bug"),
        ("returns False when nobody holds the lock", nobody_holds_it, "the key is missing: nothing to delete"),
        ("another token's lock is never touched, not even for a moment, and keeps its TTL", someone_else_holds_it,
         "never delete (GETDEL, DEL) before you know the lock is yours (the value equals the token, whole), and "
         "never write a lock back"),
        ("atomic: nobody can slip in between the check and the delete", atomic_check_and_delete,
         "check-then-act across two round trips is not atomic: make the compare and the delete one step that "
         "Redis runs without interleaving (a Lua script via client.register_script, or WATCH + MULTI/EXEC, "
         "returning False when EXEC aborts)"),
    ])
