# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 16: design review — an order worker that survives a crash
#
# Chapter 16's design review asks: *the order workers `BLPOP` from the queue. What is lost if a worker
# crashes mid-order?* Here you answer it with code, and the checker answers back by killing your worker.
#
# In the flash sale, a purchase that passed the stock script is a JSON order (`{"oid": ..., "user": ...}`) on
# a Redis list. An order worker takes it off the list and calls `create_order(order)`, which inserts the
# order and puts its payment deadline on the delay queue (so an unpaid order is closed and its unit goes
# back on sale). `create_order` is **idempotent**: creating the same order twice changes nothing.
#
# Write the two entry points of a worker:
#
# * `work_one(r, queue, processing, create_order, timeout) -> bool`: handle one order from the list `queue`
#   and return True, or return False when no order arrived within `timeout` seconds. Let Redis do the
#   waiting, with a blocking command: a worker that polls answers late and costs Redis a round trip per try;
# * `recover(r, queue, processing) -> int`: runs each time the worker process (re)starts, before its first
#   `work_one`; returns how many orders it handed back (or 0).
#
# `processing` is a Redis key that belongs to this worker; after a restart the worker gets the same one
# (a StatefulSet pod keeps its name). The requirement: **a worker may be killed at any moment** — after any
# Redis command it sends (the command took effect, the reply never arrived) or between the two steps of
# `create_order` — and restarted, and **no order may be lost**. A failing `create_order` (the order database
# refused the write) must not lose the order either. Use Redis 6.2+ commands if you need them.

# %%
import json
from hcedu.course import check
from hcedu.lab import flashsale_system as fs

print(fs.DIAGRAM)

# %% [markdown]
# First, the worker the chapter's system runs by default — `BLPOP`, then create — under the same checker:

# %%
check.order_worker(fs.BLPOP_WORKER.work_one, fs.BLPOP_WORKER.recover)


# %% [markdown]
# Killed right after `BLPOP`, the order existed only in the dead process's memory. Your turn:

# %%
def work_one(r, queue, processing, create_order, timeout):
    """Handle one order from the list `queue` (True), or return False if none came within `timeout` s."""
    ### BEGIN SOLUTION
    # LEFT of the queue (the bridge RPUSHes) to the RIGHT of this worker's processing list, in one atomic
    # command: at every instant the order is in exactly one of the two lists, never only in memory
    raw = r.blmove(queue, processing, timeout, "LEFT", "RIGHT")
    if raw is None:
        return False
    create_order(raw)              # an error propagates: the order stays in `processing` for recover()
    r.lrem(processing, 1, raw)     # acknowledge only after the order exists
    return True
    ### END SOLUTION


def recover(r, queue, processing):
    """Runs when the worker (re)starts: hand back what a dead life of this worker was holding."""
    ### BEGIN SOLUTION
    moved = 0
    # one LMOVE per order: a crash between two moves leaves each order in exactly one list
    while r.lmove(processing, queue, "RIGHT", "LEFT") is not None:
        moved += 1                 # to the head of the queue: it is handled next
    return moved
    ### END SOLUTION


# %% [markdown]
# Try it: three orders, a worker killed right after its second step, then restarted.

# %%
import fakeredis

r = fakeredis.FakeRedis(decode_responses=True)
r.rpush("orders", *[json.dumps({"oid": f"o{i}", "user": f"u{i}"}) for i in range(1, 4)])
created = []
try:
    life = fs.WorkerLife(r, crash_after=2)     # dies right after its 2nd Redis command
    try:
        recover(life.client, "orders", "processing")
        while work_one(life.client, "orders", "processing", lambda o: created.append(json.loads(o)["oid"]), 0.05):
            pass
    except fs.WorkerCrash as crash:
        print("killed:", crash, "| steps:", " → ".join(life.log))
    print("handed back after the restart:", recover(r, "orders", "processing"))
    while work_one(r, "orders", "processing", lambda o: created.append(json.loads(o)["oid"]), 0.05):
        pass
    print("created:", created)
