"""Exercise 02 (buffered channel): typical wrong solutions are rejected, naming the mistake; the race-type
ones on every run. Each starts from the model answer with one learner's edit (see tests/learner.py)."""

from __future__ import annotations

import pytest

from hcedu.course import check
from helpers import assert_accepted, assert_rejected
from learner import load, plant, solution_code

REF = solution_code("02_buffered_channel")

ROTATE = """            if self.sendq:                       # full buffer and a parked sender: rotate
                w = self.sendq.popleft()
                v = self.buf[self.recvx]
                self.buf[self.recvx] = w.value
                self.recvx = (self.recvx + 1) % self.dataqsiz
                self.sendx = self.recvx
                w.ok = True
                w.event.set()
                return v, True
"""
TAKE = """                self.qcount -= 1
                return v, True
"""
PARK_RESULT = """        self._park(w, self.sendq, timeout)
        if not w.ok:
            raise Panic("send on closed channel")
"""
PARK = """            with self.lock:
                if w in q:
                    q.remove(w)
                    raise TimeoutError("channel operation timed out")
            w.event.wait()       # dequeued just now: the waker is about to set the event
"""

WRONG = {
    # hole 1: recv frees a slot and wakes the sender to try again, instead of moving its value itself
    "wake_sender_to_retry": (REF, [
        (ROTATE, ""),
        (TAKE, """                self.qcount -= 1
                if self.sendq:                   # a slot is free now: let the first parked sender retry
                    w = self.sendq.popleft()
                    w.ok = True
                    w.event.set()
                return v, True
"""),
        (PARK_RESULT, """        self._park(w, self.sendq, timeout)
        if not w.ok:
            raise Panic("send on closed channel")
        return self.send(v, timeout)             # woken: there is room now, try again
""")], ("recv itself must move", "retry")),
    # hole 2: on timeout, raise even when a waker already dequeued us and handed over a value
    "timeout_loses_handoff": (REF, [(PARK, """            with self.lock:
                if w in q:
                    q.remove(w)
            raise TimeoutError("channel operation timed out")
""")], ("value was lost", "TimeoutError although")),
    # hole 3: parked senders served last-in first-out
    "lifo_senders": (REF, [("w = self.sendq.popleft()", "w = self.sendq.pop()")], ("first-in first-out", "FIFO")),
    "lifo_receivers": (REF, [("w = self.recvq.popleft()", "w = self.recvq.pop()")], ("first parked", "FIFO")),
    # off-by-one: the ring index never wraps
    "sendx_never_wraps": (REF, [("self.sendx = (self.sendx + 1) % self.dataqsiz", "self.sendx += 1")],
                      ("sendx",)),
    # forgetting to clean up: a timed-out waiter stays on the queue
    "timeout_leaves_waiter": (REF, [(PARK, "                raise TimeoutError(\"channel operation timed out\")\n")],
                          ("left on sendq", "remove your waiter")),
    # close wakes receivers but forgets the parked senders (they block forever)
    "close_forgets_senders": (REF, [("""        for w in senders:                        # each wakes with ok=False and panics
            w.ok = False
            w.event.set()
""", "")], ("was never woken",)),  # seen when close returns, not after a timeout
    # close wakes only the first parked receiver (a notify, not a notify_all): the others sleep on
    "close_wakes_one_receiver": (REF, [("""        for w in receivers:                      # each gets (None, False)
            w.value, w.ok = None, False
            w.event.set()
""", """        for w in receivers[:1]:                  # wake the receiver
            w.value, w.ok = None, False
            w.event.set()
""")], ("receiver(s) were never woken",)),
    # closed checked before the buffer: buffered values vanish on close
    "closed_hides_buffer": (REF, [("""            if self.qcount > 0:
                v = self.buf[self.recvx]""", """            if self.closed:
                return None, False
            if self.qcount > 0:
                v = self.buf[self.recvx]""")], ("buffered values must still be received", "survive the close")),
    # send ignores parked receivers and buffers the value: they never wake
    "send_skips_receivers": (REF, [("            if self.recvq:                       # direct hand-off",
                                    "            if False and self.recvq:             # (forgot the hand-off)")],
                             ("straight to the first parked receiver",)),  # seen when send returns
}

# the classic Python bounded buffer: one lock, two Conditions, and the woken sender re-checks and stores
CONDITION_QUEUE = REF.split("class BufferedChan:")[0] + '''
class BufferedChan:
    def __init__(self, cap):
        self.lock = threading.Lock()
        self.not_full, self.not_empty = threading.Condition(self.lock), threading.Condition(self.lock)
        self.buf, self.dataqsiz = [None] * cap, cap
        self.qcount = self.sendx = self.recvx = 0
        self.recvq, self.sendq = deque(), deque()
        self.closed = False

    def __len__(self):
        return self.qcount

    def _wait(self, cond, q, timeout):
        w = _Waiter()
        q.append(w)
        try:
            if not cond.wait(timeout):
                raise TimeoutError("channel operation timed out")
        finally:
            if w in q:
                q.remove(w)

    def send(self, v, timeout=None):
        with self.lock:
            while self.qcount == self.dataqsiz and not self.closed:
                self._wait(self.not_full, self.sendq, timeout)
            if self.closed:
                raise Panic("send on closed channel")
            self.buf[self.sendx] = v
            self.sendx = (self.sendx + 1) % self.dataqsiz
            self.qcount += 1
            self.not_empty.notify()

    def recv(self, timeout=None):
        with self.lock:
            while self.qcount == 0 and not self.closed:
                self._wait(self.not_empty, self.recvq, timeout)
            if self.qcount == 0:
                return None, False
            v = self.buf[self.recvx]
            self.buf[self.recvx] = None
            self.recvx = (self.recvx + 1) % self.dataqsiz
            self.qcount -= 1
            self.not_full.notify()
            return v, True

    def close(self):
        with self.lock:
            if self.closed:
                raise Panic("close of closed channel")
            self.closed = True
            self.not_full.notify_all()
            self.not_empty.notify_all()
'''

# a different correct design: the rotation written as "take from the ring, then append the sender's value"
ALTERNATIVE = plant(REF, (ROTATE, ""), (TAKE, """                self.qcount -= 1
                if self.sendq:                   # the ring was full: complete the first parked send now
                    w = self.sendq.popleft()
                    self.buf[self.sendx] = w.value
                    self.sendx = (self.sendx + 1) % self.dataqsiz
                    self.qcount += 1
                    w.ok = True
                    w.event.set()
                return v, True
"""))

RACES = {"wake_sender_to_retry", "timeout_loses_handoff", "condition_queue"}


def _checker(src: str, name: str):
    chan = load(src, name)["BufferedChan"]
    return lambda: check.buffered_channel(chan)


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_solution_is_rejected(name):
    base, edits, mentions = WRONG[name]
    run = _checker(plant(base, *edits), name)
    assert_rejected(run(), *mentions, runs=5 if name in RACES else 1, check=run)


def test_condition_variable_queue_is_rejected_every_time():
    run = _checker(CONDITION_QUEUE, "condition_queue")
    assert_rejected(run(), "recv itself must move", runs=5, check=run)


@pytest.mark.parametrize("src", [REF, ALTERNATIVE], ids=["model", "take_then_append"])
def test_correct_solutions_are_accepted(src):
    assert_accepted(_checker(src, "correct")())
