# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 12: the two-level `get` and its `invalidate`
#
# Write `get(key, l1, r, loader, l1_ttl, l2_ttl)`, the read path of a two-level cache:
#
# 1. **L1**: `l1` is a `hcedu.patterns.localcache.LocalCache`. On a hit, return at once — no Redis call, no
#    database call.
# 2. **L2**: `r` is a redis-py client (`decode_responses=True`); the value is stored JSON-encoded under `key`.
#    On a hit, fill L1 for `l1_ttl` seconds and return it.
# 3. **Database**: `loader(key)` returns the row, or `None` if there is no such row. Store a value in Redis
#    for `l2_ttl` seconds (`px=` milliseconds) and in L1 for `l1_ttl` seconds, then return it.
# 4. `None` from the loader means "no such row": return `None`. You may remember that briefly (chapter 09's
#    null marker against penetration), but never longer than a value would live in each level.
#
# Then write `invalidate(key, l1, r)`, called after the database row changed: afterwards no level may hand out
# the old value, even if a `get` of the same server runs between any two steps of your `invalidate`.
#
# Constraints: `0`, `""`, `[]` and `False` are values and must be cached like any other (`l1.get(key)`
# returns `None` on a miss, and `l1.get(key, default)` returns `default`); the `LocalCache` you get has a
# default TTL of its own, which is not `l1_ttl`.

# %%
import json


def get(key, l1, r, loader, l1_ttl: float, l2_ttl: float):
    """L1 -> Redis -> loader; fill Redis for l2_ttl and L1 for l1_ttl; None means 'no such row'."""
    ### BEGIN SOLUTION
    missing = object()
    value = l1.get(key, missing)
    if value is not missing:
        return value
    raw = r.get(key)
    if raw is not None:
        value = json.loads(raw)
        l1.set(key, value, ttl=l1_ttl)
        return value
    value = loader(key)
    if value is None:
        return None
    r.set(key, json.dumps(value), px=int(l2_ttl * 1000))
    l1.set(key, value, ttl=l1_ttl)
    return value
    ### END SOLUTION


def invalidate(key, l1, r) -> None:
    """After a database write: the old value leaves Redis and this server's L1."""
    ### BEGIN SOLUTION
    r.delete(key)  # Redis first: a get between the two steps then still hits L1's old entry, refilling nothing
    l1.delete(key)
    ### END SOLUTION


# %% [markdown]
# Try it on the embedded Redis and a virtual clock:

# %%
from hcedu import backend
from hcedu.clock import VirtualClock
from hcedu.patterns.localcache import LocalCache

r = backend.connect()
clock = VirtualClock()
l1 = LocalCache(maxsize=100, clock=clock)
db = {"ex12:sku:1": {"price": 100}}
reads = []

def loader(key):
    reads.append(key)
    return db.get(key)

try:
    r.delete("ex12:sku:1")
    print([get("ex12:sku:1", l1, r, loader, 5, 60) for _ in range(3)], "| database reads:", len(reads))
    clock.advance(5)
    print(get("ex12:sku:1", l1, r, loader, 5, 60), "| after L1 expiry, database reads:", len(reads))
except NotImplementedError:
    print("… write get() above first")
finally:
    r.delete("ex12:sku:1")

# %% [markdown]
# ## Check
#
# The checker counts every Redis command and every database read, owns the clock L1 runs on, and runs a
# `get` between every two steps of your `invalidate` (hooks in L1 and in the Redis connection).
# `check.two_level_get(get, invalidate, client=r)` runs the same checks on another store.

# %%
from hcedu.course import check

check.two_level_get(get, invalidate)

# %% [markdown]
# **Going further.** Two threads miss the same key at once: how many database reads does your `get` make?
# Wrap the Redis-and-database part in `singleflight.Group().do(key, ...)` (as `LocalCache.get_or_load` and
# `TwoLevelCache.get` do). Then: an invalidation arrives while your `get` is reading the database — what
# keeps the old value out of L1? (Compare `TwoLevelCache._fill_l1`.) And the other servers' L1 copies:
# how does `TwoLevelCache.invalidate` reach them, and what bounds their staleness if that message is lost?
