"""Argument checks shared by every hcedu module, so bad input reads the same everywhere.

Each helper returns the value (normalised) or raises ``TypeError`` / ``ValueError`` whose message
names the argument and the allowed range, e.g. ``ttl must be > 0 (got -1)``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable


def number(name: str, value: Any, *, minimum: float | None = None, strict: bool = False,
           maximum: float | None = None, allow_inf: bool = False) -> float:
    """Check that ``value`` is a real number (not bool, not NaN) within bounds; return it as float.

    ``strict=True`` makes ``minimum`` exclusive (``> minimum``). Infinity is refused unless
    ``allow_inf``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number (got {type(value).__name__}: {value!r})")
    try:
        v = float(value)
    except OverflowError:  # an int too large for a double
        raise ValueError(f"{name} must be finite and at most {maximum if maximum is not None else 1.8e308:g} "
                         f"(got an int of {len(str(abs(int(value))))} digits)") from None
    if math.isnan(v):
        raise ValueError(f"{name} must be a number, not NaN")
    if math.isinf(v) and not allow_inf:
        raise ValueError(f"{name} must be finite (got {value!r})")
    if minimum is not None:
        if strict and not v > minimum:
            raise ValueError(f"{name} must be > {minimum:g} (got {value!r})")
        if not strict and not v >= minimum:
            raise ValueError(f"{name} must be >= {minimum:g} (got {value!r})")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum:g} (got {value!r})")
    return v


def integer(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Check that ``value`` is an int (not bool) within ``[minimum, maximum]``; return it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int (got {type(value).__name__}: {value!r})")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be >= {minimum} (got {v})")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum} (got {v})")
    return v


def optional_timeout(name: str, value: Any) -> float | None:
    """``None`` (wait forever) or a number of seconds >= 0."""
    if value is None:
        return None
    return number(name, value, minimum=0, allow_inf=True)


def function(name: str, value: Any) -> Callable[..., Any]:
    """Check that ``value`` is callable."""
    if not callable(value):
        raise TypeError(f"{name} must be callable (got {type(value).__name__}: {value!r})")
    return value


def text(name: str, value: Any, *, empty: bool = False) -> str:
    """Check that ``value`` is a str (non-empty unless ``empty``)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str (got {type(value).__name__}: {value!r})")
    if not empty and not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def key_part(name: str, value: Any) -> str:
    """``value`` as a non-empty str, for a Redis key part or an id (a str or an int, not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"{name} must be a str or int (got {type(value).__name__}: {value!r})")
    text = str(value)
    if not text:
        raise ValueError(f"{name} must be a non-empty string")
    return text


def choice(name: str, value: Any, allowed: "list[str] | tuple[str, ...]") -> Any:
    """Check that ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))} (got {value!r})")
    return value


def iterable(name: str, value: Any, *, what: str = "items") -> list[Any]:
    """Check that ``value`` is an iterable of ``what`` (not a str, bytes or a scalar; a dict gives its keys);
    return a list."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be an iterable of {what}, e.g. a list (got {type(value).__name__}: {value!r})")
    return list(value)
