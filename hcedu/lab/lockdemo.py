"""Chapter 08's lab: every way a Redis lock breaks, shown happening (Redis ``SET NX PX`` locks, Redlock;
Go: redsync), plus contention measurements.

Scenarios are deterministic scripts: the *client side* runs on a :class:`~hcedu.clock.VirtualClock` (who
acts when, who is paused), the *Redis side* is a real server (fakeredis or ``redis-server``) doing real
``SET NX``/Lua/``DEL``. A lease running out is enacted at the scripted moment by forcing the key's TTL to
1 ms and waiting until Redis itself expired it (labelled "lease expires"), so the same script gives the
same result on both backends without waiting tens of seconds.

Each scenario returns a :class:`Scenario` whose ``frames`` is a tidy ``DataFrame``, one row per step:
``t, actor, event, ok, fence, detail, holder`` (who Redis says holds the lock after the step) and
``believers`` (the clients that *believe* they hold it). :func:`timeline_chart` draws any of them as a
two-client timeline. Measurements (:func:`contention`, :func:`round_trips`) return frames too.
"""

from __future__ import annotations

import secrets
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import fakeredis
from ..backend import new_fake_server  # db 0 made up front: fakeredis 2.41's first-use race
import pandas as pd
import redis
import redis.lock
from redis.backoff import NoBackoff
from redis.retry import Retry

from .. import _validate
from ..clock import Timer, VirtualClock
from ..patterns.fencing import FencedResource
from ..patterns.lock import RedisLock, fence_key_for, unsafe_release
from ..patterns.redlock import Redlock

__all__ = ["Scenario", "PausableClock", "lease_expiry", "pause_past_ttl", "watchdog_pause", "watchdog_hung",
           "sigstop_pause",
           "Nodes", "fake_nodes", "real_nodes", "redlock_outage", "redlock_clock_jump", "timeline_chart",
           "redlock_chart", "dashboard", "count_commands", "round_trips", "contention", "contention_chart", "UNLOCKS"]

UNLOCKS = ("naive", "token", "redis-py")
KEY = "hcedu:ch08:lock:order"


# -- scenario plumbing -------------------------------------------------------------------------------

@dataclass
class Scenario:
    """A finished scenario: its title, the event ``frames`` and a ``summary`` of what happened."""

    title: str
    frames: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    resource: FencedResource | None = None

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
    deadline = time.monotonic() + timeout
    while client.exists(key):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{key} did not expire within {timeout} s")
        time.sleep(0.002)


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

    def frames(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=["t", "actor", "event", "ok", "fence", "detail", "holder", "believers"])
        df["fence"] = df["fence"].astype("Int64")
        return df


def _max_believers(df: pd.DataFrame) -> int:
    return int(max((len(b.split("+")) if b else 0) for b in df["believers"]))


# -- 1. lease expiry: the source's plain DEL vs the token ----------------------------------------------

