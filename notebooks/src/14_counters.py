# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # 14 · Counters under contention
#
# > **高频计数场景下的原子操作与性能瓶颈优化** — 在高并发系统中,高频计数(如页面PV、用户在线数)常成为
# > 性能瓶颈。直接使用锁机制会导致线程阻塞,影响吞吐量。为此,原子操作成为首选方案。
# >
# > *High-frequency counting under high concurrency: atomic operations and removing the bottleneck. Page
# > views and online-user counts are classic hot spots; a lock blocks threads and costs throughput, so
# > atomics are the first choice.*
#
# A strong answer covers: why `count++` is three steps and loses updates; a mutex vs an atomic add (Go:
# `sync/atomic`, one `LOCK XADD` on x86); why even an atomic slows down on many cores (every core fights
# for one cache line) and how striping fixes it (Java's `LongAdder`; in Go, per-shard cells padded to a
# cache line to avoid false sharing); and, since a service runs on many machines, where the count really
# lives: Redis `INCR`, a sharded key for a hot counter, local batching and what a crash then loses.

# %%
from hcedu.course import setup, finish, drill
import inspect
import pandas as pd
from hcedu.clock import VirtualClock
from hcedu.lab import countbench as cb
from hcedu.patterns.counter import NaiveCounter, LockedCounter, AtomicCounter, StripedCounter
from hcedu.patterns.rediscounter import RedisCounter, ShardedRedisCounter, BatchedRedisCounter

ks = setup("14")

# %% [markdown]
# ## Build it: `count++` is three steps
#
# `count++` reads the value, adds one, and writes it back. Two threads that both read 41 both write 42:
# two page views, one counted. `NaiveCounter` writes the three steps out, with a `pause` between the read
# and the write standing for anything that lets another thread run there — a function call, a log line,
# I/O, the OS preempting the thread. The default pause is `time.sleep(0)`, which releases the GIL exactly
# at that point:

# %%
print(inspect.getsource(NaiveCounter.incr))

# %% [markdown]
# **What the GIL does and does not do.** CPython runs one thread's bytecode at a time, so a *single*
# bytecode, or a C function that does not release the GIL, is never interrupted by another Python thread.
# It does **not** make a sequence of bytecodes atomic: `self.value += 1` is a load, an add and a store, and
# the interpreter may switch threads between them. CPython 3.11 happens to check for a switch only at
# calls and backward jumps, so the bare `v = x; x = v + 1` is rarely interrupted and the race hides —
# which is worse than a race that shows. A free-threaded (no-GIL) build, another version, or one call
# between the steps brings it back. Go has no GIL at all: an unsynchronised `n++` from two goroutines is
# a data race on every build, and `go test -race` reports it.
#
# ## Break it: the naive counter loses updates
#
# First, forced: two threads, with a barrier between the read and the write so both read before either
# writes (the interleaving GET, GET, SET, SET). The same for Redis `GET` then `SET`, and for the safe
# versions, a lock and `INCR`:

# %%
cb.lockstep(client=ks.client, keyspace=ks).set_index("counter")

# %% [markdown]
# Every run gives the same answer: the naive counters count one of two increments, the safe ones both.
# Now without forcing anything: 8 real threads × 125 increments on every counter in this chapter.

# %% tags=["nbval-ignore-output"]
# measured: how much the naive counters lose varies run to run; that they lose does not
lost = cb.lost_updates(threads=8, per_thread=125, client=ks.client, keyspace=ks)
assert (lost.set_index("counter").loc[["naive", "naive redis"], "lost"] > 0).all()
assert (lost.set_index("counter").drop(["naive", "naive redis"])["lost"] == 0).all()
lost[["counter", "expected", "value", "lost"]]

# %%
fig = cb.chart_lost(lost)

# %% [markdown]
# **Takeaway:** the read-modify-write counters lose most of their increments as soon as a thread can be
# switched out between the read and the write; every counter built on one atomic step — a lock, a GIL-held
# C call, a Redis command — loses none.
#
# And the bare `v = x; x = v + 1` with no pause between the steps, on this interpreter:

# %% tags=["nbval-ignore-output"]
# CPython 3.11 usually loses nothing here: the race is real but hidden
import sys
bare = NaiveCounter(pause=None)
cb.hammer(bare, 8, 5_000)
print(f"Python {sys.version.split()[0]}: counted {bare.value():,} of 40,000")

