"""Chapter 08's lock scenarios: every way a Redis ``SET NX PX`` lock breaks, scripted on a virtual clock.

The *client side* runs on a :class:`~hcedu.clock.VirtualClock` (who acts when, who is paused), the *Redis
side* is a real server (fakeredis or ``redis-server``) doing real ``SET NX``/Lua/``DEL``. A lease running out
is enacted at the scripted moment by forcing the key's TTL to 1 ms and waiting until Redis itself expired it
(labelled "lease expires"), so the same script gives the same result on both backends.

Holds the scenario plumbing (:class:`Scenario`, :class:`PausableClock`, the frame recorder) and scenarios
1-3: :func:`lease_expiry`, :func:`pause_past_ttl`, :func:`watchdog_pause`, :func:`watchdog_hung`. Each
returns a frozen :class:`Scenario` subclass whose ``frame`` has one row per step (``t, actor, event, ok,
fence, detail, holder, believers``) and whose named fields say what happened (``summary`` lists them).

The four ways :func:`lease_expiry` takes and releases the lock are small classes with the same two
methods (redis-py's ``acquire()`` -> ``do_acquire(token)`` seam), chosen once from the ``unlock`` argument.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import redis
import redis.lock

from .. import _validate
from ..clock import REAL, Timer, VirtualClock, poll_until
from ..patterns.fencing import FencedResource
from ..patterns.lock import RedisLock, fence_key_for, unsafe_release

if TYPE_CHECKING:  # pandas is imported where a frame is built: chapter 08's spawned processes never need it
    import pandas as pd

__all__ = ["Scenario", "LeaseExpiry", "PausePastTTL", "WatchdogPause", "WatchdogHung", "PausableClock",
           "lease_expiry", "pause_past_ttl", "watchdog_pause", "watchdog_hung", "expire_now", "UNLOCKS", "KEY"]

KEY = "hcedu:ch08:lock:order"


# -- scenario plumbing -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """A finished scenario: its ``title`` and event ``frame``. Each scenario returns its own subclass, whose
    named fields say what happened; ``summary`` is those fields as a dict (for printing and tables)."""

    title: str
    frame: pd.DataFrame = field(repr=False)

    #: fields that are not part of the outcome (``summary`` leaves them out)
    _NOT_SUMMARY: ClassVar[frozenset[str]] = frozenset({"title", "frame", "resource"})

    @property
    def summary(self) -> dict[str, Any]:
        """The outcome fields, in declaration order: ``{name: value}``."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self._NOT_SUMMARY}

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(f"{self.title}: " + ", ".join(f"{k}={v}" for k, v in self.summary.items()))


class PausableClock:
    """One process's view of a shared clock, which a stop-the-world pause can freeze (a GC pause, SIGSTOP).

    ``now()`` is the shared time. Timers scheduled through it (the lock's watchdog) that come due while
    the process is paused do not run: they run late, in order, at ``resume()``, as in a real paused
    process. Used so that the watchdog pauses with its process.
    """

    def __init__(self, base: VirtualClock) -> None:
        self.base = base
        self.paused = False
        self._deferred: list[Callable[[], None]] = []

    def now(self) -> float:
        return self.base.now()

    def monotonic(self) -> float:
        return self.base.monotonic()

    def sleep(self, seconds: float) -> None:
        self.base.sleep(seconds)

    def after(self, seconds: float, fn: Callable[..., Any], *args: Any) -> Timer:
        def fire() -> None:
            if self.paused:
                self._deferred.append(lambda: fn(*args))
            else:
                fn(*args)
        fire.__name__ = getattr(fn, "__name__", "fn")
        return self.base.after(seconds, fire)

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        pending, self._deferred = self._deferred, []
        for fn in pending:
            fn()


def _wait_gone(client: redis.Redis, key: str, timeout: float = 5.0) -> None:
    # Redis expires keys on its own (real) clock, so this wait is real time whatever the scenario's clock
    if not poll_until(lambda: not client.exists(key), timeout, interval=0.002, clock=REAL):
        raise TimeoutError(f"{key} did not expire within {timeout} s")


