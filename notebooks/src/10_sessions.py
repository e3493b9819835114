# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # 10 · Sessions with sliding expiry
#
# > **用户会话管理中的Redis过期机制与Go中间件设计** — 当用户登录后,系统生成唯一Session ID并写入Redis,同时设置TTL,
# > 实现自动失效……使用Go构建Session中间件,可在HTTP请求前统一验证会话有效性。
# >
# > *Users log in; the server stores a session in Redis with a TTL so it dies on its own. Design the
# > session store and the Go middleware that checks the session on every request and keeps active users
# > logged in.*
#
# A strong answer covers: a random, unguessable session id in an HttpOnly, Secure, SameSite cookie, rotated
# at login (session fixation); a Redis key per session with an idle TTL that **slides**, read and extended
# in **one step** (one Lua script or `MULTI`/`EXEC`; `GETEX` for a string session) so no request sees a
# torn session and no logout is undone, and slid only when less than half the TTL remains; an absolute
# lifetime cap; logging out one device and every device; how other servers learn about a logout (pub/sub
# is at-most-once); why keyspace `expired` events are not timers; an eviction policy that never drops
# sessions; CSRF protection; what the middleware does when Redis is down; and sessions vs JWTs.

# %%
from hcedu.course import setup, finish, drill
from hcedu.clock import VirtualClock
from hcedu.patterns.session import SessionStore, NaiveSessionStore, GET_LUA

ks = setup("10")

# %% [markdown]
# ## Build it: one script checks and slides
#
# The source's middleware checks with `Exists(sessionID)`, slides with `Expire(sessionID, 30*time.Minute)`
# (ignoring its reply), and then still has to read the session: three round trips on every request, and
# what the first one said may no longer be true by the third ("Break it" below shows what that costs).
# The fix is to make *reading the session* and *extending it* one step. For a session stored as a string
# that is one command, `GETEX key EX 1800` (Redis 6.2+).
#
# `SessionStore` keeps each session as a HASH (so `update` writes only the fields it names, and two
# requests changing different fields never overwrite each other), which `GETEX` cannot read, so the
# lookup is one Lua script — Redis runs it without interleaving any other command:

# %%
print(GET_LUA.strip())

# %% [markdown]
# The deadline is stored **as data** (`expires_at`, on the injected clock) and the key also gets a Redis
# TTL of the same remaining lifetime. On the real clock both agree, and Redis frees idle sessions by
# itself; on a `VirtualClock` the stored deadline decides, so hours of sessions run in a second and
# every output below is the same on every run.

# %%
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

# %% [markdown]
# The middleware is the Go pattern `func(next http.Handler) http.Handler` in WSGI form: a callable
# wrapping the app. It reads the cookie, loads **and slides** the session in that one script, stores it in
# `environ["hcedu.session"]` (Go: `context.WithValue`), answers `401` itself for protected paths, and sets
# the cookie `HttpOnly; SameSite=Lax; Path=/; Secure`. Standard library only:

# %%
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

# %% [markdown]
# ## Watch it: live sessions over time
#
# Sixty users arrive over three hours, each active for ~45 minutes with a request every ~5 minutes; 30 %
# log out, the rest just leave. The same seeded users run against three policies: a **fixed** 30-minute
# TTL (set at login, never extended), a **sliding** 30-minute idle timeout, and sliding with a 1-hour
# **absolute cap**. A request that finds its session gone forces the user to log in again.

# %%
from hcedu.lab import sessionlab

live = sessionlab.live_sessions_over_time()
sessionlab.relogins(live)

# %%
fig = sessionlab.chart_live(live)

# %% [markdown]
# **Takeaway:** a fixed TTL logs active users out mid-work (the right panel counts users sent back to the
# login page); sliding expiry (almost) never does, at the price of keeping each session
# alive up to 30 minutes after its user left (the gap between the coloured lines and the dashed one),
# and the absolute cap trades a few re-logins for a bound on how long a stolen cookie stays useful.
#
# Turn the knobs: a longer idle TTL means fewer forced re-logins under a fixed TTL but more sessions kept
# alive for users who already left; a tighter cap means more re-logins for long-active users.

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
sessionlab.dashboard()

