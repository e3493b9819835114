# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # 15 · Keeping a cache consistent with its database
#
# > **分布式环境下Go服务的缓存一致性保障策略** — 当多个服务实例同时访问共享缓存(如Redis)时,若未妥善处理
# > 更新逻辑,极易引发脏读或数据不一致。
# >
# > *Several instances of a Go service share one Redis cache in front of one database. How do you keep the
# > cache consistent with the database when data is updated? Compare the strategies.*
#
# A strong answer covers: why you **delete** rather than update the cache on a write; the order of the two
# steps and the **stale-set race** that remains in the best order (a slow reader puts the old value back
# after your DEL — stale until TTL); what delayed double delete buys and why its delay is a guess;
# write-through and write-behind and what each really costs; binlog/CDC invalidation; how **leases** or a
# **version-checked SET** close the race; why a TTL is always the backstop; and what "strong consistency"
# would actually take (none of these give it).

# %%
import pandas as pd

from hcedu.course import setup, finish, drill
from hcedu.clock import VirtualClock
from hcedu.lab import interleave as il
from hcedu.patterns.consistency import CacheAside, CacheStrategy, VersionedDB, STRATEGIES

ks = setup("15")

# %% [markdown]
# ## Build it: each strategy as a sequence of steps
#
# Every strategy in `hcedu.patterns.consistency` talks to a real Redis (the embedded one unless `REDIS_URL` is
# set) and to `VersionedDB`, a small in-memory table whose rows carry a version (1, 2, 3, ...) and whose
# reads can go to a replica that lags. Cache entries are `"<version>|<value>"` with a TTL, so we can always
# tell whether the cache is **stale**: it holds an older version than the database.
#
# The trick that makes races reproducible: each operation is a *generator* that announces the next DB or
# cache step **before** doing it. `read()`/`write()` run it to the end (calling an optional `hook(step)`
# before each action — a test pauses a real thread there); the lab's scheduler instead decides, step by step,
# which reader or writer moves next. Here is the usual advice, cache-aside — write the database, then delete
# the cache entry; readers fill it on a miss:

# %%
import inspect

print(inspect.getsource(CacheAside.write_steps))
print(inspect.getsource(CacheStrategy.read_steps))

# %% [markdown]
# Used plainly it just works; the hook shows the steps as they happen:

# %%
db = VersionedDB(VirtualClock())
db.write("item:1", "price=10")
cache = CacheAside(db, ks.client, keyspace=ks, ttl=60, hook=lambda step: print("  ", step))
print("read  ->", cache.read("item:1"))
print("read  ->", cache.read("item:1"), "(hit)")
print("write ->", "version", cache.write("item:1", "price=12"))
print("read  ->", cache.read("item:1"), "| cached:", cache.cached("item:1"))

# %% [markdown]
# Why **delete** and not update the cache on a write? Deleting is idempotent and lazy (the next reader loads
# whatever the DB holds, and keys nobody reads are not recomputed); updating needs the writer to build the
# cache value, and two writers' SETs can land in the opposite order to their DB commits (Break it 2).
#
# ## Watch it: the stale-set race, step by step
#
# One reader and one writer, and an unlucky order: the reader misses and reads the **old** row; the writer
# commits the new row and deletes the cache entry; *then* the reader's SET lands — the old value, with a fresh
# TTL. Every later read is stale until that TTL expires. The schedule is a list of who moves next:

# %%
print("schedule:", il.STALE_SET)
race = il.run("cache-aside", il.STALE_SET, keyspace=ks)
race.frame

# %%
fig = il.chart_timeline(race, "Cache-aside: the reader's SET lands after the writer's DEL")

# %% [markdown]
# **Takeaway:** nothing failed and nothing was retried, yet the cache now holds version 1 while the database
# holds version 2 — and it will until the 60 s TTL expires. No lock on either side prevents it: the DB and the
# cache are two systems, and the reader's read and SET are two steps.
#
# Is that one schedule a corner case? Run **every** schedule of one reader and one writer (each replayed from
# scratch on the real Redis) for each strategy:

# %%
every = il.compare(("r1", "w1"), keyspace=ks)
ends_stale = (every["final_stale_rate"] * every["schedules"]).round().astype(int)
assert every.loc["cache-aside", "schedules"] == 10 and ends_stale["cache-aside"] == 1
assert ends_stale["delete-then-write"] == 6
assert ends_stale["versioned set"] == 0 and ends_stale["lease"] == 0
print("schedules ending stale:", ends_stale.to_dict())
every

# %% [markdown]
# Cache-aside goes stale in exactly one of the 10 orders — the one above. Delete-then-write is stale in 6:
# any read between its DEL and its DB write refills the old row. Delayed double delete is stale only when the
# reader read before the DB write **and** its SET lands after the second DEL. Write-behind goes stale when a
# reader misses before the flusher has written the DB (the reader loads the old row over the new entry).
# CDC (the app only writes the DB; a binlog consumer, here the `cdc` actor, DELs) has the same race as
# cache-aside, with the consumer's DEL in place of the writer's. The version-checked SET and leases are
# never left stale.
#
# With more actors the schedule count explodes: the number of orders of actors with s₁, s₂, … steps is the
# multinomial (s₁ + s₂ + …)! / (s₁! s₂! …). So below we sample 120 seeded random schedules of two readers
# and two writers:

# %%
from math import factorial, prod

def orders(*steps):
    return factorial(sum(steps)) // prod(factorial(k) for k in steps)

print(f"reader (3 steps) + writer (2) + reader (3): {orders(3, 2, 3):,} orders; with the double delete's "
      f"4-step writer: {orders(3, 4, 3):,}; two readers + two writers: {orders(3, 3, 2, 2):,}")
sampled = il.compare(("r1", "r2", "w1", "w2"), sample=120, seed=0, keyspace=ks)
# what the text below says of this sample (seeded, so fixed): every strategy serves some stale reads,
# write-through the most and the versioned set next, and only the versioned set and leases never end stale
assert (sampled["stale_read_rate"] > 0).all()
assert list(sampled["stale_read_rate"].nlargest(2).index) == ["write-through", "versioned set"]
assert (sampled.loc[["versioned set", "lease"], "final_stale_rate"] == 0).all()
assert (sampled.drop(["versioned set", "lease"])["final_stale_rate"] > 0).all()
sampled

# %%
fig = il.chart_compare(sampled, "120 random schedules of 2 readers + 2 writers")

# %% [markdown]
# **Takeaway:** every strategy serves *some* stale reads — a read that starts after a commit and hits the
# cache before the writer's DEL or SET is stale for a step or two (the longest window column), and only
# something like linearizable reads can remove that — but only the version-checked SET and leases never
# leave a stale entry behind; the others can stay stale for the full TTL (the log-scale bars: 60 s).
#
# Why does the versioned set, which never ends stale, have the **second-highest stale-read rate**, after
# write-through? Because its writers **SET instead of deleting** (a DEL would erase the version the check
# compares against). A DEL installs nothing: after it, readers miss and load the newest row. A SET installs
# the version *that writer* committed — and with two writers, `w1`'s SET can arrive after `w2` already
# committed a newer one. The check accepts it (it is newer than what is cached), so the cache holds a
# version that was stale on arrival until `w2`'s SET lands. Write-through has the same window, without the
# check (so it can also end stale). One such schedule, on strategies that SET and that DEL:

# %%
window = ["w1", "w2", "w1", "r1", "w2"]   # w1 commits v2, w2 commits v3, w1's SET v2 lands, r1 reads, w2's SET
rows = []
for name in ("versioned set", "write-through", "cache-aside", "lease"):
    o = il.run(name, window, warm=True, keyspace=ks)
    rows.append({"strategy": name, "r1 read version": o.reads[0]["version"],
                 "newest at its start": o.reads[0]["expected"], "stale read": o.stale_reads == 1,
                 "ends stale": o.final_stale})
superseded = pd.DataFrame(rows).set_index("strategy")
assert superseded["stale read"].tolist() == [True, True, False, False]
superseded