def lease_expiry(client_factory: Callable[[], redis.Redis], unlock: str | Callable[..., bool] = "token", *,
                 ttl: float = 30, work: float = 40, key: str = KEY) -> Scenario:
    """A holds the lock, its work outlasts the lease, B takes the lock, then A unlocks.

    ``unlock``: ``"naive"`` (the source's first version: fixed value ``instance_N``, plain ``DEL``),
    ``"token"`` (:class:`RedisLock`), ``"redis-py"`` (``redis.lock.Lock``), or a function
    ``release(client, key, token) -> bool`` (the exercise: acquisition is ``SET key token NX PX``).
    With the naive unlock A deletes B's lock and C gets in while B still works (two holders).
    """
    if not (callable(unlock) or unlock in UNLOCKS):
        _validate.choice("unlock", unlock, UNLOCKS)
    _validate.number("ttl", ttl, minimum=0, strict=True)
    _validate.number("work", work, minimum=0, strict=True)
    if work <= ttl:
        raise ValueError(f"work must be longer than ttl for the lease to run out (got work={work}, ttl={ttl})")
    clock = VirtualClock()
    clients = {a: client_factory() for a in "ABC"}
    s = _Script(clients["A"], key, clock)
    label = unlock if isinstance(unlock, str) else getattr(unlock, "__name__", "custom")
    locks: dict[str, Any] = {}

    def acquire(actor: str) -> bool:
        c = clients[actor]
        if unlock == "token":
            locks[actor] = RedisLock(c, key, ttl, clock=clock)
            ok = locks[actor].acquire(blocking=False)
            token = locks[actor].token
        elif unlock == "redis-py":
            locks[actor] = redis.lock.Lock(c, key, timeout=ttl, thread_local=False)
            ok = locks[actor].acquire(blocking=False)
            token = locks[actor].local.token
            token = token.decode() if isinstance(token, bytes) else token
        else:
            token = f"instance_{'ABC'.index(actor) + 1}" if unlock == "naive" else secrets.token_hex(8)
            ok = bool(c.set(key, token, nx=True, px=int(ttl * 1000)))
            locks[actor] = token
        if ok:
            s.owner_of[token] = actor
            s.believers.add(actor)
        s.row(actor, "acquire", ok, detail="SET NX PX" + (" (Lua + INCR fence)" if unlock == "token" else ""))
        return ok

    def release(actor: str) -> bool | None:
        c = clients[actor]
        detail = ""
        if unlock == "naive":
            ok = unsafe_release(c, key)
            detail = "plain DEL"
        elif unlock == "token":
            ok = locks[actor].release()
            detail = "Lua compare-and-delete"
        elif unlock == "redis-py":
            try:
                locks[actor].release()
                ok = True
            except redis.lock.LockNotOwnedError:
                ok, detail = False, "raised LockNotOwnedError"
        else:
            ok = bool(unlock(c, key, locks[actor]))
            detail = label
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
    df = s.frames()
    return Scenario(f"lease expiry, unlock={label}", df, {
        "a_release": a_release, "b_lock_survived": b_survived, "c_got_in": c_got,
        "max_holders": _max_believers(df)})


# -- 2. a pause longer than the TTL, with and without fencing -----------------------------------------

def pause_past_ttl(client_factory: Callable[[], redis.Redis], *, fenced: bool = True, ttl: float = 10,
                   pause: float = 15, first_fence: int = 33, key: str = KEY) -> Scenario:
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
    df = s.frames()
    two_holders = _max_believers(df) >= 2
    rejected = [(w.writer, w.fence) for w in storage.rejected()]
    return Scenario(f"pause past the TTL, {'fenced' if fenced else 'unfenced'} storage", df, {
        "two_holders": two_holders, "rejected": rejected, "final_value": storage.value}, storage)


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


def watchdog_pause(client_factory: Callable[[], redis.Redis], *, ttl: float = 9, pause_at: float = 4,
                   resume_at: float = 20, key: str = KEY) -> Scenario:
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
    df = s.frames()
    return Scenario("watchdog vs a paused holder", df, {
        "two_holders": _max_believers(df) >= 2, "renewals": a.renewals, "a_lost": a.lost,
        "rejected": [(w.writer, w.fence) for w in storage.rejected()]}, storage)


def watchdog_hung(client_factory: Callable[[], redis.Redis], *, ttl: float = 9, until: float = 60,
                  max_renewals: int | None = None, every: float = 10, key: str = KEY) -> Scenario:
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
    df = s.frames()
    return Scenario(f"watchdog vs a hung holder, max_renewals={max_renewals}", df, {
        "renewals": renewals, "b_tries": tries, "b_acquired": bool(got)})


# -- 3b. a real pause: SIGSTOP a process that holds the lock --------------------------------------------

def _preload_all(client: redis.Redis) -> None:
    from ..patterns.fencing import FENCED_WRITE_LUA
    _preload_scripts(client)
    client.script_load(FENCED_WRITE_LUA)


def _paused_holder(url: str, key: str, store: str, ttl: float, go: Any, out: Any) -> None:
    """Child process A: acquire with a watchdog, report the fence, wait on ``go`` (the parent freezes
    us here with SIGSTOP), then write with our fence and release; report what happened."""
    from ..patterns.fencing import RedisFencedResource
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        _preload_all(client)
        lock = RedisLock(client, key, ttl, watchdog=True)
        if not lock.acquire(timeout=10):
            out.put(("error", "A could not acquire"))
            return
        out.put(("acquired", lock.fence))
        go.get(timeout=60)  # a Queue, not an Event: setting an Event blocks while its waiter is stopped
        ok = RedisFencedResource(client, store).write("A's data", lock.fence)
        out.put(("wrote", ok, lock.release()))
    except BaseException as exc:  # report, never hang the parent
        out.put(("error", repr(exc)))
    finally:
        client.close()


