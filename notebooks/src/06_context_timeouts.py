# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # 06 · context: timeouts and cancellation down a call chain
#
# > **面试题** 在高并发场景中,如何利用 context 控制并发请求的超时与取消?超时信号如何沿调用链
# > 传递到下游?
# >
# > **Interview question.** In a high-concurrency service, how do you use `context` to time out
# > and cancel concurrent requests, and how does the timeout travel down the call chain?
#
# **What a strong answer covers:** a context is a tree; cancelling a node closes its `Done()`
# channel and cancels its whole subtree, synchronously, never its parent; a child's deadline is
# never later than its parent's; every blocking call must select on `ctx.Done()`; always call
# `cancel()`; and the point of all this: work for a client that has gone is stopped, not wasted.

# %%
import matplotlib.pyplot as plt
from hcedu.clock import VirtualClock
from hcedu.course import setup, finish, drill
from hcedu.go import context, go, select, Recv, errgroup, Chan
from hcedu.go.context import background, with_cancel, with_timeout, with_deadline, with_value, cause
from hcedu.go.lifecycle import detect_leaks
from hcedu.lab import callchain

setup("06", redis=False)

# %% [markdown]
# ## Build it: the source's code, run
#
# The source (2.3):
#
# ```go
# ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
# defer cancel()
# result, err := fetchAPI(ctx)
# ```
#
# `hcedu.go.context` is a port of Go's `context.go`. Its deadlines are timers on an injected
# clock, so on a `VirtualClock` "100 ms later" happens when we say so: every output below is
# exact and the same on every run.

# %%
clock = VirtualClock()

def fetch_api(ctx, latency):
    # the downstream answers after `latency`; the caller selects on the answer and ctx.Done()
    answer = Chan(1)
    clock.after(latency, answer.send, "200 OK")
    def wait():
        i, v, _ = select(Recv(answer), Recv(ctx.done()))
        if i == 1:
            return None, ctx.err()         # Go: return nil, ctx.Err()
        return v, None
    return go(wait)

ctx, cancel = with_timeout(background(), 0.100, clock=clock)
print(ctx, "| deadline:", ctx.deadline(), "| err:", ctx.err())
fast = fetch_api(ctx, 0.030)
clock.advance(0.030)
print("fast call:", fast.get(5))
slow = fetch_api(ctx, 0.250)
clock.advance(0.070)                     # the handler's 100 ms are up
print("slow call:", slow.get(5), "| ctx.err():", ctx.err())
cancel()                                 # defer cancel(): harmless after expiry, required before

# %% [markdown]
# ### One cancel, every goroutine
#
# "多个goroutine共享同一context时,任一取消操作将通知所有协程": every goroutine selecting on the
# same `ctx.Done()` wakes when it closes, because **closing a channel wakes all its receivers**
# (a send would wake only one).

# %%
ctx, cancel = with_cancel(background())
def listener(ctx):
    ctx.done().recv(timeout=5)
    return f"收到取消信号: {ctx.err()}"
gs = [go(listener, ctx) for _ in range(5)]
cancel()
sorted(g.get(5) for g in gs)

# %% [markdown]
# ## The source's table, checked
#
# | 场景 | 推荐方法 (source) | checked below |
# |---|---|---|
# | 固定超时 (fixed timeout) | WithTimeout | = `WithDeadline(now + d)`; `DeadlineExceeded` when it fires |
# | 截止时间控制 (absolute deadline) | WithDeadline | a child's deadline is clamped to its parent's |
# | 手动取消 (manual) | WithCancel | `Canceled`; propagates down, never up |

# %%
clock = VirtualClock(start=1000.0)
root, cancel_root = with_timeout(background(), 0.5, clock=clock)     # deadline 1000.5
later, c1 = with_deadline(root, 1002.0)                              # asks for later: clamped
earlier, c2 = with_timeout(root, 0.2)                                # 1000.2: kept
manual, c3 = with_cancel(root)
print("deadlines:", root.deadline(), later.deadline(), earlier.deadline(), manual.deadline())
c3()
print("manual cancel -> child:", manual.err(), "| parent:", root.err())
clock.advance(0.2)
print("t=+0.2 s -> earlier:", earlier.err(), "| root:", root.err())
clock.advance(0.3)
print("t=+0.5 s -> root:", root.err(), "| later:", later.err())
for c in (cancel_root, c1, c2): c()

