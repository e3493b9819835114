"""hcedu.patterns.bloom: sizing formulas, no false negatives, measured FP rate near p, concurrency, bad input."""

from __future__ import annotations

import math

import pytest

from hcedu.backend import Keyspace
from hcedu.patterns import bloom as bloom_mod
from hcedu.patterns.bloom import BloomFilter, false_positive_rate, optimal_bits, optimal_hashes

from helpers import run_workers

pytestmark = pytest.mark.on_cluster  # every redis_backend test here also runs on the cluster rung


def make(redis_backend, **kw):
    c = redis_backend.client()
    return BloomFilter(c, keyspace=Keyspace("t-bloom", c), **kw)


def test_sizing_formulas():
    # the textbook numbers: 1000 items at 1 % -> 9586 bits (~9.6 bits/item), 7 hashes
    assert optimal_bits(1000, 0.01) == 9586
    assert optimal_hashes(9586, 1000) == 7
    assert optimal_bits(1_000_000, 0.001) == 14_377_588
    assert optimal_hashes(14_377_588, 1_000_000) == 10
    assert math.isclose(false_positive_rate(9586, 7, 1000), 0.01, rel_tol=0.02)
    assert false_positive_rate(9586, 7, 0) == 0.0
    assert false_positive_rate(9586, 7, 2000) > 0.1  # overfilled: the rate climbs fast


def test_positions_are_deterministic_and_in_range(redis_backend):
    b = make(redis_backend, capacity=100, error_rate=0.05)
    p = b.positions("item-1")
    assert p == b.positions("item-1") == b.positions(b"item-1")
    assert len(p) == b.hashes and all(0 <= x < b.bits for x in p)
    assert b.positions(7) == b.positions("7")
    assert p != b.positions("item-2")


def in_bitmap(raw_client, b):
    """``item -> bool``: are all of ``item``'s bits set in the filter's bitmap as stored now (read once with
    ``raw_client``, a client of the same store that does not decode responses)."""
    raw = raw_client.get(b.key) or b""

    def is_set(i):  # SETBIT numbers bits from the most significant bit of byte 0
        return (i >> 3) < len(raw) and (raw[i >> 3] >> (7 - (i & 7))) & 1

    return lambda item: all(is_set(p) for p in b.positions(item))


def test_no_false_negatives_and_fp_rate_near_p(redis_backend):
    b = make(redis_backend, capacity=2000, error_rate=0.02)
    assert b.add_many(f"id:{i}" for i in range(2000)) >= 1990  # a few new items may already be false positives
    stored = in_bitmap(redis_backend.client(decode_responses=False), b)
    # might_contain (one CHECK script per item) agrees with the stored bitmap on a sample of present and
    # absent items (false positives included); the full counts below read the bitmap itself (12,000
    # script calls took 19 s on the embedded Redis, a third of this file's time)
    for item in [f"id:{i}" for i in range(0, 2000, 10)] + [f"absent:{i}" for i in range(0, 10_000, 25)]:
        assert b.might_contain(item) == stored(item), item
    assert all(stored(f"id:{i}") for i in range(2000))  # no false negatives, ever
    trials = 10_000
    fp = sum(stored(f"absent:{i}") for i in range(trials)) / trials
    # theory says ~2 %; 10,000 trials give a standard error of ~0.14 %: allow a wide band
    assert 0.01 <= fp <= 0.035, fp
    assert math.isclose(b.estimated_fp_rate(), 0.02, rel_tol=0.15)
    assert b.bits_set() <= b.bits


def test_add_reports_new_and_counts(redis_backend):
    b = make(redis_backend, capacity=100, error_rate=0.01)
    assert "a" not in b
    assert b.add("a") is True
    assert b.add("a") is False  # already there
    assert "a" in b and b.count() == 1
    b.clear()
    assert "a" not in b and b.count() == 0


def test_concurrent_adds_never_lose_an_item(redis_backend):
    b = make(redis_backend, capacity=4000, error_rate=0.01)

    def worker(i):
        for j in range(250):
            b.add(f"w{i}:{j}")

    run_workers(worker, 8)
    stored = in_bitmap(redis_backend.client(decode_responses=False), b)
    assert all(stored(f"w{i}:{j}") for i in range(8) for j in range(250))


def test_matches_redisbloom_when_available():
    """Compare with RedisBloom's BF.ADD/BF.EXISTS (fakeredis[bf] needs pyprobables): same no-false-negative
    guarantee and an FP rate in the same range."""
    pytest.importorskip("probables", reason="pyprobables (a dev dependency) is not installed: BF.* comparison skipped")
    import fakeredis

    server = fakeredis.FakeServer()
    r = fakeredis.FakeRedis(server=server, decode_responses=True)
    r.execute_command("BF.RESERVE", "ref", 0.01, 1000)
    ours = BloomFilter(r, capacity=1000, error_rate=0.01, keyspace=Keyspace("t-bloom-ref", r))
    def ref(command, items):  # one pipeline per batch of BF.* calls
        pipe = r.pipeline(transaction=False)
        for x in items:
            pipe.execute_command(command, "ref", x)
        return [int(v) for v in pipe.execute()]

    ref("BF.ADD", [f"id:{i}" for i in range(1000)])
    ours.add_many(f"id:{i}" for i in range(1000))
    absent = [f"no:{i}" for i in range(5000)]
    ref_fp = sum(ref("BF.EXISTS", absent)) / len(absent)
    stored = in_bitmap(fakeredis.FakeRedis(server=server), ours)  # might_contain == stored: see above
    assert all(stored(f"id:{i}") for i in range(1000))
    our_fp = sum(stored(x) for x in absent) / len(absent)
    assert all(ref("BF.EXISTS", [f"id:{i}" for i in range(1000)]))
    assert abs(ref_fp - our_fp) < 0.02


def test_bad_input(redis_backend):
    c = redis_backend.client()
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        BloomFilter(c, capacity=0)
    with pytest.raises(TypeError, match="capacity must be an int"):
        BloomFilter(c, capacity=1.5)
    with pytest.raises(ValueError, match="error_rate must be > 0"):
        BloomFilter(c, capacity=10, error_rate=0)
    with pytest.raises(ValueError, match="error_rate must be <= 0.5"):
        BloomFilter(c, capacity=10, error_rate=0.9)
    with pytest.raises(ValueError, match="more than a Redis string holds"):
        BloomFilter(c, capacity=10**10, error_rate=1e-9)
    with pytest.raises(TypeError, match="client must be a redis-py client"):
        BloomFilter("redis://", capacity=10)
    b = BloomFilter(c, capacity=10, keyspace=Keyspace("t-bloom", c))
    with pytest.raises(TypeError, match="item must be a str, int or bytes"):
        b.add(1.5)
    with pytest.raises(TypeError, match="item must be"):
        None in b
    with pytest.raises(ValueError, match="batch must be >= 1"):
        b.add_many(["a"], batch=0)
    assert bloom_mod.MAX_BITS == 2 ** 32
