"""Chapter 17's experiments on a real Redis Cluster and a Sentinel-watched primary, all on loopback.

    with local_cluster() as cluster:
        table = crossslot(cluster)          # the naive two-key script refused, the hash-tagged one run
        spread = tag_spread(cluster)        # 999 keys behind one tag vs one tag per user: keys per primary
        load = hot_key(cluster)             # a stock on one slot vs sharded over every primary
    dq = queue_failover()                   # what a delay queue loses on failover, what a re-send gives back

Each experiment returns data (a DataFrame or a dataclass); ``chart_*`` turns it into a Figure. The
cluster-free helpers (:func:`slot`, :func:`hash_tag`, :func:`fenced_writes`) need no server. The scripts here
are the chapter's own small ones, not the course's patterns.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import redis
from redis.crc import key_slot

from .. import _validate
from ..clock import REAL, Clock, poll_until
from .redis_cluster import Cluster, sentinel_trio
from .runner import run_workers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ACQUIRE_LUA", "NAIVE_KEYS", "TAGGED_KEYS", "slot", "hash_tag", "primaries", "crossslot",
           "tag_spread", "shard_keys", "hot_key", "rebalance", "chart_hot_key", "fenced_writes",
           "QueueFailover", "queue_failover"]

#: Take the lock and a fencing token in one step: two keys, so on a cluster both must live in one slot.
ACQUIRE_LUA = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
"""
NAIVE_KEYS = ("lock:orders", "lock:orders:fence")
TAGGED_KEYS = ("{lock:orders}", "{lock:orders}:fence")

#: Sell one unit from one stock shard: -1 when that shard is empty (one key: safe on any slot).
SELL_LUA = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= 0 then return -1 end
return redis.call('DECR', KEYS[1])
"""
#: Take up to ARGV[1] units from a shard (never below 0); returns how many were taken.
TAKE_LUA = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local k = math.min(n, tonumber(ARGV[1]))
if k > 0 then redis.call('DECRBY', KEYS[1], k) end
return k
"""


def slot(key: str) -> int:
    """The cluster slot of ``key`` (CRC16/XMODEM of the key, or of its hash tag, modulo 16384)."""
    if not isinstance(key, (str, bytes)):
        raise TypeError(f"key must be a str or bytes (got {type(key).__name__})")
    return key_slot(key.encode() if isinstance(key, str) else key)


def hash_tag(key: str) -> str | None:
    """The part of ``key`` that is hashed when it has a hash tag: between the first ``{`` and the first ``}``
    after it, if that is not empty; ``None`` when the whole key is hashed."""
    start = key.find("{")
    end = key.find("}", start + 1) if start >= 0 else -1
    return key[start + 1:end] if start >= 0 and end > start + 1 else None


def primaries(cluster: Cluster) -> pd.DataFrame:
    """The primaries in slot order (``primary`` 1, 2, 3, ...): port and first/last slot."""
    with cluster.nodes[0].client() as c:
        ranges = sorted((int(r[0]), int(r[1]), int(r[2][1])) for r in c.execute_command("CLUSTER", "SLOTS"))
    rows = [{"primary": i + 1, "port": port, "first_slot": lo, "last_slot": hi}
            for i, (lo, hi, port) in enumerate(ranges)]
    return pd.DataFrame(rows).set_index("primary")


def _primary_of(table: pd.DataFrame, key: str) -> int:
    s = slot(key)
    return int(table.index[(table["first_slot"] <= s) & (s <= table["last_slot"])][0])


