# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # 16 · Capstone: the flash-sale system end to end
#
# > **秒杀系统中Redis缓存击穿与Go限流策略** — section 3.1's title (*cache breakdown and Go rate limiting in a
# > flash-sale system*), turned into the capstone question: *design a flash sale — millions of users, one
# > hundred phones, one second. Where do the cache guard, the rate limiters and the stock check go, and what
# > happens to an order afterwards?*
#
# > **第五章 总结与展望** — "团队通过金丝雀发布策略先将新版本推送给5%的用户流量,结合Prometheus监控指标确认
# > 无异常后逐步扩大至全量,有效避免了潜在的线上故障。"
# >
# > *"The team first pushed the new version to 5 % of user traffic with a canary release, confirmed from
# > Prometheus metrics that nothing was wrong, then widened it step by step to all traffic, avoiding
# > potential production incidents."*
#
# Section 5 is a summary with no question of its own, so this chapter does what a system-design round
# does: it puts the course's parts together into one system, runs it under load, breaks it one guard at a
# time, and then asks how you would ship a change to it safely. A strong answer covers: **each layer
# protects the next** (cheap rejections first, the expensive atomic step last); the one invariant that
# must never break (no oversell) lives in **one atomic step in Redis**, not in the application; every
# later failure must **compensate** (give the unit back) and every hand-off must survive a **crash**; what
# each guard does **when Redis is down**;
# and a canary is a **statistical test with a sample size**, not a glance at a dashboard.

# %%
from hcedu.course import setup, finish, drill
from hcedu.lab import flashsale_system as fs
from hcedu.lab import canary

ks = setup("16")

# %% [markdown]
# ## The system
#
# Every stage is a module from an earlier chapter; this chapter only wires them together
# (`hcedu.lab.flashsale_system.FlashSale`):

# %%
print(fs.DIAGRAM)

# %% [markdown]
# | stage | what runs | chapter | it stops | when Redis is down |
# |---|---|---|---|---|
# | gateway | `hcedu.go.rate.Limiter` (Go's `x/time/rate`), one per app server | 09 | floods beyond what the fleet can serve: 429 | unaffected (in process) |
# | user_limit | Redis token bucket per user (`hcedu.patterns.ratelimit`) | 09 | bots and button-mashers: 429 | **fail open** (sale goes on unthrottled) or **closed** (503s) — a choice |
# | product | hot key read through `SingleflightGuard` (`hcedu.patterns.cacheguard`) | 09 | a DB stampede when the hot key expires | reads fail |
# | stock | one Lua script: check stock, check buyer, `DECRBY`, record buyer (`hcedu.patterns.stock`) | 09 | oversell and double purchase | the sale stops (correctly) |
# | queue | `Bridge`: bounded channel → Redis list, `block_timeout` back-pressure | 07 | a slow downstream holding request threads | shed, and the unit is **given back** |
# | workers | `BLPOP`, create order, `DelayQueue.put(order, now + pay timeout)` | 07, 11 | — | — |
# | closer | `DelayQueue.claim` → `HSETNX final CLOSED` → return the unit | 11 | unpaid orders holding stock forever | closes late, never twice |
#
# The request path, stage by stage (the rest runs on goroutines off the request path):

# %%
import inspect

print(inspect.getsource(fs.FlashSale.handle))

# %% [markdown]
# Two things to notice. The purchase is decided in **one** place (`stock.attempt`): everything before it
# only turns requests away, so it can be approximate (a limiter that lets a few extra through costs a little
# load, never a phone). And everything after it can fail, so every failure after the stock step must undo
# it: a shed request calls `cancel` to give its unit back; an unpaid order is closed and gives its unit back.
#
# ## Watch it: a sale under load
#
# 1,000 requests from 300 users (Zipf-skewed: a few users hammer the button like bots) arrive at
# 2,000 requests/s against 100 units, with 8 client threads, on real threads and the real Redis protocol.
# 70 % of buyers pay at once; the rest are closed 0.2 s later (a 30-minute timeout, scaled down), and their
# units go back on sale. The hot product key expires every 0.2 s during the sale.

