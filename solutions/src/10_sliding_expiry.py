"""Generator for solutions/10_sliding_expiry.ipynb (the exercise is generated from it by `hcedu build-exercises`)."""
from pathlib import Path

from hcedu.course.nbbuild import build, code, md

ROOT = Path(__file__).resolve().parents[2]

cells = [
    md("""
    # Exercise 10: sliding expiry without the race

    A session is a string key (`ex10:sess:<id>` → user name) with a TTL. On every request the middleware
    must find out whether the session is alive **and** push its TTL back to `ttl` seconds. Write
    `load_and_slide(client, key, ttl)` that

    1. returns the stored value if the session is live, with its TTL reset to `ttl`;
    2. returns `None` if it is not, without creating anything;
    3. never lets in a session that was logged out (or expired) while it was running.

    The source does `EXISTS`, then `EXPIRE`: two commands, and a logout that lands between them is let in.
    Do the check and the slide in one step: `GETEX key EX ttl` (Redis 6.2+; redis-py
    `client.getex(key, ex=ttl)`) reads the value and resets the TTL atomically. (`EXPIRE`'s own reply — 1 if
    the key existed — also works as the check, but you still need the value.)
    """),
    code("""
    def load_and_slide(client, key: str, ttl: int):
        \"\"\"Return the session stored at ``key`` and reset its TTL to ``ttl`` seconds, in one atomic step;
        None if there is no live session.\"\"\"
        ### BEGIN SOLUTION
        return client.getex(key, ex=ttl)
        ### END SOLUTION
    """),
    md("""
    Try it on the embedded Redis:
    """),
    code("""
    from hcedu import backend

    r = backend.connect()
    r.set("ex10:try:sess", "alice", ex=5)
    try:
        value = load_and_slide(r, "ex10:try:sess", 1800)
        print("value:", value, "| TTL slid to ~1800 s:", 1799 <= r.ttl("ex10:try:sess") <= 1800,
              "| missing session:", load_and_slide(r, "ex10:try:none", 1800))
    except NotImplementedError:
        print("… write load_and_slide() above first")
    finally:
        r.delete("ex10:try:sess")
    """),
    md("""
    ## Check

    The race checks run your function on a client that logs the session out right before your second Redis
    command: a check-then-act version fails every time; a one-command version has no gap to land in.
    """),
    code("""
    from hcedu.course import check

    check.sliding_expiry(load_and_slide)
    """),
    md("""
    **Going further.** Store the session as a HASH instead (so fields can be updated independently).
    `GETEX` no longer applies: write the same lookup as a Lua script (`client.register_script`) that runs
    `HGETALL` and, if the hash is not empty, `EXPIRE`. Compare `hcedu.patterns.session.GET_LUA`, which also
    enforces an absolute lifetime cap.
    """),
]

if __name__ == "__main__":
    print(build(ROOT / "solutions" / "10_sliding_expiry.ipynb", cells))
