"""Checker for exercise 13: the earliest-first tie-break as one composite ZSET score, and shared ranks on a
plain points board."""

from __future__ import annotations

from numbers import Integral
from typing import Any, Callable

import redis

from . import Verdict, run_checks
from ._wire import fresh_client, spy_client

__all__ = ["tie_break", "shared_rank"]


def _raises_value_error(fn: Callable[[], Any]) -> BaseException | bool:
    """True if ``fn()`` raises ValueError, False if it returns; another exception (an ``assert``'s
    AssertionError, say) is returned, for the caller to name."""
    try:
        fn()
    except ValueError:
        return True
    except NotImplementedError:
        raise
    except Exception as exc:
        return exc
    return False


def _score(s: Any, call: str) -> Any:
    assert isinstance(s, (int, float)) and not isinstance(s, bool), f"{call} must return a number, it returned {s!r}"
    return s


def _pair(got: Any, call: str) -> tuple:
    assert isinstance(got, (tuple, list)) and len(got) == 2, f"{call} must return (points, ts), it returned {got!r}"
    return tuple(got)


def tie_break(encode: Callable[[int, int, int], Any], decode: Callable[[Any, int], Any],
              time_bits: int = 32, client: redis.Redis | None = None) -> Verdict:
    """Check ``encode(points, ts, time_bits) -> score`` and ``decode(score, time_bits) -> (points, ts)``:
    more points rank higher; on equal points the earlier ``ts`` ranks higher; every score is an exact integer
    in 0 .. 2**53 - 1 that round-trips, at the edges of the bit budget too, and ``decode`` gives ints back
    (not the floats Redis hands it); anything outside the budget raises ``ValueError`` (not AssertionError); and it works for other ``time_bits`` than 32 and on a real sorted set (``client``'s store,
    key ``ex13:board``; default a private embedded store)."""
    max_ts = 2 ** time_bits - 1
    max_points = 2 ** (53 - time_bits) - 1

    def more_points_win() -> None:
        hi, lo = _score(encode(11, max_ts, time_bits), "encode"), _score(encode(10, 0, time_bits), "encode")
        assert hi > lo, f"11 points late ({hi}) must outrank 10 points early ({lo})"

    def earlier_wins_ties() -> None:
        a, b = _score(encode(10, 5, time_bits), "encode"), _score(encode(10, 6, time_bits), "encode")
        assert a > b, f"10 points at ts=5 ({a}) must outrank 10 points at ts=6 ({b}): earlier first"

    def round_trips_at_edges(bits: int = time_bits) -> None:
        mt, mp = 2 ** bits - 1, 2 ** (53 - bits) - 1
        for points in (0, 1, mp - 1, mp):
            for ts in (0, 1, mt - 1, mt):
                s = _score(encode(points, ts, bits), f"encode({points}, {ts}, {bits})")
                assert not s < 0, (f"encode({points}, {ts}, {bits}) = {s!r} is negative: a score lies in "
                                   f"0 .. 2**53 - 1, with the inverted time (2**time_bits - 1) - ts in the low bits")
                assert float(s) == s and float(s).is_integer() and s < 2 ** 53, \
                    f"encode({points}, {ts}, {bits}) = {s!r} is not an exact integer below 2**53"
                got = _pair(decode(float(s), bits), "decode")
                assert got == (points, ts), f"decode(encode({points}, {ts}, {bits})) gave {got!r}"
                floats = [x for x in got if not isinstance(x, Integral) or isinstance(x, bool)]
                assert not floats, (f"decode(encode({points}, {ts}, {bits})) gave {got!r}: points and ts must be "
                                    f"ints, not {type(floats[0]).__name__} (ts is an integer tick; Redis hands "
                                    f"decode a float: int() it before dividing)")

    def budget_is_enforced() -> None:
        cases = [(max_points + 1, 0, "points = 2**(53 - time_bits)"), (0, max_ts + 1, "ts = 2**time_bits"),
                 (-1, 0, "points = -1"), (0, -1, "ts = -1")]
        for points, ts, what in cases:
            raised = _raises_value_error(lambda: encode(points, ts, time_bits))
            assert not isinstance(raised, BaseException), (
                f"encode raised {type(raised).__name__} ({str(raised).strip() or 'no message'}) for {what}, where "
                f"ValueError is required" + (": an assert is not input validation (python -O removes it); "
                                            "raise ValueError" if isinstance(raised, AssertionError) else ""))
            assert raised, f"encode must raise ValueError for {what}: the score would not fit in 53 exact bits"

    def other_widths() -> None:
        for bits in (20, 41):
            round_trips_at_edges(bits)
            assert _score(encode(3, 1, bits), "encode") > encode(3, 2, bits) > encode(2, 0, bits), \
                f"the order is wrong with time_bits={bits}"

    def on_a_sorted_set() -> None:
        r = client if client is not None else fresh_client()
        r.delete("ex13:board")
        players = {"alice": (100, 10), "bob": (100, 12), "carol": (101, 50), "dave": (100, 11)}
        r.zadd("ex13:board", {m: float(_score(encode(p, t, time_bits), "encode")) for m, (p, t) in players.items()})
        got = r.zrange("ex13:board", 0, -1, desc=True)
        want = ["carol", "alice", "dave", "bob"]
        assert got == want, f"ZRANGE ... REV gave {got}, expected {want} (most points, then earliest)"
        for m, (p, t) in players.items():
            back = _pair(decode(r.zscore("ex13:board", m), time_bits), "decode")
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
        ("ZRANGE ... REV on a real sorted set ranks most points, then earliest", on_a_sorted_set,
         "Redis sorts by score only, and REV lists the highest first: the encoded score alone must order them"),
    ])


