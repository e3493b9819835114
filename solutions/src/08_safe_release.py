# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 08: fix an unsafe release
#
# The source's first lock releases with a plain `DEL`:
#
# ```python
# def release(client, key, token):
#     return bool(client.delete(key))
# ```
#
# When the holder's lease has run out and another client took the lock, this deletes **their** lock
# (chapter 08, "Break it"). Write `release(client, key, token)` so that it
#
# 1. deletes `key` only if it still holds `token` (the random value stored at acquisition),
# 2. returns True if it deleted our lock, False otherwise (someone else's lock, or nobody's), and
# 3. cannot be raced: between any two commands you send, the lease can run out and another client can
#    acquire. Whatever you learned from one reply may be stale by your next command.
#
# Use anything redis-py offers; the chapter shows Redis running several steps with nothing in between.

# %%
def release(client, key: str, token: str) -> bool:
    """Delete ``key`` only if its value is ``token``; return whether it was deleted."""
    ### BEGIN SOLUTION
    lua = """
    if redis.call('GET', KEYS[1]) == ARGV[1] then
      return redis.call('DEL', KEYS[1])
    end
    return 0
    """
    return bool(client.register_script(lua)(keys=[key], args=[token]))
    ### END SOLUTION


# %% [markdown]
# Try it on the embedded Redis:

# %%
from hcedu import backend

r = backend.connect()
r.set("ex08:try", "token-B", px=30_000)
try:
    print("A releases B's lock:", release(r, "ex08:try", "token-A"), "| key now:", r.get("ex08:try"))
    print("B releases its own:  ", release(r, "ex08:try", "token-B"), "| key now:", r.get("ex08:try"))
except NotImplementedError:
    print("… write release() above first")
finally:
    r.delete("ex08:try")

# %% [markdown]
# ## Check
#
# The checker replays the chapter's A/B lease-expiry scenario with your `release`, and watches every
# command your client sends: it counts the commands that touch the lock, then replays your release once for
# each of them, with A's lease running out (and B acquiring) right after that one; after every command,
# client C tries to take the lock. Any check-then-act release is caught every time, however many checks come
# before the delete, and so is one that deletes B's lock even for a moment or puts it back without its TTL.
# Every token is random, and some other holders' tokens contain yours: compare the whole value.

# %%
from hcedu.course import check

check.safe_release(release)

# %% [markdown]
# **Going further.** (1) Write `extend(client, key, token, ttl_ms)` the same way (only if ours, `PEXPIRE`).
# Why is `if client.get(key) == token: client.pexpire(key, ttl_ms)` wrong too? (Compare
# `hcedu.patterns.lock.EXTEND_LUA`.) (2) Write the release a second way, optimistically: `WATCH` the key,
# compare, then `DEL` inside `MULTI`/`EXEC` (`client.pipeline()`), which aborts if the key changed; the
# checker accepts both. (3) Redis 8.4 added `DELEX key IFEQ value`, a compare-and-delete in one command
# (chapter 08): on 8.4+ the script is one line of redis-py, `client.execute_command("DELEX", key, "IFEQ", token)`.
