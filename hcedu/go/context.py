"""Go's ``context`` package: cancellation, deadlines and request-scoped values, ported from context.go.

A context is a node in a tree rooted at :func:`background`. Deriving (``with_cancel``,
``with_timeout``, ``with_value`` ...) adds a child; cancelling a node closes its ``done()`` channel
and, **synchronously**, its whole subtree; never its parent or siblings.

Mapping to Go:

* ``ctx.done()`` is a :class:`hcedu.go.chan.Chan` that is closed on cancellation (receive on it, or
  ``select`` on it); ``None`` for ``background()``/``todo()``/``without_cancel`` (Go's nil channel,
  which never becomes ready);
* ``ctx.err()`` returns ``None``, :data:`Canceled` or :data:`DeadlineExceeded`; these are sentinel
  exception *instances*, like Go's error variables, so ``ctx.err() is Canceled`` is Go's
  ``ctx.Err() == context.Canceled`` and ``raise ctx.err()`` works;
* ``ctx.deadline()`` is a time on the context's clock, or ``None`` (Go's ``ok == false``);
* deadlines are timers from an injectable clock (``clock=`` on ``with_deadline``/``with_timeout``,
  inherited by children; a :class:`hcedu.clock.RealClock` by default), so a ``VirtualClock`` drives
  them deterministically: ``clock.advance(...)`` fires the deadline in the advancing thread;
* where Go panics (nil parent, nil key) :class:`hcedu.go.Panic` is raised with Go's message.

Invariants (specs/go-semantics.md §4):
  * ``err()`` is ``None`` until ``done()`` is closed, then never changes; ``cause()`` is the cause
    of the *first* cancellation of the context or an ancestor;
  * a child's deadline is never later than its parent's; a child of a cancelled parent is born
    cancelled (with the parent's err and cause);
  * a cancel function is idempotent, safe to call from any thread, and unlinks the child from its
    parent (so a cancelled child is garbage, not a leak).
"""

from __future__ import annotations

import math
import threading
from typing import Any, Callable

from .. import _validate
from ..clock import RealClock, as_clock
from .panic import Panic

__all__ = [
    "Context", "CanceledError", "DeadlineExceededError", "Canceled", "DeadlineExceeded",
    "background", "todo", "with_cancel", "with_cancel_cause", "with_deadline", "with_deadline_cause",
    "with_timeout", "with_timeout_cause", "with_value", "without_cancel", "after_func", "cause",
    "CancelFunc", "Panic",
]

CancelFunc = Callable[[], None]


class CanceledError(Exception):
    """The type of :data:`Canceled` (Go: the error ``context.Canceled``)."""


class DeadlineExceededError(TimeoutError):
    """The type of :data:`DeadlineExceeded` (Go: ``deadlineExceededError``); also a ``TimeoutError``."""

    def timeout(self) -> bool:
        """Go's ``Timeout()``: True (it satisfies net.Error's timeout interface)."""
        return True

    def temporary(self) -> bool:
        """Go's ``Temporary()``: True."""
        return True


#: Go's ``context.Canceled``: the error ``err()`` returns when the context was cancelled.
Canceled = CanceledError("context canceled")
#: Go's ``context.DeadlineExceeded``: the error ``err()`` returns when the deadline passed.
DeadlineExceeded = DeadlineExceededError("context deadline exceeded")

_cancel_ctx_key = object()  # Go's &cancelCtxKey: Value(&cancelCtxKey) returns the nearest cancelCtx
_default_clock = RealClock()


def _make_chan(cap: int = 0) -> Any:
    from .chan import Chan

    return Chan(cap)


_closedchan: Any = None  # Go's closedchan: reused as done() of a context cancelled before done() was called


def _closed_chan() -> Any:
    global _closedchan
    if _closedchan is None:
        ch = _make_chan()
        ch.close()
        _closedchan = ch
    return _closedchan


def _spawn(fn: Callable[[], Any], name: str) -> Any:
    """Start a goroutine (registered, so the leak detector sees it)."""
    from .goroutine import spawn

    return spawn(fn, name=name, stacklevel=2)


class Context:
    """Go's ``context.Context`` interface. Subclass it to write a custom context.

    ``deadline() -> float | None``, ``done() -> Chan | None``, ``err() -> BaseException | None``,
    ``value(key) -> Any``. The contexts made by this module implement them; a custom context that
    wraps one (Go's ``otherContext``) is propagated to with a goroutine, as in Go.
    """

    def deadline(self) -> float | None:
        return None

    def done(self) -> Any:
        return None

    def err(self) -> BaseException | None:
        return None

    def value(self, key: Any) -> Any:
        return None

    def __str__(self) -> str:
        return _context_name(self)