# %% tags=["nbval-ignore-output"]
# measured: counts depend on thread timing
sale = fs.run(users=300, stock=100, requests=1000, seed=0, keyspace=ks)
assert len(sale.frame) == 1000 and fs.invariants(sale)["holds"].all()
fs.funnel(sale)

# %%
fig = fs.chart_funnel(sale)

# %% [markdown]
# **Takeaway:** each stage turns away most of what reaches it, so the one step that must be exact (the
# stock script) sees a small fraction of the traffic — which is why it can afford to be a serialised Lua
# script on one Redis.

# %%
fig = fs.chart_progress(sale)

# %% [markdown]
# **Takeaway:** the stock sells out in the first fraction of a second; after that every request that passes
# the limiters gets a cheap `sold_out`/`duplicate` answer from the script, and the orders line rises past
# the stock only because unpaid orders are closed and their units go back on sale. (If the rejected line
# jumps near the end, the client threads fell behind their schedule — a busy machine — and caught up in a
# burst, which the gateway limiter turned away: that is its job.)
#
# After every run the system checks its invariants from the Redis state (orders, buyers, stock counter):

# %%
fs.invariants(sale)["holds"]

# %% [markdown]
# The same run as a **live dashboard**: pick a load, a stock and a fault, press *Run*, and watch admitted,
# rejected and bought requests per second redraw while the sale runs.

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
fs.dashboard(keyspace=ks)

# %% [markdown]
# ## Break it 1: take the Lua out of the stock
#
# `naive_stock` replaces the script with what most first attempts look like: `GET stock`, compare in the
# application, `DECRBY`, `HSET buyer` — separate round trips. 10 units, everyone pays, limiters opened
# wide so many buyers race:

# %% tags=["nbval-ignore-output"]
# measured: how far it oversells depends on thread timing
race = dict(users=40, stock=10, requests=200, concurrency=16, pay_rate=1.0, arrival_rate=None,
            gateway_rate=1e6, gateway_burst=10_000, user_limit=1000, keyspace=ks)
naive = fs.run(faults=("naive_stock",), **race)
inv = fs.invariants(naive)
assert not inv.loc["never oversold", "holds"]
inv

# %%
safe = fs.run(**race)
fs.invariants(safe)["holds"]

# %% [markdown]
# **Takeaway:** the naive version sold more phones than it had (its buyer check is just as separate, so a
# user whose two requests race can also buy twice: the table shows whether this run caught one); the identical
# load against the script holds every invariant. Limiters, caches and queues made no difference to that —
# only the atomic step does.
#
# ## Break it 2: Redis is down for the limiter
#
# `limiter_down` points the per-user limiter at a Redis that refuses connections. The limiter must pick:
# **fail open** (Stripe's advice: a broken limiter must not take the API down) or **fail closed**:

# %% tags=["nbval-ignore-output"]
# measured
import pandas as pd

outage = dict(users=300, stock=100, requests=300, faults=("limiter_down",), keyspace=ks)
fo = fs.run(fail_open=True, **outage)
fc = fs.run(fail_open=False, **outage)
assert fs.invariants(fo)["holds"].all() and fs.invariants(fc)["holds"].all()
assert set(fc.frame["outcome"]) <= {"gateway_429", "limiter_down"}
pd.DataFrame({"fail open": fo.frame["outcome"].value_counts(), "fail closed": fc.frame["outcome"].value_counts()}
             ).fillna(0).astype(int)

# %% [markdown]
# **Takeaway:** failing open keeps the sale running — bots are no longer throttled per user, so the stock
# script takes their load, and still no phone is oversold because the invariant never depended on the
# limiter. Failing closed turns a limiter outage into a full outage. Fail open is right *because* the
# limiter is not what guards correctness; a limiter that guards money (e.g. withdrawals) should fail closed.
#
# ## Break it 3: a slow queue, with and without compensation
#
# `slow_queue` makes the queue's Redis writes crawl (20 orders/s): the bridge's bounded buffer fills, and
# `put` gives up after 5 ms instead of holding request threads (back-pressure, chapter 07). The purchase
# already happened in the stock script, so the request must **give the unit back**. `no_compensation`
# forgets to:

# %% tags=["nbval-ignore-output"]
# measured
slow = dict(users=300, stock=100, requests=300, queue_capacity=2, keyspace=ks)
kept = fs.run(faults=("slow_queue",), **slow)
leaked = fs.run(faults=("slow_queue", "no_compensation"), **slow)
assert (kept.frame["outcome"] == "shed").sum() > 0 and (leaked.frame["outcome"] == "shed").sum() > 0
key = "stock conserved (closed and shed units returned)"
assert fs.invariants(kept).loc[key, "holds"] and not fs.invariants(leaked).loc[key, "holds"]
pd.DataFrame({"with compensation": fs.invariants(kept)["detail"],
              "without": fs.invariants(leaked)["detail"]}).loc[[key]]

# %% [markdown]
# **Takeaway:** shedding is the right response to a slow downstream, but a step that happened before the
# failure must be undone; otherwise units leak — "sold", never ordered, never returned. This is the saga
# pattern in miniature: every step after the decisive one has a compensating action.
#
# ## Break it 4: no breakdown guard on the hot key
#
# Here the product key expires every 0.05 s. Plain cache-aside lets every request that misses go to the database;
# singleflight lets one per process:

# %% tags=["nbval-ignore-output"]
# measured: database loads depend on how many requests land inside each miss window
hot = dict(users=300, stock=100, requests=300, concurrency=16, db_latency=0.01, expire_every=0.05,
           keyspace=ks)
unguarded, guarded = fs.run(faults=("no_guard",), **hot), fs.run(**hot)
loads = pd.Series({"plain cache-aside": unguarded.db_loads, "singleflight": guarded.db_loads},
                  name="product loads from the DB")
# the structural bound, whatever the machine's speed: one load at start plus at most one per expiry
expiries = guarded.seconds / hot["expire_every"]
assert loads["singleflight"] <= expiries + 2, (loads["singleflight"], expiries)
loads

# %% [markdown]
# **Takeaway:** with one app process singleflight is enough; with N processes it still makes up to N loads
# per expiry — add the Redis mutex (`MutexRebuild`) or logical expiry (chapter 09) to make it one fleet-wide.
#
# ## Break it 5: an order worker dies mid-order
#
# The order workers `BLPOP` an order and then create it. `worker_crash` kills a worker (a `kill -9`) after a
# seeded number of its steps and restarts it: a Redis command lands on the server but its reply never
# reaches the dead process. Killed right after `BLPOP`, the order existed only in the worker's memory. The
# exercise's checker makes that deterministic — it kills the default worker after each of its steps in
# turn and looks for every order afterwards:

# %%
from hcedu.course import check

check.order_worker(fs.BLPOP_WORKER.work_one, fs.BLPOP_WORKER.recover)

# %% [markdown]
# **Takeaway:** the user was told "ordered", the unit stays held, and no order exists to pay or close: stock
# conservation breaks with no error anywhere. Between taking an order and finishing it, the order must live
# in Redis, not in a process — that is exercise 16.
#
# ## Measure it: capacity with Little's law
#
# Little's law (chapter 00): requests in the system = arrival rate × time in the system. From the run above:

# %% tags=["nbval-ignore-output"]
# measured
from hcedu.lab import stats

lam = len(sale.frame) / sale.frame["end"].max()
W = sale.frame["latency"].mean()
print(f"throughput λ = {lam:,.0f} req/s, mean latency W = {W * 1e3:.2f} ms, "
      f"L = λW = {lam * W:.2f} requests in flight (8 client threads available)")
fs.summary(sale).round(3)