def expire_now(client: redis.Redis, key: str) -> None:
    """Make ``key``'s lease run out *now*, through Redis's own expiry: TTL forced to 1 ms, then wait
    (bounded, 5 s) until the server reports it gone. Stands in for "the TTL elapsed"."""
    client.pexpire(key, 1)
    _wait_gone(client, key)


class _Script:
    """Records frames for one scenario on a virtual clock."""

    def __init__(self, client: redis.Redis, key: str, clock: VirtualClock) -> None:
        self.client, self.key, self.clock = client, key, clock
        self.rows: list[dict[str, Any]] = []
        self.owner_of: dict[str, str] = {}  # token -> actor
        self.believers: set[str] = set()
        client.delete(key, fence_key_for(key))  # every scenario starts from a clean lock and fence counter

    def at(self, t: float) -> None:
        if t > self.clock.now():
            self.clock.advance_to(t)

    def holder(self) -> str:
        """Who Redis says holds the lock ("" = nobody)."""
        v = self.client.get(self.key)
        v = v.decode() if isinstance(v, bytes) else v
        return "" if v is None else self.owner_of.get(v, v)

    def row(self, actor: str, event: str, ok: bool | None = None, fence: int | None = None,
            detail: str = "", t: float | None = None) -> None:
        self.rows.append({"t": float(self.clock.now() if t is None else t), "actor": actor, "event": event,
                          "ok": ok, "fence": fence, "detail": detail, "holder": self.holder(),
                          "believers": "+".join(sorted(self.believers))})

    def expire(self, why: str = "lease expires (TTL forced to 1 ms: the demo compresses the wait)") -> None:
        expire_now(self.client, self.key)
        self.row("redis", "expire", True, detail=why)

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        df = pd.DataFrame(self.rows, columns=["t", "actor", "event", "ok", "fence", "detail", "holder", "believers"])
        df["fence"] = df["fence"].astype("Int64")
        return df


def _max_believers(df: pd.DataFrame) -> int:
    return int(max((len(b.split("+")) if b else 0) for b in df["believers"]))


def _rejected(storage: FencedResource) -> list[tuple[str, int]]:
    return [(w.writer, w.fence) for w in storage.rejected()]


# -- 1. lease expiry: the source's plain DEL vs the token ----------------------------------------------

class _Holder:
    """One client's way to take and give back the lock in :func:`lease_expiry`. The scenario calls only
    ``acquire(actor)`` and ``release()`` and never asks which kind it holds (redis-py's ``acquire()`` ->
    ``do_acquire(token)`` seam); the base acquires with ``SET key token NX PX`` and a random token, and
    each kind overrides what differs. ``token`` is the value it wrote (for "who holds it")."""

    detail: ClassVar[str] = "SET NX PX"  # what acquire() sends, for the frame

    def __init__(self, client: redis.Redis, key: str, ttl: float, clock: VirtualClock) -> None:
        self.client, self.key, self.ttl, self.clock = client, key, ttl, clock
        self.token = ""

    def acquire(self, actor: str) -> bool:
        self.token = self.new_token(actor)
        return bool(self.client.set(self.key, self.token, nx=True, px=int(self.ttl * 1000)))

    def new_token(self, actor: str) -> str:
        return secrets.token_hex(8)

    def release(self) -> tuple[bool | None, str]:
        """``(released, detail for the frame)``."""
        raise NotImplementedError


class _Naive(_Holder):
    """The source's first version: a fixed value ``instance_N`` per client, released with a plain ``DEL``."""

    def new_token(self, actor: str) -> str:
        return f"instance_{'ABC'.index(actor) + 1}"

    def release(self) -> tuple[bool | None, str]:
        return unsafe_release(self.client, self.key), "plain DEL"


