# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # 05 · Redis connection pools, measured against Little's law
#
# > **面试题** 在高并发场景下,如何配置 go-redis 的连接池?PoolSize、MinIdleConns、IdleTimeout、MaxRetries
# > 应该怎么设,依据是什么?
# >
# > **Interview question** Under high concurrency, how do you configure go-redis's connection pool? How
# > do you choose PoolSize, MinIdleConns, IdleTimeout and MaxRetries, and on what basis?
#
# A strong answer does not recite numbers. It **derives** the pool size from throughput × latency
# (Little's law), says what happens when the pool runs out (fail fast or wait, and for how long), why
# timeouts must be short and retries few, and how idle connections are reaped and kept warm. Then it
# says how you would *measure* it. This chapter does all of that, live.

# %%
from hcedu.course import setup, finish, drill
from hcedu.lab import pool as P, poolviz, stats, loadgen
import inspect

ks = setup("05")
lab = P.PoolLab(delay=0.002)      # REDIS_URL -> a real server; otherwise the embedded one
assert lab.toxics.delay == 0.002

# %% tags=["nbval-ignore-output"]
# (which backend depends on REDIS_URL)
print(lab.describe())

# %% [markdown]
# ## Build it: a pool you can see into
#
# **Why a pool?** Opening a TCP connection and doing the handshake costs several round trips; a pool
# keeps connections open and lends one to each command. Each command *holds* a connection for its
# whole round trip, so with `P` connections and a service time `S` per command, at most `P / S`
# commands per second can go through: that is Little's law (`L = λ·W`, in-use connections =
# throughput × hold time).
#
# redis-py has two pools: `ConnectionPool` **fails fast** when all `max_connections` are out, and
# `BlockingConnectionPool` **waits** up to `timeout` (go-redis's pool waits up to `PoolTimeout`). The
# course wraps both to time every checkout (`get_connection`) and release; here is the release side,
# where the hold time (the `S` of Little's law) is measured:

# %%
print(inspect.getsource(P._Instrumentation.release))

# %% [markdown]
# Latency comes from a **toxics** plan: a 2 ms round trip is slept inside the connection while it is
# held (the embedded server), or added by a loopback TCP proxy in front of a real server. It can also
# stall, drop or reset requests, which we use later. A quick look at what one client records:

# %%
c = lab.client(pool_size=4)
for i in range(5):
    c.set(ks.key("k", i), i)
snap = c.connection_pool.snapshot()
{k: snap[k] for k in ("kind", "max_connections", "checkouts", "opened", "in_use", "peak_in_use")}

# %% [markdown]
# One connection served all five sequential commands: the pool only opens what concurrency needs.
#
# ## Watch it: throughput against the roofline
#
# **The model.** With `C` callers in a closed loop and `P` connections, throughput is bounded by
# `min(P, C) / S` (a caller without a connection, or a connection without a caller, does nothing), and
# by the client's own CPU: Python runs one thread at a time (the GIL), so a client process can do at
# most `X_cpu` commands per second however many connections it has. The **roofline** is
# `min(min(P, C)/S, X_cpu)`.
#
# First measure `S` (mean hold time, one caller, 2 ms injected) and `X_cpu` (one caller, no injected
# latency: 1 / the CPU seconds this process spends per command, client and in-process fakeredis alike).
# `X_cpu` is CPU time, not wall time: a lone caller also sits idle while a real server answers, and under
# load that wait overlaps other callers' work.
#
# **Why the CPU roof sits lower with many threads.** `X_cpu` is what *one* thread achieves. Every request
# blocks its OS thread on the network (here the injected sleep; on a real socket, each send and receive),
# which releases the GIL; getting it back among dozens of other runnable threads costs context switches
# and cold caches that a lone thread never pays. So with 8 or 32 callers the client spends more CPU per
# command than `X_cpu` assumes, and the measured points flatten *below* the red line, not at it. (More on
# this, measured, in the heavy-request experiment below.)

