"""Go's ``go`` statement (runtime.newproc): start a goroutine, get a handle, never lose a panic.

``go(fn, *args, **kwargs)`` runs ``fn`` on a new daemon thread named ``hcedu-goroutine-N`` and returns a
:class:`Goroutine` handle. Python threads are 1:1 OS threads, not Go's M:N goroutines (see
:mod:`hcedu.go.sched` for the real scheduler, simulated); the handle gives the *observable* behaviour of
Go's goroutines plus what a notebook needs to stay alive and honest.

Invariants:
  * goroutine ids are unique, increasing in start order, and the thread is named ``hcedu-goroutine-<id>``;
  * every goroutine is registered before its thread starts and unregistered when it finishes, so
    :func:`running` lists exactly the live ones, sorted by start order (the basis of the leak detector);
  * an uncaught exception in a goroutine (Go: a panic nobody recovered) is captured with its traceback on
    the handle and reported **once** to ``sys.stderr`` in Go's panic format
    (``panic: ...`` / ``goroutine N [running]:`` / frames / ``created by ...``). In Go this would kill the
    whole program; here it never crashes the kernel and is never silently lost. Silence the report with
    ``with silence_panics():`` (applies to goroutines started inside the block, and to their children)
    or ``spawn(..., report=False)``;
  * :func:`recover` is Go's ``defer func(){ if r := recover(); r != nil {...} }()`` as a decorator: the
    recovered value (the exception) goes to a handler and the function returns normally.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import sys
import threading
import traceback as _tb
from typing import Any, Callable, Iterator, TypeVar, overload

from .. import _validate
from .panic import Panic

__all__ = ["go", "spawn", "Goroutine", "GoroutinePanic", "running", "current", "recover",
           "silence_panics", "format_panic"]

T = TypeVar("T")

_ids = itertools.count(1)
_registry: dict[int, "Goroutine"] = {}
_registry_lock = threading.Lock()
_local = threading.local()  # .goroutine (the handle of the current goroutine), .quiet (int depth)


class GoroutinePanic(Panic):
    """A panic that escaped a goroutine (Go: ``panic: ...`` then the program exits).

    Raised by :attr:`Goroutine.result` / :meth:`Goroutine.get` when the goroutine panicked. ``value`` is
    the original exception (also chained as ``__cause__``); ``goroutine`` is the handle.
    """

    def __init__(self, goroutine: "Goroutine", value: BaseException) -> None:
        super().__init__(f"goroutine {goroutine.id} ({goroutine.name}) panicked: {_panic_value(value)}")
        self.goroutine = goroutine
        self.value = value


def _panic_value(exc: BaseException) -> str:
    """What Go prints after ``panic: ``: a Panic's own message, else ``Type: message``."""
    if isinstance(exc, Panic):
        return str(exc)
    msg = str(exc)
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _caller(stacklevel: int) -> tuple[str, str]:
    """(``file:line``, function name) of the frame ``stacklevel`` levels above the caller of this helper."""
    frame = sys._getframe(stacklevel + 1)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}", frame.f_code.co_name


def _quiet() -> bool:
    return getattr(_local, "quiet", 0) > 0


@contextlib.contextmanager
def silence_panics() -> Iterator[None]:
    """Don't print panic reports of goroutines started (by this thread) inside the block.

    The panic is still captured on the handle; only the stderr report is skipped. Goroutines started by a
    silenced goroutine are silenced too. Meant for tests and for notebook cells that show a panic on purpose.
    """
    _local.quiet = getattr(_local, "quiet", 0) + 1
    try:
        yield
    finally:
        _local.quiet -= 1


