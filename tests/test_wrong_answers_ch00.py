"""Exercise 00 (Little's law): typical wrong solutions are rejected, naming the mistake."""

from __future__ import annotations

import pytest

from hcedu.course import check
from helpers import assert_accepted, assert_rejected
from learner import load, plant, solution_code

REF = solution_code("00_littles_law")
FORMULA = "    return min(concurrency, slots) / service_time\n"

WRONG = {
    # forgets the pool: more workers always means more throughput
    "no_pool_bound": ([(FORMULA, "    return concurrency / service_time\n")], ("more workers than slots",)),
    # the pool is always full, even with fewer workers than slots
    "always_pool_size": ([(FORMULA, "    return slots / service_time\n")], ("fewer workers than slots",)),
    # max instead of min
    "max_not_min": ([(FORMULA, "    return max(concurrency, slots) / service_time\n")], ("fewer workers than slots",)),
    # Little's law turned upside down: latency, not throughput
    "inverted": ([(FORMULA, "    return service_time / min(concurrency, slots)\n")], ("inverse of throughput",)),
    # integer division
    "floor_division": ([(FORMULA, "    return min(concurrency, slots) // service_time\n")], ("integer division",)),
    # off-by-one: one worker or one slot rejected
    "rejects_one": ([("if concurrency < 1:", "if concurrency <= 1:")], ("C = 1", "C = P = 1")),
    # truthiness test: a negative service time slips through
    "truthy_service_time": ([("if not service_time > 0:", "if not service_time:")], ("ValueError",)),
    # no validation at all
    "no_validation": ([("""    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1 (got {concurrency})")
    if slots < 1:
        raise ValueError(f"slots must be >= 1 (got {slots})")
    if not service_time > 0:
        raise ValueError(f"service_time must be > 0 (got {service_time})")
""", "")], ("ValueError",)),
    # truthiness tests on the counts: a negative number of workers is truthy
    "truthy_counts": ([("if concurrency < 1:", "if not concurrency:"), ("if slots < 1:", "if not slots:")],
                      ("negative count",)),
    # equality with zero: -3 slots is not 0
    "equals_zero_slots": ([("if slots < 1:", "if slots == 0:")], ("negative count",)),
    # rounded to whole requests per second: 20/3 becomes 7
    "rounded": ([(FORMULA, "    return round(min(concurrency, slots) / service_time)\n")], ("rounded",)),
    # truncated by int(): 20/3 becomes 6
    "int_truncation": ([(FORMULA, "    return int(min(concurrency, slots) / service_time)\n")], ("int()",)),
    # `W <= 0` lets NaN through ("not positive" includes NaN)
    "nan_service_time": ([("if not service_time > 0:", "if service_time <= 0:")], ("NaN",)),
    # returns a description instead of a number
    "returns_text": ([(FORMULA, "    return f\"{min(concurrency, slots) / service_time:.1f} req/s\"\n")],
                     ("want a number",)),
}

# a different correct solution: the two regimes written out, validation by one loop
ALTERNATIVE = '''
def predict(concurrency, slots, service_time):
    for name, value, ok in (("concurrency", concurrency, concurrency >= 1), ("slots", slots, slots >= 1),
                            ("service_time", service_time, service_time > 0)):
        if not ok:
            raise ValueError(f"{name} out of range: {value}")
    if concurrency >= slots:          # saturated: every slot busy all the time
        return slots / service_time
    return concurrency / service_time  # each worker always finds a free slot
'''


def _checker(src: str, name: str, measure: bool = False):
    predict = load(src, name)["predict"]
    return lambda: check.littles_law(predict, measure=measure)


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_solution_is_rejected(name):
    edits, mentions = WRONG[name]
    assert_rejected(_checker(plant(REF, *edits), name)(), *mentions)


@pytest.mark.parametrize("src", [REF, ALTERNATIVE], ids=["model", "two_regimes"])
def test_correct_solutions_are_accepted(src):
    assert_accepted(_checker(src, "correct")())


def test_the_measurement_accepts_the_model_answer():
    v = _checker(REF, "model", measure=True)()
    assert_accepted(v)
    assert str(v).startswith("✓ 5/5"), str(v)