# %% tags=["nbval-ignore-output"]
m = P.measure_ceilings(lab, duration=0.25)
S, X = m.service_time, m.cpu_ceiling
assert S >= 0.002 and X > 0          # S cannot beat the injected 2 ms; how far above depends on the machine
print(f"S = {S * 1e3:.2f} ms held per command (2 ms injected), X_cpu = {X:,.0f} commands/s "
      f"(one caller managed {m.one_thread:,.0f}/s of wall-clock time)")

# %% tags=["nbval-ignore-output"]
# 2 concurrency levels × 7 pool sizes, 0.2 s each
sweep = P.with_model(P.sweep(lab, pool_sizes=(1, 2, 4, 8, 16, 32, 64), concurrencies=(8, 32),
                             duration=0.2), S, X)
assert len(sweep) == 14 and set(sweep["regime"]) <= {"latency", "knee", "cpu"}
x = sweep.set_index(["concurrency", "pool_size"])["throughput"]
for c in (8, 32):   # the bound grows 8x from P = 1 to P = 8: a busy machine still shows well over 1.5x
    assert x[c, 8] > 1.5 * x[c, 1], f"C = {c}: throughput did not rise from P = 1 to P = 8"
    print(f"C = {c}: P = 1 -> {x[c, 1]:,.0f}/s, P = 8 -> {x[c, 8]:,.0f}/s (x{x[c, 8] / x[c, 1]:.1f}); "
          f"best of P >= 8: {x[c].loc[8:].max():,.0f}/s = {x[c].loc[8:].max() / X:.0%} of X_cpu")
sweep[["pool_size", "concurrency", "throughput", "latency_bound", "roofline", "ratio", "p99", "regime"]].round(3)

# %%
poolviz.chart_roofline(sweep, S, X)

# %% [markdown]
# **Takeaway:** while the pool is small, throughput follows the dashed Little's-law line `min(P, C)/S`:
# going from 1 to 8 connections multiplies it several times (printed above). Beyond a few thousand
# requests/s it stops following the line and flattens well below the red one-thread ceiling, with
# run-to-run scatter, long before `P` reaches `C = 32`: the thread hand-offs explained above cost the
# client CPU. Connections beyond `C` can only sit idle.

# %% tags=["nbval-ignore-output"]
lat = sweep[sweep["regime"] == "latency"]
assert len(lat) >= 4
print(f"latency-bound points: measured / (min(P, C)/S) between {lat['ratio'].min():.2f} and {lat['ratio'].max():.2f}")

# %% [markdown]
# A request's latency has two parts, and the pool only causes one of them: the **queue wait** for a
# pooled connection, and the **service time** for which the caller then holds it (the round trip). The
# instrumented pool times both at every checkout, so the sweep splits each point (`wait_p50`,
# `wait_p99`, `hold_p50`, `hold_p99`). In production go-redis reports the same split: `PoolStats()`
# counts `WaitCount` and `WaitDurationNs` (since v9.9), to read next to the command latency histogram.
# One pair is also run three times as long, to tell a property of the pool from a property of the run:

# %% tags=["nbval-ignore-output"]
at = sweep.set_index(["concurrency", "pool_size"])
longer = P.sweep(lab, pairs=[(4, 32)], duration=0.6).iloc[0]
for (c, p) in [(8, 1), (32, 4), (8, 64), (32, 64)]:
    r = at.loc[(c, p)]
    print(f"C = {c:2}, P = {p:2}: queue wait p50 {r['wait_p50'] * 1e3:6.3f} ms, p99 {r['wait_p99'] * 1e3:6.1f} ms"
          f" | service time p50 {r['hold_p50'] * 1e3:4.1f} ms, p99 {r['hold_p99'] * 1e3:5.1f} ms")
print(f"C = 32, P =  4 for 0.6 s instead of 0.2 s: queue wait p99 {at.loc[(32, 4), 'wait_p99'] * 1e3:.0f} ms"
      f" -> {longer['wait_p99'] * 1e3:.0f} ms, service time p99 {longer['hold_p99'] * 1e3:.1f} ms")
