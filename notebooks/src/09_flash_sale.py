# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # 09 · Flash sale: cache breakdown, rate limiting, no oversell
#
# > **秒杀系统中Redis缓存击穿与Go限流策略** — 在高并发秒杀场景中,缓存击穿是常见问题:当某个热点Key(如商品信息)
# > 过期瞬间,大量请求直接穿透到数据库,导致瞬时压力激增。……如何用Redis和Go的限流策略应对?
# >
# > *In a flash sale, cache breakdown is the classic problem: the moment a hot key (the product page) expires,
# > a flood of requests goes straight through to the database. How do you use Redis and Go's rate limiting
# > to survive it?*
#
# A strong answer separates **three** cache failures — breakdown (one hot key expires), penetration (keys that
# do not exist), avalanche (many keys expire together) — and gives each its own fix: a rebuild lock done right
# (token, re-check, bounded retries) or singleflight or logical expiry; a null cache or Bloom filter; TTL
# jitter. Then it limits what reaches the service (token bucket vs leaky bucket vs windows, in one process or
# in Redis), and it sells stock with **one atomic step**, so nothing is oversold. Asked about the whole
# flash sale, it adds the funnel around that step: static pages on a CDN, a captcha or quiz to spread the
# peak, a local sold-out flag, hot stock split across keys, asynchronous orders through a durable queue,
# the database's conditional `UPDATE` and unique index as the last guard, and Redis↔DB reconciliation.

# %%
from hcedu.course import setup, finish, drill
import inspect
import pandas as pd
import matplotlib.pyplot as plt
from hcedu.lab import flashsale

ks = setup("09")

# %% [markdown]
# ## Build it: three ways a cache lets the database down
#
# | failure | what happens | fix built here (`hcedu.patterns.cacheguard`) |
# |---|---|---|
# | **breakdown** 击穿 | one hot key expires; every request that misses queries the DB at once | `MutexRebuild`, `SingleflightGuard`, `LogicalExpiry`, `XFetch` |
# | **penetration** 穿透 | requests for ids that do not exist are never cached, so all reach the DB | `NullCache`, `BloomGuard` over `hcedu.patterns.bloom.BloomFilter` |
# | **avalanche** 雪崩 | many keys cached together expire together | `ttl_with_jitter` (and warm-up, circuit breakers) |
#
# All guards share one interface, `guard.get(key)`, over a Redis cache and a `loader(key)` that stands for
# the database. The mutex rebuild done right takes a lock with a random token, **reads the cache again after
# locking** (someone may have rebuilt it while we were asking for the lock), releases with compare-and-delete,
# and gives up after a bounded number of jittered waits:

# %%
from hcedu.patterns.cacheguard import MutexRebuild, SingleflightGuard, LogicalExpiry

print(inspect.getsource(MutexRebuild.get))
print(inspect.getsource(MutexRebuild._rebuild))

# %% [markdown]
# `SingleflightGuard` does the same inside one process with Go's `singleflight.Group` (no Redis round trips,
# but one load **per process**). `LogicalExpiry` never lets the key vanish: the value carries its own
# `expire_at` and no Redis TTL; a reader that finds it stale returns the stale value at once and starts one
# background rebuild under the lock (Caffeine's `refreshAfterWrite` idea):

# %%
print(inspect.getsource(LogicalExpiry.get))

# %% [markdown]
# ## Watch it: DB hits when a hot key expires
#
# 50 real threads read `sku-1` at the same moment, right after it expired; a database query takes 50 ms.
# Run once as one process and once as four (four guard objects sharing one Redis, i.e. four app servers):

# %% tags=["nbval-ignore-output"]
# measured with real threads: counts can vary by one or two, the order cannot
hot = pd.concat([flashsale.hotkey_expiry(clients=50, processes=p, keyspace=ks) for p in (1, 4)], ignore_index=True)
h = hot.set_index(["processes", "guard"])["db_hits"]
assert h[(1, "none")] > 10 * h[(1, "mutex")] and h[(1, "mutex")] == h[(4, "mutex")] == 1
assert h[(4, "singleflight")] <= 4 and h[(1, "logical")] == 1 and (hot["errors"] == 0).all()
hot.round(1)