class Goroutine:
    """The handle of one goroutine started by :func:`go` (Go has none; this is what a notebook needs).

    Attributes: ``id`` (int, start order), ``name`` (the function's qualified name unless given),
    ``thread_name`` (``hcedu-goroutine-<id>``), ``started_at`` (``"file:line"`` of the ``go(...)`` call),
    ``created_by`` (function that called ``go``), ``parent`` (id of the starting goroutine or None).

    ``join(timeout)`` waits; ``done`` / ``panicked`` / ``state`` tell where it is; ``result`` is the return
    value (raises :class:`GoroutinePanic` if it panicked); ``exception`` and ``traceback`` hold the panic.
    """

    def __init__(self, fn: Callable[..., Any], args: tuple = (), kwargs: dict | None = None, *,
                 name: str | None = None, report: bool = True, started_at: str = "?",
                 created_by: str = "?") -> None:
        self.fn = _validate.function("fn", fn)
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.id = next(_ids)
        self.name = _validate.text("name", name) if name is not None else _fn_name(fn)
        self.thread_name = f"hcedu-goroutine-{self.id}"
        self.started_at = started_at
        self.created_by = created_by
        parent = current()
        self.parent: int | None = parent.id if parent is not None else None
        self.creator_thread = threading.current_thread().name
        self.report = bool(report)
        self._quiet_children = not report
        self._done = threading.Event()
        self._result: Any = None
        self._exception: BaseException | None = None
        self._traceback: str | None = None
        self._panic_report: str | None = None
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "Goroutine":
        """Register the goroutine and start its thread (called by :func:`go`); returns self."""
        with _registry_lock:
            _registry[self.id] = self
        try:
            self._thread.start()
        except BaseException:
            with _registry_lock:
                _registry.pop(self.id, None)
            raise
        return self

    def _run(self) -> None:
        _local.goroutine = self
        _local.quiet = 1 if self._quiet_children else 0
        try:
            self._result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:  # a goroutine must never take the process down
            self._exception = exc
            self._traceback = "".join(_tb.format_exception(type(exc), exc, exc.__traceback__))
            self._panic_report = format_panic(self, exc)
            if self.report:
                try:
                    sys.stderr.write(self._panic_report)
                    sys.stderr.flush()
                except Exception:  # stderr gone (interpreter shutdown): the handle still has it
                    pass
        finally:
            with _registry_lock:
                _registry.pop(self.id, None)
            self._done.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the goroutine finishes (returned or panicked); False if ``timeout`` seconds pass first.

        ``timeout=None`` waits forever. Joining never raises the goroutine's panic: read ``exception``.
        """
        timeout = _validate.optional_timeout("timeout", timeout)
        return self._done.wait(timeout)

    # -- state ---------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True once the function returned or panicked."""
        return self._done.is_set()

    @property
    def alive(self) -> bool:
        return not self._done.is_set()

    @property
    def panicked(self) -> bool:
        return self._done.is_set() and self._exception is not None

    @property
    def state(self) -> str:
        """``"running"`` (started, not finished), ``"done"`` or ``"panicked"``."""
        if not self._done.is_set():
            return "running"
        return "panicked" if self._exception is not None else "done"

    @property
    def result(self) -> Any:
        """The function's return value.

        Raises ``RuntimeError`` while the goroutine is still running (``join`` it first) and
        :class:`GoroutinePanic` (caused by the original exception) if it panicked.
        """
        if not self._done.is_set():
            raise RuntimeError(f"goroutine {self.id} ({self.name}) is still running; join() it first")
        if self._exception is not None:
            raise GoroutinePanic(self, self._exception) from self._exception
        return self._result

    def get(self, timeout: float | None = None) -> Any:
        """``join(timeout)`` then ``result``; raises ``TimeoutError`` if it has not finished in time."""
        if not self.join(timeout):
            raise TimeoutError(f"goroutine {self.id} ({self.name}) still running after {timeout} s")
        return self.result

    @property
    def exception(self) -> BaseException | None:
        """The exception that escaped the goroutine (its panic), or None."""
        return self._exception

    @property
    def traceback(self) -> str | None:
        """Python's formatted traceback of the panic, or None."""
        return self._traceback

    @property
    def panic_report(self) -> str | None:
        """The Go-style report (printed to stderr unless silenced), or None if it did not panic."""
        return self._panic_report

    def __repr__(self) -> str:
        return f"<Goroutine {self.id} {self.name} [{self.state}] started at {self.started_at}>"


def _fn_name(fn: Callable[..., Any]) -> str:
    if isinstance(fn, functools.partial):
        return _fn_name(fn.func)
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


