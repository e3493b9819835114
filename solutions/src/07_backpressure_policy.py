# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 07: a back-pressure policy — drop the oldest
#
# When the bridge's buffer is full, `drop_oldest` makes room by evicting the item that has waited
# longest, so the buffer always holds the freshest data (think: position updates, metrics). It must
# **never block** the producer, and it must **report every item it evicts** — an item silently lost is
# the bug this chapter is about.
#
# Write `offer(ch, item)` on a Go-style channel (`hcedu.go.Chan`): it returns the list of items it evicted
# (usually `[]` or one item). Use the non-blocking operations:
#
# * `ch.try_send(v) -> bool` — Go's `select { case ch <- v: default: }`;
# * `ch.try_recv() -> (v, ok, selected)` — `selected` is False when nothing could be received.
#
# Other producers and a consumer use the channel at the same time, so any step of yours may find it
# changed since your previous step. Whatever happens: `offer` never blocks, the item ends up in the
# buffer, and every item it removed is reported (and nothing it did not remove).

# %%
from hcedu.go import Chan


def offer(ch: Chan, item) -> list:
    """Put ``item`` into ``ch`` without blocking, evicting the oldest buffered items as needed;
    return the evicted items in eviction order."""
    ### BEGIN SOLUTION
    evicted = []
    while not ch.try_send(item):          # panics on a closed channel, like a send
        old, ok, selected = ch.try_recv()  # the oldest buffered item (FIFO)
        if selected and ok:
            evicted.append(old)
    return evicted
    ### END SOLUTION


# %% [markdown]
# Try it on a channel of 3:

# %%
ch = Chan(3)
try:
    print([offer(ch, x) for x in "abcde"], "| buffer now:", [ch.recv() for _ in range(3)])
except NotImplementedError:
    print("… write offer() above first")

# %% [markdown]
# ## Check
#
# The checker forces the two races (a rival producer refilling the slot you freed; the consumer emptying
# the buffer before you evict), then runs 8 producers against a live consumer on a one-slot channel and
# checks that every item was delivered or reported evicted, exactly once, in order per producer.

# %%
from hcedu.course import check

check.drop_oldest(offer)

# %% [markdown]
# **Going further.** `hcedu.patterns.queue.Bridge(policy="drop_oldest", on_drop=...)` uses the same loop.
# Which of the five policies would you choose for (a) order placement, (b) GPS pings, (c) audit logs — and
# what does each one do to the caller?
