# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # 03 · `sync.Pool`: per-P free lists, a victim cache, and what must never go in one
#
# ## The interview question
#
# > **高并发场景下的sync.Pool应用**
# > 在频繁创建销毁对象的场景中,sync.Pool可显著减少GC压力。对象使用后放回池中,下次可复用。
# >
# > | 场景 | 是否适用 Pool |
# > |---|---|
# > | 临时对象缓存 | ✅ 推荐 |
# > | 连接类资源管理 | ❌ 不推荐 |
# > | 状态不可控的对象 | ❌ 避免 |
# >
# > ```go
# > var bufferPool = sync.Pool{New: func() interface{} { return new(bytes.Buffer) }}
# > buf := bufferPool.Get().(*bytes.Buffer)
# > buf.Reset() // 复用前重置状态
# > bufferPool.Put(buf) // 归还对象
# > ```
#
# *When does `sync.Pool` help?* The source: where objects are created and destroyed at a high rate, a
# pool cuts GC pressure by reusing them. Temporary objects: yes. Connections: no. Objects whose state
# you don't control: avoid. Reset before reuse.
#
# A strong answer explains **why** each row of that table holds: the pool is a per-P free list that the
# garbage collector empties (since Go 1.13 over two cycles, via the **victim cache**), so it is for
# objects that are cheap to lose and safe to hand to a stranger. We build it, watch objects move
# through it, break it three ways, and measure it.

# %%
from hcedu.course import setup, finish, drill

setup("03", redis=False)   # seeds; this chapter needs no Redis

# %% [markdown]
# ## Build it: per-P private slots, shared chains, and `gc()`
#
# **Why per-P?** A single shared free list would be one more contended lock on the hot path. Go gives
# each P (logical processor) a `private` slot that only it touches and a `shared` chain it pushes and
# pops at the head while *other* Ps steal from the tail. `hcedu.go.Pool` models Ps explicitly
# (`procs`), and `on_p(n)` runs a block "on P n" so we can see exactly where objects go.

# %%
import inspect
from hcedu.go import Pool, gc
from hcedu.go.pool import on_p

print(inspect.getsource(Pool._get_pinned))

# %%
pool = Pool(new=lambda: "NEW", procs=3)
with on_p(1):
    for item in ["a", "b", "c"]:
        pool.put(item)             # private first, then the head of P1's shared chain
pool.snapshot()["local"]

# %%
with on_p(1):
    print("P1 gets:", pool.get(), pool.get())    # own private, then own shared head (LIFO)
with on_p(0):
    print("P0 gets:", pool.get())                # P0 is empty: steals from P1's shared tail
    print("P0 gets:", pool.get())                # nothing anywhere: New()
{k: v for k, v in pool.stats().items() if v}

# %% [markdown]
# ## Watch it: an object survives exactly one GC
#
# Before Go 1.13 every GC emptied every pool, so right after a GC each `Get` paid for `New` and a
# burst of allocations followed. Go 1.13 added the **victim cache**: a GC moves `local` to `victim`
# and drops the *previous* victim. An object put before a GC is still there after it, and gone after
# the second.

# %%
import pandas as pd

pool = Pool(procs=1)
rows = []
pool.put("buf-1")
rows.append(("put buf-1", pool.pooled()))
gc()
rows.append(("gc() #1", pool.pooled()))
gc()
rows.append(("gc() #2", pool.pooled()))
pool.put("buf-2"); gc()
got = pool.get()
rows.append((f"put buf-2, gc(), get() -> {got}", pool.pooled()))
pd.DataFrame([{"step": s, **p} for s, p in rows])

# %% [markdown]
# The last row shows the other rule: a victim hit is **not** promoted back into `local` — it is simply
# handed out, and a `Put` afterwards starts the new generation.
#
# ## Measure it: hit rate as GC gets more frequent
#
# Each request takes 1–8 buffers and returns them; `gc()` runs every *k* requests. The `go1.12` line
# emulates the old behaviour (two back-to-back `gc()` calls = everything dropped). This is deterministic
# (seeded, one thread), so its numbers are checked:

# %%
from hcedu.lab import chanbench

hr = chanbench.hit_rate_vs_gc(gc_every=[None, 1000, 100, 10, 3, 1], ops=3000)
t = hr.pivot_table(index="gc_every", columns="policy", values="hit_rate").round(3)
t.reindex([0, 1000, 100, 10, 3, 1]).rename(index={0: "never"}).rename_axis("requests between gc()")

# %%
chanbench.chart_hit_rate(hr)

