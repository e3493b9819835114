# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Start here: high-concurrency backend engineering, run live
#
# This course prepares you for the interview questions on Go's concurrency model and the Redis
# patterns built on it — and goes past memorised answers. Every concept is a **working
# implementation** in the `hcedu` package (real threads, a real Redis protocol) that you run,
# break and measure here, in Python. Each chapter quotes the interview question in its Chinese
# original and in English, and ends with what a strong answer says.
#
# Why Python for a Go course? Because the ideas (a channel's ring buffer, a context's cancellation
# tree, a lock's fencing token, Little's law) are language-independent, and Python lets you stop a
# thread mid-step, draw the state and measure it in one notebook. Where Python's numbers differ
# from Go's (the GIL, thread cost), the chapter says so and shows why.

# %% [markdown]
# ## How this course works
#
# Every chapter has the same shape:
#
# 1. **The interview question** — Chinese original + English, and what a strong answer covers.
# 2. **Build it** — the idea, and the `hcedu` code that implements it.
# 3. **Watch it** — a live experiment with a chart (and a widget where a knob matters).
# 4. **Break it** — the naive version's failure (race, leak, oversell, stale read), shown happening.
# 5. **Measure it** — numbers from a real run next to the theory they should match.
# 6. **Source check** — where the source text is wrong or dated; each one is an interview trap.
# 7. **Exercise + interview drill.**
#
# Cells are short and every notebook runs top to bottom in seconds: *Run → Run All Cells* is safe.

# %% [markdown]
# ## The chapters
#
# <!-- hcedu: chapter map -->

# %% [markdown]
# ## Which Redis am I using?
#
# Nothing needs installing: by default the course runs an **embedded Redis** (fakeredis, in this
# process). Set `REDIS_URL=redis://host:port/0` before starting JupyterLab and the very same code
# talks to a real `redis-server` instead. `setup("00")` seeds randomness, sets plot defaults and
# returns this chapter's key prefix, so chapters never step on each other's keys.

# %%
from hcedu.course import setup, finish, drill
from hcedu import backend

ks = setup("00")
r = backend.connect()
ks

# %% tags=["nbval-ignore-output"]
# (the version depends on your backend)
info = backend.describe(r)
assert info.kind in ("embedded", "real")
print(info)

# %%
r.set(ks.key("hello"), "world")
r.get(ks.key("hello"))

# %% [markdown]
# If `REDIS_URL` points at a server that is down, `connect()` fails at once with a message naming
# the URL (password redacted), the cause, and the two fixes: start the server, or unset
# `REDIS_URL` to use the embedded one. `hcedu doctor` in a terminal checks the whole set-up.

# %% [markdown]
# ## A first experiment: Little's law, live
#
# **Why first?** Almost every sizing question in this course — goroutines in flight, connection
# pool size, queue depth, rate limits — is Little's law in disguise: *items in a system = arrival
# rate × time each spends there* (L = λW).
#
# Take a closed loop of **C** workers. Each request needs one of **P** slots (think: Redis
# connections) for **W** seconds. At most min(C, P) requests are in service at once, so the
# throughput cannot exceed
#
# $$X = \frac{\min(C, P)}{W}.$$
#
# Below P, every worker you add adds 1/W requests per second. Past P, extra workers only queue for
# a slot: throughput stays flat and each caller's latency grows to C/X. Here is the prediction for
# P = 4 slots and W = 20 ms:

# %%
import pandas as pd
from hcedu.lab import littles

levels = (1, 2, 4, 8, 16)
pd.DataFrame({"workers C": levels,
              "predicted req/s": [littles.predict(c, 4, 0.020) for c in levels],
              "predicted latency ms": [1000 * c / littles.predict(c, 4, 0.020) for c in levels]})

# %% [markdown]
# Now measure it: real threads, a real semaphore as the pool, a real 20 ms wait per request
# (sleeping releases the GIL, like waiting on a socket does). Each of the five levels runs for 0.3 s.

# %% tags=["nbval-ignore-output"]
# measured: numbers vary run to run; the asserts check the shape
df = littles.experiment(levels=levels, slots=4, service_time=0.020, duration=0.3)
for row in df.itertuples():   # never above the bound; a busy machine's late wake-ups can only lower it
    assert 0.5 * row.predicted < row.throughput < 1.15 * row.predicted, row
assert df.throughput.iloc[-1] < 1.3 * df.throughput.iloc[2], "past P, throughput must stay flat"
assert df.mean_latency.iloc[-1] > 2.5 * df.mean_latency.iloc[2], "past P, latency must grow"
df.round({"seconds": 2, "throughput": 1, "mean_latency": 4, "predicted_latency": 4})

# %%
fig = littles.chart_closed_loop(df)

# %% [markdown]
# **Takeaway:** throughput climbs 1/W per worker until the P slots are busy, then stays flat while
# latency keeps climbing — past the bound, more concurrency buys only queueing delay.
#
# Chapter 05 runs the same experiment against Redis connection pools, where the ceiling is the
# smaller of the pool bound and the client's own CPU.

# %% [markdown]
# ## Exercises
#
# Each chapter has an exercise in `exercises/` (generated from the worked `solutions/`). Open
# `exercises/00_littles_law.ipynb`: it asks you to write `predict(concurrency, slots,
# service_time)`. Its last cell runs a checker that prints one line — `✓ 5/5 checks passed`, or
# the first failing check with a hint, or `… not solved yet` until you replace the stub. Here is the
# checker run on the course's own implementation, with `measure=False`: that skips the fifth check
# (a measurement with real threads, two levels of 0.3 s each), so it reports 4/4:

# %%
from hcedu.course import check

verdict = check.littles_law(littles.predict, measure=False)
assert str(verdict).startswith("✓ 4/4")
verdict

# %% [markdown]
# ## Interview drill
#
# Every chapter ends with a drill from the interview bank: read the question (in Chinese and
# English), answer out loud, reveal the key points, and grade yourself. Cards you miss come back
# sooner (Leitner boxes); progress is saved under `~/.hcedu` (or `$HCEDU_HOME`). In a terminal:
# `hcedu quiz --chapter 00`.

# %% tags=["nbval-ignore-output"]
# (an interactive widget)
drill("00")

# %% [markdown]
# ## What a strong answer says
#
# *"How many connections / goroutines in flight do I need?"* — Little's law: in-flight = rate ×
# latency. Size from the latency tail plus headroom, remember that past the bound more
# concurrency only adds queueing, and verify with a measurement like the one above.

# %%
finish(ks)