# %% [markdown]
# ## The fixes: a lock, an atomic add, stripes
#
# **A lock** (`LockedCounter`, Go `sync.Mutex`) makes the three steps one critical section. An uncontended
# Go mutex is one compare-and-swap; contended, it spins briefly, then parks the goroutine.
#
# **An atomic add.** Python has no hardware atomics. The nearest thing is a C function that finishes
# without releasing the GIL: `AtomicCounter` advances an `itertools.count`, so the read, add and write
# happen inside one C call no Python thread can interrupt. It is atomic *because of the GIL*:

# %%
print(inspect.getsource(AtomicCounter.incr))

# %% [markdown]
# Go's `atomic.Int64.Add(1)` (or `atomic.AddInt64(&n, 1)`) is the real thing: one `LOCK XADD`
# instruction on amd64. On arm64 it is one `LDADDAL` only on CPUs with the LSE atomics (ARMv8.1 and
# later); on older cores it is a load-linked/store-conditional loop (`LDAXR`, add, `STLXR`, retry if
# another core touched the line). Go decides at run time from `internal/cpu`'s `ARM64.HasATOMICS`
# (`runtime/internal/atomic`, and the compiler's intrinsic does the same check), unless the binary is
# built with `GOARM64=v8.1` or later (Go 1.23+), which assumes LSE. No lock, no scheduler — but the cache line
# holding `n` must move to whichever core writes it, so with many cores incrementing one variable, every
# increment waits for that line to arrive. That is the bottleneck the source is talking about.
#
# **Stripes** (`StripedCounter`, Java's `LongAdder`) give each thread its own cell, so writers do not
# share anything; a read sums the cells. `sum_then_reset()` drains them for periodic reporting.
#
# `LongAdder` does not start striped. It grows its cells **lazily, only under contention**
# (`java.util.concurrent.atomic.Striped64`): at first every `add` is a CAS on a single `base` field, as
# with an `AtomicLong`. The first CAS that *fails* (another thread got there first) creates a table of 2
# cells; a thread then CASes the cell its per-thread probe hash picks. When a cell CAS fails too, the
# thread re-hashes its probe to try another cell, and repeated collisions double the table — up to the
# first power of two ≥ the number of CPUs, since more cells than cores cannot reduce contention. So an
# uncontended `LongAdder` costs one word and one CAS, and a contended one ends up with about one cell per
# core. (The hcedu version below has a fixed number of stripes; its cells are Python objects.)

# %%
print(inspect.getsource(StripedCounter.incr))

# %%
s = StripedCounter(stripes=4)
cb.hammer(s, 4, 1_000)
print("cells:", s.cell_values(), "| value:", s.value(), "| sum_then_reset:", s.sum_then_reset(),
      "| after:", s.value())

# %% [markdown]
# In Go there is no `LongAdder` in the standard library; you build it, and the detail that makes or breaks
# it is **false sharing**. CPUs move memory in 64-byte cache lines; eight `int64` cells in an array share
# one line, so two cores writing "their own" cells still fight over the same line and the striped counter
# is no faster than one atomic. Pad each cell to a line (Java's `@Contended` does this for `LongAdder`'s
# cells):
#
# ```go
# type cell struct {
#     n atomic.Int64
#     _ [56]byte // 8 + 56 = 64 bytes: one cell per cache line (or golang.org/x/sys/cpu.CacheLinePad)
# }
#
# type Striped struct{ cells [16]cell }
#
# func (s *Striped) Add(d int64) { s.cells[rand.IntN(len(s.cells))].n.Add(d) } // math/rand/v2: per-thread, lock-free
# func (s *Striped) Sum() (t int64) {
#     for i := range s.cells { t += s.cells[i].n.Load() }
#     return t // not a snapshot: increments racing the loop may or may not be in it
# }
# ```
#
# The counterparts, side by side:

# %%
cb.go_counterparts()

# %% [markdown]
# ## Measure it: throughput vs threads
#
# The same 20,000 increments split over 1, 2, 4 and 8 threads, best of three runs, on each exact
# in-process counter:

# %% tags=["nbval-ignore-output"]
# measured: absolute numbers depend on the machine and its load
tp = cb.throughput(("locked", "atomic", "striped"), threads=(1, 2, 4, 8), ops=20_000, repeat=3)
assert tp["exact"].all(), "every safe counter must count every increment"
rate = tp.pivot(index="threads", columns="counter", values="ops_per_s")
# the GIL's signature, robust to a busy machine: 8 threads never keep more than about one core busy
cores = tp.set_index(["counter", "threads"])["cores_used"]
assert cores.max() < 1.5, f"with the GIL a process runs one thread at a time, yet it used {cores.max():.2f} cores"
print(f"CPU cores this process kept busy, at most: {cores.max():.2f}")
assert rate["striped"].max() < 2 * rate["locked"].max(), "striping should buy nothing under the GIL"
rate.round(-3).astype(int)

