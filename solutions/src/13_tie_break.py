"""Generator for solutions/13_tie_break.ipynb (the exercise is generated from it by `hcedu build-exercises`)."""
from pathlib import Path

from hcedu.course.nbbuild import build, code, md

ROOT = Path(__file__).resolve().parents[2]

cells = [
    md("""
    # Exercise 13: tie-break by time

    A Redis sorted set orders equal scores by member name, so on a plain board `bob` outranks `alice` even
    when alice reached 100 points first (chapter 13, "Break it 1"). Fix it by packing both facts into one
    score:

    * `encode(points, ts, time_bits) -> int` — more points always rank higher; on equal points the
      **earlier** `ts` ranks higher. `ts` is an integer tick in `0 .. 2**time_bits - 1`.
    * `decode(score, time_bits) -> (points, ts)` — the inverse. Redis hands scores back as floats.

    A score is an IEEE double, exact only for integers below `2**53`: the time takes the low `time_bits`
    bits, which leaves `53 - time_bits` bits for the points. **Raise `ValueError`** when `points` or `ts`
    does not fit (negative too) instead of writing a score that Redis will silently round.
    """),
    code("""
    def encode(points: int, ts: int, time_bits: int) -> int:
        \"\"\"One ZSET score: more points first, then earliest ``ts``; ValueError outside the 53-bit budget.\"\"\"
        ### BEGIN SOLUTION
        max_ts = 2 ** time_bits - 1
        max_points = 2 ** (53 - time_bits) - 1
        if not 0 <= ts <= max_ts:
            raise ValueError(f"ts must be in 0..{max_ts} (got {ts})")
        if not 0 <= points <= max_points:
            raise ValueError(f"points must be in 0..{max_points} (got {points})")
        return points * 2 ** time_bits + (max_ts - ts)
        ### END SOLUTION


    def decode(score: float, time_bits: int) -> tuple[int, int]:
        \"\"\"``(points, ts)`` of a score made by ``encode``.\"\"\"
        ### BEGIN SOLUTION
        points, code = divmod(int(score), 2 ** time_bits)
        return points, 2 ** time_bits - 1 - code
        ### END SOLUTION
    """),
    md("""
    Try it on the embedded Redis: alice and bob both reach 100 points, alice at tick 10, bob at tick 12.
    """),
    code("""
    from hcedu import backend

    r = backend.connect()
    r.delete("ex13:try")
    try:
        r.zadd("ex13:try", {"bob": encode(100, 12, 32), "alice": encode(100, 10, 32)})
        print(r.zrange("ex13:try", 0, -1, desc=True), decode(r.zscore("ex13:try", "alice"), 32))
    except NotImplementedError:
        print("… write encode() and decode() above first")
    finally:
        r.delete("ex13:try")
    """),
    md("""
    ## Check

    Order, exact round trips at the four corners of the budget (`0`, `max_points` × `0`, `max_ts`), the
    `ValueError`s, two other widths (`time_bits` = 20 and 41) and the order on a real sorted set.
    """),
    code("""
    from hcedu.course import check

    check.tie_break(encode, decode)
    """),
    md("""
    **Going further.** Adding points to a player means *decode, add, re-encode with the time of this
    update*. Why must that be one Lua script rather than `ZSCORE` then `ZADD`? Compare
    `hcedu.patterns.leaderboard.ADD_LUA`, and notice how it formats the score it writes.
    """),
]

if __name__ == "__main__":
    print(build(ROOT / "solutions" / "13_tie_break.ipynb", cells))
