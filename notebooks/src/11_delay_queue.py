"""Generator for notebooks/11_delay_queue.ipynb (run: python notebooks/src/11_delay_queue.py)."""
from pathlib import Path

from hcedu.course.nbbuild import build, code, md

ROOT = Path(__file__).resolve().parents[2]

cells = [
    md("""
    # 11 · Delay queues for order timeouts

    > **订单超时关闭场景下的延迟队列与定时任务协调** — 在电商系统中,订单超时未支付需自动关闭。如何设计?
    >
    > *An unpaid order must be closed automatically 30 minutes after it was created. Design it: a delay
    > queue, a scheduled scan, or both?*

    A strong answer covers: why a periodic scan is late and expensive; a Redis ZSET keyed by due time;
    **how a due item is handed to exactly one worker** (an atomic claim, not "read, then remove"); what
    happens when that worker dies (a lease and recovery: at-least-once); why the close must be idempotent;
    why keyspace `expired` events are not timers; and what the scan is still good for (a safety net).
    """),
    code("""
    from hcedu.course import setup, finish, drill
    from hcedu.clock import VirtualClock
    from hcedu.patterns.delayqueue import DelayQueue, CLAIM_LUA

    ks = setup("11")
    """),
    md("""
    ## Build it: a ZSET scored by due time

    When an order is created, `ZADD due <created + 30 min> <order_id>`; when it is paid, remove it
    (`cancel`). The earliest due time is always at the head of the ZSET, so "what is due now?" is
    `ZRANGEBYSCORE due -inf <now> LIMIT 0 <batch>`.

    The hard part is **taking** a due item. A worker must remove it from `due` and record that it holds it,
    in one step, or two workers get the same order. `claim` is one Lua script (Redis runs a script
    atomically, like asynq's `forwardCmd`); it also moves the item to a `leased` ZSET scored by a lease
    deadline, so a worker that dies does not lose the order:
    """),
    code("""
    print(CLAIM_LUA.strip())
    """),
    md("""
    Time comes from an injected clock, so a 30-minute timeout runs instantly on a `VirtualClock`:
    """),
    code("""
    clock = VirtualClock()
    q = DelayQueue("demo", keyspace=ks, clock=clock, lease=60)
    for oid, created in [("A", 0), ("B", 60), ("C", 120)]:
        q.put(oid, created + 1800)
    q.cancel("B")                      # B was paid at minute 5
    clock.advance(1800 + 90)           # 31.5 minutes later
    claimed = q.claim(limit=10)
    print("claimed:", claimed, "| still waiting:", q.waiting(), "| leased:", q.leased())
    for oid in claimed:
        q.ack(oid)                     # after UPDATE orders SET status='CLOSED' WHERE id=? AND status='UNPAID'
    print("after ack: leased =", q.leased(), "| next due at", q.next_due())
    """),
    md("""
    `A` was due at 1800 s and `C` at 1920 s; at 1890 s only `A` is due, `B` is gone (paid), `C` waits.

    ## Watch it: delay queue vs periodic scan vs the hybrid

    The simulation below (`hcedu.lab.ordersim`) creates 1,000 orders over 30 minutes, 70 % of them paid
    within the timeout, and closes the rest with each design on the **same** arrivals:

    * a scan of the orders table every 1, 5 or 15 minutes (`SELECT … WHERE status='UNPAID' AND created_at <= now-30min`);
    * the delay queue, with a worker claiming every 5 s;
    * the same with a **crashed worker**: it stalls for 15 minutes, then claims the backlog and is killed
      mid-batch — without recovery, then with lease recovery, then with the source's hybrid (queue + a
      5-minute scan as a safety net).
    """),
    code("""
    from hcedu.lab import ordersim

    frame = ordersim.run()
    summary = ordersim.summarize(frame)
    summary[["closed", "never_closed", "p50_s", "max_s", "rows_scanned", "redis_calls"]].round(1)
    """),
    code("""
    fig = ordersim.chart_latency(frame)
    """),
    md("""
    **Takeaway:** a scan closes orders up to one interval late; the delay queue closes them within one
    poll (≤ 5 s) — but a crashed worker loses its claimed batch for good unless leases are recovered or a
    scan backs it up.
    """),
    code("""
    fig = ordersim.chart_cost(frame)
    """),
    md("""
    **Takeaway:** the scan's cost is rows examined on the database, paid on every run whether anything is
    due or not, and it grows as the interval shrinks; the delay queue's cost is a few cheap Redis calls per
    poll, independent of table size.

    The source's comparison table, re-made from these numbers:
    """),
    code("""
    import pandas as pd

    rows = {
        "pure scheduled scan (5 min)": "scan every 5 min",
        "delay queue": "delay queue",
        "delay queue, crashed worker": "delay queue, worker crash",
        "delay queue + lease recovery": "delay queue + lease recovery, crash",
        "hybrid (queue + 5-min scan)": "hybrid (queue + 5-min scan), crash",
    }
    pd.DataFrame({
        "worst lateness (s)": ["never" if summary.loc[v, "never_closed"] else f"{summary.loc[v, 'max_s']:.0f}"
                               for v in rows.values()],
        "DB rows scanned": [summary.loc[v, "rows_scanned"] for v in rows.values()],
        "Redis calls": [summary.loc[v, "redis_calls"] for v in rows.values()],
        "orders never closed": [summary.loc[v, "never_closed"] for v in rows.values()],
    }, index=list(rows))
    """),
    md("""
    Read against the source's table (实时性 / 系统开销 / 可靠性): the delay queue's real-time claim holds;
    its "高可靠性" holds **only with leases and recovery** — a queue whose worker can die after taking an
    item is the least reliable row. Recovery fixes the loss but not the stall: with the only worker stuck
    for 15 minutes, orders wait 15 minutes (run more than one worker). The hybrid's "极高" reliability comes
    from the scan, which runs elsewhere and also sets its worst-case lateness.

    ## Break it 1: the naive claim closes an order twice

    The tempting claim is two commands: `ZRANGEBYSCORE` to read what is due, then `ZREM` it (the source:
    "扫描ZSet中已到期的任务,执行关闭逻辑并移除"). Two workers that both read before either removes both
    close the same order. Here four real threads run each claim; a barrier lines them up between the two
    steps so the race happens every round instead of now and then:
    """),
    code("""
    naive = ordersim.race(workers=4, n=200, claim="naive")
    atomic = ordersim.race(workers=4, n=200, claim="atomic")
    pd.DataFrame({"naive two-step": naive["closes"].value_counts().sort_index(),
                  "atomic Lua claim": atomic["closes"].value_counts().sort_index()}
                 ).rename_axis("times each order was closed").fillna(0).astype(int)
    """),
    md("""
    **Takeaway:** with the naive claim every order was closed by all four workers; with the Lua claim each
    exactly once. (Without the barrier the naive race is intermittent — which is worse: it passes tests.)
    Treating `ZREM`'s return value as ownership (`ZREM` returned 1 → it is mine) is the other correct fix.

    Even with an atomic claim, delivery is **at-least-once**: a worker can close the order, then die before
    `ack`, and recovery hands it out again. So the close itself must be idempotent:
    `UPDATE orders SET status='CLOSED' WHERE id=? AND status='UNPAID'` — which is also what keeps a late
    payment and the close from both winning.

    The simulation shows it: a hybrid whose scan runs every minute and whose queue recovers leases closes
    some orders from both sides. With a plain close (`UPDATE … SET status='CLOSED' WHERE id=?`, then release
    the stock) the side effect runs twice for those orders; with the conditional update, once:
    """),
    code("""
    both = ordersim.Design("hybrid: 1-min scan + lease recovery, crash", queue=True, scan=60, recover=True, crash=True)
    orders = ordersim.make_orders()
    pd.Series({
        "plain close": int((ordersim.simulate(orders, both, idempotent_close=False)["effects"] > 1).sum()),
        "conditional UPDATE … WHERE status='UNPAID'": int((ordersim.simulate(orders, both)["effects"] > 1).sum()),
    }, name="orders whose close ran twice")
    """),
    md("""
    **Takeaway:** at-least-once delivery plus a non-idempotent effect is a double close; the conditional
    update makes the second attempt a no-op.

    ## Break it 2: the worker dies after claiming

    The lease is what turns a crash into a delay instead of a loss:
    """),
    code("""
    clock = VirtualClock()
    q = DelayQueue("crash", keyspace=ks, clock=clock, lease=60)
    q.put("order-7", 0)
    print("worker 1 claims:", q.claim())      # ... and is killed before closing or acking
    clock.advance(30)
    print("t=30 s, recover():", q.recover())  # lease still valid: nobody else touches it
    clock.advance(30)
    print("t=60 s, recover():", q.recover())  # lease expired: due again
    print("worker 2 claims:", q.claim(), "| attempts:", q.attempts("order-7"))
    """),
    md("""
    ## Break it 3: keyspace `expired` events are not timers

    A popular shortcut: `SET order:123 x EX 1800` and subscribe to `__keyevent@0__:expired`. It fails
    three ways: the event fires when Redis *deletes* the key (lazily on access, or by the active-expiry
    sampler — possibly well after the TTL); pub/sub is fire-and-forget, so an event sent while your
    subscriber is disconnected or restarting is lost for good; and every subscriber gets every event (no
    competing consumers). The embedded fakeredis never sends `expired` events at all:
    """),
    code("""
    # NBVAL_IGNORE_OUTPUT
    # (on a real server the event may arrive; on fakeredis it never does)
    import time
    from hcedu import backend

    r = backend.connect()
    info = backend.describe(r)
    if info.kind == "real":
        r.config_set("notify-keyspace-events", "Ex")
    p = r.pubsub()
    p.subscribe("__keyevent@0__:expired")
    p.get_message(timeout=0.2)                          # the subscribe confirmation
    r.set(ks.key("order", "123"), "unpaid", px=50)
    time.sleep(0.3)
    event = p.get_message(timeout=0.5)
    p.close()
    print(info.kind, "->", event)
    if info.kind == "embedded":
        assert event is None, "fakeredis sends no expired events"
    """),
    md("""
    ## Measure it: claim throughput

    Batching is what makes the queue cheap: one script call claims up to `limit` orders. On the current
    backend (the embedded fakeredis unless `REDIS_URL` is set; for a real server run
    `python benchmarks/delayqueue.py`, which also reports the naive claim's duplicates):
    """),
    code("""
    # NBVAL_IGNORE_OUTPUT
    # measured: numbers vary by machine and backend
    import time

    rows = []
    for batch in (1, 10, 100):
        q = DelayQueue("bench", keyspace=ks, clock=VirtualClock())
        q.put_many({f"o{i}": 0 for i in range(2000)})
        t0 = time.perf_counter()
        n = 0
        while items := q.claim(now=1, limit=batch):
            n += len(items)
            q.ack_many(items)
        rows.append({"batch": batch, "claimed": n, "items/s": round(n / (time.perf_counter() - t0))})
        q.clear()
    bench = pd.DataFrame(rows).set_index("batch")
    assert list(bench["claimed"]) == [2000, 2000, 2000]
    bench
    """),
    md("""
    Throughput grows with the batch size because the cost is dominated by round trips, not by the work
    inside the script. Keep batches modest (~100): a script blocks every other Redis client while it runs.

    ## Source check

    * The source's code is Java (`redisTemplate.opsForZSet().add(...)`) in a Go text; in Go it is
      `rdb.ZAdd(ctx, "order:delay:queue", redis.Z{Score: float64(due.UnixMilli()), Member: "ORDER_1001"})`.
    * "周期性扫描ZSet中已到期的任务,执行关闭逻辑并移除" — read, execute, then remove is the non-atomic
      two-step claim: with more than one worker instance it double-closes (Break it 1). Claim atomically.
    * The table rates the delay queue's reliability "高": only with a lease and recovery (Break it 2); a
      bare `ZREM`-then-process loses the order when the process dies between the two.
    * RabbitMQ TTL + dead-letter exchange: per-message TTLs expire only at the head of the queue, so a
      30-minute message blocks a 5-minute one behind it; use one queue per delay or the delayed-message
      plugin.
    * The hybrid is right, and the scan should be **idempotent and slow** (it is a safety net, not the
      mechanism), with the close being a conditional `UPDATE`.

    ## Exercise

    `exercises/11_delay_queue_claim.ipynb`: write the atomic claim. The checker runs 4 concurrent workers
    over 2,000 due orders and verifies each is claimed exactly once, leased, and that nothing not yet due
    is touched.

    ## Interview drill
    """),
    code("""
    # NBVAL_IGNORE_OUTPUT
    # (an interactive widget)
    drill("11")
    """),
    md("""
    ## What a strong answer says

    "Put each order in a Redis ZSET scored by its deadline and remove it on payment. Workers claim due
    orders with one Lua script — `ZRANGEBYSCORE … LIMIT`, `ZREM`, and `ZADD` into a lease set — so each
    order goes to exactly one worker; a recoverer re-queues leases that expire, so a crashed worker delays
    an order instead of losing it. That is at-least-once, so the close is an idempotent conditional
    `UPDATE … WHERE status='UNPAID'`, which also settles the race with a late payment. Not keyspace
    notifications: they fire on deletion, not on time, and pub/sub drops them when no one listens. Keep a
    slow scan as a safety net for whatever the queue misses; measured, the queue closes orders within a
    poll interval at a fraction of the scan's database load."
    """),
    code("""
    finish(ks)
    """),
]

if __name__ == "__main__":
    print(build(ROOT / "notebooks" / "11_delay_queue.ipynb", cells))