for c, p in [(8, 1), (32, 4)]:
    # a fair (FIFO) pool would make the median caller wait (C/P - 1)·S = 7·S; this one's median barely waits
    assert at.loc[(c, p), "wait_p50"] < at.loc[(c, p), "hold_p50"], (c, p)
    assert at.loc[(c, p), "wait_p99"] > 3 * at.loc[(c, p), "hold_p99"], (c, p)   # P < C: the tail is queue wait
assert longer["wait_p99"] > 1.5 * at.loc[(32, 4), "wait_p99"]   # and it grows with the run

# %%
poolviz.chart_latency(sweep, run_length=0.2, title="Where a request's time goes")

# %% [markdown]
# **Takeaway:** when `P < C`, the whole tail is queue wait (left): the service time (right) keeps its
# median at `S`, while the wait's p99 sits at the grey line, the run's own length, far beyond `(C/P)·S`. That
# p99 does not measure the pool, it measures the run: in the run three times as long it grew with the
# run (printed above), so those callers were starved for as long as the run lasted. Yet the *median* wait is
# microseconds even with one connection for eight callers. Both come from redis-py's
# `BlockingConnectionPool` being a LIFO queue guarded by a condition variable with **no fairness**: the
# caller that just released a connection grabs it again before a woken waiter runs, so most checkouts
# wait not at all and a few wait forever. Once `P ≥ C` the queue wait is gone, and what is left of the
# tail is service time: with 32 threads a connection can be held well beyond `S` (compare the `C = 32`
# rows printed above), because the holder, woken when its reply arrives, queues for the GIL behind
# the other threads before it can read the reply and release the connection. More connections cannot
# fix that; only less client CPU per request can. The wait histogram below measures the waits themselves.
#
# ### Where Python's client hits the ceiling, and Go's would not
#
# The CPU ceiling is reached when `min(P, C)/S ≥ X_cpu`. To see it at pool sizes ≤ 32, make each
# request heavier: a pipeline of 30 GETs (one round trip, 30× the client-side work). A shared machine's
# speed drifts from one fraction of a second to the next, so here `S` and `X_cpu` are measured *interleaved* with the
# points (`interleaved_sweep`: each round runs a slice of every configuration), and drift hits all alike.

# %%
print(inspect.getsource(loadgen.OPS["pipe30"]))

# %% tags=["nbval-ignore-output"]
with P.one_core():   # one core, as the GIL effectively is: steadier numbers on a shared machine
    heavy = P.interleaved_sweep(lab, [(1, 32), (4, 32), (16, 32), (32, 32)], rounds=2, slice_time=0.1,
                                mix="pipe30")
assert len(heavy.frame) == 4 and heavy.frame["regime"].iloc[-1] == "cpu"
assert heavy.frame["throughput"].iloc[-1] < 0.6 * heavy.frame["latency_bound"].iloc[-1]   # the roof is the CPU
top, xc = heavy.frame["throughput"].iloc[-1], heavy.cpu_ceiling
assert top < 1.5 * xc                                  # 32 threads never beat one thread's CPU ceiling
print(f"P = C = 32: {top:,.0f} requests/s = {top / xc:.2f} × the one-thread X_cpu ({xc:,.0f}/s)")
heavy.frame[["pool_size", "concurrency", "throughput", "latency_bound", "cpu_ceiling", "ratio", "regime"]].round(2)

# %%
poolviz.chart_roofline(heavy.frame, heavy.service_time, heavy.cpu_ceiling,
                       title="Heavy requests: the CPU roof")