class _Token(_Holder):
    """This course's :class:`RedisLock`: a random token, a fence, a Lua compare-and-delete."""

    detail = "SET NX PX (Lua + INCR fence)"

    def acquire(self, actor: str) -> bool:
        self.lock = RedisLock(self.client, self.key, self.ttl, clock=self.clock)
        ok = self.lock.acquire(blocking=False)
        self.token = self.lock.token
        return ok

    def release(self) -> tuple[bool | None, str]:
        return self.lock.release(), "Lua compare-and-delete"


class _RedisPy(_Holder):
    """redis-py's ``redis.lock.Lock``, whose release raises ``LockNotOwnedError`` when the lock is not ours."""

    def acquire(self, actor: str) -> bool:
        self.lock = redis.lock.Lock(self.client, self.key, timeout=self.ttl, thread_local=False)
        ok = self.lock.acquire(blocking=False)
        token = self.lock.local.token
        self.token = token.decode() if isinstance(token, bytes) else token
        return ok

    def release(self) -> tuple[bool | None, str]:
        try:
            self.lock.release()
        except redis.lock.LockNotOwnedError:
            return False, "raised LockNotOwnedError"
        return True, ""


class _Custom(_Holder):
    """The exercise: acquisition is ``SET key token NX PX``, release the learner's
    ``release(client, key, token) -> bool``."""

    def __init__(self, client: redis.Redis, key: str, ttl: float, clock: VirtualClock, *,
                 release_fn: Callable[..., bool], label: str) -> None:
        super().__init__(client, key, ttl, clock)
        self.release_fn, self.label = release_fn, label

    def release(self) -> tuple[bool | None, str]:
        return bool(self.release_fn(self.client, self.key, self.token)), self.label


#: the named ways to unlock, in the order the chapter compares them
_HOLDERS: dict[str, type[_Holder]] = {"naive": _Naive, "token": _Token, "redis-py": _RedisPy}
UNLOCKS = tuple(_HOLDERS)


def _holder_kind(unlock: str | Callable[..., bool]) -> tuple[str, Callable[..., _Holder]]:
    """``(label, make(client, key, ttl, clock) -> _Holder)`` for ``unlock``: the one place a name is
    mapped to its class."""
    if callable(unlock):
        label = getattr(unlock, "__name__", "custom")
        return label, functools.partial(_Custom, release_fn=unlock, label=label)
    _validate.choice("unlock", unlock, UNLOCKS)
    return unlock, _HOLDERS[unlock]


@dataclass(frozen=True)
class LeaseExpiry(Scenario):
    """:func:`lease_expiry`'s outcome: what A's late release returned, whether B's lock survived it, whether
    C got in while B still worked, and the most clients that believed they held the lock at once."""

    a_release: bool | None
    b_lock_survived: bool
    c_got_in: bool
    max_holders: int


def lease_expiry(client_factory: Callable[[], redis.Redis], unlock: str | Callable[..., bool] = "token", *,
                 ttl: float = 30, work: float = 40, key: str = KEY) -> LeaseExpiry:
    """A holds the lock, its work outlasts the lease, B takes the lock, then A unlocks.

    ``unlock``: ``"naive"`` (the source's first version: fixed value ``instance_N``, plain ``DEL``),
    ``"token"`` (:class:`RedisLock`), ``"redis-py"`` (``redis.lock.Lock``), or a function
    ``release(client, key, token) -> bool`` (the exercise: acquisition is ``SET key token NX PX``).
    With the naive unlock A deletes B's lock and C gets in while B still works (two holders).
    """
    label, make = _holder_kind(unlock)
    _validate.number("ttl", ttl, minimum=0, strict=True)
    _validate.number("work", work, minimum=0, strict=True)
    if work <= ttl:
        raise ValueError(f"work must be longer than ttl for the lease to run out (got work={work}, ttl={ttl})")
    clock = VirtualClock()
    holders = {a: make(client_factory(), key, ttl, clock) for a in "ABC"}
    s = _Script(holders["A"].client, key, clock)

    def acquire(actor: str) -> bool:
        h = holders[actor]
        ok = h.acquire(actor)
        if ok:
            s.owner_of[h.token] = actor
            s.believers.add(actor)
        s.row(actor, "acquire", ok, detail=h.detail)
        return ok

    def release(actor: str) -> bool | None:
        ok, detail = holders[actor].release()
        s.believers.discard(actor)
        s.row(actor, "release", ok, detail=detail)
        return ok

    acquire("A")
    s.at(1)
    s.row("A", "pause", detail=f"slow work ({work:g} s) begins")
    s.at(ttl)
    s.expire()
    s.at(ttl + 2)
    acquire("B")
    s.at(1 + work)
    s.row("A", "resume", detail="work done, A unlocks")
    holder_before = s.holder()
    a_release = release("A")
    b_survived = holder_before == "B" and s.holder() == "B"
    s.at(work + 3)
    c_got = acquire("C")
    s.at(work + 8)
    release("B")
    if c_got:
        s.at(work + 10)
        release("C")
    df = s.frame()
    return LeaseExpiry(f"lease expiry, unlock={label}", df, a_release=a_release, b_lock_survived=b_survived,
                       c_got_in=c_got, max_holders=_max_believers(df))