def sigstop_pause(url: str, *, ttl: float = 0.3, key: str = "hcedu:ch08:lock:sigstop",
                  store: str = "hcedu:ch08:storage") -> Scenario:
    """Not simulated: process A (spawned) takes the lock with a watchdog, then the parent freezes it
    with ``SIGSTOP`` — a real stop-the-world pause that freezes A's watchdog thread too. When Redis has
    expired A's lease, B (this process) acquires with the next fence and writes; then ``SIGCONT``: A
    writes with its old fence and is rejected by a Redis-side fenced store
    (:class:`~hcedu.patterns.fencing.RedisFencedResource`), and its release returns False.

    ``url``: a real server or :func:`hcedu.backend.serve_embedded`. POSIX only. Frames carry real
    elapsed seconds (not deterministic; the summary is). Raises ``TimeoutError`` if a step takes > 30 s.
    """
    import multiprocessing as mp
    import os
    import queue as queue_mod
    import signal

    from ..patterns.fencing import RedisFencedResource
    if not hasattr(signal, "SIGSTOP"):
        raise NotImplementedError("sigstop_pause needs POSIX signals (SIGSTOP/SIGCONT)")
    _validate.text("url", url)
    ttl = _validate.number("ttl", ttl, minimum=0.01)
    client = redis.Redis.from_url(url, decode_responses=True)
    _preload_all(client)
    client.delete(key, fence_key_for(key), store)
    ctx = mp.get_context("spawn")
    go, out = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_paused_holder, args=(url, key, store, ttl, go, out), daemon=True,
                       name="hcedu-lock-paused-holder")
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []

    def row(actor: str, event: str, ok: Any = None, fence: Any = None, detail: str = "") -> None:
        rows.append({"t": time.perf_counter() - t0, "actor": actor, "event": event, "ok": ok, "fence": fence,
                     "detail": detail})

    def get(timeout: float = 30) -> tuple:
        try:
            msg = out.get(timeout=timeout)
        except queue_mod.Empty:
            raise TimeoutError("process A did not report within 30 s") from None
        if msg[0] == "error":
            raise RuntimeError(f"process A failed: {msg[1]}")
        return msg

    stopped = False
    try:
        proc.start()
        _, a_fence = get()
        row("A", "acquire", True, a_fence, f"pid {proc.pid}, watchdog on, ttl {ttl:g} s")
        os.kill(proc.pid, signal.SIGSTOP)
        stopped = True
        row("A", "pause", None, a_fence, "SIGSTOP: the whole process freezes, watchdog included")
        _wait_gone(client, key, timeout=30)
        row("redis", "expire", True, None, "A's lease ran out: nobody renewed it")
        b = RedisLock(client, key, 30)
        b_ok = b.acquire(timeout=10)
        row("B", "acquire", b_ok, b.fence)
        storage = RedisFencedResource(client, store)
        b_wrote = storage.write("B's data", b.fence) if b_ok else False
        row("B", "write", b_wrote, b.fence)
        go.put("go")
        os.kill(proc.pid, signal.SIGCONT)
        stopped = False
        row("A", "resume", None, a_fence, "SIGCONT")
        _, a_wrote, a_release = get()
        row("A", "write", a_wrote, a_fence, "accepted" if a_wrote else "REJECTED (stale fence)")
        row("A", "release", a_release, a_fence)
        b_release = b.release()
        row("B", "release", b_release, b.fence)
        final = storage.value
    finally:
        if stopped:
            os.kill(proc.pid, signal.SIGCONT)
            go.put("go")
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
        client.delete(key, fence_key_for(key), store)
        client.close()
    return Scenario("a real SIGSTOP pause", pd.DataFrame(rows), {
        "b_acquired_while_a_paused": b_ok, "fences": (a_fence, b.fence), "a_write_accepted": a_wrote,
        "a_release": a_release, "final_value": final})


# -- 4. Redlock ------------------------------------------------------------------------------------------