# %% [markdown]
# **Takeaway:** past the knee, doubling the pool buys nothing: the client's CPU is the bottleneck.
# The plateau does not beat the one-thread `X_cpu` (beyond noise), and usually sits well *below* it
# (this run's fraction is printed above; it varies from run to run and between the embedded server and
# a real `redis-server`). Every request blocks its OS thread on the network (here the injected sleep; on a
# real socket, each send and receive), which releases the GIL, and getting it back among 31 other
# runnable threads costs context switches and cold caches that a lone thread never pays. In-process,
# fakeredis also runs every command under one server lock, so a thread preempted while holding it
# stalls the rest (a lock convoy). The cost is in the voluntary hand-offs at every blocking call, not
# in forced preemption, so raising `sys.setswitchinterval` (which only spaces out forced switches) from
# 5 to 50 ms does not lift the plateau: try it.
# The same coupling can pull the `P = 1` point below `1/S` on the embedded server: fakeredis's work happens while the connection is held, so the holder
# queues for the GIL behind 31 callers building their pipelines, and holds the connection longer than
# the `S` one lone caller measured. The two ceilings are only independent when the server's CPU is not
# the client's. Parking a goroutine that blocks on a socket (Go's
# netpoller) costs a fraction of a microsecond, with no lock shared by all threads, so a Go client's
# ceiling is far higher and spread over all cores: a Go service usually hits the Redis server's limit
# (measure it with `redis-benchmark` on your own hardware) before its own.
#
# ## Break it: an exhausted pool
#
# Sixteen callers, four connections. A **fail-fast** pool (redis-py `ConnectionPool(max_connections=4)`)
# raises `MaxConnectionsError` at once, and redis-py does **not** retry it. A **blocking** pool
# (`BlockingConnectionPool(max_connections=4, timeout=0.05)`) makes callers wait, and fails them only
# after 50 ms.

# %% tags=["nbval-ignore-output"]
ex = P.exhaustion(lab, pool_size=4, concurrency=16, duration=0.3, timeout=0.05)
ff, bl = ex["fail-fast"].frame, ex["blocking"].frame
assert set(ff.loc[~ff["ok"], "error"]) <= {"MaxConnectionsError"} and (~ff["ok"]).any()
assert set(bl.loc[~bl["ok"], "error"]) <= {"ConnectionError"}
{k: {"requests": len(r.frame), "failed": int((~r.frame["ok"]).sum()), "ok/s": round(r.throughput),
     "4/S": round(4 / S)} for k, r in ex.items()}

# %%
poolviz.chart_outcome(ex)

# %% [markdown]
# **Takeaway:** the blocking pool keeps its four connections busy (compare its `ok/s` with the `4/S`
# they allow, both printed above), failing only callers that waited longer than the timeout. The fail-fast pool delivers *less*: callers that get an
# instant error come straight back, and this flood of failures burns the client CPU (and GIL) that the
# four busy connections need. Fail fast only where the caller backs off or sheds the request; on a
# request path, prefer a short bounded wait, then a clear error.

# %%
poolviz.chart_wait_histogram(ex["blocking"].checkouts)

# %% [markdown]
# **Takeaway:** the waits are bimodal, with nothing in between: most checkouts get a connection in
# microseconds (the caller that just released it takes it straight back), and the rest wait the full
# 50 ms and fail. redis-py's blocking pool is a LIFO queue with no fairness, so under overload the same
# callers win again and again while others starve. go-redis's wait depends on its version: up to v9.16
# a caller takes a turn by sending on a buffered channel (`queue` in `internal/pool/pool.go`), and since
# v9.17 (Nov 2025) by receiving a token from `internal.FastSemaphore`, a pre-filled channel tried first
# without a timer. Either way parked waiters queue in the channel's wait queue (chapter 02's
# `sendq`/`recvq`), though the semaphore's own documentation promises only "eventual fairness (no
# starvation) but not strict FIFO". Not strictly fair, but not redis-py's starvation either.
#
# ## Break it: stalls, timeouts and retries
#
# Two percent of requests stall for 250 ms (a GC pause, a slow disk on the server, a lost packet).
# Compare no read timeout, a 50 ms `socket_timeout`, and the timeout plus 2 retries with jittered
# exponential backoff:

# %% tags=["nbval-ignore-output"]
from redis.backoff import ExponentialWithJitterBackoff
configs = {
    "no timeout": dict(socket_timeout=None),
    "timeout 50 ms": dict(socket_timeout=0.05),
    "timeout 50 ms + 2 retries": dict(socket_timeout=0.05, retries=2,
                                        backoff=ExponentialWithJitterBackoff(base=0.005, cap=0.05)),
}
tails = P.stall_experiment(lab, configs, stall=0.25, stall_rate=0.02, requests=200)
assert list(tails["config"]) == list(configs) and (tails["requests"] == 200).all()
tails.round(2)

