# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # 08 · Redis distributed locks, and every way they break
#
# > **并发读写冲突下Redis分布式锁的Go实现方案** — 多个服务实例可能同时尝试修改共享资源,如何用Redis实现分布式锁?
# >
# > *Several service instances may modify a shared resource at the same time. How do you build a
# > distributed lock on Redis, in Go?*
#
# A strong answer covers: `SET key token NX PX ttl` (atomic set-if-absent **with** an expiry, so a crashed
# holder cannot deadlock everyone); a **random token** per holder and a **Lua compare-and-delete** to
# release, or `DELEX key IFEQ token` on Redis 8.4+ (so you never delete someone else's lock); how to pick the TTL and when to renew it; why a
# lease can still let two clients act at once (a pause longer than the TTL) and why only a **fencing
# token** checked by the resource fixes that (and why an `INCR` on the lock's own Redis is not one across
# failover); what Redlock adds and assumes; and when a Redis lock is
# the wrong tool.

# %%
import pandas as pd
from hcedu import backend
from hcedu.course import setup, finish, drill
from hcedu.lab import lockdemo as lab
from hcedu.patterns.lock import RedisLock, ACQUIRE_LUA, RELEASE_LUA

ks = setup("08")
r = backend.connect()
KEY = ks.key("lock", "order")
pd.set_option("display.width", 170)
pd.set_option("display.max_colwidth", 60)
print(KEY)

# %% [markdown]
# ## The source's lock, translated and run
#
# The source's first version (Go):
#
# ```go
# client.Set(ctx, "lock:order", "instance_1", &redis.Options{NX: true, EX: 30})
# ```
#
# **This does not compile** (interview trap): `Set`'s last argument is a `time.Duration`, and
# `redis.Options` is the *client* configuration struct. What it means is `SET lock:order instance_1 NX EX 30`:
#
# ```go
# ok, err := rdb.SetNX(ctx, "lock:order", "instance_1", 30*time.Second).Result()
# // or, go-redis v8.8+: rdb.SetArgs(ctx, "lock:order", "instance_1",
# //                       redis.SetArgs{Mode: "NX", TTL: 30 * time.Second})  // redis.Nil when not set
# ```
#
# In Python (redis-py) it is one call. `NX` makes it set-if-absent, `EX` gives the lease; both in one
# command, so there is no moment where the key exists without an expiry:

# %%
print("instance_1:", r.set(KEY, "instance_1", nx=True, ex=30))
print("instance_2:", r.set(KEY, "instance_2", nx=True, ex=30))   # None: someone holds it
print("holder:", r.get(KEY), "| TTL", r.ttl(KEY), "s")
_ = r.delete(KEY)

# %% [markdown]
# ## Break it: the plain `DEL` deletes someone else's lock
#
# The source admits its first version "未考虑锁释放时的误删问题" (ignores deleting the wrong lock). Here it
# is happening. The script runs client actions on a virtual clock and real commands on Redis; the
# lease running out at t = 30 s is enacted by forcing the key's TTL to 1 ms and letting Redis expire it.
#
# A takes the lock for 30 s, but its work takes 40 s. At 30 s the lease runs out, B takes the lock, and
# at 41 s A finishes and runs `DEL`:

# %%
naive = lab.lease_expiry(backend.connect, "naive", key=KEY)
naive.frame

# %%
print(naive.summary)
lab.chart_timeline(naive, "source's first version: A's plain DEL frees B's lock, C walks in")

# %% [markdown]
# **Takeaway:** pale bars are "believes it holds the lock", dark bars are "Redis says it does"; after A's
# `DEL` (41 s) B still believes it holds a lock that no longer exists, so C gets in and B and C run the
# critical section together (red band) — and at 48 s B's own `DEL` deletes C's lock in turn.
#
# ## Build it: a token, and a Lua compare-and-delete
#
# Each acquisition stores a fresh random token; release deletes the key **only if it still holds our
# token**. Checking and deleting must be one step: `GET` then `DEL` from the client is check-then-act —
# the lease can run out and another client acquire between the two commands. Redis runs a Lua script
# atomically (no other command runs in between), so the check and the delete cannot be separated:

# %%
print(RELEASE_LUA.strip())

# %% [markdown]
# Line by line:
#
# 1. `redis.call('GET', KEYS[1]) == ARGV[1]` — read the lock's current value and compare it with the
#    token we stored when we acquired (`KEYS[1]` = lock key, `ARGV[1]` = our token);
# 2. `return redis.call('DEL', KEYS[1])` — only then delete it, and return 1;
# 3. `return 0` — otherwise it is not ours (expired, or another client's now): touch nothing, say so.
#
# **Redis 8.4+: one command.** `DELEX key IFEQ token` (new in Redis Open Source 8.4.0; see
# redis.io/commands/delex) deletes the key only if its value equals `token`, atomically, and replies 1 or 0:
# the same compare-and-delete without a script (Valkey has `DELEX` since 9.2; go-redis exposes it as the
# still-experimental `DelExArgs`). 8.4 also added `SET key value IFEQ old`, so a renewal can be
# `SET key token IFEQ token PX ttl`. On an older server — this course's `redis-server` 7.0, or the embedded
# fakeredis — the command does not exist, and the script above is the portable form. The cell asks the
# server it runs against:

# %% tags=["nbval-ignore-output"]
# the answer depends on the Redis server this runs against
from redis.exceptions import ResponseError

r.set(KEY, "token-B", px=30_000)
try:
    print("DELEX with A's token:", r.execute_command("DELEX", KEY, "IFEQ", "token-A"), "| key now:", r.get(KEY))
    print("DELEX with B's token:", r.execute_command("DELEX", KEY, "IFEQ", "token-B"), "| key now:", r.get(KEY))
except ResponseError as exc:
    print(f"no DELEX on this server ({str(exc)[:40]}...): Redis < 8.4, keep the Lua script")
finally:
    r.delete(KEY)

# %% [markdown]
# This course's `RedisLock` acquires with a script too, so that every grant also gets a **fencing
# token** — a counter incremented in the same atomic step, so grants and fence numbers are in the same order:

# %%
print(ACQUIRE_LUA.strip())
a = RedisLock(r, KEY, ttl=30)
b = RedisLock(r, KEY, ttl=30)
print("A acquires:", a.acquire(blocking=False), "fence", a.fence)
print("B acquires:", b.acquire(blocking=False))
print("A releases:", a.release(), "| B now:", b.acquire(blocking=False), "fence", b.fence)
print("B releases:", b.release())

# %% [markdown]
# The same lease-expiry script, replayed with the token + Lua release and with redis-py's own
# `redis.lock.Lock` (the Python anchor; Go's is redsync):

# %%
side = pd.DataFrame([{"unlock": u, **lab.lease_expiry(backend.connect, u, key=KEY).summary}
                     for u in lab.UNLOCKS]).set_index("unlock")
side

# %%
tok = lab.lease_expiry(backend.connect, "token", key=KEY)
both = tok.frame.loc[tok.frame["believers"] == "A+B", "t"]
print(f"A and B both believe they hold the lock from {both.min():g} s to {both.max():g} s")
lab.chart_timeline(tok, "token + Lua release: A's release is refused, B keeps the lock, C waits")

# %% [markdown]
# **Takeaway:** both correct implementations refuse A's late release (redis-py raises
# `LockNotOwnedError`, `RedisLock.release()` returns False) and B's lock survives. Note the pale overlap
# from 32 s to 41 s: A still *believed* it held the lock while B did. The token protects the lock, not
# the resource. That is the next failure.
#
# ## Break it: a pause longer than the TTL (Kleppmann's scenario)
#
# A acquires (fence 33), checks it still holds the lock, then a stop-the-world pause (GC, swap, a
# `SIGSTOP`, a VM migration) outlasts the lease. B acquires (fence 34) and writes. A wakes up, still
# believing it holds the lock, and writes. Checking `owned()` first does not help: the pause can come
# after the check. The storage below is *fenced*: it rejects a write whose fence is lower than the highest
# it has seen.

