"""hcedu.patterns.stock: the Lua purchase never oversells under real threads; the naive one does."""

from __future__ import annotations

import threading

import pytest

from hcedu.backend import Keyspace
from hcedu.patterns.stock import NaiveStock, Stock

from helpers import run_workers

pytestmark = pytest.mark.on_cluster  # every redis_backend test here also runs on the cluster rung


def make(redis_backend, cls=Stock, **kw):
    c = redis_backend.client()
    return cls(c, "sku1", keyspace=Keyspace("t-stock", c), **kw)


def test_buy_rules(redis_backend):
    s = make(redis_backend, max_qty=3)
    assert s.attempt("u1") == "not_loaded"
    s.load(4)
    assert s.attempt("u1", 3) == "ok"
    assert s.attempt("u1") == "duplicate"  # one purchase per user
    assert s.attempt("u2", 2) == "sold_out"  # 1 left, 2 wanted: nothing taken
    assert s.try_buy("u2") is True
    assert s.try_buy("u3") is False
    assert s.remaining() == 0 and s.sold() == 4
    assert s.buyers() == {"u1", "u2"}
    assert s.orders() == [{"user": "u1", "qty": 3, "item": "sku1"}, {"user": "u2", "qty": 1, "item": "sku1"}]


def test_cancel_returns_units_once(redis_backend):
    s = make(redis_backend, max_qty=2)
    s.load(2)
    assert s.try_buy("u1", 2)
    assert s.cancel("u1") == 2 and s.remaining() == 2
    assert s.cancel("u1") == 0 and s.remaining() == 2
    assert s.try_buy("u1")  # may buy again after the cancel


def test_load_resets_the_sale(redis_backend):
    s = make(redis_backend)
    s.load(1)
    s.try_buy("u1")
    s.load(5)
    assert s.remaining() == 5 and s.buyers() == set() and s.orders() == []


def _race(stock, users, threads):
    results = []
    lock = threading.Lock()
    start = threading.Barrier(threads, timeout=10)

    def worker(i):
        start.wait()
        mine = [(u, stock.try_buy(u)) for u in users[i::threads]]
        with lock:
            results.extend(mine)

    run_workers(worker, threads)
    return results


def test_lua_stock_never_oversells_under_threads(redis_backend):
    s = make(redis_backend)
    s.load(50)
    users = [f"u{i}" for i in range(200)] * 2  # every user tries twice
    results = _race(s, users, 8)
    winners = [u for u, ok in results if ok]
    assert len(winners) == 50 == len(set(winners))  # exactly the stock, each winner once
    assert s.remaining() == 0 and s.sold() == 50 and len(s.orders()) == 50


def test_naive_stock_oversells_under_threads(redis_backend):
    s = make(redis_backend, cls=NaiveStock, pause=0.002)
    s.load(5)
    results = _race(s, [f"u{i}" for i in range(40)], 8)
    sold = sum(ok for _, ok in results)
    assert sold > 5, "the GET-then-DECR race should sell more than the stock"
    assert s.remaining() < 0 and len(s.orders()) == sold


def test_bad_input(redis_backend):
    s = make(redis_backend)
    s.load(1)
    with pytest.raises(ValueError, match="qty must be >= 1"):
        s.try_buy("u", 0)
    with pytest.raises(ValueError, match="qty must be <= 1"):
        s.try_buy("u", 2)
    with pytest.raises(TypeError, match="user must be a str or int"):
        s.try_buy(None)
    with pytest.raises(ValueError, match="user must be a non-empty"):
        s.try_buy("")
    with pytest.raises(ValueError, match="n must be >= 0"):
        s.load(-1)
    with pytest.raises(TypeError, match="item must be a str"):
        Stock(redis_backend.client(), 3)
    with pytest.raises(TypeError, match="keyspace must be"):
        Stock(redis_backend.client(), "x", keyspace="ks")
    with pytest.raises(ValueError, match="pause must be >= 0"):
        NaiveStock(redis_backend.client(), "x", pause=-1)
    assert s.remaining() == 1  # nothing was taken by the bad calls
