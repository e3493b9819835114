"""Go's scheduler (runtime/proc.go: G, M, P, schedule, findRunnable, sysmon) as a deterministic simulator.

A discrete-event model on virtual time (milliseconds) of how Go runs goroutines, next to the two models it
replaced or competes with, on the *same* workload:

* ``"gmp"`` — Go's M:N scheduler. Exactly ``gomaxprocs`` Ps; an M (OS thread) needs a P to run Go code.
  Each P has a local run queue (ring of 256) and a one-slot ``runnext``; there is one global queue.
  ``schedule()`` takes from the global queue first every 61st schedtick (fairness), then ``runnext``
  (the G inherits the time slice), then the local queue, then the global queue (a batch of
  ``len/gomaxprocs + 1``, at most 128), then steals **half** of a random victim's local queue.
  ``go`` puts the new G in ``runnext`` (the old one goes to the local tail; a full local queue moves half
  of itself to the global queue); a G woken by a channel goes to the waker's ``runnext``.
  ``sysmon`` runs without a P, as in Go: each round it calls ``retake``, then sleeps 20 µs, or, after 50
  rounds in a row that took no P from a syscall, twice as long as last time, up to 10 ms (so a lone CPU hog
  is typically preempted 10-20 ms in, not at 10.02 ms); with every P idle it sleeps until one is busy.
  ``retake`` notes a new time slice (``schedtick``) the first round it sees it and preempts the G once that
  slice is ``preempt_after`` (10 ms, ``forcePreemptNS``) old — Go 1.14 asynchronous preemption; switch it
  off with ``preemption=False`` to get the pre-1.14 behaviour of a loop without function calls. A blocking
  syscall keeps its M; sysmon notes it one round and retakes the P on a later round — except while the P's
  run queue is empty, another P is idle and the syscall is younger than 10 ms — handing it to another M
  when there is work (``handoff``); on return the G takes its old or any idle P, else goes to the global
  queue and its M parks.
  Network waits park the G on the netpoller; when ready it is injected into the global queue.
* ``"1:1"`` — every G is an OS thread (Java before virtual threads, C++ ``std::thread``): ``gomaxprocs``
  cores, one kernel FIFO run queue, OS time slices (``os_timeslice``), thread creation and context-switch
  costs of the kernel. A blocking syscall blocks only its thread.
* ``"n:1"`` — one thread runs every G cooperatively (asyncio, greenlets, early green threads): one core,
  FIFO, no preemption; a blocking syscall blocks *everything*.

Workloads are data: a list of :class:`GSpec` (name, steps, arrival time). Steps are tuples:
``("cpu", ms)``, ``("syscall", ms)`` (blocking, e.g. file I/O or cgo), ``("net", ms)`` (netpoller wait),
``("send", ch)`` / ``("recv", ch)`` (unbuffered channel ``ch``: a rendezvous), ``("go", GSpec)``.

Invariants (tested): every G runs to completion or :class:`SimDeadlock` is raised with Go's message; no P
(core) runs two Gs at once; a steal only takes from a non-empty queue; the same workload, configuration and
seed give the same event log. Randomness (victim order for stealing) comes only from ``seed``.

Simplifications, stated: no spinning-M limit (an idle P is woken per ready G; the retake rule counts idle Ps
where Go counts idle Ps plus spinning Ms); ``runnext`` is never stolen (Go steals it from a P whose G has been
running a while); the netpoller hands a ready G over at once (in Go, idle Ps poll it in ``findRunnable`` and
sysmon only when nobody polled for 10 ms); timers, GC and the wake-up of sysmon by ``exitsyscall`` are not
modelled.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import deque
from dataclasses import dataclass, field, fields, replace
from typing import Any, Iterable, Sequence

import pandas as pd

from .. import _validate

__all__ = ["GSpec", "SchedConfig", "SimResult", "SimDeadlock", "MODELS", "simulate", "compare",
           "cpu_bound", "fan_out", "mixed", "hog_and_short", "ping_pong", "workload_frame"]

MODELS = ("gmp", "1:1", "n:1")
STEP_KINDS = ("cpu", "syscall", "net", "send", "recv", "go")
EVENT_COLUMNS = ["time", "event", "g", "p", "m", "other", "n", "before"]
SEGMENT_COLUMNS = ["g", "name", "p", "m", "start", "end", "kind", "end_reason"]


class SimDeadlock(RuntimeError):
    """Every remaining G is blocked on a channel: Go's ``fatal error: all goroutines are asleep - deadlock!``."""


# ----------------------------------------------------------------------------------------------- workload
@dataclass(frozen=True)
class GSpec:
    """A goroutine's behaviour as data: ``name``, ``steps`` (tuples, see module doc), ``arrive`` (ms).

    >>> GSpec("worker", [("cpu", 2), ("syscall", 1), ("cpu", 1)]).cpu_time
    3.0
    """

    name: str
    steps: tuple = ()
    arrive: float = 0.0

    def __post_init__(self) -> None:
        _validate.text("name", self.name)
        object.__setattr__(self, "arrive", _validate.number("arrive", self.arrive, minimum=0))
        if isinstance(self.steps, (str, bytes)) or not isinstance(self.steps, Iterable):
            raise TypeError(f"steps must be a sequence of (kind, arg) tuples (got {type(self.steps).__name__})")
        norm = []
        for i, step in enumerate(self.steps):
            if not isinstance(step, (tuple, list)) or len(step) != 2:
                raise TypeError(f"steps[{i}] must be a (kind, arg) pair (got {step!r})")
            kind, arg = step
            _validate.choice(f"steps[{i}] kind", kind, STEP_KINDS)
            if kind in ("cpu", "syscall", "net"):
                arg = _validate.number(f"steps[{i}] {kind} duration (ms)", arg, minimum=0, strict=True)
            elif kind in ("send", "recv"):
                arg = _validate.text(f"steps[{i}] channel name", arg)
            elif not isinstance(arg, GSpec):
                raise TypeError(f"steps[{i}]: a 'go' step takes a GSpec (got {type(arg).__name__})")
            norm.append((kind, arg))
        object.__setattr__(self, "steps", tuple(norm))

    @property
    def cpu_time(self) -> float:
        """CPU milliseconds this G itself needs (children not included)."""
        return float(sum(a for k, a in self.steps if k == "cpu"))


