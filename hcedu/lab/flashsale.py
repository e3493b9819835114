"""Flash-sale experiments (the source's 3.1 秒杀): cache breakdown, penetration, avalanche and oversell, each run on
real code (:mod:`hcedu.patterns.cacheguard`, :mod:`hcedu.patterns.bloom`, :mod:`hcedu.patterns.stock`) and
returned as a tidy DataFrame, with a chart function per experiment.

* :func:`hotkey_expiry` -- a hot key expires while ``clients`` real threads read it: DB hits per guard
  (NoGuard ≈ clients; MutexRebuild 1; singleflight 1 per process; logical expiry 1 and nobody waits).
  Measured: assert its shape, not exact counts.
* :func:`lock_overrun` -- a scripted, deterministic interleaving: a rebuild outlives its 3 s lease and then
  fails; the source's plain ``DEL`` removes the *next* holder's lock and a third rebuild starts, the token
  release leaves it alone.
* :func:`recursion_depth` -- the source's retry-by-recursion against a lock that stays taken.
* :func:`penetration` -- DB hits for ids that do not exist: no guard / null cache / Bloom filter (deterministic).
* :func:`avalanche` -- keys warmed together expire together: expiries per second with a fixed vs a jittered
  TTL, simulated on a :class:`~hcedu.clock.VirtualClock` (deterministic for a seed).
* :func:`oversell` -- naive GET-then-DECR stock vs the Lua purchase under real threads.
* :func:`db_last_guard` -- the database's last guard (SQLite): conditional ``UPDATE ... WHERE qty > 0`` and a
  unique index on ``(user_id, sku)``; :func:`sold_out_flag` -- a process-local sold-out flag saves the round
  trips after the sale ends; :func:`split_stock` -- a hot SKU's stock split over several keys;
  :func:`reconcile` -- Redis's buyers vs the database's orders (deterministic).

Each experiment takes a ``keyspace`` (default: a fresh embedded fakeredis) so it runs on any Redis; its workers run
on goroutines named ``hcedu-flashsale-...`` (:func:`hcedu.lab.runner.run_workers`) and are joined (bounded) before
the function returns. Real waits and timings go through a clock (``clock=``, default :data:`hcedu.clock.REAL`).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

import fakeredis
from ..backend import new_fake_server  # db 0 made up front: fakeredis 2.41's first-use race
import numpy as np
import pandas as pd

from .. import _validate
from ..backend import Keyspace
from ..clock import REAL, Clock, VirtualClock, poll_until
from ..go import spawn
from ..patterns.bloom import BloomFilter
from ..patterns.cacheguard import (GUARDS, BloomGuard, CacheGuard, LogicalExpiry, MutexRebuild, NoGuard, NullCache,
                                   SourceRebuild, ttl_with_jitter)
from ..patterns.lock import fence_key_for
from ..patterns._redisargs import resolve_keyspace
from ..patterns.stock import NaiveStock, Stock
from .plot import finish
from .runner import run_workers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["hotkey_expiry", "chart_hotkey", "Overrun", "lock_overrun", "recursion_depth", "penetration", "chart_penetration",
           "avalanche", "avalanche_summary", "chart_avalanche", "oversell", "chart_oversell", "BREAKDOWN_GUARDS",
           "db_last_guard", "sold_out_flag", "split_stock", "reconcile"]

#: the breakdown guards compared by :func:`hotkey_expiry`
BREAKDOWN_GUARDS = ("none", "mutex", "singleflight", "logical")
_JOIN = 30.0  # bound on every thread join (seconds)


def _keyspace(keyspace: Keyspace | None, name: str) -> Keyspace:
    fresh = fakeredis.FakeRedis(server=new_fake_server(), decode_responses=True) if keyspace is None else None
    return resolve_keyspace(fresh, keyspace, name)[1]


def _race(worker: Any, n: int, name: str) -> list[BaseException]:
    """``worker(0..n-1)`` on goroutines lined up at a barrier; the workers' exceptions, in worker order."""
    return run_workers(worker, n, name=f"hcedu-flashsale-{name}", timeout=_JOIN, start_together=True).errors