# %%
fenced = lab.pause_past_ttl(backend.connect, key=KEY)
print(fenced.summary)
fenced.frame[["t", "actor", "event", "ok", "fence", "holder", "believers", "detail"]]

# %%
lab.chart_timeline(fenced, "pause past the TTL: two holders; the fence rejects A's stale write")

# %%
unfenced = lab.pause_past_ttl(backend.connect, fenced=False, key=KEY)
print("unfenced storage:", unfenced.summary)

# %% [markdown]
# **Takeaway:** two clients held the lock at once (red band) in both runs; with fencing the stale write
# (fence 33 after 34) was rejected and B's data survived, without it A silently overwrote B. A lease lock
# is only as safe as the longest pause you never get; the fence makes safety independent of timing.
#
# **But this fence is not Kleppmann's.** His token must never repeat, which needs a store that survives
# failover without losing an acknowledged write: a consensus system (ZooKeeper's `zxid` or a znode version,
# etcd's revision). Our counter is an `INCR` on the same Redis node as the lock, and Redis replicates
# **asynchronously**: if the master dies after handing out fence 34 but before the replica received that
# `INCR`, the promoted replica hands out 34 again. Two holders, one fence number, and the storage accepts
# both. Enacted on two embedded servers (replication played by hand):

# %%
import fakeredis

master = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
replica = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
master.set("fence", 33)
replica.set("fence", 33)                  # in sync: fence 33 was replicated
a_fence = master.incr("fence")            # A's grant; the master dies before replicating this INCR
b_fence = replica.incr("fence")           # the replica is promoted; B's grant
print(f"A holds fence {a_fence}, B holds fence {b_fence}: the same number twice after a failover")
assert a_fence == b_fence == 34

# %% [markdown]
# `WAIT 1` after the `INCR` narrows the window but is not consensus (a failover can still pick a replica
# that missed the write). So: a Redis fence protects against pauses on a single, durable node; for
# correctness across failover, take the token from etcd/ZooKeeper, or let the resource itself order writes
# (a version column in the database).
#
# **Watch it:** turn the knobs. A pause shorter than the lease is harmless; any pause that outlasts it
# gives two holders, whatever the TTL — and only the fenced storage keeps B's data.

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
lab.dashboard(backend.connect, key=KEY)

# %% [markdown]
# ## Break it: the watchdog does not save you
#
# A watchdog (Redisson's, or `RedisLock(..., watchdog=True)`) renews the lease every ttl/3 while held, so
# a long critical section does not lose the lock. Two things it cannot do:
#
# 1. **a paused holder**: the renewal thread lives in the same process, so the pause stops it too;
# 2. **a hung-but-alive holder** (deadlock, a call with no timeout): the watchdog keeps renewing for ever
#    and nobody else ever gets the lock.

# %%
paused = lab.watchdog_pause(backend.connect, key=KEY)
renewals = paused.frame[paused.frame["event"] == "renew"]
assert renewals["t"].tolist() == [3.0, 20.0] and renewals["ok"].tolist() == [True, False]  # the title's claim
print(paused.summary)
lab.chart_timeline(paused, "watchdog + pause: the renewal at 6 s never runs; the late one at 20 s fails")

# %%
hung = lab.watchdog_hung(backend.connect, key=KEY)
capped = lab.watchdog_hung(backend.connect, max_renewals=3, key=KEY)
print("uncapped:", hung.summary)
print("capped:  ", capped.summary)
assert hung.renewals == 20 and not hung.b_acquired  # the title's claim
lab.chart_timeline(hung, "watchdog + hung holder: 20 renewals in 60 s, B never gets in")

# %% [markdown]
# **Takeaway:** the watchdog keeps a *live* holder's lease, which is exactly wrong for a hung one; cap the
# renewals (pottery allows 3 extensions) or the total hold time, and still fence the writes.
#
# **Not simulated.** The same story with a real pause: process A (spawned) takes the lock with a
# watchdog thread and a 0.3 s lease; this notebook freezes it with `SIGSTOP` — the watchdog freezes with
# it — waits until Redis itself has expired the lease, lets B acquire and write, then `SIGCONT`s A. The
# storage is a hash in Redis whose writes are a Lua fence check (`RedisFencedResource`):