# %% [markdown]
# ## Break it: what EXISTS-then-EXPIRE really breaks
#
# `NaiveSessionStore.get` is the source's middleware: `EXISTS`, then `EXPIRE` (its reply ignored), then
# `HGETALL`. Suppose a logout lands between its commands. Letting *that* request in is not the bug: the
# session was alive when `EXISTS` ran, and a request that started just before a logout may finish just
# after it in any design (the atomic script has the same window right after it returns). What goes wrong
# is subtler, and there are three things:
#
# 1. **a torn read**: the check saw the session, the read finds it gone, and the request runs with an
#    empty session, `user_id` None, a state that never existed (code that trusts "a session was returned"
#    now serves an anonymous user as if logged in, or crashes on the missing field);
# 2. **resurrection**, in the variant that slides by writing the session back (`SET … EX`, or
#    `HSET` + `EXPIRE`) — the logout is undone;
# 3. **three round trips** per request where one does.
#
# Every request runs on its own thread against a real Redis protocol client, and a second thread logs the
# same session out. A `RacingClient` scripts the worst interleaving: the logout runs right before the
# request's **second** Redis command. The atomic store has no second command, so its logout can only land
# before or after the whole lookup:

# %%
race = sessionlab.check_then_act_race(100, mode="scripted", event="logout")
summary = sessionlab.race_summary(race)
naive, atomic = summary.index
assert summary.loc[naive, sessionlab.TORN] == 100 and summary.loc[atomic, sessionlab.TORN] == 0
summary

# %%
fig = sessionlab.chart_race(race)

# %% [markdown]
# **Takeaway:** with the interleaving forced, every naive request got a torn session (its own `EXPIRE`
# answered 0 and nobody looked; then `HGETALL` returned an empty hash), in three round trips; the atomic
# lookup returned either the whole session or none, in one.
#
# The same happens when the session **expires** in the gap instead of being logged out — the source's
# flowchart ("存在且未过期? → 刷新TTL → 放行") cannot be done in separate commands:

# %%
sessionlab.race_summary(sessionlab.check_then_act_race(50, mode="scripted", event="expire"))

# %% [markdown]
# **Resurrection.** A common "fix" reads the session and slides by writing it back with a fresh TTL. A
# logout between the read and the write is undone, step by step on one client:

# %%
r = ks.client
key = ks.key("sess", "resurrect")
r.hset(key, mapping={"user_id": "alice"})
r.expire(key, 1800)
fields = r.hgetall(key)                  # request: read the session
r.delete(key)                            # meanwhile: the user logs out (another request, another server)
r.hset(key, mapping=fields)              # request: "slide" by writing the session back ...
r.expire(key, 1800)                      # ... with a fresh TTL
print("logged out, yet the session is back:", r.hgetall(key), "| TTL", r.ttl(key), "s")
_ = r.delete(key)

# %% [markdown]
# `EXPIRE` never creates a key (on a missing key it replies 0), which is why sliding must be `EXPIRE`,
# never a write of the value.
#
# Unscripted, the torn read is intermittent, which is worse: it passes tests. Below, request and logout
# threads run freely; the naive request spends one round trip (2 ms) between its commands, as it would
# over a network:

# %% tags=["nbval-ignore-output"]
# free-running threads: the naive count varies from run to run
free = sessionlab.race_summary(sessionlab.check_then_act_race(100, mode="threads", gap=0.002))
assert free["requests"].tolist() == [100, 100] and free.iloc[1][sessionlab.TORN] == 0
free


# %% [markdown]
# The fix on a string session, in go-redis: `rdb.GetEx(ctx, key, 30*time.Minute)` (a `redis.Nil` error means
# no session): one command reads and slides. On a hash, a `TxPipelined` `HGetAll` + `Expire` (MULTI/EXEC)
# or one script.
#
# ## Slide less often: only when less than half the TTL remains
#
# Sliding on every request turns every read into a write: each `EXPIRE` is replicated to every replica and
# appended to the AOF, so a read-heavy site pays write traffic for nothing. Slide only when less than half
# of the TTL remains (the script reads `TTL` and skips the `EXPIRE` otherwise): the idle timeout becomes
# anywhere between half the TTL and the full TTL, and the writes fall by roughly the number of requests per
# half-TTL. Counted for one user making a request every minute for two hours, on a 30-minute TTL:

# %%
def slides(requests_every: float, active_for: float, ttl: float, half_rule: bool) -> int:
    """How many EXPIREs a session costs: every request, or only when less than ttl/2 remains."""
    expires_at, writes, t = ttl, 0, 0.0
    while t <= active_for:
        if not half_rule or expires_at - t < ttl / 2:
            expires_at, writes = t + ttl, writes + 1
        t += requests_every
    return writes

every, half = slides(60, 7200, 1800, False), slides(60, 7200, 1800, True)
print(f"EXPIRE on every request: {every} writes; only below half the TTL: {half} writes")
assert every == 121 and half == 7