class _DB:
    """A counting "database" with a fixed query cost (``delay`` seconds slept on ``clock``)."""

    def __init__(self, delay: float, value: Any, clock: Clock) -> None:
        self.delay = delay
        self.value = value
        self.clock = clock
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, key: Any) -> Any:
        with self._lock:
            self.calls += 1
        if self.delay:
            self.clock.sleep(self.delay)
        return self.value


# -- breakdown --------------------------------------------------------------------------------------
def hotkey_expiry(guards: Iterable[str] = BREAKDOWN_GUARDS, clients: int = 50, *, processes: int = 1,
                  load_time: float = 0.05, keyspace: Keyspace | None = None, seed: int = 0,
                  clock: Clock = REAL) -> pd.DataFrame:
    """A hot key expires and ``clients`` real threads (lined up on a barrier) read it at once.

    Each guard kind (names from :data:`hcedu.patterns.cacheguard.GUARDS`) gets ``processes`` guard objects
    (= application processes: their own singleflight groups, one shared Redis); client i uses object
    ``i % processes``. The database takes ``load_time`` seconds on ``clock`` per query (the guards wait on it
    too; response times are measured on it). One row per guard: ``db_hits``,
    ``stale`` (responses that returned the pre-expiry value), ``errors``, and response time ``p50_ms``/``max_ms``.
    """
    guards = [_validate.choice("guards", g, tuple(GUARDS)) for g in guards]
    clients = _validate.integer("clients", clients, minimum=1, maximum=500)
    processes = _validate.integer("processes", processes, minimum=1, maximum=clients)
    load_time = _validate.number("load_time", load_time, minimum=0, maximum=5)
    ks = _keyspace(keyspace, "flashsale")
    rows = []
    for gi, kind in enumerate(guards):
        db = _DB(load_time, {"id": "sku-1", "version": "new"}, clock)
        objs = [GUARDS[kind](db, ks.client, keyspace=ks, name=f"hot{gi}", rng=random.Random(seed + j), clock=clock)
                for j in range(processes)]
        key = "sku-1"
        objs[0].put(key, {"id": "sku-1", "version": "old"})
        objs[0].expire(key)
        out: list[tuple[float, Any]] = []
        lock = threading.Lock()

        def worker(i: int, objs: list[CacheGuard] = objs, out: list = out, lock: threading.Lock = lock) -> None:
            t0 = clock.monotonic()
            v = objs[i % processes].get(key)
            dt = clock.monotonic() - t0
            with lock:
                out.append((dt, v))

        errors = _race(worker, clients, kind)
        for o in objs:
            if isinstance(o, LogicalExpiry):
                o.wait_idle(_JOIN)
        lat = np.array([dt for dt, _ in out]) * 1000 if out else np.array([np.nan])
        rows.append({"guard": kind, "clients": clients, "processes": processes, "db_hits": db.calls,
                     "stale": sum(1 for _, v in out if v and v.get("version") == "old"), "errors": len(errors),
                     "p50_ms": float(np.median(lat)), "max_ms": float(lat.max())})
        for o in objs:
            ks.client.delete(o.cache_key(key), o.lock_key(key), fence_key_for(o.lock_key(key)))
    return pd.DataFrame(rows)