class Nodes:
    """N independent Redis nodes for Redlock: embedded FakeServers or real ``redis-server`` processes.

    ``clients`` (one per node), ``crash(i)`` (fake: ``connected=False``; real: SIGKILL), ``unreachable()``
    (a client whose link is cut: every call raises ``redis.ConnectionError``), ``stop()``.
    """

    def __init__(self, kind: str, clients: list[redis.Redis], crash: Callable[[int], None],
                 unreachable: Callable[[], redis.Redis], stop: Callable[[], None]) -> None:
        self.kind, self.clients = kind, clients
        self._crash, self._unreachable, self._stop = crash, unreachable, stop
        self.down: set[int] = set()

    def crash(self, i: int) -> None:
        self._crash(i)
        self.down.add(i)

    def unreachable(self) -> redis.Redis:
        return self._unreachable()

    def stop(self) -> None:
        self._stop()

    def __enter__(self) -> "Nodes":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __len__(self) -> int:
        return len(self.clients)


def fake_nodes(n: int = 5) -> Nodes:
    """``n`` embedded fakeredis servers (in-process; a crash is ``server.connected = False``)."""
    n = _validate.integer("n", n, minimum=1)
    servers = [new_fake_server() for _ in range(n)]
    cut = new_fake_server()
    cut.connected = False

    def crash(i: int) -> None:
        servers[i].connected = False

    return Nodes("fake", [fakeredis.FakeRedis(server=s, decode_responses=True) for s in servers], crash,
                 lambda: fakeredis.FakeRedis(server=cut, decode_responses=True), lambda: None)


def _node_client(port: int) -> redis.Redis:
    # no retries, short timeouts: a dead node must answer "no" at once, not after redis-py's backoff
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, retry=Retry(NoBackoff(), 0),
                       socket_timeout=1.0, socket_connect_timeout=0.5)


def real_nodes(n: int = 5) -> Nodes:
    """``n`` throwaway ``redis-server`` processes on loopback (a crash is SIGKILL). Call ``stop()``."""
    import os
    import signal

    from . import redis_server
    n = _validate.integer("n", n, minimum=1)
    procs = [redis_server.start() for _ in range(n)]

    def crash(i: int) -> None:
        os.kill(procs[i].pid, signal.SIGKILL)

    def stop() -> None:
        for p in procs:
            try:
                os.kill(p.pid, signal.SIGKILL)  # instant; stop() below then only tidies up
            except OSError:
                pass
        ts = [threading.Thread(target=p.stop, name="hcedu-redis-stop", daemon=True) for p in procs]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)

    return Nodes("real", [_node_client(p.port) for p in procs], crash,
                 lambda: _node_client(redis_server.free_port()), stop)


def redlock_outage(nodes: Nodes, max_down: int = 3, *, key: str = "hcedu:ch08:redlock") -> pd.DataFrame:
    """Crash nodes one by one (0 .. ``max_down`` down) and try a Redlock each time. One row per
    (down, node): ``down, node, up, holds, acquired, quorum``."""
    max_down = _validate.integer("max_down", max_down, minimum=0, maximum=len(nodes))
    rows = []
    for down in range(max_down + 1):
        while len(nodes.down) < down:
            nodes.crash(len(nodes) - 1 - len(nodes.down))
        lock = Redlock(nodes.clients, key, 10, clock=VirtualClock())
        ok = lock.acquire(blocking=False)
        for r in lock.last:
            rows.append({"down": down, "node": r.node, "up": r.node not in nodes.down, "holds": r.ok,
                         "acquired": ok, "quorum": lock.quorum})
        if ok:
            lock.release()
    return pd.DataFrame(rows)


def redlock_clock_jump(nodes: Nodes, *, key: str = "hcedu:ch08:redlock-jump") -> Scenario:
    """Kleppmann's scenario on 5 nodes: client 1 reaches A, B, C (D, E cut off); C's clock jumps forward
    so its copy expires early (enacted by forcing its TTL to 1 ms); client 2 reaches C, D, E (A, B cut
    off). Both believe they hold the lock. Frames: one row per (step, node) with who holds the key."""
    if len(nodes) != 5:
        raise ValueError(f"the clock-jump scenario needs 5 nodes (got {len(nodes)})")
    names = "ABCDE"
    cut = nodes.unreachable()
    c = nodes.clients
    for cl in c:
        cl.delete(key)
    clock = VirtualClock()
    one = Redlock(c[:3] + [cut, cut], key, 30, clock=clock)
    two = Redlock([cut, cut] + c[2:], key, 30, clock=clock)
    owner: dict[str, str] = {}
    rows: list[dict[str, Any]] = []

    def snap(t: float, step: str) -> None:
        for i, cl in enumerate(c):
            v = cl.get(key)
            rows.append({"t": t, "step": step, "node": names[i], "holder": owner.get(v, v) if v else ""})

    snap(0, "start")
    ok1 = one.acquire(blocking=False)
    owner[one.token] = "client 1"
    snap(1, f"client 1 acquires on A,B,C (D,E unreachable): {'held' if ok1 else 'failed'}")
    expire_now(c[2], key)
    snap(2, "C's clock jumps forward: its copy expires early")
    ok2 = two.acquire(blocking=False)
    if two.token:
        owner[two.token] = "client 2"
    snap(3, f"client 2 acquires on C,D,E (A,B unreachable): {'held' if ok2 else 'failed'}")
    one.release()
    two.release()
    return Scenario("Redlock with a clock jump on one node", pd.DataFrame(rows),
                    {"client1_holds": ok1, "client2_holds": ok2, "two_holders": ok1 and ok2})


