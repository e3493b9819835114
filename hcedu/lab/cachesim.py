"""Two-level cache experiments (J2Cache-style L1 + Redis L2): hit rates, stale reads, broadcast vs work queue.

Every experiment runs the real :class:`hcedu.patterns.twolevel.TwoLevelCache` against Redis (the embedded
fakeredis by default), on a shared :class:`hcedu.clock.VirtualClock`, so a 10-minute workload runs in
about a second and the same seed gives the same numbers.

The workload (:func:`simulate`): ``instances`` application instances, each with its own L1, sharing one
Redis and one "database" (a dict of version numbers). Reads arrive at ``rate`` per virtual second, pick a
key from a Zipf distribution (a few hot keys, a long tail) and a uniformly random instance; a fraction
``write_ratio`` of operations are writes instead: the database row's version goes up and the writing
instance invalidates the key through ``transport``:

  * ``"broadcast"``: Redis pub/sub, every instance's subscriber thread evicts it (real threads; the
    simulation waits until every subscriber has taken the message before the next operation, so results
    are deterministic). ``loss`` is the probability that one instance silently loses one message;
  * ``"queue"``: :class:`~hcedu.patterns.twolevel.CompetingConsumerInvalidation`, a shared work queue
    delivered round-robin: each message reaches one instance;
  * ``"none"``: no invalidation at all (and, with ``write_ratio=0``, no writes: the hit-rate experiments).

Invariants the tests check: with ``broadcast`` and ``loss=0`` no read is stale; a stale read is never older
than ``l1_ttl`` (the backstop: L2 is always deleted, only L1 copies go stale); level counts add up to reads.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import _validate
from ..clock import REAL, VirtualClock, poll_until
from ..patterns._redisargs import resolve_keyspace
from ..patterns.twolevel import CompetingConsumerInvalidation, TwoLevelCache
from .plot import finish
from .stats import percentiles

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TRANSPORTS", "STALE_WORKLOAD", "zipf_keys", "simulate", "summarize", "hit_rates", "chart_hit_rates",
           "stale_sweep", "chart_staleness", "transports", "chart_transports", "chart_explore", "measure_latency", "reconnect_demo"]

TRANSPORTS = ("broadcast", "queue", "none")
LEVELS = ("L1", "L2", "DB")
#: the stale-read experiments' workload: 100 keys, 10 ops/s for ~5 virtual minutes, 1 % writes
STALE_WORKLOAD: dict[str, Any] = {"keys": 100, "ops": 3000, "write_ratio": 0.01, "rate": 10.0}


def zipf_keys(n: int, keys: int, s: float = 1.1, seed: int = 0) -> np.ndarray:
    """``n`` key indexes in ``[0, keys)`` drawn with P(rank r) ∝ 1 / r**s (seeded; rank 0 is the hottest)."""
    n = _validate.integer("n", n, minimum=0)
    keys = _validate.integer("keys", keys, minimum=1)
    s = _validate.number("s", s, minimum=0)
    p = 1.0 / np.arange(1, keys + 1) ** s
    return np.random.default_rng(seed).choice(keys, size=n, p=p / p.sum())


def simulate(*, transport: str = "broadcast", l1_ttl: float = 10.0, l1_size: int = 100, l2_ttl: float = 300.0,
             instances: int = 3, keys: int = 500, ops: int = 3000, write_ratio: float = 0.05, loss: float = 0.0,
             rate: float = 50.0, zipf_s: float = 1.1, seed: int = 0, client: Any = None,
             wait_timeout: float = 5.0) -> pd.DataFrame:
    """Run the workload described in the module docstring; return one row per **read**.

    Columns: ``t`` (virtual seconds), ``instance``, ``key``, ``level`` (``L1``/``L2``/``DB``: who answered),
    ``stale`` (the value returned is older than the database's), ``staleness`` (seconds since the database
    moved past the returned value; 0 when fresh), and the parameters ``transport``, ``l1_ttl``, ``l1_size``,
    ``loss``. Keys are written under a throwaway keyspace that is cleaned up afterwards. Raises
    ``RuntimeError`` if a subscriber does not take a message within ``wait_timeout`` real seconds.
    """
    _validate.choice("transport", transport, TRANSPORTS)
    l1_ttl = _validate.number("l1_ttl", l1_ttl, minimum=0, strict=True)
    l1_size = _validate.integer("l1_size", l1_size, minimum=1)
    instances = _validate.integer("instances", instances, minimum=1, maximum=16)
    keys = _validate.integer("keys", keys, minimum=1)
    ops = _validate.integer("ops", ops, minimum=1)
    write_ratio = _validate.number("write_ratio", write_ratio, minimum=0, maximum=1)
    loss = _validate.number("loss", loss, minimum=0, maximum=1)
    rate = _validate.number("rate", rate, minimum=0, strict=True)
    if transport == "none" and write_ratio > 0:
        raise ValueError("write_ratio must be 0 with transport='none' (writes need an invalidation transport)")
    client, ks = resolve_keyspace(client, None, f"cachesim-{uuid.uuid4().hex[:8]}")
    clock = VirtualClock()
    rng = np.random.default_rng(seed)
    db: dict[str, int] = {}
    written_at: dict[str, list[float]] = {}  # written_at[k][v] = when version v was written (v >= 1)

    def loader(k: str) -> int:
        return db.get(k, 0)

    subscribe = transport == "broadcast"
    caches = [TwoLevelCache(client, loader=loader, l1_size=l1_size, l1_ttl=l1_ttl, l2_ttl=l2_ttl, keyspace=ks,
                            clock=clock, name=f"sim{i}", subscribe=subscribe) for i in range(instances)]
    drop_now = [False] * instances
    for i, c in enumerate(caches):
        c.lose_invalidations = (lambda i: lambda k: drop_now[i])(i)
    queue = CompetingConsumerInvalidation(caches) if transport == "queue" else None
    key_idx = zipf_keys(ops, keys, zipf_s, seed)
    is_write = rng.random(ops) < write_ratio
    who = rng.integers(0, instances, size=ops)
    gaps = rng.exponential(1.0 / rate, size=ops)
    lost = rng.random((ops, instances)) < loss
    rows = []
    published = 0
    try:
        if subscribe and not all(c.subscribed for c in caches):
            raise RuntimeError("a subscriber did not connect in time")
        for op in range(ops):
            clock.advance(float(gaps[op]))
            k = f"k{key_idx[op]}"
            cache = caches[who[op]]
            if is_write[op]:
                db[k] = db.get(k, 0) + 1
                written_at.setdefault(k, [0.0]).append(clock.now())
                if queue is not None:
                    queue.invalidate(cache, k)
                    queue.deliver_round_robin()
                else:
                    for i in range(instances):
                        drop_now[i] = bool(lost[op, i])
                    cache.invalidate(k)
                    published += 1
                    for c in caches:
                        if not c.wait_received(published, wait_timeout):
                            raise RuntimeError(f"{c.name} did not receive invalidation {published} in time")
                continue
            before = cache.stats
            value = cache.get(k)
            after = cache.stats
            level = "L1" if after.l1_hits > before.l1_hits else ("L2" if after.l2_hits > before.l2_hits else "DB")
            current = db.get(k, 0)
            stale = value != current
            staleness = clock.now() - written_at[k][value + 1] if stale else 0.0
            rows.append((clock.now(), int(who[op]), k, level, stale, staleness))
    finally:
        for c in caches:
            c.close()
        if queue is not None:
            queue.stop()
        ks.cleanup()
    frame = pd.DataFrame(rows, columns=["t", "instance", "key", "level", "stale", "staleness"])
    frame["transport"] = transport
    frame["l1_ttl"] = l1_ttl
    frame["l1_size"] = l1_size
    frame["loss"] = loss
    return frame


def summarize(frame: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Per group (default: the parameter columns): reads, L1/L2/DB share of reads, stale share, and the
    p99 and max staleness (seconds) of the stale reads."""
    by = by or ["transport", "l1_ttl", "l1_size", "loss"]
    out = []
    for group, g in frame.groupby(by, sort=True):
        levels = g["level"].value_counts(normalize=True)
        stale = g.loc[g["stale"], "staleness"]
        out.append({**dict(zip(by, group if isinstance(group, tuple) else (group,))),
                    "reads": len(g), **{lv: float(levels.get(lv, 0.0)) for lv in LEVELS},
                    "stale": float(g["stale"].mean()) if len(g) else 0.0,
                    "p99_staleness": float(percentiles(stale, (99,)).iloc[0]) if len(stale) else 0.0,
                    "max_staleness": float(stale.max()) if len(stale) else 0.0})
    return pd.DataFrame(out)


