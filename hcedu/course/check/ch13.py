"""Checker for exercise 13: the earliest-first tie-break as one composite ZSET score."""

from __future__ import annotations

from typing import Any, Callable

import fakeredis

from . import Verdict, run_checks

__all__ = ["tie_break"]


def _raises_value_error(fn: Callable[[], Any]) -> bool:
    try:
        fn()
    except ValueError:
        return True
    return False


def tie_break(encode: Callable[[int, int, int], Any], decode: Callable[[Any, int], Any],
              time_bits: int = 32) -> Verdict:
    """Check ``encode(points, ts, time_bits) -> score`` and ``decode(score, time_bits) -> (points, ts)``:
    more points rank higher; on equal points the earlier ``ts`` ranks higher; every score is an exact integer
    below 2**53 that round-trips, at the edges of the bit budget too; anything outside the budget raises
    ``ValueError``; and it works for other ``time_bits`` than 32 and on a real sorted set."""
    max_ts = 2 ** time_bits - 1
    max_points = 2 ** (53 - time_bits) - 1

    def more_points_win() -> None:
        hi, lo = encode(11, max_ts, time_bits), encode(10, 0, time_bits)
        assert hi > lo, f"11 points late ({hi}) must outrank 10 points early ({lo})"

    def earlier_wins_ties() -> None:
        a, b = encode(10, 5, time_bits), encode(10, 6, time_bits)
        assert a > b, f"10 points at ts=5 ({a}) must outrank 10 points at ts=6 ({b}): earlier first"

    def round_trips_at_edges(bits: int = time_bits) -> None:
        mt, mp = 2 ** bits - 1, 2 ** (53 - bits) - 1
        for points in (0, 1, mp - 1, mp):
            for ts in (0, 1, mt - 1, mt):
                s = encode(points, ts, bits)
                assert float(s) == s and 0 <= s < 2 ** 53, \
                    f"encode({points}, {ts}, {bits}) = {s!r} is not an exact integer below 2**53"
                got = tuple(decode(float(s), bits))
                assert got == (points, ts), f"decode(encode({points}, {ts}, {bits})) gave {got!r}"

    def budget_is_enforced() -> None:
        cases = [(max_points + 1, 0, "points = 2**(53 - time_bits)"), (0, max_ts + 1, "ts = 2**time_bits"),
                 (-1, 0, "points = -1"), (0, -1, "ts = -1")]
        for points, ts, what in cases:
            assert _raises_value_error(lambda: encode(points, ts, time_bits)), \
                f"encode must raise ValueError for {what}: the score would not fit in 53 exact bits"

    def other_widths() -> None:
        for bits in (20, 41):
            round_trips_at_edges(bits)
            assert encode(3, 1, bits) > encode(3, 2, bits) > encode(2, 0, bits), \
                f"the order is wrong with time_bits={bits}"

    def on_a_sorted_set() -> None:
        r = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
        players = {"alice": (100, 10), "bob": (100, 12), "carol": (101, 50), "dave": (100, 11)}
        r.zadd("ex13:board", {m: float(encode(p, t, time_bits)) for m, (p, t) in players.items()})
        got = r.zrange("ex13:board", 0, -1, desc=True)
        want = ["carol", "alice", "dave", "bob"]
        assert got == want, f"ZREVRANGE gave {got}, expected {want} (most points, then earliest)"
        for m, (p, t) in players.items():
            back = tuple(decode(r.zscore("ex13:board", m), time_bits))
            assert back == (p, t), f"{m}: decode of the stored score gave {back!r}, expected {(p, t)}"

    return run_checks("earliest-first tie-break", [
        ("more points always rank higher", more_points_win, "put the points in the high bits: points * 2**time_bits"),
        ("equal points: the earlier time ranks higher", earlier_wins_ties,
         "store the inverted time in the low bits: (2**time_bits - 1) - ts"),
        ("exact round trip at the edges of the budget", round_trips_at_edges,
         "use integer arithmetic (// and %, or divmod) and return ints; decode gets a float from Redis"),
        ("values outside the 53-bit budget raise ValueError", budget_is_enforced,
         "check 0 <= ts < 2**time_bits and 0 <= points < 2**(53 - time_bits) before encoding"),
        ("works for time_bits = 20 and 41", other_widths, "derive every constant from time_bits"),
        ("ZREVRANGE on a real sorted set ranks most points, then earliest", on_a_sorted_set,
         "ZADD the encoded scores; Redis sorts by score, highest first with REV"),
    ])
