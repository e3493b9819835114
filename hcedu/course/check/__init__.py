"""Exercise checkers: ``hcedu.course.check.<name>(learner_impl)`` returns a one-line verdict.

A checker is a function in a ``chNN`` module of this package (found automatically), built with
:func:`run_checks`. Its :class:`Verdict` shows as exactly one line in a notebook:

    ✓ 5/5 checks passed: bounded worker pool
    ✗ check 3/5 failed: every job runs exactly once: job 7 ran 2 times. Hint: ...
    … not solved yet: bounded worker pool (replace the NotImplementedError stub)

and is truthy only when every check passed.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable, Iterable

__all__ = ["Verdict", "run_checks"]

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
        line = f"✗ check {self.passed + 1}/{self.total} failed: {self.failed}"
        if self.detail:
            line += f": {self.detail}"
        if self.hint:
            line += f". Hint: {self.hint}"
        return line

    __repr__ = __str__

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


def run_checks(title: str, checks: Iterable[tuple[str, Callable[[], Any], str]]) -> Verdict:
    """Run ``(name, fn, hint)`` checks in order and stop at the first failure.

    ``fn`` fails by raising (usually AssertionError, whose message becomes the detail). A
    ``NotImplementedError`` anywhere means the learner has not written the solution yet.
    """
    checks = list(checks)
    for i, (name, fn, hint) in enumerate(checks):
        try:
            fn()
        except NotImplementedError:
            return Verdict(title, i, len(checks), unsolved=True)
        except AssertionError as exc:
            return Verdict(title, i, len(checks), name, _first_line(exc), hint)
        except Exception as exc:  # the learner's code raised: report it, don't drown them in a traceback
            return Verdict(title, i, len(checks), name, f"raised {type(exc).__name__}: {_first_line(exc)}", hint)
    return Verdict(title, len(checks), len(checks))


def _first_line(exc: BaseException) -> str | None:
    text = str(exc).strip()
    return text.splitlines()[0] if text else None


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("ch"))


def __getattr__(name: str) -> Any:
    if name.startswith("_"):
        raise AttributeError(name)
    for mod in _modules():
        module = importlib.import_module(f".{mod}", __name__)
        if hasattr(module, name):
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"no checker named {name!r} in hcedu.course.check (modules: {', '.join(_modules())})")


def __dir__() -> list[str]:
    names = set(globals())
    for mod in _modules():
        module = importlib.import_module(f".{mod}", __name__)
        names.update(getattr(module, "__all__", []))
    return sorted(names)