# %% [markdown]
# Use it backwards for capacity planning, and for the stock script, the serial bottleneck (one script at a
# time per shard: its throughput is 1 / its cost; measure the cost on your Redis with `SLOWLOG` or
# `redis-benchmark` — the figures below are what-ifs, not measurements):

# %%
print(f"1,000,000 requests/s x 5 ms each = {1_000_000 * 0.005:,.0f} requests in flight (Little's law)")
for cost_us in (10, 20):
    print(f"if one stock script costs {cost_us} µs: one shard runs {1e6 / cost_us:,.0f} purchase attempts/s")

# %% [markdown]
# So a million requests in the first second need thousands of concurrent handlers — or (far better)
# limiters at the edge that answer most of them in microseconds; and a very large sale splits the stock
# across shards (each shard sells its slice).
#
# ## Shipping a change: canary analysis
#
# Now the section-5 claim. You changed the order service and roll it out as the source describes: 5 % of
# traffic, then 20 %, 50 %, 100 %, pausing at each step to look at the error rate. As an Argo Rollouts
# manifest (the kind that actually has canary steps — see the source check):

# %%
plan = canary.RolloutPlan.from_manifest(canary.EXAMPLE_ROLLOUT)
print("weights:", plan.weights, "| pauses (s):", plan.pauses)
print(plan.analysis)

# %% [markdown]
# "Confirm from Prometheus that nothing is wrong" needs a rule. `canary.judge` makes it a test on error
# counts, with three answers: **rollback** (the canary is significantly worse — one-sided two-proportion
# z-test, p < α — *and* worse by more than the tolerated ratio), **promote** (the data rule out "1.5× worse
# or more": a non-inferiority test), **hold** (neither yet: stay at this weight and collect more requests).
# The z-test against a value you can check by hand — 10/100 vs 20/100 errors:

# %%
z, p = canary.z_test(10, 100, 20, 100)
print(f"z = {z:.4f}, one-sided p = {p:.4f}")
for args in [(100, 10_000, 300, 10_000), (10, 1_000, 0, 50), (100, 10_000, 95, 10_000)]:
    print(args, "->", canary.judge(*args))

# %% [markdown]
# A simulated rollout, 20,000 requests per 10-minute interval, baseline at 1 % errors and a canary with a
# bug that doubles it. The judge runs after every interval on the cumulative counts:

# %%
bad = canary.simulate_rollout(plan.weights, baseline_error_rate=0.01, canary_error_rate=0.02, seed=0,
                              pause=plan.pauses[0])
assert bad["decision"].tolist() == ["hold", "rollback"] and (bad["weight"] == 5).all()
bad[["step", "interval", "weight", "t", "cum_canary_n", "cum_canary_errors", "canary_rate", "baseline_rate",
     "p_value", "decision", "action"]].round(4)

# %%
fig = canary.chart_rollout(bad)

# %% [markdown]
# **Takeaway:** after the first interval at 5 % (~1,000 canary requests) the judge could not tell 2 % from
# 1 %, so it held instead of promoting; one interval later the evidence was there and it rolled back — the
# bad version never got past 5 % of the traffic. A good canary on the same plan:

# %%
good = canary.simulate_rollout(plan.weights, baseline_error_rate=0.01, canary_error_rate=0.01, seed=1,
                               pause=plan.pauses[0])
good[["step", "interval", "weight", "cum_canary_n", "canary_rate", "baseline_rate", "decision", "action"]].round(4)

# %% [markdown]
# ### Why a tiny canary needs enough requests
#
# How many requests must each side see before a 2× error rate is detected 80 % of the time?

# %%
for r in (1.5, 2.0, 3.0):
    print(f"baseline 1 %, canary {r:g}x: {canary.requests_needed(0.01, r):>6,} requests per side "
          f"(one-sided α = 0.05, power 0.8)")
