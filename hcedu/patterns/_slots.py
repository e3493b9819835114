"""Redis Cluster hash slots: which slot a key lands in, and how to name a companion key in the same slot.

Redis Cluster splits the keyspace into 16384 slots (``CRC16(key) mod 16384``); a script or ``MULTI`` may
only touch keys of one slot (else ``CROSSSLOT``). When a key contains a *hash tag* -- the text between
its first ``{`` and the first ``}`` after it, if not empty -- only the tag is hashed. Every multi-key script
and transaction in :mod:`hcedu.patterns` builds its keys from one tagged name
(:meth:`hcedu.backend.Keyspace.tagged`) or, for a key the caller names, with :func:`companion`.
"""

from __future__ import annotations

from redis.crc import key_slot

__all__ = ["hash_tag", "slot", "companion"]


def hash_tag(key: str) -> str | None:
    """The hash tag Redis Cluster hashes for ``key`` (``"{lock:a}:fence"`` -> ``"lock:a"``), or None."""
    start = key.find("{")
    if start < 0:
        return None
    end = key.find("}", start + 1)
    if end < 0 or end == start + 1:
        return None
    return key[start + 1:end]


def slot(key: str | bytes) -> int:
    """The cluster slot of ``key`` (0..16383), as Redis computes it."""
    return key_slot(key.encode() if isinstance(key, str) else key)


def companion(key: str, suffix: str) -> str:
    """A key named after ``key`` that lands in ``key``'s slot.

    ``key`` with a hash tag: ``key + ":" + suffix`` (``"{lock:a}"`` -> ``"{lock:a}:fence"``). Without one,
    the whole key is what Redis hashes, so the companion carries ``key`` itself as its tag, after the key
    (so it still starts with ``key`` and stays inside the key's :class:`~hcedu.backend.Keyspace`):
    ``"hcedu:ch08:lock:a"`` -> ``"hcedu:ch08:lock:a:{hcedu:ch08:lock:a}:fence"``. A key holding a brace but no
    valid tag cannot be given a same-slot companion that way: ``ValueError``.
    """
    if hash_tag(key) is not None:
        return f"{key}:{suffix}"
    if "{" in key or "}" in key:
        raise ValueError(f"key {key!r} contains a brace but no hash tag: name it with a tag ({{name}}) or "
                         f"without braces, so its companion keys can share its cluster slot")
    return f"{key}:{{{key}}}:{suffix}"