# %% tags=["nbval-ignore-output"]
fig = flashsale.chart_hotkey(hot)

# %% [markdown]
# **Takeaway:** with no guard every one of the 50 readers queries the database; the Redis mutex makes it one
# query fleet-wide, singleflight one per process, and logical expiry one query while nobody waits for it
# (no reader waited for it: each got a value back in Redis round trips, not in the 50 ms the query takes; the
# `stale` column counts those served the old value before the rebuild landed).
#
# The price differs too: under the mutex the 49 losers sleep and poll (their slowest response is the rebuild
# time plus a backoff step); singleflight waiters are woken the instant the load finishes; logical expiry
# serves data up to one rebuild older than its TTL. Turn the knobs (clients, processes, query time):

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
from ipywidgets import IntSlider, interact


@interact(clients=IntSlider(value=50, min=5, max=200, step=5), processes=IntSlider(value=2, min=1, max=8),
          query_ms=IntSlider(value=50, min=0, max=200, step=10))
def knobs(clients, processes, query_ms):
    frame = flashsale.hotkey_expiry(clients=clients, processes=min(processes, clients),
                                    load_time=query_ms / 1000, keyspace=ks)
    flashsale.chart_hotkey(frame)
    plt.show()


# %% [markdown]
# ## Watch it: penetration, ids that do not exist
#
# A crawler (or an attacker) asks for products that do not exist. Plain cache-aside caches nothing for them,
# so every request is a database query. A **null cache** stores "not found" for a short TTL: it helps when
# the same ids repeat, not when every id is new. A **Bloom filter** of the ids that exist answers "certainly
# not" without touching Redis's cache or the database; its false positives (≈1 % here) fall through to the
# null cache behind it:

# %%
pen = flashsale.penetration(500, existing=1000, distinct=100, keyspace=ks)
pen.pivot(index="guard", columns="attack", values="db_hits").loc[["none", "null cache", "bloom + null cache"]]

# %%
fig = flashsale.chart_penetration(pen)

# %% [markdown]
# **Takeaway:** a null cache caps the damage at one query per distinct missing id; only the Bloom filter
# also stops an attack that never repeats an id (3 of 500 new ids were false positives, as ~1 % predicts).
#
# The filter is a Redis bitmap of `m` bits and `k` hash positions per item, sized by the standard formulas
# `m = -n ln p / (ln 2)²`, `k = (m/n) ln 2`. Checked against the theory on the same data:

# %%
from hcedu.patterns.bloom import BloomFilter

bf = BloomFilter(capacity=1000, error_rate=0.01, keyspace=ks, name="theory")
bf.add_many(f"sku-{i}" for i in range(1000))
false_negatives = sum(f"sku-{i}" not in bf for i in range(1000))
measured = sum(f"nope-{i}" in bf for i in range(1000)) / 1000
print(f"m = {bf.bits} bits ({bf.bits / 1000:.1f} per item), k = {bf.hashes}; false negatives: {false_negatives}")
print(f"false-positive rate: measured {measured:.2%}, theory {bf.estimated_fp_rate(1000):.2%}")
bf.clear()

# %% [markdown]
# A Bloom filter cannot delete (clearing a bit could clear it for another item, creating a false negative):
# a deleted product stays "maybe" until the filter is rebuilt, and new products must be added **before**
# they are served. RedisBloom's `BF.ADD`/`BF.EXISTS` do the same thing server-side; its `CF.*` cuckoo filter
# can delete.
#
# ## Watch it: avalanche, keys that expire together
#
# 1,000 product keys are loaded within 5 seconds (a deploy, a cache restart) with a 10-minute TTL. Every key
# is read constantly, so each expiry is one database reload, which caches the key again. On a
# `VirtualClock`, half an hour takes milliseconds:

# %%
ava = flashsale.avalanche(keys=1000, ttl=600, jitters=(0, 120), seed=0)
flashsale.avalanche_summary(ava)

# %%
fig = flashsale.chart_avalanche(ava)

# %% [markdown]
# **Takeaway:** with a fixed TTL the whole cache expires within the same 5 seconds every 10 minutes (a
# database spike of 200+ reloads a second, repeating); 0–120 s of random jitter spreads the first wave over
# two minutes and later waves even wider, cutting the peak more than tenfold.
#
# ## Break it 1: the source's rebuild deletes someone else's lock
#
# The source's code, ported line for line as `SourceRebuild` (marked unsafe):
#
# ```go
# locked, _ := redis.SetNX(lockKey, "1", time.Second*3)
# if locked {
#     defer redis.Del(lockKey)                 // plain DEL
#     product := queryFromDB(productId)
#     redis.SetEX(key, serialize(product), time.Minute*10)
#     return product, nil
# } else {
#     time.Sleep(50 * time.Millisecond)
#     return GetProduct(ctx, productId)        // retry by recursion, no bound
# }
# ```
#
# A scripted interleaving of three clients, the same with each lock. A's query is slow (a bad query plan, a
# lock wait in the database) and outlives the 3 s lease, then fails; the lease is fast-forwarded with
# `PEXPIRE` so the story runs in milliseconds:

# %%
src = flashsale.lock_overrun("source", keyspace=ks)
src.frame

# %% [markdown]
# With the plain `DEL`, A's unlock at step 4 deletes **B's** lock (every client writes the same value `"1"`,
# so nobody can even tell whose it is), and C walks in: three queries for one key, two at once. Now the
# token lock (`RedisLock`: random token, compare-and-delete) on the same script:

# %%
tok = flashsale.lock_overrun("mutex", keyspace=ks)
print(tok.results)
tok.frame

# %% [markdown]
# **Takeaway:** A's compare-and-delete finds B's token and deletes nothing; C waits for B and gets B's value
# (two queries, and the second was the lease's fault: keep `lock_ttl` above the slowest rebuild). The token
# fixes *who may unlock*; only a long enough lease (or a watchdog) fixes *how long the lock protects*.
#
# ## Break it 2: retry by recursion
#
# The other branch of the source retries by calling itself. While the lock is held by a stuck rebuild, every
# waiting request recurses every 50 ms, holding a goroutine (and its growing stack) the whole time, with no
# deadline. In Python the stack gives out first:

# %% tags=["nbval-ignore-output"]
# the depth depends on how deep the kernel's own stack already is
rec = flashsale.recursion_depth()
print(rec)
assert rec["error"] == "RecursionError" and rec["depth"] > 500

# %% [markdown]
# About a thousand nested calls, i.e. ~50 s of polling, then a crash. In Go the stack would keep growing (up to
# the 1 GB default maximum) and the request would simply never give up. `MutexRebuild` loops instead: a bounded
# number of waits with jittered exponential backoff, re-reading the cache each time, then `CacheBusy` — a
# decision the caller makes (HTTP 503, a default, or a direct DB read), not an accident.
#
# ## Rate limiting: admitted requests per limiter
#
# The source limits with `rate.NewLimiter(100, 200)`: a **token bucket** refilled at 100 tokens/s holding at
# most 200, **initially full**. `hcedu.go.rate` is a line-by-line port of Go's limiter; offer it 400 requests a
# second for 3 seconds:

# %%
from hcedu.clock import VirtualClock
from hcedu.go.rate import Limiter

lim = Limiter(100, 200, clock=VirtualClock())
offered = pd.DataFrame({"t": [k / 400 for k in range(1200)]})
offered["admitted"] = [lim.allow_n(t, 1) for t in offered["t"]]
offered.groupby(offered["t"].astype(int))["admitted"].sum().rename_axis("second").to_frame()

