"""Go's ``golang.org/x/sync/singleflight``: duplicate call suppression (one fetch per key, many waiters).

``Group.do(key, fn)`` runs ``fn`` unless a call for ``key`` is already in flight, in which case it
waits for that call and shares its result. It is the standard guard against **cache breakdown**
(缓存击穿): when a hot key expires, a thousand requests make one database query, not a thousand.

Mapping to Go: ``fn`` takes no arguments and returns the value; it signals an error by raising.
``do`` returns ``(value, shared)`` and **re-raises** fn's exception in the originator and every
waiter (Go returns ``(v, err, shared)`` to each). ``do_chan`` delivers a :class:`Result`
``(val, err, shared)`` on a buffered channel, with the exception in ``err``.

Invariants (specs/go-semantics.md §6):
  * no caching: when the call completes its key is removed, but only if the key still maps to this
    call (a ``forget`` followed by a new call is not evicted by the stale completion);
  * ``do`` runs ``fn`` synchronously in the caller; ``do_chan`` runs it in a new goroutine;
  * a ``do_chan`` channel has capacity 1, receives exactly one Result and is never closed;
  * a *panic* in ``fn`` (an :class:`hcedu.go.Panic`, Go's panic) is wrapped in :class:`PanicError`
    (value + stack) and raised in the originator and every waiting ``do``; the key is removed.
    Go then crashes the process if ``do_chan`` waiters exist (so they cannot hang); a notebook
    must not crash, so hcedu raises it in a new goroutine (reported like any unrecovered goroutine
    panic) **and** sends ``Result(None, PanicError, shared)`` to the channels;
  * a ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``, ``SystemExit``; Go's
    ``runtime.Goexit``) propagates in the originator and every waiting ``do``; nothing is sent.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable, NamedTuple

from .. import _validate
from .panic import Panic

__all__ = ["Group", "Result", "PanicError"]


class Result(NamedTuple):
    """Go's ``singleflight.Result``: what ``do_chan`` delivers."""

    val: Any
    err: BaseException | None
    shared: bool


class PanicError(Panic):
    """Go's ``panicError``: a panic raised by ``fn``, with the value and the stack where it happened.

    ``value`` is the original exception (also the ``__cause__``); ``unwrap()`` returns it (Go's
    ``Unwrap`` returns the value if it is an error). ``str()`` is ``"<value>\\n\\n<stack>"`` as in Go.
    """

    def __init__(self, value: BaseException, stack: str) -> None:
        super().__init__(f"{value}\n\n{stack}")
        self.value = value
        self.stack = stack

    def unwrap(self) -> BaseException:
        return self.value


def _check_key(key: Any) -> None:
    try:
        hash(key)
    except TypeError:
        raise TypeError(f"key must be hashable (got {type(key).__name__}: {key!r})") from None


class _Call:
    """Go's ``call``: one in-flight or completed ``do``."""

    __slots__ = ("done", "val", "err", "exit", "dups", "chans")

    def __init__(self) -> None:
        self.done = threading.Event()  # Go's wg
        self.val: Any = None
        self.err: BaseException | None = None
        self.exit: BaseException | None = None  # Go's errGoexit: a BaseException that is not an Exception
        self.dups = 0
        self.chans: list[Any] = []


class Group:
    """Go's ``singleflight.Group``: a namespace of keys with at most one in-flight call each.

    The zero value works (``Group()``); safe for use from many threads.
    """

    def __init__(self) -> None:
        self._mu = threading.Lock()
        self._m: dict[Any, _Call] = {}

    def do(self, key: Any, fn: Callable[[], Any]) -> tuple[Any, bool]:
        """Go's ``Do``: run ``fn`` once for all concurrent callers with the same ``key``.

        Returns ``(value, shared)``; ``shared`` is True when the value went to more than one caller.
        If ``fn`` raises, the exception is raised in the originator and in every waiter (a Panic as
        :class:`PanicError`). There is no timeout: a waiter waits as long as ``fn`` runs (Go's
        behaviour; wrap ``fn`` with a context deadline, or use ``do_chan`` with ``select``).
        TypeError if ``fn`` is not callable or ``key`` is unhashable.
        """
        _validate.function("fn", fn)
        _check_key(key)
        with self._mu:
            c = self._m.get(key)
            if c is not None:
                c.dups += 1
                owner = False
            else:
                c = _Call()
                self._m[key] = c
                owner = True
        if not owner:
            c.done.wait()
            if c.exit is not None:
                raise c.exit
            if c.err is not None:
                raise c.err
            return c.val, True
        self._do_call(c, key, fn)
        if c.exit is not None:
            raise c.exit
        if c.err is not None:
            raise c.err
        return c.val, c.dups > 0

    def do_chan(self, key: Any, fn: Callable[[], Any]) -> Any:
        """Go's ``DoChan``: like ``do`` but returns at once a ``Chan(1)`` that will receive one :class:`Result`.

        ``fn`` runs in a new goroutine (if no call for ``key`` is in flight). Errors arrive in
        ``Result.err``; the channel is never closed, so receive exactly once (with a timeout or in a
        ``select`` with ``ctx.done()`` if you must not wait forever).
        """
        from .chan import Chan
        from .goroutine import spawn

        _validate.function("fn", fn)
        _check_key(key)
        ch = Chan(1)
        with self._mu:
            c = self._m.get(key)
            if c is not None:
                c.dups += 1
                c.chans.append(ch)
                return ch
            c = _Call()
            c.chans.append(ch)
            self._m[key] = c
        spawn(self._do_call, c, key, fn, name=f"singleflight.DoChan({key!r})", stacklevel=2)
        return ch

    def forget(self, key: Any) -> None:
        """Go's ``Forget``: drop ``key`` so the next ``do`` runs ``fn`` afresh instead of waiting.

        Callers already waiting on the old call still get its result.
        """
        with self._mu:
            self._m.pop(key, None)

    def _do_call(self, c: _Call, key: Any, fn: Callable[[], Any]) -> None:
        """Go's ``doCall``: run fn, classify its outcome, release waiters, remove the key, notify channels."""
        try:
            c.val = fn()
        except Panic as p:
            c.err = PanicError(p, "".join(traceback.format_exception(type(p), p, p.__traceback__)))
            c.err.__cause__ = p
        except Exception as e:  # noqa: BLE001 - fn signals its error by raising
            c.err = e
        except BaseException as e:  # Go's runtime.Goexit
            c.exit = e
        with self._mu:
            c.done.set()
            if self._m.get(key) is c:
                del self._m[key]
            chans = list(c.chans)
            shared = c.dups > 0
        if c.exit is not None:
            return  # already exiting: nothing is sent
        if isinstance(c.err, PanicError) and chans:
            from .goroutine import spawn

            err = c.err

            def repanic() -> None:
                raise err

            spawn(repanic, name="singleflight.panic", stacklevel=2)
        for ch in chans:
            ch.send(Result(c.val, c.err, shared))

    def __repr__(self) -> str:
        with self._mu:
            return f"<singleflight.Group in_flight={sorted(map(repr, self._m))}>"
