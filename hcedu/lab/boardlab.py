"""Leaderboard experiments (the source's 4.2: a real-time ZSET board) -- each returns a tidy DataFrame.

* :func:`game` -- a live game on a ``VirtualClock``: seeded players of different skill score points, and
  the top N is snapshotted every ``step`` seconds (:func:`chart_bump` draws the ranks over time);
* :func:`ties` -- players finish on equal points one after another: the plain ZSET orders them by name
  (reversed), the composite score by who got there first;
* :func:`precision` -- what happens past ``2**53``: two different composite scores collapse into one
  double and the tie-break silently stops working;
* :func:`latency` -- measured query time of ``top(10)``, ``rank`` and ``around`` against board size (O(log N)),
  next to fetching the whole board to sort it in the application (O(N));
* :func:`concurrency` -- real threads adding to one member: ZINCRBY and the Lua add lose nothing, the
  read-modify-write ``ZSCORE`` + ``ZADD`` loses updates.

Everything but :func:`latency` (and :func:`concurrency` with ``lockstep=False``) is deterministic: each
run gets a fresh fakeredis server unless a client is passed.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any, Sequence

import fakeredis
from ..backend import new_fake_server  # db 0 made up front: fakeredis 2.41's first-use race
import numpy as np
import pandas as pd

from .. import _validate
from ..backend import Keyspace
from ..clock import REAL, VirtualClock
from ..patterns.leaderboard import Composite, Leaderboard
from . import stats
from .plot import finish
from .runner import run_workers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["game", "chart_bump", "ties", "precision", "latency", "chart_latency", "concurrency", "memory"]


def _fresh() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=new_fake_server(), decode_responses=True)


def _board(client: Any, name: str, **kw: Any) -> Leaderboard:
    client = client if client is not None else _fresh()
    lb = Leaderboard(name, client=client, keyspace=Keyspace("boardlab", client), **kw)
    lb.clear()
    return lb


PLAYERS = ("ana", "ben", "chen", "dmitri", "eve", "farah", "gus", "hana", "ivan", "jun", "kofi", "lena",
           "mo", "nia", "oskar", "priya")


def game(players: int = 10, duration: float = 600.0, step: float = 10.0, top: int = 5, seed: int = 13,
         tie_break: str = "earliest", client: Any = None) -> pd.DataFrame:
    """Simulate ``players`` scoring for ``duration`` virtual seconds; snapshot the top ``top`` every ``step`` s.

    Each player has a seeded skill (mean points per minute) that drifts as the game goes on, so the lead
    changes hands. Returns one row per (``t``, ``rank``): ``member``, ``points``.
    """
    players = _validate.integer("players", players, minimum=2, maximum=len(PLAYERS))
    duration = _validate.number("duration", duration, minimum=0, strict=True)
    step = _validate.number("step", step, minimum=0, strict=True)
    top = _validate.integer("top", top, minimum=1, maximum=players)
    rng = np.random.default_rng(_validate.integer("seed", seed, minimum=0))
    clock = VirtualClock()
    lb = _board(client, "game", clock=clock, tie_break=tie_break)
    names = list(PLAYERS[:players])
    skill = rng.uniform(2, 10, players)
    drift = rng.normal(0, 0.6, players)
    rows: list[dict[str, Any]] = []
    for name in names:
        lb.add(name, 0)
    for t in np.arange(step, duration + step / 2, step):
        clock.advance_to(float(t))
        rate = np.clip(skill + drift * t / 60, 0.5, None) * step / 60
        for i in rng.permutation(players):
            pts = int(rng.poisson(rate[i]))
            if pts:
                lb.add(names[i], pts)
        rows += [{"t": float(t), "rank": e.rank, "member": e.member, "points": e.points} for e in lb.top(top)]
    lb.clear()
    return pd.DataFrame(rows)


def chart_bump(frame: pd.DataFrame) -> "Figure":
    """Bump chart: rank (1 at the top) over time for every player who was ever in the snapshot."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.8))
    top = int(frame["rank"].max())
    times = sorted(frame["t"].unique())
    groups = sorted(frame.groupby("member"), key=lambda kv: (kv[1]["rank"].iloc[-1] if kv[1]["t"].iloc[-1] == times[-1]
                                                             else top + 1, kv[0]))  # legend in final order
    cmap = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")
    for i, (member, g) in enumerate(groups):
        g = g.set_index("t").reindex(times)  # NaN where the player was outside the top: a gap in the line
        ax.plot(g.index, g["rank"], marker="o", ms=3, lw=2, color=cmap(i % cmap.N), label=member)
    ax.set_ylim(top + 0.5, 0.5)
    ax.set_yticks(range(1, top + 1))
    finish(ax, title=f"Top {top} over time (ZRANGE 0 {top - 1} REV every {times[1] - times[0]:g} s)",
           xlabel="game time (virtual seconds)", ylabel="rank", legend="outside")
    plt.close(fig)  # returned, not also drawn by pyplot: the cell shows it once
    return fig


