# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 04: fix a goroutine leak
#
# This helper calls a slow dependency with a timeout. It works, and it leaks one goroutine every
# time the timeout fires (chapter 04, "Break it"):
#
# ```python
# def fetch_with_timeout(fetch, timeout):
#     ch = Chan()                      # unbuffered
#     go(lambda: ch.send(fetch()))
#     return ch.recv(timeout=timeout)  # ChanTimeout: we return, the sender blocks forever
# ```
#
# Write `fetch_with_timeout(fetch, timeout)` so that it
#
# 1. runs `fetch()` on a goroutine (`hcedu.go.go`) and returns its value if it arrives within
#    `timeout` seconds,
# 2. raises `TimeoutError` when it does not (`Chan.recv(timeout=...)` raises `ChanTimeout`),
# 3. re-raises an exception from `fetch` in the caller (it must not die silently in the goroutine),
# 4. raises `ValueError` for a negative timeout (a timeout of 0 is valid: a budget already spent), and
# 5. **leaves no goroutine behind** once the slow fetch finally finishes. The checker runs it under
#    the leak detector (`hcedu.go.lifecycle.detect_leaks`).

# %%
from hcedu.go import Chan, ChanTimeout, go

def fetch_with_timeout(fetch, timeout: float):
    """Return ``fetch()``'s value, or raise TimeoutError after ``timeout`` s; never leak the goroutine."""
    ### BEGIN SOLUTION
    if timeout < 0:
        raise ValueError(f"timeout must be >= 0 (got {timeout})")
    ch = Chan(1)  # room for the late answer: the sender never blocks, so it always exits

    def run():
        try:
            ch.send((fetch(), None))
        except Exception as exc:  # deliver the error instead of losing it
            ch.send((None, exc))

    go(run)
    try:
        value, err = ch.recv(timeout=timeout)
    except ChanTimeout:
        raise TimeoutError(f"fetch took longer than {timeout} s") from None
    if err is not None:
        raise err
    return value
    ### END SOLUTION


# %% [markdown]
# Try it:

# %%
import time
try:
    print(fetch_with_timeout(lambda: "fresh", 1.0))
    try:
        fetch_with_timeout(lambda: time.sleep(0.2) or "late", 0.01)
    except TimeoutError as e:
        print("TimeoutError:", e)
except NotImplementedError:
    print("… write fetch_with_timeout() above first")

# %% [markdown]
# ## Check

# %%
from hcedu.course import check

check.goroutine_leak(fetch_with_timeout)

# %% [markdown]
# **Going further.** A second fix passes a context: the fetcher does
# `select(Send(ch, v), Recv(ctx.done()))` and the caller cancels when it gives up. When is that
# better than a buffered channel? (When the fetch itself should stop early, not just its send.)
