# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 03: pool a buffer type correctly
#
# Chapter 03 broke `sync.Pool` three ways: a buffer reused without reset leaked one user's data into
# another's response, a huge buffer would stay pinned, and an object used after `Put` was shared by two
# requests. Write the three helpers a server would use around `hcedu.go.Pool` and `Buffer`
# (`data`: a bytearray, `parts`: the written chunks, `reset()`, `write(b)`):
#
# * `get_buffer(pool)`: a `Buffer` with no leftover contents, taken from the pool when it has one; if the
#   pool is empty and has no `New`, make a `Buffer(4096)` yourself;
# * `put_buffer(pool, buf)`: return `buf` to the pool, except `None` (ignore) and buffers whose `data`
#   is larger than `MAX_POOLED` bytes (drop them, as Go's `fmt` does above 64 KB);
# * `render(pool, user)`: build `"hello <user>"` in a pooled buffer and return it as a `str`; the buffer
#   goes back to the pool, and nothing touches it after that.

# %%
from hcedu.go import Pool
from hcedu.lab.chanbench import Buffer
from hcedu.course.check.ch03 import MAX_POOLED


def get_buffer(pool):
    ### BEGIN SOLUTION
    buf = pool.get()
    if buf is None:
        return Buffer(4096)
    buf.reset()                  # never trust a pooled object's state
    return buf
    ### END SOLUTION


def put_buffer(pool, buf):
    ### BEGIN SOLUTION
    if buf is None or len(buf.data) > MAX_POOLED:
        return                   # let the GC have it: don't pin a huge buffer in the pool
    pool.put(buf)
    ### END SOLUTION


def render(pool, user):
    ### BEGIN SOLUTION
    buf = get_buffer(pool)
    try:
        buf.write(b"hello ")
        buf.write(user.encode())
        return b"".join(buf.parts).decode()   # copy out *before* the buffer goes back
    finally:
        put_buffer(pool, buf)
    ### END SOLUTION


# %% [markdown]
# ## Check

# %%
from hcedu.course import check

check.pooled_buffers(get_buffer, put_buffer, render)

# %% [markdown]
# **Going further.** `render` returns a new `str`, so the caller never holds pooled memory. In Go the
# same bug hides in `return buf.Bytes()` followed by `pool.Put(buf)`: the slice still points into the
# pooled buffer. What would you return instead?
