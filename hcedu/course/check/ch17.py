"""Checker for exercise 17: a key's Redis Cluster slot (hash tags included), and a lock's two keys in one slot.

``key_slot`` is compared with the cluster's rule on plain keys (random ones, and keys whose upper case and
whitespace are part of them: nothing is lower-cased or stripped), tagged keys (tags with upper case and
spaces too), the hash-tag rule's edge cases and non-ASCII keys. ``lock_keys`` must give two distinct keys in
one slot, both holding the lock's name as it is (upper case, spaces, non-ASCII and long names included), a
different lock key for every different name (a lower-cased, stripped or truncated name makes two locks one),
slots spread over 100 locks, and the same keys in every Python process: the names are also passed as a
``str`` whose ``hash()`` differs, as the same text's does in a process with another ``PYTHONHASHSEED``.
"""

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
NON_ASCII = ["用户:42", "{用户}:42", "clé:été", "{ключ}:x", "Ключ:42", "CLÉ:ÉTÉ"]
#: Keys as they are, byte for byte: upper case and whitespace are part of the key (and of its tag).
CASE_AND_SPACE = ["User:1000", "FOO", "Foo", " foo", "foo ", "foo\n", "\tfoo", "foo bar"]
TAGS_AS_THEY_ARE = ["{User1000}.following", "{ user1 }:x", "{user1 }:x", "{ }:x", "x{\t}"]
#: Lock names whose keys go wrong when the name is not used whole and as it is: a lower-cased, stripped or
#: truncated name makes two different locks one.
LOCK_NAMES = ["orders", "stock:sku42", "user:7", "Orders", "ORDERS", " orders", "user 7", "caché:été",
              "report:2024-01-01:daily", "report:2024-01-01:weekly", "report:2024-01-01:daily:eu-west-1"]


def _slot_of(got: object, key: str) -> int:
    assert isinstance(got, int) and not isinstance(got, bool), \
        f"key_slot({key!r}) must return an int, it returned {got!r}"
    assert 0 <= got < SLOTS, f"key_slot({key!r}) returned {got}: a slot is in 0..{SLOTS - 1}"
    return got


def _pair(got: object, name: str) -> tuple[str, str]:
    assert isinstance(got, (tuple, list)) and len(got) == 2 and all(isinstance(k, str) for k in got), \
        f"lock_keys({name!r}) must return two key strings (lock key, fence key), it returned {got!r}"
    return got[0], got[1]


def _hashed(key: str) -> str:
    """What the cluster hashes of ``key``: its tag, or the whole key."""
    start = key.find("{")
    end = key.find("}", start + 1) if start != -1 else -1
    return key[start + 1:end] if start != -1 and end > start + 1 else key


def _misreadings(key: str) -> list[tuple[str, str]]:
    """Keys a slot function hashes instead of ``key`` when it normalises it: (that key, the mistake)."""
    tag = _hashed(key)
    out = [(key.lower(), "it lower-cases the key: keys are case-sensitive, hash the bytes as they are"),
           (key.strip(), "it strips whitespace: a space or newline is part of the key"),
           (key.replace(tag, tag.strip(), 1) if tag != key else key,
            "it strips the tag's whitespace: a space is part of the tag")]
    return [(alt, why) for alt, why in out if alt != key]


class _SaltedName(str):
    """A lock name whose ``hash()`` (and its bytes' ``hash()``) differs from the same text's: what another
    Python process (another ``PYTHONHASHSEED``) computes for the same name."""

    def __hash__(self) -> int:
        return str.__hash__(self) ^ 0x5DEECE66D

    def encode(self, *args, **kwargs) -> bytes:  # type: ignore[override]
        return _SaltedBytes(str.encode(self, *args, **kwargs))


class _SaltedBytes(bytes):
    def __hash__(self) -> int:
        return bytes.__hash__(self) ^ 0x5DEECE66D


