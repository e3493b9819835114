"""Generator for solutions/11_delay_queue_claim.ipynb (the exercise is generated from it by `hcedu build-exercises`)."""
from pathlib import Path

from hcedu.course.nbbuild import build, code, md

ROOT = Path(__file__).resolve().parents[2]

cells = [
    md("""
    # Exercise 11: the atomic claim

    Orders wait in a ZSET `due` scored by their deadline. Write
    `claim(client, due_key, leased_key, now, limit, lease)` so that it

    1. takes up to `limit` items with score ≤ `now`, earliest first,
    2. removes them from `due` and adds them to `leased_key` with score `now + lease` (the lease deadline a
       recoverer uses if the worker dies), and
    3. returns their ids — **each due item to exactly one caller**, however many workers call at once.

    Reading with `ZRANGEBYSCORE` and then removing with `ZREM` in a second command is the bug from the
    chapter: two workers read the same items. Do it in one step: a Lua script
    (`client.register_script(lua)` returns a callable `script(keys=[...], args=[...])`), which Redis runs
    atomically. (A `WATCH`/`MULTI` transaction, or keeping only the items whose `ZREM` returned 1, also
    works.)
    """),
    code("""
    def claim(client, due_key: str, leased_key: str, now: float, limit: int, lease: float) -> list:
        \"\"\"Atomically move up to ``limit`` due items from ``due_key`` to ``leased_key`` (score now + lease).\"\"\"
        ### BEGIN SOLUTION
        lua = \"\"\"
        local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
        for _, id in ipairs(items) do
          redis.call('ZREM', KEYS[1], id)
          redis.call('ZADD', KEYS[2], ARGV[3], id)
        end
        return items
        \"\"\"
        script = client.register_script(lua)
        return list(script(keys=[due_key, leased_key], args=[now, limit, now + lease]))
        ### END SOLUTION
    """),
    md("""
    Try it on the embedded Redis:
    """),
    code("""
    from hcedu import backend

    r = backend.connect()
    r.delete("ex11:try:due", "ex11:try:leased")
    r.zadd("ex11:try:due", {"A": 1800, "B": 1860, "C": 1920})
    try:
        print(claim(r, "ex11:try:due", "ex11:try:leased", 1900, 10, 60),
              r.zrange("ex11:try:leased", 0, -1, withscores=True))
    except NotImplementedError:
        print("… write claim() above first")
    finally:
        r.delete("ex11:try:due", "ex11:try:leased")
    """),
    md("""
    ## Check

    The last check runs 4 concurrent workers over 2,000 due orders, on a client that pauses after every plain
    `ZRANGEBYSCORE` so a two-step claim races every time.
    """),
    code("""
    from hcedu.course import check

    check.delay_claim(claim)
    """),
    md("""
    **Going further.** Write `recover(client, due_key, leased_key, now)`: move items whose lease deadline is
    ≤ `now` back to `due`. Why must it be a script too? (Compare `hcedu.patterns.delayqueue.RECOVER_LUA`.)
    """),
]

if __name__ == "__main__":
    print(build(ROOT / "solutions" / "11_delay_queue_claim.ipynb", cells))
