"""Order-timeout simulation (the source's 3.3: close unpaid orders after 30 minutes) on a ``VirtualClock``.

Three designs run on the *same* seeded arrivals and payments:

* **scan** -- a periodic job every ``interval`` seconds runs ``SELECT ... WHERE status='UNPAID' AND
  created_at <= now - 30 min`` and closes what it finds (the "纯定时任务" of the source). Latency up to one
  interval. With an index on ``(status, created_at)`` the query reads only the due rows it closes
  (``rows_read``); without one it examines every unpaid row (``rows_unindexed``). So the honest case
  against the scan is lateness and bursts (``peak_closes``: everything due since the last run is closed at
  once), not rows read.
* **delay queue** -- :class:`hcedu.patterns.delayqueue.DelayQueue`: ``put`` at creation, ``cancel`` on
  payment, a worker that ``claim``s due orders every ``poll`` seconds, closes them and ``ack``s.
  Optional ``recover`` of expired leases (the fix for a crashed worker).
* **hybrid** -- the delay queue plus a slow scan as a safety net (the source's recommendation).

A worker crash can be injected: at ``crash_at`` the worker stalls for ``crash_for`` seconds, then claims the
backlog and is killed mid-batch (no close, no ack); a fresh worker takes over one ``poll`` later. Closing is ``UPDATE ... SET status='CLOSED' WHERE
status='UNPAID'`` (idempotent) unless ``idempotent_close=False``, where a second close runs its side effect
(release stock, notify) again and is counted in ``closed_twice``.

Everything is deterministic for a given seed: each design gets a fresh fakeredis server and its own clock.
:func:`race` is the other half of the story: real threads (goroutines of :func:`hcedu.lab.runner.run_workers`)
claiming with the naive two-step claim.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fakeredis
from ..backend import new_fake_server  # db 0 made up front: fakeredis 2.41's first-use race
import numpy as np
import pandas as pd

from .. import _validate
from ..backend import Keyspace
from ..clock import VirtualClock
from ..patterns.delayqueue import DelayQueue
from . import stats
from .runner import run_workers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Design", "DESIGNS", "make_orders", "simulate", "run", "summarize", "chart_latency", "chart_cost",
           "race"]

TIMEOUT = 1800.0


@dataclass(frozen=True)
class Design:
    """One way of closing orders. ``scan`` = scan interval (s) or None; ``queue`` = use the delay queue;
    ``recover`` = run lease recovery; ``crash`` = inject the worker crash."""

    name: str
    queue: bool = False
    scan: float | None = None
    recover: bool = False
    crash: bool = False


#: The designs chapter 11 compares.
DESIGNS: tuple[Design, ...] = (
    Design("scan every 1 min", scan=60),
    Design("scan every 5 min", scan=300),
    Design("scan every 15 min", scan=900),
    Design("delay queue", queue=True),
    Design("delay queue, worker crash", queue=True, crash=True),
    Design("delay queue + lease recovery, crash", queue=True, recover=True, crash=True),
    Design("hybrid (queue + 5-min scan), crash", queue=True, scan=300, crash=True),
)


def make_orders(n: int = 1000, window: float = 1800.0, pay_prob: float = 0.7, seed: int = 7,
                timeout: float = TIMEOUT) -> pd.DataFrame:
    """Seeded orders: ``order_id``, ``created`` (uniform over ``window`` s), ``due`` (= created + timeout) and
    ``paid_at`` (NaN if never paid; paid orders pay after U(10 s, 0.9 timeout))."""
    n = _validate.integer("n", n, minimum=1)
    window = _validate.number("window", window, minimum=0)
    pay_prob = _validate.number("pay_prob", pay_prob, minimum=0, maximum=1)
    timeout = _validate.number("timeout", timeout, minimum=0, strict=True)
    rng = np.random.default_rng(_validate.integer("seed", seed))
    created = np.sort(np.round(rng.uniform(0, window, n), 3))
    pays = rng.random(n) < pay_prob
    paid_at = np.where(pays, created + np.round(rng.uniform(10, 0.9 * timeout, n), 3), np.nan)
    return pd.DataFrame({"order_id": [f"o{i:05d}" for i in range(n)], "created": created,
                         "due": created + timeout, "paid_at": paid_at})


class _DB:
    """The orders table: status per order, what closed it and when, what scans read, and close bursts."""

    def __init__(self, idempotent: bool) -> None:
        self.status: dict[str, str] = {}
        self.created: dict[str, float] = {}
        self.closed_at: dict[str, float] = {}
        self.closed_by: dict[str, str] = {}
        self.effects: Counter = Counter()
        self.queries = 0         # scan queries run
        self.rows_read = 0       # rows a scan reads with an index on (status, created_at): the due ones
        self.rows_unindexed = 0  # rows a scan examines without that index: every unpaid one
        self.closes_at: Counter = Counter()  # closes per instant: the load one scan or one poll puts on the DB
        self.attempts: Counter = Counter()   # close calls per order: what a non-idempotent close would run
        self.idempotent = idempotent

    def insert(self, oid: str, t: float) -> None:
        self.status[oid] = "UNPAID"
        self.created[oid] = t

    def pay(self, oid: str) -> bool:
        if self.status.get(oid) == "UNPAID":
            self.status[oid] = "PAID"
            return True
        return False

    def close(self, oid: str, t: float, by: str) -> None:
        st = self.status.get(oid)
        if st in ("UNPAID", "CLOSED"):
            self.attempts[oid] += 1
        if st == "UNPAID":
            self.status[oid] = "CLOSED"
            self.closed_at[oid] = t
            self.closed_by[oid] = by
            self.effects[oid] += 1
            self.closes_at[t] += 1
        elif st == "CLOSED" and not self.idempotent:
            self.effects[oid] += 1  # e.g. stock released twice

    def scan(self, now: float, timeout: float) -> list[str]:
        unpaid = [o for o, s in self.status.items() if s == "UNPAID"]
        due = [o for o in unpaid if self.created[o] + timeout <= now]
        self.queries += 1
        self.rows_unindexed += len(unpaid)
        self.rows_read += len(due)
        return due


def simulate(orders: pd.DataFrame, design: Design, *, poll: float = 5.0, lease: float = 60.0,
             crash_at: float = 2400.0, crash_for: float = 900.0, timeout: float = TIMEOUT,
             idempotent_close: bool = True, batch: int = 100) -> pd.DataFrame:
    """Run one design over ``orders`` (from :func:`make_orders`) on a fresh VirtualClock and fakeredis.

    Returns one row per order: ``order_id, design, created, due, paid, closed_at, latency`` (closed_at - due,
    NaN if never closed), ``closed_by`` (``queue``/``scan``), ``effects`` (times the close side effect ran),
    ``close_attempts`` (times a close ran against the order: its side effect's count without the conditional
    ``UPDATE``),
    ``never_closed`` (unpaid and still open at the end), and the run's totals, the same on every row:
    ``db_queries`` (scan queries), ``rows_read`` (rows those queries read with an index on
    ``(status, created_at)``), ``rows_unindexed`` (rows they would examine without it), ``peak_closes`` (most
    orders closed at one instant), ``redis_calls``, ``lost_in_crash``.
    """
    if not isinstance(design, Design):
        raise TypeError(f"design must be an ordersim.Design (got {type(design).__name__})")
    poll = _validate.number("poll", poll, minimum=0, strict=True)
    lease = _validate.number("lease", lease, minimum=0, strict=True)
    batch = _validate.integer("batch", batch, minimum=1)
    clock = VirtualClock()
    db = _DB(idempotent_close)
    client = fakeredis.FakeRedis(server=new_fake_server(), decode_responses=True)
    dq = DelayQueue("orders", client=client, keyspace=Keyspace("ordersim", client), lease=lease, clock=clock)
    calls = Counter()
    state: dict[str, Any] = {"down_until": -1.0, "crashed": False, "lost": 0}
    end = float(orders["due"].max()) + max(design.scan or 0, poll, lease) * 2 + 1
    if design.crash:
        end += crash_for

    def arrive(oid: str, due: float) -> None:
        db.insert(oid, clock.now())
        if design.queue:
            dq.put(oid, due)
            calls["put"] += 1

    def pay(oid: str) -> None:
        if db.pay(oid) and design.queue:
            dq.cancel(oid)
            calls["cancel"] += 1

    # Arrivals and payments in time order, fed one timer at a time: the clock then holds a handful of
    # pending timers instead of ~2,000 (its next_due() is linear in them).
    events = []
    for i, row in enumerate(orders.itertuples(index=False)):
        events.append((float(row.created), 2 * i, arrive, (row.order_id, row.due)))
        if not np.isnan(row.paid_at):
            events.append((float(row.paid_at), 2 * i + 1, pay, (row.order_id,)))
    events.sort(key=lambda e: e[:2])

    def feed(k: int) -> None:
        t = events[k][0]
        while k < len(events) and events[k][0] <= t:  # everything due at this instant, in order
            events[k][2](*events[k][3])
            k += 1
        if k < len(events):
            clock.after(max(0.0, events[k][0] - clock.now()), feed, k)

    if events:
        clock.after(events[0][0], feed, 0)

    if design.queue:
        def tick():
            now = clock.now()
            if now < state["down_until"]:
                clock.after(poll, tick)
                return
            if design.crash and not state["crashed"] and now >= crash_at:
                state["crashed"] = True  # the worker stalls (DB hang, GC) for crash_for seconds ...
                state["down_until"] = now + crash_for
                clock.after(poll, tick)
                return
            if state["crashed"] is True:
                state["crashed"] = "done"  # ... then claims the backlog and is killed mid-batch (OOM, deploy)
                lost = dq.claim(now, batch)
                calls["claim"] += 1
                state["lost"] = len(lost)
                clock.after(poll, tick)  # a fresh worker takes over
                return
            if design.recover:
                dq.recover(now)
                calls["recover"] += 1
            head = dq.next_due()  # a cheap peek (ZRANGE 0 0): no claim script while nothing is due
            calls["peek"] += 1
            while head is not None and head <= now:
                items = dq.claim(now, batch)
                calls["claim"] += 1
                for oid in items:
                    db.close(oid, now, "queue")
                if items:
                    dq.ack_many(items)
                    calls["ack"] += 1
                if len(items) < batch:
                    break
                head = dq.next_due()
                calls["peek"] += 1
            if now + poll <= end:
                clock.after(poll, tick)

        clock.after(poll, tick)

    if design.scan is not None:
        interval = design.scan

        def scan():
            now = clock.now()
            for oid in db.scan(now, timeout):
                db.close(oid, now, "scan")
            if now + interval <= end:
                clock.after(interval, scan)

        clock.after(interval, scan)

    clock.run_until_idle(limit=end)
    frame = orders.copy()
    frame.insert(1, "design", design.name)
    frame["paid"] = frame["order_id"].map(lambda o: db.status.get(o) == "PAID")
    frame["closed_at"] = frame["order_id"].map(lambda o: db.closed_at.get(o, np.nan)).astype(float)
    frame["latency"] = frame["closed_at"] - frame["due"]
    frame["closed_by"] = frame["order_id"].map(lambda o: db.closed_by.get(o, ""))
    frame["effects"] = frame["order_id"].map(lambda o: db.effects.get(o, 0)).astype(int)
    frame["close_attempts"] = frame["order_id"].map(lambda o: db.attempts.get(o, 0)).astype(int)
    frame["never_closed"] = frame["order_id"].map(lambda o: db.status.get(o) == "UNPAID")
    totals = dict(db_queries=db.queries, rows_read=db.rows_read, rows_unindexed=db.rows_unindexed,
                  peak_closes=max(db.closes_at.values(), default=0), redis_calls=sum(calls.values()),
                  lost_in_crash=state["lost"])
    return frame.assign(**totals)


def run(designs: tuple[Design, ...] = DESIGNS, orders: pd.DataFrame | None = None, **kw: Any) -> pd.DataFrame:
    """Simulate each design on the same orders; one tidy frame (per order per design), with the per-design
    totals of :func:`simulate` (``db_queries``, ``rows_read``, ...) as columns."""
    orders = make_orders() if orders is None else orders
    return pd.concat([simulate(orders, d, **kw) for d in designs], ignore_index=True)


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Per design: orders closed, never closed, closed twice, close latency p50/p99 (nearest rank,
    :func:`hcedu.lab.stats.percentiles`) and max in seconds, the largest burst of closes at one instant,
    scan queries, rows they read with and without the ``(status, created_at)`` index, Redis calls. Designs
    keep their order of appearance."""
    rows = []
    for name, g in frame.groupby("design", sort=False):
        lat = g["latency"].dropna()
        pct = stats.percentiles(lat, (50, 99))
        rows.append({
            "design": name,
            "closed": int(g["closed_at"].notna().sum()),
            "never_closed": int(g["never_closed"].sum()),
            "closed_twice": int((g["effects"] > 1).sum()),
            "p50_s": pct["p50"],
            "p99_s": pct["p99"],
            "max_s": float(lat.max()) if len(lat) else np.nan,
            **{k: int(g[k].iloc[0]) for k in ("peak_closes", "db_queries", "rows_read", "rows_unindexed",
                                              "redis_calls")},
        })
    return pd.DataFrame(rows).set_index("design")


