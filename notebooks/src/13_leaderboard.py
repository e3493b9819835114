# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # 13 · Leaderboards on sorted sets
#
# > **基于Redis ZSet的实时排行榜Go服务开发** — 实时排行榜广泛应用于游戏积分榜、直播热度排行等场景。
# > Redis 的 ZSet(有序集合)凭借其按分数排序的能力,成为实现此类功能的理想选择。
# >
# > *Build a real-time leaderboard service (game scores, live-stream popularity) in Go on a Redis sorted set.*
#
# A strong answer covers: why a ZSET (skiplist + hash: O(log N) updates and rank, O(log N + M) ranges);
# **adding** points atomically (`ZINCRBY`, not `ZADD` of a value computed in the client); what happens on
# **equal scores** (ordered by member name, not by who got there first) and how a composite score fixes it
# without losing precision; the queries a product needs (top N, pages, "my rank", shared ranks for ties,
# "the players around me"); daily/weekly boards and "last 7 days"; how much memory a board of a million
# members takes; and what changes when the board has tens of millions of members or one key takes all the
# traffic.

# %%
from hcedu.course import setup, finish, drill
from hcedu.clock import VirtualClock
from hcedu.patterns.leaderboard import Leaderboard, Composite, ADD_LUA, AROUND_LUA
from hcedu.lab import boardlab

ks = setup("13")

# %% [markdown]
# ## Build it: one sorted set, four queries
#
# A sorted set maps each member to a score and keeps members ordered by (score, member). Redis stores it
# as a **hash** (member → score, for O(1) `ZSCORE`) plus a **skiplist** whose nodes carry span counts, so
# "how many members are above this one" (`ZREVRANK`) is O(log N), not a scan. Small sets (≤ 128 members
# of ≤ 64 bytes by default: `zset-max-listpack-entries` / `zset-max-listpack-value`, called `…-ziplist-…`
# before Redis 7.0) are a compact **listpack** instead, converted automatically as they grow (measured in
# "How big is a board?" below).
#
# | product question | command | cost |
# |---|---|---|
# | add 10 points to a player | `ZINCRBY board 10 player` | O(log N) |
# | top 10 | `ZRANGE board 0 9 REV WITHSCORES` (`ZREVRANGE` before 6.2) | O(log N + 10) |
# | page 3 of 20 | `ZRANGE board 40 59 REV WITHSCORES` | O(log N + 20) |
# | my rank | `ZREVRANK board player` (+1) | O(log N) |
# | the 5 above and below me | `ZREVRANK`, then `ZRANGE board r-5 r+5 REV` | O(log N + 11) |
#
# `hcedu.patterns.leaderboard.Leaderboard` wraps these; time comes from an injected clock, so a game runs
# instantly on a `VirtualClock`:

# %%
clock = VirtualClock(1_000)
lb = Leaderboard("demo", keyspace=ks, clock=clock)
for i, player in enumerate(["ana", "ben", "chen", "dmitri", "eve", "farah", "gus"]):
    lb.add(player, 10 * (i % 4) + 5)
    clock.advance(1)
lb.add("ben", 30)
print("top 3:     ", lb.top(3))
print("page 2 of 3:", lb.page(2, 3))
print("eve's rank: ", lb.rank("eve"), "| nobody's rank:", lb.rank("nobody"))
print("around eve: ", [(e.rank, e.member, e.points) for e in lb.around("eve", 1)])

# %% [markdown]
# Entries are `Entry(rank, member, points)` with 1-based ranks. "Around me" reads the rank and the window
# in **one script**, so a concurrent update cannot move the player out of their own window between the
# two reads:

# %%
print(AROUND_LUA.strip())

# %% [markdown]
# ## Watch it: a live game
#
# Ten seeded players of different (and drifting) skill score points for ten virtual minutes; the top 5 is
# read with `top(5)` every 10 seconds, as a scoreboard widget polling the service would:

# %%
game = boardlab.game(players=10, duration=600, step=10, top=5, seed=13)
game[game["t"].isin([60.0, 300.0, 600.0])].pivot(index="rank", columns="t", values="member")

# %%
boardlab.chart_bump(game)

# %% [markdown]
# **Takeaway:** every snapshot is one O(log N + 5) range read of an always-sorted set — the service never
# sorts, so the top N is as fresh as the last `ZINCRBY`, however often scores change.
#
# Turn the knobs (players, how many to show, the seed):

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
from ipywidgets import interact

_ = interact(lambda players=10, top=5, seed=13: boardlab.chart_bump(
    boardlab.game(players=players, top=min(top, players), seed=seed)),
    players=(4, 16), top=(3, 10), seed=(0, 50))

# %% [markdown]
# ## Break it 1: ties sorted by name
#
# Members with equal scores are ordered **lexicographically**, and `ZRANGE … REV` (like the older
# `ZREVRANGE`) reverses that too. Four players reach 100 points seven seconds apart, alice first:

# %%
boardlab.ties(["alice", "bob", "carol", "dave"], points=100, gap=7)

# %% [markdown]
# **Takeaway:** on a plain ZSET alice, who got there first, ranks last, and dave, who got there last,
# ranks first — pure alphabet. In a game (or a sales contest with a prize) that is a bug report.
#
# ## Ties that should share a rank: 1, 1, 3
#
# Sometimes a tie is not a bug: two players with 100 points should *both* be first, and the next player
# third ("standard competition ranking", as in sports tables). `ZREVRANK` cannot say that — it is a
# position, and positions are unique. The shared rank is "one more than the number of players with
# strictly more points": `ZCOUNT key (score +inf` + 1, where `(` makes the bound exclusive. Both
# commands are O(log N), so it costs the same as `ZREVRANK`, on any board size:

# %%
plain = ks.key("shared-rank")
ks.client.zadd(plain, {"ana": 100, "ben": 100, "chen": 90, "dmitri": 80, "eve": 80, "farah": 70})

def shared_rank(member):
    score = ks.client.zscore(plain, member)
    return None if score is None else ks.client.zcount(plain, f"({score}", "+inf") + 1

players = ["ana", "ben", "chen", "dmitri", "eve", "farah"]
shared = {m: shared_rank(m) for m in players}
print(shared, "| ZREVRANK + 1 would say:", {m: ks.client.zrevrank(plain, m) + 1 for m in players})
assert list(shared.values()) == [1, 1, 3, 4, 4, 6]

# %% [markdown]
# (With the composite score below, two players tie only if they scored in the same tick, so ranks there
# are positions.) Dense ranking (1, 1, 2) would instead count the *distinct* scores above, which a ZSET
# cannot do without reading them; it is rarely what a prize table means.
#
# ## Fix it: a composite score, earliest first
#
# Put the points in the high bits and the *inverted* time in the low bits of one number:
#
# `score = points · 2^k + (2^k − 1 − tick)`
#
# More points always win; on equal points a larger remainder — an **earlier** tick — wins. The catch: a
# Redis score is an IEEE double, exact only for integers below **2^53**. With `k = 32` one-second ticks
# (136 years from the epoch) that leaves 21 bits — up to 2,097,151 points; millisecond ticks need
# `k = 41` and leave 4,095 (the cell prints all three). `Composite` computes the budget and refuses
# anything past it:

# %%
codec = Composite(time_bits=32)
print(codec, "| ticks last", f"{2**32 / (365.25 * 86_400):.0f} years;", "millisecond ticks:", Composite(time_bits=41))
s = codec.encode(100, 1_700_000_000)
print("encode(100, t) =", s, "→ decode:", codec.decode(s), "| exact as a double:", float(s) == s)
print("largest score:", codec.encode_tick(codec.max_points, 0), "= 2**53 - 1:",
      codec.encode_tick(codec.max_points, 0) == 2**53 - 1)