# -- charts ---------------------------------------------------------------------------------------------

_COLORS = {"A": "tab:blue", "B": "tab:orange", "C": "tab:green", "client 1": "tab:blue", "client 2": "tab:orange"}


def _intervals(times: list[float], on: list[bool], end: float) -> list[tuple[float, float]]:
    out, start = [], None
    for t, v in zip(times, on):
        if v and start is None:
            start = t
        elif not v and start is not None:
            out.append((start, t - start))
            start = None
    if start is not None:
        out.append((start, end - start))
    return out


def timeline_chart(scenario: Scenario, title: str | None = None):
    """Two-client timeline: per client, a wide pale bar while it *believes* it holds the lock, a narrow
    dark bar while Redis says it does, hatching while paused/hung, markers for each step (▲ acquire,
    ▼ release, ● accepted write, ■ ownership check, | renewal, red ✕ a refused or failed step) and a
    dotted line where the lease expired. Red bands: two clients believe they hold the lock at once."""
    import matplotlib.pyplot as plt

    df = scenario.frames
    actors = [a for a in ["A", "B", "C"] if a in set(df["actor"])]
    end = float(df["t"].max()) + 2
    times = list(df["t"])
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.8 * len(actors)))
    ypos = {a: len(actors) - 1 - i for i, a in enumerate(actors)}
    for a in actors:
        y = ypos[a]
        believe = [a in (b.split("+") if b else []) for b in df["believers"]]
        held = [h == a for h in df["holder"]]
        ax.broken_barh(_intervals(times, believe, end), (y - 0.3, 0.6), color=_COLORS[a], alpha=0.25)
        ax.broken_barh(_intervals(times, held, end), (y - 0.1, 0.2), color=_COLORS[a], alpha=0.9)
        rows = df[df["actor"] == a]
        starts = rows[rows["event"].isin(["pause", "hang"])]["t"].tolist()
        stops = rows[rows["event"] == "resume"]["t"].tolist()
        for i, s0 in enumerate(starts):
            s1 = stops[i] if i < len(stops) else end
            ax.broken_barh([(s0, s1 - s0)], (y - 0.3, 0.6), facecolor="none", edgecolor="gray", hatch="//")
    overlap = [len(b.split("+")) >= 2 if b else False for b in df["believers"]]
    for s0, w in _intervals(times, overlap, end):
        ax.axvspan(s0, s0 + w, color="red", alpha=0.12, lw=0)
    marks = {"acquire": "^", "release": "v", "write": "o", "renew": "|", "check": "s"}
    for r in df.itertuples():
        if r.actor == "redis":
            ax.axvline(r.t, color="gray", ls=":", lw=1)
            ax.text(r.t, len(actors) - 0.45, " lease expires", fontsize=7, color="gray", va="bottom")
            continue
        if r.event not in marks:
            continue
        y = ypos[r.actor]
        failed = r.ok is False
        ax.plot(r.t, y + 0.42, marker="x" if failed else marks[r.event], color="red" if failed else "black",
                ms=7, ls="none")
        if r.event == "write" or (r.event == "release" and r.detail == "plain DEL"):
            label = f"fence {r.fence}" if r.event == "write" else "DEL"
            ax.text(r.t, y - 0.48, label, fontsize=7, ha="center", va="top")
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color="gray", alpha=0.25, label="believes it holds the lock"),
                       Patch(color="gray", alpha=0.9, label="Redis says it holds it"),
                       Patch(facecolor="none", edgecolor="gray", hatch="//", label="paused / hung"),
                       Patch(color="red", alpha=0.12, label="two holders")],
              loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=4, fontsize=7, frameon=False)
    ax.set_yticks([ypos[a] for a in actors], [f"client {a}" for a in actors])
    ax.set_ylim(-0.7, len(actors) - 0.2)
    ax.set_xlim(-0.5, end)
    ax.set_xlabel("time (s, virtual)")
    ax.set_title(title or scenario.title, fontsize=10)
    fig.tight_layout()
    plt.close(fig)  # returned, not also drawn by pyplot: the cell shows it once
    return fig