print("textbook check, 1 % vs 2 % two-sided:", canary.requests_needed(0.01, 2.0, alternative="two-sided"))
need = canary.requests_needed(0.01, 2.0)
assert round(need, -2) == 1_800  # the takeaway below says "about 1,800"
for rps in (100, 5):
    print(f"a 5 % canary of a {rps} req/s service collects {need:,} requests in {need / (0.05 * rps) / 60:,.0f} min")

# %%
fig = canary.chart_power(canary.power_frame(0.01))

# %% [markdown]
# **Takeaway:** at a 1 % baseline a 2× regression needs about 1,800 canary requests to be caught 4 times in
# 5; a 5 % canary of a 100 req/s service collects that in minutes, of a 5 req/s service in hours (printed
# above). "No anomaly in the first minutes" on a small canary is the absence of evidence.
#
# Monte Carlo over 400 canaries of each kind, judged once at a fixed size:

# %%
rates = pd.concat({n: canary.decision_rates(n, trials=400, seed=0) for n in (100, 1000, 5000)},
                  names=["canary requests"]).round(3)
print(f"bad canary (2 % errors), 100 requests: not rolled back {1 - rates.loc[(100, 0.02), 'rollback']:.0%}; "
      f"5,000 requests: rolled back {rates.loc[(5000, 0.02), 'rollback']:.0%}")
assert rates.loc[(100, 0.02), "rollback"] < 0.3 and rates.loc[(5000, 0.02), "rollback"] > 0.9
rates

# %% [markdown]
# **Takeaway:** with 100 requests almost every verdict is *hold* — a rule that promoted on "no significant
# difference" would have promoted every bad canary it did not roll back (the share printed above). With
# 5,000 the bad one is almost always rolled back and the good one promoted most of the time. Judging after every interval (as the rollout
# above does) gives a bad-luck rollback several chances: budget α across looks, or require repeated failures
# (Argo's `failureLimit`).
#
# ## Source check
#
# * **The manifest is not a canary.** The source shows an Argo **CD** `Application` under "灰度发布": it
#   tells Argo CD which Git path to sync to which cluster. It has no traffic steps, no analysis, nothing
#   that could send 5 % of users anywhere:

# %%
try:
    canary.RolloutPlan.from_manifest(canary.SOURCE_APPLICATION)
except ValueError as exc:
    print("ValueError:", exc)