# %% tags=["nbval-ignore-output"]
import os
server = None if os.environ.get("REDIS_URL") else backend.serve_embedded(share=False)
try:
    real_pause = lab.sigstop_pause(os.environ.get("REDIS_URL") or server.url, key=ks.key("sigstop"),
                                   store=ks.key("storage"))
finally:
    if server is not None:
        server.stop()
assert real_pause.b_acquired_while_a_paused and not real_pause.a_write_accepted
print(real_pause.summary)
real_pause.frame.round(3)

# %% [markdown]
# ## Break it: a worker that acts after its lease expired
#
# **Why it matters.** Every lease-based design (this lock, a job queue's visibility timeout, a delay
# queue's claim) has the same hole: the holder does not know when its lease ran out. A worker claims a
# job, stalls past the lease, the recoverer hands the job to a second worker, and then the first one wakes
# up and **acks or extends by the job's id**. The ack deletes the *second* worker's lease (so nobody
# recovers the job if that worker crashes), the extend stretches a lease that is not its own. The fix is
# the fence again: each claim gets a number (the attempt), and ack/extend are compare-and-set on it.
#
# A delay queue with a 10 s lease on a virtual clock, so the story is exact: A claims `order-1`, stalls
# 11 s, the recoverer re-queues it, B claims it (attempt 2), then A acts late, once by id only and once
# with its fenced lease:

# %%
from hcedu.clock import VirtualClock
from hcedu.patterns import DelayQueue

def late_worker(fenced):
    clock = VirtualClock(0)
    dq = DelayQueue(f"late-{fenced}", keyspace=ks, lease=10, clock=clock)
    dq.put("order-1", 0)
    [a] = dq.claim()                     # worker A: attempt 1, leased until t = 10
    clock.advance(11)                    # A stalls past its lease (GC pause, slow call)
    assert dq.recover() == ["order-1"]   # the recoverer makes it due again
    [b] = dq.claim()                     # worker B: attempt 2, leased until t = 21
    late = a if fenced else str(a)       # fenced: A's Lease carries attempt 1; else just the id
    return {"A extends late": dq.extend(late), "A acks late": dq.ack(late),
            "B's lease survives": dq.leased() == 1, "B acks": dq.ack(b)}

late = pd.DataFrame({"by id only": late_worker(False), "fenced by attempt": late_worker(True)})
assert late["by id only"].tolist() == [True, True, False, False]
assert late["fenced by attempt"].tolist() == [False, False, True, True]
late

# %% [markdown]
# By id only, A's late extend and ack both *succeed*: they act on B's lease, B's own ack then finds
# nothing, and had B crashed the job would be lost for good. Fenced, A's calls return False and change
# nothing; A must stop and drop its result. The lock refuses a late holder the same way: its `extend`
# and `release` compare the token, so a holder whose lease expired gets False and `lost` is set:

# %%
import time
late_key = ks.key("lock", "late")
late_a = RedisLock(r, late_key, ttl=0.05)
assert late_a.acquire()
time.sleep(0.2)                          # A's lease expires in Redis (50 ms TTL)
late_b = RedisLock(r, late_key, ttl=30)
assert late_b.acquire(blocking=False)
refused = {"A extend": late_a.extend(), "A lost": late_a.lost, "B still owns it": late_b.owned(),
           "B's fence is higher": late_b.fence > late_a.fence, "A release": late_a.release()}
assert refused == {"A extend": False, "A lost": True, "B still owns it": True,
                   "B's fence is higher": True, "A release": False}
late_b.release()
refused

