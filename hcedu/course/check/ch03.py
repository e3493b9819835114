"""Checker for exercise 03: pooling a buffer type correctly with ``hcedu.go.Pool`` (reset before
reuse, oversized buffers not pooled, no use after put), per specs/go-semantics.md §3.

Checked: a pooled buffer is reused and reset; an empty pool without ``New`` yields a fresh
``Buffer(4096)`` on every call (never one shared buffer, never an unpoolable giant); oversized buffers
are dropped and ``None`` ignored; ``render`` returns exactly this request's text, non-ASCII names included
(UTF-8); it never uses its buffer after ``put_buffer``; and 6 threads rendering at once see no cross-talk.

Use after put is caught deterministically, not by hoping two threads collide: the render checks hand the
learner :class:`_SpyBuffer` objects from a :class:`_SpyPool`, which flag any access to a buffer (its
fields, methods or the chunks in ``parts``) between the ``put`` that handed it back and the next ``get``.
A read that no longer goes through the buffer (an iterator or generator over ``parts`` made before the
put and consumed after it) is caught too: the moment a spy buffer is put back, "another request" takes
it and reuses it (:meth:`_SpyBuffer._reused_elsewhere`), so such a read returns that request's data.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from ...go.pool import Pool, on_p
from ...lab.chanbench import Buffer
from . import Verdict, run_checks

__all__ = ["pooled_buffers", "MAX_POOLED"]

#: buffers whose ``data`` is larger than this must not go back into the pool: Go's ``fmt`` drops
#: printer buffers above 64 KiB (``pp.free``, golang/go#23199); ``encoding/json`` does not (it puts its
#: ``encodeState`` back whatever its size)
MAX_POOLED = 64 * 1024

#: what "another request" writes into a spy buffer's old chunk list the moment the buffer is put back
_OTHER_REQUEST = b"<another request's data>"


class _Parts:
    """``Buffer.parts`` for a spy: a list-like sequence of chunks that reports reads after hand-back."""

    __slots__ = ("_owner", "_items")

    def __init__(self, owner: "_SpyBuffer") -> None:
        self._owner, self._items = owner, []

    def _use(self, what: str) -> list:
        self._owner._touch(f"parts.{what}")
        return self._items

    def append(self, x: Any) -> None:
        self._use("append").append(x)

    def clear(self) -> None:
        self._use("clear").clear()

    def __iter__(self) -> Any:
        return iter(self._use("__iter__"))

    def __len__(self) -> int:
        return len(self._use("__len__"))

    def __getitem__(self, i: Any) -> Any:
        return self._use("__getitem__")[i]

    def __eq__(self, other: Any) -> bool:
        return self._items == (other._items if isinstance(other, _Parts) else other)

    def __repr__(self) -> str:
        return repr(self._items)


class _SpyBuffer(Buffer):
    """A ``Buffer`` that records every access made while it sits in a :class:`_SpyPool`."""

    __slots__ = ("_in_pool", "late")

    def __init__(self, size: int = 4096) -> None:
        object.__setattr__(self, "_in_pool", False)
        object.__setattr__(self, "late", [])
        super().__init__(size)
        object.__setattr__(self, "parts", _Parts(self))

    def _touch(self, what: str) -> None:
        if object.__getattribute__(self, "_in_pool"):
            object.__getattribute__(self, "late").append(what)

    def __getattribute__(self, name: str) -> Any:
        if name in ("data", "parts", "on_flush", "reset", "write"):
            object.__getattribute__(self, "_touch")(name)
        return object.__getattribute__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._touch(name)
        object.__setattr__(self, name, value)

    def reset(self) -> None:
        object.__getattribute__(self, "parts")._items.clear()

    def _reused_elsewhere(self) -> None:
        """Another request takes this buffer as soon as it is back in the pool: the chunk list is replaced
        (the buffer is empty again) and the old list object is overwritten in place with that request's
        data, so an iterator over it made before the put reads garbage, on every run."""
        parts = object.__getattribute__(self, "parts")
        old, parts._items = parts._items, []
        old[:] = [_OTHER_REQUEST]


class _SpyPool(Pool):
    """A ``Pool`` that marks a spy buffer as handed back on ``put`` and as taken on ``get``."""

    def put(self, x: Any) -> None:
        if isinstance(x, _SpyBuffer):
            object.__setattr__(x, "_in_pool", True)
            x._reused_elsewhere()   # before it is back in the pool: never while a get() may already hold it
        super().put(x)

    def get(self) -> Any:
        x = super().get()
        if isinstance(x, _SpyBuffer):
            object.__setattr__(x, "_in_pool", False)
        return x


def pooled_buffers(get_buffer: Callable[[Pool], Buffer], put_buffer: Callable[[Pool, Buffer], None],
                   render: Callable[[Pool, str], str]) -> Verdict:
    """Check the learner's ``get_buffer(pool)``, ``put_buffer(pool, buf)`` and
    ``render(pool, user) -> "hello <user>"`` (which must use the pool for its buffer)."""

    def new_pool(new: Any = None) -> Pool:
        return Pool(new=new, procs=1)

    def reuses_and_resets() -> None:
        made = []
        pool = new_pool(lambda: made.append(1) or Buffer(1024))
        with on_p(0):
            b = get_buffer(pool)
            assert isinstance(b, Buffer), f"get_buffer returned {type(b).__name__}, want a Buffer"
            b.write(b"secret")
            put_buffer(pool, b)
            b2 = get_buffer(pool)
        assert b2 is b, "the pooled buffer was not reused (get_buffer must take it from the pool)"
        assert b2.parts == [], f"a reused buffer still holds {b2.parts!r}: reset it before reuse"
        assert len(made) == 1, f"New was called {len(made)} times for one buffer in flight"

    def works_without_new() -> None:
        pool = new_pool(None)
        b = get_buffer(pool)
        assert isinstance(b, Buffer), "with an empty pool and no New, get_buffer must make a Buffer itself"
        b2 = get_buffer(pool)
        assert b2 is not b, ("two get_buffer calls on an empty pool without New returned the same Buffer: two "
                             "requests in flight would share it; make a new Buffer(4096) on each call")
        size = len(b.data)
        assert size == 4096, (
            f"with an empty pool and no New, get_buffer made a Buffer of {size} bytes: make a Buffer(4096), as "
            f"the statement says" + (f" (one above MAX_POOLED = {MAX_POOLED} is never pooled, so every request "
                                     f"would allocate anew)" if size > MAX_POOLED else ""))

    def oversized_not_pooled() -> None:
        pool = new_pool(None)
        big = Buffer(MAX_POOLED + 1)
        put_buffer(pool, big)
        assert pool.pooled() == {"local": 0, "victim": 0}, \
            f"a {MAX_POOLED + 1}-byte buffer was pooled: drop buffers larger than MAX_POOLED"
        ok = Buffer(MAX_POOLED)
        put_buffer(pool, ok)
        assert pool.pooled()["local"] == 1, "a buffer of exactly MAX_POOLED bytes should be pooled"
        put_buffer(pool, None)  # must be ignored, like Put(nil)

    def render_output() -> None:
        pool = new_pool(lambda: Buffer(256))
        users = ("alice", "bob", "carol", "zoë")
        outs = [render(pool, u) for u in users]
        assert all(isinstance(o, str) for o in outs), f"render returned {outs!r}, want str values"
        assert outs[:3] == ["hello alice", "hello bob", "hello carol"], \
            f"render returned {outs[:3]}: leftover state from an earlier request?"
        assert outs[3] == "hello zoë", (
            f"render(pool, 'zoë') returned {outs[3]!r}: the non-ASCII letter was lost or mangled; encode the "
            f"user as UTF-8 (user.encode()) and decode the bytes the same way")
        s = pool.stats()
        assert s["gets"] == 4 and s["puts"] == 4, \
            f"render must get and put one buffer each ({s['gets']} gets, {s['puts']} puts for 4 renders)"
        assert s["hits"] >= 2, "render's buffers are not being reused"

    def no_use_after_put() -> None:
        made: list = []
        pool = _SpyPool(new=lambda: made.append(_SpyBuffer(256)) or made[-1], procs=1)
        with on_p(0):
            for user in ("alice", "bob"):
                out = render(pool, user)
                late = sorted({w for b in made for w in b.late})
                assert not late, (f"render used its buffer after handing it back to the pool "
                                  f"(touched {', '.join(late)} after put_buffer): another request may "
                                  f"already own it")
                assert _OTHER_REQUEST.decode() not in str(out), (
                    f"render returned {out!r}: it read its buffer's chunks after put_buffer (through an iterator "
                    f"or generator over buf.parts made before the put), when another request had already "
                    f"reused the buffer: join the chunks into the result before put_buffer")
                assert out == f"hello {user}", f"render returned {out!r}, want 'hello {user}'"

    def no_cross_talk_under_threads() -> None:
        pool = Pool(new=lambda: Buffer(256), procs=4)
        bad: list = []

        def worker(k: int) -> None:
            for i in range(300):
                user = f"u{k}-{i}"
                out = render(pool, user)
                if out != f"hello {user}":
                    bad.append(out)

        ts = [threading.Thread(target=worker, args=(k,), daemon=True, name="hcedu-check-03") for k in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
            assert not t.is_alive(), "render is still running after 30 s"
        assert not bad, f"{len(bad)} responses carried another request's data, e.g. {bad[0]!r}"

    checks = [
        ("a returned buffer is reused, and reset", reuses_and_resets, "get from the pool, then buf.reset()"),
        ("an empty pool without New still yields a Buffer", works_without_new,
         "pool.get() returns None when empty and New is unset"),
        ("oversized buffers are dropped, None ignored", oversized_not_pooled,
         "check len(buf.data) <= MAX_POOLED before pool.put"),
        ("render produces only this request's output", render_output,
         "copy the result out of the buffer before putting it back; encode and decode as UTF-8"),
        ("render never touches its buffer after put_buffer", no_use_after_put,
         "build the str from the buffer first, then put_buffer as the very last step (try/finally)"),
        ("6 threads x 300 renders: no cross-talk", no_cross_talk_under_threads,
         "never touch a buffer after put_buffer"),
    ]
    return run_checks("pooled buffers", checks)