try:
    codec.encode(codec.max_points + 1, 0)
except ValueError as exc:
    print("ValueError:", exc)

# %% [markdown]
# Adding points now means *decode, add, re-encode with the time of this update*: three steps that must not
# interleave with another writer, so `add` is one Lua script (Redis runs a script atomically). It formats
# the score with `%.0f` because Lua 5.1's default number-to-string (`%.14g`) would round large scores on
# Redis versions that use it:

# %%
print(ADD_LUA.strip())

# %% [markdown]
# ## Break it 2: precision past 2^53
#
# What an unchecked encoder does one point past the budget: carol and dave reach 2,097,152 points one
# second apart (carol first), as do alice and bob with one point fewer. Written with a plain `ZADD` and
# read back:

# %%
boardlab.precision(time_bits=32)

# %% [markdown]
# **Takeaway:** below 2^53 every score comes back exact and alice (earlier) ranks above bob. Past it,
# carol's score had no double to land on: it was rounded onto dave's, the time field is gone, and the
# order falls back to names — silently, with no error from Redis. This is why the budget is checked
# before writing, not discovered in production.
#
# ## Break it 3: read-modify-write loses points
#
# The source: "利用 ZAdd 的幂等性实现分数累加,避免并发冲突" — add scores with `ZADD`. But `ZADD` *sets*
# a score; to add with it you must read the old score first, add in the client, and write back. Eight
# real threads each add 1 point 50 times to one player; a barrier lines them up between read and write
# so the race happens every round instead of now and then:

# %%
race = boardlab.concurrency(threads=8, updates=50)
assert race.loc["naive ZSCORE + ZADD", "final"] == 50 and (race.drop("naive ZSCORE + ZADD")["lost"] == 0).all()
race

# %% [markdown]
# **Takeaway:** the read-modify-write board kept one update in eight; `ZINCRBY` and the Lua add kept all
# 400. Without the barrier the loss is intermittent — which is worse, because it passes tests. `ZADD`'s
# idempotence is exactly why it cannot accumulate.
#
# ## Daily and weekly boards
#
# A daily board is one key per day (`…:{lb:game}:2026-11-23`: every board of `game` behind one hash tag,
# so a merge stays in one Redis Cluster slot), written with the clock's current day. Boards older than
# `keep` days are deleted by `rotate()` (and carry a relative `EXPIRE` as a backstop). "The last 7 days" is
# a merge of seven daily boards:

# %%
from datetime import datetime, timezone

DAY = 86_400
start = datetime(2026, 11, 23, 9, tzinfo=timezone.utc).timestamp()   # Monday 09:00 UTC
clock = VirtualClock(start)
daily = Leaderboard("game", keyspace=ks, clock=clock, period="daily", keep=7)
for day in range(9):                                                  # nine days of play
    clock.advance_to(start + day * DAY)
    for i, player in enumerate(["ana", "ben", "chen", "dmitri"]):
        daily.add(player, (day * 7 + i * 5) % 11 + 1)
        clock.advance(60)
print("boards:", daily.periods())
print("rotated out:", daily.rotate(), "| kept:", len(daily.periods()))
week = daily.merge(daily.last(7), dest="last7")
print("today:     ", [(e.member, e.points) for e in daily.top(4)])
print("last 7 days:", [(e.member, e.points) for e in daily.top(4, period=week)])

# %% [markdown]
# With a plain ZSET the merge is `ZUNIONSTORE dest 7 k1 … k7 AGGREGATE SUM`. With composite scores that
# is wrong: it adds the time fields too, and they **carry into the points**:

# %%
keys = [daily.key(p) for p in daily.last(7)]
ks.client.zunionstore(ks.key("naive-union"), keys, aggregate="SUM")
naive = {m: daily.codec.decode_tick(s)[0] for m, s in ks.client.zrange(ks.key("naive-union"), 0, -1, withscores=True)}
right = {e.member: e.points for e in daily.top(4, period=week)}
{m: {"ZUNIONSTORE SUM": naive[m], "decoded sum": right[m]} for m in sorted(right)}