# %%
fig = cb.chart_throughput(tp)

# %% [markdown]
# **Takeaway:** in CPython every counter stays flat as threads are added, and the striped one is no faster
# than a single lock — the GIL runs one thread at a time (the process never kept more than one core busy,
# printed above), so there is never more than one writer to spread out.
#
# This is the honest result, and it is the opposite of what `LongAdder` shows on a many-core JVM. Striping
# pays off when many cores write **at the same instant** and the cost is the cache line moving between
# them. CPython never has two threads incrementing at once, its ints are heap objects rather than
# adjacent words, and an uncontended lock is cheap; the striped counter only adds work (find the
# thread's cell, sum on read). In Go on, say, 32 cores, the expected shape is: a single `atomic.Int64`
# flat or falling as cores are added (line ping-pong), a mutex worse still (it also parks goroutines), an
# unpadded striped array no better than the atomic (false sharing), and a padded striped counter scaling
# almost linearly — at the price of a read that touches every cell and is not a snapshot. Measure it with
# `go test -bench . -cpu 1,2,4,8,16,32`; a 2-core machine will not show much.
#
# ## Redis: INCR, a sharded key, local batching
#
# An in-process counter only counts one process. A page-view count across a fleet lives in Redis, where
# `INCR` is atomic because Redis runs one command at a time. The cost is a round trip per increment, and a
# hot key: all of it lands on one key on one node (one CPU core). Three designs, measured on the current
# backend:

# %% tags=["nbval-ignore-output"]
# measured: round trips dominate, so throughput depends on the backend (embedded fakeredis by default)
# a batched run takes ~10 ms, shorter than the time slice a busy machine gives another process: best of 5
rtp = pd.concat([cb.throughput(("redis INCR", "sharded redis"), threads=(1, 2, 4, 8), ops=2_000, keyspace=ks),
                 cb.throughput(("batched redis",), threads=(1, 2, 4, 8), ops=2_000, repeat=5, keyspace=ks)],
                ignore_index=True)
assert rtp["exact"].all()
rrate = rtp.pivot(index="threads", columns="counter", values="ops_per_s")
# batched / plain at the same thread count, the median of the four: one disturbed run cannot decide it.
# (Best against best was not steady: one thread's plain INCR on fakeredis ran 6,900-14,700/s from run to run,
# and the factor 9x-30x; the median came out 17x-30x in 16 runs, 8 of them with a core kept busy.)
gain = (rrate["batched redis"] / rrate["redis INCR"]).median()
assert gain > 8, rrate
print(f"batched / plain INCR at the same thread count, median of 1-8 threads: {gain:.0f}x")
rrate.round(-2).astype(int)

# %%
fig = cb.chart_throughput(rtp, title="Redis counters: increments / s vs threads (measured)", logy=True)

# %% [markdown]
# **Takeaway:** batching wins by about an order of magnitude or more (the factor is printed above; the cell
# asserts at least 8×) because it stops paying a round trip per increment. It saves more round trips
# than that (exact, below): what is left is the client's own work per increment. Sharding does not
# reduce round trips at all.
#
# The round trips behind those numbers are exact, not measured (2,000 increments, batches of 100):

# %%
rtp[rtp["threads"] == 8].set_index("counter")[["ops", "round_trips", "value"]].astype(int)

# %% [markdown]
# What sharding is for: it splits one hot key into `N` keys `cnt:{id}:0 … cnt:{id}:N-1`; an increment
# goes to one of them, a read `MGET`s all and sums:

# %%
sh = ShardedRedisCounter("pv", shards=4, seed=7, keyspace=ks)
sh.reset()
for _ in range(1_000):
    sh.incr()
print("keys:", sh.keys[0], "…", sh.keys[-1])
print("shards:", sh.shard_values(), "| total (one MGET):", sh.value())

# %% [markdown]
# That helps with **Redis Cluster**, where each key lives on one node: spread the shards over nodes and
# the hot counter's load is spread too. But the `{id}` in `cnt:{id}:N` is a *hash tag*: Cluster hashes only
# the part inside the braces, so every shard lands in the **same slot, on the same node** — which is what
# lets one `MGET` read them all, and also means the node stays exactly as hot. To spread load, drop the
# shared tag (`hash_tag=False`) and read shards grouped by node. On a single Redis server sharding buys
# little: the server executes one command at a time whatever the key.
#
# ## Batching: fewer round trips, staler reads, losses on a crash
#
# `BatchedRedisCounter` adds locally and sends one `INCRBY` every `flush_every` increments or every
# `flush_interval` seconds. Here it is on a `VirtualClock`, crashing after 23 increments:

# %%
clock = VirtualClock()
b = BatchedRedisCounter("pv-batched", flush_every=10, flush_interval=1.0, clock=clock, keyspace=ks)
b.reset()
for _ in range(23):
    b.incr()
print("in Redis:", b.value(), "| pending locally:", b.pending, "| round trips:", b.round_trips)
print("crash! lost:", b.crash(), "| in Redis:", b.value())

# %% [markdown]
# A longer run: 250 page views per second for 10 virtual seconds, the process crashing at 7.777 s, for
# several flush settings:

# %%
batch = cb.batching(rate=250, duration=10, crash_at=7.777)
batch.set_index("setting")[["round_trips", "per_1000", "max_lag", "lost_on_crash", "in_redis"]]

# %%
fig = cb.chart_batching(batch)

# %% [markdown]
# **Takeaway:** every 10× fewer round trips costs up to 10× more increments lost on a crash and 10× more
# lag for readers — the loss is bounded by the batch, so choose the batch by how many counts you can
# afford to lose (page views: fine; stock or money: never batch).
#
# Turn the knobs (the chart compares your setting with flushing every increment):

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
cb.dashboard_batching(rate=250)

# %% [markdown]
# ## Online users: not a counter at all
#
# The source's other example, 用户在线数 (users online), is not an `INCR`: a user who opens two tabs or
# refreshes must count once, and a user who closes the laptop never sends "logout". Three designs, each
# answering a different question:
#
# * **"Online now" = seen in the last N seconds: a ZSET of heartbeats.** Every client heartbeat does
#   `ZADD online <now> <user>` (the score is the last-seen time, so repeats overwrite); a reader drops the
#   stale ones with `ZREMRANGEBYSCORE online -inf <now - window>` and counts with `ZCARD` (or
#   `ZCOUNT online <now - window> +inf` without deleting). Exact, and it can list *who* is online; about
#   100 bytes per member.
# * **"Active today" by numeric user id: a bitmap per day.** `SETBIT online:2026-01-01 <user_id> 1`, then
#   `BITCOUNT`; `BITOP OR` over seven days gives the weekly actives, `BITOP AND` the users active every
#   day. Exact, one bit per possible id: 100 million ids is 12.5 MB per day, whoever logged in.
# * **"How many distinct users" when an estimate is fine: HyperLogLog.** `PFADD uv:<day> <user>`, then
#   `PFCOUNT` (several keys at once give the union). 12 KB per key whatever the count, with a standard error
#   of 1.04/√16384 ≈ 0.81 %; it cannot say who.

# %%
r = ks.client
online = ks.key("online")
heartbeats = [(0, "ann"), (10, "bob"), (25, "cai"), (31, "ann"), (58, "dev"), (61, "bob")]  # (second, user)
for t, user in heartbeats:
    r.zadd(online, {user: t})                 # a user's newer heartbeat overwrites their score
now, window = 70, 30
dropped = r.zremrangebyscore(online, "-inf", now - window)
print(f"at t={now}s, online = seen in the last {window}s: {r.zcard(online)} {sorted(r.zrange(online, 0, -1))}"
      f" (dropped {dropped} stale)")

days = {"mon": [3, 7, 42, 1_000_000], "tue": [7, 42, 99], "wed": [7, 5]}
for day, ids in days.items():
    for uid in ids:
        r.setbit(ks.key("active", day), uid, 1)
keys = [ks.key("active", d) for d in days]
r.bitop("OR", ks.key("active", "week"), *keys)
r.bitop("AND", ks.key("active", "every-day"), *keys)
print("active per day:", {d: r.bitcount(ks.key("active", d)) for d in days},
      "| this week:", r.bitcount(ks.key("active", "week")),
      "| every day:", r.bitcount(ks.key("active", "every-day")))
print(f"bitmap size is set by the largest id: id 1,000,000 -> {r.strlen(ks.key('active', 'mon')):,} bytes; "
      f"100 M ids -> {100_000_000 // 8 / 1e6:g} MB per day")
print(f"HyperLogLog: 16384 registers x 6 bits = {16384 * 6 // 8:,} bytes, "
      f"standard error 1.04/sqrt(16384) = {1.04 / 16384 ** 0.5:.2%}")

# %% [markdown]
# And HyperLogLog on 10,000 visits by 5,000 users:

# %% tags=["nbval-ignore-output"]
# the estimate differs between backends (fakeredis vs a real server)
r = ks.client
uv = ks.key("uv", "2026-01-01")
for i in range(10_000):
    if i % 1000 == 0:
        pipe = r.pipeline(transaction=False)
    pipe.pfadd(uv, f"user-{i % 5_000}")   # 10,000 visits by 5,000 users
    if i % 1000 == 999:
        pipe.execute()