def chart_hotkey(frame: pd.DataFrame) -> "Figure":
    """DB hits per guard (log scale) and the slowest response, one bar group per ``processes`` value."""
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    procs = sorted(frame["processes"].unique())
    guards = list(dict.fromkeys(frame["guard"]))
    y = np.arange(len(guards))
    h = 0.8 / len(procs)
    for j, p in enumerate(procs):
        sub = frame[frame["processes"] == p].set_index("guard").reindex(guards)
        off = (j - (len(procs) - 1) / 2) * h
        label = f"{p} process" + ("es" if p > 1 else "")
        bars = ax.barh(y + off, sub["db_hits"], height=h, label=label)
        ax.bar_label(bars, fmt="%d", padding=2, fontsize=8)
        ax2.barh(y + off, sub["max_ms"], height=h, label=label)
    clients = int(frame["clients"].iloc[0])
    ax.set_xscale("log")
    ax.set_xlim(0.8, clients * 3)
    ax.set_yticks(y, guards)
    ax.invert_yaxis()
    ax.set_xlabel(f"DB queries when the hot key expires ({clients} clients)")
    ax2.set_yticks(y, [""] * len(guards))
    ax2.invert_yaxis()
    ax2.set_xlabel("slowest response (ms)")
    fig.suptitle("Cache breakdown: who goes to the database?")
    return finish(ax2, legend="outside")


@dataclass(frozen=True)
class Overrun:
    """:func:`lock_overrun`'s result: ``frame`` (one row per step) and ``results`` (what each client's ``get``
    returned, or ``"error: ..."``)."""

    frame: pd.DataFrame
    results: dict[str, Any]


class _PlainLock:
    """The source's lock: every client writes "1" and unlocks with a plain DEL."""
    guard = SourceRebuild
    holder = staticmethod(lambda value, owners: f'"{value}" (whose?)')
    c_arrived = staticmethod(lambda g, state, results: state["calls"] == 3 or "C" in results)  # a 3rd rebuild


class _TokenLock:
    """``RedisLock``: a random token per holder, released by compare-and-delete."""
    guard = MutexRebuild
    holder = staticmethod(lambda value, owners: f"{owners.get(value, '?')}'s token")
    c_arrived = staticmethod(lambda g, state, results: g.waits >= 1)  # C waits for B


