"""A storage service that checks fencing tokens (Kleppmann, "How to do distributed locking", 2016; Go: the
``version``/``generation`` check a storage server does before applying a write, cf. etcd's revision compare).

A lease lock alone cannot stop a holder that paused past its TTL from writing after someone else took
the lock. The fix lives at the resource: every grant carries a number that only grows
(:attr:`hcedu.patterns.lock.RedisLock.fence`), and the storage rejects any write whose fence is lower
than the highest it has already seen.

Invariants of :class:`FencedResource`:

* a write with ``fence >= highest`` is applied and raises ``highest`` to ``fence`` (the same holder may
  write several times with its fence);
* a write with ``fence < highest`` is rejected and changes nothing (``enforce=False`` turns the check
  off, to show the corruption it prevents);
* every attempt, applied or not, is appended to :attr:`history` in arrival order; all of this is
  atomic under concurrent writers (one mutex).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from .. import _validate
from ._redisargs import check_client

__all__ = ["FencedResource", "WriteAttempt", "StaleFence", "RedisFencedResource", "FENCED_WRITE_LUA"]


class StaleFence(Exception):
    """Raised by :meth:`FencedResource.write_or_raise` for a fence lower than the highest seen."""


@dataclass(frozen=True)
class WriteAttempt:
    """One write that reached the storage: who sent it, with which fence, and whether it was applied."""

    writer: str
    fence: int
    value: Any
    accepted: bool
    highest_before: int


class FencedResource:
    """A toy storage service with a fencing check (Kleppmann's "storage" box in the 33/34 diagram).

    ``write(value, fence, writer="")`` returns True if applied, False if rejected as stale.
    ``value`` is the current contents; ``highest`` the highest fence seen (0 before any write).
    """

    def __init__(self, name: str = "storage", *, enforce: bool = True, initial: Any = None) -> None:
        self.name = _validate.text("name", name)
        self.enforce = bool(enforce)
        self._mu = threading.Lock()
        self._value = initial
        self._highest = 0
        self._history: list[WriteAttempt] = []

    def write(self, value: Any, fence: int, writer: str = "") -> bool:
        """Apply ``value`` if ``fence`` is not lower than the highest fence seen; return whether applied.

        ``fence`` must be a positive int (``TypeError``/``ValueError`` otherwise): a write without a fence
        is exactly what this storage exists to refuse.
        """
        fence = _validate.integer("fence", fence, minimum=1)
        _validate.text("writer", writer, empty=True)
        with self._mu:
            before = self._highest
            ok = fence >= before or not self.enforce
            if ok:
                self._value = value
                self._highest = max(before, fence)
            self._history.append(WriteAttempt(writer, fence, value, ok, before))
            return ok

    def write_or_raise(self, value: Any, fence: int, writer: str = "") -> None:
        """Like :meth:`write` but raise :class:`StaleFence` when rejected."""
        if not self.write(value, fence, writer):
            raise StaleFence(f"{self.name} rejected {writer or 'a'} write with fence {fence}: "
                             f"it has already seen fence {self.highest}")

    @property
    def value(self) -> Any:
        with self._mu:
            return self._value

    @property
    def highest(self) -> int:
        with self._mu:
            return self._highest

    @property
    def history(self) -> list[WriteAttempt]:
        """A copy of every write attempt, in arrival order."""
        with self._mu:
            return list(self._history)

    def rejected(self) -> list[WriteAttempt]:
        """The attempts that were refused as stale."""
        return [w for w in self.history if not w.accepted]

    def __repr__(self) -> str:
        return (f"<FencedResource {self.name!r} value={self.value!r} highest={self.highest} "
                f"{'enforcing' if self.enforce else 'NOT enforcing'}>")


#: KEYS[1] the resource hash; ARGV[1] fence, ARGV[2] value. Applies the write iff fence >= highest seen.
FENCED_WRITE_LUA = """
local highest = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
if tonumber(ARGV[1]) < highest then
  return 0
end
redis.call('HSET', KEYS[1], 'fence', ARGV[1], 'value', ARGV[2])
return 1
"""


class RedisFencedResource:
    """The fencing check done by a storage that lives in Redis (a Lua compare-and-set on a hash
    ``{fence, value}``), so writers in other processes are checked too.

    ``write(value, fence) -> bool`` is atomic on the server: applied iff ``fence`` is not lower than the
    highest fence seen. Redis errors propagate.
    """

    def __init__(self, client: Any, key: str) -> None:
        self.client = check_client("client", client)
        self.key = _validate.text("key", key)
        self._write = client.register_script(FENCED_WRITE_LUA)

    def write(self, value: str, fence: int) -> bool:
        fence = _validate.integer("fence", fence, minimum=1)
        _validate.text("value", value, empty=True)
        return bool(self._write(keys=[self.key], args=[fence, value]))

    @property
    def value(self) -> str | None:
        v = self.client.hget(self.key, "value")
        return v.decode() if isinstance(v, bytes) else v

    @property
    def highest(self) -> int:
        return int(self.client.hget(self.key, "fence") or 0)

    def __repr__(self) -> str:
        return f"<RedisFencedResource {self.key!r}>"
