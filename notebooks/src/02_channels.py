# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # 02 · Channels as Go builds them: `hchan`, wait queues and `select`
#
# ## The interview question
#
# > **Channel的底层实现原理**
# > Channel基于环形队列实现,内部包含缓冲区、发送/接收等待队列。当缓冲区满时,发送操作阻塞并加入等待队列;
# > 接收时若为空,则接收方挂起。
# > ```go
# > ch := make(chan int, 2)
# > ch <- 1 // 发送:元素入队
# > ch <- 2
# > go func() { val := <-ch; fmt.Println(val) }()
# > ```
# > 执行逻辑:先缓存两个元素,第三个发送将阻塞直到有接收操作释放空间。
#
# *How are channels implemented?* The source: a ring buffer plus send and receive wait queues; a send
# to a full buffer blocks and joins the wait queue; a receive from an empty one parks. In its example
# two values are buffered and a third send would block until a receive frees a slot.
#
# A strong answer names the struct (`runtime.hchan`: `buf`, `qcount`, `dataqsiz`, `sendx`, `recvx`,
# `recvq`, `sendq`, `closed`, one `lock`), explains the **direct hand-off** to a parked receiver (the
# buffer is skipped), what `close` does to each side, and how `select` picks and parks. We build all
# of it on real threads, watch it, break it and measure it.

# %%
from hcedu.course import setup, finish, drill

setup("02", redis=False)   # seeds random (select's choice too); this chapter needs no Redis

# %% [markdown]
# ## Build it: `hcedu.go.Chan` mirrors `hchan`
#
# **Why a lock and two queues?** A channel is shared by many goroutines, so its state lives behind one
# mutex. A goroutine that cannot proceed puts a *sudog* (its "I am waiting here, with this value"
# record) on `sendq` or `recvq` and parks. The goroutine that later makes progress possible dequeues it,
# **moves the value itself**, and wakes it: the woken goroutine never has to retry.
#
# `Chan(cap)` keeps Go's field names. Here is the whole send path; each branch is a row of Go's
# `chansend`:

# %%
import inspect
from hcedu.go import Chan, ChanTimeout, Panic, select, Recv, Send
from hcedu.go import chan as chanmod

src = inspect.getsource(Chan.send)
print(src[src.index("        if timeout is not None"):])

# %% [markdown]
# Read it top-down: **closed → panic**; **a receiver is parked → hand `v` straight to it** (the buffer
# is not touched); **room in the buffer → `buf[sendx] = v`, advance `sendx` around the ring**;
# otherwise park on `sendq`. Receive is the mirror image, with one twist we will see below.
#
# ## Watch it: the source's example, step by step
#
# `ChanStepper` runs each operation in its own goroutine thread (`G1`, `G2`, …) on a real `Chan(2)`
# and waits until every goroutine has finished or parked, so each snapshot is a stable `hchan`.

# %%
from hcedu.lab.chandiagram import ChanStepper, chart_chan, describe

script = [("send", "G1", 1), ("send", "G1", 2),   # ch <- 1; ch <- 2: buffered
          ("send", "G1", 3),                      # the third send: blocks
          ("recv", "G2"),                         # go func(){ val := <-ch }()
          ("recv", "G2"), ("recv", "G2")]
st = ChanStepper(2, script, timeout=10)
for op, lines, state in st.run():
    print(f"── {op:12s} {'; '.join(lines)}")
    print(describe(state))
st.stop()

# %% [markdown]
# The source is right that **the third send blocks**: `G1` is parked on `sendq` holding `3`. Now look at
# the first receive: it returned `1` from `buf[recvx]` and, because a sender was waiting, put the
# sender's `3` into the freed slot and moved *both* indices (`recvx = sendx = 1`). That is Go's
# `recv()` on a full buffer: one lock round, FIFO kept, and `G1` woken already done. Drawn:

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
chart_chan(st.history[2][2], title="after the third send: G1 parked on sendq", ax=axes[0])
chart_chan(st.history[3][2], title="after one receive: 3 rotated into the freed slot", ax=axes[1])
fig.tight_layout()
plt.show()

# %% [markdown]
# Takeaway of the picture: a blocked sender lives *outside* the buffer (on `sendq`), and a receive that
# frees a slot hands that slot to it in the same critical section.
#
# Step through it yourself (each click applies one operation and redraws):

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
from hcedu.lab import chandiagram
chandiagram.dashboard(2, script + [("recv", "G3"), ("send", "G4", 9), ("close",)])

