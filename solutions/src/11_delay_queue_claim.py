# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 11: the atomic claim
#
# Orders wait in a ZSET `due` scored by their deadline. Write
# `claim(client, due_key, leased_key, now, limit, lease)` so that it
#
# 1. takes up to `limit` items with score ≤ `now`, earliest first,
# 2. removes them from `due` and adds them to `leased_key` with score `now + lease` (the lease deadline a
#    recoverer uses if the worker dies), and
# 3. returns their ids.
#
# **Constraint:** many workers call `claim` at once, each with its own connection, so any other worker's
# commands may run between any two of yours. Each due item must still go to exactly one caller, and no
# item may leave `due` without being leased. Chapter 11 shows what goes wrong with the obvious two-command
# version; your client can run several commands as one atomic step (`client.register_script(lua)` returns a
# callable `script(keys=[...], args=[...])`), and there is more than one correct design. Since Redis 6.2 a
# read by score is spelled `ZRANGE key min max BYSCORE [LIMIT offset count]` (`ZRANGEBYSCORE` is deprecated).

# %%
def claim(client, due_key: str, leased_key: str, now: float, limit: int, lease: float) -> list:
    """Atomically move up to ``limit`` due items from ``due_key`` to ``leased_key`` (score now + lease)."""
    ### BEGIN SOLUTION
    lua = """
    local items = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
    for _, id in ipairs(items) do
      redis.call('ZREM', KEYS[1], id)
      redis.call('ZADD', KEYS[2], ARGV[3], id)
    end
    return items
    """
    script = client.register_script(lua)
    return list(script(keys=[due_key, leased_key], args=[now, limit, now + lease]))
    ### END SOLUTION


# %% [markdown]
# Try it on the embedded Redis:

# %%
from hcedu import backend

r = backend.connect()
r.delete("ex11:try:due", "ex11:try:leased")
r.zadd("ex11:try:due", {"A": 1800, "B": 1860, "C": 1920})
try:
    print(claim(r, "ex11:try:due", "ex11:try:leased", 1900, 10, 60),
          r.zrange("ex11:try:leased", 0, -1, withscores=True))
except NotImplementedError:
    print("… write claim() above first")
finally:
    r.delete("ex11:try:due", "ex11:try:leased")

# %% [markdown]
# ## Check
#
# The checker first pins the edges (an item due exactly at `now`, the limit, the lease score), then slips
# another worker's whole claim in after **every** reply your client reads (a hook in the connection, so it
# sees scripts, pipelines and transactions too), and finally runs 4 concurrent workers over 2,000 due
# orders. `check.delay_claim(claim, client=r)` runs the same checks on another store, e.g. a real
# redis-server.

# %%
from hcedu.course import check

check.delay_claim(claim)

# %% [markdown]
# **Going further.** Write `recover(client, due_key, leased_key, now)`: move items whose lease deadline is
# ≤ `now` back to `due`. Why must it be a script too? (Compare `hcedu.patterns.delayqueue.RECOVER_LUA`.)
