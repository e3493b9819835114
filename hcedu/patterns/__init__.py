"""Redis patterns built on redis-py, each safe under concurrency and runnable on fakeredis or a real server.

Names resolve lazily to one module per pattern::

    from hcedu.patterns import RedisLock, Redlock, FencedResource, DelayQueue, Bridge, StreamQueue
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RedisLock": "lock", "LockError": "lock", "LockTimeout": "lock", "LockLost": "lock",
    "FencedResource": "fencing", "RedisFencedResource": "fencing", "StaleFence": "fencing",
    "Redlock": "redlock",
    "DelayQueue": "delayqueue",
    "Bridge": "queue", "NaiveBridge": "queue", "QueueFull": "queue", "BridgeClosed": "queue",
    "StreamQueue": "streamqueue", "ListQueue": "listqueue", "IdempotentHandler": "reliable",
    # chapter 09: flash sale
    "Decision": "ratelimit", "FixedWindowLimiter": "ratelimit", "SlidingLogLimiter": "ratelimit",
    "SlidingWindowCounterLimiter": "ratelimit", "TokenBucketLimiter": "ratelimit", "GCRALimiter": "ratelimit",
    "NoGuard": "cacheguard", "NullCache": "cacheguard", "MutexRebuild": "cacheguard",
    "SingleflightGuard": "cacheguard", "LogicalExpiry": "cacheguard", "XFetch": "cacheguard",
    "BloomGuard": "cacheguard", "CacheBusy": "cacheguard", "ttl_with_jitter": "cacheguard",
    "BloomFilter": "bloom", "Stock": "stock", "NaiveStock": "stock",
    # chapter 10: sessions
    "SessionStore": "session", "NaiveSessionStore": "session", "LogoutListener": "session", "Session": "session",
    # chapter 12: two-level cache
    "LocalCache": "localcache", "CacheStats": "localcache", "TwoLevelCache": "twolevel",
    "TwoLevelStats": "twolevel", "CompetingConsumerInvalidation": "twolevel",
    # chapter 13: leaderboards
    "Leaderboard": "leaderboard", "Composite": "leaderboard", "Entry": "leaderboard",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hcedu.patterns' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