# %% [markdown]
# ## Unbuffered: a rendezvous, and the buffer is skipped
#
# `make(chan int)` has no ring buffer at all (`dataqsiz = 0`). Whoever arrives first parks; the second
# completes the transfer directly from one goroutine's hands to the other's.

# %%
st = ChanStepper(0, [("recv", "G1"), ("send", "G2", "hello"),     # receiver first
                     ("send", "G3", "world"), ("recv", "G4")],    # sender first
                 timeout=10)
for op, lines, state in st.run():
    print(f"── {op:16s} {'; '.join(lines)}")
    print(describe(state))
st.stop()

# %% [markdown]
# ## Close: what every operation does in every state
#
# The rules that interviews probe (specs C1–C4), measured rather than recited: each cell below ran the
# operation on a real channel with a 20 ms timeout.

# %%
import pandas as pd

def outcome(make, op):
    ch = make()
    try:
        if op == "send 1":
            chanmod.send(ch, 1, timeout=0.02); return "ok"
        if op == "recv":
            v, ok = chanmod.recv_ok(ch, timeout=0.02); return f"({v}, {ok})"
        chanmod.close(ch); return "ok"
    except ChanTimeout:
        return "blocks"
    except Panic as p:
        return f"panic: {p}"

def with_data(closed):
    def make():
        c = Chan(2); c.send(7)
        if closed: c.close()
        return c
    return make

def empty(closed):
    def make():
        c = Chan(2)
        if closed: c.close()
        return c
    return make

states = {"nil": lambda: None, "open, empty": empty(False), "open, holds 7": with_data(False),
          "closed, holds 7": with_data(True), "closed, drained": empty(True)}
table = pd.DataFrame({op: {s: outcome(m, op) for s, m in states.items()} for op in ["send 1", "recv", "close"]})
table

# %% [markdown]
# Read it as rules: a **closed channel never blocks a receiver** — buffered values first, then
# `(zero, false)` forever; a closed channel makes **senders panic**; closing twice or closing nil panics;
# a **nil channel blocks forever** on both sides. And `close` wakes *every* parked receiver at once:

# %%
from hcedu.go import go

ch = Chan(0)
gs = [go(ch.recv_ok, 5) for _ in range(3)]
import time
while len(ch.snapshot().recvq) < 3:
    time.sleep(0.001)
print("parked on recvq:", len(ch.snapshot().recvq))
ch.close()
[g.get(timeout=5) for g in gs]

# %% [markdown]
# That broadcast is why `close(done)` is Go's way to cancel many workers at once (and what
# `context.Done()` is built on).
#
# ## `select`: patterns on one mechanism
#
# `select(*cases, default=False)` follows `runtime/select.go`: shuffle the cases into a random *poll
# order*, lock every channel in a fixed *lock order* (so two selects can never deadlock each other),
# take the first ready case; otherwise take `default`, or park a sudog on **every** channel and let the
# first one to fire win. It returns `(index, value, ok)`, `-1` for default.

# %%
from collections import Counter

a, b = Chan(100), Chan(100)
for i in range(100):
    a.send("a"); b.send("b")
seq = "".join(select(Recv(a), Recv(b))[1] for _ in range(100))
runs = [len(r) for r in seq.replace("ab", "a b").replace("ba", "b a").split()]
print("first 30 picks:", seq[:30])
print("counts:", sorted(Counter(seq).items()), "- longest run of one case:", max(runs))

# %% [markdown]
# Both cases are ready every time, so each pick is a fair coin toss (seeded here, so the output is
# stable): about half each over many picks, in no fixed order — runs of the same case are normal. Code
# that needs priority must say so (check the urgent channel first with a `default`), not rely on the
# order of the cases.

# %% [markdown]
# **Timeout** (`case <-time.After(d)`), **non-blocking send and receive** (`default`), with `after()` as
# Go's `time.After`:

# %%
work = Chan(0)
i, v, ok = select(Recv(work), Recv(chanmod.after(0.05)))
print("timeout fired" if i == 1 else "got work")

full = Chan(1); full.send("x")
print("non-blocking send:", "sent" if select(Send(full, "y"), default=True)[0] == 0 else "would block: dropped")
print("non-blocking recv:", select(Recv(Chan(1)), default=True))


# %% [markdown]
# **Fan-in** (merge several producers into one stream) and a **done channel** to stop a worker:

# %%
def producer(out, name, n):
    for i in range(n):
        out.send(f"{name}{i}", timeout=5)
    out.close()