def chart_latency(frame: pd.DataFrame) -> "Figure":
    """Close latency (seconds past due) per design, p50 and max bars on a log axis, plus never-closed counts."""
    import matplotlib.pyplot as plt

    from .plot import finish

    s = summarize(frame)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 1.3]})
    y = np.arange(len(s))
    ax.barh(y + 0.2, s["max_s"].clip(lower=0.1), height=0.4, label="max", color="tab:red", alpha=0.6)
    ax.barh(y - 0.2, s["p50_s"].clip(lower=0.1), height=0.4, label="p50", color="tab:blue")
    ax.set_xscale("log")
    ax.set_yticks(y, s.index)
    ax.invert_yaxis()
    finish(ax, xlabel="close latency: seconds after the 30-minute deadline", legend="below", tight=False)
    ax2.barh(y, s["never_closed"], color="black")
    ax2.set_yticks(y, [""] * len(s))
    ax2.invert_yaxis()
    ax2.set_xlim(0, max(1, s["never_closed"].max()) * 1.1)
    finish(ax2, xlabel="unpaid orders never closed", legend=None, tight=False)
    ax2.xaxis.set_major_locator(plt.MaxNLocator(nbins=4, integer=True))
    fig.suptitle("How late is an unpaid order closed?")
    fig.tight_layout()
    return fig


