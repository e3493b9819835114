"""Checker for exercise 16 (design review): the flash sale's crash-safe order worker.

The learner writes ``work_one(r, queue, processing, create_order, timeout) -> bool`` (take one order off the
Redis list ``queue``, create it, and return True; False when the queue stayed empty for ``timeout`` s) and
``recover(r, queue, processing)`` (run each time the worker process (re)starts). The checker kills the
worker deterministically -- after each of its Redis commands and order-creation steps in turn, one run per
crash point (:class:`hcedu.lab.flashsale_system.WorkerLife`: the command takes effect, its reply is lost,
every later command of that life fails) -- restarts it, and requires every order to be created. Then it runs
the learner's worker inside the whole flash-sale system with the ``worker_crash`` fault and grades it by the
system's invariants (stock conserved, every purchase became an order, nothing oversold).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from typing import Any, Callable

import fakeredis
from ...backend import new_fake_server  # db 0 made up front: fakeredis 2.41's first-use race

from ...backend import Keyspace
from ...lab import flashsale_system as fs
from . import Verdict, run_checks

__all__ = ["order_worker", "OrderStoreError"]

TIMEOUT = 0.01   # seconds work_one may wait on an empty queue (each harness run ends with one such wait)
HANG = 3.0       # a work_one still blocked after this long ignored its timeout


class OrderStoreError(Exception):
    """The order database refused a write (injected once by the checker: a transient failure)."""


class _Harness:
    """A queue of orders, a worker killed at a chosen step and restarted, and a record of what was created."""

    def __init__(self, work_one: Callable[..., Any], recover: Callable[..., Any], client: Any, orders: int = 3):
        self.work_one, self.recover, self.client = work_one, recover, client
        self.ks = Keyspace(f"ex16-{uuid.uuid4().hex[:8]}", client)
        self.queue, self.processing = self.ks.key("orders"), self.ks.key("processing")
        self.oids = [f"o{i}" for i in range(1, orders + 1)]
        self.inserted: Counter = Counter()
        self.completed: set[str] = set()
        self.lives: list[fs.WorkerLife] = []
        self.fail_once: set[str] = set()
        self.recover_steps: list[int] = []   # per life: steps spent inside recover()

    def create(self, life: fs.WorkerLife, raw: Any) -> None:
        assert isinstance(raw, (str, bytes)), (
            f"create_order() got a {type(raw).__name__} ({raw!r}): pass the order string itself "
            f"(BLPOP returns a (key, value) pair)")
        try:
            oid = json.loads(raw)["oid"]
        except (ValueError, KeyError, TypeError):
            raise AssertionError(f"create_order() got {raw!r}, not an order from the queue") from None
        if oid in self.fail_once:
            self.fail_once.discard(oid)
            raise OrderStoreError(f"the order database refused order {oid} (a transient failure)")
        self.inserted[oid] += 1
        life.event("create: INSERT order")
        self.completed.add(oid)
        life.event("create: payment deadline")

    def run(self, *crashes: int, max_lives: int = 5) -> "_Harness":
        """Queue the orders, then run worker lives until one finds the queue empty; life ``n`` dies after
        ``crashes[n]`` steps (later lives live)."""
        self.client.rpush(self.queue, *[json.dumps({"oid": o, "user": f"user-{o}"}) for o in self.oids])
        try:
            for n in range(max_lives):
                life = fs.WorkerLife(self.client, crashes[n] if n < len(crashes) else None)
                self.lives.append(life)
                try:
                    self.recover(life.client, self.queue, self.processing)
                    self.recover_steps.append(len(life.log))
                    for _ in range(3 * len(self.oids) + 2):
                        if not self.client.llen(self.queue) and not self.client.llen(self.processing):
                            break  # nothing left to hand out (an empty queue's answer is checked separately)
                        got = self.work_one(life.client, self.queue, self.processing,
                                            lambda raw, life=life: self.create(life, raw), TIMEOUT)
                        if not got:
                            queued = self.client.llen(self.queue)
                            assert not queued, (f"work_one() returned {got!r} with {queued} order(s) still queued: "
                                                f"return True when it handled an order")
                            break
                    else:
                        raise AssertionError(f"work_one() kept returning True after the {len(self.oids)} orders "
                                             f"were handled: return False when the queue stayed empty")
                    return self
                except (fs.WorkerCrash, OrderStoreError):
                    continue  # the supervisor starts a new life (a restarted pod), which calls recover()
            raise AssertionError(f"the worker was restarted {max_lives} times and never finished the queue")
        finally:
            self.left = (self.client.llen(self.queue), self.client.llen(self.processing))
            self.ks.cleanup()

    def steps(self, life: int = 0) -> str:
        return " → ".join(self.lives[life].log) if len(self.lives) > life else "(none)"

    def assert_no_order_lost(self, what: str) -> None:
        lost = [o for o in self.oids if o not in self.completed]
        assert not lost, f"order {lost[0]} was lost {what}"
        queued, processing = self.left
        assert not queued, f"{queued} order(s) were still queued at the end {what}"
        assert not processing, (f"{processing} order(s) stayed in the processing list after they were created "
                                f"{what}: remove an order once it is created, or every restart delivers it again")


def _returns_within(fn: Callable[[], Any], timeout: float, unblock: Callable[[], None]) -> Any:
    box: dict = {}

    def body() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the checker's thread
            box["error"] = exc

    t = threading.Thread(target=body, name="hcedu-check16", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        unblock()
        t.join(timeout)
        raise AssertionError(f"work_one() on an empty queue had not returned after {timeout:g} s: pass its timeout "
                             f"to the blocking command (a timeout of 0 waits forever)")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def order_worker(work_one: Callable[..., Any], recover: Callable[..., Any], client: Any = None) -> Verdict:
    """Check a crash-safe order worker (see the module docstring). ``client``: the Redis to run on (default: a
    fresh embedded fakeredis)."""
    if client is None:
        client = fakeredis.FakeRedis(server=new_fake_server(), decode_responses=True)

    def harness(orders: int = 3) -> _Harness:
        return _Harness(work_one, recover, client, orders)

    def empty_queue() -> None:
        h = harness(0)
        ks = h.ks
        blocked: list[bool] = []   # on_block(True) before each blocking command (BLMOVE, BRPOPLPUSH, ...)
        life = fs.WorkerLife(client, on_block=lambda starting: blocked.append(starting) if starting else None)
        try:
            got = _returns_within(lambda: work_one(life.client, h.queue, h.processing,
                                                   lambda raw: h.create(life, raw), TIMEOUT),
                                  HANG, lambda: client.rpush(h.queue, json.dumps({"oid": "wake", "user": "x"})))
            assert not got, f"work_one() on an empty queue returned {got!r}: return False when no order came"
            # a worker that answers an empty queue without a blocking command polls: it returns at once and
            # misses the order that arrives a moment later, or loops and spends a round trip per try
            assert blocked, (f"work_one() on an empty queue sent {' → '.join(life.log) or 'no command'} and no "
                             f"blocking command: a worker that polls costs Redis a round trip per try and answers "
                             f"late; let Redis wait for the order (BLMOVE with `timeout`)")
            recovered = _returns_within(lambda: recover(life.client, h.queue, h.processing), HANG, lambda: None)
            assert recovered is None or isinstance(recovered, int), (
                f"recover() should return how many orders it handed back (an int), got {recovered!r}")
        finally:
            ks.cleanup()

    def handles_orders() -> None:
        h = harness().run()
        h.assert_no_order_lost("with no crash")
        twice = [o for o, n in h.inserted.items() if n > 1]
        assert not twice, f"order {twice[0]} was created {h.inserted[twice[0]]} times with no crash at all"

    def survives_a_crash_at_every_step() -> None:
        steps = len(harness().run().lives[0].log)
        for k in range(1, steps + 1):
            h = harness().run(k)
            h.assert_no_order_lost(f"when the worker was killed after step {k} ({h.steps()}) and restarted")

    def survives_a_crash_during_recovery() -> None:
        steps = len(harness().run().lives[0].log)
        for k in range(1, steps + 1):
            first = harness().run(k)
            for k2 in range(1, (first.recover_steps[1] if len(first.recover_steps) > 1 else 0) + 1):
                h = harness().run(k, k2)
                h.assert_no_order_lost(f"when the worker was killed after step {k} ({h.steps()}), restarted, and "
                                       f"killed again after step {k2} of its recover() ({h.steps(1)})")

    def retries_a_failed_create() -> None:
        h = harness()
        h.fail_once.add("o2")
        h.run()
        h.assert_no_order_lost("after create_order() raised OrderStoreError once (the worker was restarted)")

    def whole_system() -> None:
        sale = fs.run(users=150, stock=30, requests=300, seed=16, client=client, faults=("worker_crash",),
                      order_worker=fs.OrderWorker(work_one, recover, "yours"), timeout=60.0)
        inv = fs.invariants(sale)
        broken = inv[~inv["holds"]]
        assert sale.crashes > 0, "no worker crashed in the flash sale (the fault did not fire)"
        assert broken.empty, (f"with {sale.crashes} worker crashes during the sale: "
                              f"{broken.index[0]} broke ({broken['detail'].iloc[0]})")

    return run_checks("crash-safe order worker", [
        ("work_one() returns False on an empty queue within its timeout", empty_queue,
         "wait for an order with a blocking command bounded by `timeout`, and return False when none came"),
        ("three orders are each created once, and nothing is left behind", handles_orders,
         "take an order, create it with create_order(order), return True; and remove what you keep "
         "about an order once it is created"),
        ("a worker killed after any one of its steps, then restarted, loses no order",
         survives_a_crash_at_every_step,
         "between taking an order and finishing it, the order must live in Redis (not only in the "
         "worker's memory) and be taken atomically; recover() hands a dead life's orders back"),
        ("a worker killed again while recover() hands orders back loses no order", survives_a_crash_during_recovery,
         "move each order back in one atomic command, so that at every instant it is in exactly one list"),
        ("an order whose creation failed is retried, not dropped", retries_a_failed_create,
         "let create_order()'s error propagate (the supervisor restarts the worker) instead of swallowing it "
         "and acknowledging the order"),
        ("inside the flash sale with workers crashing: every invariant holds", whole_system,
         "an order taken but never created holds a unit forever: stock is not conserved"),
    ])
