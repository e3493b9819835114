"""Oversell-free flash-sale stock in Redis (one Lua script per purchase; Go: ``rdb.EvalSha`` of the same script).

Keys under ``<keyspace>:{stock:<item>}`` (one hash tag: a Redis Cluster keeps them in one slot, as the
scripts and the ``MULTI`` need):

* ``...``          STRING  units left;
* ``...:buyers``   HASH    user -> units bought (one purchase per user: the check and the write are one step);
* ``...:orders``   LIST    ``{"user", "qty", "item"}`` JSON records, in purchase order, for the order
  pipeline to consume (chapter 07's queue, chapter 11's payment timeout);
* ``...:oids``     HASH    user -> order id of their purchase (what makes a retried purchase idempotent).

Invariants (tested with real threads on fakeredis and a real ``redis-server``):

* **Never oversold**: ``sold() + remaining() == loaded`` at every instant, and ``remaining() >= 0``, because
  :meth:`Stock.try_buy` checks ``stock >= qty``, checks the user has not bought, ``DECRBY``s, records the buyer
  and appends the order inside one script (Redis runs a script with nothing interleaved).
* **One purchase per user**: a second ``try_buy`` by the same user returns False and changes nothing.
* **A retry is not a second purchase**: every purchase carries an order id (``attempt(..., order_id=)``,
  a fresh uuid by default). When the reply is lost after Redis ran the script (a connection reset),
  ``attempt`` sends the same order id again and the script answers ``"ok"`` for the purchase it already
  recorded, instead of telling a buyer who bought that they are a ``"duplicate"``.
* **Cancel returns exactly what was bought** (unpaid order closed): ``cancel(user)`` removes the buyer and
  ``INCRBY``s their units back in one script; cancelling twice returns False the second time.

:class:`NaiveStock` is the teaching foil: GET, compare in the application, then DECRBY -- a check-then-act
across round trips that sells more than it has when buyers race.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import redis

from .. import _validate
from ..backend import Keyspace
from ._once import eval_once, retry_idempotent
from ._redisargs import client_and_keyspace
from ..clock import Clock, as_clock

__all__ = ["Stock", "NaiveStock", "BUY_LUA", "CANCEL_LUA", "OK", "SOLD_OUT", "DUPLICATE", "NOT_LOADED"]

OK, SOLD_OUT, DUPLICATE, NOT_LOADED = "ok", "sold_out", "duplicate", "not_loaded"
#: the largest stock a sale may load: Lua compares counts as doubles, exact up to 2**53
MAX_UNITS = 2 ** 53 - 1
_CODES = {1: OK, 0: SOLD_OUT, -1: DUPLICATE, -2: NOT_LOADED}

#: KEYS: stock, buyers, orders, order ids. ARGV: user, qty, order JSON, order id.
#: Returns 1 ok (also for a repeat of the same order id), 0 sold out, -1 duplicate, -2 not loaded.
BUY_LUA = """
local left = redis.call('GET', KEYS[1])
if not left then return -2 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  if redis.call('HGET', KEYS[4], ARGV[1]) == ARGV[4] then return 1 end
  return -1
end
if tonumber(left) < tonumber(ARGV[2]) then return 0 end
redis.call('DECRBY', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[4])
redis.call('RPUSH', KEYS[3], ARGV[3])
return 1
"""

#: KEYS: stock, buyers, order ids. ARGV: user. Gives the user's units back; returns them (0 if the user had none).
CANCEL_LUA = """
local qty = redis.call('HGET', KEYS[2], ARGV[1])
if not qty then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('INCRBY', KEYS[1], qty)
return tonumber(qty)
"""


def _user(user: Any) -> str:
    return _validate.key_part("user", user)


class _StockBase:
    def __init__(self, client: redis.Redis | None = None, item: str = "sku", *, keyspace: Keyspace | None = None,
                 max_qty: int = 1) -> None:
        _validate.text("item", item)
        self.client, self.keyspace = client_and_keyspace(client, keyspace, "stock")
        self.item = item
        self.max_qty = _validate.integer("max_qty", max_qty, minimum=1, maximum=MAX_UNITS)
        self.stock_key = self.keyspace.tagged("stock", item)  # the others extend it: one cluster slot
        self.buyers_key = self.stock_key + ":buyers"
        self.orders_key = self.stock_key + ":orders"
        self.oids_key = self.stock_key + ":oids"

    def _qty(self, qty: Any) -> int:
        return _validate.integer("qty", qty, minimum=1, maximum=self.max_qty)

    def load(self, n: int) -> None:
        """Start a sale of ``n`` units: set the stock and forget previous buyers and orders."""
        n = _validate.integer("n", n, minimum=0, maximum=MAX_UNITS)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self.buyers_key, self.orders_key, self.oids_key)
        pipe.set(self.stock_key, n)
        pipe.execute()

    def remaining(self) -> int:
        """Units left (0 before :meth:`load`)."""
        return int(self.client.get(self.stock_key) or 0)

    def buyers(self) -> set[str]:
        """Users who hold a purchase."""
        return {k.decode() if isinstance(k, bytes) else k for k in self.client.hkeys(self.buyers_key)}

    def sold(self) -> int:
        """Units recorded as sold (sum over buyers)."""
        return sum(int(q) for q in self.client.hvals(self.buyers_key))

    def orders(self, limit: int = 100_000) -> list[dict]:
        """The first ``limit`` order records appended, in purchase order (a naive oversell shows up here as
        extra orders). Bounded: one LRANGE of at most ``limit``; count them with :meth:`order_count`."""
        limit = _validate.integer("limit", limit, minimum=1, maximum=10_000_000)
        return [json.loads(o) for o in self.client.lrange(self.orders_key, 0, limit - 1)]

    def order_count(self) -> int:
        """How many order records were appended (LLEN)."""
        return int(self.client.llen(self.orders_key))

    def clear(self) -> None:
        """Delete the sale's keys."""
        self.client.delete(self.stock_key, self.buyers_key, self.orders_key, self.oids_key)