# %% [markdown]
# Go 1.20–1.21 added **causes**: `WithCancelCause`, `WithTimeoutCause`, `context.Cause(ctx)`. `Err()`
# still says only *canceled* or *deadline exceeded*; the cause says **why**, and it is the cause
# of the *first* cancellation, inherited by the whole subtree.

# %%
ctx, cancel = context.with_cancel_cause(background())
child = with_value(ctx, "request_id", "r-42")
cancel(ConnectionError("client closed the connection"))
print(child.err(), "|", repr(cause(child)), "|", child.value("request_id"))

# %% [markdown]
# ## Watch it: cancellation racing down a call chain
#
# The source's 请求链路传播 diagram, made concrete: handler → service → four downstream calls in
# parallel → a render step. Each request runs real contexts on its own virtual clock; latencies
# are drawn from lognormal distributions (seeded). **With propagation** every layer derives its
# context from its caller's; **without**, the service calls its downstreams with
# `context.Background()` (the classic bug).
#
# **Takeaway: with propagation, the deadline cuts every span at the same instant and render never
# starts; without it, the client gets the same timeout but the backend works on, for nobody.**

# %%
on = callchain.simulate(40, timeout=0.05, propagate=True, seed=0)
off = callchain.simulate(40, timeout=0.05, propagate=False, seed=0)
slow = int(on[on.span == "handler"].query("status == 'timeout'").request.iloc[0])
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), sharex=True)
callchain.chart_timeline(on, slow, ax=axes[0], title=f"request {slow}: propagated")
callchain.chart_timeline(off, slow, ax=axes[1], title=f"request {slow}: not propagated")
fig.tight_layout(); plt.show()

# %%
on[on.request == slow][["span", "start", "end", "status", "err"]].round(4)

# %% [markdown]
# Turn the knobs: the timeout and which request to look at.

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
callchain.dashboard(requests=40)

# %% [markdown]
# ## Real Go beside the mirror
#
# The timelines above are the mirror: `hcedu.go.context` on virtual clocks, exact but still a port. Does
# Go's own `context` cut a call chain the same way? Below, one real Go program (handler → service → db
# under one `context.WithTimeout`, with a db slower than the deadline) and the same program written with
# `hcedu.go.context` on the real clock (`gocompare.callchain_mirror`) log their events side by side. The
# cells need a Go toolchain (`pip install 'hcedu[go]'`); without one they print how to get it. Go's
# timings are measured on your machine, so the cells assert the order of events, not the milliseconds.

# %%
from hcedu import gorun
from hcedu.lab import gocompare, gosnippets

src = gosnippets.source("ch06_callchain")
print(src[src.index("func db"):].rstrip())

# %% tags=["nbval-ignore-output"]
# real Go and the mirror, both on the real clock: the milliseconds vary, the events and their order must not
chain = gocompare.callchain_compare(timeout_ms=80, db_ms=1000)   # None (after how to get Go) without Go
if chain is not None:
    print(gorun.version(), "beside hcedu.go.context")
    assert chain["agree"].all(), chain                         # same layer, same event, row by row
    assert list(chain["layer"]) == ["handler", "service", "db", "db", "service", "handler"]
    assert chain["event"].iloc[-1] == "respond: context deadline exceeded"
    cut = chain.iloc[3]                                       # the db sees the deadline
    assert 80 <= cut["go_ms"] < 1000 and cut["mirror_ms"] < 1000, cut   # Go timers never fire early
    display(chain[["layer", "event", "go_ms", "mirror_ms", "agree"]].round(1))

# %% [markdown]
# **Takeaway:** real Go and the mirror log the same events in the same order: the deadline fires once, the
# db sees it first, and every layer above returns `context deadline exceeded` without waiting for the db.
#
# The source's own `WithTimeout` + `fetchAPI`, made whole: the source calls `fetchAPI` without defining it
# and only says it must listen on `ctx.Done()`. Here it does, by racing the backend's reply against
# `ctx.Done()`; the program then releases several goroutines with one cancel:

# %%
src = gosnippets.source("fetch_timeout")
print(src[src.index("// fetchAPI"):src.index("func main")].rstrip())

