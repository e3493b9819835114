"""Generator for solutions/05_pool_sizing.ipynb (the exercise is generated from it by `hcedu build-exercises`)."""
from pathlib import Path

from hcedu.course.nbbuild import build, code, md

ROOT = Path(__file__).resolve().parents[2]

cells = [
    md("""
    # Exercise 05: size a Redis connection pool

    Your service must sustain **`target_qps`** Redis commands per second with a **p99** under
    `p99_target`, and you measured a round-trip time of **`rtt`** seconds to Redis. Write
    `choose_pool_size(target_qps, p99_target, rtt)` returning the number of connections
    (`max_connections`, go-redis `PoolSize`) to configure.

    Remember from `notebooks/05_redis_connection_pool.ipynb`:

    - each command **holds** a connection for its round trip plus a little client work, so by Little's
      law the pool needs about `QPS × hold time` connections busy on average;
    - round trips jitter, and a pool sized exactly at the mean runs at 100 % utilisation: leave headroom;
    - but do not over-provision: the checker fails a pool more than **2×** the Little's-law minimum.

    The checker builds an embedded Redis with your RTT (±20 % jitter), runs one caller per connection for
    0.3 s, and checks throughput, p99 and the 2× bound, for three scenarios.
    """),
    code("""
    import math

    def choose_pool_size(target_qps: float, p99_target: float, rtt: float) -> int:
        \"\"\"Connections needed to sustain target_qps with p99 under p99_target, at round-trip time rtt (s).\"\"\"
        ### BEGIN SOLUTION
        busy = target_qps * rtt            # Little's law: L = λ·W connections busy on average
        return max(1, math.ceil(busy * 1.3))  # +30 % for jitter, client work and bursts
        ### END SOLUTION
    """),
    md("""
    ## Check
    """),
    code("""
    from hcedu.course import check

    check.pool_sizing(choose_pool_size)
    """),
    md("""
    **Going further.** Why does `p99_target` not change the answer here? Because each caller owns a
    connection, nobody queues for one. Now imagine 64 request threads sharing your pool: the p99 then
    includes the wait for a connection, and redis-py's blocking pool is not fair (see the wait-time
    histogram in the chapter). What would you change: the pool, the number of threads, or both?
    """),
]

if __name__ == "__main__":
    print(build(ROOT / "solutions" / "05_pool_sizing.ipynb", cells))
