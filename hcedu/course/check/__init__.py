"""Exercise checkers: ``hcedu.course.check.<name>(learner_impl)`` returns a one-line verdict.

A checker is a function in a ``chNN`` module of this package (found automatically), built with
:func:`run_checks`. Its :class:`Verdict` shows as exactly one line in a notebook:

    ✓ 5/5 checks passed: bounded worker pool
    ✗ 2/5 checks passed, then failed: every job runs exactly once: job 7 ran 2 times. Hint: ...
    … not solved yet: bounded worker pool (replace the NotImplementedError stub)

and is truthy only when every check passed.
"""

from __future__ import annotations

import ast
import functools
import importlib
import os
import pkgutil
import re
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = ["Verdict", "run_checks", "raised_in_learner_code"]

_HCEDU_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_LIBRARY_DIRS = tuple(sorted({os.path.abspath(p) for p in (
    sysconfig.get_paths().get("stdlib"), sysconfig.get_paths().get("platstdlib"),
    sysconfig.get_paths().get("purelib"), sysconfig.get_paths().get("platlib"),
    sys.prefix, sys.base_prefix, sys.exec_prefix) if p}, key=len, reverse=True))

@dataclass(frozen=True)
class Verdict:
    """The outcome of a checker."""

    title: str
    passed: int
    total: int
    failed: str | None = None
    detail: str | None = None
    hint: str | None = None
    unsolved: bool = False
    internal: bool = False

    @property
    def ok(self) -> bool:
        return not self.unsolved and self.failed is None and self.passed == self.total

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.unsolved:
            return f"… not solved yet: {self.title} (replace the NotImplementedError stub, then re-run)"
        if self.ok:
            return f"✓ {self.passed}/{self.total} checks passed: {self.title}"
        if self.internal:
            return (f"⚠ the checker itself failed at check {self.passed + 1}/{self.total} ({self.failed}): "
                    f"{self.detail}. This is a bug in hcedu, not in your code: please report it")
        line = f"✗ {self.passed}/{self.total} checks passed, then failed: {self.failed}"
        if self.detail:
            line += f": {self.detail}"
        if self.hint:
            line += f". Hint: {self.hint}"
        return line

    __repr__ = __str__

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        """The same line in colour for JupyterLab: green when passed, red when failed, grey when unsolved."""
        import html
        colour = ("#1a7f37" if self.ok else "#6e7781" if self.unsolved else "#9a6700" if self.internal
                  else "#cf222e")
        return (f'<div style="font-family:var(--jp-ui-font-family, sans-serif);border-left:4px solid {colour};'
                f'padding:2px 8px;color:{colour}">{html.escape(str(self))}</div>')


def run_checks(title: str, checks: Iterable[tuple[str, Callable[[], Any], str]]) -> Verdict:
    """Run ``(name, fn, hint)`` checks in order and stop at the first failure.

    ``fn`` fails by raising (usually AssertionError, whose message becomes the detail). A
    ``NotImplementedError`` anywhere means the learner has not written the solution yet. Any other
    exception is the learner's when it passed through the learner's code (see
    :func:`raised_in_learner_code`), and otherwise a bug in the checker, reported as such.
    """
    checks = list(checks)
    for i, (name, fn, hint) in enumerate(checks):
        try:
            fn()
        except NotImplementedError:
            return Verdict(title, i, len(checks), unsolved=True)
        except AssertionError as exc:
            return Verdict(title, i, len(checks), name, _first_line(exc), hint)
        except Exception as exc:
            detail = f"raised {type(exc).__name__}: {_first_line(exc)}"
            if raised_in_learner_code(exc):  # report it in one line, don't drown them in a traceback
                return Verdict(title, i, len(checks), name, detail, hint)
            return Verdict(title, i, len(checks), name, detail, internal=True)
    return Verdict(title, len(checks), len(checks))


def _is_library_file(filename: str) -> bool:
    if not filename or filename.startswith("<frozen"):
        return True
    path = os.path.abspath(filename)
    if path.startswith(_HCEDU_DIR + os.sep):
        return True
    return any(path.startswith(d + os.sep) for d in _LIBRARY_DIRS)


def raised_in_learner_code(exc: BaseException) -> bool:
    """True when a frame of ``exc``'s traceback (or of the exceptions it was raised from) belongs to the
    learner's code: a notebook cell, a test file, anything outside ``hcedu`` and the installed libraries.
    An exception that never passed through learner code was raised by the checker's own machinery."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            if not _is_library_file(tb.tb_frame.f_code.co_filename):
                return True
            tb = tb.tb_next
        exc = exc.__cause__ or exc.__context__
    return False


def _first_line(exc: BaseException) -> str | None:
    text = str(exc).strip()
    return text.splitlines()[0] if text else None


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("ch"))


_ALL = re.compile(r"^__all__\s*=\s*(\[[^\]]*\])", re.M)


@functools.lru_cache(maxsize=None)
def _index() -> dict[str, str]:
    """Public name -> the ``chNN`` module that defines it, read from each module's ``__all__`` without importing it.

    So ``check.token_bucket`` imports ``ch09`` alone: importing the modules in turn until one had the name cost an
    exercise kernel pandas and fakeredis (about 0.7 s) for checkers that need neither.
    """
    index: dict[str, str] = {}
    for mod in _modules():
        m = _ALL.search(Path(__path__[0], f"{mod}.py").read_text(encoding="utf-8"))
        for name in ast.literal_eval(m.group(1)) if m else ():
            index.setdefault(name, mod)
    return index


def __getattr__(name: str) -> Any:
    if name.startswith("_"):
        raise AttributeError(name)
    mod = _index().get(name)
    if mod is not None:
        value = getattr(importlib.import_module(f".{mod}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"no checker named {name!r} in hcedu.course.check (modules: {', '.join(_modules())})")


def __dir__() -> list[str]:
    names = set(globals())
    for mod in _modules():
        module = importlib.import_module(f".{mod}", __name__)
        names.update(getattr(module, "__all__", []))
    return sorted(names)