def _count(name: str, n: Any, minimum: int = 1) -> int:
    return _validate.integer(name, n, minimum=minimum)


def cpu_bound(n: int, burst: float = 20.0, *, name: str = "cpu") -> list[GSpec]:
    """``n`` goroutines that each need ``burst`` ms of CPU, all runnable at t=0."""
    n = _count("n", n)
    burst = _validate.number("burst", burst, minimum=0, strict=True)
    return [GSpec(f"{name}{i}", (("cpu", burst),)) for i in range(n)]


def fan_out(n: int, burst: float = 5.0, *, seed: int = 0, jitter: float = 0.5, spawn_gap: float = 0.05) -> list[GSpec]:
    """A ``main`` G that starts ``n`` workers with ``go`` (``spawn_gap`` ms of CPU between starts).

    Each worker needs ``burst`` ms of CPU ± ``jitter`` (seeded). The workers pile up on main's P (``runnext``
    then the local queue), so the other Ps must steal: the classic work-stealing picture.
    """
    n = _count("n", n)
    burst = _validate.number("burst", burst, minimum=0, strict=True)
    jitter = _validate.number("jitter", jitter, minimum=0, maximum=1, strict=False)
    spawn_gap = _validate.number("spawn_gap", spawn_gap, minimum=0, strict=True)
    rng = random.Random(seed)
    steps: list[tuple] = []
    for i in range(n):
        b = burst * (1 + jitter * (2 * rng.random() - 1)) if jitter else burst
        steps += [("cpu", spawn_gap), ("go", GSpec(f"w{i}", (("cpu", max(b, 1e-3)),)))]
    return [GSpec("main", tuple(steps))]


def mixed(n: int, *, seed: int = 0, syscall_share: float = 0.2, net_share: float = 0.2, steps: int = 4,
          burst: float = 2.0, io: float = 4.0, spread: float = 5.0) -> list[GSpec]:
    """``n`` goroutines arriving over ``spread`` ms, each alternating CPU bursts (mean ``burst`` ms) with
    waits: a blocking syscall with probability ``syscall_share``, a network wait with ``net_share``
    (mean ``io`` ms each). Seeded: the same arguments give the same workload.
    """
    n = _count("n", n)
    steps = _count("steps", steps)
    syscall_share = _validate.number("syscall_share", syscall_share, minimum=0, maximum=1)
    net_share = _validate.number("net_share", net_share, minimum=0, maximum=1)
    if syscall_share + net_share > 1:
        raise ValueError(f"syscall_share + net_share must be <= 1 (got {syscall_share + net_share:g})")
    burst = _validate.number("burst", burst, minimum=0, strict=True)
    io = _validate.number("io", io, minimum=0, strict=True)
    spread = _validate.number("spread", spread, minimum=0)
    rng = random.Random(seed)
    out = []
    for i in range(n):
        seq: list[tuple] = []
        for s in range(steps):
            seq.append(("cpu", round(rng.expovariate(1 / burst) + 0.05, 3)))
            if s == steps - 1:
                break
            r = rng.random()
            if r < syscall_share:
                seq.append(("syscall", round(rng.expovariate(1 / io) + 0.05, 3)))
            elif r < syscall_share + net_share:
                seq.append(("net", round(rng.expovariate(1 / io) + 0.05, 3)))
        out.append(GSpec(f"g{i}", tuple(seq), arrive=round(rng.uniform(0, spread), 3) if spread else 0.0))
    return out


def hog_and_short(n_short: int = 4, *, hog: float = 100.0, short: float = 1.0, every: float = 5.0) -> list[GSpec]:
    """One CPU hog (a loop without function calls, ``hog`` ms) plus ``n_short`` short requests arriving
    every ``every`` ms: under a cooperative scheduler with one thread the requests wait for the hog."""
    n_short = _count("n_short", n_short)
    hog = _validate.number("hog", hog, minimum=0, strict=True)
    short = _validate.number("short", short, minimum=0, strict=True)
    every = _validate.number("every", every, minimum=0, strict=True)
    return [GSpec("hog", (("cpu", hog),))] + [
        GSpec(f"req{i}", (("cpu", short),), arrive=round(every * (i + 1), 6)) for i in range(n_short)]