class Stock(_StockBase):
    """Oversell-free stock: ``load(n)``, then ``try_buy(user, qty)`` from any number of threads/processes.

    ``max_qty`` bounds ``qty`` per purchase (default 1). ``attempt`` says why a purchase failed
    (``"sold_out"``, ``"duplicate"``, ``"not_loaded"``). Redis errors propagate; a purchase either happened
    completely (stock, buyer, order) or not at all.
    """

    def __init__(self, client: redis.Redis | None = None, item: str = "sku", *, keyspace: Keyspace | None = None,
                 max_qty: int = 1) -> None:
        super().__init__(client, item, keyspace=keyspace, max_qty=max_qty)
        self._buy = self.client.register_script(BUY_LUA)
        self._cancel = self.client.register_script(CANCEL_LUA)

    def attempt(self, user: Any, qty: int = 1, *, order_id: Any = None) -> str:
        """Try to buy; return ``"ok"``, ``"sold_out"``, ``"duplicate"`` or ``"not_loaded"``.

        ``order_id`` (default: a fresh uuid) makes the purchase idempotent: the same user and order id
        again answers ``"ok"`` without buying twice, so a connection error is retried (up to 3 tries)
        with it. Pass your own order id to retry safely across calls (e.g. after a crash).
        """
        user, qty = _user(user), self._qty(qty)
        oid = uuid.uuid4().hex if order_id is None else _validate.key_part("order_id", order_id)
        order = json.dumps({"user": user, "qty": qty, "item": self.item})
        keys = [self.stock_key, self.buyers_key, self.orders_key, self.oids_key]
        code = int(retry_idempotent(lambda: eval_once(self.client, self._buy, keys, [user, qty, order, oid])))
        return _CODES[code]

    def try_buy(self, user: Any, qty: int = 1, *, order_id: Any = None) -> bool:
        """True if ``user`` bought ``qty`` units (stock was enough and they had not bought yet)."""
        return self.attempt(user, qty, order_id=order_id) == OK

    def cancel(self, user: Any) -> int:
        """Give ``user``'s units back (an unpaid order was closed); return how many (0 if none).
        Sent once: a lost reply raises ``redis.ConnectionError`` (cancelling again is then safe: it returns 0)."""
        return int(eval_once(self.client, self._cancel, [self.stock_key, self.buyers_key, self.oids_key],
                             [_user(user)]))


class NaiveStock(_StockBase):
    """**Unsafe** foil: ``GET`` stock and buyer, compare in Python, then ``DECRBY`` and ``HSET`` -- separate
    round trips, so buyers that all read "1 left" all buy. ``pause`` seconds (on ``clock``) between the check
    and the act widen the window the way network latency does."""

    def __init__(self, client: redis.Redis | None = None, item: str = "sku", *, keyspace: Keyspace | None = None,
                 max_qty: int = 1, pause: float = 0.0, clock: Clock | None = None) -> None:
        super().__init__(client, item, keyspace=keyspace, max_qty=max_qty)
        self.pause = _validate.number("pause", pause, minimum=0)
        self.clock = as_clock(clock)

    def try_buy(self, user: Any, qty: int = 1) -> bool:
        user, qty = _user(user), self._qty(qty)
        left = self.client.get(self.stock_key)
        if left is None or int(left) < qty or self.client.hexists(self.buyers_key, user):
            return False
        if self.pause:
            self.clock.sleep(self.pause)
        self.client.decrby(self.stock_key, qty)
        self.client.hset(self.buyers_key, user, qty)
        self.client.rpush(self.orders_key, json.dumps({"user": user, "qty": qty, "item": self.item}))
        return True