except NotImplementedError:
    print("… write work_one and recover above first")

# %% [markdown]
# ## Check
#
# The checker kills your worker after each of its steps in turn (one run per step, on a fresh queue of
# three orders), restarts it, and requires every order to be created; makes `create_order` fail once; and
# finally runs your worker inside the whole flash sale (`fs.run(..., faults=("worker_crash",))`) and grades
# it by the system's invariants: stock conserved, every purchase became an order, nothing oversold.

# %%
check.order_worker(work_one, recover)

# %% [markdown]
# **Going further.** (1) An order created twice is harmless here because `create_order` is idempotent —
# what makes it so in the system (look at `FlashSale._create`: `HSET` by order id, `ZADD` of the same
# member, `HSETNX` for the final state)? (2) Redis Streams do the same with a consumer group: `XREADGROUP`
# puts each entry in the consumer's pending list (PEL), `XACK` removes it, and `XAUTOCLAIM` lets *another*
# consumer take over entries idle for too long — which problem of `recover()` does that solve (a worker that
# never comes back)? (3) A payment arrives one millisecond after the closer closed the order: who wins
# (`HSETNX final`), and what must the loser do?
#
# ## Canary analysis (the chapter's other half)
#
# The chapter judged a canary by error counts: **rollback** when the canary is significantly *and*
# materially worse, **hold** with too few requests, **promote** when the data rule out "`max_ratio` times
# worse", else **hold**. Written out with `math` only, as you would in a review:

# %%
import math

from hcedu.lab import canary


def decide(be, bn, ce, cn, *, max_ratio=1.5, alpha=0.05, min_requests=100):
    """'rollback', 'hold' or 'promote' for a canary (the rules of hcedu.lab.canary.judge)."""
    for e, n in ((be, bn), (ce, cn)):
        if n < 0 or not 0 <= e <= n:
            raise ValueError(f"errors must be in 0..n (got {e} of {n})")

    def sf(z):                               # P(Z > z) for a standard normal Z
        return 0.5 * math.erfc(z / math.sqrt(2))

    p_value, ratio = 1.0, math.nan
    if bn and cn:
        rb, rc = be / bn, ce / cn
        ratio = rc / rb if rb else (math.inf if rc else 1.0)
        pooled = (be + ce) / (bn + cn)
        se = math.sqrt(pooled * (1 - pooled) * (1 / bn + 1 / cn))
        if se:
            p_value = sf((rc - rb) / se)     # one-sided pooled two-proportion z-test
    if p_value < alpha and ratio > max_ratio:
        return "rollback"                    # significantly AND materially worse
    if bn < min_requests or cn < min_requests:
        return "hold"
    pb, pc = (be + 1) / (bn + 2), (ce + 1) / (cn + 2)   # non-inferiority: rule out max_ratio x worse
    se_ni = math.sqrt(pc * (1 - pc) / (cn + 2) + max_ratio ** 2 * pb * (1 - pb) / (bn + 2))
    return "promote" if sf((max_ratio * pb - pc) / se_ni) < alpha else "hold"


cases = [(100, 10_000, 300, 10_000), (10, 1_000, 0, 50), (100, 10_000, 95, 10_000), (2000, 200_000, 2400, 200_000)]
for args in cases:
    print(args, "->", decide(*args), "| judge:", canary.judge(*args).decision)
assert all(decide(*a) == canary.judge(*a).decision for a in cases)

# %% [markdown]
# The four answers: a 3× regression is rolled back; 50 canary requests prove nothing yet (hold); a canary as
# good as the baseline is promoted; 1.0 % vs 1.2 % on 200,000 requests each is significant but within the
# 1.5× margin, so it is promoted, not rolled back. Judging after every interval of a rollout gives a bad-luck
# rollback several chances: budget `alpha` across looks (sequential testing), which is why Argo Rollouts has
# `failureLimit` and Kayenta score thresholds.