RANKS_KEY = "ex13:ranks"


def shared_rank(rank: Callable[[Any, str, str], Any], client: redis.Redis | None = None) -> Verdict:
    """Check ``rank(r, key, member) -> int | None`` on a plain points board: standard competition ranking
    (equal points share a rank, the next rank skips: 1, 1, 3), highest points first, ``None`` for a member
    not on the board (on boards with ties, 0 points, fractional scores less than a point apart, and big scores
    of 7 to 16 digits, tie-break-encoded ones too), and without reading the board: at most 4 commands, no reply
    longer than 10 elements on a 2,000-member board.

    ``client``: a redis client of the store to check on (key ``ex13:ranks`` is overwritten); default a private
    embedded store.
    """
    base = client if client is not None else fresh_client()
    board = {"ann": 100, "ben": 100, "cat": 90, "dan": 80, "eve": 80, "hal": 70.9, "fay": 70.5, "ivy": 70.2,
             "gus": 0}
    want = {"ann": 1, "ben": 1, "cat": 3, "dan": 4, "eve": 4, "hal": 6, "fay": 7, "ivy": 8, "gus": 9}
    close = {"hal", "fay", "ivy"}  # less than a point apart
    # big scores: 7 digits, and tie-break scores (points * 2**32 + inverted tick, exercise 13) up to 2**53 - 1
    big = {"kai": 1234568, "lea": 1234567, "max": 1234567, "ned": 100 * 2 ** 32 + 2 ** 32 - 1 - 10,
           "oli": 100 * 2 ** 32 + 2 ** 32 - 1 - 12, "pia": 2 ** 53 - 1, "quinn": 2 ** 53 - 2}
    big_want = {"pia": 1, "quinn": 2, "ned": 3, "oli": 4, "kai": 5, "lea": 6, "max": 6}

    def ranks_of(members: list[str], scores: dict[str, Any] = board) -> dict[str, Any]:
        base.delete(RANKS_KEY)
        base.zadd(RANKS_KEY, scores)
        spy = spy_client(base)
        try:
            return {m: rank(spy, RANKS_KEY, m) for m in members}
        finally:
            spy.close()

    def leaders_share_first() -> None:
        got = ranks_of(["ann", "ben", "cat"])
        assert got["ann"] == got["ben"], f"ann and ben both have 100 points but got ranks {got['ann']} and {got['ben']}"
        assert got["ann"] == 1, f"the players with the most points rank 1, ann got {got['ann']!r}"
        assert got["cat"] == 3, (f"cat is behind two players, so ranks 3 (1, 1, 3), got {got['cat']!r}"
                                 + (": that is dense ranking (1, 1, 2)" if got["cat"] == 2 else ""))

    def whole_board() -> None:
        got = ranks_of(list(board))
        for m, r in got.items():
            assert r is not None, (f"{m} is on the board with {board[m]:g} points but got None"
                                   + (": 0 points is a score (test 'is None', not truthiness)" if not board[m] else ""))
            assert isinstance(r, int) and not isinstance(r, bool), \
                f"rank must return an int (or None), got {r!r} for {m}"
        wrong = {m: r for m, r in got.items() if r != want[m]}
        assert not wrong, f"ranks {wrong} are wrong; expected {want}" + (
            ": hal, fay and ivy score 70.9, 70.5 and 70.2, less than a point apart; 'strictly more points' is the "
            "exclusive bound '(score', not score + 1" if set(wrong) <= close else "")
        got = ranks_of(list(big), big)
        wrong = {m: r for m, r in got.items() if r != big_want[m]}
        assert not wrong, (
            f"on a board of big scores (1234568, 1234567 and tie-break scores up to 2**53 - 1) ranks {wrong} are wrong, "
            f"expected {big_want}: write the score into the bound exactly, as f'({{score}}' does (:g keeps 6 "
            f"significant digits, and rounding merges neighbouring scores)")

    def absent_is_none() -> None:
        got = ranks_of(["nobody"])["nobody"]
        assert got is None, f"a member not on the board has no rank: expected None, got {got!r}"

    def does_not_read_the_board() -> None:
        base.delete(RANKS_KEY)
        base.zadd(RANKS_KEY, {f"p{i:04d}": i // 2 for i in range(2000)})
        spy = spy_client(base)
        try:
            got = rank(spy, RANKS_KEY, "p0001")
            calls, longest = sum(spy.calls.values()), spy.longest_reply
        finally:
            spy.close()
        assert got == 1999, f"p0001 has 0 points and 1,998 players ahead: rank 1999, got {got!r}"
        assert longest <= 10, (f"one reply carried {longest} elements: rank read the board, which costs O(N) on a "
                               f"board of millions")
        assert calls <= 4, f"rank sent {calls} commands for one member"

    return run_checks("shared rank (1, 1, 3)", [
        ("equal points share a rank and the next rank skips", leaders_share_first,
         "a player's rank is 1 + the number of players with strictly more points"),
        ("every rank on boards with ties, zero, fractional and big scores", whole_board,
         "count the scores strictly above this one (an exclusive bound '(score', the score written exactly), "
         "highest first; 0 points is a score"),
        ("a member not on the board gives None", absent_is_none, "ZSCORE returns None for a missing member"),
        ("one rank costs O(log N), not a read of the board", does_not_read_the_board,
         "Redis can count the members in a score range without sending them"),
    ])