def lock_overrun(kind: str = "source", *, keyspace: Keyspace | None = None, clock: Clock = REAL) -> Overrun:
    """A scripted interleaving (deterministic) of three clients rebuilding one key under ``kind``'s lock
    (``"source"``: :class:`SourceRebuild`, plain DEL; ``"mutex"``: :class:`MutexRebuild`, token + compare-and-delete).

    1. A misses, locks (3 s lease) and queries the DB -- slowly;
    2. the lease runs out (fast-forwarded with ``PEXPIRE``) while A is still querying;
    3. B misses, takes the free lock and queries too (2 rebuilds now, already a lock-TTL bug);
    4. A's query times out; A unlocks -- the plain DEL deletes **B's** lock, the token release deletes nothing;
    5. C misses: with the source it takes the lock and starts a 3rd concurrent rebuild; with the token lock it
       waits, and gets B's value when B finishes.

    Returns an :class:`Overrun`: ``frame`` has one row per step: ``event``, ``lock`` (who the value in Redis
    belongs to), ``rebuilding`` (DB queries in flight), ``db_queries`` (so far); ``results`` what each client got.
    The steps wait for each other by polling on ``clock`` (bounded).
    """
    lock = {"source": _PlainLock, "mutex": _TokenLock}[_validate.choice("kind", kind, ("source", "mutex"))]
    ks = _keyspace(keyspace, "flashsale-overrun")
    c = ks.client
    gates = {1: threading.Event(), 2: threading.Event(), 3: threading.Event()}
    state = {"calls": 0, "inflight": 0}
    mu = threading.Lock()

    def db(key: Any) -> Any:
        with mu:
            state["calls"] += 1
            n = state["calls"]
            state["inflight"] += 1
        try:
            if not gates[min(n, 3)].wait(_JOIN):
                raise TimeoutError("gate never opened")
            if n == 1:
                raise TimeoutError("DB query timed out")
            return {"id": key, "by": "BC"[n - 2]}
        finally:
            with mu:
                state["inflight"] -= 1

    g = lock.guard(db, c, keyspace=ks, name=f"overrun-{kind}", lock_ttl=3.0, clock=clock)
    key = "sku-1"
    lock_key = g.lock_key(key)
    owners: dict[str, str] = {}
    rows: list[dict] = []
    results: dict[str, Any] = {}

    def who() -> str:
        v = c.get(lock_key)
        return "(none)" if v is None else lock.holder(v, owners)

    def step(event: str) -> None:
        rows.append({"step": len(rows) + 1, "event": event, "lock": who(), "rebuilding": state["inflight"],
                     "db_queries": state["calls"]})

    def client(name: str) -> Any:
        def run() -> None:
            try:
                results[name] = g.get(key)
            except Exception as exc:  # A's timeout: recorded, shown in the table
                results[name] = f"error: {exc}"
        return spawn(run, name=f"hcedu-flashsale-overrun-{name}", report=False)

    def wait(pred: Any) -> None:
        if not poll_until(pred, _JOIN, interval=0.001, clock=clock):
            raise TimeoutError("lock_overrun: a step did not happen")

    try:
        ta = client("A")
        wait(lambda: state["calls"] == 1)
        owners[c.get(lock_key)] = "A"
        step("A misses, locks, queries the DB (slow)")
        c.pexpire(lock_key, 1)
        wait(lambda: not c.exists(lock_key))
        step("A's 3 s lease runs out; A is still querying")
        tb = client("B")
        wait(lambda: state["calls"] == 2)
        owners.setdefault(c.get(lock_key), "B")
        step("B misses, takes the free lock, queries too")
        gates[1].set()
        ta.join(_JOIN)
        step("A's query times out; A unlocks")
        tc = client("C")
        wait(lambda: lock.c_arrived(g, state, results))
        step("C misses")
        gates[2].set()
        gates[3].set()
        tb.join(_JOIN)
        tc.join(_JOIN)
        step("B and C finish")
    finally:
        for e in gates.values():
            e.set()
        c.delete(g.cache_key(key), lock_key, fence_key_for(lock_key))
    return Overrun(pd.DataFrame(rows).set_index("step"), dict(sorted(results.items())))


def recursion_depth(*, sleep: float = 0.05, keyspace: Keyspace | None = None) -> dict:
    """Run the source's ``GetProduct`` while another client holds the lock and never finishes: each retry
    sleeps ``sleep`` (on a VirtualClock, so instantly) and recurses. Returns ``{"error", "depth",
    "waited_s"}``: the exception that ended it (``RecursionError`` in Python; Go's goroutine stack would grow
    towards its 1 GB limit instead), how deep it got, and how long it had waited."""
    sleep = _validate.number("sleep", sleep, minimum=0, strict=True)
    ks = _keyspace(keyspace, "flashsale-recursion")
    clock = VirtualClock()
    g = SourceRebuild(lambda k: {"id": k}, ks.client, keyspace=ks, name="recursion", clock=clock, sleep=sleep)
    ks.client.set(g.lock_key("sku-1"), "1", px=60_000)
    error = None
    try:
        g.get("sku-1")
    except RecursionError as exc:
        error = type(exc).__name__
    finally:
        ks.client.delete(g.lock_key("sku-1"))
    return {"error": error, "depth": g.max_depth, "waited_s": clock.now()}


