"""Exercise 13 (earliest-first tie-break in one score, and shared ranks): wrong solutions a learner writes are
rejected on both backends with a verdict naming the mistake; the reference and other correct designs pass."""

from __future__ import annotations

import pytest

from hcedu.course import check
from helpers import assert_accepted, assert_rejected


# -- encode / decode -------------------------------------------------------------------------------------

def check_budget(points, ts, time_bits):
    if not 0 <= ts < 2 ** time_bits:
        raise ValueError(f"ts out of range: {ts}")
    if not 0 <= points < 2 ** (53 - time_bits):
        raise ValueError(f"points out of range: {points}")


def encode_ok(points, ts, time_bits):
    check_budget(points, ts, time_bits)
    return points * 2 ** time_bits + (2 ** time_bits - 1 - ts)


def decode_ok(score, time_bits):
    points, code = divmod(int(score), 2 ** time_bits)
    return points, 2 ** time_bits - 1 - code


def encode_shift(points, ts, time_bits):
    """The same with shifts and a mask: another correct spelling."""
    check_budget(points, ts, time_bits)
    mask = (1 << time_bits) - 1
    return (points << time_bits) | (mask ^ ts)


def decode_shift(score, time_bits):
    s, mask = int(score), (1 << time_bits) - 1
    return s >> time_bits, mask ^ (s & mask)


def test_reference_and_shift_spellings_are_accepted(redis_backend):
    for enc, dec in [(encode_ok, decode_ok), (encode_shift, decode_shift)]:
        assert_accepted(check.tie_break(enc, dec, client=redis_backend.client()))


def encode_later_wins(points, ts, time_bits):
    """Wrong tie-break order: the raw time in the low bits ranks the later player first."""
    check_budget(points, ts, time_bits)
    return points * 2 ** time_bits + ts


def decode_later_wins(score, time_bits):
    return divmod(int(score), 2 ** time_bits)


def encode_fraction(points, ts, time_bits):
    """Float precision: the time as a decimal fraction after the points (not an integer; the double rounds it)."""
    check_budget(points, ts, time_bits)
    return points + (2 ** time_bits - 1 - ts) / 10 ** 10


def decode_fraction(score, time_bits):
    points = int(score)
    return points, 2 ** time_bits - 1 - round((score - points) * 10 ** 10)


def encode_decimal(points, ts, time_bits):
    """Float precision: a decimal shift of 10**10 overflows 53 bits for big point totals."""
    check_budget(points, ts, time_bits)
    return float(points * 10 ** 10 + (10 ** 10 - 1 - ts))


def decode_decimal(score, time_bits):
    points, code = divmod(int(score), 10 ** 10)
    return points, 10 ** 10 - 1 - code


def decode_rounding(score, time_bits):
    """round() instead of floor division: any code in the upper half of the low bits bumps the points."""
    points = round(score / 2 ** time_bits)
    return points, 2 ** time_bits - 1 - (int(score) - points * 2 ** time_bits)


def encode_unchecked(points, ts, time_bits):
    """No budget check: an out-of-range value silently becomes a wrong score."""
    return points * 2 ** time_bits + (2 ** time_bits - 1 - ts)


def encode_off_by_one_check(points, ts, time_bits):
    """The budget check with <= instead of <: ts = 2**time_bits slips through into the points bits."""
    if not 0 <= ts <= 2 ** time_bits or not 0 <= points <= 2 ** (53 - time_bits):
        raise ValueError("out of range")
    return points * 2 ** time_bits + (2 ** time_bits - 1 - ts)


def encode_inverted_off_by_one(points, ts, time_bits):
    """Inverts with 2**time_bits - ts: ts = 0 carries into the points."""
    check_budget(points, ts, time_bits)
    return points * 2 ** time_bits + (2 ** time_bits - ts)


def decode_inverted_off_by_one(score, time_bits):
    points, code = divmod(int(score), 2 ** time_bits)
    return points, 2 ** time_bits - code


def encode_32(points, ts, time_bits):
    """Hard-coded for 32 bits: every other width breaks."""
    return encode_ok(points, ts, 32)


def decode_32(score, time_bits):
    return decode_ok(score, 32)


def encode_as_text(points, ts, time_bits):
    """Returns the score as a string ('it goes to Redis as text anyway')."""
    return str(encode_ok(points, ts, time_bits))


def decode_as_dict(score, time_bits):
    """Returns a dict instead of the (points, ts) pair."""
    points, ts = decode_ok(score, time_bits)
    return {"points": points, "ts": ts}


def decode_floats(score, time_bits):
    """divmod straight on Redis's float: the right numbers, as floats (100.0, 10.0)."""
    points, code = divmod(score, 2 ** time_bits)
    return points, 2 ** time_bits - 1 - code


def encode_asserts(points, ts, time_bits):
    """The budget enforced with assert: AssertionError instead of ValueError (and gone under python -O)."""
    assert 0 <= ts < 2 ** time_bits, f"ts {ts} does not fit in {time_bits} bits"
    assert 0 <= points < 2 ** (53 - time_bits), f"points {points} do not fit"
    return points * 2 ** time_bits + (2 ** time_bits - 1 - ts)


def encode_minus_ts(points, ts, time_bits):
    """'Earlier first' by subtracting the time: 0 points at ts = 1 is the score -1."""
    check_budget(points, ts, time_bits)
    return points * 2 ** time_bits - ts