# -- 2. a pause longer than the TTL, with and without fencing -----------------------------------------

@dataclass(frozen=True)
class PausePastTTL(Scenario):
    """:func:`pause_past_ttl`'s outcome: whether two clients believed they held the lock at once, the
    ``(writer, fence)`` of each write the storage rejected, the value it kept, and the storage itself."""

    two_holders: bool
    rejected: list[tuple[str, int]]
    final_value: Any
    resource: FencedResource = field(repr=False, compare=False)


def pause_past_ttl(client_factory: Callable[[], redis.Redis], *, fenced: bool = True, ttl: float = 10,
                   pause: float = 15, first_fence: int = 33, key: str = KEY) -> PausePastTTL:
    """Kleppmann's diagram: A (fence 33) checks it holds the lock, then a GC pause outlasts the TTL; B
    acquires (fence 34) and writes; A wakes up and writes too. With ``fenced=True`` the storage rejects
    exactly A's stale write; without it A silently overwrites B's data.

    The fence counter is set to ``first_fence - 1`` first so the numbers match the article. A pause that
    ends inside the lease (``1 + pause < ttl``) shows the happy path: A writes and releases, then B.
    """
    _validate.number("ttl", ttl, minimum=0, strict=True)
    _validate.number("pause", pause, minimum=0, strict=True)
    _validate.integer("first_fence", first_fence, minimum=1)
    clock = VirtualClock()
    ca, cb = client_factory(), client_factory()
    s = _Script(ca, key, clock)
    ca.set(fence_key_for(key), first_fence - 1)
    storage = FencedResource("storage", enforce=fenced)
    a, b = RedisLock(ca, key, ttl, clock=clock), RedisLock(cb, key, ttl, clock=clock)

    def take(actor: str, lock: RedisLock) -> None:
        ok = lock.acquire(blocking=False)
        if ok:
            s.owner_of[lock.token] = actor
            s.believers.add(actor)
        s.row(actor, "acquire", ok, lock.fence if ok else None, "SET NX PX + INCR fence")

    def write(actor: str, lock: RedisLock, value: str) -> bool:
        ok = storage.write(value, lock.fence, actor)
        s.row(actor, "write", ok, lock.fence, f"write {value!r} with fence {lock.fence}: "
                                             f"{'accepted' if ok else 'REJECTED (stale fence)'}")
        return ok

    def let_go(actor: str, lock: RedisLock) -> None:
        fence = lock.fence
        ok = lock.release()
        s.believers.discard(actor)
        s.row(actor, "release", ok, fence, "Lua compare-and-delete")

    resume = 1 + pause
    plan: list[tuple[float, Callable[[], Any]]] = [
        (0, lambda: take("A", a)),
        (1, lambda: s.row("A", "check", a.owned(), a.fence, "A checks owned(): still the holder")),
        (1, lambda: s.row("A", "pause", None, a.fence, f"stop-the-world pause ({pause:g} s)")),
    ]
    if resume < ttl:  # the pause fits inside the lease: nothing goes wrong
        plan += [(resume, lambda: s.row("A", "resume", None, a.fence, "A wakes up, lease still valid")),
                 (resume, lambda: write("A", a, "A's data")), (resume + 1, lambda: let_go("A", a)),
                 (resume + 2, lambda: take("B", b)), (resume + 3, lambda: write("B", b, "B's data")),
                 (resume + 4, lambda: let_go("B", b))]
    else:
        end = max(resume, ttl + 2)
        plan += [(ttl, s.expire), (ttl + 1, lambda: take("B", b)), (ttl + 2, lambda: write("B", b, "B's data")),
                 (resume, lambda: s.row("A", "resume", None, a.fence,
                                        "A wakes up, still believing it holds the lock")),
                 (resume, lambda: write("A", a, "A's data")),
                 (end + 1, lambda: let_go("A", a)), (end + 2, lambda: let_go("B", b))]
    for t, step in sorted(plan, key=lambda e: e[0]):  # stable: same-time steps keep their order
        s.at(t)
        step()
    df = s.frame()
    return PausePastTTL(f"pause past the TTL, {'fenced' if fenced else 'unfenced'} storage", df,
                        two_holders=_max_believers(df) >= 2, rejected=_rejected(storage),
                        final_value=storage.value, resource=storage)


