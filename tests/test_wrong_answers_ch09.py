"""Exercise 09 (token bucket on explicit time): wrong buckets a learner writes are rejected, naming the mistake.

The exercise uses no Redis and no threads (time is an argument), so each wrong class runs once: the checker
is deterministic. The solution notebook's bucket and one in exact rational arithmetic are accepted.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from hcedu.course.check import token_bucket
from helpers import assert_accepted, assert_rejected
from solution_code import reference


Reference = reference("09_token_bucket.py", "TokenBucket")  # the solution notebook's own bucket


class ExactFractions(Reference):
    """The same design in exact rational arithmetic (no float rounding at all)."""

    def __init__(self, rate, burst):
        super().__init__(rate, burst)
        self.tokens = Fraction(burst)

    def tokens_at(self, t):
        if self.rate == math.inf:
            return float(self.burst)
        if self.last is None:
            return float(self.tokens)
        elapsed = max(Fraction(0), Fraction(t) - Fraction(self.last))
        return float(min(Fraction(self.burst), self.tokens + elapsed * Fraction(self.rate)))

    def allow_n(self, t, n):
        if self.rate == math.inf:
            return True
        if n > self.burst:
            return False
        tokens = Fraction(self.tokens_at(t))
        if tokens < n:
            return False
        self.tokens, self.last = tokens - n, t
        return True


class StartsEmpty(Reference):
    def __init__(self, rate, burst):
        super().__init__(rate, burst)
        self.tokens = 0.0


class StrictlyGreater(Reference):  # off by one: "more than n" instead of "at least n"
    def allow_n(self, t, n):
        if self.rate == math.inf:
            return True
        tokens = self.tokens_at(t)
        if n > self.burst or not tokens > n:
            return n == 0
        self.tokens, self.last = tokens - n, t
        return True


class NoCap(Reference):  # refills past burst
    def tokens_at(self, t):
        if self.rate == math.inf or self.last is None:
            return Reference.tokens_at(self, t)
        return self.tokens + max(0.0, t - self.last) * self.rate


class BackwardsDrains(Reference):  # elapsed may go negative when time jumps back
    def tokens_at(self, t):
        if self.rate == math.inf or self.last is None:
            return Reference.tokens_at(self, t)
        return min(float(self.burst), self.tokens + (t - self.last) * self.rate)


class InfIsNan(Reference):  # inf * 0 s is NaN: no special case for rate inf
    def tokens_at(self, t):
        if self.last is None:
            return self.tokens
        return min(float(self.burst), self.tokens + max(0.0, t - self.last) * self.rate)

    def allow_n(self, t, n):
        if n > self.burst:
            return False
        tokens = self.tokens_at(t)
        if not tokens >= n:
            return False
        self.tokens, self.last = tokens - n, t
        return True


class FailureTakesTokens(Reference):  # a refused request still takes its tokens (goes into debt)
    def allow_n(self, t, n):
        if self.rate == math.inf:
            return True
        tokens = self.tokens_at(t)
        self.tokens, self.last = tokens - n, t
        return n <= self.burst and tokens >= n


class IntegerTokens(Reference):  # truncates the refill to whole tokens, losing the fractions
    def tokens_at(self, t):
        if self.rate == math.inf or self.last is None:
            return Reference.tokens_at(self, t)
        return min(float(self.burst), self.tokens + int(max(0.0, t - self.last) * self.rate))


class PeekMutates(Reference):  # tokens_at stores its refill: looking changes the bucket
    def tokens_at(self, t):
        tokens = Reference.tokens_at(self, t)
        if self.rate != math.inf and self.last is not None:
            self.tokens, self.last = tokens, t
        return tokens


class InfTokensAtIsInf(Reference):  # "rate inf: infinitely many tokens" -- but the bucket holds at most burst
    def tokens_at(self, t):
        if self.rate == math.inf:
            return math.inf
        return Reference.tokens_at(self, t)


class BurstZeroRefusesAll(Reference):  # "burst 0 can never allow anything" -- not even n = 0
    def allow_n(self, t, n):
        if self.burst == 0 or n > self.burst:
            return False
        return Reference.allow_n(self, t, n)


@pytest.mark.parametrize("cls", [Reference, ExactFractions])
def test_correct_buckets_are_accepted(cls):
    assert_accepted(token_bucket(cls))


WRONG = [
    (StartsEmpty, ("new bucket",)),
    (StrictlyGreater, ("five at once",)),
    (NoCap, ("burst",)),
    (BackwardsDrains, ("JumpBackwards",)),
    (InfIsNan, ("rate inf",)),
    (FailureTakesTokens, ("Burst", "allow_n")),
    (IntegerTokens, ("x/time/rate says", "tokens_at")),
    (PeekMutates, ("JumpBackwards", "must not change")),
    (InfTokensAtIsInf, ("at most burst tokens",)),
    (BurstZeroRefusesAll, ("allow_n(t, 0) must be True",)),
]


@pytest.mark.parametrize("cls,mentions", WRONG, ids=[c.__name__ for c, _ in WRONG])
def test_wrong_buckets_are_rejected(cls, mentions):
    assert_rejected(token_bucket(cls), *mentions)


def test_garbage_from_the_learner_is_not_a_checker_bug():
    class ReturnsText(Reference):
        def tokens_at(self, t):
            return "full"
    assert_rejected(token_bucket(ReturnsText), "should return a number")