c1, c2 = Chan(0), Chan(0)
go(producer, c1, "x", 3); go(producer, c2, "y", 3)
merged, live = [], [c1, c2]
while any(live):
    i, v, ok = select(Recv(live[0]), Recv(live[1]), timeout=5)
    if not ok:
        live[i] = None      # a closed input: make its case a nil channel, never ready again
    else:
        merged.append(v)
sorted(merged)


# %%
def worker(jobs, done, results):
    while True:
        i, v, ok = select(Recv(done), Recv(jobs), timeout=5)
        if i == 0:
            return "stopped by done"
        results.append(v * v)

jobs, done, results = Chan(0), Chan(0), []
g = go(worker, jobs, done, results)
for n in range(4):
    jobs.send(n, timeout=5)
done.close()                     # broadcast: every worker selecting on done returns
g.get(timeout=5), results

# %% [markdown]
# ## Break it: a deadlock, caught
#
# In Go this program dies with `fatal error: all goroutines are asleep - deadlock!`: an unbuffered send
# in `main` with nobody to receive. Here the timeout turns the hang into an exception we can show:

# %%
ch = Chan(0)
try:
    ch.send(1, timeout=0.05)     # Go: ch <- 1 with no receiver, forever
except ChanTimeout as e:
    print("deadlock:", type(e).__name__, "- nothing was sent:", describe(ch.snapshot()).splitlines()[3])

# %% [markdown]
# The timed-out send removed its own sudog: no ghost sender is left on `sendq` for a later receiver to
# meet. Fixes in Go: receive in another goroutine, give the channel a buffer, or `select` with a timeout.
#
# ## Closing a channel that many goroutines send on
#
# The rule that follows from the panics above: **only a sender closes, and only when no send can still
# happen**. A receiver never closes a channel it reads from (a sender it cannot see would panic), and with
# many senders no single sender knows it is the last. Three standard answers:
#
# 1. **A coordinator closes.** The senders are counted with a `WaitGroup`; one extra goroutine waits for
#    all of them and then closes. The receiver just ranges until the channel is closed.
# 2. **The receiver signals on a second channel.** To stop senders early, the receiver closes a `done`
#    channel (which it owns); every sender selects on `Send(data, v)` and `Recv(done)` and returns. The
#    data channel is never closed, and the garbage collector reclaims it once nobody refers to it.
# 3. **Several parties may decide to close** (first error, or a timeout): wrap the `close` in a
#    `sync.Once` so it runs exactly once (`context.WithCancel`'s cancel function is this pattern).
#
# Break it first: a receiver that has had enough closes the data channel, and a sender panics:

# %%
from hcedu.go import WaitGroup
from hcedu.go.goroutine import silence_panics

data = Chan(1)

def eager_sender():
    for i in range(5):
        data.send(i, timeout=5)

with silence_panics():
    g = go(eager_sender)
    first = data.recv(timeout=5)
    data.close()                                   # the receiver closes: wrong
    assert g.join(5)
print("received", first, "then the sender died:", repr(g.exception))

# %%
# 1. a coordinator closes once every sender has returned
results, senders = Chan(4), WaitGroup()
for p in range(3):
    senders.go(lambda p=p: [results.send((p, i), timeout=5) for i in range(2)])
go(lambda: (senders.wait(timeout=5), results.close()))
print("coordinator:", sorted(results))            # range ends when the coordinator closes

# 2. the receiver stops the senders through a done channel it owns
data, done, stopped = Chan(0), Chan(0), WaitGroup()

def sender(p):
    for i in range(1000):
        if select(Send(data, (p, i)), Recv(done), timeout=5)[0] == 1:
            return                                  # done is closed: stop sending

for p in range(3):
    stopped.go(sender, p)
got = [data.recv(timeout=5)[0] for _ in range(4)]
done.close()                                        # broadcast "stop", the data channel stays open
assert stopped.wait(timeout=5)
print("done channel: received", len(got), "values, then all 3 senders returned; data is still open:",
      not data.closed)

