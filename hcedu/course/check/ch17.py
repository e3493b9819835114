"""Checker for exercise 17: a key's Redis Cluster slot (hash tags included), and a lock's two keys in one slot."""

from __future__ import annotations

import random
from typing import Callable

import redis
from redis.crc import key_slot as _reference

from . import Verdict, run_checks

__all__ = ["hash_slots"]

SLOTS = 16384
#: Keys whose hash-tag reading trips the usual mistakes: key -> what is hashed (cluster spec, "Hash tags").
EDGE_CASES = {
    "{user1000}.following": "user1000",
    "foo{bar}{zap}": "bar",            # the first tag only
    "foo{}{bar}": "foo{}{bar}",        # an empty tag does not count: the whole key is hashed
    "foo{{bar}}zap": "{bar",           # between the first '{' and the first '}' after it
    "a}b{c}": "c",                     # a '}' before the first '{' is not a closing brace
    "{": "{",
    "}{": "}{",
    "{}": "{}",
    "plain": "plain",
}
NON_ASCII = ["用户:42", "{用户}:42", "clé:été", "{ключ}:x"]


def _slot_of(got: object, key: str) -> int:
    assert isinstance(got, int) and not isinstance(got, bool), \
        f"key_slot({key!r}) must return an int, it returned {got!r}"
    assert 0 <= got < SLOTS, f"key_slot({key!r}) returned {got}: a slot is in 0..{SLOTS - 1}"
    return got


def _pair(got: object, name: str) -> tuple[str, str]:
    assert isinstance(got, (tuple, list)) and len(got) == 2 and all(isinstance(k, str) for k in got), \
        f"lock_keys({name!r}) must return two key strings (lock key, fence key), it returned {got!r}"
    return got[0], got[1]


def hash_slots(key_slot: Callable[[str], int], lock_keys: Callable[[str], tuple[str, str]],
               node: redis.Redis | None = None, samples: int = 300) -> Verdict:
    """Check ``key_slot(key) -> int`` (the cluster slot of ``key``: CRC16 of the key, or of its hash tag,
    modulo 16384) against the cluster's own answer, and ``lock_keys(name) -> (lock_key, fence_key)``: two
    distinct keys that share a slot, name the lock, and do not put every lock in the same slot.

    ``node``: a client of a cluster-enabled redis-server; when given, its ``CLUSTER KEYSLOT`` is the reference
    (otherwise redis-py's implementation of the same rule).
    """
    if node is not None:
        def expected(key: str) -> int:
            return int(node.execute_command("CLUSTER", "KEYSLOT", key))
    else:
        def expected(key: str) -> int:
            return _reference(key.encode())

    def compare(key: str, what: str) -> None:
        got, want = _slot_of(key_slot(key), key), expected(key)
        assert got == want, f"key_slot({key!r}) = {got}, the cluster says {want} ({what})"

    def plain_keys() -> None:
        rng = random.Random(17)
        keys = ["foo", "user:1000", "", "a"] + [
            "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789:_-") for _ in range(rng.randint(1, 24)))
            for _ in range(samples)]
        for key in keys:
            compare(key, "no hash tag: the whole key is hashed")

    def hash_tags() -> None:
        for tag in ("user1000", "lock:orders", "x"):
            for key in (f"{{{tag}}}", f"{{{tag}}}:fence", f"prefix:{{{tag}}}:suffix"):
                compare(key, f"only the tag {tag!r} is hashed")

    def edge_cases() -> None:
        for key, hashed in EDGE_CASES.items():
            compare(key, f"the cluster hashes {hashed!r}")

    def non_ascii() -> None:
        for key in NON_ASCII:
            compare(key, "a key is hashed as its UTF-8 bytes")

    def lock_pair_shares_a_slot() -> None:
        for name in ("orders", "stock:sku42", "user:7"):
            lock, fence = _pair(lock_keys(name), name)
            assert lock != fence, f"lock_keys({name!r}) returned the same key twice: {lock!r}"
            assert name in lock and name in fence, \
                f"lock_keys({name!r}) = ({lock!r}, {fence!r}): both keys must name the lock"
            assert expected(lock) == expected(fence), (
                f"lock_keys({name!r}) = ({lock!r}, {fence!r}) are in slots {expected(lock)} and {expected(fence)}: "
                f"a script using both fails with CROSSSLOT")

    def locks_spread_over_slots() -> None:
        names = [f"order:{i}" for i in range(100)]
        slots = {expected(_pair(lock_keys(n), n)[0]) for n in names}
        assert len(slots) >= 90, (f"100 different locks use only {len(slots)} slot(s): every lock behind one "
                                  f"tag is a hot slot on one primary")
        lock_a, _ = _pair(lock_keys("a"), "a")
        lock_b, _ = _pair(lock_keys("b"), "b")
        assert lock_a != lock_b, f"locks 'a' and 'b' got the same key {lock_a!r}: they would exclude each other"

    return run_checks("cluster slots and hash tags", [
        ("keys without a tag hash whole", plain_keys,
         "CRC16/XMODEM of the key's bytes (binascii.crc_hqx(data, 0)) modulo 16384 (not 16383, not crc32)"),
        ("keys with a tag hash only the tag", hash_tags,
         "hash what is between the first '{' and the first '}' after it, without the braces"),
        ("edge cases of the hash-tag rule", edge_cases,
         "the FIRST '{', then the first '}' AFTER it; an empty tag '{}' means: hash the whole key"),
        ("non-ASCII keys", non_ascii, "encode the key as UTF-8 before hashing (key.encode())"),
        ("a lock's two keys share a slot", lock_pair_shares_a_slot,
         "put the same hash tag in both keys, derived from the lock's name: {lock:NAME} and {lock:NAME}:fence"),
        ("different locks land in different slots", locks_spread_over_slots,
         "derive the tag from the lock's name, not a constant: one tag for all locks makes one hot slot"),
    ])