# %% [markdown]
# So `merge` decodes in a script for composite boards. It is O(total members) inside Redis, fine for daily
# boards of thousands; for millions, keep the rolling board up to date incrementally instead (each `add`
# also goes to it) or merge on a replica.
#
# ## Measure it: latency vs board size
#
# The same board grown from 500 to 50,000 members (pipelined `ZADD` batches of 10,000), then 100 calls
# each of `top(10)`, `rank` and `around` on random members — against the anti-pattern of fetching the
# whole board to rank it in the application. On the current backend (embedded fakeredis unless
# `REDIS_URL` is set):

# %% tags=["nbval-ignore-output"]
# measured: numbers vary by machine and backend
from hcedu.lab import stats

lat = boardlab.latency(sizes=(500, 5_000, 50_000), reps=100, full_reps=2)
table = stats.summarize(lat, by=["op", "size"], unit="us").pivot(index="size", columns="op", values="p50")
assert list(table.index) == [500, 5_000, 50_000]
assert set(table.columns) == {"top(10)", "rank(m)", "around(m, 5)", "fetch all (O(N))"}
fetch, top = table["fetch all (O(N))"], table["top(10)"]
grow_fetch, grow_top = fetch[50_000] / fetch[500], top[50_000] / top[500]
assert grow_fetch > 10 and grow_fetch > 5 * grow_top   # wide margins: the shape, not the numbers
print(f"a 100x bigger board: fetch-all p50 grew {grow_fetch:.0f}x, top(10) {grow_top:.1f}x, "
      f"rank {table['rank(m)'][50_000] / table['rank(m)'][500]:.1f}x, "
      f"around {table['around(m, 5)'][50_000] / table['around(m, 5)'][500]:.1f}x")
table.round(0)

# %% tags=["nbval-ignore-output"]
# the chart of the measurement above
fig = boardlab.chart_latency(lat)
assert len(fig.axes[0].lines) == 4
fig

# %% [markdown]
# **Takeaway:** a 100× bigger board leaves `top`, `rank` and `around` essentially flat — O(log N), the
# cost is the round trip — while fetching the board to rank it grows with the board, by the factor the cell
# prints (more than 10×, asserted; shipping and decoding a reply costs per member, and a big reply costs
# more per member than a small one, so it can exceed 100×). Rank in Redis, ship only the window you show.
#
# ## How big is a board?
#
# A ZSET past the listpack limits holds each member twice — a hash-table entry (member → score) and a
# skiplist node (score, member pointer, about 1.33 levels on average, each a forward pointer and a span)
# — plus the member string and allocator rounding. The cell below measures it on a real Redis (a
# throwaway `redis-server` if one is installed, or `REDIS_URL`): where the encoding switches, and
# `MEMORY USAGE` of a board of 100,000 members per member, extrapolated to a million:

# %% tags=["nbval-ignore-output"]
# measured on a real Redis; skipped where none is installed
import redis
from hcedu.lab import redis_server

with redis_server.real_redis(required=False) as url:
    if url is None:
        print("no redis-server installed and REDIS_URL unset: skipped (the embedded fakeredis has no MEMORY)")
    else:
        mem = boardlab.memory(redis.Redis.from_url(url, decode_responses=True), members=100_000)
        assert mem["encoding at 128 members"] == "listpack" and mem["encoding at 129 members"] == "skiplist"
        assert 40 < mem["bytes_per_member"] < 300, mem
        print({k: v for k, v in mem.items() if k.startswith(("redis", "encoding"))})
        print(f"{mem['bytes_per_member']:.0f} bytes per member (12-character ids) -> "
              f"about {mem['bytes_per_member'] * 1e6 / 2**20:.0f} MiB for 1,000,000 members")