def hit_rates(l1_ttls: tuple[float, ...] = (1, 5, 30, 120), l1_sizes: tuple[int, ...] = (10, 50, 200),
              *, base_ttl: float = 30.0, base_size: int = 50, **kw: Any) -> pd.DataFrame:
    """L1/L2/DB share of reads (read-only Zipf workload) for each L1 TTL at ``base_size`` and each L1 size at
    ``base_ttl``. One summary row per run, with a ``sweep`` column (``"l1_ttl"`` or ``"l1_size"``)."""
    kw = {"transport": "none", "write_ratio": 0.0, **kw}
    runs: dict[tuple[float, int], pd.DataFrame] = {}  # the base point is in both sweeps: simulated once

    def run(ttl: float, size: int) -> pd.DataFrame:
        if (ttl, size) not in runs:
            runs[(ttl, size)] = summarize(simulate(l1_ttl=ttl, l1_size=size, **kw))
        return runs[(ttl, size)]

    rows = [run(ttl, base_size).assign(sweep="l1_ttl") for ttl in l1_ttls]
    rows += [run(base_ttl, size).assign(sweep="l1_size") for size in l1_sizes]
    return pd.concat(rows, ignore_index=True)


def _stacked(ax: Any, s: pd.DataFrame, x: str, label: str) -> None:
    colors = {"L1": "tab:green", "L2": "tab:orange", "DB": "tab:red"}
    pos = np.arange(len(s))
    bottom = np.zeros(len(s))
    for lv in LEVELS:
        ax.bar(pos, s[lv], bottom=bottom, label=lv, color=colors[lv], width=0.6)
        bottom += s[lv].to_numpy()
    ax.set_xticks(pos, [f"{v:g}" for v in s[x]])
    ax.set_xlabel(label)
    ax.set_ylim(0, 1)


