# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 10: sliding expiry without the race
#
# A session is a HASH (`ex10:sess:<id>` → `{"user_id": "alice", "cart": "sku-1,sku-7"}`) with a TTL. On every
# request the middleware loads it **and** pushes its TTL back to `ttl` seconds. Write
# `load_and_slide(client, key, ttl)` that
#
# 1. returns the session's fields as a dict if the session is live (all of them: a session may hold more, e.g. a
#    `csrf` token, and an anonymous one has no `user_id`), with its TTL reset to `ttl` (whatever it was);
# 2. returns `None` if it is not, without creating anything;
# 3. never returns a session that no single moment ever held, and never undoes a logout: a logout (or an
#    expiry) may land between any two commands you send;
# 4. costs one round trip: it runs on every request.
#
# The source does `EXISTS`, then `EXPIRE` (its reply ignored), then reads. Chapter 10's "Break it" shows
# what goes wrong with that; your version must not.

# %%
def load_and_slide(client, key: str, ttl: int):
    """Return the session's fields at ``key`` (a dict) and reset its TTL to ``ttl`` seconds;
    None if there is no live session."""
    ### BEGIN SOLUTION
    pipe = client.pipeline()  # MULTI/EXEC: Redis runs both commands with nothing in between
    pipe.hgetall(key)
    pipe.expire(key, ttl)     # on a missing key: 0, and nothing is created
    fields, _ = pipe.execute()
    return fields or None
    ### END SOLUTION


# %% [markdown]
# Try it on the embedded Redis:

# %%
from hcedu import backend

r = backend.connect()
r.hset("ex10:try:sess", mapping={"user_id": "alice", "cart": "sku-1"})
r.expire("ex10:try:sess", 5)
try:
    value = load_and_slide(r, "ex10:try:sess", 1800)
    print("value:", value, "| TTL slid to ~1800 s:", 1799 <= r.ttl("ex10:try:sess") <= 1800,
          "| missing session:", load_and_slide(r, "ex10:try:none", 1800))
except NotImplementedError:
    print("… write load_and_slide() above first")
finally:
    r.delete("ex10:try:sess")

# %% [markdown]
# ## Check
#
# The checker watches every round trip your client makes. It logs the session out in each gap between two
# of your round trips in turn (one run per gap; a pipeline without MULTI counts as separate commands here, as
# Redis may run other clients' commands between them) and checks you never return a torn session (an empty
# one, `user_id` missing) and never write a logged-out session back; then it counts your round trips.

# %%
from hcedu.course import check

check.sliding_expiry(load_and_slide)

# %% [markdown]
# **Going further.** (1) Write it a second way: a Lua script (`client.register_script`) that runs `HGETALL`
# and, if the hash is not empty, `EXPIRE`; the checker accepts both. Compare `hcedu.patterns.session.GET_LUA`,
# which also enforces an absolute lifetime cap. (2) Your function writes on every read. Change it to slide
# only when less than half of `ttl` remains (chapter 10): what does that save, and what must the script
# read to decide?