def redlock_chart(outage: pd.DataFrame | None = None, jump: Scenario | None = None):
    """Left: which nodes hold the lock as nodes crash (green holds, pale green said yes but was undone
    for want of a quorum, grey down) with the verdict per row. Right: who holds the key on each node through the clock-jump scenario."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    panels = [p for p in (outage, jump) if p is not None]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.0), squeeze=False)
    k = 0
    if outage is not None:
        ax = axes[0][k]
        k += 1
        downs = sorted(outage["down"].unique())
        n = int(outage["node"].max()) + 1
        grid = [[0] * n for _ in downs]
        verdict = {}
        for r in outage.itertuples():
            grid[r.down][r.node] = (2 if r.acquired else 3) if r.holds else (0 if not r.up else 1)
            verdict[r.down] = r.acquired
        ax.imshow(grid, cmap=ListedColormap(["0.6", "white", "tab:green", "#bfe5bf"]), vmin=0, vmax=3,
                  aspect="auto")
        ax.set_xticks(range(n), [chr(65 + i) for i in range(n)])
        ax.set_yticks(range(len(downs)), [f"{d} down: {'acquired' if verdict[d] else 'refused'}" for d in downs])
        ax.set_title(f"quorum {int(outage['quorum'].iloc[0])} of {n}: green holds, pale = said yes then\n"
                     f"undone (no quorum), grey = down", fontsize=9)
        ax.grid(False)
    if jump is not None:
        ax = axes[0][k]
        f = jump.frames
        steps = list(dict.fromkeys(f["t"]))
        nodes = list(dict.fromkeys(f["node"]))
        for r in f.itertuples():
            y = len(nodes) - 1 - nodes.index(r.node)
            if r.holder:
                ax.broken_barh([(r.t, 1)], (y - 0.35, 0.7), color=_COLORS[r.holder], alpha=0.8)
        ax.set_yticks(range(len(nodes)), list(reversed(nodes)))
        ax.set_xticks([s + 0.5 for s in steps], ["start", "1 acquires", "C jumps", "2 acquires"], fontsize=8)
        ax.set_xlim(0, max(steps) + 1)
        ax.set_title("clock jump: blue = client 1, orange = client 2", fontsize=10)
        ax.grid(False)
    fig.tight_layout()
    plt.close(fig)  # returned, not also drawn by pyplot: the cell shows it once
    return fig


# -- measurements ---------------------------------------------------------------------------------------

class count_commands:
    """Count the commands (= round trips, nothing here pipelines) a redis-py client sends inside a
    ``with`` block: ``with count_commands(client) as n: ...; n.total``; ``n.by_name`` per command."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.total = 0
        self.by_name: dict[str, int] = {}

    def __enter__(self) -> "count_commands":
        original = self.client.execute_command
        self._original = original

        def counted(*args: Any, **kw: Any) -> Any:
            name = str(args[0]).upper() if args else "?"
            self.total += 1
            self.by_name[name] = self.by_name.get(name, 0) + 1
            return original(*args, **kw)

        self.client.execute_command = counted
        return self

    def __exit__(self, *exc: object) -> None:
        del self.client.execute_command  # back to the class's method


def _impl(impl: str, client: redis.Redis, key: str, ttl: float, poll: str, i: int = 0) -> tuple[Callable, Callable]:
    """(acquire(timeout) -> bool, release()) for one client of the named implementation."""
    import random
    if impl == "hcedu":
        lock = RedisLock(client, key, ttl, retry_base=0 if poll == "immediate" else 0.0005, retry_cap=0.004,
                         rng=random.Random(i))
        return (lambda timeout: lock.acquire(timeout=timeout)), lock.release
    if impl == "redis-py":
        lk = redis.lock.Lock(client, key, timeout=ttl, sleep=0 if poll == "immediate" else 0.002, thread_local=False)
        return (lambda timeout: lk.acquire(blocking_timeout=timeout)), lk.release
    raise ValueError(f"impl must be one of 'hcedu', 'redis-py' (got {impl!r})")


