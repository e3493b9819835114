"""Peak-shaving lab (chapter 07): a burst of arrivals into the channel -> Redis bridge, per back-pressure policy.

The source's claim is that a buffered channel in front of Redis "shaves the peak": a burst is absorbed
in memory and drained at the rate downstream can take. This lab measures what that buys and what it
costs: the buffer only absorbs ``capacity`` items; after that **something** gives, and the policy decides
what: producers wait (``block``: latency grows without bound), wait then give up (``block_timeout``),
new items are discarded (``drop_newest``), old ones are (``drop_oldest``: fresher data, but accepted work
is lost), or the caller is told at once (``reject``: the only one that lets the client retry elsewhere).

The simulation is deterministic: virtual time (a :class:`~hcedu.clock.VirtualClock`) in ``dt`` steps, a real
:class:`hcedu.patterns.queue.Bridge`
(real ``Chan``, real Redis writes to a private fakeredis) in manual mode (``start=False``), drained by
:meth:`~hcedu.patterns.queue.Bridge.pump` at ``drain_rate`` items/s. Producers of the two blocking policies
are modelled as a FIFO of waiting callers (what ``put`` does with one thread per caller).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fakeredis
from ..backend import new_fake_server  # db 0 made up front: fakeredis 2.41's first-use race
import numpy as np
import pandas as pd

from .. import _validate
from ..backend import Keyspace
from ..clock import REAL, Clock, VirtualClock
from ..go import spawn
from ..patterns.queue import POLICIES, Bridge, QueueFull
from . import stats
from .plot import finish

if TYPE_CHECKING:
    from ipywidgets import Widget
    from matplotlib.figure import Figure

__all__ = ["PeakRun", "simulate", "live", "compare", "summarize", "chart_burst", "dashboard"]


@dataclass(frozen=True)
class PeakRun:
    """One run: ``timeline`` (one row per step), ``items`` (one row per offered item), ``stats`` (the bridge's
    counters; for :func:`compare`, a dict ``"policy/capacity" -> counters``)."""

    timeline: pd.DataFrame
    items: pd.DataFrame
    stats: dict[str, Any]


def simulate(policy: str = "block", capacity: int = 100, *, drain_rate: float = 500.0, base_load: float = 0.5,
             burst_factor: float = 10.0, burst_start: float = 1.0, burst_len: float = 2.0, duration: float = 8.0,
             dt: float = 0.01, put_timeout: float = 0.5, batch: int = 64, drain_tail: float = 60.0) -> PeakRun:
    """Offer ``base_load x drain_rate`` items/s, then ``burst_factor x drain_rate`` for ``burst_len`` s from
    ``burst_start``, then base load again, for ``duration`` s; drain at ``drain_rate``, and keep draining
    (no new arrivals) until the buffer and the waiting producers are empty or ``drain_tail`` more seconds
    have passed. Deterministic.

    ``timeline`` columns: ``t, policy, capacity, depth`` (items in the buffer), ``waiting`` (blocked producers),
    ``offered, sent, dropped, rejected`` (cumulative), ``latency`` (mean end-to-end seconds of the items sent in
    that step, NaN if none). ``items``: ``created, sent_at, latency, outcome`` (sent / dropped / rejected /
    evicted / timed_out / unsent).
    """
    _validate.choice("policy", policy, POLICIES)
    capacity = _validate.integer("capacity", capacity, minimum=1)
    drain_rate = _validate.number("drain_rate", drain_rate, minimum=0, strict=True)
    base_load = _validate.number("base_load", base_load, minimum=0)
    burst_factor = _validate.number("burst_factor", burst_factor, minimum=0)
    burst_start = _validate.number("burst_start", burst_start, minimum=0)
    burst_len = _validate.number("burst_len", burst_len, minimum=0)
    duration = _validate.number("duration", duration, minimum=0, strict=True)
    dt = _validate.number("dt", dt, minimum=0, strict=True, maximum=duration)
    put_timeout = _validate.number("put_timeout", put_timeout, minimum=0)
    drain_tail = _validate.number("drain_tail", drain_tail, minimum=0)

    give_up = put_timeout if policy == "block_timeout" else None  # the one policy whose producers give up
    client = fakeredis.FakeRedis(server=new_fake_server(), decode_responses=True)
    created: dict[str, float] = {}
    outcome: dict[str, str] = {}
    sent_at: dict[str, float] = {}
    clock = VirtualClock()
    sent_this_step: list[float] = []

    def on_sent(batch_items: list[str]) -> None:
        for it in batch_items:
            sent_at[it] = clock.now()
            outcome[it] = "sent"
            sent_this_step.append(clock.now() - created[it])

    evicted = [0]

    def on_drop(it: str) -> None:
        outcome[it] = "evicted"
        evicted[0] += 1

    bridge = Bridge(client=client, keyspace=Keyspace("peakshave", client), policy=policy, capacity=capacity,
                    put_timeout=give_up, batch=batch,
                    on_sent=on_sent, on_drop=on_drop, start=False)
    waiting: deque[str] = deque()
    blocking = policy in ("block", "block_timeout")
    rows = []
    offered_acc = drain_acc = 0.0
    seq = 0
    counts = {"offered": 0, "dropped": 0, "rejected": 0}
    steps = int(round(duration / dt))
    max_steps = steps + int(round(drain_tail / dt))
    k = -1
    while True:
        k += 1
        if k > steps and (k > max_steps or (not waiting and bridge.depth() == 0)):
            break
        t = round(k * dt, 9)
        clock.advance_to(t)
        sent_this_step.clear()
        # producers that were waiting for room (block policies): oldest first; give up after put_timeout
        if blocking:
            while waiting:
                it = waiting[0]
                if give_up is not None and t - created[it] > give_up:
                    waiting.popleft()
                    outcome[it] = "timed_out"
                    bridge.note_timed_out()
                    counts["dropped"] += 1
                    continue
                if not bridge.try_put(it):
                    break
                waiting.popleft()
                outcome[it] = "accepted"
        # new arrivals this step
        in_burst = burst_start <= t < burst_start + burst_len
        rate = drain_rate * (burst_factor if in_burst else base_load) if k <= steps else 0.0
        offered_acc += rate * dt
        n_new = int(offered_acc)
        offered_acc -= n_new
        for _ in range(n_new):
            it = f"i{seq:07d}"
            seq += 1
            created[it] = t
            counts["offered"] += 1
            if blocking:
                if waiting or not bridge.try_put(it):
                    waiting.append(it)
                    outcome[it] = "waiting"
                else:
                    outcome[it] = "accepted"
                continue
            try:
                ok = bridge.put(it)
            except QueueFull:
                outcome[it] = "rejected"
                counts["rejected"] += 1
                continue
            if ok:
                outcome[it] = "accepted"
            else:
                outcome[it] = "dropped"
                counts["dropped"] += 1
        # the drain: drain_rate items/s into Redis
        drain_acc += drain_rate * dt
        can = int(drain_acc)
        drain_acc -= can
        if can:
            bridge.pump(can)
        rows.append({"t": t, "policy": policy, "capacity": capacity, "depth": bridge.depth(),
                     "waiting": len(waiting), "offered": counts["offered"], "sent": bridge.stats.sent,
                     "dropped": counts["dropped"] + evicted[0], "rejected": counts["rejected"],
                     "latency": float(np.mean(sent_this_step)) if sent_this_step else np.nan})
    for it in waiting:
        outcome[it] = "waiting"
    report = bridge.wait()  # shutdown: drains what is left (only if drain_tail ran out) and accounts for it
    for it in report.unsent:
        outcome[it] = "unsent"
    for it, o in outcome.items():
        if o == "accepted":  # drained at shutdown, after the horizon
            outcome[it] = "sent"
            sent_at.setdefault(it, clock.now())
    items = pd.DataFrame({"item": list(created), "created": list(created.values())})
    items["policy"] = policy
    items["capacity"] = capacity
    items["outcome"] = items["item"].map(outcome)
    items["sent_at"] = items["item"].map(sent_at).astype(float)
    items["latency"] = items["sent_at"] - items["created"]
    return PeakRun(pd.DataFrame(rows), items, report.stats.as_dict())


def live(policy: str = "drop_newest", capacity: int = 100, *, drain_rate: float = 1000.0, base_load: float = 0.5,
         burst_factor: float = 10.0, burst_start: float = 0.2, burst_len: float = 0.3, duration: float = 1.0,
         put_timeout: float = 0.05, batch: int = 16, sample_every: float = 0.01, client: Any = None,
         clock: Clock = REAL) -> PeakRun:
    """The same burst in real time: a real :class:`Bridge` with its drain goroutine (``rate=drain_rate``), one
    producer thread pacing arrivals by ``clock`` (default the real one), and a sampler goroutine recording depth
    every ``sample_every`` s.

    Latency is measured from each item's *scheduled* arrival, so a producer held up by ``block`` shows it.
    With one producer thread the blocking policies slow the producer down (its arrivals fall behind
    schedule) instead of piling up many waiting callers as :func:`simulate` models.
    Returns a :class:`PeakRun` shaped like :func:`simulate`'s (so :func:`chart_burst`/:func:`summarize` work); the
    numbers vary run to run. Takes about ``duration`` seconds (longer for ``block``, which drains the burst).
    Uses a private fakeredis unless ``client`` is given (its keys are deleted afterwards).
    """
    _validate.choice("policy", policy, POLICIES)
    capacity = _validate.integer("capacity", capacity, minimum=1)
    drain_rate = _validate.number("drain_rate", drain_rate, minimum=0, strict=True)
    duration = _validate.number("duration", duration, minimum=0, strict=True, maximum=30)
    sample_every = _validate.number("sample_every", sample_every, minimum=0.001)
    give_up = put_timeout if policy == "block_timeout" else None  # the one policy whose producers give up
    if client is None:
        client = fakeredis.FakeRedis(server=new_fake_server(), decode_responses=True)
    ks = Keyspace("peakshave-live", client)
    created: dict[str, float] = {}
    outcome: dict[str, str] = {}
    sent_at: dict[str, float] = {}
    lock = threading.Lock()
    t0 = clock.monotonic()

    def on_sent(items: list[str]) -> None:
        now = clock.monotonic() - t0
        with lock:
            for it in items:
                sent_at[it] = now
                outcome[it] = "sent"

    def on_drop(it: str) -> None:
        with lock:
            outcome[it] = "evicted"

    bridge = Bridge(client=client, keyspace=ks, policy=policy, capacity=capacity, rate=drain_rate, batch=batch,
                    put_timeout=give_up, on_sent=on_sent,
                    on_drop=on_drop)
    rows: list[dict[str, Any]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            st = bridge.stats
            rows.append({"t": round(clock.monotonic() - t0, 4), "policy": policy, "capacity": capacity,
                         "depth": bridge.depth(), "waiting": 0, "offered": st.offered, "sent": st.sent,
                         "dropped": st.dropped, "rejected": st.rejected, "latency": np.nan})
            stop.wait(sample_every)

    sampler = spawn(sample, name="hcedu-peakshave-sampler", report=False)
    # the schedule of arrivals: rate(t) integrated, one item each time the integral passes an integer
    schedule: list[float] = []
    acc, t, step = 0.0, 0.0, 0.0005
    while t < duration:
        in_burst = burst_start <= t < burst_start + burst_len
        acc += drain_rate * (burst_factor if in_burst else base_load) * step
        while acc >= 1:
            acc -= 1
            schedule.append(round(t, 6))
        t += step
    try:
        for i, at in enumerate(schedule):
            delay = at - (clock.monotonic() - t0)
            if delay > 0.001:
                clock.sleep(delay)
            it = f"i{i:07d}"
            with lock:
                created[it] = at
            try:
                ok = bridge.put(it)
            except QueueFull:
                with lock:
                    outcome[it] = "rejected"
                continue
            with lock:
                if it not in outcome:
                    outcome[it] = "accepted" if ok else ("timed_out" if give_up is not None else "dropped")
    finally:
        report = bridge.close(timeout=60)
        stop.set()
        sampler.join(timeout=5)
        ks.cleanup()
    with lock:
        for it in report.unsent:
            outcome[it] = "unsent"
        items = pd.DataFrame({"item": list(created), "created": list(created.values())})
        items["policy"] = policy
        items["capacity"] = capacity
        items["outcome"] = items["item"].map(outcome)
        items["sent_at"] = items["item"].map(sent_at).astype(float)
    items["latency"] = (items["sent_at"] - items["created"]).clip(lower=0)
    return PeakRun(pd.DataFrame(rows), items, report.stats.as_dict())


def compare(policies: tuple[str, ...] = POLICIES, capacities: tuple[int, ...] = (100,), **kw: Any) -> PeakRun:
    """:func:`simulate` every policy x capacity on the same arrivals; frames concatenated."""
    for p in policies:
        _validate.choice("policy", p, POLICIES)
    runs = [simulate(p, c, **kw) for c in capacities for p in policies]
    stats = {f"{r.timeline['policy'].iloc[0]}/{r.timeline['capacity'].iloc[0]}": r.stats for r in runs}
    return PeakRun(pd.concat([r.timeline for r in runs], ignore_index=True),
                   pd.concat([r.items for r in runs], ignore_index=True), stats)


def summarize(items: pd.DataFrame) -> pd.DataFrame:
    """Per policy and capacity: offered, sent, lost (dropped + evicted + timed out), rejected (the caller was
    told), still waiting at the end, and the latency p50/p99 (nearest rank, :func:`hcedu.lab.stats.percentiles`)
    and max of the items sent (seconds)."""
    rows = []
    for (policy, cap), g in items.groupby(["policy", "capacity"], sort=False):
        lat = g.loc[g["outcome"] == "sent", "latency"].dropna()
        oc = g["outcome"].value_counts()
        pct = stats.percentiles(lat, (50, 99))
        rows.append({"policy": policy, "capacity": cap, "offered": len(g), "sent": int(oc.get("sent", 0)),
                     "lost": int(oc.get("dropped", 0) + oc.get("evicted", 0) + oc.get("timed_out", 0)),
                     "rejected": int(oc.get("rejected", 0)), "waiting_at_end": int(oc.get("waiting", 0)),
                     "p50_s": round(pct["p50"], 3), "p99_s": round(pct["p99"], 3),
                     "max_s": round(float(lat.max()), 3) if len(lat) else np.nan})
    return pd.DataFrame(rows).set_index(["policy", "capacity"])


def chart_burst(timeline: pd.DataFrame, *, burst: tuple[float, float] | None = (1.0, 3.0)) -> "Figure":
    """Three panels over time, one line per policy (and capacity): queue depth (buffer + blocked producers),
    items lost or refused (cumulative), and end-to-end latency of the items being sent."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9.5, 7), sharex=True)
    many_caps = timeline["capacity"].nunique() > 1
    styles = ["-", "--", "-.", ":", (0, (5, 1))]
    for i, ((policy, cap), g) in enumerate(timeline.groupby(["policy", "capacity"], sort=False)):
        label = f"{policy} (cap {cap})" if many_caps else policy
        ls = styles[i % len(styles)]
        axes[0].plot(g["t"], g["depth"] + g["waiting"], ls=ls, label=label)
        axes[1].plot(g["t"], g["dropped"] + g["rejected"], ls=ls, label=label)
        axes[2].plot(g["t"], g["latency"].ffill(), ls=ls, label=label)
    axes[0].set_yscale("symlog", linthresh=100)
    # latency spans 0.2 s (a full 100-slot buffer) to 18 s (blocked producers): linear below 1 s, log above
    axes[2].set_yscale("symlog", linthresh=1, linscale=1.5)
    axes[2].set_yticks([0, 0.2, 0.5, 1, 10], ["0", "0.2", "0.5", "1", "10"])
    for ax in axes:
        if burst is not None:
            ax.axvspan(*burst, color="tab:red", alpha=0.08)
    finish(axes[0], title="A burst of 10x the drain rate (shaded) through a bounded buffer",
           ylabel="queued\n(buffer + blocked)", legend="outside", tight=False)
    finish(axes[1], ylabel="lost or refused\n(cumulative)", legend=None, integer_y=True, tight=False)
    finish(axes[2], ylabel="end-to-end\nlatency (s)", xlabel="time (s)", legend=None)
    return fig


def dashboard(**kw: Any) -> "Widget":
    """ipywidgets controls (policy, capacity, burst factor, burst length) wired to :func:`simulate` +
    :func:`chart_burst`; returns the widget (display it, or leave it last in a cell)."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    def show(policy: str, capacity: int, burst_factor: float, burst_len: float) -> None:
        run = simulate(policy, capacity, burst_factor=burst_factor, burst_len=burst_len, **kw)
        fig = chart_burst(run.timeline, burst=(1.0, 1.0 + burst_len))
        plt.show()
        print(summarize(run.items).to_string())
        del fig

    return w.interactive(show,
                         policy=w.Dropdown(options=list(POLICIES), value="block"),
                         capacity=w.SelectionSlider(options=[10, 50, 100, 500, 1000, 5000], value=100),
                         burst_factor=w.FloatSlider(value=10, min=1, max=20, step=1),
                         burst_len=w.FloatSlider(value=2, min=0.5, max=4, step=0.5))