# %%
poolviz.chart_tail(tails)

# %% [markdown]
# **Takeaway:** without a timeout, one stalled request in fifty sets p99 to the full stall. A short
# timeout caps the tail but turns stalls into errors; one or two retries turn most of them back into
# successes at ~timeout + one round trip. That only works because the stalls are *rare and
# independent*. When the server itself is slow, retries do the opposite:

# %% tags=["nbval-ignore-output"]
slow = P.stall_experiment(lab, {k: configs[k] for k in list(configs)[1:]}, slow_all=0.06, requests=16)
assert (slow["errors"] == 16).all() and slow["amplification"].iloc[1] > 2
slow[["config", "errors", "p50", "p99", "amplification"]].round(2)

# %% [markdown]
# **Takeaway:** every request now times out, and with 2 retries each caller waits three times longer,
# still fails, and sends **three times the load** to a server that is already overloaded: a retry storm.
# Retries need a budget (few attempts, backoff with jitter, a circuit breaker), and the timeout must sit
# above the server's normal p99, not below it.
#
# ## Break it: a lost reply and a blind retry
#
# **Why it matters.** A retry is only safe when running the command twice does no harm. A connection can
# die *after* Redis ran your command but *before* its reply reached you (a proxy restart, a reset, a read
# timeout on a slow server). The client sees an error and cannot tell "never ran" from "ran, reply lost".
# A client that resends on every connection error (redis-py since 6.1 by default, go-redis with
# `MaxRetries`, whose `shouldRetry` in `error.go` retries on `io.EOF` and on read timeouts) then runs
# `INCR` twice, pushes a job twice, or takes a lock and reports it "taken". The lab's toxics plan can lose
# exactly one reply after Redis executed the command (`lose_reply`), so the fault is deterministic:

# %%
import redis
from redis.backoff import NoBackoff
views = ks.key("views")
blind = lab.client(pool_size=1, retries=1, backoff=NoBackoff())  # resend once on a connection error
blind.set(views, 0)
lab.toxics.inject("lose_reply")        # Redis runs the next command; its reply never arrives
returned = blind.incr(views)           # the error is hidden: the client resent INCR
print(f"one INCR with a blind retry: it returned {returned}, the counter holds {blind.get(views)}")
assert returned == 2 and blind.get(views) == "2"

# %% [markdown]
# The caller asked for one increment, got no error, and the counter says two. The fix has two halves:
# **never resend a write blindly** (the course's `connect()` clients and `hcedu.patterns` send each write
# once, so a lost reply surfaces as an error and means "ran at most once"), and **make the write
# idempotent** where you need to retry it: the write carries a request id, and one Lua script applies it
# and records the id, so a resend of the same id returns the first result instead of running again.
# `RedisCounter.incr(n, request_id=...)` does exactly that:

# %%
from hcedu.patterns.rediscounter import RedisCounter
once = RedisCounter("views-once", client=lab.client(pool_size=1), keyspace=ks)  # no resend
steps = {}
lab.toxics.inject("lose_reply")
try:
    once.incr(1)                                     # plain INCRBY, sent once
except redis.ConnectionError:
    steps["plain incr, reply lost"] = f"ConnectionError (outcome unknown); counter = {once.value()}"
steps["incr with request id 'r1'"] = f"returned {once.incr(1, request_id='r1')}"  # loads the script too
lab.toxics.inject("lose_reply")
steps["incr 'r2', reply lost, retried"] = f"returned {once.incr(1, request_id='r2')}"
steps["incr 'r2' again (a client resend)"] = f"returned {once.incr(1, request_id='r2')}"
steps["final counter"] = once.value()
assert once.value() == 3                             # three distinct increments, each applied once
steps