# -- penetration ------------------------------------------------------------------------------------
def penetration(requests: int = 1000, *, existing: int = 1000, distinct: int = 100, seed: int = 0,
                error_rate: float = 0.01, keyspace: Keyspace | None = None) -> pd.DataFrame:
    """Requests for ids that do not exist, against no guard, a null cache and a Bloom filter of the
    ``existing`` ids (error rate ``error_rate``). Two attacks: ``requests`` lookups over ``distinct`` missing ids
    (repeated), and ``requests`` lookups each for a new id. One row per (attack, guard): ``db_hits``,
    ``bloom_rejected``. Deterministic for a seed."""
    requests = _validate.integer("requests", requests, minimum=1, maximum=100_000)
    existing = _validate.integer("existing", existing, minimum=1, maximum=1_000_000)
    distinct = _validate.integer("distinct", distinct, minimum=1, maximum=requests)
    ks = _keyspace(keyspace, "flashsale-pen")
    rng = random.Random(seed)
    rows_db = {f"sku-{i}" for i in range(existing)}
    bloom = BloomFilter(ks.client, capacity=existing, error_rate=error_rate, keyspace=ks, name="pen-ids")
    bloom.clear()
    bloom.add_many(sorted(rows_db))
    attacks = {
        f"{requests} requests over {distinct} missing ids": [f"x-{rng.randrange(distinct)}" for _ in range(requests)],
        f"{requests} requests, every id new": [f"y-{i}" for i in range(requests)],
    }
    rows = []
    for ai, (attack, ids) in enumerate(attacks.items()):
        for guard in ("none", "null cache", "bloom + null cache"):
            db = lambda k: ({"id": k} if k in rows_db else None)  # noqa: E731 - a tiny "database"
            name = f"pen{ai}-{guard.replace(' ', '')}"
            if guard == "none":
                g: Any = NoGuard(db, ks.client, keyspace=ks, name=name)
            elif guard == "null cache":
                g = NullCache(db, ks.client, keyspace=ks, name=name, null_ttl=60)
            else:
                g = BloomGuard(NullCache(db, ks.client, keyspace=ks, name=name, null_ttl=60), bloom)
            for i in ids:
                g.get(i)
            rows.append({"attack": attack, "guard": guard, "requests": len(ids), "db_hits": g.loads,
                         "bloom_rejected": getattr(g, "rejected", 0)})
    for k in ks.client.scan_iter(match=f"{ks.prefix}:cache:pen*"):
        ks.client.delete(k)
    bloom.clear()
    return pd.DataFrame(rows)


def chart_penetration(frame: pd.DataFrame) -> "Figure":
    """DB hits per guard for each attack."""
    import matplotlib.pyplot as plt

    table = frame.pivot(index="guard", columns="attack", values="db_hits").reindex(
        ["none", "null cache", "bloom + null cache"])
    fig, ax = plt.subplots(figsize=(8, 3.2))
    y = np.arange(len(table))
    for j, col in enumerate(table.columns):
        bars = ax.barh(y + (j - 0.5) * 0.4, table[col], height=0.4, label=col)
        ax.bar_label(bars, fmt="%d", padding=2, fontsize=8)
    ax.set_yticks(y, table.index)
    ax.invert_yaxis()
    ax.set_xlabel("DB queries for ids that do not exist")
    ax.set_xlim(0, table.values.max() * 1.2)
    finish(ax, legend="outside", tight=False)
    ax.set_title("Cache penetration: misses that reach the database")
    fig.tight_layout()
    return fig


# -- avalanche --------------------------------------------------------------------------------------
def avalanche(keys: int = 1000, ttl: float = 600.0, jitters: Iterable[float] = (0.0, 120.0), *,
              warmup: float = 5.0, horizon: float = 1900.0, seed: int = 0) -> pd.DataFrame:
    """Keys cached together expire together. ``keys`` hot keys are loaded within ``warmup`` seconds (a deploy,
    a cache restart); every key is read constantly, so each expiry is one DB reload, which caches it again
    for ``ttl_with_jitter(ttl, jitter)``. Simulated on a :class:`VirtualClock` (one timer per key) until
    ``horizon``. One row per (jitter, second): ``expiries`` = DB reloads in that second. Deterministic."""
    keys = _validate.integer("keys", keys, minimum=1, maximum=100_000)
    ttl = _validate.number("ttl", ttl, minimum=0, strict=True)
    warmup = _validate.number("warmup", warmup, minimum=0)
    horizon = _validate.number("horizon", horizon, minimum=0, strict=True)
    jitters = [_validate.number("jitter", j, minimum=0) for j in jitters]
    rows = []
    for jitter in jitters:
        clock = VirtualClock()
        rng = random.Random(seed)
        counts: dict[int, int] = {}

        def expire(clock: VirtualClock = clock, rng: random.Random = rng, counts: dict = counts,
                   jitter: float = jitter) -> None:
            sec = int(clock.now())
            counts[sec] = counts.get(sec, 0) + 1
            clock.after(ttl_with_jitter(ttl, jitter, rng), expire)

        for _ in range(keys):
            clock.after(rng.uniform(0, warmup) + ttl_with_jitter(ttl, jitter, rng), expire)
        clock.advance_to(horizon)
        label = "fixed TTL" if jitter == 0 else f"TTL + jitter 0–{jitter:g} s"
        for sec in range(int(horizon)):
            rows.append({"policy": label, "jitter": jitter, "second": sec, "expiries": counts.get(sec, 0)})
    return pd.DataFrame(rows)


