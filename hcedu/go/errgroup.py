"""Go's ``golang.org/x/sync/errgroup``: a WaitGroup that keeps the first error and cancels the rest.

``g, ctx = with_context(parent)``; start subtasks with ``g.go(fn)``; ``g.wait()`` joins them all
and returns the first error. The first failure cancels ``ctx`` (with the error as its
:func:`hcedu.go.context.cause`), so well-behaved siblings that watch ``ctx.done()`` stop early.

Mapping to Go: a function signals its error by **raising** an ``Exception``; ``wait()`` *returns*
that exception (or ``None``), as Go's ``Wait`` returns an ``error``. A :class:`hcedu.go.Panic`
(or a ``BaseException`` such as ``KeyboardInterrupt``) is a panic, not an error: as in x/sync
v0.16.0 and later it is **not** propagated to ``wait()``; it escapes the goroutine, which reports
it (Go would crash the process).

Invariants (specs/go-semantics.md §5):
  * the zero ``Group()`` has no limit and no context;
  * only the first error is kept; the context is cancelled at the first error (cause = the error)
    or when ``wait`` returns (cause = ``Canceled`` if nothing failed);
  * with a limit ``n`` at most ``n`` functions run at once: ``go`` blocks for a slot, ``try_go``
    returns False instead; ``set_limit(0)`` makes ``go`` block forever and ``try_go`` always False;
    changing the limit while goroutines are active panics with Go's message.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from .. import _validate
from .chan import Chan
from .context import Context, with_cancel_cause
from .goroutine import Goroutine, spawn
from .panic import Panic
from .waitgroup import WaitGroup

__all__ = ["Group", "with_context"]


def _fn_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


class Group:
    """Go's ``errgroup.Group``: goroutines working on subtasks of one task.

    ``Group()`` is Go's zero Group (no limit, no cancel). Use :func:`with_context` for a Group whose
    context is cancelled on the first error.
    """

    def __init__(self) -> None:
        self._cancel: Callable[[BaseException | None], None] | None = None
        self._wg = WaitGroup()
        self._sem: Chan | None = None
        self._err_lock = threading.Lock()
        self._err_set = False  # Go's errOnce
        self._err: BaseException | None = None

    def _done(self) -> None:
        sem = self._sem
        if sem is not None:
            sem.recv()
        self._wg.done()

    def _start(self, fn: Callable[..., Any], args: tuple) -> Goroutine:
        self._wg.add(1)

        def run() -> None:
            try:
                fn(*args)
            except Panic:
                raise  # a panic: not an error; the goroutine reports it
            except Exception as err:  # noqa: BLE001 - fn signals its error by raising
                with self._err_lock:
                    first = not self._err_set
                    if first:
                        self._err_set = True
                        self._err = err
                if first and self._cancel is not None:
                    self._cancel(err)
            finally:
                self._done()

        return spawn(run, name=f"errgroup.Go({_fn_name(fn)})", stacklevel=3)

    def go(self, fn: Callable[..., Any], *args: Any) -> None:
        """Go's ``Go``: call ``fn(*args)`` in a new goroutine.

        Blocks until the new goroutine can start without exceeding the limit (forever with limit 0).
        If ``fn`` raises an ``Exception``, the first such error is kept for :meth:`wait` and cancels the
        group's context. TypeError if ``fn`` is not callable.
        """
        _validate.function("fn", fn)
        sem = self._sem
        if sem is not None:
            sem.send(None)
        self._start(fn, args)

    def try_go(self, fn: Callable[..., Any], *args: Any) -> bool:
        """Go's ``TryGo``: like :meth:`go` but only if a slot is free now; returns whether it started."""
        _validate.function("fn", fn)
        sem = self._sem
        if sem is not None and not sem.try_send(None):
            return False
        self._start(fn, args)
        return True

    def set_limit(self, n: int) -> None:
        """Go's ``SetLimit``: at most ``n`` active goroutines; ``n < 0`` means no limit.

        Panics ``"errgroup: modify limit while N goroutines in the group are still active"`` if any
        goroutine of the group is active. TypeError if ``n`` is not an int.
        """
        n = _validate.integer("n", n)
        if n < 0:
            self._sem = None
            return
        sem = self._sem
        if sem is not None and len(sem) != 0:
            raise Panic(f"errgroup: modify limit while {len(sem)} goroutines in the group are still active")
        self._sem = Chan(n)

    def wait(self, timeout: float | None = None) -> BaseException | None:
        """Go's ``Wait``: block until every function has returned; return the first error or None.

        Then cancels the group's context (cause: that error, or ``Canceled``). ``timeout`` (seconds,
        an hcedu addition for notebooks and tests): raise ``TimeoutError`` if functions are still
        running by then; nothing is cancelled in that case.
        """
        if not self._wg.wait(timeout):
            raise TimeoutError(f"errgroup: {self._wg.counter} goroutines still running after {timeout} s")
        if self._cancel is not None:
            self._cancel(self._err)
        return self._err

    def __repr__(self) -> str:
        limit = "none" if self._sem is None else self._sem.cap
        return f"<errgroup.Group limit={limit} active={self._wg.counter} err={self._err!r}>"


def with_context(ctx: Context) -> tuple[Group, Context]:
    """Go's ``errgroup.WithContext``: a new Group and a context derived from ``ctx`` (via ``with_cancel_cause``).

    The derived context is cancelled the first time a function started by ``go`` raises, or the
    first time ``wait`` returns, whichever comes first.
    """
    derived, cancel = with_cancel_cause(ctx)
    g = Group()
    g._cancel = cancel
    return g, derived