# %% [markdown]
# **Takeaway:** a retry turns "at most once" into "at least once"; only an idempotent write (a request id
# remembered next to the effect, in the same atomic step) makes it "exactly once in effect".
#
# **Interview angle.** "MaxRetries 3 is fine for reads. For writes I ask: is it idempotent? `SET` of a
# value, `SET NX` with my token, `HSET` are; `INCR`, `LPUSH`, `XADD` without an id, and a Lua script that
# decrements stock are not. For those I either turn retries off on that client (`MaxRetries: -1` in
# go-redis) and treat the error as 'unknown outcome', or make the write idempotent with a request id that
# the same Lua script checks and stores with a TTL. And I retry only within the caller's deadline."
#
# ## Measure it: idle connections, reaping and warm-up
#
# go-redis closes connections idle longer than `ConnMaxIdleTime` (v9: 30 min; v8's `IdleTimeout`: 5 min)
# and can keep `MinIdleConns` open. redis-py has neither; the lab pool adds `reap_idle()` and `prefill()`
# so we can watch what they cost. A fresh connection pays the TCP connect plus the hand-shake
# (`CLIENT SETINFO` ×2, each one round trip):

# %% tags=["nbval-ignore-output"]
c = lab.client(pool_size=4, record=True)
p = c.connection_pool
opened = p.prefill(4)                 # MinIdleConns = 4: connect now, not on the first request
reaped = p.reap_idle(0.0)             # ConnMaxIdleTime = 0: every idle socket closed
c.ping()                              # the next request reconnects first ...
c.ping()                              # ... and the one after finds a warm connection
rows = p.checkouts()
cold, warm = rows["wait"].iloc[-2], rows["wait"].iloc[-1]
assert opened == 4 and reaped == 4 and p.snapshot()["opened"] == 5
assert rows["fresh"].iloc[-2] and not rows["fresh"].iloc[-1]
print(f"checkout that had to reconnect: {cold * 1e3:.1f} ms; prefilled checkout: {warm * 1e3:.3f} ms")

# %% [markdown]
# **Takeaway:** a cold checkout costs several round trips; on a real network with TLS it is worse. That
# is the case for a few warm idle connections (and against reaping them aggressively). Servers also
# close idle clients (`timeout` in redis.conf, and NAT/load-balancer idle timers): keep the client's
# idle timeout *below* those, or turn on `health_check_interval` so a dead connection is found by a PING
# before your command uses it. (redis-py also checks a pooled socket at checkout and reconnects
# silently if the server closed it.) The health check is not free: it is one more round trip, paid by
# the first command after an idle spell. Count the round trips the toxics plan sees (`age_idle` makes
# the pool's idle connection count as 31 s older, instead of sleeping 31 s):

# %%
c = lab.client(pool_size=1, health_check_interval=30)   # PING a connection idle > 30 s before using it
c.ping()
n0 = lab.toxics.counts["requests"]
c.get(ks.key("hc"))          # used a moment ago: straight to the command
n1 = lab.toxics.counts["requests"]
c.connection_pool.age_idle(31)   # as if it had then sat idle for 31 s
c.get(ks.key("hc"))          # PING first, then the command
{"round trips, warm": n1 - n0, "round trips after 31 s idle": lab.toxics.counts["requests"] - n1}

# %% [markdown]
# **Takeaway:** set the health-check interval to match the idle timers you fear (minutes, not
# milliseconds), so busy connections never pay for it.
#
# ## Source check: the defaults table, corrected
#
# The source's table gives go-redis defaults as "PoolSize 核心数*10, IdleTimeout 5 min, MaxRetries 3".
# Here are the real defaults by version, next to redis-py 8.x's (the same for every version the course
# allows, `redis>=8.1,<9`); the cell checks the redis-py you have installed against that row:

# %%
table = P.defaults_table()
installed = P.installed_redis_py_defaults()        # read from the library, no connection made
moved = {k: (v, installed[k]) for k, v in P.REDIS_PY_8_DEFAULTS.items() if installed[k] != v}
assert not moved, f"this redis-py release moved a default (stated, installed): {moved}"
table

