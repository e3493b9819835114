"""Leaderboard lab: the game is seeded and sane, ties/precision/concurrency show what the chapter claims,
latency returns the right shape (never timed), charts draw."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hcedu.lab import boardlab  # noqa: E402


@pytest.fixture(scope="module")
def frame():
    return boardlab.game(players=8, duration=300, step=10, top=4, seed=5)


def test_game_is_seeded_and_shaped(frame):
    pd.testing.assert_frame_equal(frame, boardlab.game(players=8, duration=300, step=10, top=4, seed=5))
    assert list(frame.columns) == ["t", "rank", "member", "points"]
    assert len(frame) == 30 * 4
    for _, snap in frame.groupby("t"):
        assert list(snap["rank"]) == [1, 2, 3, 4]
        assert snap["points"].is_monotonic_decreasing  # a top-N is sorted, best first
        assert snap["member"].is_unique
    # totals never go down (points are only ever added)
    for _, g in frame.groupby("member"):
        assert g["points"].is_monotonic_increasing
    assert not frame.equals(boardlab.game(players=8, duration=300, step=10, top=4, seed=6))


def test_game_on_a_given_client(redis_client):
    f = boardlab.game(players=4, duration=50, step=10, top=2, client=redis_client)
    assert len(f) == 10
    assert not [k for k in redis_client.scan_iter("hcedu:boardlab:*")]  # cleaned up


def test_ties_plain_zset_orders_by_name_and_composite_by_time(redis_client):
    t = boardlab.ties(client=redis_client)
    assert list(t["rank: plain ZSET"]) == [4, 3, 2, 1]  # alice got there first and ranks last
    assert list(t["rank: earliest first"]) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="distinct"):
        boardlab.ties(["a", "a"])


def test_precision_past_2_53_collides(redis_client):
    p = boardlab.precision(client=redis_client)
    inside, outside = p[~p["past 2**53"]], p[p["past 2**53"]]
    assert inside["exact"].all() and list(inside["rank"]) == [3, 4]  # alice earlier -> above bob
    assert outside["stored"].nunique() == 1  # two different times, one stored score
    assert not outside["exact"].all()
    assert list(outside["rank"]) == [2, 1]  # carol was earlier but dave (by name) ranks first


def test_latency_shape_only():
    f = boardlab.latency(sizes=(100, 1000), reps=5, full_reps=1, batch=300)
    assert list(f.columns) == ["size", "op", "latency"]
    assert sorted(f["size"].unique()) == [100, 1000]
    counts = f.groupby(["size", "op"]).size()
    assert counts.loc[(100, "rank(m)")] == 5 and counts.loc[(1000, "fetch all (O(N))")] == 1
    assert (f["latency"] > 0).all()
    fig = boardlab.chart_latency(f)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 4


def test_concurrency_naive_loses_and_atomic_does_not(redis_client):
    c = boardlab.concurrency(threads=4, updates=10, client=redis_client)
    assert c.loc["naive ZSCORE + ZADD", "final"] == 10  # lockstep: one update per round survives
    assert c.loc["naive ZSCORE + ZADD", "lost"] == 30
    assert c.loc["ZINCRBY", "lost"] == 0 and c.loc["Lua add (tie-break)", "lost"] == 0
    assert (c["expected"] == 40).all()


def test_chart_bump_draws_every_player_seen(frame):
    fig = boardlab.chart_bump(frame)
    assert len(fig.axes[0].lines) == frame["member"].nunique()


def test_bad_input():
    with pytest.raises(ValueError, match="players"):
        boardlab.game(players=1)
    with pytest.raises(ValueError, match="top"):
        boardlab.game(players=3, top=4)
    with pytest.raises(TypeError, match="threads"):
        boardlab.concurrency(threads="8")
    with pytest.raises(ValueError, match="sizes"):
        boardlab.latency(sizes=(1,))


def test_memory_reports_the_listpack_switch_and_bytes_per_member(real_redis_server):
    """On a real server: listpack up to 128 members (and 64-byte members), skiplist past either limit, and a
    per-member cost of the order of a hundred bytes; its keys are cleaned up."""
    import redis

    client = redis.Redis.from_url(real_redis_server.url, decode_responses=True)
    try:
        before = client.dbsize()
        mem = boardlab.memory(client, members=20_000)
        assert mem["encoding at 128 members"] == "listpack" and mem["encoding at 129 members"] == "skiplist"
        assert mem["encoding with a 65-byte member"] == "skiplist"
        assert 40 < mem["bytes_per_member"] < 300, mem
        assert client.dbsize() == before
    finally:
        client.close()
