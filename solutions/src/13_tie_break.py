# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 13: tie-break by time, and shared ranks
#
# A Redis sorted set orders equal scores by member name, so on a plain board `bob` outranks `alice` even
# when alice reached 100 points first (chapter 13, "Break it 1"). Fix it by packing both facts into one
# score:
#
# * `encode(points, ts, time_bits) -> int` — more points always rank higher; on equal points the
#   **earlier** `ts` ranks higher. `ts` is an integer tick in `0 .. 2**time_bits - 1`.
# * `decode(score, time_bits) -> (points, ts)` — the inverse. Redis hands scores back as floats.
#
# A score is an IEEE double, exact only for integers below `2**53`: the time takes the low `time_bits`
# bits, which leaves `53 - time_bits` bits for the points. **Raise `ValueError`** when `points` or `ts`
# does not fit (negative too) instead of writing a score that Redis will silently round.

# %%
def encode(points: int, ts: int, time_bits: int) -> int:
    """One ZSET score: more points first, then earliest ``ts``; ValueError outside the 53-bit budget."""
    ### BEGIN SOLUTION
    max_ts = 2 ** time_bits - 1
    max_points = 2 ** (53 - time_bits) - 1
    if not 0 <= ts <= max_ts:
        raise ValueError(f"ts must be in 0..{max_ts} (got {ts})")
    if not 0 <= points <= max_points:
        raise ValueError(f"points must be in 0..{max_points} (got {points})")
    return points * 2 ** time_bits + (max_ts - ts)
    ### END SOLUTION


def decode(score: float, time_bits: int) -> tuple[int, int]:
    """``(points, ts)`` of a score made by ``encode``."""
    ### BEGIN SOLUTION
    points, code = divmod(int(score), 2 ** time_bits)
    return points, 2 ** time_bits - 1 - code
    ### END SOLUTION


# %% [markdown]
# Try it on the embedded Redis: alice and bob both reach 100 points, alice at tick 10, bob at tick 12.

# %%
from hcedu import backend

r = backend.connect()
r.delete("ex13:try")
try:
    r.zadd("ex13:try", {"bob": encode(100, 12, 32), "alice": encode(100, 10, 32)})
    print(r.zrange("ex13:try", 0, -1, desc=True), decode(r.zscore("ex13:try", "alice"), 32))
except NotImplementedError:
    print("… write encode() and decode() above first")
finally:
    r.delete("ex13:try")

# %% [markdown]
# ## Check
#
# Order, exact round trips at the four corners of the budget (`0`, `max_points` × `0`, `max_ts`), the
# `ValueError`s, two other widths (`time_bits` = 20 and 41) and the order on a real sorted set.
# `check.tie_break(encode, decode, client=r)` runs it on another store.

# %%
from hcedu.course import check

check.tie_break(encode, decode)


# %% [markdown]
# ## Part 2: shared ranks
#
# On a plain points board (no tie-break) players with equal points should **share** a rank, and the next
# rank skips: 100, 100, 90 points rank 1, 1, 3 ("standard competition ranking"). Write
# `rank(r, key, member) -> int | None`: the member's rank, highest points first, or `None` if it is not on
# the board. Constraint: the board may hold millions of members, so `rank` may not read it (the checker
# allows at most 4 commands per call and no reply longer than 10 elements).

# %%
def rank(r, key: str, member: str):
    """Standard competition rank of ``member`` on the ZSET ``key`` (highest first); None if absent."""
    ### BEGIN SOLUTION
    score = r.zscore(key, member)
    if score is None:
        return None
    return r.zcount(key, f"({score}", "+inf") + 1  # '(' makes the bound exclusive: strictly more points
    ### END SOLUTION


# %%
r.delete("ex13:ranks")
try:
    r.zadd("ex13:ranks", {"ann": 100, "ben": 100, "cat": 90})
    print({m: rank(r, "ex13:ranks", m) for m in ("ann", "ben", "cat", "nobody")})
except NotImplementedError:
    print("… write rank() above first")
finally:
    r.delete("ex13:ranks")

# %%
check.shared_rank(rank)

# %% [markdown]
# **Going further.** Adding points to a player means *decode, add, re-encode with the time of this
# update*. Why must that be one Lua script rather than `ZSCORE` then `ZADD`? Compare
# `hcedu.patterns.leaderboard.ADD_LUA`, and notice how it formats the score it writes.