# %% [markdown]
# So a board of a million players is on the order of a hundred megabytes on one node (the printed
# extrapolation) — fine for one board, worth budgeting when there is one board per day, per region and
# per game. Shorter member ids save bytes; a listpack board (small, or raised limits) is far denser but
# its updates are O(N), which is why the limits are small. Past tens of millions of members, or for one
# very hot board, shard by user (Source check, below).
#
# ## Source check
#
# * **"利用 ZAdd 的幂等性实现分数累加,避免并发冲突"** is backwards. `ZADD` sets a score (idempotent:
#   repeating it changes nothing), so it cannot *add*; adding with it is read-modify-write, which loses
#   updates (Break it 3). Use `ZINCRBY` (atomic), or a Lua script when the score is composite.
# * **`&redis.Z{Member: uid, Score: score}`** is go-redis v8. In v9 (`github.com/redis/go-redis/v9`)
#   `ZAdd` takes values: `rdb.ZAdd(ctx, "leaderboard", redis.Z{Score: s, Member: uid})`; to add points,
#   `rdb.ZIncrBy(ctx, "leaderboard", 10, uid)`. The snippet also uses a `ctx` it never receives.
# * **`ZREVRANGE`** is deprecated since Redis 6.2 in favour of `ZRANGE key 0 9 REV WITHSCORES`
#   (go-redis: `ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: k, Start: 0, Stop: 9, Rev: true})`);
#   it still works. The O(log N + M) is right.
# * **Ties are not mentioned.** Equal scores sort by member name (Break it 1); a composite score must stay
#   below 2^53 (Break it 2).
# * **"结合本地缓存与定时持久化"** is too vague to be safe. Redis is not the system of record: write each
#   score event to the database (or a log) and treat the ZSET as a rebuildable index; a local cache of the
#   top 100 for a second is fine, but "my rank" cannot be cached per instance.
# * **Not covered: size and heat.** One ZSET lives on one Redis node (one cluster slot). For a board of
#   100 M players, or one that takes all the writes, shard it by user into N boards: the global top K is
#   among the N shard top-Ks (merge them), and a user's global rank is the sum over shards of
#   `ZCOUNT shard (score +inf`. Daily/weekly boards need rotation and expiry (above).
#
# ## Exercise
#
# `exercises/13_tie_break.ipynb`: write `encode(points, ts, time_bits)` and `decode(score, time_bits)` for
# the earliest-first tie-break, and `rank(r, key, member)` for shared ranks. The checker verifies the
# order on a real sorted set, exact round trips at the edges of the bit budget, that anything past 2^53 is
# refused, and that `rank` gives 1, 1, 3 without reading the board.
#
# ## Interview drill

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
drill("13")

# %% [markdown]
# ## What a strong answer says
#
# "A Redis sorted set: a hash for member → score and a skiplist with span counts, so updates and rank are
# O(log N) and a page of M is O(log N + M). Points are added with `ZINCRBY` — never `ZADD` of a value
# computed in the client, which loses concurrent updates. Equal scores sort by member name, so if ties must
# go to whoever got there first I encode `points · 2^k + (2^k − 1 − t)` in one score, keep it under 2^53
# so the double is exact, and update it in a Lua script; if ties should share a rank instead, the rank is
# `ZCOUNT key (score +inf` + 1. Top N is `ZRANGE … REV`, my rank is `ZREVRANK`, around-me is `ZREVRANK`
# then a range around it. Daily and weekly boards are one key per period with
# expiry, and 'last 7 days' is a `ZUNIONSTORE` of the dailies (decoded, if scores are composite). Scores
# are also written to the database so the board can be rebuilt. Past 128 members a ZSET is a skiplist plus
# a hash table, on the order of a hundred bytes per member, so a million players take about a hundred
# megabytes on one node. For a huge or hot board I shard by user and merge the shards' top K."

# %%
finish(ks)