def decode_minus_ts(score, time_bits):
    s = int(score)
    points = -(-s // 2 ** time_bits)
    return points, points * 2 ** time_bits - s


WRONG_ENCODINGS = [
    ("later wins the tie", encode_later_wins, decode_later_wins, ["earlier"]),
    ("time as a fraction", encode_fraction, decode_fraction, ["exact integer"]),
    ("decimal shift past 2**53", encode_decimal, decode_decimal, ["exact integer", "round trip", "decode"]),
    ("round() in decode", encode_ok, decode_rounding, ["decode(encode("]),
    ("no budget check", encode_unchecked, decode_ok, ["ValueError"]),
    ("<= in the budget check", encode_off_by_one_check, decode_ok, ["ValueError"]),
    ("2**bits - ts", encode_inverted_off_by_one, decode_inverted_off_by_one, ["exact integer", "decode(encode("]),
    ("hard-coded 32 bits", encode_32, decode_32, ["time_bits", "decode(encode(", "ValueError"]),
    ("score as text", encode_as_text, decode_ok, ["must return a number"]),
    ("decode returns a dict", encode_ok, decode_as_dict, ["must return (points, ts)"]),
    ("decode returns floats", encode_ok, decode_floats, ["must be ints, not float"]),
    ("budget enforced with assert", encode_asserts, decode_ok, ["raised AssertionError", "ValueError is required"]),
    ("- ts: negative scores", encode_minus_ts, decode_minus_ts, ["is negative"]),
]


@pytest.mark.parametrize("encode, decode, mentions", [w[1:] for w in WRONG_ENCODINGS],
                         ids=[w[0] for w in WRONG_ENCODINGS])
def test_wrong_encoding_is_rejected(encode, decode, mentions, redis_backend):
    assert_rejected(check.tie_break(encode, decode, client=redis_backend.client()), *mentions)


# -- shared rank ----------------------------------------------------------------------------------------

def rank_ok(r, key, member):
    """The reference: 1 + how many score strictly more (ZCOUNT with an exclusive '(' bound)."""
    score = r.zscore(key, member)
    if score is None:
        return None
    return r.zcount(key, f"({score}", "+inf") + 1


def rank_script(r, key, member):
    """The same in one Lua script: score and count read atomically."""
    script = r.register_script("""
    local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
    if not s then return false end
    return redis.call('ZCOUNT', KEYS[1], '(' .. s, '+inf') + 1
    """)
    return script(keys=[key], args=[member])


def test_correct_rank_designs_are_accepted(redis_backend):
    for rank in (rank_ok, rank_script, rank_repr_bound):
        assert_accepted(check.shared_rank(rank, client=redis_backend.client()))


def rank_zrevrank(r, key, member):
    """Position, not rank: ties get 1, 2."""
    pos = r.zrevrank(key, member)
    return None if pos is None else pos + 1


def rank_zrank(r, key, member):
    """ZRANK counts from the lowest score: the leader comes last."""
    pos = r.zrank(key, member)
    return None if pos is None else pos + 1


def rank_inclusive(r, key, member):
    """ZCOUNT with an inclusive bound counts the player and everyone tied with them."""
    score = r.zscore(key, member)
    return None if score is None else r.zcount(key, score, "+inf")


def rank_no_plus_one(r, key, member):
    """Forgets the + 1: the leader ranks 0."""
    score = r.zscore(key, member)
    return None if score is None else r.zcount(key, f"({score}", "+inf")


def rank_truthy(r, key, member):
    """Truthiness test: a player with 0 points is 'not on the board'."""
    score = r.zscore(key, member)
    if not score:
        return None
    return r.zcount(key, f"({score}", "+inf") + 1


def rank_dense(r, key, member):
    """Dense ranking (1, 1, 2) from the whole board."""
    score = r.zscore(key, member)
    if score is None:
        return None
    higher = {s for _, s in r.zrange(key, 0, -1, desc=True, withscores=True) if s > score}
    return len(higher) + 1


def rank_whole_board(r, key, member):
    """Right numbers, wrong cost: downloads every member to rank one."""
    rows = r.zrange(key, 0, -1, desc=True, withscores=True)
    score = dict(rows).get(member)
    if score is None:
        return None
    return sum(1 for _, s in rows if s > score) + 1


def rank_plus_one(r, key, member):
    """'Strictly more points' as at least score + 1: integer points assumed, wrong for 70.9 / 70.5 / 70.2."""
    score = r.zscore(key, member)
    if score is None:
        return None
    return r.zcount(key, score + 1, "+inf") + 1


def rank_format_g(r, key, member):
    """Formats the bound with :g to avoid '100.0': 6 significant digits, so 1234568 and 1234567 tie."""
    score = r.zscore(key, member)
    if score is None:
        return None
    return r.zcount(key, f"({score:g}", "+inf") + 1


def rank_repr_bound(r, key, member):
    """Correct too: the exclusive bound built with repr() (exact for every double)."""
    score = r.zscore(key, member)
    return None if score is None else r.zcount(key, "(" + repr(score), "+inf") + 1


WRONG_RANKS = [
    (rank_zrevrank, ["share a rank"]),
    (rank_zrank, ["share a rank", "most points rank 1"]),
    (rank_inclusive, ["most points rank 1"]),
    (rank_no_plus_one, ["most points rank 1"]),
    (rank_truthy, ["gus", "0 points"]),
    (rank_dense, ["dense ranking"]),
    (rank_whole_board, ["read the board"]),
    (rank_plus_one, ["not score + 1"]),
    (rank_format_g, ["big scores", ":g"]),
]


@pytest.mark.parametrize("rank, mentions", WRONG_RANKS, ids=[w[0].__name__ for w in WRONG_RANKS])
def test_wrong_rank_is_rejected(rank, mentions, redis_backend):
    assert_rejected(check.shared_rank(rank, client=redis_backend.client()), *mentions)
