"""The flash-sale (秒杀) system end to end, composed from the course's parts (Go: an HTTP handler chain of
``x/time/rate`` middleware, go-redis Lua calls, a buffered channel feeding order goroutines).

One request walks these stages, and stops at the first that turns it away::

    gateway      in-process token bucket, hcedu.go.rate.Limiter (one per app server)   -> gateway_429
    user_limit   per-user Redis token bucket, hcedu.patterns.ratelimit                  -> user_429 / limiter_down
    product      hot-key read through a breakdown guard, hcedu.patterns.cacheguard      -> error
    stock        one Lua script: check, DECRBY, record buyer, hcedu.patterns.stock      -> sold_out / duplicate
    queue        order onto chapter 07's Bridge (bounded channel -> Redis list)         -> shed (stock returned)
                                                                                        -> ordered
    then, off the request path:
    order workers   take an order off the list (default: BLPOP, see ``order_worker``), create it, put it on
                    chapter 11's DelayQueue (payment deadline); a paying user pays at once (the delay entry
                    is cancelled)
    closer          claims due orders from the DelayQueue, closes each unpaid one and returns its stock

Paid and closed are terminal and decided once: ``HSETNX final <order> PAID|CLOSED`` (the Redis form of
``UPDATE orders SET status=? WHERE id=? AND status='UNPAID'``), so a payment racing the close cannot both win.

Invariants :func:`invariants` checks after every :func:`run` (all hold with no faults, on fakeredis and a real
``redis-server``):

* **never oversold** -- paid units <= stock and the stock counter never goes below 0;
* **no user buys twice** -- at most one paid order per user, and at most one open (not closed) order per user;
* **every order is paid or closed** -- nothing is left UNPAID once the payment timeout has passed;
* **stock conserved** -- remaining + paid == stock: every closed or shed purchase returned its unit;
* **every purchase became an order** -- each ``ordered`` request has an order record, nothing unsent.

Faults (``run(faults=...)``, strategy classes in :mod:`hcedu.lab.flashsale_faults`, each overriding the seam
of its stage) break one stage each, so a notebook can show which guard protects what:
``naive_stock`` (GET-compare-DECRBY in three round trips instead of the script), ``no_guard`` (plain
cache-aside: every hot-key miss is a DB load), ``limiter_down`` (the per-user limiter's Redis is unreachable:
``fail_open`` decides whether the sale stays up unthrottled or returns 503s), ``slow_queue`` (the queue's Redis
writes crawl -- the bridge drains 20 orders/s: its bounded buffer fills, requests wait ``put_timeout`` and are
shed, their stock returned), ``no_compensation`` (shed purchases do not give their stock back: units leak),
``worker_crash`` (each order worker dies -- a ``kill -9`` -- after a seeded number of its Redis commands and
order-creation steps, up to ``max_crashes`` times, and is restarted, which calls its ``recover``: a worker that
BLPOPs loses the order it held).

The order worker is pluggable (``order_worker=``, an :class:`OrderWorker`): ``work_one(r, queue, processing,
create_order, timeout)`` handles one order, ``recover(r, queue, processing)`` runs each time a worker (re)starts;
``processing`` is a key of the worker's own (stable across restarts, like a StatefulSet pod's name). Exercise 16
asks for one that survives ``worker_crash``; :data:`BLPOP_WORKER` (the default) does not.

Threads are hcedu goroutines (the clients run under :func:`hcedu.lab.runner.run_workers`); :func:`run` stops
every one before it returns (bounded by ``timeout``), deletes the run's keys and returns a
:class:`~hcedu.lab.flashsale_report.SaleRun` (the frame and the state as named fields). Time is read and
slept through ``clock=`` (default :data:`hcedu.clock.REAL`: the sale runs on real threads and real Redis
round trips). Redis errors other than the limiter's outage propagate out of :func:`run`.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pandas as pd
import redis

from .. import _validate
from ..backend import Keyspace
from ..clock import REAL, as_clock, poll_until
from ..go import rate
from ..go.goroutine import spawn
from ..patterns.cacheguard import SingleflightGuard
from ..patterns.delayqueue import DelayQueue
from ..patterns._redisargs import resolve_keyspace
from ..patterns.queue import Bridge, BridgeClosed
from ..patterns.ratelimit import TokenBucketLimiter
from ..patterns.stock import OK, Stock
from .flashsale_faults import FAULTS, Fault, faults_from
from .flashsale_report import SaleRun, chart_funnel, chart_progress, funnel, invariants, summary
from .flashsale_workers import BLPOP_WORKER, DIAGRAM, ITEM, OUTCOMES, STAGES, OrderWorker, WorkerCrash, WorkerLife
from .runner import run_workers

if TYPE_CHECKING:
    from ipywidgets import Widget

# The vocabulary and workers (flashsale_workers), the faults (flashsale_faults) and the run's report
# (flashsale_report) live in their own modules; they are re-exported here because chapter 16 and exercise 16
# call them all through this module.
__all__ = ["STAGES", "OUTCOMES", "FAULTS", "Fault", "SaleConfig", "FlashSale", "SaleRun", "run", "invariants", "funnel",
           "summary", "chart_progress", "chart_funnel", "dashboard", "DIAGRAM", "OrderWorker", "BLPOP_WORKER",
           "WorkerCrash", "WorkerLife"]


@dataclass(frozen=True)
class SaleConfig:
    """The sale's settings, validated once (``TypeError``/``ValueError`` naming the field). ``stock`` units on
    sale; ``gateway_rate``/``gateway_burst`` the in-process token bucket (requests/s on the sale's clock);
    ``user_limit`` requests per ``user_window`` s per user; ``queue_capacity`` the bridge's buffer;
    ``workers`` order workers; ``pay_rate`` the share of buyers who pay at once; ``pay_timeout`` the seconds an
    unpaid order waits before the closer closes it; ``db_latency`` one product read from the database (s);
    ``expire_every`` how often the hot key expires (0: never); ``worker_delay`` extra time per order created;
    ``max_crashes`` per worker under ``worker_crash``; ``seed`` for who pays and when workers die;
    ``fail_open`` what the per-user limiter does while its Redis is down."""

    # what is on sale
    stock: int = 100
    # stage 1, the gateway and the per-user limiter
    gateway_rate: float = 1000.0
    gateway_burst: int = 100
    user_limit: int = 2
    user_window: float = 1.0
    fail_open: bool = True
    # stage 2, the bridge and the order workers
    queue_capacity: int = 64
    workers: int = 2
    worker_delay: float = 0.0
    max_crashes: int = 3
    # the world around the sale: buyers paying, the database, the hot key
    pay_rate: float = 0.7
    pay_timeout: float = 0.2
    db_latency: float = 0.002
    expire_every: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        check = {"stock": (_validate.integer, {"minimum": 0}),
                 "gateway_rate": (_validate.number, {"minimum": 0, "strict": True}),
                 "gateway_burst": (_validate.integer, {"minimum": 1}),
                 "user_limit": (_validate.integer, {"minimum": 1}),
                 "user_window": (_validate.number, {"minimum": 0, "strict": True}),
                 "queue_capacity": (_validate.integer, {"minimum": 1}),
                 "workers": (_validate.integer, {"minimum": 1}),
                 "pay_rate": (_validate.number, {"minimum": 0, "maximum": 1}),
                 "pay_timeout": (_validate.number, {"minimum": 0, "strict": True}),
                 "db_latency": (_validate.number, {"minimum": 0}),
                 "expire_every": (_validate.number, {"minimum": 0}),
                 "worker_delay": (_validate.number, {"minimum": 0}),
                 "max_crashes": (_validate.integer, {"minimum": 0}),
                 "seed": (_validate.integer, {})}
        for name, (validate, bounds) in check.items():
            object.__setattr__(self, name, validate(name, getattr(self, name), **bounds))
        if not isinstance(self.fail_open, bool):
            raise TypeError(f"fail_open must be a bool (got {type(self.fail_open).__name__})")


class FlashSale:
    """One sale of ``config.stock`` units of one item, wired stage by stage (see the module docstring).

    ``client`` a redis-py client (default :func:`hcedu.backend.connect`); ``config`` a :class:`SaleConfig`
    (default: its defaults); ``keyspace`` the parent keyspace (the sale's keys go under a fresh child
    ``fs-<id>``); ``faults`` names from :data:`FAULTS` (or :class:`~hcedu.lab.flashsale_faults.Fault`
    instances); ``order_worker`` an :class:`OrderWorker`; ``clock`` reads time and sleeps (default
    :data:`hcedu.clock.REAL`). Call :meth:`start`, :meth:`handle` from any number of threads, then :meth:`stop`.
    """

    def __init__(self, client: redis.Redis | None = None, config: SaleConfig | None = None, *,
                 keyspace: Keyspace | None = None, faults: Sequence[str | Fault] = (),
                 order_worker: OrderWorker = BLPOP_WORKER, clock: Any = None) -> None:
        if config is None:
            config = SaleConfig()
        if not isinstance(config, SaleConfig):
            raise TypeError(f"config must be a SaleConfig (got {type(config).__name__})")
        self.config = c = config
        self.stock_units, self.n_workers, self.seed = c.stock, c.workers, c.seed
        self.pay_rate, self.pay_timeout, self.max_crashes = c.pay_rate, c.pay_timeout, c.max_crashes
        self.db_latency, self.expire_every, self.worker_delay = c.db_latency, c.expire_every, c.worker_delay
        if not (isinstance(order_worker, tuple) and len(order_worker) >= 2 and callable(order_worker[0])
                and callable(order_worker[1])):
            raise TypeError(f"order_worker must be an OrderWorker(work_one, recover) (got {order_worker!r})")
        self.order_worker = OrderWorker(*order_worker)
        self.faults: tuple[Fault, ...] = faults_from(faults)
        self.client, parent = resolve_keyspace(client, keyspace, "flashsale")
        self.run_id = uuid.uuid4().hex[:8]
        self.ks = Keyspace(f"fs-{self.run_id}", self.client, root=parent.prefix)
        self.clock = REAL if clock is None else as_clock(clock)

        # stage 1: the gateway's in-process token bucket (Go: rate.NewLimiter(r, b) in a middleware)
        self.gateway = rate.Limiter(c.gateway_rate, c.gateway_burst, clock=self.clock)
        # stage 2: per-user quota shared by every app server (Redis); its own client so an outage hits it alone
        lim_client = self._broken("limiter_client", self, self.client)
        self._lim_client = lim_client
        self.user_limiter = TokenBucketLimiter(lim_client, limit=c.user_limit, window=c.user_window,
                                               keyspace=self.ks, clock=self.clock, name="user",
                                               fail_open=c.fail_open)
        # stage 3: the product page's hot key, guarded against breakdown
        guard_cls = self._broken("guard_class", SingleflightGuard)
        self.guard = guard_cls(self._load_product, self.client, keyspace=self.ks, name="product", ttl=60,
                               clock=self.clock)
        # stage 4: oversell-free stock (the naive foil races between its GET and its DECRBY)
        self.stock = self._broken("stock", self, Stock(self.client, ITEM, keyspace=self.ks))
        self._returns = Stock(self.client, ITEM, keyspace=self.ks)  # the atomic give-back (CANCEL_LUA)
        # stage 5 and after: bounded hand-off to the order workers; payment deadlines on the delay queue
        self.queue_capacity = c.queue_capacity
        self.bridge: Bridge | None = None
        self.dq = DelayQueue("unpaid", client=self.client, keyspace=self.ks, lease=5.0, clock=self.clock)
        self.created_key = self.ks.key("orders", "created")
        self.final_key = self.ks.key("orders", "final")
        self._stop = threading.Event()
        self._stop_workers = threading.Event()   # set first: the closer keeps closing what the workers leave
        self._threads: list[Any] = []
        self._mu = threading.Lock()
        self._blocked: list[bool] = []      # per worker: inside a blocking pop (holding no order)
        self._wakes: list[int] = []         # per worker: blocking pops returned
        self.processing: list[str] = []     # per worker: its processing key
        self.crashes = 0
        self.counts: Counter = Counter()
        self._compensates = self._broken("compensates", True)

    def _broken(self, seam: str, *args: Any) -> Any:
        """The healthy part (``args[-1]``) of one stage, as every active fault leaves it (see flashsale_faults)."""
        *head, part = args
        for fault in self.faults:
            part = getattr(fault, seam)(*head, part)
        return part

    # -- the database behind the cache ---------------------------------------------------------------
    def _load_product(self, item: str) -> dict:
        if self.db_latency:
            self.clock.sleep(self.db_latency)
        return {"item": item, "price": 1999, "title": "flash-sale phone"}

    def db_loads(self) -> int:
        """How many times the product row was read from the database (hot-key misses that got through)."""
        return self.guard.loads

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> "FlashSale":
        """Load the stock, warm the cache, start the bridge, the order workers, the closer and the expirer."""
        self.stock.load(self.stock_units)
        self.guard.put(ITEM, self._load_product(ITEM))
        self.bridge = Bridge(client=self.client, keyspace=self.ks, key="orders", capacity=self.queue_capacity,
                             policy="block_timeout", put_timeout=0.005, batch=32,
                             rate=self._broken("queue_rate", None))
        for i in range(self.n_workers):
            self._blocked.append(False)
            self._wakes.append(0)
            self.processing.append(self.ks.key("orders", "processing", str(i)))
            self._threads.append(spawn(self._worker, i, name=f"hcedu-flashsale-worker-{i}", report=False))
        self._threads.append(spawn(self._closer, name="hcedu-flashsale-closer", report=False))
        if self.expire_every:
            self._threads.append(spawn(self._expirer, name="hcedu-flashsale-expirer", report=False))
        return self

    def stop(self, timeout: float = 10.0) -> dict:
        """Drain and stop: flush the bridge, let workers empty the list and the closer close every unpaid
        order (waiting up to ``pay_timeout`` + ``timeout`` s), then stop every goroutine. Returns the bridge's
        shutdown report as a dict (``unsent`` must be 0)."""
        timeout = _validate.number("timeout", timeout, minimum=0)
        deadline = self.clock.monotonic() + timeout + self.pay_timeout
        report = self.bridge.close(timeout=timeout) if self.bridge is not None else None

        def settled() -> bool:
            # Every worker waits in a blocking pop (so holds no order), and nothing is queued, in processing
            # or waiting on the delay queue -- with no pop returning meanwhile (the wake counts are unchanged).
            with self._mu:
                wakes, idle = list(self._wakes), all(self._blocked)
            if not idle or self.client.llen(self.bridge.key) or any(self.client.llen(p) for p in self.processing):
                return False
            if self.dq.waiting() or self.dq.leased():
                return False
            with self._mu:
                return wakes == self._wakes and all(self._blocked)

        if self.bridge is not None:
            poll_until(settled, max(0.0, deadline - self.clock.monotonic()), interval=0.01, clock=self.clock)
        # settled() cannot see an order whose BLPOP reply is still on its way to a worker (popped on the
        # server, the worker not yet back from the call): stop the workers first and let each finish the order
        # in hand, then let the closer close every payment deadline left, then stop the rest. Stopping all at
        # once left such an order UNPAID with its unit held (1 run in 120 with a core kept busy).
        self._stop_workers.set()
        workers = self._threads[:self.n_workers]
        for g in workers:
            g.join(timeout=max(0.1, deadline - self.clock.monotonic()))
        if self.dq is not None:
            poll_until(lambda: not (self.dq.waiting() or self.dq.leased()),
                       max(0.0, deadline - self.clock.monotonic()), interval=0.01, clock=self.clock)
        self._stop.set()
        for g in self._threads:
            g.join(timeout=max(0.1, deadline - self.clock.monotonic()))
        errors = [g.exception for g in self._threads if g.exception is not None]
        if errors:
            raise errors[0]
        return {"unsent": len(report.unsent) if report else 0,
                **(self.bridge.stats.as_dict() if self.bridge is not None else {})}

    # -- the request path -----------------------------------------------------------------------------
    def handle(self, req: int, user: str) -> tuple[str, str]:
        """Serve one purchase request; returns ``(stage reached, outcome)`` (see :data:`OUTCOMES`)."""
        if not self.gateway.allow():
            return "gateway", "gateway_429"
        try:
            if not self.user_limiter.allow(f"u:{user}").allowed:
                return "user_limit", "user_429"
        except (redis.ConnectionError, redis.TimeoutError):
            return "user_limit", "limiter_down"           # fail closed: 503
        if self.guard.get(ITEM) is None:
            return "product", "error"
        if isinstance(self.stock, Stock):
            code = self.stock.attempt(user)
            if code != OK:
                return "stock", code
        elif not self.stock.try_buy(user):
            return "stock", "sold_out"
        order = json.dumps({"oid": f"o{req}", "user": user})
        try:
            accepted = self.bridge.put(order)
        except BridgeClosed:
            accepted = False
        if not accepted:
            if self._compensates:
                self._returns.cancel(user)                # give the unit back: the purchase did not happen
            return "queue", "shed"
        return "queue", "ordered"

    # -- off the request path -------------------------------------------------------------------------
    def _pays(self, user: str) -> bool:
        return random.Random(f"{self.seed}:{user}").random() < self.pay_rate

    def _blocking(self, i: int, inside: bool) -> None:
        with self._mu:
            self._blocked[i] = inside
            if not inside:
                self._wakes[i] += 1

    def _create(self, life: WorkerLife, raw: Any) -> None:
        """Create one order (idempotent: a re-delivered order changes nothing that already happened)."""
        order = json.loads(raw)
        if self.worker_delay:
            self.clock.sleep(self.worker_delay)
        oid, user = order["oid"], order["user"]
        self.client.hset(self.created_key, oid, user)                       # INSERT INTO orders ...
        life.event("create: INSERT order")
        self.dq.put(oid, self.clock.now() + self.pay_timeout)              # close it if still unpaid then
        life.event("create: payment deadline")
        if self._pays(user) and self.client.hsetnx(self.final_key, oid, "PAID"):
            self.dq.cancel(oid)

    def _worker(self, i: int) -> None:
        """A supervised worker: each life calls ``recover`` then ``work_one`` in a loop; a crash (or the
        ``worker_crash`` fault) starts a new life with the same processing key."""
        rng = random.Random(f"{self.seed}:crash:{i}")
        crashes = 0
        w, queue, processing = self.order_worker, self.bridge.key, self.processing[i]
        while not (self._stop.is_set() or self._stop_workers.is_set()):
            life = WorkerLife(self.client, self._broken("crash_after", rng, crashes, self.max_crashes, None),
                              on_block=lambda inside: self._blocking(i, inside))
            try:
                w.recover(life.client, queue, processing)
                while not (self._stop.is_set() or self._stop_workers.is_set()):
                    w.work_one(life.client, queue, processing, lambda raw: self._create(life, raw), 0.05)
            except WorkerCrash:
                crashes += 1
                with self._mu:
                    self.crashes += 1
                    self._blocked[i] = False

    def _closer(self) -> None:
        while not self._stop.is_set():
            for oid in self.dq.claim(limit=100):
                user = self.client.hget(self.created_key, oid)
                if self.client.hsetnx(self.final_key, oid, "CLOSED"):       # ... WHERE status='UNPAID'
                    self._returns.cancel(user)
                self.dq.ack(oid)
            self.clock.sleep(0.01)

    def _expirer(self) -> None:
        # every expire_every s until stopped (poll_until returns True once the stop is set)
        while not poll_until(self._stop.is_set, self.expire_every, interval=0.01, clock=self.clock):
            self.guard.expire(ITEM)                       # the hot key's TTL runs out mid-sale

    # -- state after the run --------------------------------------------------------------------------
    def snapshot(self) -> dict:
        """Orders (``[{oid, user, status}]``), remaining/held units, DB loads and limiter fail-opens."""
        created = self.client.hgetall(self.created_key)
        final = self.client.hgetall(self.final_key)
        orders = [{"oid": o, "user": u, "status": final.get(o, "UNPAID")} for o, u in sorted(created.items())]
        return {"orders": orders, "stock": self.stock_units, "remaining": self.stock.remaining(),
                "held": self.stock.sold(), "db_loads": self.db_loads(),
                "failed_open": self.user_limiter.failed_open, "faults": sorted(f.name for f in self.faults),
                "crashes": self.crashes, "worker": self.order_worker.name}

    def cleanup(self) -> None:
        """Delete the run's keys and close the outage client."""
        self.ks.cleanup()
        if self._lim_client is not self.client:
            self._lim_client.close()


def _users(users: int, requests: int, seed: int) -> list[str]:
    """Who sends each request: Zipf-skewed (a few users hammer the button, as bots do), seeded."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, users + 1) ** 1.1
    picks = rng.choice(users, size=requests, p=weights / weights.sum())
    return [f"user{p:04d}" for p in picks]


def run(*, users: int = 300, stock: int = 100, requests: int = 2000, arrival_rate: float | None = 2000.0,
        concurrency: int = 8, seed: int = 0,
        faults: Sequence[str | Fault] = (), fail_open: bool = True, client: redis.Redis | None = None,
        keyspace: Keyspace | None = None, sink: list | None = None, timeout: float = 30.0, clock: Any = None,
        order_worker: OrderWorker = BLPOP_WORKER, **settings: Any) -> SaleRun:
    """Run a flash sale under real threads: ``requests`` purchase requests from ``users`` users (seeded, skewed)
    sent by ``concurrency`` client threads against one :class:`FlashSale` of ``stock`` units. Requests are
    due at seeded Poisson arrival times at ``arrival_rate`` per second (a client sends each when it is due, or
    late if all clients are busy: that lateness counts in no latency); ``arrival_rate=None`` is closed loop
    (each client sends its next request as soon as the last one returns).

    Returns a :class:`~hcedu.lab.flashsale_report.SaleRun`: ``frame`` has one row per request, sorted by
    ``req`` (``req``, ``user``, ``t`` (start, seconds since the run began), ``latency`` (s), ``end``,
    ``stage`` (last stage reached), ``outcome``, ``bought``); its named fields hold the run's state for
    :func:`invariants` (``orders``, ``stock``, ``remaining``, ``held``, ``db_loads``, ``failed_open``,
    ``faults``, ``crashes``, ``bridge``, ``seconds``, ...). Extra keyword arguments are fields of
    :class:`SaleConfig` (``gateway_rate``, ``user_limit``, ``queue_capacity``, ``workers``, ``pay_timeout``,
    ...); ``faults`` and ``order_worker`` go to :class:`FlashSale`; ``clock``
    paces the clients and times the requests (default :data:`hcedu.clock.REAL`) and is the sale's clock too.
    ``sink``: a list that each row is also appended to as it completes (for a live dashboard).
    """
    users = _validate.integer("users", users, minimum=1)
    requests = _validate.integer("requests", requests, minimum=1)
    concurrency = _validate.integer("concurrency", concurrency, minimum=1, maximum=256)
    timeout = _validate.number("timeout", timeout, minimum=0, strict=True)
    if sink is not None and not isinstance(sink, list):
        raise TypeError(f"sink must be a list (got {type(sink).__name__})")
    arrival_rate = None if arrival_rate is None else _validate.number("arrival_rate", arrival_rate, minimum=0,
                                                                      strict=True)
    clock = REAL if clock is None else as_clock(clock)
    unknown = sorted(set(settings) - set(SaleConfig.__dataclass_fields__))
    if unknown:
        raise TypeError(f"run() got unknown setting(s) {', '.join(unknown)}: the settings are SaleConfig's fields "
                        f"({', '.join(SaleConfig.__dataclass_fields__)})")
    config = SaleConfig(stock=stock, seed=seed, fail_open=fail_open, **settings)
    sale = FlashSale(client, config, keyspace=keyspace, faults=faults, order_worker=order_worker, clock=clock)
    who = _users(users, requests, seed)
    due = (np.cumsum(np.random.default_rng([seed, 1]).exponential(1 / arrival_rate, requests))
           if arrival_rate else np.zeros(requests))
    next_req = iter(range(requests))
    next_mu = threading.Lock()
    sale.start()
    t0 = clock.monotonic()

    def client_loop(_: int) -> list[dict]:
        mine = []
        while True:
            with next_mu:
                req = next(next_req, None)
            if req is None:
                return mine
            wait = t0 + due[req] - clock.monotonic()
            if wait > 0:
                clock.sleep(wait)
            start = clock.monotonic()
            stage, outcome = sale.handle(req, who[req])
            end = clock.monotonic()
            row = {"req": req, "user": who[req], "t": start - t0, "latency": end - start, "end": end - t0,
                   "stage": stage, "outcome": outcome, "bought": outcome == "ordered"}
            mine.append(row)
            if sink is not None:
                sink.append(row)

    try:
        try:
            done = run_workers(client_loop, concurrency, name="hcedu-flashsale-client", timeout=timeout)
        except TimeoutError:
            sale.stop(timeout=min(10.0, timeout))
            raise
        bridge = sale.stop(timeout=min(10.0, timeout))
        done.raise_first()
        state = sale.snapshot()
    finally:
        if not sale._stop.is_set():
            sale._stop.set()
        sale.cleanup()
    rows = [row for mine in done.results for row in mine]
    frame = pd.DataFrame(rows, columns=["req", "user", "t", "latency", "end", "stage", "outcome", "bought"])
    frame = frame.sort_values("req", ignore_index=True)
    return SaleRun(frame=frame, orders=tuple(state.pop("orders")), faults=tuple(state.pop("faults")), **state,
                   bridge=bridge, seconds=clock.monotonic() - t0, requests=requests, users=users)


def dashboard(client_factory: Callable[[], redis.Redis] | None = None, keyspace: Keyspace | None = None,
              refresh: float = 0.25) -> "Widget":
    """A live dashboard (ipywidgets): pick a load, a stock and a fault, press *Run*; the chart of admitted /
    rejected / bought requests redraws every ``refresh`` s while the sale runs, then the invariants show."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    out = w.Output()
    req = w.IntSlider(value=3000, min=500, max=10000, step=500, description="requests")
    stock = w.IntSlider(value=100, min=10, max=500, step=10, description="stock")
    conc = w.IntSlider(value=8, min=1, max=32, description="clients")
    fault = w.Dropdown(options=["none", *FAULTS], value="none", description="fault")
    fo = w.Checkbox(value=True, description="limiter fails open")
    button = w.Button(description="Run", button_style="primary")

    def go_(_: Any) -> None:
        sink: list = []
        box: dict = {}

        def work() -> None:
            box["sale"] = run(requests=req.value, stock=stock.value, concurrency=conc.value,
                               faults=() if fault.value == "none" else (fault.value,), fail_open=fo.value,
                               client=client_factory() if client_factory else None, keyspace=keyspace, sink=sink)

        g = spawn(work, name="hcedu-flashsale-dashboard", report=False)
        button.disabled = True
        try:
            while not g.join(refresh):
                rows = pd.DataFrame(list(sink), columns=["end", "outcome"])
                with out:
                    out.clear_output(wait=True)
                    chart_progress(rows, stock=stock.value)
                    plt.show()
            with out:
                out.clear_output(wait=True)
                if g.exception is not None:
                    print("run failed:", g.exception)
                    return
                chart_progress(box["sale"])
                plt.show()
                display(invariants(box["sale"]))
        finally:
            button.disabled = False

    button.on_click(go_)
    return w.VBox([w.HBox([req, stock, conc]), w.HBox([fault, fo, button]), out])
