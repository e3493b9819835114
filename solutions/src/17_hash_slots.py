# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 17: hash slots, and a lock that is cluster-safe
#
# Chapter 17's two-key lock script failed on the cluster with `CROSSSLOT`. Write the two functions that
# decide where keys live, and use them to make the lock's keys cluster-safe.
#
# 1. `key_slot(key)`: the cluster slot of the string `key`, as Redis Cluster computes it: the CRC16 of the
#    key's UTF-8 bytes modulo 16384 — or, when the key has a **hash tag**, the CRC16 of the tag only. The
#    tag is what lies between the **first** `{` and the **first** `}` after it, if that is not empty.
#    Python's `binascii.crc_hqx(data, 0)` is the CRC16 variant Redis uses (XMODEM). Write the hash-tag rule
#    yourself (redis-py has one, `redis.crc.key_slot`: use it afterwards to compare, not instead).
# 2. `lock_keys(name)`: the lock key and the fencing-counter key of the lock called `name`, as a tuple of
#    two different strings, both containing `name` as it is, that a script may use together on a cluster.
#    Different locks must get different keys and must not all share one slot (chapter 17: a hot slot); the
#    same lock must get the same keys in every process.

# %%
import binascii


def key_slot(key: str) -> int:
    """The Redis Cluster slot (0..16383) of ``key``, hash tags included."""
    ### BEGIN SOLUTION
    data = key.encode("utf-8")
    start = data.find(b"{")
    if start != -1:
        end = data.find(b"}", start + 1)
        if end > start + 1:            # a non-empty tag: hash only the tag
            data = data[start + 1:end]
    return binascii.crc_hqx(data, 0) % 16384
    ### END SOLUTION


def lock_keys(name: str) -> tuple[str, str]:
    """(lock key, fence key) of the lock ``name``: two keys in one slot, a slot of their own."""
    ### BEGIN SOLUTION
    tag = "{lock:" + name + "}"
    return tag, tag + ":fence"
    ### END SOLUTION


# %% [markdown]
# Try it:

# %%
try:
    for key in ["lock:orders", "lock:orders:fence", *lock_keys("orders"), "foo{}{bar}", "foo{{bar}}zap"]:
        print(f"{key:22} slot {key_slot(key)}")
except NotImplementedError:
    print("… write key_slot() and lock_keys() above first")

# %% [markdown]
# ## Check
#
# The checker compares your slots with the cluster's rule on plain keys (upper case and whitespace
# included), tagged keys, the rule's edge cases (`foo{}{bar}`, `foo{{bar}}zap`, `a}b{c}`) and non-ASCII
# keys, then checks `lock_keys` on 100 lock names and on names with upper case, spaces, non-ASCII
# characters and long ones. `check.hash_slots(key_slot, lock_keys, node=client)` asks a cluster-enabled
# redis-server (`CLUSTER KEYSLOT`) instead.

# %%
from hcedu.course import check

check.hash_slots(key_slot, lock_keys)

# %% [markdown]
# **Going further.** With `key_slot`, find the keys of a multi-key command that would fail with
# `CROSSSLOT` before sending it — this is what redis-py's cluster client does (`RedisCluster.determine_slot`).
# Which of the course's patterns in `hcedu.patterns` use more than one key in one script?