# %% tags=["nbval-ignore-output"]
# real Go; a 1000 ms timeout instead of the source's 100 ms, so the 5 ms backend wins even on a busy machine
run = gosnippets.show("fetch_timeout", "1000")
if run is not None:
    assert run.lines() == ["timeout: 1s", "fast backend: 200 OK",
                           "slow backend: timed out (context deadline exceeded)",
                           "released: [context canceled context canceled context canceled]"], run.stdout

# %% [markdown]
# **Takeaway:** `fetchAPI` honours the deadline only because it selects on `ctx.Done()`, and its buffered
# reply channel lets the abandoned backend goroutine finish instead of leaking.

# %% [markdown]
# ## Measure it: wasted work vs timeout
#
# 200 requests per point. **Takeaway: the client sees the same p99 either way (the handler
# answers at its deadline), but without propagation every timed-out request keeps the backend
# busy; the tighter the timeout, the more work is thrown away, exactly when the system is already
# slow, which is how a timeout storm becomes an avalanche (服务雪崩).**

# %%
sw = callchain.sweep(timeouts=(0.03, 0.05, 0.08, 0.12), requests=200)
sw[["timeout", "propagate", "success", "client_p99", "wasted_per_request", "backend_busy_p99"]].round(4)

# %%
callchain.chart_sweep(sw)
plt.show()

# %% [markdown]
# ## Break it
#
# **1. A cancel func never called.** `WithTimeout` registers the child with its parent and arms a
# timer. Forget `cancel()` and both live until the deadline: with a long deadline, a loop of
# requests piles children onto a long-lived parent (Go's `go vet` flags this: "the cancel
# function is not used on all paths ... possible context leak").

# %%
server_ctx, stop_server = with_cancel(background())
clock = VirtualClock()
for _ in range(1000):
    req, cancel = with_timeout(server_ctx, 30, clock=clock)   # bug: cancel never called
print("children held by the server context:", len(server_ctx._children), "| timers pending:", clock.pending())
stop_server()   # only the parent's end (or the 30 s deadlines) frees them
print("after the parent is cancelled:", len(server_ctx._children), "| timers pending:", clock.pending())

# %% [markdown]
# **2. A goroutine that ignores `ctx.done()`.** Cancelling closes a channel; it does not stop a
# thread. A downstream that never selects on `ctx.Done()` runs to the end, and the leak detector
# still sees it after the request has returned.

# %%
import threading
release = threading.Event()
def deaf_downstream(ctx):
    release.wait(5)            # blocking call without ctx: cannot be interrupted

ctx, cancel = with_timeout(background(), 0.01)
with detect_leaks(timeout=0.1) as report:
    go(deaf_downstream, ctx)
    ctx.done().recv(timeout=5)
    cancel()
print("ctx:", ctx.err(), "| still running:", [g.name for g in report.leaks])
release.set()

# %% [markdown]
# **3. errgroup: the first error cancels the siblings.** `errgroup.WithContext` is how a fan-out
# should propagate: one failure cancels the shared context with the error as its cause.

# %%
g, gctx = errgroup.with_context(background())
def sibling(ctx):
    ctx.done().recv(timeout=5); raise ctx.err()
def failing(ctx):
    raise LookupError("inventory service: 503")
g.go(sibling, gctx); g.go(sibling, gctx); g.go(failing, gctx)
err = g.wait(timeout=5)
print("wait():", repr(err), "| ctx:", gctx.err(), "| cause:", repr(cause(gctx)))


# %% [markdown]
# ## Across a process boundary
#
# A `context.Context` lives in one process. To carry the deadline to another service, the caller
# puts the **remaining budget** on the wire, as a *duration* (the two machines' clocks disagree, so
# an absolute deadline would be off by their skew), and the server starts its own context from it:
#
# * **gRPC** does this for you: grpc-go turns the ctx deadline into the `grpc-timeout` request header
#   (an integer of at most 8 digits plus a unit: `H`, `M`, `S`, `m`, `u`, `n`; e.g. `47m`), and the
#   server's handler gets a ctx with that timeout, so a Go gRPC server's downstream calls inherit it.
# * **HTTP** has no standard header: services agree on one (Envoy sets
#   `x-envoy-expected-rq-timeout-ms` for its upstreams), and each hop reads it into a
#   `WithTimeout` context.
# * Send the remaining budget **minus a margin** for the network and the server's queueing, so the
#   server gives up slightly before the caller stops listening, and its answer (or error) still arrives.
#   If nothing is left, don't send the request at all: fail fast.
#
# Two services, each on its own (virtual) clock, 100 ms apart in skew:

# %%
def outgoing_timeout_header(ctx, clock, margin=0.005):
    # the remaining budget minus a margin, in gRPC's format (integer milliseconds, unit 'm')
    remaining = ctx.deadline() - clock.now() - margin
    if remaining <= 0:
        raise context.DeadlineExceeded            # no budget left: don't send the request
    return {"grpc-timeout": f"{int(remaining * 1000)}m"}

def incoming_context(headers, clock):
    ms = int(headers["grpc-timeout"].removesuffix("m"))
    return with_timeout(background(), ms / 1000, clock=clock)   # a duration, not the caller's clock time

client_clock, server_clock = VirtualClock(start=1000.0), VirtualClock(start=1000.1)   # 100 ms skew
ctx, cancel = with_timeout(background(), 0.100, clock=client_clock)   # the edge's 100 ms budget
client_clock.advance(0.040)                                          # 40 ms spent before the call
headers = outgoing_timeout_header(ctx, client_clock)
server_ctx, server_cancel = incoming_context(headers, server_clock)
print("on the wire:", headers)
print(f"server: deadline {server_ctx.deadline() - server_clock.now():.3f} s from its own now; "
      f"client: {ctx.deadline() - client_clock.now():.3f} s left")
server_clock.advance(0.055)
print("after 55 ms, server ctx:", server_ctx.err(), "| client ctx:", ctx.err())
client_clock.advance(0.060)
try:
    outgoing_timeout_header(ctx, client_clock)
except context.DeadlineExceededError as e:
    print("client, budget spent: no request sent ->", repr(e))
server_cancel(); cancel()

# %% [markdown]
# The server stops 5 ms before the client would (the margin), whatever the clocks say.
#
# ## Source check
#
# * "cancel()用于释放关联资源,防止内存泄漏": right, and stronger than it sounds: without `cancel()`
#   the child stays in its parent's children map and its timer stays armed until the deadline
#   (shown above). "WithTimeout without calling cancel is fine because it times out anyway" is an
#   interview trap.
# * "fetchAPI需持续监听ctx.Done()通道": yes, and it is the part people skip. A context is
#   cooperative: code that blocks without selecting on `Done()` (a raw socket read, a lock) is not
#   interrupted. Use APIs that take a ctx (`http.NewRequestWithContext`, go-redis's `ctx` argument).
# * The source's listener example has a `select` with a single case: that is just `<-ctx.Done()`.
# * Propagation is **downward only**: cancelling a child never cancels the parent or siblings; a
#   child's deadline is the earlier of its own and its parent's.
# * Go 1.20+/1.21+ added `WithCancelCause`, `WithTimeoutCause`, `AfterFunc` and `WithoutCancel`
#   (for work that must outlive the request, like an audit write).
#
# ## Exercise
#
# `exercises/06_context_timeouts.ipynb`: write `call_all(ctx, calls)` so the handler's deadline
# reaches every downstream call; the checker measures the work wasted after the deadline.
#
# ## Interview drill

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
drill("06")

# %% [markdown]
# ## What a strong answer says
#
# *"I create the deadline once, at the edge (`WithTimeout` in the handler, `defer cancel()`), and
# pass `ctx` as the first argument all the way down. Every layer derives from it, so no child can
# outlive its parent's deadline, and one cancel closes `Done()` for the whole subtree
# synchronously. Every blocking call selects on `ctx.Done()` or takes the ctx. For a fan-out I use
# `errgroup.WithContext`, so the first error cancels the siblings. Across services I send the
# remaining budget minus a small margin as a duration (gRPC's `grpc-timeout` does it for me; over HTTP
# an agreed header), and the next hop starts its own context from it. The payoff is measurable: without
# propagation the client still times out, but the backend keeps doing work for nobody, which turns
# a slowdown into an avalanche."*

# %%
finish()