# -- 3. the watchdog: a paused holder, and a hung one ----------------------------------------------------

class _Lease:
    """Server-side lease bookkeeping for watchdog scenarios: after each grant/renewal the key is due to
    expire ``ttl`` later on the shared virtual clock; if nothing renewed it by then, expire it for real."""

    def __init__(self, s: _Script, ttl: float) -> None:
        self.s, self.ttl, self.gen = s, ttl, 0

    def granted(self) -> None:
        self.gen += 1
        gen = self.gen
        self.s.clock.after(self.ttl, self._due, gen)

    def _due(self, gen: int) -> None:
        if gen == self.gen and self.s.client.exists(self.s.key):
            self.s.expire("lease expires: nobody renewed it (TTL forced to 1 ms at the due time)")


@dataclass(frozen=True)
class WatchdogPause(Scenario):
    """:func:`watchdog_pause`'s outcome: two holders or not, A's successful renewals, whether A's lock
    noticed it was lost, the rejected ``(writer, fence)`` writes, and the storage."""

    two_holders: bool
    renewals: int
    a_lost: bool
    rejected: list[tuple[str, int]]
    resource: FencedResource = field(repr=False, compare=False)


def watchdog_pause(client_factory: Callable[[], redis.Redis], *, ttl: float = 9, pause_at: float = 4,
                   resume_at: float = 20, key: str = KEY) -> WatchdogPause:
    """A holds the lock with a watchdog (renew every ttl/3). A stop-the-world pause freezes A's whole
    process, the watchdog included, so the lease runs out; B acquires and writes; when A resumes its
    late renewal fails and its write (old fence) is rejected by the fenced storage."""
    clock = VirtualClock()
    ca, cb = client_factory(), client_factory()
    s = _Script(ca, key, clock)
    lease = _Lease(s, ttl)
    storage = FencedResource("storage")
    proc_a = PausableClock(clock)

    def on_event(lock: RedisLock, event: str) -> None:
        if event in ("acquire", "extend"):
            lease.granted()
        if event in ("extend", "extend-failed"):
            s.row("A", "renew", event == "extend", lock.fence, "watchdog PEXPIRE" +
                  ("" if event == "extend" else ": not ours any more, watchdog stops"))

    a = RedisLock(ca, key, ttl, clock=proc_a, watchdog=True, on_event=on_event)
    b = RedisLock(cb, key, ttl * 10, clock=clock)
    a.acquire(blocking=False)
    s.owner_of[a.token] = "A"
    s.believers.add("A")
    s.row("A", "acquire", True, a.fence, f"with watchdog (renews every {ttl / 3:g} s)")
    s.at(pause_at)
    proc_a.pause()
    s.row("A", "pause", None, a.fence, "stop-the-world pause: the watchdog thread stops too")
    s.at(resume_at - 6)
    ok = b.acquire(blocking=False)
    if ok:
        s.owner_of[b.token] = "B"
        s.believers.add("B")
    s.row("B", "acquire", ok, b.fence if ok else None, "SET NX PX + INCR fence")
    s.at(resume_at - 5)
    wb = storage.write("B's data", b.fence, "B") if ok else False
    s.row("B", "write", wb, b.fence, "accepted" if wb else "rejected")
    s.at(resume_at)
    s.row("A", "resume", None, a.fence, "A's process resumes; the late watchdog tick runs first")
    proc_a.resume()
    wa = storage.write("A's data", a.fence, "A")
    s.row("A", "write", wa, a.fence, "accepted" if wa else "REJECTED (stale fence)")
    a.release()
    s.believers.discard("A")
    s.row("A", "release", False, a.fence, "Lua compare-and-delete: not ours")
    s.at(resume_at + 2)
    b.release()
    s.believers.discard("B")
    s.row("B", "release", True, b.fence, "Lua compare-and-delete")
    df = s.frame()
    return WatchdogPause("watchdog vs a paused holder", df, two_holders=_max_believers(df) >= 2,
                         renewals=a.renewals, a_lost=a.lost, rejected=_rejected(storage), resource=storage)