def ping_pong(rounds: int = 5, burst: float = 0.5) -> list[GSpec]:
    """Two goroutines passing a ball over an unbuffered channel ``rounds`` times (``runnext`` hand-offs)."""
    rounds = _count("rounds", rounds)
    burst = _validate.number("burst", burst, minimum=0, strict=True)
    ping, pong = [], []
    for _ in range(rounds):
        ping += [("cpu", burst), ("send", "ball"), ("recv", "back")]
        pong += [("recv", "ball"), ("cpu", burst), ("send", "back")]
    return [GSpec("ping", tuple(ping)), GSpec("pong", tuple(pong))]


def workload_frame(workload: Sequence[GSpec]) -> pd.DataFrame:
    """One row per G (spawned children included): name, arrive, steps, cpu ms, syscalls, net waits, chan ops."""
    rows = []

    def walk(spec: GSpec, parent: str | None) -> None:
        kinds = [k for k, _ in spec.steps]
        rows.append({"name": spec.name, "parent": parent, "arrive": spec.arrive, "steps": len(spec.steps),
                     "cpu_ms": spec.cpu_time, "syscalls": kinds.count("syscall"), "net_waits": kinds.count("net"),
                     "chan_ops": kinds.count("send") + kinds.count("recv"), "spawns": kinds.count("go")})
        for k, a in spec.steps:
            if k == "go":
                walk(a, spec.name)

    for spec in _check_workload(workload):
        walk(spec, None)
    return pd.DataFrame(rows)


def _check_workload(workload: Any) -> list[GSpec]:
    if isinstance(workload, GSpec):
        return [workload]
    if isinstance(workload, (str, bytes)) or not isinstance(workload, Iterable):
        raise TypeError(f"workload must be a list of GSpec (got {type(workload).__name__})")
    specs = list(workload)
    if not specs:
        raise ValueError("workload must contain at least one GSpec")
    for i, s in enumerate(specs):
        if not isinstance(s, GSpec):
            raise TypeError(f"workload[{i}] must be a GSpec (got {type(s).__name__})")
    return specs


# ----------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class SchedConfig:
    """Constants of the models, in milliseconds. Go's values are from runtime/proc.go; OS and asyncio costs
    are orders of magnitude (measure your own in chapter 01's spawn-cost lab)."""

    preempt_after: float = 10.0       # forcePreemptNS
    sysmon_tick: float = 0.02         # sysmon's shortest sleep (20 µs)
    sysmon_max_sleep: float = 10.0    # sysmon's longest sleep when idle (10 ms)
    sysmon_idle_before_backoff: int = 50  # idle rounds at 20 µs before sysmon starts doubling its sleep
    global_check_every: int = 61      # schedtick % 61 == 0 -> global queue first
    local_runq_size: int = 256        # len(p.runq)
    g_switch: float = 0.0002          # goroutine switch ~0.2 µs
    g_spawn: float = 0.0003           # newproc ~0.3 µs
    wake_latency: float = 0.005       # waking a parked M / an idle core
    os_switch: float = 0.003          # kernel context switch ~3 µs
    os_spawn: float = 0.015           # pthread_create + first schedule ~15 µs
    os_timeslice: float = 4.0         # a CFS-like time slice
    task_switch: float = 0.001        # an event-loop task switch ~1 µs
    task_spawn: float = 0.002         # create_task ~2 µs
    max_events: int = 2_000_000       # runaway guard

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("global_check_every", "local_runq_size", "max_events", "sysmon_idle_before_backoff"):
                _validate.integer(f.name, v, minimum=2)
            else:
                _validate.number(f.name, v, minimum=0, strict=f.name in ("preempt_after", "sysmon_tick",
                                                                           "os_timeslice"))


# ----------------------------------------------------------------------------------------------- result
@dataclass
class SimResult:
    """What a run produced.

    ``events``: the event log (``time, event, g, p, m, other, n, before``; ``g``/``p``/``m`` are ids, -1 =
    none; for a ``steal``, ``other`` is the victim P, ``n`` the Gs taken, ``before`` the victim's queue length;
    for a ``handoff``, ``m`` is the new M and ``other`` the M left blocked in the syscall).
    ``segments``: who ran where (``g, name, p, m, start, end, kind, end_reason``; ``kind`` is ``run`` or
    ``syscall``; a syscall blocking a thread outside any P has ``p = -1``).
    ``per_g``: arrive, first_run, finish, latency (finish - arrive), wait (runnable but not running), cpu.
    ``per_p``: busy ms and utilisation per P (core). ``metrics``: totals (see :func:`simulate`).
    """

    model: str
    gomaxprocs: int
    preemption: bool
    seed: int
    config: SchedConfig
    events: pd.DataFrame
    segments: pd.DataFrame
    per_g: pd.DataFrame
    per_p: pd.DataFrame
    metrics: dict = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """The metrics as a one-row DataFrame."""
        return pd.DataFrame([self.metrics])

    def __repr__(self) -> str:
        m = self.metrics
        return (f"<SimResult {self.model} P={self.gomaxprocs} Gs={m.get('goroutines')} "
                f"makespan={m.get('makespan'):.3f}ms steals={m.get('steals')} handoffs={m.get('handoffs')} "
                f"preemptions={m.get('preemptions')}>")


# ----------------------------------------------------------------------------------------------- engine
class _G:
    __slots__ = ("id", "name", "steps", "pc", "left", "state", "arrive", "first_run", "finish", "cpu",
                 "ready_at", "wait", "m")

    def __init__(self, gid: int, spec: GSpec, t: float) -> None:
        self.id = gid
        self.name = spec.name
        self.steps = list(spec.steps)
        self.pc = 0
        self.left: float | None = None
        self.state = "runnable"
        self.arrive = t
        self.first_run: float | None = None
        self.finish: float | None = None
        self.cpu = 0.0
        self.ready_at = t
        self.wait = 0.0
        self.m = -1