def _missing_name(name: str, lock: str, fence: str) -> str:
    """Why ``name`` is not in both keys, when the keys hold a normalised or shortened name."""
    if name.lower() != name and name.lower() in lock and name.lower() in fence:
        return f": they hold {name.lower()!r}, lower-cased (so locks {name!r} and {name.lower()!r} would be one)"
    if name.strip() != name and name.strip() in lock and name.strip() in fence:
        return f": they hold {name.strip()!r}, stripped (so locks {name!r} and {name.strip()!r} would be one)"
    cut = max((k for k in range(1, len(name)) if name[:k] in lock and name[:k] in fence), default=0)
    if cut >= 4:
        return (f": they hold only its first {cut} characters {name[:cut]!r} (so every lock whose name starts so "
                f"would be one)")
    return ""


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
        if got != want:
            why = next((f"; {why} ({alt!r} is in slot {got})" for alt, why in _misreadings(key)
                        if expected(alt) == got), "")
            raise AssertionError(f"key_slot({key!r}) = {got}, the cluster says {want} ({what}){why}")

    def plain_keys() -> None:
        rng = random.Random(17)
        keys = ["foo", "user:1000", "", "a"] + [
            "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789:_-") for _ in range(rng.randint(1, 24)))
            for _ in range(samples)]
        for key in keys:
            compare(key, "no hash tag: the whole key is hashed")
        for key in CASE_AND_SPACE:
            compare(key, "no hash tag: the whole key is hashed, byte for byte")

    def hash_tags() -> None:
        for tag in ("user1000", "lock:orders", "x"):
            for key in (f"{{{tag}}}", f"{{{tag}}}:fence", f"prefix:{{{tag}}}:suffix"):
                compare(key, f"only the tag {tag!r} is hashed")
        for key in TAGS_AS_THEY_ARE:
            compare(key, f"only the tag {_hashed(key)!r} is hashed, byte for byte")

    def edge_cases() -> None:
        for key, hashed in EDGE_CASES.items():
            compare(key, f"the cluster hashes {hashed!r}")

    def non_ascii() -> None:
        for key in NON_ASCII:
            compare(key, "a key is hashed as its UTF-8 bytes")

    def lock_pair_shares_a_slot() -> None:
        for name in LOCK_NAMES:
            lock, fence = _pair(lock_keys(name), name)
            assert lock != fence, f"lock_keys({name!r}) returned the same key twice: {lock!r}"
            assert name in lock and name in fence, (
                f"lock_keys({name!r}) = ({lock!r}, {fence!r}): both keys must name the lock"
                f"{_missing_name(name, lock, fence)}")
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
        seen: dict[str, str] = {}
        for name in LOCK_NAMES:
            keys = _pair(lock_keys(name), name)
            assert keys[0] not in seen, (f"locks {seen.get(keys[0])!r} and {name!r} got the same key {keys[0]!r}: "
                                         f"they would exclude each other (use the whole name, as it is)")
            seen[keys[0]] = name
            # the same name in another Python process: str's hash() is salted per process (PYTHONHASHSEED)
            other = tuple(str(k) for k in _pair(lock_keys(_SaltedName(name)), name))
            assert other == keys, (
                f"lock_keys({name!r}) = {keys!r} here, but {other!r} in a process whose hash() is salted "
                f"differently (another PYTHONHASHSEED): two processes would take different keys for the same "
                f"lock, and both would hold it. Derive the tag from the name's text (the name itself, or a CRC "
                f"of its bytes), not from Python's hash()")

    return run_checks("cluster slots and hash tags", [
        ("keys without a tag hash whole", plain_keys,
         "CRC16/XMODEM of the key's bytes as they are (binascii.crc_hqx(key.encode(), 0), nothing lower-cased or "
         "stripped) modulo 16384 (not 16383, not crc32)"),
        ("keys with a tag hash only the tag", hash_tags,
         "hash what is between the first '{' and the first '}' after it, without the braces (and nothing else "
         "removed: spaces and case are part of the tag)"),
        ("edge cases of the hash-tag rule", edge_cases,
         "the FIRST '{', then the first '}' AFTER it; an empty tag '{}' means: hash the whole key"),
        ("non-ASCII keys", non_ascii, "encode the key as UTF-8 before hashing (key.encode())"),
        ("a lock's two keys share a slot", lock_pair_shares_a_slot,
         "put the same hash tag in both keys, derived from the lock's whole name as it is: {lock:NAME} and "
         "{lock:NAME}:fence"),
        ("different locks get different keys, spread over slots; the same lock the same keys in every process",
         locks_spread_over_slots,
         "derive the tag from the lock's whole name as it is, not a constant (one tag for all locks makes one "
         "hot slot), nor a prefix or a lower-cased copy of it (two locks become one), nor Python's hash() "
         "(salted per process)"),
    ])