# %% [markdown]
# "每秒100个令牌,突发上限200" is right, but the first second admits **299**: the full bucket (200) plus a
# second's refill. Size the database for burst + rate, not for rate. And this limiter lives in one process:
# ten app servers each with `NewLimiter(100, 200)` admit 1,000/s between them.

# %% [markdown]
# ### Real Go beside the mirror: `x/time/rate`
#
# Everything this chapter says about `rate.NewLimiter` was measured on `hcedu.go.rate`, which claims to be a
# line-by-line port. The cell below checks the claim against Go's own `golang.org/x/time/rate`: the same
# `AllowN` calls at the same fixed instants (a limit of 10 per second, burst 3; times in ms after a fixed
# base) go to both, and the decisions and the tokens left must match, row by row. The table has a burst, a
# partial refill, a request for more than the burst and a call whose time is earlier than the previous one.
# It needs a Go toolchain (`pip install 'hcedu[go]'`) and the x/time sources (Debian's
# `golang-golang-x-time-dev`); without them the cell prints how to get them.

# %% tags=["nbval-ignore-output"]
# real Go (when x/time is installed) beside hcedu.go.rate: the same calls at the same fixed times
from hcedu import gorun
from hcedu.lab import gocompare

table = gocompare.rate_table(limit=10, burst=3)   # None, after saying what is missing, without Go or x/time
if table is not None:
    print(gorun.version(), "golang.org/x/time/rate beside hcedu.go.rate")
    assert table["agree"].all(), table                                # same decision, same tokens left
    assert list(table["go_allow"][:4]) == [True, True, True, False]   # the full bucket of 3, then empty
    assert not table.query("n > 3")["go_allow"].any()                 # more than the burst: never
    display(table)

# %% [markdown]
# **Takeaway:** on every row of the table Go's limiter and the port make the same decision and leave the same
# tokens, which is what lets this chapter measure `rate.NewLimiter` through its Python port.

# %% [markdown]
# A shared limit needs the counter in Redis (`hcedu.patterns.ratelimit`: fixed window, sliding log, sliding
# window counter, Stripe's token bucket, GCRA, each one Lua script). The classic fixed-window failure: 100
# requests in the last 10 ms of a minute and 100 in the first 10 ms of the next:

# %%
from hcedu.lab import limiters

burst = limiters.boundary_burst(limit=100, window=60, client=ks.client)
limiters.max_in_any_window(burst, 60).to_frame()

# %%
fig = limiters.chart_admitted(burst, 60)

# %% [markdown]
# **Takeaway:** the fixed window admitted **200 in 20 ms** — twice its limit — because both halves fell in
# different windows; the sliding log, sliding counter, token bucket and GCRA admitted 100.
#
# **Token bucket vs leaky bucket.** The same 14 requests arrive at once at a limit of 10 per second. The token
# bucket lets the first 10 through *now* and refuses the rest (bursts pass, then the rate holds). The leaky
# bucket as a **queue** (the source's "漏桶: 定时匀速处理") accepts 10 into its queue and serves them one every
# 100 ms: no burst ever reaches the backend, at the price of waiting:

# %%
c = VirtualClock()
token = limiters.GoRate(limit=10, window=1, clock=c)
leaky = limiters.LeakyBucket(limit=10, window=1, clock=c)
rows = []
for i in range(14):
    ok, delay = token.allow("k").allowed, leaky.schedule("k")
    rows.append({"request": i, "token bucket": "now" if ok else "429",
                 "leaky bucket (queue)": "429" if delay is None else f"after {delay:.1f} s"})
pd.DataFrame(rows).set_index("request").T

# %% [markdown]
# **Takeaway:** same long-run rate, opposite shapes: the token bucket passes a burst of up to `burst` at once;
# the leaky queue turns it into an even stream and adds latency. (A leaky bucket used as a *meter* — refuse
# instead of queue — makes exactly the token bucket's decisions; that is GCRA.)
#
# ## Break it 3: a Redis limiter that is not atomic
#
# GET the count, compare, then INCR: two round trips, so 8 threads that read "49" all get in. The same limit
# of 50 with the Lua token bucket, 400 requests from 8 threads with time frozen (no refill):