def chart_hit_rates(summary: pd.DataFrame) -> "Figure":
    """Stacked share of reads answered by L1 / L2 / DB: against L1 TTL (left) and L1 size (right)."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    _stacked(a, summary[summary["sweep"] == "l1_ttl"].sort_values("l1_ttl"), "l1_ttl", "L1 TTL (s)")
    _stacked(b, summary[summary["sweep"] == "l1_size"].sort_values("l1_size"), "l1_size", "L1 size (entries)")
    ttl = summary.loc[summary["sweep"] == "l1_size", "l1_ttl"].iloc[0]
    size = summary.loc[summary["sweep"] == "l1_ttl", "l1_size"].iloc[0]
    fig.suptitle("Who answers a read? (Zipf workload, 3 instances)")
    finish(a, title=f"L1 size {size:g} entries", ylabel="share of reads", legend=None, tight=False)
    return finish(b, title=f"L1 TTL {ttl:g} s", legend="outside")  # one legend for both panels


def stale_sweep(l1_ttls: tuple[float, ...] = (2, 5, 15, 30, 60), loss: float = 0.3, **kw: Any) -> pd.DataFrame:
    """Broadcast invalidation, each message lost by each instance with probability ``loss``: one summary row
    per L1 TTL (workload :data:`STALE_WORKLOAD` unless overridden)."""
    kw = {**STALE_WORKLOAD, **kw}
    return pd.concat([summarize(simulate(transport="broadcast", l1_ttl=t, loss=loss, **kw)) for t in l1_ttls],
                     ignore_index=True)


def chart_staleness(summary: pd.DataFrame) -> "Figure":
    """Stale share of reads (left) and worst staleness against the L1 TTL bound (right)."""
    import matplotlib.pyplot as plt

    s = summary.sort_values("l1_ttl")
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.9))
    a.plot(s["l1_ttl"], 100 * s["L1"], "^-", color="tab:green", label="L1 hits (left axis)")
    a.set_xlabel("L1 TTL (s)")
    a.set_ylabel("L1 hits (% of reads)", color="tab:green")
    a.set_ylim(0, 100)
    a2 = a.twinx()
    a2.plot(s["l1_ttl"], 100 * s["stale"], "o-", color="tab:red", label="stale reads (right axis)")
    a2.set_ylabel("stale reads (% of reads)", color="tab:red")
    a2.set_ylim(0, max(1.0, 100 * s["stale"].max()) * 1.15)
    a2.spines["right"].set_visible(True)
    a2.grid(False)
    # below the axes: inside, the box sat between the two lines it describes
    a.legend(handles=a.get_lines() + a2.get_lines(), frameon=False, fontsize=8, ncol=2, loc="upper center",
             bbox_to_anchor=(0.5, -0.22))
    b.plot(s["l1_ttl"], s["max_staleness"], "o-", label="worst stale read", color="tab:red")
    b.plot(s["l1_ttl"], s["p99_staleness"], "s--", label="p99", color="tab:orange")
    b.plot(s["l1_ttl"], s["l1_ttl"], ":", color="black", label="bound = L1 TTL")
    b.set_xlabel("L1 TTL (s)")
    b.set_ylabel("age of the stale value (s)")
    b.legend(frameon=False, fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    fig.suptitle(f"Lost invalidations (loss = {s['loss'].iloc[0]:.0%} per message per instance)")
    fig.tight_layout()
    return fig


def transports(l1_ttl: float = 30.0, instances: int = 3, **kw: Any) -> pd.DataFrame:
    """Broadcast (pub/sub) vs a competing-consumer work queue, no loss: one summary row per transport and
    instance (``by=["transport", "instance"]``; workload :data:`STALE_WORKLOAD` unless overridden)."""
    kw = {**STALE_WORKLOAD, **kw}
    frames = [simulate(transport=t, l1_ttl=l1_ttl, instances=instances, **kw) for t in ("broadcast", "queue")]
    return summarize(pd.concat(frames, ignore_index=True), by=["transport", "instance"])


def chart_transports(summary: pd.DataFrame) -> "Figure":
    """Stale share of reads per instance, broadcast vs work queue."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    inst = sorted(summary["instance"].unique())
    pos = np.arange(len(inst))
    for j, (t, color) in enumerate((("broadcast", "tab:green"), ("queue", "tab:red"))):
        s = summary[summary["transport"] == t].set_index("instance").reindex(inst)
        values = 100 * s["stale"].fillna(0).to_numpy()
        x = pos + (j - 0.5) * 0.38
        ax.bar(x, values, width=0.38, color=color,
               label="pub/sub broadcast" if t == "broadcast" else "work queue (competing consumers)")
        for xi, v in zip(x, values):
            ax.annotate(f"{v:.1f}%", (xi, v), ha="center", va="bottom", fontsize=8, color=color)
    return finish(ax, title="Each invalidation must reach every instance", ylabel="stale reads (%)",
                  legend="outside", xticks=pos, xticklabels=[f"instance {i}" for i in inst], ylim_zero=True)


