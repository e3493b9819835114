"""A Bloom filter on a Redis bitmap (RedisBloom's ``BF.RESERVE``/``BF.ADD``/``BF.EXISTS``, built from ``SETBIT``/``GETBIT``).

The cache-penetration guard: keep the ids that exist in a Bloom filter and answer "certainly not" for the
rest without touching the cache or the database.

Sizing (the standard formulas, for ``capacity`` n and target false-positive rate p):

* bits ``m = ceil(-n ln p / (ln 2)^2)``;
* hash functions ``k = max(1, round(m / n * ln 2))``;
* after inserting x distinct items the false-positive rate is ``(1 - e^(-k x / m))^k`` (≈ p at x = n).

Invariants:

* **No false negatives.** Every item ever added answers True; ``add`` sets all k bits in one Lua script,
  so a concurrent ``might_contain`` never sees half an item as "present" (and then "absent" again).
* **False positives only**, at a rate near p while no more than ``capacity`` items were added, growing past
  it (``estimated_fp_rate`` says by how much). A "yes" means "maybe": the caller still checks the cache/DB.
* **No delete.** Clearing a bit could clear it for another item and create a false negative; delete needs a
  counting or cuckoo filter (RedisBloom ``CF.*``), or a periodic rebuild.
* The k positions come from one 128-bit BLAKE2b digest split into two 64-bit halves h1, h2 and combined by
  double hashing ``g_i = (h1 + i*h2) mod m`` (Kirsch & Mitzenmacher 2006): the same item gives the same
  positions in every process (unlike Python's salted ``hash``).

Keys: one bitmap ``<keyspace>:{bloom:<name>}`` (at most 2^32 bits = 512 MB, Redis's string limit) and a
counter ``...:count`` (the same hash tag: one Redis Cluster slot for the script) of adds that set at least one
new bit (the distinct items inserted, minus the ones that were already false positives). Redis errors
propagate; because each add or check is one script, a failed call changes nothing or everything.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Iterable

import redis

from .. import _validate
from ..backend import Keyspace
from ._redisargs import client_and_keyspace

__all__ = ["BloomFilter", "ADD_LUA", "CHECK_LUA", "optimal_bits", "optimal_hashes", "false_positive_rate",
           "MAX_BITS"]

#: Redis strings (and so bitmaps) are at most 512 MB.
MAX_BITS = 2 ** 32

#: KEYS[1] bitmap, KEYS[2] count. ARGV[1] k, then k*j bit positions for j items.
#: Sets every bit; returns how many of the j items set at least one new bit (and adds that to the count).
ADD_LUA = """
local k = tonumber(ARGV[1])
local added = 0
local i = 2
while i <= #ARGV do
  local new = 0
  for j = i, i + k - 1 do
    if redis.call('SETBIT', KEYS[1], ARGV[j], 1) == 0 then new = 1 end
  end
  added = added + new
  i = i + k
end
if added > 0 then redis.call('INCRBY', KEYS[2], added) end
return added
"""

#: KEYS[1] bitmap. ARGV: the k bit positions. Returns 1 if every bit is set, else 0 (stops at the first 0).
CHECK_LUA = """
for i = 1, #ARGV do
  if redis.call('GETBIT', KEYS[1], ARGV[i]) == 0 then return 0 end