# %% tags=["nbval-ignore-output"]
# real threads: the naive count varies from run to run
from hcedu.patterns.ratelimit import TokenBucketLimiter

frozen = VirtualClock()
lua = limiters.concurrency_check(lambda: TokenBucketLimiter(ks.client, limit=50, window=3600, clock=frozen,
                                                            keyspace=ks, name="lua"), threads=8, hits=400)
naive = limiters.concurrency_check(lambda: limiters.NaiveFixedWindow(ks.client, limit=50, window=3600,
                                                                     clock=frozen, keyspace=ks), threads=8, hits=400)
assert lua == 50 and naive >= 50
print(f"limit 50 -> Lua token bucket admitted {lua}, GET-then-INCR admitted {naive}")

# %% [markdown]
# ## Break it 4: one app server's clock runs an hour fast
#
# **Why it matters.** A limiter shared through Redis stores *timestamps*, and by default each app server
# sends its own `now`. Clocks drift: an NTP daemon that died, a VM restored from a snapshot, a container
# on a host with a bad RTC. GCRA's whole state is one timestamp (the theoretical arrival time), so a single
# request stamped an hour ahead pushes it an hour into the future, and every honest server's requests are
# then refused for that hour: one broken clock takes the API down for everyone. The fix is one clock for
# the fleet: the script reads Redis's own `TIME`, or clamps the client's time to `TIME` ± `max_skew`
# (what `hcedu.patterns.ratelimit` does by default with a real clock). A `SkewedClock(3600)` is a real
# clock an hour fast; limit 5 per minute, one request from the skewed server, then 3 from an honest one:

# %%
from hcedu.clock import SkewedClock
from hcedu.patterns.ratelimit import GCRALimiter

def after_skew(name, **how):
    fast = GCRALimiter(ks.client, limit=5, window=60, keyspace=ks, name=name, clock=SkewedClock(3600), **how)
    honest = GCRALimiter(ks.client, limit=5, window=60, keyspace=ks, name=name, **how)
    honest.reset("api")                          # a fresh key (also when the cell runs again)
    fast.allow("api")                            # stamped an hour ahead
    ds = [honest.allow("api") for _ in range(3)]
    return {"honest requests admitted (of 3)": sum(d.allowed for d in ds),
            "honest retry-after": f"{ds[-1].retry_after / 60:.0f} min"}

skew = pd.DataFrame({"trusts the app's clock": after_skew("trust", max_skew=None),
                     "clamped to Redis TIME ± 1 s": after_skew("clamp", max_skew=1.0),
                     "Redis TIME only": after_skew("time", use_redis_time=True)})
skew = skew.T                                    # one row per way of telling the time
assert skew["honest requests admitted (of 3)"].tolist() == [0, 3, 3]
skew

# %% [markdown]
# Trusting the app's clock, the honest server is refused and told to come back in about an hour; clamped,
# the skewed request counts at most one second ahead and the honest traffic flows; with `TIME` only, the
# skewed server cannot move the state at all. (The clamp costs one `TIME` call inside the script; a
# `VirtualClock` in the simulations above trusts the client on purpose, since virtual time has nothing to
# do with the server's.)
#
# **Takeaway:** state shared between servers must be stamped by one clock, the Redis server's, or the
# worst clock in the fleet decides for everyone.
#
# **Interview angle.** "Your Redis limiter uses timestamps: whose clock?" A strong answer: not the app
# servers', because they disagree; read `TIME` inside the Lua script (allowed since Redis 5, where scripts
# replicate by effects), or clamp the client's time to it so a broken server is judged at most a bound
# off, and alert on the skew. The same applies to lock leases and session expiry stored as timestamps.
#
# ## Break it 5: oversell
#
# The last line of defence is the stock itself. `NaiveStock` reads the stock, compares in the application,
# then `DECRBY`s; `Stock.try_buy` does check, one-per-user, `DECRBY` and the order record in one Lua script:

# %%
from hcedu.patterns.stock import BUY_LUA, Stock

print(BUY_LUA.strip())

# %% tags=["nbval-ignore-output"]
# real threads: how far the naive stock oversells varies
sale = flashsale.oversell(stock=100, buyers=400, threads=8, keyspace=ks)
ok = sale.set_index("impl")
assert ok.loc["Lua script", "sold"] == 100 and ok.loc["Lua script", "remaining"] == 0
assert ok.loc["naive GET then DECR", "sold"] >= 100
sale

# %% tags=["nbval-ignore-output"]
fig = flashsale.chart_oversell(sale)

# %% [markdown]
# **Takeaway:** check-then-act across round trips sells units that do not exist (the counter goes negative);
# one script cannot, because Redis runs it with nothing interleaved. `DECR` alone and "undo if negative" also
# works for a plain counter, but the script also enforces one purchase per user and writes the order
# atomically, which the undo cannot.
#
# ## The rest of the design: the layers around the stock script
#
# The source stops at the cache and the limiter, but interviewers expect the whole funnel: each layer
# exists to send fewer requests to the next one, and the last one must be correct even if every layer
# above it fails. From the outside in:
#
# 1. **Static pages on a CDN.** The product page, images and countdown are static files served from CDN
#    edges; only the buy call (and a small stock-status call) reaches your servers. The buy URL is revealed
#    only when the sale starts (a per-sale token in the path) so scripts cannot hammer it early, and the
#    countdown uses server time, not the client's clock.
# 2. **Spread the peak.** A captcha or a one-question quiz before the buy button costs a human a few seconds
#    and a bot a lot more: the spike of clicks in the first second is spread over several, and many bots
#    drop out. Queueing the request (chapter 07) and answering "you are in line" does the same at the server.
# 3. **Rate limiting** per user and per instance (above), so nobody's retry loop takes the capacity.
# 4. **A local "sold out" flag.** Once Redis answers "sold out", every instance remembers it in memory and
#    refuses later requests without a round trip:

# %%
flag = flashsale.sold_out_flag(stock=50, requests=1000, keyspace=ks)
assert flag["sold"].tolist() == [50, 50]
assert flag.loc["local sold-out flag", "redis_calls"] == 51    # the 50 sales and the first "sold out"
flag

# %% [markdown]
# After the 50 units are gone, the flagged instance stops asking Redis at all. (With several instances,
# each learns it on its first refusal; publish it over pub/sub to learn it sooner. If a cancelled order
# returns a unit, clear the flag, or accept that the unit sells in the next reconciliation round.)
#
# 5. **The stock script** (Break it 5), and for one very hot SKU, **its stock split across keys**: one key
#    lives on one Redis node and one CPU core; several keys (`stock:sku-1:0..3`, on Redis Cluster in
#    different slots) spread the decrements. A buyer starts at a random shard and moves on if it is empty,
#    so a unit left anywhere still sells:

# %%
split = flashsale.split_stock(stock=100, shards=4, buyers=100, seed=0, keyspace=ks)
assert split["sold"].sum() == 100 and (split["calls"] >= split["sold"]).all()
split

# %% [markdown]
# The load is spread evenly and nothing is oversold; the price is a few extra calls when a shard runs dry
# (the `calls` above `sold`), and "how many are left" is now a sum over keys.
#
# 6. **Asynchronous order creation through a durable queue.** The stock script records the order in Redis
#    (here a list; a Stream with a consumer group in production, or Kafka/RocketMQ) and the request returns
#    "order accepted" at once; workers create the database order at the pace the database can take, and
#    the user polls for the result. The queue must survive a crash (AOF or a broker), and workers must ack
#    only after the database commit and be idempotent, since a message can be delivered twice (chapter 07,
#    and chapter 16 builds exactly this).
# 7. **The database's own last guard.** Whatever Redis says, the database must not oversell or double-sell:
#    decrement with a conditional `UPDATE stock SET qty = qty - 1 WHERE sku = ? AND qty > 0` (zero rows
#    changed means sold out; the row lock serialises concurrent buyers) and insert the order under a
#    **unique index on `(user_id, sku)`**, in one transaction, so a duplicate rolls the decrement back.
#    Each buyer below tries twice in a row (a double click):

