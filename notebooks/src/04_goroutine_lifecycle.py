# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # 04 · Goroutine lifecycle: start, stop, leak
#
# > **面试题** 在高并发场景下,如何管理 goroutine 的生命周期?如何保证它能优雅退出、不泄漏、
# > 不让一个 panic 拖垮整个进程?
# >
# > **Interview question.** In a high-concurrency service, how do you manage the lifecycle of
# > goroutines: make sure each one exits cleanly, never leaks, and that one panic does not take
# > the whole process down?
#
# **What a strong answer covers:** every `go` statement needs a known way to end (a context, a
# closed channel); bound how many you start (a worker pool); `defer recover()` inside each
# goroutine, because a panic kills the *process*, not just the goroutine; and proof: a leak
# check (goleak) in tests and a goroutine-count metric in production.

# %%
import inspect
import matplotlib.pyplot as plt
from hcedu.course import setup, finish, drill
from hcedu.go import context, go, running
from hcedu.go import lifecycle
from hcedu.go.lifecycle import (EventLog, WorkerPool, detect_leaks, polling_worker, safe_go,
                                state_transitions, worker)
from hcedu.lab.lifecycle import chart_live_goroutines, chart_state_flow, leak_experiment

setup("04", redis=False)

# %% [markdown]
# ## Build it: the source's worker, translated
#
# The source (2.1) stops a worker with a context:
#
# ```go
# func worker(ctx context.Context) {
#     for {
#         select {
#         case <-ctx.Done():          // cancel signal: clean up and exit
#             fmt.Println("worker stopped")
#             return
#         default:                    // business logic
#             time.Sleep(100 * time.Millisecond)
#         }
#     }
# }
# ```
#
# Here is the same loop in Python, line for line (`select(..., default=True)` is Go's `select`
# with a `default` case). It records each state of the source's diagram in an `EventLog`.

# %%
src = inspect.getsource(polling_worker)
print(src[src.index("    turns = 0"):])

# %% [markdown]
# Run it: start the worker, let it loop a few times, call `cancel()`. The worker sees the closed
# `done()` channel on its next check and exits. The *sequence* of states is the same on every run
# (only the number of loops varies), so we print the distinct transitions.

# %%
log = EventLog()
ctx, cancel = context.with_cancel(context.background())
g = go(polling_worker, ctx, None, interval=0.01, name="worker", log=log)
import time; time.sleep(0.05)
cancel()
assert g.join(5)
[(a, b) for a, b, n in state_transitions(log.frame())]

# %% [markdown]
# ### The state flow, drawn from that run
#
# The source's diagram (创建 → 运行中 → 是否收到取消信号? → 执行清理 → 退出并释放栈内存), with the
# number of times each arrow was taken. **Takeaway: the "no" loop is where a worker spends its
# life; the "yes" arrow must exist, and be taken exactly once.**

# %%
chart_state_flow(log.frame())
plt.show()


# %% [markdown]
# ### A better loop: wait *on* the cancel signal
#
# The literal translation notices a cancel only after its `Sleep` ends: up to one interval late.
# `lifecycle.worker` waits on `ctx.done()` for the interval instead (Go:
# `select { case <-ctx.Done(): return; case <-time.After(d): work() }`), so a cancel is seen at
# once. Measured with a 200 ms interval:

# %% tags=["nbval-ignore-output"]
def cancel_latency(fn, interval=0.2):
    ctx, cancel = context.with_cancel(context.background())
    g = go(fn, ctx, None, interval=interval)
    time.sleep(0.05)                       # cancel in the middle of a sleep
    t = time.perf_counter(); cancel(); assert g.join(5)
    return (time.perf_counter() - t) * 1e3

lat = {"polling (source)": cancel_latency(polling_worker), "select on done()": cancel_latency(worker)}
assert set(lat) == {"polling (source)", "select on done()"} and all(v >= 0 for v in lat.values())
# cancelled 50 ms into a 200 ms sleep, the poller only notices ~150 ms later; select notices at once
assert lat["polling (source)"] > 50 and lat["polling (source)"] > 2 * lat["select on done()"], lat
{k: f"{v:.1f} ms" for k, v in lat.items()}

# %% [markdown]
# ## Watch it: the source's table, checked
#
# | 管理维度 | 推荐方式 (source) | what it means, shown below |
# |---|---|---|
# | 启动控制 (starting) | 使用协程池限制并发数 (a pool bounds concurrency) | `WorkerPool(size)` never runs more than `size` at once |
# | 退出机制 (exiting) | context控制生命周期 (a context ends it) | the pool's workers exit when their context is cancelled |
# | 异常处理 (panics) | defer + recover防崩溃扩散 (recover stops a panic spreading) | a failing task is recovered; the worker lives on |