def crossslot(cluster: Cluster) -> pd.DataFrame:
    """Run :data:`ACQUIRE_LUA` three ways: with the naive keys through the cluster client, with the naive
    keys sent straight to the primary of the first key (what the server itself says), and with the
    hash-tagged keys. One row each: ``keys``, their ``slots``, ``outcome`` and the exact ``reply``."""
    rows = []
    table = primaries(cluster)
    with cluster.client() as rc:
        def row(how: str, keys: tuple[str, str], run) -> None:  # noqa: ANN001
            try:
                reply, outcome = run(keys), "ran"
            except redis.exceptions.RedisClusterException as exc:
                reply, outcome = str(exc), "refused by the client"
            except redis.ResponseError as exc:  # redis-py strips the error code: CROSSSLOT -> ClusterCrossSlotError
                reply, outcome = f"{type(exc).__name__}: {exc}", "refused by the server"
            rows.append({"how": how, "keys": " + ".join(keys), "slots": " / ".join(str(slot(k)) for k in keys),
                         "outcome": outcome, "reply": reply})

        row("naive keys, cluster client", NAIVE_KEYS, lambda k: rc.eval(ACQUIRE_LUA, 2, *k, "A", 30_000))
        port = int(table.loc[_primary_of(table, NAIVE_KEYS[0]), "port"])
        with redis.Redis(port=port, decode_responses=True) as direct:
            row("naive keys, straight to the primary", NAIVE_KEYS,
                lambda k: direct.eval(ACQUIRE_LUA, 2, *k, "A", 30_000))
        row("hash-tagged keys, cluster client", TAGGED_KEYS, lambda k: rc.eval(ACQUIRE_LUA, 2, *k, "A", 30_000))
    return pd.DataFrame(rows).set_index("how")


def tag_spread(cluster: Cluster, users: int = 999) -> pd.DataFrame:
    """Write one session key per user twice: all behind one tag (``{sessions}:user:N``) and one tag per user
    (``session:{user:N}``); return the keys each primary holds (``DBSIZE``), one column per layout."""
    users = _validate.integer("users", users, minimum=1, maximum=100_000)
    table = primaries(cluster)
    layouts = {"one tag for all: {sessions}:user:N": lambda i: f"{{sessions}}:user:{i}",
               "a tag per user: session:{user:N}": lambda i: f"session:{{user:{i}}}"}
    out = {}
    with cluster.client() as rc:
        for name, key in layouts.items():
            rc.flushall()
            pipe = rc.pipeline()
            for i in range(users):
                pipe.set(key(i), "x")
            pipe.execute()
            counts = {}
            for p, port in table["port"].items():
                with redis.Redis(port=int(port)) as c:
                    counts[p] = c.dbsize()
            out[name] = counts
        rc.flushall()
    return pd.DataFrame(out).rename_axis("primary")


def shard_keys(cluster: Cluster, name: str, per_primary: int = 1) -> list[str]:
    """Stock shard keys ``{name:s}`` (s = 0, 1, ...) chosen so every primary serves ``per_primary`` of them
    (a shard key is its own hash tag: it names the shard, not the product)."""
    table = primaries(cluster)
    want = {p: per_primary for p in table.index}
    keys: list[str] = []
    s = 0
    while any(want.values()):
        key = f"{{{name}:{s}}}"
        p = _primary_of(table, key)
        if want[p]:
            want[p] -= 1
            keys.append(key)
        s += 1
    return keys


def _calls(port: int) -> int:
    with redis.Redis(port=port) as c:
        stats = c.info("commandstats")
    return sum(int(v.get("calls", 0)) for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))


def _sell_out(cluster: Cluster, keys: list[str], buyers: int, seed: int, clock: Clock) -> tuple[int, float]:
    """``buyers`` goroutines, each with its own cluster client, sell every unit: a buyer tries a random shard
    first, then the others in turn, and stops when a full sweep finds every shard empty. The clock starts
    when every buyer is connected (a barrier), so connecting is not counted."""
    sold = [0] * buyers
    t0: list[float] = []
    start = threading.Barrier(buyers, action=lambda: t0.append(clock.monotonic()), timeout=30)

    def buyer(i: int) -> None:
        rng = random.Random(seed + i)
        try:
            with cluster.client() as rc:
                sell = rc.register_script(SELL_LUA)
                start.wait()
                while True:
                    first = rng.randrange(len(keys))
                    for j in range(len(keys)):
                        if sell(keys=[keys[(first + j) % len(keys)]]) >= 0:
                            sold[i] += 1
                            break
                    else:
                        return
        except BaseException:
            start.abort()   # the other buyers stop waiting at the barrier
            raise

    done = run_workers(buyer, buyers, name="hcedu-buyer", timeout=150)
    elapsed = clock.monotonic() - t0[0] if t0 else 0.0
    first = [e for e in done.errors if not isinstance(e, threading.BrokenBarrierError)] or done.errors
    if first:
        raise first[0]
    return sum(sold), elapsed