def avalanche_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per policy: total reloads and the worst second (peak DB reloads per second)."""
    g = frame.groupby("policy", sort=False)["expiries"]
    return pd.DataFrame({"reloads": g.sum(), "peak_per_s": g.max()})


def chart_avalanche(frame: pd.DataFrame) -> "Figure":
    """DB reloads per second over time, one line per TTL policy."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.4))
    for policy, sub in frame.groupby("policy", sort=False):
        ax.plot(sub["second"], sub["expiries"], label=policy, lw=1.2)
    ax.set_yscale("symlog")
    ax.set_xlabel("seconds after the cache was warmed")
    ax.set_ylabel("DB reloads / s (symlog)")
    finish(ax, legend="outside", tight=False)
    ax.set_title("Cache avalanche: keys warmed together expire together")
    fig.tight_layout()
    return fig


# -- oversell ---------------------------------------------------------------------------------------
def oversell(stock: int = 100, buyers: int = 400, threads: int = 8, *, pause: float = 0.001,
             keyspace: Keyspace | None = None, clock: Clock = REAL) -> pd.DataFrame:
    """``buyers`` users (each trying once) race for ``stock`` units on ``threads`` real threads, with the
    naive GET-then-DECR stock (``pause`` seconds on ``clock`` between its check and its act, as latency would) and
    with the Lua :class:`~hcedu.patterns.stock.Stock`. One row per implementation: ``sold`` (orders recorded),
    ``remaining`` (the counter afterwards), ``oversold`` = max(0, sold - stock)."""
    stock = _validate.integer("stock", stock, minimum=0)
    buyers = _validate.integer("buyers", buyers, minimum=1, maximum=100_000)
    threads = _validate.integer("threads", threads, minimum=1, maximum=64)
    ks = _keyspace(keyspace, "flashsale-stock")
    rows = []
    for name, s in (("naive GET then DECR", NaiveStock(ks.client, "naive", keyspace=ks, pause=pause, clock=clock)),
                    ("Lua script", Stock(ks.client, "lua", keyspace=ks))):
        s.load(stock)

        def worker(i: int, s: Any = s) -> None:
            for u in range(i, buyers, threads):
                s.try_buy(f"user-{u}")

        errors = _race(worker, threads, "stock")
        if errors:
            raise errors[0]
        sold = len(s.orders())
        rows.append({"impl": name, "stock": stock, "buyers": buyers, "sold": sold, "remaining": s.remaining(),
                     "oversold": max(0, sold - stock)})
        s.clear()
    return pd.DataFrame(rows)