def round_trips(client: redis.Redis, key: str = "hcedu:ch08:rtt") -> pd.DataFrame:
    """Commands sent per uncontended acquire and release, after a warm-up (scripts loaded), for the
    source's naive lock, this course's ``RedisLock`` and redis-py's ``Lock``."""
    rows = []
    for impl in ("naive", "hcedu", "redis-py"):
        for _ in range(2):  # the first pass warms up (SCRIPT LOAD after NOSCRIPT)
            if impl == "naive":
                acq = lambda: client.set(key, "instance_1", nx=True, ex=30)  # noqa: E731
                rel = lambda: unsafe_release(client, key)  # noqa: E731
            else:
                a, rel = _impl(impl, client, key, 30, "backoff")
                acq = lambda a=a: a(None)  # noqa: E731
            with count_commands(client) as n_acq:
                assert acq()
            with count_commands(client) as n_rel:
                rel()
        rows.append({"impl": impl, "acquire": n_acq.total, "release": n_rel.total,
                     "commands": "+".join(sorted(n_acq.by_name)) + " / " + "+".join(sorted(n_rel.by_name))})
    return pd.DataFrame(rows)


def _worker(client: redis.Redis, impl: str, key: str, ttl: float, poll: str, n: int, hold: float,
            i: int, barrier: Any, out: list) -> None:
    acquire, release = _impl(impl, client, key, ttl, poll, i)
    lat = []
    barrier.wait(timeout=60)
    t0 = time.perf_counter()
    for _ in range(n):
        s = time.perf_counter()
        if not acquire(30):
            raise TimeoutError("acquire took longer than 30 s")
        lat.append(time.perf_counter() - s)
        if hold:
            time.sleep(hold)
        release()
    out.append((t0, time.perf_counter(), lat))


def _preload_scripts(client: redis.Redis) -> None:
    """SCRIPT LOAD every lock script up front. Needed against fakeredis 2.40's ``TcpFakeServer``, which
    closes a connection after an error reply, and redis-py loads a script by trying EVALSHA first
    (NOSCRIPT error), then SCRIPT LOAD on the same connection. Harmless on a real server."""
    from ..patterns.lock import ACQUIRE_LUA, EXTEND_LUA, RELEASE_LUA
    lk = redis.lock.Lock
    for src in (ACQUIRE_LUA, RELEASE_LUA, EXTEND_LUA, lk.LUA_RELEASE_SCRIPT, lk.LUA_EXTEND_SCRIPT,
                lk.LUA_REACQUIRE_SCRIPT):
        client.script_load(src)


def _proc_main(url: str, impl: str, key: str, ttl: float, poll: str, n: int, hold: float, i: int,
               barrier: Any, queue: Any) -> None:
    out: list = []
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        _preload_scripts(client)
        _worker(client, impl, key, ttl, poll, n, hold, i, barrier, out)
        queue.put(out[0])
    except BaseException as exc:  # report, don't hang the parent
        queue.put(repr(exc))
    finally:
        client.close()