# %% [markdown]
# ## Logout everywhere and the logout broadcast
#
# Each user has a SET of their session ids, so "log out on every device" is one script over that set
# (dead ids are dropped from it lazily). Servers that cache sessions in process learn about a logout
# through pub/sub: a `LogoutListener` thread evicts the id from its cache.

# %%
from hcedu.patterns.session import LogoutListener

phone, laptop = store.create("bob", {"dev": "phone"}), store.create("bob", {"dev": "laptop"})
print("bob's sessions:", sorted(s.data["dev"] for s in store.sessions_of("bob")))
local_cache = {}
with LogoutListener(store, local_cache) as listener:   # another server's in-process cache
    assert listener.wait_ready(30)
    local_cache[phone] = store.get(phone)
    store.logout(phone)                                # DEL + PUBLISH
    import time
    deadline = time.monotonic() + 30                   # a bound, not a delay: the loop ends at the eviction
    while phone in local_cache and time.monotonic() < deadline:
        time.sleep(0.01)
print("phone evicted from the other server's cache:", phone not in local_cache)
print("logout everywhere removed", store.destroy_all("bob"), "session(s); left:", store.sessions_of("bob"))

# %% [markdown]
# Pub/sub is **at-most-once**: a server that is disconnected or restarting when the message is published
# never gets it. So the listener flushes its whole cache whenever it (re)subscribes, local entries need a
# short TTL of their own, and Redis stays the source of truth (the middleware above asks Redis on every
# request and keeps no local copy at all).
#
# ## Measure it: what the middleware costs
#
# Microseconds per request through a trivial app, bare and behind the middleware, on the embedded
# fakeredis and, when `redis-server` is installed, on a real one started for this cell:

# %% tags=["nbval-ignore-output"]
# measured: numbers vary by machine and backend
import pandas as pd
from hcedu.lab import redis_server
import redis as redis_py

frames = {"embedded fakeredis": sessionlab.middleware_overhead(300, repeats=2)}
if redis_server.available():
    server = redis_server.start()
    try:
        real = redis_py.Redis.from_url(server.url, decode_responses=True)
        frames["real redis-server"] = sessionlab.middleware_overhead(300, client=real, repeats=2)
        real.close()
    finally:
        server.stop()
cost = pd.concat(frames, names=["backend"])["us_per_request"].unstack(0)
assert cost.shape[0] == 3 and (cost.loc["bare app"] < cost.loc["atomic store (1 script)"]).all()
cost

# %% [markdown]
# On a real server the atomic store is one round trip and the naive one three (`EXISTS`, `EXPIRE`,
# `HGETALL`), so the safe version is also the cheaper one; over a network, where a round trip is
# 0.2–1 ms, the difference is the round trips. The embedded fakeredis runs Lua in an embedded Python-driven
# interpreter, far slower than Redis's, which can hide or invert that difference: don't benchmark Lua on it.
#
# ## Operations: eviction, CSRF and session fixation
#
# **Eviction.** When Redis reaches `maxmemory`, its `maxmemory-policy` decides what to drop. Under
# `allkeys-lru`/`allkeys-lfu`/`allkeys-random` (the usual policies for a *cache*) any key can go, including
# the session of a user who is active right now: a random logout. `volatile-*` policies only evict keys
# with a TTL — which every session has, so they are no shield by themselves; of them `volatile-ttl` evicts
# the keys nearest their expiry first (idle sessions about to die anyway). The robust setup: sessions on
# their own Redis instance (`maxmemory` and its policy are per instance, not per database number) with
# `noeviction`, Redis's default, so memory pressure shows as write errors you alert on, not as users
# silently logged out; the cache on another instance with `allkeys-lru`.
#
# **CSRF.** The browser attaches the session cookie to every request to your site, including one a
# malicious page triggers (a hidden form POSTing to `/transfer`): cross-site request forgery. HttpOnly does
# not help (the attacker never reads the cookie), and neither does it against XSS: script injected into
# *your* page cannot read an HttpOnly cookie, but it can still send `fetch("/transfer", {method: "POST",
# credentials: "include"})` and the cookie goes along. Against CSRF: `SameSite=Lax` (cross-site POSTs carry
# no cookie), no state changes on GET, and a check on every state-changing request — a CSRF token stored
# in the session and echoed in a form field or header, or the browser's `Sec-Fetch-Site`/`Origin` headers
# (Go 1.25's `http.CrossOriginProtection` does exactly that; `gorilla/csrf` does tokens). Against XSS:
# output encoding and a Content-Security-Policy; HttpOnly only limits the damage.
#
# **Session fixation.** An attacker obtains a valid session id (say, an anonymous one from your site) and
# plants it in the victim's browser (a link, a cookie set from a sibling subdomain). If logging in keeps
# that id and merely marks it as Alice's, the attacker is now logged in as Alice. So login (and any
# privilege change) issues a **new** id and destroys the old one. The middleware's `login` does:

# %%
planted = store.create("guest")                       # an id the attacker knows
status, body, cookies = request("/login", f"sid={planted}")
fresh = cookies[0].split(";")[0].split("=")[1]
print("login issued a new id:", fresh != planted, "| the planted id still works:", store.get(planted) is not None)
assert fresh != planted and store.get(planted) is None

# %% [markdown]
# ## Source check
#
# * **`Exists`, then `Expire`, then a read** (Break it): three round trips per request, `Expire`'s reply
#   ignored, and a session logged out or expired between the calls is read back empty (a torn read,
#   `user_id` None). Read and slide in one step: `GETEX` on a string, one script or `MULTI`/`EXEC` on a hash.
# * **"惰性删除+定期删除 … 确保过期会话及时清理"**: lazy + sampled expiry frees memory, it does not decide
#   validity: a key past its TTL is never *returned*, but it may sit in memory, and its keyspace
#   `expired` event fires only when Redis gets round to deleting it. Never use `expired` events as
#   session-timeout timers (to write "last logout" records, say): they are late, pub/sub drops them
#   while you are disconnected, they are off by default, and fakeredis never sends them (chapter 11 shows
#   it). Spring Session's indexed repository keeps the hash alive 5 minutes past the timeout and runs a
#   per-minute job that touches expiring keys *just to make the events fire*.
# * **`err != nil || exists == 0` → 403**: a Redis blip logs every user out, and "unauthenticated" is
#   401, not 403. Our middleware fails closed with 503 on protected paths and answers 401 for a missing
#   session.
# * **`r.Header.Get("X-Session-ID")`**: a custom header needs JavaScript to read and send the id, so the
#   id cannot be HttpOnly. A cookie with HttpOnly, Secure and SameSite is better, but know what each flag
#   buys: HttpOnly stops injected script from *reading* (stealing) the id, not from *sending* requests
#   that carry it; SameSite=Lax stops most cross-site requests from carrying it (not top-level GETs).
#   Add CSRF protection and rotate the id at login (next section).
# * **"Redis TTL 1800秒 — 会话最长有效期"**: a sliding TTL is the *idle* timeout, not the maximum
#   lifetime; with sliding alone an active (or stolen) session lives forever. Add an absolute cap.
# * **`redisClient`/`ctx` as globals**: take the client by injection and use the request's context
#   (`r.Context()`), so a cancelled request stops its Redis call.
# * **Pub/sub `SESSION_INVALIDATE`**: right idea, at-most-once delivery; pair it with short local TTLs and
#   a flush on reconnect, or don't cache sessions locally.
#
# ## Exercise
#
# `exercises/10_sliding_expiry.ipynb`: write `load_and_slide(client, key, ttl)` for a hash session, the
# lookup at the heart of the middleware. The checker logs the session out in every gap between two of your
# round trips, so a torn read or a resurrected session fails every time, and it counts your round trips.
#
# ## Interview drill

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
drill("10")

# %% [markdown]
# ## What a strong answer says
#
# "At login, generate a 256-bit random id, store the session in Redis under it with a 30-minute TTL, add
# the id to a per-user set, and send it in an HttpOnly, Secure, SameSite cookie; a new id on every login
# (session fixation). The middleware — `func(next http.Handler) http.Handler` — reads the cookie and in
# **one** step reads the session and slides its TTL: `GETEX key EX 1800` for a string, a Lua script or
# MULTI/EXEC for a hash; `EXISTS`, `EXPIRE`, read costs three round trips and can hand a request a torn,
# empty session, and sliding by writing the value back resurrects logged-out sessions. Slide only when
# less than half the TTL remains, or every read is a write. It puts the session in the request context,
# answers 401 without one, and fails closed if Redis is down. Cap the lifetime absolutely (re-login every
# few hours). Logout is DEL; logout everywhere walks the user's set. State-changing requests need CSRF
# protection (SameSite plus a token or an Origin/Sec-Fetch-Site check): HttpOnly stops theft of the
# cookie, not requests that carry it. Sessions live on a Redis with `noeviction`, not beside an LRU cache.
# If servers cache sessions locally, broadcast logouts over pub/sub but treat it as at-most-once: short
# local TTLs, flush on reconnect. Don't build timeouts on keyspace `expired` events. Against JWTs:
# server-side sessions cost a Redis round trip per request but can be revoked instantly."

# %%
finish(ks)