# %% [markdown]
# Takeaway: with rare GCs any pool hits almost always; as GCs become frequent the old pool collapses to
# zero hits (every request allocates) while the victim cache keeps most requests served — that smoothing
# of the post-GC allocation spike is exactly why Go 1.13 added it.
#
# ### Allocations and GC runs with and without a pool
#
# A buffer-heavy request loop. Our `Buffer` holds a reference cycle (a callback bound to itself), as
# many Python objects do, so only the cyclic GC can free it — like every dead object in Go's tracing GC.

# %% tags=["nbval-ignore-output"]
alloc = chanbench.allocation_experiment(requests=20_000, buffer_size=4096)
assert list(alloc["mode"]) == ["new each time", "sync.Pool"]
assert alloc.loc[0, "buffers_allocated"] == 20_000 and alloc.loc[1, "buffers_allocated"] == 1
assert alloc.loc[0, "gc_collections"] > alloc.loc[1, "gc_collections"]
print(alloc[["mode", "buffers_allocated", "bytes_allocated", "gc_collections", "seconds"]].to_string(index=False))
ratio = alloc.loc[1, "seconds"] / alloc.loc[0, "seconds"]
assert ratio > 0.05, ratio   # 20,000x fewer allocations, but nowhere near 20,000x less time
print(f"time with the pool / without: {ratio:.2f}")
chanbench.chart_allocations(alloc)

# %% [markdown]
# Takeaway: pooling turned 20,000 buffer allocations (the bytes column shows the churn) into one, and
# with them the GC runs that garbage caused. The time ratio printed above is a small factor at most,
# nothing like the allocation ratio: in CPython a `Pool.get`/`put` pair costs about as much as allocating
# a small object, so in Python the win is GC and memory more than raw speed — in Go, where allocation
# feeds a tracing GC, it is both.

# %% [markdown]
# ## Real Go beside the mirror
#
# **Why:** two claims above come from reading Go's source: an object survives one GC in the victim cache
# and is gone after two, and in Go a pool cuts allocations *and* the GC cycles they cause. The cells below
# run real Go programs from `hcedu/lab/gosnippets/` with `hcedu.gorun` (the runner behind the `%%go` cell
# magic: `%load_ext hcedu.gorun`). Without a Go toolchain they print one line saying how to get one.
#
# ### The victim cache, in Go and in the mirror
#
# The program pins itself to one P and switches background GC off, as Go's own pool test does, so only its
# explicit `runtime.GC()` calls collect:

# %%
from IPython.display import display
from hcedu import gorun
from hcedu.lab import gocompare, gosnippets

print(gosnippets.source("ch03_pool_victim"))

# %% [markdown]
# The same steps with `hcedu.go.Pool(procs=1)` and `gc()` print:

# %%
print(gocompare.pool_victim_mirror(), end="")

# %% tags=["nbval-ignore-output"]
# runs Go: the trace is deterministic, the version line is not
victim = gocompare.pool_victim_compare()   # prints how to get Go (and returns None) without a toolchain
if victim is not None:
    gocompare.print_trace(victim)        # Go's lines, "=" where the mirror printed the same
    assert victim["agree"].all(), victim

# %% [markdown]
# **Takeaway:** real `sync.Pool` keeps a pooled object through exactly one GC and calls `New` after the
# second, as the mirror does.
#
# ### Allocations and GC cycles in Go, with and without the pool
#
# Each request needs a scratch buffer, either freshly made or taken from a `sync.Pool` and put back;
# `runtime.MemStats` counts heap allocations, bytes and completed GC cycles around the loop:

# %%
print(gosnippets.source("ch03_pool_gc"))

# %% tags=["nbval-ignore-output"]
# measured: counts vary a little with the runtime's background work; the asserts check the shape
go_alloc = gocompare.pool_allocs(10_000)   # None (and how to get Go) without a toolchain
if go_alloc is not None:
    per = go_alloc.set_index("pool")
    allocs = per["mallocs"] / per["requests"]
    assert allocs[True] < allocs[False] / 10, go_alloc           # the pool cuts allocations per op
    assert per.loc[True, "gc_cycles"] < per.loc[False, "gc_cycles"], go_alloc   # and the GCs they trigger
    print(f"{gorun.version()}: {allocs[False]:.2f} allocations per request without the pool, "
          f"{allocs[True]:.4f} with it; GC cycles {per.loc[False, 'gc_cycles']} -> {per.loc[True, 'gc_cycles']}")
    table = go_alloc.assign(allocs_per_op=allocs.values, bytes_per_op=(per["bytes"] / per["requests"]).values)
    display(table[["pool", "requests", "mallocs", "allocs_per_op", "bytes_per_op", "gc_cycles"]])

