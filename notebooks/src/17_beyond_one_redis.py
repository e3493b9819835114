# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # 17 · Beyond one Redis: a real cluster, and a failover that breaks a lock
#
# > *Your lock works on one Redis. Production runs Redis Cluster, or a primary with replicas behind
# > Sentinel. Why does your Lua script fail with `CROSSSLOT`? How do you shard a hot key? And what happens
# > to your lock when the primary fails over?*
#
# Every chapter so far ran on one Redis server. The systems the source describes (flash sales, sessions
# across nodes, distributed locks) run on several, and the questions that separate a senior answer from a
# junior one live exactly there. This chapter starts the real thing on loopback, from the
# `redis-server` binary the course already uses: a **Redis Cluster** of three primaries and three replicas
# (`hcedu.lab.redis_cluster.local_cluster()`), and a **primary + replica + Sentinel** trio
# (`sentinel_trio()`). Every cell that starts one stops it before the cell ends, also on error.
#
# A strong answer covers: keys of one script or transaction must share a **slot** (hash tags), and putting
# too much behind one tag makes a **hot slot**; a hot key is split into **shards** on different primaries;
# replication is **asynchronous**, so a failover can lose an acknowledged write (a lock: two holders);
# `WAIT` narrows that window but is not consensus; **fencing tokens** checked by the resource, or a
# **consensus store**, are what make mutual exclusion safe; a queue survives a failover with
# **at-least-once** delivery (re-send what was not confirmed, make the consumer idempotent).

# %% tags=["nbval-ignore-output"]
# (what it prints depends on whether redis-server is installed)
from hcedu.course import setup, finish, drill
from hcedu.lab import redis_cluster, clusterlab
from hcedu.lab.redis_cluster import local_cluster

setup("17", redis=False)   # seeds, plot defaults; the servers below are started by the cells that use them
HAVE_REDIS = redis_cluster.available()
print("redis-server and redis-cli found: the cells below start real servers on 127.0.0.1" if HAVE_REDIS
      else redis_cluster.NOT_INSTALLED + ": the cells below print this instead of running")

# %% [markdown]
# Without the binaries (fakeredis, the embedded Redis of the other chapters, has no cluster mode) every cell
# still runs and says how to get them: `apt-get install redis-server` on Debian/Ubuntu (it brings
# `redis-cli`), `brew install redis` on macOS. The cells that start servers are measured cells: their
# output is whatever your machine printed, and they assert only what holds everywhere.
#
# ## CROSSSLOT: a two-key script on a cluster
#
# **Why.** A cluster splits the key space into 16384 **slots**, `CRC16(key) mod 16384`, and each primary
# serves a range of them. A Lua script or a `MULTI` runs on one node, so every key it touches must be in
# one slot; otherwise the node refuses it with `CROSSSLOT`. Chapter 08's lock takes a lock key *and* a
# fencing-token counter in one script, a classic two-key script:

# %%
print(clusterlab.ACQUIRE_LUA.strip())
for key in clusterlab.NAIVE_KEYS + clusterlab.TAGGED_KEYS:
    print(f"{key:22} slot {clusterlab.slot(key):5}   hash tag: {clusterlab.hash_tag(key)!r}")
assert clusterlab.slot("lock:orders") != clusterlab.slot("lock:orders:fence")
assert len({clusterlab.slot(k) for k in clusterlab.TAGGED_KEYS}) == 1
print("slots:", 2 ** 14)

# %% [markdown]
# A **hash tag** is the part of the key between the first `{` and the first `}` after it: when it is not
# empty, only the tag is hashed. `{lock:orders}` and `{lock:orders}:fence` share the tag `lock:orders`,
# so they share a slot. Here is the naive script on a real cluster, three ways: through redis-py's
# cluster client, sent straight to the primary that owns the first key (what the server itself answers),
# and with the hash-tagged keys:

# %% tags=["nbval-ignore-output"]
# measured on a real cluster started (and stopped) by this cell
import pandas as pd
pd.set_option("display.max_colwidth", 60)

if HAVE_REDIS:
    with local_cluster() as cluster:          # 3 primaries + 3 replicas on free loopback ports
        slots = clusterlab.primaries(cluster)
        crossslot = clusterlab.crossslot(cluster)
        # one cluster start (several seconds) also serves the next two sections:
        spread = clusterlab.tag_spread(cluster)
        load = clusterlab.hot_key(cluster, units=600, buyers=6)
        shards = clusterlab.shard_keys(cluster, "stock:sku7")
        with cluster.client() as rc:
            for key, units in zip(shards, (900, 100, 0)):   # sticky buyers drained two shards
                rc.set(key, units)                          # (MSET would be CROSSSLOT: three slots)
            after = clusterlab.rebalance(rc, shards)
    assert list(crossslot["outcome"]) == ["refused by the client", "refused by the server", "ran"]
    assert crossslot["reply"].iloc[1].startswith("ClusterCrossSlotError")
    print(slots.to_string(), end="\n\n")
    display(crossslot)
else:
    print(redis_cluster.NOT_INSTALLED)

# %% [markdown]
# redis-py refuses the naive script before sending it (it computes the slots itself); a client that sends
# it anyway gets the server's `-CROSSSLOT Keys in request don't hash to the same slot` (redis-py turns the
# `CROSSSLOT` code into `ClusterCrossSlotError`). The hash-tagged keys run, and return fencing token 1.
#
# **Takeaway:** on a cluster, every key of one script or transaction must carry the same hash tag, derived
# from what the keys belong to (here: the lock's name).
#
# **Interview angle:** "why does your Lua script fail with CROSSSLOT on the cluster?" — the keys hash to
# different slots; put them behind one `{tag}`, and never build a key inside Lua from anything but `KEYS`
# (the client routes by `KEYS`; a key built in the script is invisible to it).
#
# ## Too much behind one tag: a hot slot
#
# **Why.** The easy fix for CROSSSLOT is one tag for everything (`{app}:…`). Then every key lives in one
# slot, and a slot is the cluster's smallest unit: it is served by one primary and is moved whole when the
# cluster is resharded. The cluster cell above also wrote 999 session keys both ways and counted the keys on each
# primary (`DBSIZE`):

# %% tags=["nbval-ignore-output"]
if HAVE_REDIS:
    one_tag, per_user = spread.columns
    assert spread[one_tag].max() == spread[one_tag].sum() == 999          # all on one primary
    assert spread[per_user].min() > 999 / 3 * 0.8                        # about a third each
    display(spread)
else:
    print(redis_cluster.NOT_INSTALLED)

# %% [markdown]
# **Takeaway:** a tag is a sharding key: give it the granularity of what must be atomic (one user, one
# lock, one order), never the whole application, or one primary holds and serves everything.
#
# **Interview angle:** "can't I just put everything in one hash tag?" — then the cluster is one server
# with extra steps: no resharding can split a slot, and that primary's memory and CPU are the limit.
# `CLUSTER COUNTKEYSINSLOT` and `redis-cli --hotkeys` (with an LFU `maxmemory-policy`) find such slots.
#
# ## Hot key: a flash-sale stock on one slot vs sharded
#
# **Why.** Even with good tags, one *key* can be hot: every buyer of a flash sale decrements the same
# stock. One key is one slot, is one primary, whatever the cluster's size. The fix is to split the stock
# into shards on different primaries (`{stock:sku42:0}`, `{stock:sku42:1}`, …, each shard its own tag), sell
# from a random shard and try the next one when it is empty. The cluster cell above sold 600 units with 6
# concurrent buyers both ways and counted the sell scripts each primary ran (`INFO commandstats`):