class _P:
    __slots__ = ("id", "runq", "runnext", "schedtick", "m", "curg", "status", "busy", "seg_start",
                 "burst_start", "slice_start", "token", "waking", "runs", "syscalltick", "seen_schedtick",
                 "seen_syscalltick", "schedwhen", "syscallwhen")

    def __init__(self, pid: int) -> None:
        self.id = pid
        self.runq: deque[_G] = deque()
        self.runnext: _G | None = None
        self.schedtick = 0
        self.m = -1
        self.curg: _G | None = None
        self.status = "idle"   # idle | switching | running | syscall
        self.busy = 0.0
        self.seg_start = 0.0
        self.burst_start = 0.0
        self.slice_start = 0.0
        self.token = 0
        self.waking = False
        self.runs = 0
        self.syscalltick = 0          # bumped by every entersyscall
        self.seen_schedtick = -1      # sysmon's sysmontick record: what it saw last, and when
        self.seen_syscalltick = -1
        self.schedwhen = 0.0
        self.syscallwhen = 0.0


class _Engine:
    """Shared machinery: event queue, G steps, channels, logs. Subclasses decide queues and costs."""

    switch_cost = 0.0
    spawn_cost = 0.0

    def __init__(self, workload: list[GSpec], nprocs: int, preemption: bool, seed: int, cfg: SchedConfig) -> None:
        self.cfg = cfg
        self.nprocs = nprocs
        self.preemption = preemption
        self.rng = random.Random(seed)
        self.t = 0.0
        self._q: list[tuple] = []
        self._seq = itertools.count()
        self._gids = itertools.count(1)
        self.ps = [_P(i) for i in range(nprocs)]
        self.gs: list[_G] = []
        self.glob: deque[_G] = deque()
        self.chans: dict[str, tuple[deque, deque]] = {}
        self.events: list[tuple] = []
        self.segments: list[tuple] = []
        self.counts = dict.fromkeys(["steals", "stolen", "handoffs", "preemptions", "netpoll", "global_checks",
                                     "overflows", "switches", "syscalls"], 0)
        self.ms_created = 0
        self.idle_ms: list[int] = []
        self.workload = workload

    # -- plumbing -------------------------------------------------------------------------------------
    def at(self, t: float, kind: str, *args: Any) -> None:
        heapq.heappush(self._q, (t, next(self._seq), kind, args))

    def log(self, event: str, g: _G | None = None, p: _P | None = None, m: int = -1, other: int = -1,
            n: int = 0, before: int = 0) -> None:
        self.events.append((self.t, event, g.id if g else -1, p.id if p else -1, m, other, n, before))

    def new_m(self) -> int:
        if self.idle_ms:
            return self.idle_ms.pop()
        self.ms_created += 1
        return self.ms_created - 1

    def run(self) -> None:
        for spec in self.workload:
            self.at(spec.arrive, "arrive", spec)
        steps = 0
        while self._q:
            t, _, kind, args = heapq.heappop(self._q)
            self.t = t
            getattr(self, "_ev_" + kind)(*args)
            steps += 1
            if steps > self.cfg.max_events:
                raise RuntimeError(f"simulation exceeded max_events={self.cfg.max_events}")
        stuck = [g for g in self.gs if g.finish is None]
        if stuck:
            names = ", ".join(f"{g.name} [{g.state}]" for g in stuck[:8])
            raise SimDeadlock(f"fatal error: all goroutines are asleep - deadlock! ({len(stuck)} blocked: {names})")

    # -- G lifecycle ------------------------------------------------------------------------------------
    def _new_g(self, spec: GSpec) -> _G:
        g = _G(next(self._gids), spec, self.t)
        self.gs.append(g)
        return g

    def _ev_arrive(self, spec: GSpec) -> None:
        g = self._new_g(spec)
        self.log("arrive", g)
        self.ready(g, None, "arrive")

    def start(self, p: _P, g: _G, inherit: bool) -> None:
        """P switches to G (after the switch cost) and runs it."""
        p.curg = g
        p.status = "switching"
        g.state = "running"
        if not inherit:
            p.schedtick += 1
        self.counts["switches"] += 1
        p.token += 1
        self.at(self.t + self.switch_cost, "run", p, p.token, inherit)

    def _ev_run(self, p: _P, token: int, inherit: bool) -> None:
        if token != p.token:
            return
        g = p.curg
        assert g is not None
        if not inherit or g.first_run is None:
            p.slice_start = self.t
        self.resume(p, g)

    def resume(self, p: _P, g: _G) -> None:
        p.status = "running"
        p.curg = g
        g.m = p.m
        if g.first_run is None:
            g.first_run = self.t
        g.wait += self.t - g.ready_at
        p.seg_start = self.t
        p.runs += 1
        p.token += 1
        self.advance(p, g)

    def end_segment(self, p: _P, g: _G, reason: str) -> None:
        if self.t > p.seg_start or reason in ("done", "preempt"):
            self.segments.append((g.id, g.name, p.id, p.m, p.seg_start, self.t, "run", reason))
        p.busy += self.t - p.seg_start

    def advance(self, p: _P, g: _G) -> None:
        """Run G's steps at the current time until it needs CPU time or blocks."""
        while True:
            if g.pc >= len(g.steps):
                g.state, g.finish = "done", self.t
                self.end_segment(p, g, "done")
                self.log("exit", g, p, p.m)
                self.release(p)
                return
            kind, arg = g.steps[g.pc]
            if kind == "cpu":
                if g.left is None:
                    g.left = arg
                p.burst_start = self.t
                end = self.t + g.left
                deadline = self.slice_deadline(p)
                if deadline is not None and deadline < end:
                    self.at(deadline, "preempt", p, p.token)
                else:
                    self.at(end, "burst_end", p, p.token)
                return
            g.pc += 1
            if kind == "go":
                child = self._new_g(arg)
                self.log("go", child, p, p.m, other=g.id)
                if self.spawn_cost > 0:  # the creator pays for newproc / pthread_create / create_task
                    g.steps.insert(g.pc, ("cpu", self.spawn_cost))
                self.ready(child, p, "spawn")
            elif kind in ("send", "recv"):
                sendq, recvq = self.chans.setdefault(arg, (deque(), deque()))
                partners, mine = (recvq, sendq) if kind == "send" else (sendq, recvq)
                if partners:
                    other = partners.popleft()
                    self.log(kind, g, p, p.m, other=other.id)
                    self.ready(other, p, "chan")
                else:
                    g.state = "waiting"
                    mine.append(g)
                    self.log(kind + "_block", g, p, p.m)
                    self.end_segment(p, g, "chan")
                    self.release(p)
                    return
            elif kind == "net":
                g.state = "waiting"
                self.log("net_wait", g, p, p.m)
                self.end_segment(p, g, "net")
                self.at(self.t + arg, "net_ready", g)
                self.release(p)
                return
            elif kind == "syscall":
                self.counts["syscalls"] += 1
                self.end_segment(p, g, "syscall")
                self.enter_syscall(p, g, arg)
                return

    def _ev_burst_end(self, p: _P, token: int) -> None:
        if token != p.token:
            return
        g = p.curg
        assert g is not None and g.left is not None
        g.cpu += self.t - p.burst_start
        g.left = None
        g.pc += 1
        self.advance(p, g)

    def _ev_preempt(self, p: _P, token: int) -> None:
        if token != p.token:
            return
        self.preempt(p)

    def preempt(self, p: _P) -> None:
        """Stop P's running G in the middle of its CPU burst and requeue it."""
        g = p.curg
        assert g is not None and g.left is not None
        ran = self.t - p.burst_start
        g.cpu += ran
        g.left = max(g.left - ran, 0.0)
        self.counts["preemptions"] += 1
        self.log("preempt", g, p, p.m)
        self.end_segment(p, g, "preempt")
        self.release(p, requeue=g)

    def _ev_net_ready(self, g: _G) -> None:
        self.counts["netpoll"] += 1
        self.log("netpoll", g)
        self.ready(g, None, "netpoll")

    def release(self, p: _P, requeue: _G | None = None) -> None:
        """P's current G stopped running; requeue it if it was preempted; find the next G."""
        p.curg = None
        p.status = "idle"
        p.token += 1
        if requeue is not None:
            requeue.state = "runnable"
            requeue.ready_at = self.t
            self.requeue_preempted(p, requeue)
        self.schedule(p)

    def schedule(self, p: _P) -> None:
        found = self.find_runnable(p)
        if found is None:
            self.park(p)
            return
        g, inherit = found
        self.start(p, g, inherit)

    def wakep(self) -> None:
        """Wake one idle P (core) to look for work (Go's wakep -> startm), after ``wake_latency``."""
        for p in self.ps:
            if p.status == "idle" and not p.waking:
                p.waking = True
                self.at(self.t + self.cfg.wake_latency, "wake", p)
                return

    def _ev_wake(self, p: _P) -> None:
        p.waking = False
        if p.status != "idle":
            return
        if p.m == -1:
            p.m = self.new_m()
        found = self.find_runnable(p)
        if found is None:
            self.park(p)
            return
        self.start(p, found[0], found[1])
        if self.has_queued_work():
            self.wakep()

    def park(self, p: _P) -> None:
        p.status = "idle"
        p.curg = None

    # -- hooks ------------------------------------------------------------------------------------------
    def ready(self, g: _G, p: _P | None, why: str) -> None:
        raise NotImplementedError

    def requeue_preempted(self, p: _P, g: _G) -> None:
        raise NotImplementedError

    def find_runnable(self, p: _P) -> tuple[_G, bool] | None:
        raise NotImplementedError

    def slice_deadline(self, p: _P) -> float | None:
        return None

    def enter_syscall(self, p: _P, g: _G, d: float) -> None:
        raise NotImplementedError

    def has_queued_work(self) -> bool:
        return bool(self.glob)