# %% [markdown]
# **Takeaway:** a lease holder can never know it is still the holder, so every late action must be a
# compare-and-set on a fence (token or attempt number) that Redis or the resource checks.
#
# **Interview angle.** "What if the worker finishes after its visibility timeout?" A strong answer: the
# job was handed to someone else, so processing is at-least-once; the late worker's ack must be fenced
# (ack by lease/attempt, not by job id) so it cannot delete the new holder's lease, and the side effect itself must be idempotent or fenced at the resource, because
# by the time the ack is refused the work has already been done twice.
#
# ## Redlock: a majority of independent masters
#
# One Redis is a single point of failure, and failing over to a replica that had not yet received the
# lock (replication is asynchronous) hands the lock out twice (chapter 17 makes it happen on a real primary, replica and Sentinel: two holders without `WAIT`, one with it). Redlock acquires on N independent masters
# in parallel and holds the lock only with a majority (N/2+1) within a validity time
# `ttl − drift − elapsed`; on failure it releases everywhere. With 5 nodes it survives 2 crashes:

# %%
with lab.fake_nodes(5) as nodes:
    outage = lab.redlock_outage(nodes, max_down=3)
with lab.fake_nodes(5) as nodes:
    jump = lab.redlock_clock_jump(nodes)
print(outage.groupby("down")[["acquired"]].first().T)
print(jump.summary)
lab.chart_redlock(outage, jump)

# %% [markdown]
# **Takeaway:** left, 2 of 5 down still acquires and 3 down cannot; right, Kleppmann's scenario: client 1
# holds A, B, C (D, E unreachable); C's clock jumps forward so its copy expires early; client 2 reaches
# C, D, E (A, B unreachable) — both hold a majority. Redlock assumes bounded clock drift, pauses and
# network delay, and issues no fencing token.
#
# The same on five real `redis-server` processes on loopback (crashes are `SIGKILL`; the cell needs
# `redis-server` installed):

# %% tags=["nbval-ignore-output"]
from hcedu.lab import redis_server
if redis_server.available():
    with lab.real_nodes(5) as nodes:
        real_jump = lab.redlock_clock_jump(nodes)
        real_outage = lab.redlock_outage(nodes, max_down=3)
    verdict = real_outage.groupby("down")["acquired"].first().to_dict()
    assert verdict == {0: True, 1: True, 2: True, 3: False} and real_jump.two_holders
    print("real redis-servers:", verdict, real_jump.summary)
else:
    print("redis-server not installed: skipped")

# %% [markdown]
# ## Measure it
#
# Round trips: every implementation takes one command to acquire and one to release (once its scripts are
# loaded); the script costs no extra trip.

# %%
lab.round_trips(r)

# %% [markdown]
# Contention: 1 to 8 threads each doing 10 acquire / hold 0.2 ms / release rounds on the same lock,
# polling with jittered exponential backoff or retrying immediately, for `RedisLock` and redis-py's
# `Lock`. Theory: throughput is capped by one holder at a time (≈ 1 / (hold + 2 round trips)); more
# contenders add waiting, not throughput; immediate retry burns the server on failed `SET NX`es, and
# backoff trades tail latency (an unlucky waiter sleeps while others win) for less load.

# %% tags=["nbval-ignore-output"]
runs = [lab.contention(backend.connect, (1, 2, 4, 8), per_client=10, impl=impl, poll=poll, key=ks.key("c"))
        for impl in ("hcedu", "redis-py") for poll in ("backoff", "immediate")]
bench = pd.concat(runs, ignore_index=True)
assert len(bench) == 16 and (bench.acquisitions == bench.contenders * 10).all()
bench.round({"seconds": 3, "throughput": 0, "p50_ms": 2, "p99_ms": 2})

# %% tags=["nbval-ignore-output"]
lab.chart_contention(bench)

# %% [markdown]
# **Takeaway:** throughput stays flat or falls as contenders are added (one holder at a time), while
# p99 acquire latency grows with the queue of waiters: a hot lock is a serialisation point, not a
# scaling tool. Immediate retry usually does worst at 8 clients: the failed `SET NX`es compete with the
# holder for the server (and here, for the GIL). On the embedded Redis the Lua acquire (with its fence)
# costs more CPU than redis-py's plain `SET`; on a real server the gap is small — run it with `REDIS_URL`.
#
# Separate processes (what real service instances are), 10 rounds each as above, against a `TcpFakeServer` — or against your
# `REDIS_URL`:

# %% tags=["nbval-ignore-output"]
import os
server = None if os.environ.get("REDIS_URL") else backend.serve_embedded(share=False)
try:
    procs = lab.contention(contenders=(2, 4), per_client=10, mode="processes",
                           url=os.environ.get("REDIS_URL") or server.url, key=ks.key("p"))
finally:
    if server is not None:
        server.stop()
assert list(procs.acquisitions) == [20, 40]
procs.round(2)

# %% [markdown]
# ## When not to use a Redis lock
#
# Kleppmann's distinction: ask what the lock is **for**.
#
# * **Efficiency** — avoid doing the same work twice (rebuilding a cache entry, sending a report). An
#   occasional double is harmless. A single-node `SET NX PX` lock with a token is enough; Redlock buys
#   nothing worth its cost.
# * **Correctness** — two holders corrupt data (balances, stock, ledger entries). A lease lock cannot
#   promise this under pauses, clock jumps or failover. Use the database's own guarantee (a transaction,
#   `SELECT … FOR UPDATE`, a conditional `UPDATE … WHERE version = ?`), a consensus system (etcd,
#   ZooKeeper) with **fencing tokens checked by the resource**, or design the write to be idempotent.
#
# antirez's reply ("Is Redlock safe?") is worth knowing too: the random token can drive a
# compare-and-set at the resource, and every auto-expiring lock shares the pause problem.
#
# ## Source check
#
# * `client.Set(ctx, …, &redis.Options{NX: true, EX: 30})` does not compile: `SetNX(ctx, k, v, 30*time.Second)`
#   or `SetArgs(ctx, k, v, redis.SetArgs{Mode: "NX", TTL: 30*time.Second})`.
# * The Lua release is right, but the source never says where the token comes from: it must be unique
#   per *acquisition* (random), not per instance (`instance_1` is the same after a restart and across
#   goroutines of one instance).
# * "该方式避免了死锁" — the TTL avoids a *crashed* holder's deadlock, but not a slow one's overlap, and
#   the flowchart's "等待或重试" needs a bound and jitter (chapter 09's seckill code retries by unbounded
#   recursion).
# * Nothing on TTL choice, renewal, fencing, or failover to a replica — the parts interviewers probe.
# * The Lua release is the portable compare-and-delete; on Redis 8.4+ it is one command, `DELEX key IFEQ token`.
#
# ## Exercise
#
# `exercises/08_safe_release.ipynb`: fix an unsafe release. The checker replays the A/B lease-expiry
# scenario and watches every command your client sends: after each one that touches the lock, A's lease
# runs out and B acquires, and a third client tries to get in, so any check-then-act release fails.
#
# ## Interview drill

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
drill("08")

# %% [markdown]
# ## What a strong answer says
#
# "Acquire with one command, `SET lock:order <random token> NX PX 30000`: atomic, with a lease so a dead
# holder cannot block everyone. Release with a Lua compare-and-delete so I only delete my own lock — a
# plain `DEL` after my lease ran out deletes the next holder's. Choose the TTL well above the critical
# section's p99, renew it with a watchdog if the work is long, bound the retries with jitter. But a lease
# cannot stop a holder that pauses past the TTL from acting late, and a watchdog pauses with it; so if
# correctness matters, every grant carries a fencing token and the storage rejects lower tokens — a token
# from a consensus store, because an `INCR` on an asynchronously replicated Redis can repeat after a
# failover. (On Redis 8.4+ the release is one command, `DELEX key IFEQ token`.) Redlock
# over 5 masters survives node loss but assumes bounded pauses and clock drift and gives no fencing
# token: for correctness I'd use the database's own concurrency control or etcd/ZooKeeper with fencing;
# for efficiency a single Redis lock is enough."

# %%
finish(ks)