# %%
ctx, cancel = context.with_cancel(context.background())
with WorkerPool(3, queue=4, ctx=ctx, name="pool") as pool:
    squares = pool.map(lambda x: (time.sleep(0.002), x * x)[1], range(12))
    bad = pool.submit(lambda: 1 / 0)               # a panicking task
    after = pool.submit(lambda: "still serving")
    print("results:", squares)
    print("peak concurrency <= 3:", pool.peak <= 3)
    try:
        bad.result(5)
    except ZeroDivisionError as e:
        print("bad task recovered as:", repr(e))
    print("next task:", after.result(5))
cancel()
print("workers exited:", all(w.done for w in pool._workers))

# %% [markdown]
# `recover` only works **inside the goroutine that panicked**: a `defer recover()` in `main` does
# not catch a panic in a goroutine `main` started. So every goroutine you start needs its own
# guard; `safe_go` is that guard as a function.

# %%
h = safe_go(lambda: {}["missing"], name="handler")
h.join(5)
print("recovered:", repr(h.result), "| goroutine panicked:", h.panicked)

# %% [markdown]
# ## Break it: a leak, caught
#
# The most common goroutine leak: a caller starts a goroutine to fetch something, waits with a
# timeout, gives up, and returns. The goroutine then tries to send its result on an
# **unbuffered** channel that nobody will ever read again, and blocks forever, holding its stack
# and whatever it references.
#
# ```go
# ch := make(chan Result)               // unbuffered: the bug
# go func() { ch <- fetch() }()
# select {
# case r := <-ch:  return r, nil
# case <-time.After(100 * time.Millisecond): return nil, ErrTimeout   // the goroutine is now stuck
# }
# ```
#
# The leak detector (goleak's `VerifyNone`, built on `running()`) snapshots the live goroutines,
# runs the block, gives new goroutines time to finish, and reports the ones still running, with
# where they started.

# %%
rescue = []
with detect_leaks(timeout=0.2) as report:
    lifecycle.timed_out_request("leaky", rescue, 1)
print(len(report.leaks), "leaked:", [(g.name, g.state) for g in report.leaks])
print("created by:", report.leaks[0].created_by)
for ch in rescue:
    ch.recv(timeout=5)          # un-leak it so the chapter ends clean

# %% [markdown]
# Two fixes: give the channel room for the late answer (`make(chan Result, 1)`), or make the
# sender select on the caller's `ctx.Done()` too. Both leave nothing behind:

# %%
for variant in ("buffered", "ctx"):
    with detect_leaks(timeout=1.0) as report:
        lifecycle.timed_out_request(variant, [], 1)
    print(f"{variant:9s} leaks: {len(report.leaks)}")

# %% [markdown]
# And a goroutine that **ignores** `ctx.done()` is a leak the context cannot fix: cancelling only
# closes a channel; a goroutine that never looks at it runs on.

# %%
stop = False
def stubborn(ctx):
    while not stop:           # never checks ctx.done()
        time.sleep(0.005)

ctx, cancel = context.with_cancel(context.background())
with detect_leaks(timeout=0.1) as report:
    go(stubborn, ctx)
    cancel()
print("after cancel():", [g.name for g in report.leaks])
stop = True

# %% [markdown]
# ## Measure it: live goroutines, leaking vs fixed
#
# Twenty requests that each time out. After every request we count the fetch goroutines still
# alive. **Takeaway: the leak grows linearly with traffic (one goroutine per timed-out request)
# until memory runs out; both fixes stay flat at zero.** In production this is the
# `go_goroutines` metric climbing forever.

# %%
df = leak_experiment(requests=20)
df.pivot(index="request", columns="variant", values="live").tail(3)

# %%
chart_live_goroutines(df)
plt.show()

# %% [markdown]
# ## Real Go beside the mirror
#
# Everything above ran on `hcedu.go`, a Python port of Go's goroutines and channels, so that every step can
# be watched. An interviewer, or any Go programmer reading this, will ask whether the real runtime does the
# same. So here are this chapter's two programs in Go, built and run by the cells below with the Go
# toolchain (`pip install 'hcedu[go]'` gets one; without it the cells print how to get it). Go's output is
# measured on your machine, so the cells assert its shape and print the Go version.
#
# ### The source's worker, in Go
#
# The source's worker as a whole program, with the fix from above (wait on `ctx.Done()` and a ticker in
# one `select`, no polling sleep) and with `main` waiting for the worker, which the source only mentions.
# `runtime.NumGoroutine()` counts the goroutines before and after `cancel()`:

# %%
from hcedu.lab import gocompare, gosnippets

print(gosnippets.source("ctx_worker"))

# %% tags=["nbval-ignore-output"]
# real Go: prints the Go version, then the program's output (or how to get Go)
run = gosnippets.show("ctx_worker")
if run is not None:
    assert run.lines()[-2:] == ["worker stopped: context canceled", "goroutines after cancel: 0 extra"], run.stdout

# %% [markdown]
# **Takeaway:** in real Go too, the `select` sees `cancel()` and the goroutine count returns to where it
# started. (To change the program and run it, paste it into a cell that starts with `%%go`, after
# `%load_ext hcedu.gorun`.)
#
# ### The leak, counted by the runtime
#
# The leak from "Break it": each request starts a worker and gives up on it (its context is already
# cancelled, as when the caller's timeout has fired). The leaky worker sends its result on an unbuffered
# channel nobody reads any more; the fixed one sends into a buffer of one, so its send always completes:

# %%
src = gosnippets.source("ch04_leak")
print(src[src.index("func leaky"):src.index("// settle")].rstrip())

# %% tags=["nbval-ignore-output"]
# real Go, counted with runtime.NumGoroutine() after each batch of abandoned requests
import pandas as pd

first = gocompare.leak_counts(20)        # None (after printing how to get Go) without a toolchain
if first is not None:
    go_leaks = pd.DataFrame([first] + [gocompare.leak_counts(n) for n in (200, 2000)]).set_index("requests")
    mirror = df[df["request"] == 20].set_index("variant")["live"]   # the mirror's count above, same 20 requests
    print(first["go"], "| hcedu.go after 20 requests: leaky", mirror["leaky"], "| buffered", mirror["buffered"])
    assert (go_leaks["leaky_alive"] == go_leaks.index).all(), go_leaks     # one stuck goroutine per request
    assert (go_leaks["fixed_alive"] == 0).all(), go_leaks                  # back to the baseline every time
    assert go_leaks.loc[20, "leaky_alive"] == mirror["leaky"] and go_leaks.loc[20, "fixed_alive"] == mirror["buffered"]
    display(go_leaks[["leaky_alive", "fixed_alive"]])

# %% [markdown]
# **Takeaway:** the Go runtime counts what the mirror counted: every abandoned request leaves exactly one
# goroutine parked forever on its send, so the leak grows with traffic, while the buffered worker returns
# to the baseline every time.
#
# ## Source check
#
# * The source's worker notices a cancel only after its `Sleep`: up to one interval late (its
#   100 ms; the measurement above used 200 ms and printed the delay). Wait on `ctx.Done()` and a
#   timer in one `select` instead.
# * "退出并释放栈内存" (exit frees the stack) is right, and it is why leaks matter: a blocked
#   goroutine keeps its stack, which starts at 2 KB (since Go 1.4; since Go 1.19 the runtime
#   starts at the historical average stack size, 2 KB being the floor) and grows.
# * The table is right but incomplete: `recover` must be deferred **in each goroutine**, and a
#   goroutine blocked on a channel is not cured by a context unless it selects on `ctx.Done()`.
# * "结合 sync.WaitGroup 跟踪活跃 goroutine" (track goroutines with a WaitGroup): it waits for
#   them, but does not find leaks; use goleak in tests (`detect_leaks` here).
#
# ## Exercise
#
# `exercises/04_goroutine_lifecycle.ipynb`: fix `fetch_with_timeout` so a timed-out call leaks
# nothing; the checker runs it under the leak detector.
#
# ## Interview drill

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
drill("04")

# %% [markdown]
# ## What a strong answer says
#
# *"Every goroutine I start has an owner and an exit: it selects on `ctx.Done()` (or ranges over a
# channel its owner closes), the owner waits for it (WaitGroup/errgroup), and concurrency is
# bounded by a pool. Each goroutine defers a `recover` that logs and reports, because an
# unrecovered panic kills the whole process. The classic leak is a send on an unbuffered channel
# after the receiver timed out; I prevent it with a buffered channel or a select on the context,
# and catch the rest with goleak in tests and a goroutine-count alert in production."*

# %%
finish()