# %% [markdown]
# ### What a channel operation guarantees about memory
#
# Channels are also Go's main synchronisation tool. The Go memory model (go.dev/ref/mem, revised for
# Go 1.19) states exactly what they order — "synchronized before" means everything the first goroutine
# wrote before the first event is visible to the second after the second event:
#
# * a **send** is synchronized before the **completion of the corresponding receive**;
# * the **close** of a channel is synchronized before a **receive that returns because the channel is
#   closed** (`ok == false`): that is why `close(done)` safely publishes whatever was written before it;
# * a **receive from an unbuffered channel** is synchronized before the **completion of the corresponding
#   send** (the sender knows its value was taken);
# * the **k-th receive** on a channel with capacity C is synchronized before the **(k+C)-th send completes**:
#   a buffered channel used as a semaphore (send to acquire, receive to release) bounds concurrency to C.
#
# Nothing else is promised: `len(ch)` read without a channel operation orders nothing, and a value put in
# shared memory *after* the send is not guaranteed visible to the receiver. In `hcedu.go.Chan` every
# operation takes the channel's lock, which gives these orders (and more) for free.
#
# ## Measure it: throughput against `queue.Queue` and `asyncio.Queue`
#
# Theory: with a buffer, a producer and a consumer rarely meet, so cost is a lock and a ring index per
# message; unbuffered, every message is a rendezvous, i.e. at least one park + wake-up (a thread
# switch). `hcedu`'s `Chan` is one lock per channel with per-waiter wake-up, while `queue.Queue` pays for
# two condition variables and re-locks after every wake-up. `queue.Queue` has no unbuffered mode, so
# `cap 0` runs it with `maxsize=1`.

# %% tags=["nbval-ignore-output"]
from hcedu.lab import chanbench

# 5,000 messages per point (1,000 at cap 0, where each is a rendezvous), best of 3 runs per point: one
# run's rate swings 3x-5x on a busy machine (measured), the best far less
df = chanbench.throughput_vs_capacity(caps=[0, 1, 8, 128], n=5_000, repeats=3)
assert list(df.columns) == ["kind", "cap", "repeat", "msgs_per_s"] and len(df) == 36
assert (df["msgs_per_s"] > 0).all()
pivot = df.pivot_table(index="cap", columns="kind", values="msgs_per_s", aggfunc="max")
gain = pivot.loc[128] / pivot.loc[0]
assert gain["Chan"] > 2, gain          # a rendezvous per message costs far more than a ring slot
print(pivot.round(-3))
print("cap 128 vs cap 0:", ", ".join(f"{k} {v:.0f}x" for k, v in gain.items()))
chanbench.chart_throughput_vs_capacity(df)

# %% [markdown]
# Takeaway: a buffer buys throughput by letting the two sides run without meeting (the factor from
# cap 0 to cap 128, best run against best run, is printed above the chart), and the rendezvous cost is a thread switch. The full benchmark with
# the targets is `benchmarks/chan_throughput.py`.

# %% tags=["nbval-ignore-output"]
dw = chanbench.throughput_vs_workers(pairs=[1, 2, 4], cap=16, n=5_000)
assert list(dw.columns) == ["kind", "workers", "msgs_per_s"] and len(dw) == 9
per = dw.pivot_table(index="workers", columns="kind", values="msgs_per_s")
print("4 pairs vs 1 pair:", ", ".join(f"{k} {v:.1f}x" for k, v in (per.loc[4] / per.loc[1]).items()))
chanbench.chart_throughput_vs_workers(dw)

# %% [markdown]
# Takeaway: more pairs add no parallelism on one channel — every operation takes its one lock (and, in
# CPython, the one GIL) — so on a quiet machine the lines stay roughly flat. The factor printed above is
# this run's: on a busy machine the lines can rise, because more threads win a bigger share of a
# contended CPU from other processes; that measures the host's scheduler, not the channel. Go's channels hit the same wall (one
# `hchan.lock`), which is why hot paths shard work across channels.

# %% [markdown]
# ## Real Go beside the mirror
#
# **Why:** `Chan` claims to behave like Go's `hchan`. Claims are cheap; the cells below run real Go
# programs from `hcedu/lab/gosnippets/` with `hcedu.gorun` (the runner behind the `%%go` cell magic:
# `%load_ext hcedu.gorun`). Without a Go toolchain they print one line saying how to get one.
#
# ### The source's buffered channel, traced in Go and in the mirror
#
# The program fills a `make(chan int, 2)`, parks a third sender (it waits until `runtime.Stack` shows the
# goroutine in `chan send`, no sleep-and-hope), then drains and closes the channel, printing `len` at every
# step:

# %%
from IPython.display import display
from hcedu import gorun
from hcedu.lab import gocompare, gosnippets

print(gosnippets.source("ch02_chan_trace"))

# %% [markdown]
# The same steps written against `hcedu.go.Chan` (it waits for the parked sender in `Chan.snapshot().sendq`)
# print this trace:

# %%
print(gocompare.chan_trace_mirror(), end="")

