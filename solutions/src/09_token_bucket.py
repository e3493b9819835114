# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 09: a token bucket that Go would accept
#
# `rate.NewLimiter(100, 200)` in the source is a **token bucket**: it holds at most `burst` tokens, starts
# **full**, and refills at `rate` tokens per second; a request for `n` events takes `n` tokens or is refused.
# Write it with time passed in explicitly (`t`, seconds), the way `x/time/rate`'s `AllowN(t, n)` and
# `TokensAt(t)` take a `time.Time`, so it can be tested without sleeping:
#
# * `TokenBucket(rate, burst)` — `rate` ≥ 0 tokens per second (`math.inf` = no limit), `burst` ≥ 0;
# * `tokens_at(t)` — the tokens the bucket would hold at `t`; it **must not change** the bucket;
# * `allow_n(t, n)` — True and take `n` tokens if there are enough at `t`; otherwise False and change nothing.
#
# No timer refills the bucket: store `tokens` and the time `last` you computed them at, and refill lazily,
# `min(burst, tokens + (t - last) * rate)`, whenever you look. Three details Go's tests pin down:
# `n > burst` can never succeed; time that goes **backwards** refills nothing (a success at the earlier `t`
# still becomes the new `last`); and `rate = inf` allows everything (careful: `inf * 0` is NaN).

# %%
import math


class TokenBucket:
    """A token bucket: ``burst`` tokens, initially full, refilled at ``rate`` per second."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        ### BEGIN SOLUTION
        self.tokens = float(burst)
        self.last = None  # time of the last successful take
        ### END SOLUTION

    def tokens_at(self, t: float) -> float:
        ### BEGIN SOLUTION
        if self.rate == math.inf:
            return float(self.burst)
        if self.last is None:
            return self.tokens
        elapsed = max(0.0, t - self.last)  # going back in time refills nothing
        return min(float(self.burst), self.tokens + elapsed * self.rate)
        ### END SOLUTION

    def allow_n(self, t: float, n: int) -> bool:
        ### BEGIN SOLUTION
        if self.rate == math.inf:
            return True
        if n > self.burst:
            return False
        tokens = self.tokens_at(t)
        if tokens < n:
            return False
        self.tokens = tokens - n
        self.last = t
        return True
        ### END SOLUTION


# %% [markdown]
# Try it: a bucket of 3 refilled at 8/s, asked for one token every 50 ms for half a second.

# %%
try:
    b = TokenBucket(8, 3)
    print([b.allow_n(k * 0.05, 1) for k in range(10)])
except NotImplementedError:
    print("… write TokenBucket above first")

# %% [markdown]
# The first three pass on the initial burst; after that one request in ~2.5 gets a token (8/s against 20/s).
#
# ## Check
#
# The checker replays x/time/rate's own `TestLimiterBurst1`, `TestLimiterBurst3` and
# `TestLimiterJumpBackwards` tables (rescaled to 8/s and 125 ms steps so every number is exact in floating
# point), the edge cases (`n > burst`, rate 0, rate inf), and 200 seeded random sequences against
# `hcedu.go.rate.Limiter`, the line-by-line port of Go's limiter.

# %%
from hcedu.course import check

check.token_bucket(TokenBucket)

# %% [markdown]
# **Going further.** (1) Make it a **leaky bucket as a meter** (GCRA): store one number, the theoretical
# arrival time `tat`; allow at `t` if `tat - t <= burst_tolerance`, then `tat = max(tat, t) + 1/rate`. Check that
# it admits the same requests. (2) Why does Stripe's Redis token bucket store the tokens *and* the timestamp,
# and why should its Lua script read `redis.call('TIME')` instead of taking `now` from the client?