est = r.pfcount(uv)
assert abs(est - 5000) / 5000 < 0.02
print(f"visits: 10,000 | distinct users: 5,000 | PFCOUNT ≈ {est:,}")

# %% [markdown]
# ## Source check
#
# * **Java in a Go text.** The section's code is `AtomicLong`, `LongAdder`, `Unsafe` and `@Contended`. In
#   Go: `sync/atomic` (`atomic.Int64`, Go 1.19+, or `atomic.AddInt64`), a hand-written striped counter, and
#   manual padding (`_ [56]byte` or `golang.org/x/sys/cpu.CacheLinePad`). Go has no `volatile`; its memory
#   model says an unsynchronised `n++` from two goroutines is a data race.
# * **"编译为lock cmpxchg指令" (compiles to `lock cmpxchg`).** For `incrementAndGet` on x86, HotSpot since
#   JDK 8 emits `LOCK XADD`: a single fetch-and-add with no CAS retry loop. Go's `atomic.AddInt64` is also
#   `LOCK XADD`. CAS loops (`LOCK CMPXCHG` + retry) are what you get for `updateAndGet` or
#   `CompareAndSwap` loops.
# * **"AtomicLong仍可能因CAS重试频繁导致性能下降".** The slowdown under contention is real, but on x86
#   the cause is the one cache line every core must own in turn, not CAS retries. Say "cache-line
#   contention", and you explain both why striping helps and why padding is needed.
# * **"直接使用锁机制会导致线程阻塞".** Only under contention: an uncontended Go `sync.Mutex` is one CAS,
#   and a contended one spins before parking. The real argument for atomics is shorter critical sections
#   and no parking, not that locks always block.
# * **The evolution graph starts at "普通volatile变量".** `volatile` gives visibility, not atomicity:
#   `volatile long n; n++` still loses updates. It is not a step towards a counter; it is the bug.
# * **`@Contended`.** Outside the JDK it is ignored unless the JVM runs with `-XX:-RestrictContended`;
#   `LongAdder`'s cells use the JDK-internal one.
# * **`LongAdder` trade-offs the table omits.** `sum()` is not an atomic snapshot (fine for statistics,
#   wrong for a limit check such as "stop at 1,000 sold"), and reads cost one pass over the cells.
# * **Missing entirely: more than one process.** PV and online counts of a fleet need a shared store:
#   Redis `INCR`, sharded keys for a hot counter, local batching with its crash loss (above), and
#   HyperLogLog when the question is "how many distinct".
# * **"用户在线数" is listed as a counting hot spot and then never designed.** An online count is a
#   distinct count over a time window, not an increment: a heartbeat ZSET (exact, who and how many), a
#   bitmap per day (exact daily/weekly actives by id), or a HyperLogLog (an estimate in 12 KB), above.
#
# ## Exercise
#
# `exercises/14_striped_counter.ipynb`: write a striped counter. The checker watches every lock and
# every cell of your counter (which lock guarded each change), runs an `incr()` at the exact moment your
# `sum_then_reset()` has read a cell, hammers it from 8 real threads, checks that it really uses more than
# one stripe, and that bad input is refused.
#
# ## Interview drill

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
drill("14")

# %% [markdown]
# ## What a strong answer says
#
# "`count++` is load, add, store, so concurrent increments overwrite each other; it needs a mutex or an
# atomic. In Go I'd use `atomic.Int64.Add`, one `LOCK XADD` on x86: no lock, no parking. Under heavy
# contention on many cores even that flattens, because every increment needs exclusive ownership of the
# same cache line. The fix is striping — Java's `LongAdder`, or in Go a set of cells each padded to 64
# bytes so they don't falsely share a line — with reads summing the cells (not a snapshot, so fine for
# statistics, not for limits). Across a fleet the counter lives in Redis: `INCR` is atomic; a very hot key
# can be split into N shard keys and summed with `MGET` (with a shared hash tag they stay on one Cluster
# node, so that buys atomic reads, not load spreading); and for page views I'd batch locally and flush
# every N increments or T seconds, accepting that a crash loses up to one batch. Online users are not a
# counter: a ZSET of heartbeats trimmed with ZREMRANGEBYSCORE for 'online now', a bitmap per day with
# BITCOUNT for daily actives, a HyperLogLog (0.81 % error in 12 KB) for distinct visitors. And I'd measure: in a GIL language striping buys nothing, on 32 cores it is the difference
# between flat and linear."

# %%
finish(ks)