@dataclass(frozen=True)
class WatchdogHung(Scenario):
    """:func:`watchdog_hung`'s outcome: A's renewals, B's attempts, and whether B ever got the lock."""

    renewals: int
    b_tries: int
    b_acquired: bool


def watchdog_hung(client_factory: Callable[[], redis.Redis], *, ttl: float = 9, until: float = 60,
                  max_renewals: int | None = None, every: float = 10, key: str = KEY) -> WatchdogHung:
    """A takes the lock with a watchdog, then its work hangs (deadlock, stuck call) while the process
    stays alive: the watchdog renews for ever and B never gets in. ``max_renewals`` caps the renewals
    (pottery caps extensions at 3); then the lease runs out and B acquires."""
    clock = VirtualClock()
    ca, cb = client_factory(), client_factory()
    s = _Script(ca, key, clock)
    lease = _Lease(s, ttl)

    def on_event(lock: RedisLock, event: str) -> None:
        if event in ("acquire", "extend"):
            lease.granted()
        if event == "extend":
            s.row("A", "renew", True, lock.fence, "watchdog PEXPIRE")

    a = RedisLock(ca, key, ttl, clock=clock, watchdog=True, max_renewals=max_renewals, on_event=on_event)
    a.acquire(blocking=False)
    s.owner_of[a.token] = "A"
    s.believers.add("A")
    s.row("A", "acquire", True, a.fence, "with watchdog")
    s.at(1)
    s.row("A", "hang", None, a.fence, "A's work hangs; the process (and its watchdog) stays alive")
    b = RedisLock(cb, key, ttl, clock=clock)
    tries = got = 0
    t = every
    while t <= until:
        s.at(t)
        tries += 1
        if b.acquire(blocking=False):
            s.owner_of[b.token] = "B"
            s.believers.add("B")
            s.row("B", "acquire", True, b.fence, "B finally gets the lock")
            got = 1
            break
        s.row("B", "acquire", False, None, "held by A")
        t += every
    renewals = a.renewals
    a._detach_watchdog()  # the scenario is over: stop A's renewals before cleaning up
    if got:
        b.release()
    ca.delete(key)
    return WatchdogHung(f"watchdog vs a hung holder, max_renewals={max_renewals}", s.frame(), renewals=renewals,
                        b_tries=tries, b_acquired=bool(got))