def chart_cost(frame: pd.DataFrame) -> "Figure":
    """Load per design: the largest burst of closes at one instant, and the rows scans read with the
    ``(status, created_at)`` index and without it."""
    import matplotlib.pyplot as plt

    from .plot import color, finish

    s = summarize(frame)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.9), sharey=True, gridspec_kw={"width_ratios": [1, 1.3]})
    y = np.arange(len(s))
    ax.barh(y, s["peak_closes"], height=0.6, color=color("burst", 3))
    for yi, v in zip(y, s["peak_closes"]):
        ax.text(v, yi, f" {v}", va="center", fontsize=8)
    ax.set_yticks(y, s.index)
    ax.invert_yaxis()
    finish(ax, title="Largest burst: orders closed at one instant", xlabel="orders", legend=None, tight=False)
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.set_xlim(0, s["peak_closes"].max() * 1.2 + 1)
    bars = [("rows_read", "with index (status, created_at)", color("indexed", 2)),
            ("rows_unindexed", "without it", color("unindexed", 1))]
    for i, (col, label, c) in enumerate(bars):
        ax2.barh(y + (i - 0.5) * 0.4, s[col].clip(lower=0.8), height=0.4, label=label, color=c)
        for yi, v in zip(y + (i - 0.5) * 0.4, s[col]):
            ax2.text(max(v, 0.8), yi, f" {v:,}", va="center", fontsize=7)
    ax2.set_xscale("log")
    ax2.set_xlim(0.8, s["rows_unindexed"].max() * 8)
    finish(ax2, title="Database rows the scans read (log scale)", xlabel="rows over the whole run",
           legend="below", tight=False)
    fig.tight_layout()
    return fig