def hot_key(cluster: Cluster, units: int = 3000, buyers: int = 6, seed: int = 0, *,
            clock: Clock = REAL) -> pd.DataFrame:
    """Sell ``units`` of one product twice, with ``buyers`` concurrent buyers: from one stock key (one slot,
    one primary) and from one shard per primary. One row per (layout, primary): the sell scripts that primary
    ran (``INFO commandstats``), its ``share`` and ``ops/s`` over the sell-out, and what was ``sold``."""
    units = _validate.integer("units", units, minimum=1, maximum=1_000_000)
    buyers = _validate.integer("buyers", buyers, minimum=1, maximum=64)
    table = primaries(cluster)
    layouts = {"one key": ["{stock:sku42}"], f"{len(table)} shards": shard_keys(cluster, "stock:sku42")}
    rows = []
    with cluster.client() as rc:
        for layout, keys in layouts.items():
            for i, key in enumerate(keys):
                rc.set(key, units // len(keys) + (1 if i < units % len(keys) else 0))
            before = {p: _calls(int(port)) for p, port in table["port"].items()}
            sold, elapsed = _sell_out(cluster, keys, buyers, seed, clock)
            left = sum(int(rc.get(k)) for k in keys)
            for p, port in table["port"].items():
                calls = _calls(int(port)) - before[p]
                rows.append({"layout": layout, "primary": p, "calls": calls, "ops/s": round(calls / elapsed),
                             "sold": sold, "left": left, "seconds": round(elapsed, 3)})
            rc.delete(*keys)
    frame = pd.DataFrame(rows).set_index(["layout", "primary"])
    frame["share"] = (frame["calls"] / frame.groupby(level="layout")["calls"].transform("sum")).round(3)
    return frame


def rebalance(client: redis.RedisCluster | redis.Redis, keys: list[str]) -> dict[str, int]:
    """Even out the stock shards: move units from the fullest to the emptiest shard until they differ by at
    most one. Two steps per move (take with :data:`TAKE_LUA` on one slot, then ``INCRBY`` on the other): a
    script cannot span slots, so it takes first and gives after. A crash between them undersells, never
    oversells. Returns the shards' stock afterwards."""
    take = client.register_script(TAKE_LUA)
    while True:
        stock = {k: int(client.get(k) or 0) for k in keys}
        full, empty = max(stock, key=stock.get), min(stock, key=stock.get)
        gap = stock[full] - stock[empty]
        if gap <= 1:
            return stock
        moved = int(take(keys=[full], args=[gap // 2]))
        client.incrby(empty, moved)


def chart_hot_key(frame: pd.DataFrame) -> "Figure":
    """The sell scripts each primary ran, per layout: one bar per primary, the takeaway in the title."""
    import matplotlib.pyplot as plt

    from .plot import color, finish

    table = frame["calls"].unstack("primary").reindex(list(dict.fromkeys(frame.index.get_level_values("layout"))))
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    width = 0.8 / len(table.columns)
    for j, p in enumerate(table.columns):
        ax.bar([i + j * width for i in range(len(table))], table[p], width, label=f"primary {p}",
               color=color(f"primary {p}", j))
    ax.set_xticks([i + width * (len(table.columns) - 1) / 2 for i in range(len(table))], list(table.index))
    return finish(ax, title="one stock key: one primary does all the work; sharded: every primary shares it",
                  ylabel="sell scripts run", legend="outside", integer_y=True)


def fenced_writes(writes: list[tuple[str, int]]) -> pd.DataFrame:
    """A resource that checks fencing tokens: each ``(client, token)`` write is accepted only if its token is
    greater than every token accepted before (ties rejected too). No server needed."""
    rows, highest = [], None
    for who, token in writes:
        ok = highest is None or token > highest
        rows.append({"client": who, "token": token, "accepted": ok,
                     "why": "first write" if highest is None else
                     f"{token} {'>' if ok else '<=' } {highest}, the highest accepted"})
        if ok:
            highest = token
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class QueueFailover:
    """``frame``: one row per order: where it was before the failover, whether the promoted replica still had
    it, and how often a plain and an idempotent close ran; then the orders the chapter quotes:
    ``lost_without_resend``, ``closed_twice`` (by a plain close) and ``never_closed``."""

    frame: pd.DataFrame
    lost_without_resend: list[str]
    closed_twice: list[str]
    never_closed: list[str]

    def __repr__(self) -> str:
        return (f"<QueueFailover lost_without_resend={self.lost_without_resend} closed_twice={self.closed_twice} "
                f"never_closed={self.never_closed}>")


def queue_failover(timeout: float = 30.0) -> QueueFailover:
    """The course's :class:`~hcedu.patterns.delayqueue.DelayQueue` on a primary + replica + Sentinel.

    Before the failover: o1-o4 are put and confirmed with ``WAIT 1`` (on the replica); a worker claims o1
    and acks it. Then, with the replica cut off (:func:`hcedu.lab.failover.unreplicated`): the producer puts
    o5 and o6 (``WAIT`` says 0 replicas, so it keeps them in its outbox); a worker claims o2, closes it and
    acks. The primary dies; the replica is promoted. On the new primary the producer re-sends its outbox,
    and workers drain the queue, closing each order with a plain close (counted every time) and an
    idempotent one (``UPDATE ... WHERE status='UNPAID'``: counted once)."""
    from ..backend import Keyspace
    from ..clock import VirtualClock
    from ..patterns.delayqueue import DelayQueue
    from .failover import unreplicated

    orders = [f"o{i}" for i in range(1, 7)]
    state = {o: "" for o in orders}
    plain = {o: 0 for o in orders}
    closed: set[str] = set()
    outbox: list[str] = []

    def close(order: str) -> None:
        plain[order] += 1
        closed.add(order)            # the conditional UPDATE: a second close changes nothing

    def put(q: DelayQueue, client: redis.Redis, order: str, wait_ms: int) -> None:
        q.put(order, 0)
        if int(client.execute_command("WAIT", 1, wait_ms)) < 1:
            outbox.append(order)     # not confirmed on a replica: keep it to re-send

    def drain(q: DelayQueue) -> None:
        while batch := q.claim(now=1, limit=10):
            for order in batch:
                close(order)
                q.ack(order)

    with sentinel_trio(timeout=timeout) as trio:
        a = trio.primary.client(socket_timeout=2, decode_responses=True)
        q = DelayQueue("orders", client=a, keyspace=Keyspace("ch17", a), clock=VirtualClock())
        for o in orders[:4]:
            put(q, a, o, 1500)       # the replica is up: WAIT returns as soon as it has it (< socket_timeout)
        for o in q.claim(now=1, limit=1):
            close(o)
            q.ack(o)
        # o1's claim and ack must be on the replica before it is cut off (a busy machine can lag > 1 s)
        if not poll_until(lambda: int(a.execute_command("WAIT", 1, 1000)) >= 1, timeout, interval=0, clock=REAL):
            raise TimeoutError(f"the replica did not acknowledge o1's claim and ack within {timeout:g} s")
        state.update({o: "closed, replicated" if o in closed else "waiting, replicated" for o in orders[:4]})
        with unreplicated(trio, a, timeout=timeout):
            for o in orders[4:]:
                put(q, a, o, 100)    # the replica is cut off: WAIT times out with 0
                state[o] = "waiting, NOT replicated"
            for o in q.claim(now=1, limit=1):
                close(o)
                q.ack(o)
                state[o] = "closed, claim+ack NOT replicated"
        a.close()
        b = trio.replica.client(socket_timeout=2, decode_responses=True)
        q2 = DelayQueue("orders", client=b, keyspace=Keyspace("ch17", b), clock=VirtualClock())
        on_replica = {o: q2.due_at(o) is not None for o in orders}
        resent = list(outbox)
        for o in resent:
            q2.put(o, 0)
        drain(q2)
        b.close()
    frame = pd.DataFrame({"before failover": state,
                          "on the promoted replica": {o: "waiting" if on_replica[o] else "—" for o in orders},
                          "re-sent from the outbox": {o: o in resent for o in orders},
                          "plain closes": plain,
                          "idempotent closes": {o: int(o in closed) for o in orders}}).rename_axis("order")
    return QueueFailover(frame,
                         lost_without_resend=sorted(o for o in orders if state[o].startswith("waiting, NOT")
                                                    and not on_replica[o]),
                         closed_twice=sorted(o for o in orders if plain[o] > 1),
                         never_closed=sorted(o for o in orders if o not in closed))