# %%
guard = flashsale.db_last_guard(stock=100, buyers=300, attempts_per_buyer=2)
assert guard["sold"] == guard["orders"] == guard["distinct_buyers"] == 100 and guard["remaining"] == 0
print(guard)

# %% [markdown]
# 8. **Reconciliation between Redis and the database.** Redis's count and the database's orders drift: a
#    message lost between the script and the worker leaves a unit sold in Redis with no order, and a Redis
#    failover can lose the last decrements (replication is asynchronous). A periodic job compares Redis's
#    buyers with the order rows: orders missing in the database are re-enqueued (or the units returned),
#    rows unknown to Redis mean Redis lost writes, and the database wins. Below, ten buyers got a unit in
#    Redis but only eight order rows arrived:

# %%
sale = Stock(item="reconcile", keyspace=ks)
sale.load(10)
for u in range(10):
    sale.try_buy(f"user-{u}")
rows_in_db = [f"user-{u}" for u in range(8)]              # two messages lost on the way
report = flashsale.reconcile(sale, rows_in_db)
assert report["missing_in_db"] == ["user-8", "user-9"] and not report["balanced"]
print(report)
sale.clear()

# %% [markdown]
# **Takeaway:** Redis absorbs the peak and decides fast; the database decides last and is always right;
# a reconciliation job closes the gap between them.
#
# ## Measure it: what each safeguard costs
#
# Round trips per request, on the backend in use (embedded fakeredis unless `REDIS_URL` is set):

# %% tags=["nbval-ignore-output"]
# measured: numbers vary by machine and backend
import time
from hcedu.patterns.cacheguard import NoGuard, NullCache
from hcedu.patterns.stock import Stock

def per_second(fn, n=500):   # 500 calls: a rate to 2-3 digits, 4x cheaper than 2,000 on fakeredis
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return round(n / (time.perf_counter() - t0))

cache = NoGuard(lambda k: {"id": k}, keyspace=ks, name="bench")
cache.put("hot", {"id": "hot"})
mutex = MutexRebuild(lambda k: {"id": k}, keyspace=ks, name="bench")
bloom = BloomFilter(capacity=10_000, keyspace=ks, name="bench")
stock = Stock(item="bench", keyspace=ks)
stock.load(10**6)
bucket = TokenBucketLimiter(ks.client, limit=10**9, window=1, keyspace=ks, name="bench")
speed = pd.Series({
    "cache hit (GET)": per_second(lambda i: cache.get("hot")),
    "mutex guard, hit (GET)": per_second(lambda i: mutex.get("hot")),
    "Bloom check (1 script)": per_second(lambda i: bloom.might_contain(i)),
    "token-bucket decision (1 script)": per_second(lambda i: bucket.allow("u")),
    "Lua purchase (1 script)": per_second(lambda i: stock.try_buy(f"u{i}")),
}, name="calls/s")
assert (speed > 0).all()
speed.to_frame()