# %% tags=["nbval-ignore-output"]
# (which redis-py release is installed differs between correct installs)
import redis
print(f"installed: redis-py {redis.__version__}; its defaults match the redis-py 8.x row")

# %% [markdown]
# - **PoolSize is 10 × `GOMAXPROCS`**, not 10 × cores. They differ in containers: since Go 1.25
#   `GOMAXPROCS` follows the cgroup CPU limit.
# - **`IdleTimeout` 5 min is go-redis v8 only.** v9 renamed it `ConnMaxIdleTime`, default **30 min**.
# - **`MaxRetries` 3 is right**; v9.22 also raised `ReadTimeout` from 3 s to **5 s** and the backoff to
#   10 ms–1 s.
# - redis-py changed its defaults in 8.0 too (100 connections, was 2³¹; 5 s timeouts, was none;
#   **10 retries**, was 3): pin the client version and set what you rely on explicitly, as `make_pool`
#   does.
#
# The source's recommendations, checked against the experiment:
#
# | claim | verdict |
# |---|---|
# | size PoolSize from QPS × latency | **holds**: that is Little's law, and the roofline above is it, measured |
# | "50–200" connections | a range without a derivation: 5,000 QPS × 2 ms needs ~10 (+ headroom) |
# | MinIdleConns 10–20 % of PoolSize | reasonable warm-up insurance; the cold checkout above shows what it saves |
# | IdleTimeout 15 min | only safe if the server, NAT and LB idle timeouts are longer |
# | MaxRetries 1–2 | **holds** with backoff and jitter; the retry storm shows why not more |
#
# Sizing with Little's law, then verifying it:

# %%
need = P.size_pool(3000, 0.0022)      # 3,000 QPS, 2.2 ms per command, 30 % headroom
need

# %% tags=["nbval-ignore-output"]
check = P.sweep(lab, pairs=[(need, 32)], duration=0.25)
assert check["throughput"].item() > 0
print(f"P = {need}: {check['throughput'].item():,.0f} requests/s with 32 callers (target 3,000)")

# %% [markdown]
# ## Turn the knobs
#
# Pool size, callers and round-trip time; each change runs 0.3 s of load and places the point on its
# roofline.

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
poolviz.dashboard(lab, ceilings=m)   # S and X_cpu at 2 ms: measured at the top

# %% [markdown]
# ## Exercise and interview drill
#
# **Exercise** (`exercises/05_pool_sizing.ipynb`): size a pool for a target QPS **and** a p99 target given
# a measured round-trip time. The checker runs your pool size through a seeded simulation of request
# threads sharing it (virtual time, so the verdict does not depend on how busy your machine is), checks
# both targets, and that you did not over-provision by more than 2×.
#
# ## Interview drill

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
drill("05")

# %% [markdown]
# ## What a strong answer says
#
# "Each command holds a connection for one round trip, so by Little's law the pool needs
# QPS × per-command latency connections busy on average: 5,000 QPS at 2 ms is 10. That is the floor;
# the headroom above it comes from the p99 target, because requests arrive at random and one that finds
# every connection busy waits: a couple more for a loose target, several times more when the target is
# close to one round trip. Not the default 10 × GOMAXPROCS and not '200 to be safe'. I'd verify it with
# a load test: throughput should grow with the pool while min(P, C)/S is the limit and then flatten, and
# if it flattens early the client's CPU or the server is the limit. When the pool is exhausted go-redis
# waits up to PoolTimeout then fails; I keep that short so requests fail fast with a clear error instead
# of piling up. Read timeouts sit just above Redis's normal p99, retries are one or two with jittered
# backoff, because retries against a slow server multiply its load. I keep a few warm idle connections
# (MinIdleConns) and an idle timeout below the server's and the load balancer's. Blocking commands and
# pub/sub each pin a connection, so they get their own pool. And note the source's table: IdleTimeout
# 5 min is v8; v9's ConnMaxIdleTime is 30 min, and PoolSize scales with GOMAXPROCS, not cores."

# %%
lab.close()
finish(ks)
