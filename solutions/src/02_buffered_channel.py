# ---
# jupyter:
#   kernelspec:
#     display_name: hcedu (Python 3)
#     language: python
#     name: hcedu
# ---

# %% [markdown]
# # Exercise 02: build a buffered channel
#
# Chapter 02 showed Go's `hchan`. Now write one: a buffered channel with a ring buffer and FIFO wait
# queues, faithful enough to pass a checker built from Go's rules.
#
# Complete `BufferedChan(cap)` (cap >= 1) so that it keeps Go's rules (chapter 02, "Build it"):
#
# * **state**: fields `buf` (a list of `cap` slots used as a ring), `qcount`, `sendx`, `recvx`, `recvq`,
#   `sendq` (the parked waiters, in parking order), `closed`, all guarded by one `threading.Lock`;
# * **order**: values come out in the order they went in; parked receivers and parked senders are
#   each served first-parked, first-served;
# * **no detours**: a value never waits in the buffer while a receiver is parked, and when a receive
#   frees a slot of a full buffer, the first parked sender's send is complete when that receive
#   returns: its value is in the ring and no other send can overtake it. The woken goroutine must not
#   need to do anything more for that (in Go it may not be scheduled for a while);
# * **close**: closing twice panics `Panic("close of closed channel")`; sending on a closed channel
#   panics `Panic("send on closed channel")`, also for a sender parked when `close` runs; buffered
#   values are still received after `close`, then every receive returns `(None, False)`;
# * **timeouts**: `send(v, timeout=None)` and `recv(timeout=None) -> (v, ok)` raise `TimeoutError`
#   when the timeout passes, leave no waiter behind on a queue, and never lose (or duplicate) a value
#   that a waker handed over just as the timeout fired.
#
# A `_Waiter` (Go's *sudog*) is provided: a parked goroutine waits on its `event`, and whoever dequeues
# it fills in `value`/`ok` first. Park on that event: the checker watches the wait, so that it can
# look at your channel the instant a waker's operation returns, before the woken thread runs again.

# %%
import threading
from collections import deque

from hcedu.go import Panic


class _Waiter:
    """A parked goroutine (Go's sudog): the value it carries and how it was woken."""

    def __init__(self, value=None):
        self.value = value
        self.ok = False
        self.event = threading.Event()


class BufferedChan:
    """make(chan T, cap): a ring buffer plus FIFO queues of parked senders and receivers."""

    def __init__(self, cap):
        ### BEGIN SOLUTION
        if cap < 1:
            raise ValueError(f"cap must be >= 1 (got {cap})")
        self.lock = threading.Lock()
        self.buf = [None] * cap
        self.dataqsiz = cap
        self.qcount = self.sendx = self.recvx = 0
        self.recvq, self.sendq = deque(), deque()
        self.closed = False
        ### END SOLUTION

    def __len__(self):
        return self.qcount

    def _park(self, w, q, timeout):
        """Block until a waker has dealt with w; if none has within `timeout` s, leave q and raise TimeoutError."""
        ### BEGIN SOLUTION
        if not w.event.wait(timeout):
            with self.lock:
                if w in q:
                    q.remove(w)
                    raise TimeoutError("channel operation timed out")
            w.event.wait()       # dequeued just now: the waker is about to set the event
        ### END SOLUTION

    def send(self, v, timeout=None):
        ### BEGIN SOLUTION
        with self.lock:
            if self.closed:
                raise Panic("send on closed channel")
            if self.recvq:                       # direct hand-off
                w = self.recvq.popleft()
                w.value, w.ok = v, True
                w.event.set()
                return
            if self.qcount < self.dataqsiz:      # room in the ring
                self.buf[self.sendx] = v
                self.sendx = (self.sendx + 1) % self.dataqsiz
                self.qcount += 1
                return
            w = _Waiter(v)
            self.sendq.append(w)
        self._park(w, self.sendq, timeout)
        if not w.ok:
            raise Panic("send on closed channel")
        ### END SOLUTION

    def recv(self, timeout=None):
        ### BEGIN SOLUTION
        with self.lock:
            if self.sendq:                       # full buffer and a parked sender: rotate
                w = self.sendq.popleft()
                v = self.buf[self.recvx]
                self.buf[self.recvx] = w.value
                self.recvx = (self.recvx + 1) % self.dataqsiz
                self.sendx = self.recvx
                w.ok = True
                w.event.set()
                return v, True
            if self.qcount > 0:
                v = self.buf[self.recvx]
                self.buf[self.recvx] = None
                self.recvx = (self.recvx + 1) % self.dataqsiz
                self.qcount -= 1
                return v, True
            if self.closed:
                return None, False
            w = _Waiter()
            self.recvq.append(w)
        self._park(w, self.recvq, timeout)
        return w.value, w.ok
        ### END SOLUTION

    def close(self):
        ### BEGIN SOLUTION
        with self.lock:
            if self.closed:
                raise Panic("close of closed channel")
            self.closed = True
            receivers, senders = list(self.recvq), list(self.sendq)
            self.recvq.clear()
            self.sendq.clear()
        for w in receivers:                      # each gets (None, False)
            w.value, w.ok = None, False
            w.event.set()
        for w in senders:                        # each wakes with ok=False and panics
            w.ok = False
            w.event.set()
        ### END SOLUTION


# %% [markdown]
# ## Check

# %%
from hcedu.course import check

check.buffered_channel(BufferedChan)

# %% [markdown]
# **Going further.** Compare with `hcedu/go/chan.py`: it parks on a per-waiter lock instead of an
# `Event`, supports `cap = 0` (where `recv` from a parked sender copies its value directly) and lets
# `select` park one goroutine on several channels at once, which needs a "first waker wins" claim.
