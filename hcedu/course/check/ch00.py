"""Checker for exercise 00: Little's-law throughput prediction.

``predict(C, P, W)`` must return ``min(C, P) / W`` exactly, including bounds that are not whole numbers
(20/3 requests/s, not 6 or 7: a ``round()``, ``int()`` or ``//`` is named as such), and raise ``ValueError``
for nonsense: zero *or negative* workers or slots, and a service time that is not positive (zero, negative
or NaN, for which ``W <= 0`` is False).
"""

from __future__ import annotations

import math
from typing import Callable

from . import Verdict, run_checks

__all__ = ["littles_law"]


def littles_law(predict: Callable[[int, int, float], float], measure: bool = True) -> Verdict:
    """Check ``predict(concurrency, slots, service_time) -> requests/s`` against Little's law and,
    with ``measure=True``, against a short real measurement (C = 2 and C = 8, 0.3 s each)."""

    def close(got: float, want: float, args: tuple) -> None:
        assert isinstance(got, (int, float)) and not isinstance(got, bool), \
            f"predict{args} returned {got!r}, want a number (requests per second)"
        if not math.isclose(got, want, rel_tol=1e-9):
            why = ""
            if float(got).is_integer() and got == round(want) != math.floor(want):
                why = (" (rounded to a whole number: the bound is rarely one, so return min(C, P) / W "
                       "unrounded)")
            elif float(got).is_integer() and abs(got - want) <= 1 + 1e-9:
                why = " (integer division // or int() drops the fraction: use / and return the float)"
            elif want and math.isclose(got * want, 1.0, rel_tol=1e-9):
                why = " (that is seconds per request, the inverse of throughput)"
            raise AssertionError(f"predict{args} = {got!r}, expected {want:g}{why}")

    def fewer_workers_than_slots() -> None:
        close(predict(2, 10, 0.1), 20.0, (2, 10, 0.1))
        close(predict(1, 1, 0.5), 2.0, (1, 1, 0.5))  # the smallest valid system: C = P = 1
        # bounds that are not whole numbers: round() gives 7 here, int() and // give 6
        close(predict(2, 3, 0.3), 2 / 0.3, (2, 3, 0.3))
        close(predict(1, 1, 0.3), 1 / 0.3, (1, 1, 0.3))

    def more_workers_than_slots() -> None:
        close(predict(20, 4, 0.05), 80.0, (20, 4, 0.05))
        close(predict(10, 4, 0.3), 4 / 0.3, (10, 4, 0.3))

    def never_decreases() -> None:
        values = [predict(c, 4, 0.02) for c in range(1, 17)]
        assert all(a <= b for a, b in zip(values, values[1:])), f"throughput fell as workers were added: {values}"

    def rejects_bad_input() -> None:
        for args in [(0, 4, 0.1), (4, 0, 0.1), (4, 4, 0.0), (4, 4, -1.0),
                     (-2, 4, 0.1), (4, -3, 0.1), (4, 4, math.nan)]:
            try:
                got = predict(*args)
            except ValueError:
                continue
            why = ""
            if args[0] < 0 or args[1] < 0:
                why = (": a negative count is fewer than one worker or slot too, so test C < 1 and P < 1 "
                       "(not == 0 or `not C`)")
            elif math.isnan(args[2]):
                why = (": NaN is not a positive service time, yet `W <= 0` is False for NaN, so test "
                       "`not W > 0`")
            raise AssertionError(f"predict{args} returned {got!r} instead of raising ValueError{why}")

    def matches_measurement() -> None:
        from ...lab import littles
        df = littles.experiment(levels=(2, 8), slots=4, service_time=0.02, duration=0.3)
        for row in df.itertuples():
            want = predict(row.concurrency, row.slots, 0.02)
            # a measurement never beats the bound; on a busy machine late wake-ups can pull it well below
            assert 0.5 * want <= row.throughput <= 1.15 * want, (
                f"measured {row.throughput:.0f}/s at C={row.concurrency} but predicted {want:.0f}/s")

    checks = [
        ("fewer workers than slots (and C = P = 1): each worker adds 1/W", fewer_workers_than_slots,
         "with C < P every worker always has a slot; C = 1 and P = 1 are valid"),
        ("more workers than slots: capped at P/W", more_workers_than_slots, "only P requests can be served at once"),
        ("throughput never falls as workers are added", never_decreases, "use min(C, P)"),
        ("bad input raises ValueError", rejects_bad_input, "check C >= 1, P >= 1 and W > 0 first"),
    ]
    if measure:
        checks.append(("agrees with a real measurement (0.5x to 1.15x)", matches_measurement,
                       "the formula is min(C, P) / W"))
    return run_checks("Little's law throughput", checks)