def chart_oversell(frame: pd.DataFrame) -> "Figure":
    """Units sold vs the stock line, per implementation."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.8))
    y = np.arange(len(frame))
    bars = ax.barh(y, frame["sold"], color=["tab:red" if o else "tab:green" for o in frame["oversold"]])
    ax.bar_label(bars, fmt="%d sold", padding=3, fontsize=8)
    ax.axvline(frame["stock"].iloc[0], color="black", ls="--", lw=1, label=f"stock = {frame['stock'].iloc[0]}")
    ax.set_yticks(y, frame["impl"])
    ax.invert_yaxis()
    ax.set_xlim(0, frame["sold"].max() * 1.45)
    ax.set_xlabel(f"units sold to {frame['buyers'].iloc[0]} racing buyers")
    finish(ax, legend="outside", tight=False)
    ax.set_title("Oversell: check-then-act vs one Lua script")
    fig.tight_layout()
    return fig


# -- the rest of a flash-sale design ------------------------------------------------------------------
def db_last_guard(stock: int = 100, buyers: int = 300, attempts_per_buyer: int = 2) -> dict[str, int]:
    """The database's own last guard, in an in-memory SQLite: every purchase is one transaction that runs
    ``UPDATE stock SET qty = qty - 1 WHERE sku = ? AND qty > 0`` (a conditional decrement: zero rows changed
    means sold out) and inserts the order under a UNIQUE index on ``(user_id, sku)`` (a second order by the
    same user fails and the transaction rolls back, returning the unit). ``buyers`` users each try
    ``attempts_per_buyer`` times in a row (a double click, a retry). Returns counts: ``sold``, ``remaining``,
    ``refused_sold_out``, ``refused_duplicate``, ``orders``, ``distinct_buyers``. Deterministic.

    In production many transactions run at once; the row lock taken by the UPDATE serialises them on that
    row, so the conditional decrement holds under concurrency (``UPDATE ... WHERE qty > 0`` re-checks the
    condition on the locked row), and the unique index holds whatever the interleaving.
    """
    import sqlite3

    stock = _validate.integer("stock", stock, minimum=0)
    buyers = _validate.integer("buyers", buyers, minimum=1, maximum=100_000)
    attempts_per_buyer = _validate.integer("attempts_per_buyer", attempts_per_buyer, minimum=1, maximum=10)
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        db.execute("CREATE TABLE stock (sku TEXT PRIMARY KEY, qty INTEGER NOT NULL CHECK (qty >= 0))")
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, sku TEXT NOT NULL)")
        db.execute("CREATE UNIQUE INDEX one_per_user ON orders (user_id, sku)")
        db.execute("INSERT INTO stock VALUES ('sku-1', ?)", (stock,))
        out = {"refused_sold_out": 0, "refused_duplicate": 0}
        for u in range(buyers):
            for attempt in range(attempts_per_buyer):  # a double click, a client retry
                db.execute("BEGIN IMMEDIATE")
                if db.execute("UPDATE stock SET qty = qty - 1 WHERE sku = 'sku-1' AND qty > 0").rowcount == 0:
                    db.execute("ROLLBACK")
                    out["refused_sold_out"] += 1
                    continue
                try:
                    db.execute("INSERT INTO orders (user_id, sku) VALUES (?, 'sku-1')", (f"user-{u}",))
                    db.execute("COMMIT")
                except sqlite3.IntegrityError:
                    db.execute("ROLLBACK")  # the decrement is undone with the order
                    out["refused_duplicate"] += 1
        orders, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT user_id) FROM orders").fetchone()
        remaining = db.execute("SELECT qty FROM stock").fetchone()[0]
    finally:
        db.close()
    return {"stock": stock, "sold": stock - remaining, "remaining": remaining, **out, "orders": orders,
            "distinct_buyers": distinct}


def sold_out_flag(stock: int = 50, requests: int = 1000, *, keyspace: Keyspace | None = None) -> pd.DataFrame:
    """Redis calls per purchase attempt with and without a process-local "sold out" flag.

    ``requests`` distinct users try to buy ``stock`` units through :class:`~hcedu.patterns.stock.Stock`. With
    the flag, the first SOLD_OUT reply sets a local boolean and every later request is refused in memory
    (no round trip); without it every request reaches Redis. Returns one row per variant: ``sold``,
    ``redis_calls``, ``refused_locally``. Deterministic.
    """
    from ..patterns.stock import SOLD_OUT

    stock = _validate.integer("stock", stock, minimum=0)
    requests = _validate.integer("requests", requests, minimum=1, maximum=1_000_000)
    ks = _keyspace(keyspace, "flashsale-flag")
    rows = []
    for flag in (False, True):
        s = Stock(ks.client, f"flag-{int(flag)}", keyspace=ks)
        s.load(stock)
        sold_out, calls, local = False, 0, 0
        for u in range(requests):
            if flag and sold_out:
                local += 1
                continue
            calls += 1
            if s.attempt(f"user-{u}") == SOLD_OUT:
                sold_out = True
        rows.append({"variant": "local sold-out flag" if flag else "every request asks Redis",
                     "requests": requests, "sold": s.sold(), "redis_calls": calls, "refused_locally": local})
        s.clear()
    return pd.DataFrame(rows).set_index("variant")


def split_stock(stock: int = 100, shards: int = 4, buyers: int = 100, *, seed: int = 0,
                keyspace: Keyspace | None = None) -> pd.DataFrame:
    """A hot SKU's stock split over ``shards`` keys (``stock:sku-1:0`` ...), so its decrements spread over
    several keys (on Redis Cluster: several slots, several nodes) instead of one hot key.

    Each buyer starts at a seeded random shard and ``DECR``s with a one-line script that refuses at 0; on a
    refusal it tries the next shard, so a unit left anywhere is still sold (the last units cost a few extra
    calls). Returns one row per shard: ``loaded``, ``sold``, ``calls`` (decrement attempts that reached it).
    The total sold equals ``stock`` exactly. Deterministic for a seed.
    """
    stock = _validate.integer("stock", stock, minimum=0)
    shards = _validate.integer("shards", shards, minimum=1, maximum=1024)
    buyers = _validate.integer("buyers", buyers, minimum=1, maximum=100_000)
    ks = _keyspace(keyspace, "flashsale-split")
    r = ks.client
    take = r.register_script("if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then "
                             "return redis.call('DECR', KEYS[1]) >= 0 and 1 or 0 end return 0")
    keys = [ks.key("stock", "sku-1", str(i)) for i in range(shards)]
    loaded = [stock // shards + (1 if i < stock % shards else 0) for i in range(shards)]
    for k, n in zip(keys, loaded):
        r.set(k, n)
    rng = random.Random(seed)
    sold, calls = [0] * shards, [0] * shards
    for _ in range(buyers):
        first = rng.randrange(shards)
        for step in range(shards):
            i = (first + step) % shards
            calls[i] += 1
            if take(keys=[keys[i]]) == 1:
                sold[i] += 1
                break
    r.delete(*keys)
    return pd.DataFrame({"shard": range(shards), "loaded": loaded, "sold": sold, "calls": calls}).set_index("shard")


def reconcile(stock: Stock, db_orders: Iterable[str]) -> dict[str, Any]:
    """Compare Redis's record of a sale (``stock``'s buyers) with the orders the database holds.

    Returns ``redis_sold``, ``db_orders``, ``missing_in_db`` (bought in Redis, no order row: a message
    lost between the two, to re-enqueue or refund), ``unknown_to_redis`` (order rows Redis has no buyer
    for: a Redis failover or restart that lost writes; the database wins) and ``balanced``.
    """
    if not isinstance(stock, Stock):
        raise TypeError(f"stock must be a hcedu.patterns.stock.Stock (got {type(stock).__name__})")
    redis_buyers = stock.buyers()
    db = set(db_orders)
    return {"redis_sold": stock.sold(), "db_orders": len(db), "missing_in_db": sorted(redis_buyers - db),
            "unknown_to_redis": sorted(db - redis_buyers), "balanced": redis_buyers == db}
