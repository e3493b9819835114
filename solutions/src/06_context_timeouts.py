# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 06: add deadline propagation to a call chain
#
# A service fans out to several downstream calls. Each call is a function `call(ctx)` that works
# until it is done or `ctx.done()` closes (then it raises `ctx.err()`). This version answers the
# client on time, but its downstreams keep working after the client's deadline (chapter 06,
# "Measure it"):
#
# ```python
# def call_all(ctx, calls):
#     results = [None] * len(calls)
#     def run(i, call):
#         results[i] = call(context.background())   # the bug: the deadline stops here
#     gs = [go(run, i, c) for i, c in enumerate(calls)]
#     ...
# ```
#
# Write `call_all(ctx, calls)` so that it
#
# 1. runs every call concurrently and returns their results in call order,
# 2. hands every call a context **derived from `ctx`**, so the caller's deadline reaches it,
# 3. raises the first error (a call's exception, or `DeadlineExceeded` when the deadline passes),
#    and cancels the other calls as soon as one fails,
# 4. cancels the context it handed out before returning, and leaves no goroutine running.
#
# The chapter's "Break it" section shows a tool that does much of this. The checker records, for each
# downstream, which context it got and whether it stopped at the deadline (or at a sibling's error) or
# worked on to the end.

# %%
from hcedu.go import context, errgroup

def call_all(ctx, calls):
    """Run ``call(ctx')`` for every call concurrently with ``ctx'`` derived from ``ctx``; results in order."""
    ### BEGIN SOLUTION
    g, gctx = errgroup.with_context(ctx)
    results = [None] * len(calls)

    def run(i, call):
        results[i] = call(gctx)

    for i, call in enumerate(calls):
        g.go(run, i, call)
    err = g.wait(timeout=30)
    if err is not None:
        raise err
    return results
    ### END SOLUTION


# %% [markdown]
# Try it with two slow downstreams and a 50 ms deadline:

# %%
import time

def slow(ctx, work=0.3):
    try:
        ctx.done().recv(timeout=work)
        raise ctx.err()                      # cancelled: stop
    except context.DeadlineExceededError:
        raise
    except Exception:
        return "done"                        # ChanTimeout: the work finished

ctx, cancel = context.with_timeout(context.background(), 0.05)
t = time.perf_counter()
try:
    call_all(ctx, [slow, slow])
except context.DeadlineExceededError as e:
    print("call_all:", e)
except NotImplementedError:
    print("… write call_all() above first")
finally:
    cancel()

# %% [markdown]
# ## Check

# %%
from hcedu.course import check

check.deadline_propagation(call_all)

# %% [markdown]
# **Going further.** Give each downstream its own, shorter budget (`context.with_timeout(gctx, 0.02)`
# inside `run`): the effective deadline is the earlier of the two. Why can a child never extend
# its parent's deadline?