def race(workers: int = 4, n: int = 200, claim: str = "naive", *, client: Any = None, batch: int = 10,
         lockstep: bool = True) -> pd.DataFrame:
    """Real threads closing ``n`` due orders with the ``"naive"`` or ``"atomic"`` claim; returns one row per order
    with ``closes`` (how many workers closed it). ``lockstep=True`` lines the workers up with a barrier
    between read and remove (naive) or before each claim (atomic), which forces the worst interleaving every
    round instead of now and then; the atomic claim still closes each order exactly once. A worker's error is
    re-raised; ``TimeoutError`` if one is still running after 30 s.
    """
    workers = _validate.integer("workers", workers, minimum=1, maximum=64)
    n = _validate.integer("n", n, minimum=1)
    _validate.choice("claim", claim, ("naive", "atomic"))
    if client is None:
        client = fakeredis.FakeRedis(server=new_fake_server(), decode_responses=True)
    dq = DelayQueue("race", client=client, keyspace=Keyspace("ordersim-race", client), clock=VirtualClock())
    dq.clear()
    dq.put_many({f"o{i:04d}": float(i) for i in range(n)})
    closes: Counter = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(workers, timeout=10)

    def line_up(_items: Any = None) -> None:
        if lockstep:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass

    def naive() -> list[str]:
        return dq.claim_naive(now=n, limit=batch, between=line_up)

    def atomic() -> list[str]:
        line_up()
        items = dq.claim(now=n, limit=batch)
        dq.ack_many(items)
        return items

    take = naive if claim == "naive" else atomic  # chosen once

    def worker(_i: int) -> None:
        while True:
            items = take()
            if not items:
                barrier.abort()  # release anyone still waiting
                return
            with lock:
                closes.update(items)

    try:
        run_workers(worker, workers, name="hcedu-race", timeout=30).raise_first()
    finally:
        barrier.abort()
        dq.clear()
    ids = [f"o{i:04d}" for i in range(n)]
    return pd.DataFrame({"order_id": ids, "claim": claim, "closes": [closes.get(i, 0) for i in ids]})