def contention(client_factory: Callable[[], redis.Redis] | None = None, contenders: tuple[int, ...] = (1, 2, 4, 8), *,
               per_client: int = 50, hold: float = 0.0002, ttl: float = 5, poll: str = "backoff",
               impl: str = "hcedu", mode: str = "threads", url: str | None = None,
               key: str = "hcedu:ch08:contention") -> pd.DataFrame:
    """Measure acquire latency and throughput as contenders grow. Each contender runs ``per_client``
    acquire/hold/release rounds; all start together (a barrier).

    ``mode="threads"`` uses ``client_factory()`` per thread; ``mode="processes"`` spawns processes that
    connect to ``url`` (a real server or :func:`hcedu.backend.serve_embedded`). ``poll``: ``"backoff"``
    (jittered) or ``"immediate"`` (retry at once). One row per contender count: ``impl, poll, mode,
    contenders, acquisitions, seconds, throughput, p50_ms, p99_ms``. Raises ``TimeoutError`` if a worker
    cannot acquire within 30 s.
    """
    _validate.choice("mode", mode, ("threads", "processes"))
    _validate.choice("poll", poll, ("backoff", "immediate"))
    _validate.choice("impl", impl, ("hcedu", "redis-py"))
    per_client = _validate.integer("per_client", per_client, minimum=1)
    _validate.number("hold", hold, minimum=0)
    if mode == "threads" and client_factory is None:
        raise TypeError("mode='threads' needs client_factory")
    if mode == "processes":
        _validate.text("url", url)
    rows = []
    for n in contenders:
        n = _validate.integer("contenders", n, minimum=1)
        results: list = []
        if mode == "threads":
            barrier = threading.Barrier(n)
            errors: list[BaseException] = []

            def run(i: int) -> None:
                try:
                    _worker(client_factory(), impl, key, ttl, poll, per_client, hold, i, barrier, results)
                except BaseException as exc:
                    errors.append(exc)
                    barrier.abort()

            ts = [threading.Thread(target=run, args=(i,), name=f"hcedu-lock-contender-{i}", daemon=True)
                  for i in range(n)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(120)
            if errors:
                raise errors[0]
        else:
            import multiprocessing as mp
            ctx = mp.get_context("spawn")
            barrier, queue = ctx.Barrier(n), ctx.Queue()
            procs = [ctx.Process(target=_proc_main, args=(url, impl, key, ttl, poll, per_client, hold, i,
                                                          barrier, queue), daemon=True) for i in range(n)]
            try:
                for p in procs:
                    p.start()
                for _ in range(n):
                    r = queue.get(timeout=120)
                    if isinstance(r, str):
                        raise RuntimeError(f"contender process failed: {r}")
                    results.append(r)
            finally:
                for p in procs:
                    p.join(10)
                    if p.is_alive():
                        p.terminate()
        start = min(r[0] for r in results)
        end = max(r[1] for r in results)
        lat = sorted(x for r in results for x in r[2])
        q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
        rows.append({"impl": impl, "poll": poll, "mode": mode, "contenders": n, "acquisitions": len(lat),
                     "seconds": end - start, "throughput": len(lat) / (end - start),
                     "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000})
    return pd.DataFrame(rows)


def dashboard(client_factory: Callable[[], redis.Redis], *, key: str = KEY):
    """Watch it: sliders for the lease (TTL) and A's pause, and a fenced/unfenced switch, redrawing the
    :func:`pause_past_ttl` timeline. Returns an ``ipywidgets.interactive`` whose ``result`` is the last
    :class:`Scenario`."""
    import ipywidgets as W
    from IPython.display import display

    def show(ttl: int = 10, pause: int = 15, fenced: bool = True) -> Scenario:
        sc = pause_past_ttl(client_factory, fenced=fenced, ttl=ttl, pause=pause, key=key)
        rejected = ", ".join(f"{who}'s write (fence {fence})" for who, fence in sc.summary["rejected"]) or "none"
        holders = "two clients believed they held the lock" if sc.summary["two_holders"] else "one holder at a time"
        display(timeline_chart(sc, f"TTL {ttl} s, pause {pause} s, {'fenced' if fenced else 'unfenced'} storage: "
                                   f"{holders}; writes rejected: {rejected}"))
        return sc

    return W.interactive(show, ttl=W.IntSlider(10, min=2, max=30, description="TTL (s)"),
                         pause=W.IntSlider(15, min=1, max=40, description="pause (s)"),
                         fenced=W.Checkbox(True, description="fenced storage"))


def contention_chart(df: pd.DataFrame):
    """Throughput (left) and p99 acquire latency (right) vs contenders, one line per (impl, poll, mode)."""
    import matplotlib.pyplot as plt

    from .plot import finish

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.4))
    for (impl, poll, mode), g in df.groupby(["impl", "poll", "mode"], sort=True):
        style = dict(marker="o", label=f"{impl}, {poll}, {mode}", linestyle="-" if poll == "backoff" else "--")
        a1.plot(g["contenders"], g["throughput"], **style)
        a2.plot(g["contenders"], g["p99_ms"], **style)
    finish(a1, title="throughput: one holder at a time", xlabel="contending clients", ylabel="acquisitions / s",
           legend=None, integer_x=True, ylim_zero=True, tight=False)
    a2.set_yscale("log")
    finish(a2, title="p99 acquire latency grows with the waiters", xlabel="contending clients",
           ylabel="p99 acquire latency (ms, log scale)", legend="outside", integer_x=True)
    plt.close(fig)  # returned, not also drawn by pyplot: the cell shows it once
    return fig