# %% tags=["nbval-ignore-output"]
# runs Go: the trace is deterministic, the version line is not
trace = gocompare.chan_trace_compare()     # prints how to get Go (and returns None) without a toolchain
if trace is not None:
    gocompare.print_trace(trace)        # Go's lines, "=" where the mirror printed the same
    assert trace["agree"].all(), trace

# %% [markdown]
# **Takeaway:** line for line the same, including the detail most answers miss: the first receive leaves
# `len` at 2, because it moves the parked sender's value into the slot it just freed.
#
# ### Throughput: Go's channels against `Chan`
#
# One sender, one receiver, per buffer size, in Go (`ch02_chan_throughput.go`) and through the mirror's
# `Chan` in the same cell:

# %%
print(gosnippets.source("ch02_chan_throughput"))

# %% tags=["nbval-ignore-output"]
# measured: both sides vary by machine and load; the assert checks the shape. Go's side is the best of 3
# runs (0.2 s each): one run on a busy machine measured a quarter of its usual rate
real = gocompare.chan_throughput(200_000)  # None (and how to get Go) without a toolchain
if real is not None:
    real = pd.concat([real, *(gocompare.chan_throughput(200_000) for _ in range(2))])
    real = real.groupby("cap", as_index=False)["msgs_per_s"].max()
    side = real[["cap", "msgs_per_s"]].rename(columns={"msgs_per_s": "go_msgs_per_s"})
    side["chan_msgs_per_s"] = [chanbench.pipe_throughput("Chan", c, 5_000 if c else 1_000) for c in side["cap"]]
    side["go_x"] = side["go_msgs_per_s"] / side["chan_msgs_per_s"]
    assert (side["go_x"] > 2).all(), side   # a runtime struct in compiled code vs Python threads and a lock
    print(f"{gorun.version()}: a Go channel moves {side['go_x'].min():.0f}x to {side['go_x'].max():.0f}x "
          f"as many messages per second as Chan")
    display(side.round(1))

# %% [markdown]
# **Takeaway:** real channels are many times faster at every buffer size (this run's factors are printed
# above), and that is fine: the mirror exists for *semantics* — the same states, the same queues and the same
# trace, slow enough to stop and inspect at every step — while speed claims about Go must be measured in
# Go.

# %% [markdown]
# ## Source check
#
# * "Channel基于环形队列实现" — only **buffered** channels have a ring buffer; an unbuffered channel
#   has `dataqsiz = 0` and transfers goroutine to goroutine.
# * "当缓冲区满时,发送操作阻塞" — true, but incomplete: if a receiver is already parked, a send
#   **bypasses the buffer** (direct hand-off), whatever the buffer holds (it is then necessarily empty).
# * "接收时若为空,则接收方挂起" — unless the channel is **closed**: then it returns `(zero, false)` at
#   once. Interview trap: *"a closed channel blocks receivers"* — it never does.
# * The example's goroutine may never print: `main` can return before it runs. Real code waits
#   (`sync.WaitGroup` or a done channel).
#
# ## Exercise
#
# `exercises/02_buffered_channel.ipynb`: implement a buffered channel — ring buffer, `sendx`/`recvx`,
# FIFO wait queues, close — that passes a checker built from the `hchan` rules.
#
# ## Interview drill

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
drill("02")

# %% [markdown]
# ## What a strong answer says
#
# "A channel is a `runtime.hchan`: a mutex, an optional ring buffer (`buf`, `dataqsiz`, `qcount`,
# `sendx`, `recvx`), FIFO queues of parked senders and receivers (`sendq`, `recvq` of sudogs), and a
# `closed` flag. A send checks, under the lock: closed → panic; a parked receiver → copy the value
# straight to it and wake it (no buffer); room → write `buf[sendx]`; else park on `sendq`. A receive
# mirrors it; on a full buffer with a parked sender it takes the head and puts the sender's value at
# the tail in one step. `close` wakes every receiver with the zero value and `ok=false` and makes
# parked senders panic; closing twice or closing nil panics; nil channels block forever — so only a
# sender closes, and with many senders a coordinator (after a WaitGroup), a done channel owned by the
# receiver, or a sync.Once does. A send is synchronized before its receive completes, a close before a
# receive that sees it, and the k-th receive before the (k+C)-th send completes. `select`
# shuffles cases for a uniform random choice, locks channels in address order to avoid deadlock,
# takes the first ready case or `default`, else parks on all channels and exactly one case fires."

# %%
finish()