# %% [markdown]
#   Canary steps live in an Argo **Rollouts** `Rollout` (`strategy.canary.steps` with `setWeight`/`pause`)
#   with an `AnalysisTemplate` that queries Prometheus — the `EXAMPLE_ROLLOUT` above — or in a service mesh
#   (Istio `VirtualService` weights, which the source mentions for model A/B tests).
# * **`targetRevision: HEAD` with `automated: {prune: true, selfHeal: true}`** deploys every push to the
#   tracked branch straight to production and reverts any manual change in the cluster — including a
#   hand-made `kubectl` rollback. Argo CD refuses `argocd app rollback` while automated sync is on; the
#   GitOps rollback is `git revert` (or pin `targetRevision` to a tag).
# * **"结合Prometheus监控指标确认无异常"** is not a decision rule. Say which metric, compared with what
#   (a baseline receiving the same traffic, not last week), by which test, with how many requests (the
#   power section), and what happens on *inconclusive*. Kayenta's default judge compares canary and baseline
#   metrics with a Mann-Whitney U test and a score threshold; Argo Rollouts' own analysis checks a
#   `successCondition` per measurement with a `failureLimit`.
# * **The table does not show what the text claims.** It lists three *different* modules (订单/支付/库存) with
#   one set of numbers each; it cannot show that the migration improved stability — there is no "before".
# * **Unsourced numbers**: deployment time 45 → 8 min and "eBPF lowers network latency by about 18 %" come
#   with no workload, percentile or method. In an interview, a number without its measurement conditions is
#   a trap, not an answer.
# * Spring Cloud Alibaba and Nacos are Java frameworks in a Go text (as in sections 4.1 and 4.3); the Go
#   counterparts are e.g. go-zero or Kratos with etcd/Consul/Nacos-Go for discovery.
#
# ## What an interviewer still expects in a flash-sale design
#
# The system above is the core. Around it, the answers people expect (and where each sits in it):
#
# * **Static pages and a CDN.** The product page, images and countdown are static and served from a CDN; the
#   page fetches only the server time and, when the sale opens, a per-user purchase token — so the
#   origin sees purchase attempts, not page views, and bots cannot fire the purchase URL early.
# * **A captcha or quiz before the button.** A human needs a second or more to answer: the one-second spike
#   spreads over several seconds, and most bots drop out. It is a rate limiter that costs the user, not the
#   server.
# * **A local "sold out" flag.** Once the stock script answers `sold_out`, each app server remembers it in
#   memory (and tells the others through pub/sub); every later request is answered without a Redis call.
#   A stale flag only turns a few buyers away early, and a closed order that returns a unit can clear it.
# * **A last guard in the database.** A unique index on `(user_id, sku_id)` in the orders table and
#   `UPDATE stock SET n = n - 1 WHERE sku_id = ? AND n > 0` (check the affected rows) when the order is
#   created: even if Redis was wrong (a failover, a bug), the database refuses an oversell or a double order.
# * **Redis ↔ database reconciliation.** After the sale, and after any Redis failover: remaining units in
#   Redis + live orders in the database must equal the initial stock (this chapter's *stock conserved*);
#   a job compares them, freezes the sale if they drift, and recomputes the Redis counter from the orders.
# * **Asynchronous order creation through a durable queue.** The purchase answers "queued" at once; orders are
#   created from Kafka/RocketMQ or a Redis Stream — durable, replayable — and the client polls for the result.
#   The bridge above is bounded and sheds with compensation; the consumer side must survive a crash
#   (Break it 5).
# * **A hot SKU split across keys.** One key is one Redis core: split the stock into N keys
#   (`stock:{sku}:0..N-1`, without a shared hash tag so they land on different shards); a request decrements
#   one at random and moves to another when it is empty; the sale is sold out when all are.
#
# ## Design review, with model answers
#
# 1. **Where exactly is oversell prevented, and what would still be wrong if Redis failed over to a replica
#    that had not received the last `DECRBY`s?** In the stock script: check, decrement and record the buyer
#    run as one script, and Redis runs one script at a time. Replication is asynchronous, so a replica
#    promoted after a failover can have a *higher* counter than the units already sold: it sells them
#    again. `WAIT 1 0` after the script narrows that (the reply waits for one replica) but is not a
#    guarantee. The database's conditional `UPDATE ... WHERE n > 0` and unique `(user, sku)` index catch
#    the oversell at order creation, and reconciliation after the failover recomputes the counter. Chapter 17 measures this failover on real processes (a lock acquired on the primary is granted again on the promoted replica; a delay queue loses unreplicated puts and redelivers an undone claim).
# 2. **The per-user limiter fails open. Which limiter must fail closed, and why?** One that guards money or
#    a resource that cannot be taken back: payment or withdrawal attempts, SMS and captcha sends (each costs
#    money), login attempts (brute force). The purchase limiter may fail open only because it guards
#    nothing the stock script does not guard again (one purchase per user).
# 3. **A request took a unit and was then shed. Which component returns the unit if the app server crashes
#    between the two?** None in the request path: the compensation died with the process. The stock script
#    records the buyer, so a reconciler finds buyers with no order after a grace period and returns their
#    units (or creates the orders). Better still, make the script also append the order to a Redis Stream
#    in the same atomic step (an outbox in Redis): then there is no "took a unit, no order" state at all.
# 4. **The order workers `BLPOP` from the queue. What is lost if a worker crashes mid-order, and what fixes
#    it?** The order it popped: it exists only in the dead worker's memory, the unit stays held, and the
#    user was told "ordered" (Break it 5). Move the order atomically to a per-worker processing list
#    (`BLMOVE`, which replaced the deprecated `BRPOPLPUSH` in Redis 6.2), remove it only after the order
#    exists, and hand the processing list back when the worker restarts (exercise 16). Or use a Stream with
#    a consumer group: `XREADGROUP` puts each entry in the consumer's pending list (PEL), `XACK` removes it,
#    and `XAUTOCLAIM` lets another consumer take over entries idle too long — no need for the dead worker to
#    come back. Either way delivery becomes at-least-once, so order creation must be idempotent (the order
#    id as the primary key).
# 5. **A payment arrives one millisecond after the closer closed the order. Who wins, and what does the
#    loser do?** Exactly one state transition out of UNPAID can succeed: `HSETNX final <order> CLOSED|PAID`
#    here, `UPDATE orders SET status = ? WHERE id = ? AND status = 'UNPAID'` in SQL. The closer won, the
#    unit is already back on sale, so the payment callback sees CLOSED and **refunds** the payment
#    (idempotently, keyed by the payment id: providers retry callbacks); it must not reopen the order. Had
#    the payment won, the closer's transition is a no-op. Every transition is conditional and idempotent:
#    a repeated callback finds PAID and answers success.
# 6. **How do you size the gateway limiter, the Redis shards and the worker pool for 1 M requests in the
#    first second?** Measure first: the stock script's cost per call on your Redis, the order creation time,
#    the share of requests that pass each stage. Shards = admitted purchase attempts/s ÷ one shard's script
#    rate, with headroom; the gateway limiter admits what the shards can serve and rejects the rest in
#    microseconds; workers = orders/s × creation time (Little's law) — small, since orders are bounded by
#    the stock; handlers in flight = arrival rate × time per request.
# 7. **Canary vs blue-green for this service?** A canary sends a share of real traffic (5 % of buyers) through
#    the new order path and compares it with the baseline: it tests the change on real requests. Blue-green
#    switches all traffic between two full environments: no partial exposure, but an instant rollback by
#    switching back. Use the canary before the sale, keep the switch-back as the fallback, and do not
#    deploy during the sale.
# 8. **What does the canary compare against, what is the minimum sample before promotion, and what happens
#    when the analysis is inconclusive?** A baseline receiving the same traffic at the same time (not last
#    week's numbers); a sample from the power calculation (about 1,800 requests per side to catch a 2×
#    regression at a 1 % error rate 4 times in 5); and inconclusive means **hold** — stay at this weight and
#    collect more — never promote.
#
# ## Exercise
#
# `exercises/16_design_review.ipynb`: write the order worker that survives a crash (`work_one` and
# `recover`). The checker kills it after each of its steps, again while it recovers, fails one order
# creation, and then runs it inside this flash sale with `worker_crash` and grades it by the system's
# invariants. The solution notebook also works through the canary decision rules of this chapter.
#
# ## Interview drill

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
drill("16")

# %% [markdown]
# ## What a strong answer says
#
# "Layer the defences so that each is cheap for what it rejects: an in-process token bucket at the gateway,
# a per-user limiter in Redis against bots, the product page served from cache with a breakdown guard on
# the hot key. The purchase itself is one Lua script — check stock, check the user has not bought,
# decrement, record the buyer and the order — so oversell is impossible whatever happens in front of it.
# Then hand the order to a bounded queue: when it is full, shed the request and give the unit back; workers
# take each order atomically into a processing list (or a Stream's pending list) so a crash cannot lose it,
# create it idempotently and put a payment deadline on a delay queue that closes unpaid orders with a
# conditional transition — a payment that loses that race is refunded — and returns their stock. Behind
# Redis, the database keeps a unique (user, sku) index and a conditional stock UPDATE as the last guard, and
# a reconciliation job checks that Redis and the database agree. Decide per guard what happens when Redis is down: limiters fail open, the stock
# fails closed. Ship changes with a canary judged by a test against a baseline with enough requests —
# and know how many that is — with an automated rollback, not a glance at a dashboard."

# %%
finish(ks)
