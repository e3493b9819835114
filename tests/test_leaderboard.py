"""Leaderboard: composite-score exactness at the bit budget, tie-break order, pages/around at the edges,
rotation on a VirtualClock, concurrent adds, the naive read-modify-write losing updates, bad input."""

from __future__ import annotations

import threading

import pytest

from hcedu.backend import Keyspace
from hcedu.clock import VirtualClock
from hcedu.patterns.leaderboard import MAX_EXACT, Composite, Entry, Leaderboard

from helpers import run_workers

pytestmark = pytest.mark.on_cluster  # every redis_backend test here also runs on the cluster rung

DAY = 86_400


def make(backend, clock=None, name="game", **kw):
    c = backend.client()
    return Leaderboard(name, client=c, keyspace=Keyspace("t-lb", c), clock=clock or VirtualClock(), **kw)


# -- the composite score ----------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [1, 20, 32, 41, 52])
def test_composite_round_trips_exactly_at_the_budget_edges(bits):
    c = Composite(bits)
    assert c.max_points == 2 ** (53 - bits) - 1
    for points in (0, 1, c.max_points - 1, c.max_points):
        for tick in (0, 1, c.max_tick - 1, c.max_tick):
            if tick < 0:
                continue
            s = c.encode_tick(points, tick)
            assert 0 <= s < MAX_EXACT
            assert float(s) == s  # the double Redis stores is exact
            assert c.decode_tick(float(s)) == (points, tick)
    assert c.encode_tick(c.max_points, 0) == MAX_EXACT - 1  # the budget is used to the last bit


def test_composite_orders_points_then_earliest():
    c = Composite(32)
    assert c.encode(11, 1000) > c.encode(10, 0)  # more points always win, whatever the time
    assert c.encode(10, 5) > c.encode(10, 6)  # equal points: earlier wins
    assert c.decode(c.encode(7, 123.9)) == (7, 123.0)  # ticks are floors of the resolution


def test_composite_refuses_to_leave_the_budget():
    c = Composite(32)
    with pytest.raises(ValueError, match="points must be <= 2097151"):
        c.encode_tick(c.max_points + 1, 0)
    with pytest.raises(ValueError, match="t must be within"):
        c.encode(1, 2 ** 32)
    with pytest.raises(ValueError, match="t must be within"):
        c.encode(1, -1)
    with pytest.raises(ValueError, match="max_points must be <= 2097151"):
        Composite(32, max_points=2 ** 21)
    with pytest.raises(ValueError, match=r"integer in \[0, 2\*\*53\)"):
        c.decode_tick(float(2 ** 53))
    with pytest.raises(ValueError, match="integer"):
        c.decode_tick(1.5)
    with pytest.raises(ValueError, match="time_bits must be <= 52"):
        Composite(53)
    with pytest.raises(TypeError):
        c.encode_tick(1.0, 0)


def test_past_2_53_the_double_collides_which_is_why_encode_refuses():
    # the failure the budget prevents: two different (points, time) pairs become one stored score
    a, b = 2 ** 53 + 1, 2 ** 53
    assert a != b and float(a) == float(b)


def test_composite_with_millisecond_resolution_and_epoch():
    c = Composite(41, epoch=1_700_000_000.0, resolution=0.001)
    s = c.encode(4095, 1_700_000_000.0 + 12.345)
    assert c.decode_tick(s) == (4095, 12345)


# -- the board on both backends -------------------------------------------------------------------
def test_equal_points_sort_by_name_without_tie_break(redis_backend):
    lb = make(redis_backend, tie_break="none")
    lb.add("alice", 100)  # alice first
    lb.add("bob", 100)
    assert [e.member for e in lb.top(2)] == ["bob", "alice"]  # lexicographic, reversed


def test_equal_points_rank_earliest_first_with_tie_break(redis_backend):
    clock = VirtualClock(1000)
    lb = make(redis_backend, clock)
    lb.add("bob", 60)
    lb.add("alice", 100)  # alice reaches 100 at t=1000
    clock.advance(5)
    lb.add("bob", 40)  # bob reaches 100 at t=1005
    assert lb.top(2) == [Entry(1, "alice", 100), Entry(2, "bob", 100)]
    assert lb.updated_at("bob") == 1005
    clock.advance(1)
    lb.add("alice", 0)  # adding zero is still an update: alice re-stamped at t=1006, now later than bob
    assert [e.member for e in lb.top(2)] == ["bob", "alice"]