# %% [markdown]
# **Takeaway:** the versioned SET bounds staleness to the moment between two writers' SETs; it does not
# make reads linearizable. The strategies that delete send those readers to the database instead.
#
# ## Break it 1: the 500 ms delayed double delete
#
# The source's fix is "先删缓存→更新数据库→延迟再删" with `time.AfterFunc(500*time.Millisecond, ...)`. The
# second DEL removes what a concurrent reader put back — **if** that reader's SET happened within 500 ms. Two
# everyday things outlast it: a reader that stalls between its DB read and its SET (a GC pause, a slow
# network, a retry), and a read replica that lags the primary, so a reader after the second DEL still loads
# the old row. In the runs below the writer starts at t = 0, 30 readers arrive 50 ms apart and read a replica
# lagging by the given amount:

# %%
lags = (0.0, 0.25, 0.45, 0.6, 0.75, 1.05, 1.25)
sweep = il.delay_sweep((0.5, 1.0), replica_lags=lags, readers=30, spacing=0.05, keyspace=ks)
sweep.pivot(index="replica_lag", columns="delay", values="final_stale")

# %%
fig = il.chart_delay(sweep)

# %% [markdown]
# **Takeaway:** the double delete works while the replica lag stays under the delay (the stale window is the
# delay itself: whatever a reader put back lives until the second DEL) and fails the moment the lag exceeds it
# — then the entry is stale until TTL. Raising the delay moves the cliff, and lengthens the window everyone
# pays on every write. A slow reader does the same without any replica:

# %%
slow = il.delay_sweep((0.5,), reader_pauses=(0.1, 0.3, 0.45, 0.6, 0.8), keyspace=ks)
slow[["reader_pause", "final_stale", "max_window_s"]]

# %% [markdown]
# Turn the two knobs yourself (each point is one simulated run on the real cache):

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
from ipywidgets import FloatSlider, interact

@interact(delay=FloatSlider(value=0.5, min=0.1, max=2.0, step=0.1),
          replica_lag=FloatSlider(value=0.8, min=0.0, max=2.0, step=0.05))
def knobs(delay, replica_lag):
    row = il.delay_sweep((delay,), replica_lags=(replica_lag,), keyspace=ks).iloc[0]
    verdict = "STALE until TTL" if row.final_stale else "clean after the 2nd DEL"
    print(f"delay {delay:.2f} s, replica lag {replica_lag:.2f} s: {row.stale_reads} stale reads, {verdict}")


# %% [markdown]
# ## Break it 2: write-through, two writers, out of order
#
# Write-through (write the DB, then SET the new value) is the source's "强一致性" row. Two writers commit in
# one order and their SETs land in the other:

# %%
ooo = il.run("write-through", ["w1", "w2", "w2", "w1"], keyspace=ks)
print(f"database version {ooo.final_truth}, cached version {ooo.final_cache}, stale until TTL: {ooo.final_stale}")
fig = il.chart_timeline(ooo, "Write-through: w2 commits last, w1's SET lands last")

# %% [markdown]
# **Takeaway:** the database says version 3, the cache says version 2, until TTL. Write-through is not strong
# consistency under concurrent writers — the SET order is whatever the network and scheduler make it. (It also
# has the stale-set race on a miss, like cache-aside.)
#
# ## Break it 3: write-behind loses acknowledged writes
#
# Write-behind SETs the cache, queues the DB write and returns at once; a flusher applies the queue later. Fast,
# until the process dies with writes in its queue:

# %%
crash = il.run("write-behind", ["w1", "w1", "crash", "flush"], keyspace=ks)
print(f"acknowledged version {crash.final_truth}, database version {crash.db_version}, "
      f"lost writes: {crash.lost_writes}")
print("the cache still shows version", crash.final_cache, "until its TTL; then readers load the old row, forever")

# %% [markdown]
# ## Not a simulation artefact: real threads, real Redis
#
# The same strategy code, two strategy instances (two service instances) sharing the database and the cache,
# two real threads. A hook parks one thread at the exact step (`threading.Event`, bounded waits) while the
# other runs — the canonical race of each strategy:

# %%
pd.DataFrame(il.SCENARIOS.items(), columns=["scenario", "what happens"]).set_index("scenario")

# %%
real = il.threaded_check(keyspace=ks)
assert real["stale"].tolist() == [True] * 7 + [False] * 4 and real["lost_writes"].sum() == 1
real

# %% [markdown]
# **Takeaway:** on real threads and the real Redis protocol the first seven end stale (or lose a write) exactly
# as simulated; the CDC consumer retries the failed DEL, and the version check and the lease refuse the late
# SET.
#
# ## Fix it: version-checked SET, leases, CDC — and always a TTL
#
# * **Version-checked SET** — every SET, the writer's and a reader's fill, is one Lua script that installs the
#   value only if its version is newer than the cached one (the version comes from the row: an `updated_at`,
#   a version column, the binlog position). The slow reader's old value and the out-of-order writer are both
#   refused:

# %%
from hcedu.patterns.consistency import VERSIONED_SET_LUA, LEASE_GET_LUA, LEASE_SET_LUA

print(VERSIONED_SET_LUA.strip())

# %% [markdown]
# * **Leases** (Facebook memcache, NSDI'13 §3.2.1) — a miss gets a token bound to the key; the writer's DEL
#   also deletes the token; the fill is accepted only with a live token. A second reader that misses while
#   a lease is out is told to wait, which also tames the thundering herd on a hot key:

# %%
print(LEASE_GET_LUA.strip(), "\n---", LEASE_SET_LUA.strip(), sep="\n")
fig = il.chart_timeline(il.run("lease", il.STALE_SET, keyspace=ks), "Lease: the writer's DEL voids the reader's token")

# %% [markdown]
# **Takeaway:** the reader's SET arrives with a token the writer already deleted, so it is refused; the next
# reader takes a new lease and loads the new row.
#
# Leases alone are not enough behind a lagging replica: the reader that takes the *new* lease can still load
# the old row from the replica (Facebook adds "remote markers" for that). The version check does not care
# where the stale value came from:

# %%
names = [f"r{i}" for i in range(1, 31)] + ["w1"]
starts = {f"r{i}": (i - 1) * 0.05 for i in range(2, 31)}
pd.DataFrame([{"strategy": s, "final_stale": o.final_stale, "stale_reads": o.stale_reads}
              for s in ("delayed double delete", "lease", "versioned set")
              for o in [il.run(s, None, actors=names, replica_lag=0.8, starts=starts, keyspace=ks)]]
             ).set_index("strategy")

# %% [markdown]
# * **CDC / binlog invalidation** (Canal, Debezium; Facebook's McSqueal) — a consumer tails the database's
#   change log and DELs the keys it touched, with retries, so a crashed app server or a failed DEL can't skip
#   an invalidation. It is stale for the pipeline lag, needs per-key ordering, and still has the stale-set race
#   unless the fill is version-checked or leased. Invalidations must reach every cache (broadcast, not
#   competing consumers), which is what the source's Kafka diagram gets right. What it fixes is the *lost*
#   invalidation — from the real-thread table above:
# * **A TTL on every entry**, always: it bounds every failure above (a lost DEL, a crash, a bug) to one TTL.

# %%
real.set_index(["strategy", "scenario"]).loc[
    [("cache-aside", "failed-del"), ("cdc", "failed-del"), ("cdc", "stale-set")],
    ["cache_version", "newest_version", "stale"]]

# %% [markdown]
# **Takeaway:** when the app's DEL fails, cache-aside is stale until TTL; the CDC consumer keeps its binlog
# position until the DEL succeeds and retries it. The stale-set race is untouched by CDC — that needs the
# conditional fill.
#
# ## Measure it: what each strategy costs per operation
#
# Round trips, not CPU, dominate: every strategy is one Redis call on a hit (a GET, or the lease script);
# writes cost one Redis call (DEL, SET or a script) plus the DB write (CDC: none, its consumer pays) — except the double delete, whose writer blocks for its delay (the source's
# `AfterFunc` frees the caller but the cache goes through the same states). Measured on the current backend
# with the delay set to 0 so it doesn't dominate:

# %% tags=["nbval-ignore-output"]
# measured: numbers vary by machine and backend
import time
from hcedu.patterns.consistency import make

rows = []
for name in STRATEGIES:
    db = VersionedDB(VirtualClock())
    s = make(name, db, ks.client, keyspace=ks, delay=0.0)
    t0 = time.perf_counter()
    for i in range(300):
        s.write(f"m{i % 20}", str(i))
        if name == "cdc":
            s.consume()
        s.read(f"m{i % 20}")
    rows.append({"strategy": name, "write+read pairs/s": round(300 / (time.perf_counter() - t0))})
cost = pd.DataFrame(rows).set_index("strategy")
assert len(cost) == len(STRATEGIES) and (cost["write+read pairs/s"] > 0).all()
cost

# %% [markdown]
# The differences are small next to a network round trip to a real server; the real cost differences are the
# ones the table doesn't show — write-behind's risk, the double delete's blocked writer, and the read
# fall-through to the DB after every invalidation.
#
# ## Source check
#
# * **"Write-Through: 强一致性"** — wrong. Two writers' SETs can land out of order (Break it 2), a reader can
#   still do the stale-set race on a miss, and a DB commit followed by a failed SET leaves them apart. Strong
#   (linearizable) consistency across a DB and a cache needs the cache to be updated in the same atomic commit
#   as the DB, or reads to bypass the cache when they must see the latest — none of the table's rows do that.
# * **"Cache-Aside: 存在短暂不一致"** — not only brief: after the stale-set race the entry is stale until its
#   TTL (Watch it). Fix with a version-checked SET or leases, and keep the TTL as the backstop.
# * **`time.AfterFunc(500*time.Millisecond, ...)`** — the 500 ms is a guess about read + SET + replica lag
#   (Break it 1). The second `redis.Del` ignores its error, so a failed delete goes unnoticed, and the first
#   `redis.Del(key)` result is ignored too. Do the second delete asynchronously **with retries** (or from a
#   CDC consumer), measure replica lag, and keep a TTL.
# * **The Kafka diagram** starts with "服务A更新本地缓存": update the database first, then publish the
#   invalidation — from the binlog (CDC) if you cannot afford to lose it; every instance must consume every
#   message (one consumer group per instance), tolerate loss with a short local TTL, and flush on reconnect.
# * **"Write-Behind: 可能丢数据"** — right, and worse than it sounds: the writes lost were acknowledged
#   (Break it 3). Use it only where losing the last few seconds is acceptable (counters, likes), or make the
#   queue durable (a Redis Stream or a broker), which gives back some of the speed.
#
# ## Exercise
#
# `exercises/15_choose_strategy.ipynb`: write `choose(scenario)`, which picks a strategy for four
# scenarios (concurrent writers, a lagging replica, a write-heavy counter, money). The checker does not compare
# strings: it runs your pick through the interleaving simulator — sampled schedules in which the write-behind
# flusher and the CDC consumer move like any other actor, timed runs, a crash — and reports the schedule in
# which it went stale.
#
# ## Interview drill

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
drill("15")

# %% [markdown]
# ## What a strong answer says
#
# "Cache-aside: write the database, then **delete** the key, and let readers fill it on a miss with a TTL. It
# still has a race: a reader that missed and read the old row can SET it after my DEL, and then it's stale
# until the TTL. Deleting first is worse — any read between the DEL and the commit refills the old value.
# Delayed double delete narrows the window but its delay is a guess: a slow reader or a replica that lags more
# than the delay beats it, and the second delete must be retried, not fire-and-forget. Write-through isn't
# strong consistency — concurrent writers' SETs land out of order; write-behind is fast but loses acknowledged
# writes on a crash. To close the race, make the fill conditional: a Lua SET that only installs a newer
# version, or Facebook-style leases where the DEL invalidates the reader's token. Drive invalidation from the
# binlog (CDC) so it survives app crashes, broadcast it to every cache, and keep a TTL on everything as the
# backstop. If a read truly needs the latest value, read the primary."

# %%
finish(ks)