# %% tags=["nbval-ignore-output"]
# measured by the CROSSSLOT cell; numbers vary by machine; on one machine the three primaries share its cores
if HAVE_REDIS:
    assert (load["sold"] == 600).all() and (load["left"] == 0).all()    # no oversell, no undersell
    assert load.loc["one key", "share"].max() == 1.0                     # one primary did all the work
    assert load.loc["3 shards", "share"].min() > 0.2                     # every primary took its part
    assert sum(after.values()) == 1000 and max(after.values()) - min(after.values()) <= 1
    print("after rebalance:", after)
    fig = clusterlab.chart_hot_key(load)
    display(load)
else:
    print(redis_cluster.NOT_INSTALLED)

# %% [markdown]
# **Takeaway:** one stock key puts the whole sale on one primary; sharded, every primary takes about a
# third of the scripts — on separate machines that is the throughput you add. Here the three primaries
# share one machine's cores, so the total depends on this machine, not on the cluster: the cell prints
# `ops/s` per primary and asserts the shares, not a speed-up.
#
# The price of shards: "sold out" is now a sweep over every shard, the last units can sit in one shard
# while buyers hit empty ones (so `rebalance` moves stock from the fullest shard to the emptiest), and a
# move spans two slots, so it cannot be one script: it *takes* first and *gives* after. A crash between
# the two steps undersells a few units; it never oversells.
#
# **Interview angle:** "how do you shard a hot key?" — N shard keys, each its own tag so they land on
# different primaries; route by random or by user; handle empty shards (try others, rebalance); the total
# is a sum over shards, so read it rarely. Local caching in front of the hot key (chapter 12) is the other
# half of the answer for hot *reads*.
#
# ## Failover loses a lock
#
# **Why.** A primary acknowledges a write before its replicas have it: replication is asynchronous. If the
# primary dies in that window and Sentinel promotes a replica, the write is gone, and for a lock that
# means a second client can acquire it while the first still believes it holds it.
#
# `lock_failover()` makes this happen every time, not by luck: on a fresh primary + replica + Sentinel it
# pauses the replica (`SIGSTOP`) and has the primary drop the replication link, then client A runs
# `SET lock:orders <token> NX PX 30000` on the primary (OK), the primary is killed (`SIGKILL`), the replica
# resumed, Sentinel promotes it, and client B runs the same `SET NX` on the new primary:

# %% tags=["nbval-ignore-output"]
# real processes started and stopped inside lock_failover(); the times vary by machine
from concurrent.futures import ThreadPoolExecutor
from hcedu.lab.failover import chart_failover, lock_failover

if HAVE_REDIS:
    # Sentinel takes ~3 s per failover, mostly waiting: the two failovers of the sections below (WAIT, the
    # delay queue) start now, each on its own primary + replica + Sentinel, and their cells collect them
    ahead = ThreadPoolExecutor(2, thread_name_prefix="hcedu-failover")
    waited_run = ahead.submit(lock_failover, wait=True, wait_timeout_ms=200)
    queue_run = ahead.submit(clusterlab.queue_failover)
    ahead.shutdown(wait=False)
    lost = lock_failover()
    assert lost.holders == ("A", "B")            # two clients hold the same lock
    print("holders after failover:", lost.holders, "| the lock now holds", lost.lock_value_after)
    fig = chart_failover(lost)
    display(lost.frame[["t", "actor", "event", "detail"]])
else:
    print(redis_cluster.NOT_INSTALLED)

# %% [markdown]
# **Takeaway:** with asynchronous replication a lock acquired on the primary can vanish in a failover, and
# then two clients hold it: no TTL, token or Lua script on a single primary prevents that.
#
# **Interview angle:** "what happens to your Redis lock when the primary fails over?" — the lock can be
# lost and granted again; say so before the interviewer does, then give the mitigations below and their
# limits.
#
# ## WAIT, and why it is not consensus
#
# **Why.** `WAIT numreplicas timeout` blocks until that many replicas acknowledged this connection's
# writes, and returns how many did. A client that asks `WAIT 1 200` after acquiring, and gives the lock up
# when the answer is 0, never *uses* a lock that only the primary knew about:

# %% tags=["nbval-ignore-output"]
if HAVE_REDIS:
    waited = waited_run.result()                 # lock_failover(wait=True, wait_timeout_ms=200), started above
    assert waited.holders == ("B",)              # A saw 0 acknowledgements and gave up
    print("holders after failover:", waited.holders)
    fig = chart_failover(waited)
    display(waited.frame[["actor", "event", "detail"]])
else:
    print(redis_cluster.NOT_INSTALLED)

# %% [markdown]
# Only one holder here. But the Redis docs say it plainly: `WAIT` "does not make Redis a strongly
# consistent store". It reports what the replicas had when it returned; it does not roll the write back
# on the primary when the answer is 0 (the lock key stays there until its TTL, or until a failover loses
# it); a failover may still promote a replica that missed a write `WAIT` counted on *another* replica
# (Sentinel picks by replica priority, then replication offset, not by who acknowledged your write); and a replica can acknowledge and then lose the write on restart without persistence
# (`WAITAOF`, Redis 7.2+, waits for the fsync as well).
#
# **Takeaway:** `WAIT` turns "the lock may silently vanish" into "I know when it is at risk"; it narrows the
# window, it does not close it.
#
# **Interview angle:** "then use WAIT?" — it helps and it is what you do on Redis, but it is not
# agreement: say what it guarantees (the count, when it returned) and what it does not (rollback, which
# replica is promoted).
#
# ## Fencing tokens, Redlock and consensus stores
#
# **Why.** Even a lock service that never loses a lock cannot stop a holder that *thinks* it still holds it
# (a GC pause, a slow network) from writing after its lease expired. The fix is on the resource's side: each
# acquisition gets a **fencing token** that only grows, every write carries it, and the resource rejects a
# token not greater than the highest it has accepted:

# %%
fenced = clusterlab.fenced_writes([("A", 33), ("B", 34), ("A", 33)])   # A's last write comes after its pause
assert list(fenced["accepted"]) == [True, True, False]
fenced

# %% [markdown]
# A wakes up after its pause and writes with token 33: rejected, because B already wrote with 34. The token
# must come from a counter that never goes back — and a counter on the Redis that just failed over *can*
# go back: the `INCR` that gave A its token can be lost exactly like A's lock in the failover above, so B
# receives the same number again:

# %%
after_failover = clusterlab.fenced_writes([("A", 34), ("B", 34)])   # both got 34: A's INCR was lost
assert list(after_failover["accepted"]) == [True, False]
after_failover

# %% [markdown]
# The resource can only reject the tie (accepting it would let both write), and so it rejects B, the
# legitimate holder: fencing needs a counter in a store with consensus.
#
# * **Redlock** (Redis docs, "Distributed Locks with Redis") acquires the lock on a majority of N
#   independent primaries (N = 5 in the docs), within a time bound. It survives the failover above (one
#   node's loss is not a majority) but, as Martin Kleppmann argued ("How to do distributed locking", 2016),
#   it relies on bounded clock drift, network delay and process pauses, and it produces no fencing token;
#   Salvatore Sanfilippo's reply ("Is Redlock safe?") defends the timing assumptions. For *efficiency*
#   (avoid doing work twice, rarely) one Redis with a TTL is enough; for *correctness* use fencing.
# * **Consensus stores** (etcd, ZooKeeper, Consul) replicate a write to a majority before acknowledging it
#   (Raft, ZAB), so a failover cannot lose an acknowledged lock, and they give monotonic numbers to fence
#   with (etcd's revision of the lock key, ZooKeeper's zxid or sequential znode number). Chapter 08 runs
#   the lock; this chapter measured what breaks it.
#
# **Takeaway:** a lock is safe only together with the resource: fencing tokens from a store that cannot
# lose them, checked on every write.
#
# **Interview angle:** "is Redlock safe?" — safe against one node failing over; not against pauses and
# clock jumps without fencing; name both sides (Kleppmann, antirez) and say when you would use etcd.
#
# ## A delay queue across a failover
#
# **Why.** The same asynchronous replication applies to a queue: an item the primary acknowledged but did
# not replicate is gone after a failover, and a claim or ack that did not replicate is undone, so the item
# comes back. `queue_failover()` runs chapter 11's `DelayQueue` on a primary + replica + Sentinel: o1–o4
# are put and confirmed with `WAIT 1`; o1 is claimed and acked; then, with the replica cut off, o5 and o6
# are put (`WAIT` answers 0, so the producer keeps them in an outbox) and o2 is claimed, closed and acked;
# the primary dies. On the promoted replica the producer re-sends its outbox and workers drain the queue:

# %% tags=["nbval-ignore-output"]
if HAVE_REDIS:
    dq = queue_run.result()                          # clusterlab.queue_failover(), started with the lock failover
    assert dq.lost_without_resend == ["o5", "o6"]    # put, acknowledged, gone
    assert dq.closed_twice == ["o2"]                 # its claim+ack were undone (closed twice by a plain close)
    assert dq.never_closed == []                     # the outbox re-send gave them back
    display(dq.frame)
else:
    print(redis_cluster.NOT_INSTALLED)

# %% [markdown]
# o5 and o6 were acknowledged by the primary and are missing on the replica: without the re-send they are
# never closed. o2's claim and ack were undone, so it was delivered again: a plain close runs twice, the
# idempotent `UPDATE orders SET status='CLOSED' WHERE id=? AND status='UNPAID'` once. Streams behave the
# same way (an `XADD` or `XACK` that did not replicate is lost; pending entries come back via
# `XAUTOCLAIM`).
#
# **Takeaway:** across a failover a Redis queue is at-least-once at best: the producer re-sends what was not
# confirmed (or the database scan of chapter 11 finds it), and the consumer must be idempotent.
#
# **Interview angle:** "can your delay queue lose orders?" — yes, on failover; the orders table stays the
# source of truth, the producer confirms with `WAIT` and re-sends, a slow scan is the safety net, and
# duplicates are absorbed by an idempotent close.
#
# ## Source check
#
# * The source's locks, queues and stock scripts run on one Redis; it never mentions replication, Sentinel,
#   Redis Cluster or Redlock. Every one of them changes on a cluster (hash tags) and under failover (this
#   chapter's measurements).
# * Its flash-sale stock is one key: on a cluster that is one primary for the whole sale.
#
# ## Exercise
#
# `exercises/17_hash_slots.ipynb`: compute a key's cluster slot (hash-tag rule included) and make a lock's
# two keys cluster-safe without putting every lock in one slot. The checker compares your slots with the
# cluster's on edge cases (`{}`, `{{a}}`, `a{b}{c}`, non-ASCII keys) and rejects a tag shared by every lock.
#
# ## Interview drill

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
drill("17")

# %% [markdown]
# ## What a strong answer says
#
# "On Redis Cluster every key of a script or `MULTI` must be in one slot, so I derive one hash tag from
# what must be atomic — `{lock:orders}` and `{lock:orders}:fence` — and never one tag for the whole app,
# which makes a hot slot. A hot key like a flash-sale stock I split into shards on different primaries,
# with a fallback sweep and rebalancing that takes before it gives. Replication is asynchronous: a failover
# can lose an acknowledged lock and hand it to a second client — I have seen it happen on two local
# processes. `WAIT` tells me when a write is at risk but is not consensus; correctness needs fencing
# tokens checked by the resource, from a store that cannot lose them (etcd, ZooKeeper). Redlock survives a
# single node's failover but relies on timing and gives no fencing token. Queues across a failover are
# at-least-once: re-send unconfirmed items, close idempotently, keep the database as the source of truth."

# %%
finish()