def chart_explore(l1_ttl: float = 30.0, l1_size: int = 50, loss: float = 0.0, **kw: Any) -> "Figure":
    """One run with a broadcast transport, drawn as a bar chart of L1/L2/DB and stale shares (for ``interact``)."""
    import matplotlib.pyplot as plt

    kw = {**STALE_WORKLOAD, **kw}
    s = summarize(simulate(transport="broadcast", l1_ttl=l1_ttl, l1_size=l1_size, loss=loss, **kw)).iloc[0]
    fig, ax = plt.subplots(figsize=(6, 2.8))
    names = ["L1", "L2", "DB", "stale"]
    ax.bar(names, [100 * s[n] for n in names], color=["tab:green", "tab:orange", "tab:red", "black"])
    ax.set_ylim(0, 100)
    return finish(ax, title=f"L1 TTL {l1_ttl:g} s, size {l1_size}, loss {loss:.0%}", ylabel="% of reads",
                  legend=None)


def measure_latency(n: int = 2000, *, client: Any = None, clock: Any = REAL) -> pd.DataFrame:
    """Measured (on ``clock``, real by default): ``n`` gets answered by L1, and ``n`` answered by L2 (an L1 of size 1 cycled over
    two keys, so every get misses L1 and hits Redis). One row per get: ``level``, ``latency`` (seconds)."""
    n = _validate.integer("n", n, minimum=1)
    client, ks = resolve_keyspace(client, None, f"cachesim-lat-{uuid.uuid4().hex[:8]}")
    rows = []
    try:
        with TwoLevelCache(client, loader=lambda k: {"id": k, "price": 42}, keyspace=ks, l1_size=1,
                           l1_ttl=60, subscribe=False, name="lat") as c:
            c.get("b")
            c.get("a")  # L1 now holds "a" only
            for level, seq in (("L1", ["a"] * n), ("L2", ["b", "a"] * (n // 2) + ["b"] * (n % 2))):
                for k in seq:
                    t0 = clock.monotonic()
                    c.get(k)
                    rows.append((level, clock.monotonic() - t0))
    finally:
        ks.cleanup()
    return pd.DataFrame(rows, columns=["level", "latency"])


def _wait(pred: Any, timeout: float, what: str) -> None:
    if not poll_until(pred, timeout, clock=REAL):  # real pub/sub connections: real time
        raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


def reconnect_demo(flush_on_reconnect: bool, *, gap: float = 0.3, client: Any = None,
                   timeout: float = 5.0, attempts: int = 4) -> dict[str, Any]:
    """Real threads, real pub/sub: instance B caches ``price=100``; its subscriber connection drops silently
    for ``gap`` seconds (:meth:`~hcedu.patterns.twolevel.TwoLevelCache.drop_connection`); meanwhile A writes
    ``price=90`` and publishes the invalidation, which B never receives; B re-subscribes. Returns what B reads
    afterwards and how many subscribers the invalidation reached.

    The outcome must not depend on how busy the machine is: if B was already back when A published (the
    publish reached both subscribers, so the gap was shorter than this machine's reaction), the demo is
    re-run with a gap four times longer, up to ``attempts`` times. Raises ``RuntimeError`` if a step does not
    happen within ``timeout`` real seconds (plus the gap), or if every attempt was too slow."""
    gap = _validate.number("gap", gap, minimum=0.05)
    attempts = _validate.integer("attempts", attempts, minimum=1)
    for _ in range(attempts):
        result = _reconnect_once(flush_on_reconnect, gap, client, timeout)
        if result is not None:
            return result
        gap *= 4
    raise RuntimeError(f"B re-subscribed before A published in all {attempts} attempts (last gap {gap / 4:g} s)")


def _reconnect_once(flush_on_reconnect: bool, gap: float, client: Any, timeout: float) -> dict[str, Any] | None:
    client, ks = resolve_keyspace(client, None, f"cachesim-rc-{uuid.uuid4().hex[:8]}")
    db = {"price": 100}
    clock = VirtualClock()
    try:
        with TwoLevelCache(client, loader=db.get, keyspace=ks, clock=clock, l1_ttl=600, name="A") as a, \
                TwoLevelCache(client, loader=db.get, keyspace=ks, clock=clock, l1_ttl=600, name="B",
                              flush_on_reconnect=flush_on_reconnect) as b:
            def subscribers() -> int:
                return int(dict(client.pubsub_numsub(a.channel)).get(a.channel, 0))

            before = b.get("price")
            resyncs = b.stats.resyncs
            b.drop_connection(gap)
            try:
                _wait(lambda: subscribers() == 1, timeout + gap, "B's subscription to drop")
            except RuntimeError:  # the whole gap passed between two looks: this machine was too slow
                return None
            db["price"] = 90
            reached = a.invalidate("price")
            if reached != 1:  # B was back already: this machine was slower than the gap
                return None
            _wait(lambda: subscribers() == 2 and b.subscribed, timeout + gap, "B to re-subscribe")
            if flush_on_reconnect:
                _wait(lambda: b.stats.resyncs > resyncs, timeout + gap, "B's flush")
            return {"flush_on_reconnect": flush_on_reconnect, "B before": before,
                    "invalidation reached": f"{reached} of 2 subscribers", "B after reconnect": b.get("price"),
                    "database": db["price"]}
    finally:
        ks.cleanup()