def test_scores_ranks_pages_and_around_at_the_edges(redis_backend):
    clock = VirtualClock()
    lb = make(redis_backend, clock)
    for i in range(10):  # p0 has 0 points ... p9 has 90: rank of p9 is 1
        lb.set_score(f"p{i}", i * 10)
        clock.advance(1)
    assert lb.size() == len(lb) == 10
    assert lb.score("p3") == 30 and lb.score("nobody") is None
    assert lb.rank("p9") == 1 and lb.rank("p0") == 10 and lb.rank("nobody") is None
    assert lb.top(3) == [Entry(1, "p9", 90), Entry(2, "p8", 80), Entry(3, "p7", 70)]
    assert len(lb.top(100)) == 10
    assert [e.rank for e in lb.page(2, 4)] == [5, 6, 7, 8]
    assert [e.member for e in lb.page(3, 4)] == ["p1", "p0"]  # a short last page
    assert lb.page(4, 4) == []
    assert [e.rank for e in lb.around("p5", 2)] == [3, 4, 5, 6, 7]
    assert [e.member for e in lb.around("p9", 2)] == ["p9", "p8", "p7"]  # first: nothing above
    assert [e.member for e in lb.around("p0", 2)] == ["p2", "p1", "p0"]  # last: nothing below
    assert lb.around("p4", 0) == [Entry(6, "p4", 40)]
    assert lb.around("nobody", 3) == []
    assert lb.remove("p9", "nobody") == 1
    assert lb.rank("p8") == 1 and lb.remove() == 0


def test_add_returns_totals_and_rejects_leaving_the_range(redis_backend):
    lb = make(redis_backend, time_bits=40)
    assert lb.codec.max_points == 2 ** 13 - 1
    assert lb.add("a", 10) == 10
    assert lb.add("a", -4) == 6
    with pytest.raises(ValueError, match="0..8191"):
        lb.add("a", -7)  # below zero
    with pytest.raises(ValueError, match="0..8191"):
        lb.add("a", 8191)  # past max_score
    assert lb.score("a") == 6  # unchanged by the refused adds
    lb.set_score("b", 8191)
    assert lb.score("b") == 8191 and lb.rank("b") == 1


def test_time_past_the_budget_is_refused(redis_backend):
    clock = VirtualClock(2 ** 20)
    lb = make(redis_backend, clock, time_bits=20)
    with pytest.raises(ValueError, match="time_bits=20 is too small"):
        lb.add("a", 1)
    assert lb.size() == 0


def test_plain_mode_allows_floats_and_negative_deltas(redis_backend):
    lb = make(redis_backend, tie_break="none")
    assert lb.add("a", 1.5) == 1.5
    assert lb.add("a", -0.5) == 1
    assert lb.updated_at("a") is None
    with pytest.raises(ValueError):
        lb.set_score("a", -1)


def test_concurrent_adds_lose_nothing(redis_backend):
    boards = [make(redis_backend), make(redis_backend, name="plain", tie_break="none")]
    per, threads = 50, 6
    barrier = threading.Barrier(threads, timeout=10)

    def worker(i):
        barrier.wait()
        for _ in range(per):
            for lb in boards:
                lb.add("hot", 1)
                lb.add(f"p{i}", 2)

    run_workers(worker, threads, timeout=60)
    for lb in boards:
        assert lb.score("hot") == per * threads
        assert sorted(lb.score(f"p{i}") for i in range(threads)) == [2 * per] * threads


def test_naive_read_modify_write_loses_updates(redis_backend):
    lb = make(redis_backend)
    writers, rounds = 4, 5
    barrier = threading.Barrier(writers, timeout=10)

    def worker(_i):
        for _ in range(rounds):
            lb.add_naive("hot", 1, between=barrier.wait)  # all read the same total, then all write

    run_workers(worker, writers, timeout=60)
    assert lb.score("hot") == rounds  # writers * rounds updates, only one per round survived