def format_panic(g: Goroutine, exc: BaseException) -> str:
    """Format a goroutine's panic the way Go's runtime prints an unrecovered one.

    ::

        panic: ZeroDivisionError: division by zero

        goroutine 7 [running]:
        __main__.worker(...)
        \t/path/to/file.py:12
        created by main in goroutine 3
        \t/path/to/caller.py:40
    """
    lines = [f"panic: {_panic_value(exc)}", "", f"goroutine {g.id} [running]:"]
    frames = _tb.extract_tb(exc.__traceback__)
    # drop hcedu's own plumbing (the _run frame) so the first frame is the learner's function
    here = os.path.abspath(__file__)
    frames = [f for f in frames if os.path.abspath(f.filename) != here] or list(frames)
    for f in reversed(frames):  # Go prints the innermost frame first
        lines.append(f"{f.name}(...)")
        lines.append(f"\t{f.filename}:{f.lineno}")
    creator = f"goroutine {g.parent}" if g.parent is not None else f"thread {g.creator_thread}"
    lines.append(f"created by {g.created_by} in {creator}")
    lines.append(f"\t{g.started_at}")
    return "\n".join(lines) + "\n"


def spawn(fn: Callable[..., Any], *args: Any, name: str | None = None, report: bool | None = None,
          stacklevel: int = 1, **kwargs: Any) -> Goroutine:
    """``go`` with options: a ``name`` for the handle, ``report=False`` to skip the stderr panic report.

    ``stacklevel`` says which caller ``started_at`` points to (1 = the caller of ``spawn``). Keyword
    arguments ``name``, ``report`` and ``stacklevel`` are taken by ``spawn``; use :func:`go` or a lambda
    to pass arguments with those names to ``fn``.
    """
    _validate.function("fn", fn)
    stacklevel = _validate.integer("stacklevel", stacklevel, minimum=1)
    where, who = _caller(stacklevel)
    if report is None:
        report = not _quiet()
    return Goroutine(fn, args, kwargs, name=name, report=bool(report), started_at=where,
                     created_by=who).start()


def go(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Goroutine:
    """Go's ``go fn(args...)``: run ``fn(*args, **kwargs)`` on a new goroutine (daemon thread); return its handle.

    Returns at once. An exception escaping ``fn`` is captured on the handle and reported once on stderr
    in Go's panic format (unless inside :func:`silence_panics`); it never propagates to the caller.
    ``TypeError`` if ``fn`` is not callable.
    """
    _validate.function("fn", fn)
    where, who = _caller(1)
    return Goroutine(fn, args, kwargs, report=not _quiet(), started_at=where, created_by=who).start()


def running() -> list[Goroutine]:
    """Live goroutines (started, not finished), sorted by start order: ``runtime.NumGoroutine`` with names.

    Each handle carries ``name`` and ``started_at``, like the ``created by`` lines of a goroutine dump.
    """
    with _registry_lock:
        return [_registry[k] for k in sorted(_registry)]


def current() -> Goroutine | None:
    """The handle of the goroutine running this code, or None on a thread ``go`` did not start."""
    return getattr(_local, "goroutine", None)


@overload
def recover(fn: Callable[..., T], *, handler: Callable[[BaseException], Any] | None = None) -> Callable[..., Any]: ...
@overload
def recover(fn: None = None, *, handler: Callable[[BaseException], Any] | None = None) -> Callable[[Callable[..., T]], Callable[..., Any]]: ...


def recover(fn: Callable[..., Any] | None = None, *, handler: Callable[[BaseException], Any] | None = None) -> Any:
    """Go's ``defer func() { if r := recover(); r != nil { ... } }()`` as a decorator.

    ``@recover`` or ``@recover(handler=h)`` or ``recover(fn, handler=h)``. When the wrapped function raises
    an ``Exception`` (Go: panics), the exception is the recovered value: it is passed to ``handler`` and
    the wrapper returns the handler's result (``None`` without a handler), like a deferred function that
    sets a named result. Normal returns pass through unchanged. ``BaseException`` that is not an
    ``Exception`` (``KeyboardInterrupt``, ``SystemExit``) is not recovered, just as Go's ``recover``
    does not stop ``runtime.Goexit``. ``TypeError`` if ``fn`` or ``handler`` is not callable.
    """
    if handler is not None:
        _validate.function("handler", handler)

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        _validate.function("fn", f)

        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return f(*args, **kwargs)
            except Exception as r:  # noqa: BLE001 - recover catches every panic value
                return handler(r) if handler is not None else None

        wrapper.__recovers__ = True  # type: ignore[attr-defined]
        return wrapper

    if fn is None:
        return decorate
    return decorate(fn)
