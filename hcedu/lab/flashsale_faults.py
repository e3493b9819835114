"""The flash sale's faults as small strategy classes: each breaks one stage of :class:`FlashSale`.

redis-py's ``Lock.acquire()`` -> ``do_acquire(token)`` seam is the model: the sale builds each stage the
healthy way and then hands that part to every active fault at the stage's seam; a fault overrides only
the seam of the stage it breaks and passes every other part through unchanged. The healthy part is always
a seam's last argument. So the sale never asks
"which fault is this?" -- it is chosen once, by name, in :func:`faults_from`.

==================  ====================================  =================================================
name                seam                                  what breaks
==================  ====================================  =================================================
``naive_stock``     ``stock(sale, healthy)``              GET-compare-DECRBY in three round trips: oversell
``no_guard``        ``guard_class(healthy)``              plain cache-aside: every hot-key miss loads the DB
``limiter_down``    ``limiter_client(sale, healthy)``     the per-user limiter's Redis refuses connections
``slow_queue``      ``queue_rate(healthy)``               the bridge drains 20 orders/s: its buffer fills
``no_compensation`` ``compensates(healthy)``              a shed purchase keeps its unit: stock leaks
``worker_crash``    ``crash_after(rng, crashes,           each order worker is killed after a seeded number
                    max_crashes, healthy)``               of steps (up to ``max_crashes`` times)
==================  ====================================  =================================================

Invariant: with no fault every seam returns the healthy part, so ``FlashSale(faults=())`` is the healthy
system; each fault changes one seam only, so faults combine (``("slow_queue", "no_compensation")``).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, ClassVar, Iterable

import redis

from .. import _validate
from ..patterns.cacheguard import NoGuard
from ..patterns.stock import NaiveStock
from .flashsale_workers import ITEM
from .redis_server import free_port

if TYPE_CHECKING:
    from .flashsale_system import FlashSale

__all__ = ["Fault", "NaiveStockFault", "NoGuardFault", "LimiterDownFault", "SlowQueueFault",
           "NoCompensationFault", "WorkerCrashFault", "FAULTS", "faults_from"]


class Fault:
    """A fault that breaks one stage. Every seam receives the healthy part and returns what the sale uses;
    the base class returns the healthy part everywhere (a subclass overrides one seam)."""

    name: ClassVar[str] = "none"

    def limiter_client(self, sale: "FlashSale", healthy: redis.Redis) -> redis.Redis:
        """The client of the per-user limiter (stage 2)."""
        return healthy

    def guard_class(self, healthy: type) -> type:
        """The hot key's cache guard class (stage 3)."""
        return healthy

    def stock(self, sale: "FlashSale", healthy: Any) -> Any:
        """The stock the purchase is decided on (stage 4)."""
        return healthy

    def queue_rate(self, healthy: float | None) -> float | None:
        """The bridge's drain rate in orders/s, None = unthrottled (stage 5)."""
        return healthy

    def compensates(self, healthy: bool) -> bool:
        """Whether a shed purchase gives its unit back (stage 5's failure path)."""
        return healthy

    def crash_after(self, rng: random.Random, crashes: int, max_crashes: int, healthy: int | None) -> int | None:
        """How many steps the next life of an order worker lives (None = it is never killed)."""
        return healthy

    def __repr__(self) -> str:
        return f"<fault {self.name}>"


class NaiveStockFault(Fault):
    """The stock check without the script: the GET, the compare and the DECRBY race each other."""

    name = "naive_stock"

    def stock(self, sale: "FlashSale", healthy: Any) -> Any:
        return NaiveStock(sale.client, ITEM, keyspace=sale.ks, pause=0.002, clock=sale.clock)


class NoGuardFault(Fault):
    """Plain cache-aside on the hot key: every request that misses goes to the database."""

    name = "no_guard"

    def guard_class(self, healthy: type) -> type:
        return NoGuard


def _dead_port() -> int:
    """A loopback port nobody listens on: connecting is refused at once. Below the ephemeral range
    (:func:`~hcedu.lab.redis_server.free_port`), so no process handed a port by ``bind(0)`` (a kernel) takes it."""
    return free_port()


class LimiterDownFault(Fault):
    """The per-user limiter's Redis is unreachable (the sale's ``fail_open`` decides what happens)."""

    name = "limiter_down"

    def limiter_client(self, sale: "FlashSale", healthy: redis.Redis) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=_dead_port(), socket_connect_timeout=0.2, socket_timeout=0.2,
                           retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0), decode_responses=True)


class SlowQueueFault(Fault):
    """The queue's Redis writes crawl: the bridge drains 20 orders/s."""

    name = "slow_queue"

    def queue_rate(self, healthy: float | None) -> float | None:
        return 20.0


class NoCompensationFault(Fault):
    """A shed purchase forgets to give its unit back."""

    name = "no_compensation"

    def compensates(self, healthy: bool) -> bool:
        return False


class WorkerCrashFault(Fault):
    """Each order worker is killed (``kill -9``) after a seeded 1..12 steps, up to ``max_crashes`` times."""

    name = "worker_crash"

    def crash_after(self, rng: random.Random, crashes: int, max_crashes: int, healthy: int | None) -> int | None:
        return rng.randint(1, 12) if crashes < max_crashes else healthy


_KINDS: dict[str, type[Fault]] = {k.name: k for k in (NaiveStockFault, NoGuardFault, LimiterDownFault,
                                                       SlowQueueFault, NoCompensationFault, WorkerCrashFault)}
#: The faults' names, the public interface of ``run(faults=...)`` and the dashboard's menu.
FAULTS: tuple[str, ...] = tuple(_KINDS)


def faults_from(faults: str | Fault | Iterable[str | Fault]) -> tuple[Fault, ...]:
    """The one place a fault's name becomes its class: names (see :data:`FAULTS`) or :class:`Fault`
    instances, one or several; a name given twice counts once."""
    if isinstance(faults, (str, Fault)):
        faults = (faults,)
    out: dict[str, Fault] = {}
    for f in faults:
        if not isinstance(f, Fault):
            f = _KINDS[_validate.choice("faults[]", f, FAULTS)]()
        out.setdefault(f.name, f)
    return tuple(out.values())