def _context_name(c: Any) -> str:
    s = getattr(c, "_string", None)
    if s is not None:
        return s()
    return f"{type(c).__module__}.{type(c).__qualname__}"


def _stringify(v: Any) -> str:
    """Go's ``stringify``: a Stringer's String(), a string itself, ``<nil>``, else the type's name."""
    if v is None:
        return "<nil>"
    if isinstance(v, str):
        return v
    t = type(v)
    if t.__str__ is not object.__str__:
        return str(v)
    if t.__module__ == "builtins":  # Go prints a predeclared type bare: "int", "bool"
        return t.__qualname__
    return f"{t.__module__}.{t.__qualname__}"


def _check_parent(parent: Any) -> None:
    if parent is None:
        raise Panic("cannot create context from nil parent")
    for m in ("deadline", "done", "err", "value"):
        if not callable(getattr(parent, m, None)):
            raise TypeError(f"parent must be a Context (got {type(parent).__name__}: {parent!r})")


def _keys_equal(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - odd __eq__: not equal
        return False


def _value(c: Any, key: Any) -> Any:
    """Go's ``value``: walk up the chain; the nearest match wins."""
    while True:
        if isinstance(c, _ValueCtx):
            if _keys_equal(key, c._key):
                return c._val
            c = c._parent
        elif isinstance(c, _CancelCtx):
            if key is _cancel_ctx_key:
                return c
            c = c._parent
        elif isinstance(c, _WithoutCancelCtx):
            if key is _cancel_ctx_key:
                return None  # Cause(WithoutCancel(ctx)) == nil
            c = c._parent
        elif isinstance(c, _EmptyCtx):
            return None
        else:
            return c.value(key)


def _clock_of(c: Any) -> Any:
    return getattr(c, "_clock", None)


# --- background / todo --------------------------------------------------------------------------

class _EmptyCtx(Context):
    """Go's ``backgroundCtx`` / ``todoCtx``: never cancelled, no values, no deadline."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._clock = None

    def _string(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return self._name


_background = _EmptyCtx("context.Background")
_todo = _EmptyCtx("context.TODO")


def background() -> Context:
    """Go's ``context.Background()``: the root; ``done()`` is None, ``err()`` None, no deadline or values."""
    return _background


def todo() -> Context:
    """Go's ``context.TODO()``: like background, marking code that should be given a real context."""
    return _todo


# --- cancelCtx ----------------------------------------------------------------------------------

class _CancelCtx(Context):
    """Go's ``cancelCtx``: can be cancelled; cancelling it cancels every child it registered."""

    def __init__(self, parent: Any, clock: Any = None) -> None:
        self._parent = parent
        self._mu = threading.Lock()
        self._done: Any = None  # created lazily, closed by the first cancel
        self._children: dict[Any, None] = {}  # insertion-ordered set of cancelers
        self._err: BaseException | None = None
        self._cause: BaseException | None = None
        self._stop: Callable[[], bool] | None = None  # set when propagation went through parent.after_func
        self._clock = clock if clock is not None else _clock_of(parent)

    def value(self, key: Any) -> Any:
        if key is _cancel_ctx_key:
            return self
        return _value(self._parent, key)

    def deadline(self) -> float | None:
        return self._parent.deadline()

    def done(self) -> Any:
        with self._mu:
            if self._done is None:
                self._done = _closed_chan() if self._err is not None else _make_chan()
            return self._done

    def _done_chan(self) -> Any:
        with self._mu:
            return self._done

    def err(self) -> BaseException | None:
        with self._mu:
            return self._err

    def _string(self) -> str:
        return _context_name(self._parent) + ".WithCancel"

    def __repr__(self) -> str:
        return f"<{self._string()} err={self.err()!s}>"

    def _propagate_cancel(self, parent: Any, child: "_CancelCtx") -> None:
        """Go's ``propagateCancel``: arrange for ``child`` to be cancelled when ``parent`` is."""
        self._parent = parent
        done = parent.done()
        if done is None:
            return  # parent is never cancelled
        if done.closed:  # parent is already cancelled
            child._cancel(False, parent.err() or Canceled, cause(parent))
            return
        p = _parent_cancel_ctx(parent)
        if p is not None:
            with p._mu:
                if p._err is not None:
                    err, cz = p._err, p._cause
                else:
                    p._children[child] = None
                    return
            child._cancel(False, err, cz)
            return
        af = getattr(parent, "after_func", None)
        if callable(af):  # Go's afterFuncer
            with self._mu:
                self._stop = af(lambda: child._cancel(False, parent.err() or Canceled, cause(parent)))
            return

        child_done = child.done()

        def watch() -> None:  # Go: goroutines.Add(1); go func() { select { parent.Done / child.Done } }
            from .selectgo import Recv, select

            i, _, _ = select(Recv(done), Recv(child_done))
            if i == 0:
                child._cancel(False, parent.err() or Canceled, cause(parent))

        _spawn(watch, "context.propagateCancel")

    def _cancel(self, remove_from_parent: bool, err: BaseException, cz: BaseException | None) -> None:
        """Go's ``cancelCtx.cancel``: close done, cancel every child with (err, cause), maybe unlink."""
        if err is None:
            raise Panic("context: internal error: missing cancel error")
        if cz is None:
            cz = err
        with self._mu:
            if self._err is not None:
                return  # already cancelled
            self._err = err
            self._cause = cz
            if self._done is None:
                self._done = _closed_chan()
            else:
                self._done.close()
            children = list(self._children)
            self._children = {}
            # Go cancels children while holding the parent's lock; the order of locks is always
            # parent -> child, so this cannot deadlock.
            for child in children:
                child._cancel(False, err, cz)
        if remove_from_parent:
            _remove_child(self)


def _parent_cancel_ctx(parent: Any) -> _CancelCtx | None:
    """Go's ``parentCancelCtx``: the underlying cancelCtx whose done channel ``parent`` exposes."""
    done = parent.done()
    if done is None or done is _closedchan:
        return None
    p = parent.value(_cancel_ctx_key)
    if not isinstance(p, _CancelCtx):
        return None
    if p._done_chan() is not done:
        return None
    return p


def _remove_child(child: _CancelCtx) -> None:
    """Go's ``removeChild``: unlink ``child`` from its parent (or stop the parent's AfterFunc)."""
    if child._stop is not None:
        child._stop()
        return
    p = _parent_cancel_ctx(child._parent)
    if p is not None:
        with p._mu:
            p._children.pop(child, None)


def with_cancel(parent: Context) -> tuple[Context, CancelFunc]:
    """Go's ``WithCancel``: a child whose ``done()`` closes when ``cancel()`` is called or the parent's does.

    ``cancel()`` is idempotent and thread-safe; it sets ``err()`` to :data:`Canceled`, cancels the
    child's descendants synchronously and unlinks it from the parent. Call it as soon as the work is
    done (Go's ``defer cancel()``), or the child stays registered with its parent until the parent ends.
    Panics on a nil parent.
    """
    _check_parent(parent)
    c = _CancelCtx(parent)
    c._propagate_cancel(parent, c)
    return c, lambda: c._cancel(True, Canceled, None)


def with_cancel_cause(parent: Context) -> tuple[Context, Callable[[BaseException | None], None]]:
    """Go's ``WithCancelCause``: like :func:`with_cancel`, but ``cancel(cause)`` records why.

    ``err()`` is still :data:`Canceled`; :func:`cause` returns ``cause`` (or Canceled for
    ``cancel(None)``). Only the first cancellation's cause sticks.
    """
    _check_parent(parent)
    c = _CancelCtx(parent)
    c._propagate_cancel(parent, c)

    def cancel(cause: BaseException | None = None) -> None:
        if cause is not None and not isinstance(cause, BaseException):
            raise TypeError(f"cause must be an exception or None (got {type(cause).__name__})")
        c._cancel(True, Canceled, cause)

    return c, cancel


def cause(c: Context) -> BaseException | None:
    """Go's ``context.Cause``: why ``c`` was cancelled.

    ``None`` until cancelled; then the cause given to the first ``cancel(cause)`` of ``c`` or an
    ancestor, the ``*_cause`` of an expired deadline, or ``c.err()`` itself. A custom context that
    derives from none of this module's cancellable contexts falls back to ``c.err()``.
    """
    if c is None:
        raise Panic("cannot create context from nil parent")
    cc = c.value(_cancel_ctx_key)
    if isinstance(cc, _CancelCtx):
        with cc._mu:
            return cc._cause
    return c.err()


# --- timerCtx -----------------------------------------------------------------------------------

class _TimerCtx(_CancelCtx):
    """Go's ``timerCtx``: a cancelCtx with a deadline and a timer that cancels it at the deadline."""

    def __init__(self, parent: Any, deadline: float, clock: Any) -> None:
        super().__init__(parent, clock)
        self._deadline = deadline
        self._timer: Any = None

    def deadline(self) -> float | None:
        return self._deadline

    def _string(self) -> str:
        clock = self._clock or _default_clock
        left = self._deadline - clock.now()
        return f"{_context_name(self._parent)}.WithDeadline({self._deadline:g} [{left:g}s])"

    def _cancel(self, remove_from_parent: bool, err: BaseException, cz: BaseException | None) -> None:
        super()._cancel(False, err, cz)
        if remove_from_parent:
            _remove_child(self)  # remove this timerCtx from its parent cancelCtx's children
        with self._mu:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()


def with_deadline(parent: Context, d: float, *, clock: Any = None) -> tuple[Context, CancelFunc]:
    """Go's ``WithDeadline``: a child cancelled with :data:`DeadlineExceeded` at time ``d``.

    ``d`` is a time on ``clock`` (default: the parent's clock, else a RealClock). If the parent's
    deadline is already earlier, this is just ``with_cancel(parent)`` and ``deadline()`` reports the
    parent's. A ``d`` already past gives a context that is done at birth. Calling ``cancel()`` first
    sets :data:`Canceled` and stops the timer.
    """
    return with_deadline_cause(parent, d, None, clock=clock)


def with_deadline_cause(parent: Context, d: float, cause: BaseException | None, *,
                        clock: Any = None) -> tuple[Context, CancelFunc]:
    """Go's ``WithDeadlineCause``: like :func:`with_deadline`; ``cause`` is what :func:`cause` returns
    when the deadline passes. The returned cancel function sets no cause (Canceled)."""
    _check_parent(parent)
    d = _validate.number("d", d, allow_inf=True)
    if cause is not None and not isinstance(cause, BaseException):
        raise TypeError(f"cause must be an exception or None (got {type(cause).__name__})")
    clk = as_clock(clock) if clock is not None else (_clock_of(parent) or _default_clock)
    cur = parent.deadline()
    if cur is not None and cur < d:
        # The current deadline is already sooner than the new one.
        c = _CancelCtx(parent, clk)
        c._propagate_cancel(parent, c)
        return c, lambda: c._cancel(True, Canceled, None)
    c = _TimerCtx(parent, d, clk)
    c._propagate_cancel(parent, c)
    dur = d - clk.now()
    if dur <= 0:
        c._cancel(True, DeadlineExceeded, cause)  # deadline has already passed
        return c, lambda: c._cancel(False, Canceled, None)
    with c._mu:
        armed = c._err is None
    if armed and not math.isinf(dur):
        timer = clk.after(dur, c._cancel, True, DeadlineExceeded, cause)
        with c._mu:
            if c._err is None:
                c._timer = timer
            else:
                timer.cancel()
    return c, lambda: c._cancel(True, Canceled, None)


def with_timeout(parent: Context, timeout: float, *, clock: Any = None) -> tuple[Context, CancelFunc]:
    """Go's ``WithTimeout``: ``with_deadline(parent, clock.now() + timeout)``.

    ``timeout`` is seconds (ValueError if NaN, TypeError if not a number). Zero or negative gives a
    context that is done at birth with :data:`DeadlineExceeded`, as in Go (``WithDeadline(parent,
    time.Now().Add(timeout))``): code that passes "the remaining budget minus a margin" relies on it.
    Always call the returned ``cancel`` (Go's ``defer cancel()``): it releases the timer and unlinks
    the child from its parent at once instead of at the deadline.
    """
    return with_timeout_cause(parent, timeout, None, clock=clock)


def with_timeout_cause(parent: Context, timeout: float, cause: BaseException | None, *,
                       clock: Any = None) -> tuple[Context, CancelFunc]:
    """Go's ``WithTimeoutCause``: :func:`with_timeout` whose expiry reports ``cause`` via :func:`cause`."""
    _check_parent(parent)
    timeout = _validate.number("timeout", timeout, allow_inf=True)
    clk = as_clock(clock) if clock is not None else (_clock_of(parent) or _default_clock)
    return with_deadline_cause(parent, clk.now() + timeout, cause, clock=clk)


# --- valueCtx -----------------------------------------------------------------------------------

class _ValueCtx(Context):
    """Go's ``valueCtx``: one key/value pair on top of a parent."""

    def __init__(self, parent: Any, key: Any, val: Any) -> None:
        self._parent = parent
        self._key = key
        self._val = val
        self._clock = _clock_of(parent)

    def deadline(self) -> float | None:
        return self._parent.deadline()

    def done(self) -> Any:
        return self._parent.done()

    def err(self) -> BaseException | None:
        return self._parent.err()

    def value(self, key: Any) -> Any:
        if _keys_equal(key, self._key):
            return self._val
        return _value(self._parent, key)

    def _string(self) -> str:
        return f"{_context_name(self._parent)}.WithValue({_stringify(self._key)}, {_stringify(self._val)})"

    def __repr__(self) -> str:
        return self._string()


def with_value(parent: Context, key: Any, val: Any) -> Context:
    """Go's ``WithValue``: a child where ``value(key)`` is ``val``; everything else is the parent's.

    Keys compare by type and value (so define your own key type, never a bare string shared across
    packages); the nearest match up the chain wins, a ``None`` value included. Meant for
    request-scoped data (request id, auth), not optional parameters. Panics on a nil parent, a
    ``None`` key ("nil key") or an unhashable key ("key is not comparable").
    """
    _check_parent(parent)
    if key is None:
        raise Panic("nil key")
    try:
        hash(key)
    except TypeError:
        raise Panic("key is not comparable") from None
    return _ValueCtx(parent, key, val)


# --- withoutCancel ------------------------------------------------------------------------------

class _WithoutCancelCtx(Context):
    """Go's ``withoutCancelCtx``: the parent's values, none of its cancellation or deadline."""

    def __init__(self, parent: Any) -> None:
        self._parent = parent
        self._clock = _clock_of(parent)

    def value(self, key: Any) -> Any:
        return _value(self, key)

    def _string(self) -> str:
        return _context_name(self._parent) + ".WithoutCancel"

    def __repr__(self) -> str:
        return self._string()


def without_cancel(parent: Context) -> Context:
    """Go's ``WithoutCancel``: a copy of ``parent`` that is never cancelled.

    ``done()`` is None, ``err()`` None, ``deadline()`` None and :func:`cause` None, but values are
    still visible. Use it for work that must outlive the request (an audit log write).
    """
    _check_parent(parent)
    return _WithoutCancelCtx(parent)


# --- AfterFunc ----------------------------------------------------------------------------------

class _AfterFuncCtx(_CancelCtx):
    """Go's ``afterFuncCtx``: runs ``f`` once, in its own goroutine, when the parent is done."""

    def __init__(self, parent: Any, f: Callable[[], Any]) -> None:
        super().__init__(parent)
        self._f = f
        self._once_lock = threading.Lock()
        self._once_done = False

    def _once(self) -> bool:
        """Go's ``sync.Once.Do``: True for the first caller only."""
        with self._once_lock:
            if self._once_done:
                return False
            self._once_done = True
            return True

    def _cancel(self, remove_from_parent: bool, err: BaseException, cz: BaseException | None) -> None:
        super()._cancel(False, err, cz)
        if remove_from_parent:
            _remove_child(self)
        if self._once():
            _spawn(self._f, f"context.AfterFunc({getattr(self._f, '__name__', 'f')})")


def after_func(ctx: Context, f: Callable[[], Any]) -> Callable[[], bool]:
    """Go's ``context.AfterFunc``: run ``f()`` in its own goroutine once ``ctx`` is done.

    If ``ctx`` is already done, ``f`` starts at once. Returns ``stop()``: it unhooks ``f`` and returns
    True if that prevented ``f`` from starting, False if ``f`` already started or ``stop`` was already
    called. Cancelling ``ctx`` does not wait for ``f`` to finish; several AfterFuncs are independent.
    Panics on a nil ctx; TypeError if ``f`` is not callable.
    """
    _check_parent(ctx)
    _validate.function("f", f)
    a = _AfterFuncCtx(ctx, f)
    a._propagate_cancel(ctx, a)

    def stop() -> bool:
        stopped = a._once()
        if stopped:
            a._cancel(True, Canceled, None)
        return stopped

    return stop
