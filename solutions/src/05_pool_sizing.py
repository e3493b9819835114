# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 05: size a Redis connection pool for a QPS and a p99
#
# Your service's request threads share one Redis connection pool. It must sustain **`target_qps`**
# commands per second with a **p99 latency** (waiting for a free connection + the round trip) of at
# most **`p99_target`** seconds. You measured the round-trip time to Redis: **`rtt`** seconds on
# average, varying by ±20 %. Write `choose_pool_size(target_qps, p99_target, rtt)` returning the
# number of connections (`max_connections`, go-redis `PoolSize`) to configure.
#
# Constraints:
#
# - requests arrive at random (not evenly spaced), each holds a connection for one round trip, and a
#   request that finds every connection busy waits for the first one freed;
# - both targets must hold, and the pool may be at most **2×** the smallest pool that meets both
#   (over-provisioning costs server memory and file descriptors, and hides sizing mistakes);
# - the checker runs more scenarios than the notebook shows, with very different loads (2 to about 100
#   busy connections) and p99 targets (from 1.25 round trips to a whole second).
#
# A load test is how you would verify a size before shipping it; here
# `hcedu.lab.pool.simulate_pool(pool_size, qps, rtt)` runs one in virtual time (seeded, so the same
# size always gives the same numbers) and returns the throughput, `utilisation`, `p99`, `wait_p99` and
# the share of requests that `waited`. The checker uses the same simulation.

# %%
from hcedu.lab.pool import simulate_pool

run = simulate_pool(4, 2000, 0.002)        # one try: 4 connections for 2,000 QPS at 2 ms
{k: round(v, 4) for k, v in run.items()}

# %%
import math
from hcedu.lab.pool import simulate_pool

def choose_pool_size(target_qps: float, p99_target: float, rtt: float) -> int:
    """Connections needed to sustain target_qps with p99 under p99_target, at round-trip time rtt (s)."""
    ### BEGIN SOLUTION
    size = math.floor(target_qps * rtt) + 1       # Little's law: more than are busy on average
    while simulate_pool(size, target_qps, rtt)["p99"] > p99_target:
        size += 1                                 # load-test upwards until the p99 holds
    return size
    ### END SOLUTION


# %% [markdown]
# ## Check

# %%
from hcedu.course import check

check.pool_sizing(choose_pool_size)

# %% [markdown]
# **Going further.** Compare your answers with `QPS × RTT`: a pool of 2 busy connections needed
# 3× that to keep the p99 within half a millisecond of the round trip, while 40 busy connections need
# only a couple more (many servers share the randomness: the square-root staffing rule,
# `P ≈ a + β·√a`, β set by the p99 target). Erlang's C formula gives the same answers without a
# simulation. And the real client adds what the model leaves out: redis-py's blocking pool is LIFO and
# unfair, so its tail is worse than this FIFO queue's (chapter 05's wait histogram).