# %% [markdown]
# **Takeaway:** in Go the pool turns an allocation per request into almost none, and the GC cycles that
# garbage triggered disappear with it: where allocation feeds a tracing GC, pooling saves both.

# %% [markdown]
# ## Break it: the source's table, row by row
#
# ### ✅ Temporary buffers — but only if you reset them
# The bug the source's `buf.Reset()` prevents: a buffer comes back with the previous request's data.

# %%
from hcedu.lab.chanbench import Buffer

bufs = Pool(new=Buffer, procs=1)

def render(user, reset):
    buf = bufs.get()
    if reset:
        buf.reset()
    buf.write(f"hello {user}".encode())
    out = b" | ".join(buf.parts).decode()
    bufs.put(buf)
    return out

print("no reset:  ", [render(u, reset=False) for u in ["alice", "bob"]])
print("with reset:", [render(u, reset=True) for u in ["carol", "dave"]])


# %% [markdown]
# Bob's response contains Alice's greeting: in a real server, another user's data. Reset on `Get`
# (or before `Put`), every time. Also cap what you return, or one huge request pins a huge buffer for as
# long as the pool keeps it: Go's `fmt` does not pool a printer buffer that grew past 64 KiB (`pp.free`,
# golang/go#23199: "each entry should have about the same memory cost"). Not every standard package
# does: `encoding/json` puts its `encodeState` back whatever its size, so one huge `Marshal` leaves its
# huge buffer in the pool until two GCs have passed.
#
# ### ❌ Connections — the pool drops them without closing them

# %%
class Conn:
    opened = closed = 0
    def __init__(self):
        Conn.opened += 1
        self.open = True
    def close(self):
        if self.open:
            self.open = False
            Conn.closed += 1

conns = Pool(new=Conn, procs=1)
for c in [conns.get() for _ in range(3)]:
    conns.put(c)                  # "return to pool" after use
gc(); gc()                        # two GC cycles later...
fresh = conns.get()               # ...the pool is empty: a new dial
print(f"dialled {Conn.opened}, closed {Conn.closed}, pooled now {conns.pooled()}")


# %% [markdown]
# Three connections vanished without `close()`: sockets leaked on our side and the server's, and a fresh
# dial after every GC. A connection pool needs a size limit, health checks and explicit close — chapter
# 05's Redis pool, not `sync.Pool`.
#
# ### ❌ Objects with state you don't control — use after put

# %%
class Session:
    def __init__(self):
        self.user = None

sessions = Pool(new=Session, procs=1)

def handle(user):
    s = sessions.get()
    s.user = user
    sessions.put(s)              # returned too early...
    return s                     # ...but this code keeps a reference

s1 = handle("alice")
s2 = handle("mallory")           # gets the very same object
print(s1 is s2, "| alice's session now says:", s1.user)

# %% [markdown]
# Once an object is `Put`, any goroutine may `Get` it: holding on to it (or to something inside it,
# like a slice of its bytes) is a data race. Pool only what has a single owner at a time and a state
# you fully reset.
#
# ## Source check
#
# * "sync.Pool可显著减少GC压力" — true in Go for hot, short-lived objects; it is **not a cache**: any
#   GC may drop pooled objects (one cycle of grace since Go 1.13), `New` must be able to recreate them,
#   and there is no size limit or eviction control. Interview trap: *"sync.Pool is a cache you can
#   rely on"*.
# * The table is right, and the reasons are the demos above: connections are lost without `Close`,
#   uncontrolled state leaks between users.
# * The example resets on `Get`, which is correct; add a size cap before `Put`, and never keep using a
#   buffer after `Put`.
#
# ## Exercise
#
# `exercises/03_pool_buffers.ipynb`: pool a buffer type correctly (reset before reuse, cap oversized
# buffers, no use after put).
#
# ## Interview drill

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
drill("03")

# %% [markdown]
# ## What a strong answer says
#
# "`sync.Pool` is a set of per-P free lists for temporary objects, to cut allocation and GC work on hot
# paths (`fmt`'s printers, `encoding/json`'s encode state). `Put` goes to the P's private slot or the head of its shared
# chain; `Get` takes private, then own shared head, then steals from other Ps' shared tails, then the
# victim cache, then calls `New`. The GC clears pools: since Go 1.13 it moves each pool's objects to a
# victim cache and drops the previous victim, so an object survives one GC and is gone after two — it
# is not a cache and not a connection pool. Reset objects on reuse, cap the size of what you return,
# never use an object after `Put`, and don't pool things that need `Close` or carry state you don't
# control."

# %%
finish()