class _GMP(_Engine):
    """Go's scheduler."""

    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self.switch_cost = self.cfg.g_switch
        self.spawn_cost = self.cfg.g_spawn
        self.sysmon_on = False      # False: sysmon sleeps until a P is busy again (sched.sysmonwait)
        self.sysmon_idle = 0        # rounds in a row in which retake() took no P
        self.sysmon_delay = self.cfg.sysmon_tick

    # -- sysmon (runtime/proc.go: sysmon, retake) ----------------------------------------------------------
    def start(self, p: _P, g: _G, inherit: bool) -> None:
        super().start(p, g, inherit)
        self.sysmon_wake()

    def sysmon_wake(self) -> None:
        """A P is busy: if sysmon is in its deep sleep (every P was idle), wake it with ``idle = 0``."""
        if not self.sysmon_on:
            self.sysmon_on = True
            self.sysmon_idle = 0
            self.sysmon_delay = self.cfg.sysmon_tick
            self.at(self.t + self.sysmon_delay, "sysmon")

    def _ev_sysmon(self) -> None:
        """One round of Go's ``sysmon`` loop: ``retake`` (hand off Ps stuck in syscalls, preempt long-running
        Gs), then sleep 20 µs, or, after 50 rounds in a row that took no P, twice as long as last time, up
        to 10 ms. With every P idle it sleeps until one is busy again."""
        if all(p.status == "idle" for p in self.ps):
            self.sysmon_on = False
            return
        taken = self.retake()
        cfg = self.cfg
        self.sysmon_idle = 0 if taken else self.sysmon_idle + 1
        if self.sysmon_idle == 0:
            self.sysmon_delay = cfg.sysmon_tick
        elif self.sysmon_idle > cfg.sysmon_idle_before_backoff:
            self.sysmon_delay *= 2
        self.sysmon_delay = min(self.sysmon_delay, cfg.sysmon_max_sleep)
        self.at(self.t + self.sysmon_delay, "sysmon")

    def retake(self) -> int:
        """Go's ``retake(now)``: returns how many Ps it took from syscalls (preemptions do not count, as in
        Go, so a lone CPU hog does not stop sysmon's back-off)."""
        n = 0
        for p in self.ps:
            if p.status in ("running", "switching", "syscall"):
                if p.seen_schedtick != p.schedtick:          # a new time slice: note when sysmon saw it
                    p.seen_schedtick, p.schedwhen = p.schedtick, self.t
                elif (self.preemption and p.status == "running" and p.curg is not None and p.curg.left is not None
                      and p.schedwhen + self.cfg.preempt_after <= self.t):
                    self.preempt(p)                          # preemptone: async preemption (Go >= 1.14)
            if p.status == "syscall":
                if p.seen_syscalltick != p.syscalltick:      # first seen in this syscall: wait one round
                    p.seen_syscalltick, p.syscallwhen = p.syscalltick, self.t
                    continue
                others_free = any(q.status == "idle" for q in self.ps)
                if not (p.runq or p.runnext) and others_free and p.syscallwhen + 10.0 > self.t:
                    continue                                 # nothing queued here, others can take new work
                n += 1
                self._ev_retake(p, p.token)
        return n

    # runqput / runqputslow / globrunqput
    def runqput(self, p: _P, g: _G, next_: bool) -> None:
        if next_:
            old, p.runnext = p.runnext, g
            if old is None:
                return
            g = old
        if len(p.runq) < self.cfg.local_runq_size:
            p.runq.append(g)
            return
        half = len(p.runq) // 2
        batch = [p.runq.popleft() for _ in range(half)] + [g]
        self.glob.extend(batch)
        self.counts["overflows"] += 1
        self.log("runq_overflow", g, p, p.m, n=len(batch))

    def ready(self, g: _G, p: _P | None, why: str) -> None:
        g.state = "runnable"
        g.ready_at = self.t
        if p is not None and why in ("spawn", "chan"):
            self.runqput(p, g, next_=True)   # newproc and goready put the G in runnext
        else:
            self.glob.append(g)              # arrivals, netpoll injection, syscall exit without a P
        self.wakep()

    def requeue_preempted(self, p: _P, g: _G) -> None:
        self.glob.append(g)                  # gopreempt_m -> goschedImpl -> globrunqput
        self.wakep()

    def has_queued_work(self) -> bool:
        return bool(self.glob) or any(q.runq or q.runnext for q in self.ps)

    def globrunqget(self, p: _P, limit: int = 0) -> _G | None:
        if not self.glob:
            return None
        n = min(len(self.glob), len(self.glob) // self.nprocs + 1)
        if limit:
            n = min(n, limit)
        n = min(n, self.cfg.local_runq_size // 2)
        g = self.glob.popleft()
        for _ in range(n - 1):
            self.runqput(p, self.glob.popleft(), next_=False)
        return g

    def find_runnable(self, p: _P) -> tuple[_G, bool] | None:
        if self.glob and p.schedtick % self.cfg.global_check_every == 0:
            g = self.globrunqget(p, 1)
            if p.runnext is not None or p.runq:   # the fairness rule beat local work
                self.counts["global_checks"] += 1
                self.log("global_check", g, p, p.m, n=p.schedtick)
            else:
                self.log("global_get", g, p, p.m, n=1)
            return g, False
        if p.runnext is not None:
            g, p.runnext = p.runnext, None
            return g, True
        if p.runq:
            return p.runq.popleft(), False
        if self.glob:
            before = len(self.glob)
            g = self.globrunqget(p)
            self.log("global_get", g, p, p.m, n=before - len(self.glob))
            return g, False
        victims = [q for q in self.ps if q is not p]
        self.rng.shuffle(victims)
        for v in victims:
            n = len(v.runq)
            if n == 0:
                continue
            k = n - n // 2
            stolen = [v.runq.popleft() for _ in range(k)]
            g = stolen.pop()
            for s in stolen:
                p.runq.append(s)
            self.counts["steals"] += 1
            self.counts["stolen"] += k
            self.log("steal", g, p, p.m, other=v.id, n=k, before=n)
            return g, False
        return None

    def park(self, p: _P) -> None:
        super().park(p)
        if p.m != -1:
            self.idle_ms.append(p.m)   # stopm: the M sleeps without a P
            p.m = -1

    def enter_syscall(self, p: _P, g: _G, d: float) -> None:
        g.state = "syscall"
        p.status = "syscall"
        p.token += 1
        self.log("syscall", g, p, p.m)
        p.syscalltick += 1
        self.at(self.t + d, "syscall_end", g, p, p.m, p.token, self.t)
        self.sysmon_wake()

    def _ev_retake(self, p: _P, token: int) -> None:
        if p.status != "syscall" or p.token != token:
            return
        old = p.m
        p.m = -1
        p.status = "idle"
        p.curg = None
        p.token += 1
        if p.runq or p.runnext or self.glob:
            p.m = self.new_m()                     # handoffp -> startm
            self.counts["handoffs"] += 1
            self.log("handoff", None, p, p.m, other=old)
            self.schedule(p)
        else:
            self.log("retake", None, p, -1, other=old)   # handoffp -> pidleput

    def _ev_syscall_end(self, g: _G, p: _P, m: int, token: int, began: float) -> None:
        self.segments.append((g.id, g.name, -1, m, began, self.t, "syscall", "return"))
        g.ready_at = self.t
        if p.status == "syscall" and p.token == token:     # exitsyscall fast path: P was not retaken
            p.slice_start = self.t
            self.resume(p, g)
            return
        candidates = ([p] if p.status == "idle" and p.m == -1 else []) + [
            q for q in self.ps if q is not p and q.status == "idle" and q.m == -1]
        if candidates:
            q = candidates[0]
            q.m = m
            q.waking = False
            q.slice_start = self.t
            self.log("exitsyscall", g, q, m, other=p.id)
            self.resume(q, g)
            return
        self.log("exitsyscall_noP", g, None, m)
        self.idle_ms.append(m)                               # the M parks; the G goes global
        g.state = "runnable"
        self.glob.append(g)
        self.wakep()


class _OneToOne(_Engine):
    """Every G is an OS thread; ``nprocs`` cores share one kernel run queue."""

    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self.switch_cost = self.cfg.os_switch
        self.spawn_cost = self.cfg.os_spawn
        for p in self.ps:
            p.m = -1

    def _new_g(self, spec: GSpec) -> _G:
        g = super()._new_g(spec)
        self.ms_created += 1       # one thread per G
        return g

    def ready(self, g: _G, p: _P | None, why: str) -> None:
        g.state = "runnable"
        g.ready_at = self.t
        self.glob.append(g)
        self.wakep()

    def requeue_preempted(self, p: _P, g: _G) -> None:
        self.glob.append(g)
        self.wakep()

    def resume(self, p: _P, g: _G) -> None:
        p.m = g.id                 # the "M" running on this core is the G's own thread
        super().resume(p, g)

    def slice_deadline(self, p: _P) -> float | None:
        return p.slice_start + self.cfg.os_timeslice

    def find_runnable(self, p: _P) -> tuple[_G, bool] | None:
        return (self.glob.popleft(), False) if self.glob else None

    def _ev_wake(self, p: _P) -> None:
        p.waking = False
        if p.status != "idle":
            return
        found = self.find_runnable(p)
        if found is not None:
            self.start(p, found[0], False)
            if self.glob:
                self.wakep()

    def _ev_preempt(self, p: _P, token: int) -> None:
        if token != p.token:
            return
        if self.glob:                      # someone is waiting for a core: the kernel switches
            super()._ev_preempt(p, token)
            return
        g = p.curg                         # nobody waiting: the thread gets a fresh slice
        assert g is not None and g.left is not None
        ran = self.t - p.burst_start
        g.cpu += ran
        g.left = max(g.left - ran, 0.0)
        p.slice_start = self.t
        p.token += 1
        self.advance(p, g)

    def enter_syscall(self, p: _P, g: _G, d: float) -> None:
        g.state = "syscall"
        self.log("syscall", g, p, g.id)
        self.at(self.t + d, "syscall_end", g, self.t)
        self.release(p)            # only this thread blocks; the core runs another

    def _ev_syscall_end(self, g: _G, began: float) -> None:
        self.segments.append((g.id, g.name, -1, g.id, began, self.t, "syscall", "return"))
        self.ready(g, None, "syscall")


class _NToOne(_Engine):
    """One thread runs every G cooperatively, in FIFO order (an event loop)."""

    def __init__(self, workload: list[GSpec], nprocs: int, preemption: bool, seed: int, cfg: SchedConfig) -> None:
        super().__init__(workload, 1, False, seed, cfg)
        self.switch_cost = cfg.task_switch
        self.spawn_cost = cfg.task_spawn
        self.ms_created = 1
        self.ps[0].m = 0

    def ready(self, g: _G, p: _P | None, why: str) -> None:
        g.state = "runnable"
        g.ready_at = self.t
        self.glob.append(g)
        self.wakep()

    def requeue_preempted(self, p: _P, g: _G) -> None:  # pragma: no cover - never preempts
        self.glob.append(g)

    def find_runnable(self, p: _P) -> tuple[_G, bool] | None:
        return (self.glob.popleft(), False) if self.glob else None

    def wakep(self) -> None:
        p = self.ps[0]
        if p.status == "idle" and not p.waking:
            p.waking = True
            self.at(self.t, "wake", p)

    def _ev_wake(self, p: _P) -> None:
        p.waking = False
        if p.status == "idle":
            found = self.find_runnable(p)
            if found is not None:
                self.start(p, found[0], False)

    def enter_syscall(self, p: _P, g: _G, d: float) -> None:
        # A blocking call inside an event loop blocks the loop: the only thread sits in the kernel.
        g.state = "syscall"
        p.status = "syscall"
        p.token += 1
        self.log("syscall", g, p, 0)
        self.at(self.t + d, "syscall_end", p, g, self.t)

    def _ev_syscall_end(self, p: _P, g: _G, began: float) -> None:
        self.segments.append((g.id, g.name, p.id, 0, began, self.t, "syscall", "return"))
        p.busy += self.t - began
        g.ready_at = self.t
        self.resume(p, g)


_ENGINES = {"gmp": _GMP, "1:1": _OneToOne, "n:1": _NToOne}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def simulate(workload: Sequence[GSpec] | GSpec, *, model: str = "gmp", gomaxprocs: int = 4,
             preemption: bool = True, seed: int = 0, config: SchedConfig | None = None,
             **overrides: Any) -> SimResult:
    """Run ``workload`` on a scheduler ``model`` (``"gmp"``, ``"1:1"`` or ``"n:1"``) and return a :class:`SimResult`.

    ``gomaxprocs`` is the number of Ps (``"gmp"``) or cores (``"1:1"``); ``"n:1"`` always uses one thread.
    ``preemption`` switches sysmon's 10 ms preemption (``"gmp"`` only: the kernel always preempts threads,
    an event loop never preempts tasks; ``metrics["preemption"]`` says which applied). ``seed`` drives the steal-victim order. ``config`` or keyword
    ``overrides`` (``preempt_after=5``) change :class:`SchedConfig` constants.

    ``metrics``: ``model, gomaxprocs, preemption, goroutines, makespan`` (ms until the last G finished),
    ``utilisation`` (mean busy share of Ps), ``steals, stolen, handoffs, preemptions, netpoll,
    global_checks, overflows, switches, syscalls, threads`` (OS threads created), ``latency_mean,
    latency_p50, latency_p99, latency_max`` (finish − arrive per G), ``wait_mean`` (runnable, not running).

    Raises ``ValueError``/``TypeError`` for bad arguments (``gomaxprocs`` < 1, unknown model, malformed
    workload) and :class:`SimDeadlock` if Gs remain blocked on channels forever.
    """
    specs = _check_workload(workload)
    _validate.choice("model", model, MODELS)
    gomaxprocs = _validate.integer("gomaxprocs", gomaxprocs, minimum=1, maximum=4096)
    if not isinstance(preemption, bool):
        raise TypeError(f"preemption must be a bool (got {type(preemption).__name__})")
    seed = _validate.integer("seed", seed)
    cfg = config if config is not None else SchedConfig()
    if not isinstance(cfg, SchedConfig):
        raise TypeError(f"config must be a SchedConfig (got {type(cfg).__name__})")
    if overrides:
        unknown = set(overrides) - {f.name for f in fields(SchedConfig)}
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}; "
                            f"SchedConfig has {', '.join(f.name for f in fields(SchedConfig))}")
        cfg = replace(cfg, **overrides)
    eng = _ENGINES[model](specs, gomaxprocs, preemption, seed, cfg)
    eng.run()

    events = pd.DataFrame(eng.events, columns=EVENT_COLUMNS)
    segments = pd.DataFrame(eng.segments, columns=SEGMENT_COLUMNS).sort_values(
        ["start", "p", "g"], kind="stable").reset_index(drop=True)
    per_g = pd.DataFrame([{"g": g.id, "name": g.name, "arrive": g.arrive, "first_run": g.first_run,
                           "finish": g.finish, "latency": g.finish - g.arrive, "wait": g.wait, "cpu": g.cpu}
                          for g in eng.gs])
    makespan = float(per_g["finish"].max()) if len(per_g) else 0.0
    nps = len(eng.ps)
    per_p = pd.DataFrame([{"p": p.id, "busy": p.busy, "utilisation": p.busy / makespan if makespan else 0.0,
                           "runs": p.runs} for p in eng.ps])
    lat = list(per_g["latency"])
    metrics = {"model": model, "gomaxprocs": nps if model != "n:1" else 1, "preemption": {"gmp": preemption, "1:1": True, "n:1": False}[model],
               "goroutines": len(eng.gs), "makespan": makespan,
               "utilisation": float(per_p["utilisation"].mean()), **eng.counts,
               "threads": eng.ms_created, "latency_mean": float(sum(lat) / len(lat)),
               "latency_p50": _pct(lat, 50), "latency_p99": _pct(lat, 99), "latency_max": max(lat),
               "wait_mean": float(per_g["wait"].mean())}
    return SimResult(model, nps, preemption, seed, cfg, events, segments, per_g, per_p, metrics)


def compare(workload: Sequence[GSpec] | GSpec, *, models: Sequence[str] = MODELS, gomaxprocs: int = 4,
            preemption: bool = True, seed: int = 0, **overrides: Any) -> pd.DataFrame:
    """Run the same workload on several models; one row of metrics per model (same arguments as :func:`simulate`)."""
    rows = [simulate(workload, model=m, gomaxprocs=gomaxprocs, preemption=preemption, seed=seed,
                     **overrides).metrics for m in models]
    return pd.DataFrame(rows).set_index("model")