def ties(names: Sequence[str] = ("alice", "bob", "carol", "dave"), points: int = 100, gap: float = 7.0,
         client: Any = None) -> pd.DataFrame:
    """``names`` reach ``points`` one after another (``gap`` seconds apart, in the given order). Returns one row
    per player: when they got there and their rank on a plain ZSET vs with the earliest-first tie-break."""
    names = [_validate.text("names[]", n) for n in names]
    if len(set(names)) != len(names) or len(names) < 2:
        raise ValueError("names must be at least two distinct names")
    points = _validate.integer("points", points, minimum=1)
    gap = _validate.number("gap", gap, minimum=0, strict=True)
    client = client if client is not None else _fresh()
    clock = VirtualClock(1000.0)
    plain = _board(client, "ties-plain", clock=clock, tie_break="none")
    fair = _board(client, "ties-fair", clock=clock)
    reached = {}
    for name in names:
        plain.add(name, points)
        fair.add(name, points)
        reached[name] = clock.now()
        clock.advance(gap)
    out = pd.DataFrame({"member": names, "points": points, "reached_at": [reached[n] for n in names],
                        "rank: plain ZSET": [plain.rank(n) for n in names],
                        "rank: earliest first": [fair.rank(n) for n in names]})
    plain.clear()
    fair.clear()
    return out.set_index("member")


def precision(time_bits: int = 32, client: Any = None) -> pd.DataFrame:
    """Encode two players one point past the budget (``max_points + 1``), one second apart, *without* the
    check, ZADD the raw numbers and read them back. Past ``2**53`` a double has no room for the odd one: both
    are stored as the same score, the time field is destroyed and the order falls back to names.
    Also shows the last in-budget total, which round-trips exactly."""
    codec = Composite(_validate.integer("time_bits", time_bits, minimum=1, maximum=52))
    client = client if client is not None else _fresh()
    key = Keyspace("boardlab", client).key("precision")
    client.delete(key)
    rows = []
    cases = [("alice", codec.max_points, 10), ("bob", codec.max_points, 11),
             ("carol", codec.max_points + 1, 10), ("dave", codec.max_points + 1, 11)]
    for member, points, tick in cases:
        intended = points * codec.base + (codec.max_tick - tick)  # no validation: what an unchecked encoder does
        client.zadd(key, {member: float(intended)})
        rows.append({"member": member, "points": points, "tick": tick, "intended": intended})
    order = [m for m in client.zrange(key, 0, -1, desc=True)]
    stored = {m: int(float(client.zscore(key, m))) for m in order}
    client.delete(key)
    out = pd.DataFrame(rows).set_index("member")
    out["stored"] = [stored[m] for m in out.index]
    out["exact"] = out["stored"] == out["intended"]
    out["rank"] = [order.index(m) + 1 for m in out.index]
    out["past 2**53"] = out["intended"] >= 2 ** 53
    return out


def latency(sizes: Sequence[int] = (1_000, 10_000, 100_000), reps: int = 200, full_reps: int = 2,
            batch: int = 10_000, seed: int = 0, client: Any = None, clock: Any = REAL) -> pd.DataFrame:
    """Measure query latency against board size. For each size the board is filled with pipelined ZADD
    batches of ``batch`` members, then ``reps`` calls each of ``top(10)``, ``rank(m)``, ``around(m, 5)``
    on random members, and ``full_reps`` calls of the anti-pattern: fetch the whole board
    (``ZRANGE 0 -1 WITHSCORES``) to rank in the application. Returns one row per call:
    ``size``, ``op``, ``latency`` (s, on ``clock``: real by default). Measured: numbers vary by machine and
    backend.
    """
    sizes = [_validate.integer("sizes[]", s, minimum=10, maximum=10_000_000) for s in sizes]
    reps = _validate.integer("reps", reps, minimum=1)
    full_reps = _validate.integer("full_reps", full_reps, minimum=0)
    batch = _validate.integer("batch", batch, minimum=1)
    rng = np.random.default_rng(_validate.integer("seed", seed, minimum=0))
    lb = _board(client, "latency", clock=VirtualClock(), tie_break="none")
    rows: list[dict[str, Any]] = []
    filled = 0
    for size in sorted(sizes):
        while filled < size:  # grow the same board: 1e3 -> 1e4 -> 1e5
            n = min(batch, size - filled)
            pipe = lb.client.pipeline(transaction=False)
            pipe.zadd(lb.key(), {f"u{filled + i}": float(s) for i, s in
                                 enumerate(rng.integers(0, 1_000_000, n))})
            pipe.execute()
            filled += n
        members = [f"u{i}" for i in rng.integers(0, size, reps)]
        ops = {"top(10)": lambda m: lb.top(10), "rank(m)": lambda m: lb.rank(m),
               "around(m, 5)": lambda m: lb.around(m, 5)}
        for op, fn in ops.items():
            for m in members:
                t0 = clock.monotonic()
                fn(m)
                rows.append({"size": size, "op": op, "latency": clock.monotonic() - t0})
        for _ in range(full_reps):
            t0 = clock.monotonic()
            lb.client.zrange(lb.key(), 0, -1, withscores=True)
            rows.append({"size": size, "op": "fetch all (O(N))", "latency": clock.monotonic() - t0})
    lb.clear()
    return pd.DataFrame(rows)