end
return 1
"""


def optimal_bits(capacity: int, error_rate: float) -> int:
    """``m = ceil(-n ln p / (ln 2)^2)``: bits for ``capacity`` items at false-positive rate ``error_rate``."""
    n = _validate.integer("capacity", capacity, minimum=1)
    p = _validate.number("error_rate", error_rate, minimum=0, strict=True, maximum=0.5)
    return math.ceil(-n * math.log(p) / (math.log(2) ** 2))


def optimal_hashes(bits: int, capacity: int) -> int:
    """``k = max(1, round(m / n * ln 2))``: the number of hash functions that minimises false positives."""
    m = _validate.integer("bits", bits, minimum=1)
    n = _validate.integer("capacity", capacity, minimum=1)
    return max(1, round(m / n * math.log(2)))


def false_positive_rate(bits: int, hashes: int, items: int) -> float:
    """``(1 - e^(-k x / m))^k``: the expected false-positive rate after ``items`` distinct inserts."""
    m = _validate.integer("bits", bits, minimum=1)
    k = _validate.integer("hashes", hashes, minimum=1)
    x = _validate.integer("items", items, minimum=0)
    return (1.0 - math.exp(-k * x / m)) ** k


def _encode(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, bool) or not isinstance(item, (str, int)):
        raise TypeError(f"item must be a str, int or bytes (got {type(item).__name__}: {item!r})")
    return str(item).encode()


class BloomFilter:
    """A Bloom filter stored in one Redis bitmap (RedisBloom ``BF.*`` semantics: add and check, no delete).

    ``client`` is a redis-py client (default: the keyspace's client, else :func:`hcedu.backend.connect`);
    ``capacity`` the number of items it is sized for and ``error_rate`` the false-positive rate wanted at
    that many items (0 < p ≤ 0.5); ``keyspace``/``name`` place the keys. ``bits``/``hashes`` are derived
    (read them as ``filter.bits``, ``filter.hashes``). Items are str, int or bytes (``1`` and ``"1"`` are the
    same item). ``ValueError`` if the sizing needs more than 2^32 bits.
    """

    def __init__(self, client: redis.Redis | None = None, *, capacity: int, error_rate: float = 0.01,
                 keyspace: Keyspace | None = None, name: str = "bloom") -> None:
        self.capacity = _validate.integer("capacity", capacity, minimum=1)
        self.error_rate = _validate.number("error_rate", error_rate, minimum=0, strict=True, maximum=0.5)
        _validate.text("name", name)
        self.client, self.keyspace = client_and_keyspace(client, keyspace, "bloom")
        self.bits = optimal_bits(self.capacity, self.error_rate)
        if self.bits > MAX_BITS:
            raise ValueError(f"capacity={self.capacity} at error_rate={self.error_rate:g} needs {self.bits} bits, "
                             f"more than a Redis string holds ({MAX_BITS}); shard it into several filters")
        self.hashes = optimal_hashes(self.bits, self.capacity)
        self.name = name
        self.key = self.keyspace.tagged("bloom", name)  # bitmap and count share a hash tag (one cluster slot)
        self.count_key = self.key + ":count"
        self._add = self.client.register_script(ADD_LUA)
        self._check = self.client.register_script(CHECK_LUA)

    def positions(self, item: Any) -> list[int]:
        """The k bit positions of ``item``: ``(h1 + i*h2) mod m`` for i in 0..k-1 (h2 forced odd)."""
        digest = hashlib.blake2b(_encode(item), digest_size=16).digest()
        h1 = int.from_bytes(digest[:8], "little")
        h2 = int.from_bytes(digest[8:], "little") | 1
        m = self.bits
        return [(h1 + i * h2) % m for i in range(self.hashes)]

    def add(self, item: Any) -> bool:
        """Add ``item``; return True if it set at least one new bit (it was certainly not there before),
        False if every bit was already set (already added, or a false positive)."""
        return bool(self._add(keys=[self.key, self.count_key], args=[self.hashes, *self.positions(item)]))

    def add_many(self, items: Iterable[Any], batch: int = 500) -> int:
        """Add every item, ``batch`` items per script call; return how many set at least one new bit."""
        batch = _validate.integer("batch", batch, minimum=1, maximum=10_000)
        items = _validate.iterable("items", items)
        added = 0
        chunk: list[int] = []
        n = 0
        for item in items:
            chunk.extend(self.positions(item))
            n += 1
            if n == batch:
                added += int(self._add(keys=[self.key, self.count_key], args=[self.hashes, *chunk]))
                chunk, n = [], 0
        if chunk:
            added += int(self._add(keys=[self.key, self.count_key], args=[self.hashes, *chunk]))
        return added

    def might_contain(self, item: Any) -> bool:
        """False: ``item`` was certainly never added. True: it probably was (false-positive rate
        :meth:`estimated_fp_rate`)."""
        return bool(self._check(keys=[self.key], args=self.positions(item)))

    __contains__ = might_contain

    def count(self) -> int:
        """Adds that set a new bit (≈ distinct items inserted; an item that was a false positive is not counted)."""
        return int(self.client.get(self.count_key) or 0)

    def bits_set(self) -> int:
        """How many of the ``bits`` are 1 (``BITCOUNT``)."""
        return int(self.client.bitcount(self.key))

    def estimated_fp_rate(self, items: int | None = None) -> float:
        """The expected false-positive rate after ``items`` distinct inserts (default: :meth:`count`)."""
        return false_positive_rate(self.bits, self.hashes, self.count() if items is None else items)

    def clear(self) -> None:
        """Delete the filter (the only way to "remove" items: rebuild it from the source of truth)."""
        self.client.delete(self.key, self.count_key)

    def __repr__(self) -> str:
        return (f"BloomFilter({self.key!r}, capacity={self.capacity}, error_rate={self.error_rate:g}, "
                f"bits={self.bits}, hashes={self.hashes})")