# %% [markdown]
# Every guard costs about one round trip on the hot path, so they are cheap next to the database query they
# save; the mutex costs nothing extra on a hit (it only locks on a miss). On a real server, a script call is
# ~1 round trip too: latency, not the script, dominates. The numbers to compare against theory are the counts
# above: 1 query per hot-key expiry (mutex), ≤ 1 per process (singleflight), ≈ p·N Bloom false positives,
# and exactly `stock` units sold.
#
# ## Source check
#
# * **`Set(ctx, key, val, &redis.Options{NX: true, EX: 30})` does not compile** (COURSE §5 item 4):
#   `Set` takes a `time.Duration` and `redis.Options` is the client's configuration struct. Use
#   `rdb.SetNX(ctx, key, token, 30*time.Second)` or
#   `rdb.SetArgs(ctx, key, token, redis.SetArgs{Mode: "NX", TTL: 30*time.Second})`.
# * **The seckill rebuild is unsafe** (§5 item 5): the lock value is the constant `"1"` and `defer
#   redis.Del(lockKey)` deletes whatever lock is there — another client's, once a slow rebuild outlived the
#   3 s lease (Break it 1). Use a random token and compare-and-delete (Lua), re-check the cache after locking,
#   and keep the lease above the slowest rebuild.
# * **Retry by unbounded recursion** (Break it 2): use a loop with a bounded number of jittered waits and a
#   deadline (the request's `ctx`), then fail fast.
# * The same code also ignores errors: `data, err := redis.Get(...)` treats *any* error (Redis down, timeout)
#   as a miss and sends the request to the database — during a Redis outage that is every request; and
#   `queryFromDB` has no error path, so a failed or empty query is cached for 10 minutes as a product.
#   Only `redis.Nil` means "miss".
# * "有效避免数据库**雪崩**": the mutex addresses **breakdown** (击穿), one hot key; avalanche (雪崩, many keys
#   expiring together) needs TTL jitter, and penetration (穿透) a null cache or Bloom filter. Interviewers
#   check that you keep the three apart.
# * The limiter table is right in spirit — token bucket for bursts, leaky bucket (as a queue) for a smooth
#   output — but `rate.NewLimiter(100, 200)` admits up to **300 in the first second** (burst + refill), and it
#   is **per process**: N instances admit N × 100/s. A fleet-wide limit needs Redis (one Lua script per
#   decision), or a limiter at the gateway. `rate.Limiter` is not only for bursts either: `Wait`/`Reserve`
#   delay requests instead of refusing them, and with `burst = 1` that paces them like a leaky queue.
#
# ## Exercise
#
# `exercises/09_token_bucket.ipynb`: write a token bucket with `allow_n(t, n)` and `tokens_at(t)` on explicit
# time. The checker replays x/time/rate's own test tables, the edge cases (`n > burst`, rate 0, rate inf) and
# 200 random sequences against `hcedu.go.rate.Limiter`.
#
# ## Interview drill

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
drill("09")

# %% [markdown]
# ## What a strong answer says
#
# "Three different cache failures, three fixes. *Breakdown* — a hot key expires and every miss hits the
# database: rebuild under a Redis lock taken with `SET NX PX` and a random token, re-check the cache after
# locking, release with a compare-and-delete script, and let losers retry a bounded number of times with
# jitter; lease longer than the slowest rebuild. In-process, singleflight collapses concurrent misses to one
# per instance; for the hottest keys, logical expiry serves the stale value while one rebuild runs. The
# source's plain `DEL` and recursive retry get both halves wrong. *Penetration* — ids that do not exist:
# cache a short-lived null, and put a Bloom filter of valid ids in front (false positives only, no delete).
# *Avalanche* — keys cached together expire together: add random jitter to TTLs, warm gradually. In front
# of all that, rate-limit: `x/time/rate`'s token bucket per instance allows bursts up to `burst` and then the
# rate; a fleet-wide limit needs one Lua script in Redis (sliding window or token bucket/GCRA — a fixed window
# lets 2N through at a boundary); decide fail-open vs fail-closed when Redis is down. Finally stock: check,
# one-per-user, decrement and record the order in one Lua script, so no interleaving can oversell; then push
# the order to a queue for the database. Around that: static pages on a CDN and a buy URL revealed at the
# start; a captcha or quiz to spread the first second's clicks; a local sold-out flag so a finished sale
# costs no round trips; a hot SKU's stock split over several keys; order creation asynchronous through a
# durable queue with idempotent workers; in the database a conditional `UPDATE … WHERE qty > 0` and a
# unique index on (user, sku) as the last guard; and a reconciliation job between Redis and the database."

# %%
finish(ks)