def chart_latency(frame: pd.DataFrame) -> "Figure":
    """Median latency (µs, log) per operation against board size (log)."""
    import matplotlib.pyplot as plt

    s = stats.summarize(frame, by=["op", "size"], unit="us")
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for op, g in s.groupby("op", sort=False):
        style = "--" if "fetch" in op else "-"
        ax.plot(g["size"], g["p50"], style, marker="o", label=op)
    ax.set_xscale("log")
    ax.set_yscale("log")
    finish(ax, title="Leaderboard queries vs board size", xlabel="board size (members)",
           ylabel="median latency (µs)", legend="outside")
    plt.close(fig)  # returned, not also drawn by pyplot: the cell shows it once
    return fig


def concurrency(threads: int = 8, updates: int = 50, lockstep: bool = True, client: Any = None) -> pd.DataFrame:
    """``threads`` real threads each add 1 point ``updates`` times to one hot member, with each method.

    ``lockstep=True`` lines the threads up with a barrier before each update (and, for the naive method,
    between its read and its write), so the worst interleaving happens every round: the naive board ends at
    exactly ``updates``. Returns one row per method: ``expected``, ``final``, ``lost``.
    """
    threads = _validate.integer("threads", threads, minimum=1, maximum=64)
    updates = _validate.integer("updates", updates, minimum=1)
    client = client if client is not None else _fresh()
    rows = []
    for method in ("naive ZSCORE + ZADD", "ZINCRBY", "Lua add (tie-break)"):
        lb = _board(client, "hot-" + method.split()[0].lower(), clock=VirtualClock(),
                    tie_break="none" if method == "ZINCRBY" else "earliest")
        barrier = threading.Barrier(threads, timeout=10)

        def line_up() -> None:
            if lockstep:
                try:
                    barrier.wait()
                except threading.BrokenBarrierError:
                    pass

        def worker(_: int) -> None:
            for _ in range(updates):
                line_up()
                if method.startswith("naive"):
                    lb.add_naive("hot", 1, between=line_up)
                else:
                    lb.add("hot", 1)

        run_workers(worker, threads, name="hcedu-boardlab", timeout=60).raise_first()
        final = int(lb.score("hot") or 0)
        rows.append({"method": method, "expected": threads * updates, "final": final,
                     "lost": threads * updates - final})
        lb.clear()
    return pd.DataFrame(rows).set_index("method")


def memory(client: Any, members: int = 100_000, member_len: int = 12) -> dict[str, Any]:
    """On a real Redis (``client``): where a ZSET switches from the compact listpack to skiplist + hash table
    (``zset-max-listpack-entries`` / ``-value``) and how many bytes one member costs once it has, from
    ``MEMORY USAGE`` of a board of ``members`` members named with ``member_len`` characters. Keys live under a
    throwaway keyspace that is deleted afterwards. The embedded fakeredis has neither ``OBJECT`` nor
    ``MEMORY``: pass a client of a real server."""
    members = _validate.integer("members", members, minimum=1_000)
    member_len = _validate.integer("member_len", member_len, minimum=8, maximum=64)
    ks = Keyspace(f"boardlab-mem-{uuid.uuid4().hex[:8]}", client)
    try:
        cfg = client.config_get("zset-max-listpack-*")
        entries = int(cfg["zset-max-listpack-entries"])
        value = int(cfg["zset-max-listpack-value"])
        small, wide, big = ks.key("small"), ks.key("wide"), ks.key("big")
        client.zadd(small, {f"m{i}": i for i in range(entries)})
        at_limit = client.object("encoding", small)
        client.zadd(small, {"one-more": 0})
        past_limit = client.object("encoding", small)
        client.zadd(wide, {"x" * (value + 1): 0})
        pipe = client.pipeline(transaction=False)
        for lo in range(0, members, 10_000):
            pipe.zadd(big, {f"{j:0{member_len}d}": j % 5_000 for j in range(lo, min(lo + 10_000, members))})
        pipe.execute()
        used = int(client.memory_usage(big, samples=0))
        return {"redis": str(client.info("server")["redis_version"]), "listpack_entries": entries,
                "listpack_value": value, f"encoding at {entries} members": at_limit,
                f"encoding at {entries + 1} members": past_limit,
                f"encoding with a {value + 1}-byte member": client.object("encoding", wide),
                "members": members, "bytes": used, "bytes_per_member": used / members}
    finally:
        ks.cleanup()