def test_daily_rotation_and_merge_on_a_virtual_clock(redis_backend):
    clock = VirtualClock(3 * DAY + 100)  # 1970-01-04
    lb = make(redis_backend, clock, period="daily", keep=3)
    assert lb.period_key() == "1970-01-04"
    lb.add("alice", 10)
    lb.add("bob", 10)
    clock.advance(DAY)
    lb.add("bob", 5)
    clock.advance(DAY)
    lb.add("alice", 7)
    assert lb.periods() == ["1970-01-04", "1970-01-05", "1970-01-06"]
    assert lb.last(3) == lb.periods()
    assert [e.member for e in lb.top()] == ["alice"]  # today's board only
    assert lb.score("bob", period="1970-01-04") == 10
    merged = lb.merge(lb.last(3))
    # alice 17, bob 15; both reached their merged total by their latest update
    assert lb.top(period=merged) == [Entry(1, "alice", 17), Entry(2, "bob", 15)]
    ttl = lb.client.ttl(lb.key())
    assert 0 < ttl <= 4 * DAY  # backstop: rest of today + keep days
    assert lb.rotate() == []  # 3 days written, 3 kept
    clock.advance(DAY)  # 01-07: keep 01-05 .. 01-07
    assert lb.rotate() == ["1970-01-04"]
    clock.advance(DAY)
    assert lb.rotate() == ["1970-01-05"]
    assert lb.rotate() == []
    assert lb.periods() == ["1970-01-06"]
    assert lb.size(period="1970-01-04") == 0
    lb.clear()
    assert lb.keyspace.keys() == []


def test_merge_breaks_ties_by_finish_time_and_plain_mode_sums(redis_backend):
    clock = VirtualClock(0)
    lb = make(redis_backend, clock, period="daily")
    lb.add("bob", 5)
    lb.add("alice", 5)
    clock.advance(DAY)
    lb.add("alice", 5)  # alice finishes her 10 first ...
    clock.advance(10)
    lb.add("bob", 5)  # ... bob 10 s later
    assert [e.member for e in lb.top(period=lb.merge(lb.last(2), dest="week"))] == ["alice", "bob"]
    plain = make(redis_backend, clock, name="plain", tie_break="none", period="weekly")
    plain.add("x", 2.5)
    assert plain.period_key(0) == "1970-W01" and plain.period_start(0) == -3 * DAY  # Monday 1969-12-29
    assert plain.score("x", period=plain.merge([plain.period_key()])) == 2.5


def test_weekly_labels_follow_iso_weeks():
    lb = Leaderboard("w", clock=VirtualClock(), period="weekly")
    monday = lb.period_start(10 * DAY)  # 1970-01-11 is a Sunday
    assert monday == 4 * DAY  # Monday 1970-01-05
    assert lb.period_key(monday) == lb.period_key(monday + 7 * DAY - 1) == "1970-W02"
    assert lb.last(2, 10 * DAY) == ["1970-W01", "1970-W02"]


def test_bad_input(redis_backend):
    lb = make(redis_backend)
    with pytest.raises(TypeError, match="member"):
        lb.add(None, 1)
    with pytest.raises(ValueError, match="member"):
        lb.add("", 1)
    with pytest.raises(TypeError, match="points must be an int"):
        lb.add("a", 1.5)  # composite scores hold integer points
    with pytest.raises(ValueError, match="n must be >= 1"):
        lb.top(0)
    with pytest.raises(ValueError, match="page must be >= 1"):
        lb.page(0)
    with pytest.raises(ValueError, match="k must be >= 0"):
        lb.around("a", -1)
    with pytest.raises(ValueError, match="tie_break"):
        make(redis_backend, tie_break="latest")
    with pytest.raises(ValueError, match="period"):
        make(redis_backend, period="hourly")
    with pytest.raises(ValueError, match="max_score"):
        make(redis_backend, time_bits=32, max_score=2 ** 22)
    with pytest.raises(ValueError, match="name"):
        make(redis_backend, name="a:b")
    with pytest.raises(ValueError, match="periods"):
        lb.merge([])
    with pytest.raises(ValueError, match="last"):
        lb.last(1)  # period="all"
    with pytest.raises(TypeError, match="keyspace"):
        Leaderboard("x", keyspace="nope")
    assert lb.size() == 0
