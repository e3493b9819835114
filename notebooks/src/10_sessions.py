"""Generator for notebooks/10_sessions.ipynb (run: python notebooks/src/10_sessions.py)."""
from pathlib import Path

from hcedu.course.nbbuild import build, code, md

ROOT = Path(__file__).resolve().parents[2]

cells = [
    md("""
    # 10 · Sessions with sliding expiry

    > **用户会话管理中的Redis过期机制与Go中间件设计** — 当用户登录后,系统生成唯一Session ID并写入Redis,同时设置TTL,
    > 实现自动失效……使用Go构建Session中间件,可在HTTP请求前统一验证会话有效性。
    >
    > *Users log in; the server stores a session in Redis with a TTL so it dies on its own. Design the
    > session store and the Go middleware that checks the session on every request and keeps active users
    > logged in.*

    A strong answer covers: a random, unguessable session id in an HttpOnly cookie; a Redis key per session
    with an idle TTL that **slides** on every request, done **atomically** (`GETEX`, `EXPIRE`'s return value,
    or one Lua script — never `EXISTS` then `EXPIRE`); an absolute lifetime cap; logging out one device and
    every device; how other servers learn about a logout (pub/sub is at-most-once); why keyspace `expired`
    events are not timers; what the middleware does when Redis is down; and sessions vs JWTs.
    """),
    code("""
    from hcedu.course import setup, finish, drill
    from hcedu.clock import VirtualClock
    from hcedu.patterns.session import SessionStore, NaiveSessionStore, GET_LUA

    ks = setup("10")
    """),
    md("""
    ## Build it: one script checks and slides

    The source's middleware makes two round trips: `Exists(sessionID)`, then `Expire(sessionID, 30*time.Minute)`.
    Between them the session can be logged out (another request, another server) or simply expire — and
    the request is let in anyway. The fix is to make *finding the session alive* and *extending it* one
    step. For a session stored as a string that is one command, `GETEX key EX 1800` (Redis 6.2+), or a bare
    `EXPIRE` whose reply (1 = extended, 0 = no such key) **is** the check.

    `SessionStore` keeps each session as a HASH (so `update` writes only the fields it names, and two
    requests changing different fields never overwrite each other), which `GETEX` cannot read, so the
    lookup is one Lua script — Redis runs it without interleaving any other command:
    """),
    code("""
    print(GET_LUA.strip())
    """),
    md("""
    The deadline is stored **as data** (`expires_at`, on the injected clock) and the key also gets a Redis
    TTL of the same remaining lifetime. On the real clock both agree, and Redis frees idle sessions by
    itself; on a `VirtualClock` the stored deadline decides, so hours of sessions run in a second and
    every output below is the same on every run.
    """),
    code("""
    clock = VirtualClock()
    store = SessionStore(ttl=1800, keyspace=ks, clock=clock, absolute_ttl=8 * 3600)
    sid = store.create("alice", {"cart": ["sku-1"]})
    print("session id:", len(sid), "url-safe chars from secrets.token_urlsafe(32)")
    for minutes in (10, 25, 29):                     # active: each request pushes the deadline 30 min out
        clock.advance(minutes * 60)
        s = store.get(sid)
        print(f"t={clock.now() / 60:5.0f} min  found={s is not None}  expires at {s.expires_at / 60:.0f} min")
    clock.advance(30 * 60)                           # idle for exactly 30 minutes
    print(f"t={clock.now() / 60:5.0f} min  found={store.get(sid) is not None}")
    """),
    md("""
    The middleware is the Go pattern `func(next http.Handler) http.Handler` in WSGI form: a callable
    wrapping the app. It reads the cookie, loads **and slides** the session in that one script, stores it in
    `environ["hcedu.session"]` (Go: `context.WithValue`), answers `401` itself for protected paths, and sets
    the cookie `HttpOnly; SameSite=Lax; Path=/; Secure`. Standard library only:
    """),
    code("""
    from wsgiref.util import setup_testing_defaults
    from hcedu.lab.sessionmw import SessionMiddleware

    def app(environ, start_response):
        s = environ["hcedu.session"]
        if environ["PATH_INFO"] == "/login":
            environ["hcedu.sessions"].login("alice")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"hello {s.user_id if s else 'anonymous'}".encode()]

    mw = SessionMiddleware(app, store)

    def request(path, cookie=None):
        environ = {}
        setup_testing_defaults(environ)
        environ["PATH_INFO"] = path
        if cookie:
            environ["HTTP_COOKIE"] = cookie
        out = {}
        body = b"".join(mw(environ, lambda status, headers, exc=None: out.update(status=status, headers=headers)))
        return out["status"], body.decode(), [v for k, v in out["headers"] if k == "Set-Cookie"]

    status, body, cookies = request("/login")
    cookie = cookies[0].split(";")[0]
    print(status, body, "| Set-Cookie:", cookies[0].replace(cookie.split("=")[1], "<sid>"))
    print(request("/orders", cookie)[:2])
    print(request("/orders")[:2])
    """),
    md("""
    ## Watch it: live sessions over time

    Sixty users arrive over three hours, each active for ~45 minutes with a request every ~5 minutes; 30 %
    log out, the rest just leave. The same seeded users run against three policies: a **fixed** 30-minute
    TTL (set at login, never extended), a **sliding** 30-minute idle timeout, and sliding with a 1-hour
    **absolute cap**. A request that finds its session gone forces the user to log in again.
    """),
    code("""
    from hcedu.lab import sessionlab

    live = sessionlab.live_sessions_over_time()
    sessionlab.relogins(live)
    """),
    code("""
    fig = sessionlab.chart_live(live)
    """),
    md("""
    **Takeaway:** a fixed TTL logs active users out mid-work (the right panel counts users sent back to the
    login page); sliding expiry (almost) never does, at the price of keeping each session
    alive up to 30 minutes after its user left (the gap between the coloured lines and the dashed one),
    and the absolute cap trades a few re-logins for a bound on how long a stolen cookie stays useful.

    Turn the knobs: a longer idle TTL means fewer forced re-logins under a fixed TTL but more sessions kept
    alive for users who already left; a tighter cap means more re-logins for long-active users.
    """),
    code("""
    # NBVAL_IGNORE_OUTPUT
    # (an interactive widget)
    sessionlab.dashboard()
    """),
    md("""

    ## Break it: the EXISTS-then-EXPIRE race

    `NaiveSessionStore.get` is the source's middleware: `EXISTS`, then `EXPIRE` (its reply ignored). Here
    every request runs on its own thread against a real Redis protocol client, and a second thread logs the
    same session out. A `RacingClient` scripts the worst interleaving: the logout runs right before the
    request's **second** Redis command. The atomic store has no second command, so its logout can only land
    before or after the whole lookup:
    """),
    code("""
    race = sessionlab.check_then_act_race(100, mode="scripted", event="logout")
    sessionlab.race_summary(race)
    """),
    code("""
    fig = sessionlab.chart_race(race)
    """),
    md("""
    **Takeaway:** with the interleaving forced, every naive request was let in on a session that had already
    been logged out (its own `EXPIRE` answered 0, and nobody looked); the atomic lookup never was.

    The same happens when the session **expires** in the gap instead of being logged out — the source's
    flowchart ("存在且未过期? → 刷新TTL → 放行") cannot be done in two commands:
    """),
    code("""
    sessionlab.race_summary(sessionlab.check_then_act_race(50, mode="scripted", event="expire"))
    """),
    md("""
    Unscripted, the race is intermittent, which is worse: it passes tests. Below, request and logout threads
    run freely; the naive request spends one round trip (2 ms) between its commands, as it would over a
    network:
    """),
    code("""
    # NBVAL_IGNORE_OUTPUT
    # free-running threads: the naive count varies from run to run
    free = sessionlab.race_summary(sessionlab.check_then_act_race(100, mode="threads", gap=0.002))
    assert free["requests"].tolist() == [100, 100] and free.iloc[1]["let in on a dead session"] == 0
    free
    """),
    md("""
    The fix on a string session, in go-redis: `rdb.GetEx(ctx, key, 30*time.Minute)` (a `redis.Nil` error means
    no session), or `ok, err := rdb.Expire(ctx, key, ttl).Result()` and reject when `!ok`. Both are one
    command: the check and the act are the same step.

    ## Logout everywhere and the logout broadcast

    Each user has a SET of their session ids, so "log out on every device" is one script over that set
    (dead ids are dropped from it lazily). Servers that cache sessions in process learn about a logout
    through pub/sub: a `LogoutListener` thread evicts the id from its cache.
    """),
    code("""
    from hcedu.patterns.session import LogoutListener

    phone, laptop = store.create("bob", {"dev": "phone"}), store.create("bob", {"dev": "laptop"})
    print("bob's sessions:", sorted(s.data["dev"] for s in store.sessions_of("bob")))
    local_cache = {}
    with LogoutListener(store, local_cache) as listener:   # another server's in-process cache
        assert listener.wait_ready(5)
        local_cache[phone] = store.get(phone)
        store.logout(phone)                                # DEL + PUBLISH
        import time
        deadline = time.monotonic() + 5
        while phone in local_cache and time.monotonic() < deadline:
            time.sleep(0.01)
    print("phone evicted from the other server's cache:", phone not in local_cache)
    print("logout everywhere removed", store.destroy_all("bob"), "session(s); left:", store.sessions_of("bob"))
    """),
    md("""
    Pub/sub is **at-most-once**: a server that is disconnected or restarting when the message is published
    never gets it. So the listener flushes its whole cache whenever it (re)subscribes, local entries need a
    short TTL of their own, and Redis stays the source of truth (the middleware above asks Redis on every
    request and keeps no local copy at all).

    ## Measure it: what the middleware costs

    Microseconds per request through a trivial app, bare and behind the middleware, on the embedded
    fakeredis and, when `redis-server` is installed, on a real one started for this cell:
    """),
    code("""
    # NBVAL_IGNORE_OUTPUT
    # measured: numbers vary by machine and backend
    import pandas as pd
    from hcedu.lab import redis_server
    import redis as redis_py

    frames = {"embedded fakeredis": sessionlab.middleware_overhead(1000)}
    if redis_server.available():
        server = redis_server.start()
        try:
            real = redis_py.Redis.from_url(server.url, decode_responses=True)
            frames["real redis-server"] = sessionlab.middleware_overhead(1000, client=real)
            real.close()
        finally:
            server.stop()
    cost = pd.concat(frames, names=["backend"])["us_per_request"].unstack(0)
    assert cost.shape[0] == 3 and (cost.loc["bare app"] < cost.loc["atomic store (1 script)"]).all()
    cost
    """),
    md("""
    On a real server the atomic store is one round trip and the naive one three (`EXISTS`, `EXPIRE`,
    `HGETALL`), so the safe version is also the cheaper one; over a network, where a round trip is
    0.2–1 ms, the difference is the round trips. The embedded fakeredis runs Lua in an embedded Python-driven
    interpreter, far slower than Redis's, which can hide or invert that difference: don't benchmark Lua on it.

    ## Source check

    * **`Exists` then `Expire` is check-then-act** (Break it): a session logged out or expired between the
      two calls is let in, and `Expire`'s reply is ignored. Use `GETEX`, `EXPIRE`'s return value, or one script.
    * **"惰性删除+定期删除 … 确保过期会话及时清理"**: lazy + sampled expiry frees memory, it does not decide
      validity: a key past its TTL is never *returned*, but it may sit in memory, and its keyspace
      `expired` event fires only when Redis gets round to deleting it. Never use `expired` events as
      session-timeout timers (to write "last logout" records, say): they are late, pub/sub drops them
      while you are disconnected, they are off by default, and fakeredis never sends them (chapter 11 shows
      it). Spring Session's indexed repository keeps the hash alive 5 minutes past the timeout and runs a
      per-minute job that touches expiring keys *just to make the events fire*.
    * **`err != nil || exists == 0` → 403**: a Redis blip logs every user out, and "unauthenticated" is
      401, not 403. Our middleware fails closed with 503 on protected paths and answers 401 for a missing
      session.
    * **`r.Header.Get("X-Session-ID")`**: a custom header needs JavaScript to read and send the id, so the
      id cannot be HttpOnly; a cookie with HttpOnly, Secure and SameSite keeps it out of reach of XSS and
      most CSRF. Rotate the id at login (session fixation).
    * **"Redis TTL 1800秒 — 会话最长有效期"**: a sliding TTL is the *idle* timeout, not the maximum
      lifetime; with sliding alone an active (or stolen) session lives forever. Add an absolute cap.
    * **`redisClient`/`ctx` as globals**: take the client by injection and use the request's context
      (`r.Context()`), so a cancelled request stops its Redis call.
    * **Pub/sub `SESSION_INVALIDATE`**: right idea, at-most-once delivery; pair it with short local TTLs and
      a flush on reconnect, or don't cache sessions locally.

    ## Exercise

    `exercises/10_sliding_expiry.ipynb`: write `load_and_slide(client, key, ttl)`, the lookup at the heart
    of the middleware. The checker runs it on a client that logs the session out right before your second
    Redis command, so a check-then-act version fails every time.

    ## Interview drill
    """),
    code("""
    # NBVAL_IGNORE_OUTPUT
    # (an interactive widget)
    drill("10")
    """),
    md("""
    ## What a strong answer says

    "At login, generate a 256-bit random id, store the session in Redis under it with a 30-minute TTL, add
    the id to a per-user set, and send it in an HttpOnly, Secure, SameSite cookie; rotate it on every
    login. The middleware — `func(next http.Handler) http.Handler` — reads the cookie and in **one** step
    checks the session and slides its TTL: `GETEX key EX 1800`, or `EXPIRE` and trust its reply, or a Lua
    script when the session is a hash; `EXISTS` then `EXPIRE` lets a logged-out session through. It puts
    the session in the request context, answers 401 without one, and fails closed if Redis is down. Cap the
    lifetime absolutely (re-login every few hours). Logout is DEL; logout everywhere walks the user's set.
    If servers cache sessions locally, broadcast logouts over pub/sub but treat it as at-most-once: short
    local TTLs, flush on reconnect. Don't build timeouts on keyspace `expired` events. Against JWTs:
    server-side sessions cost a Redis round trip per request but can be revoked instantly."
    """),
    code("""
    finish(ks)
    """),
]

if __name__ == "__main__":
    print(build(ROOT / "notebooks" / "10_sessions.ipynb", cells))
