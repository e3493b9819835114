"""hcedu.go.select: rules S1-S5 of specs/go-semantics.md §1 and ports of Go's select tests
(runtime/chan_test.go: TestSelfSelect, TestSelectStress, TestSelectFairness, TestPseudoRandomSend,
TestNonblockSelectRace, TestNonblockSelectRace2, TestSelectDuplicateChannel), plus a random-schedule
stress test. Every blocking call is bounded; no timings are asserted."""

from __future__ import annotations

import math
import os
import random
import threading
import time

import pytest

from hcedu.go import Chan, ChanTimeout, Panic, Recv, Send, select
from hcedu.go.chan import SendOnClosedChannel

from helpers import STRESS, T, join, spawn, wait_until



def assert_no_trace(*chans):
    for c in chans:
        s = c.snapshot()
        assert s.recvq == [] and s.sendq == [] and len(c.recvq) == 0 and len(c.sendq) == 0


# -- basics ------------------------------------------------------------------------------------------

def test_ready_recv_returns_index_value_ok():
    a, b = Chan(1), Chan(1)
    b.send("x")
    assert select(Recv(a), Recv(b)) == (1, "x", True)


def test_send_case_returns_none_true():
    a = Chan(1)
    assert select(Send(a, 5)) == (0, None, True)
    assert a.recv() == 5


def test_default_only_when_nothing_ready():
    a = Chan(0)
    assert select(Recv(a), Send(a, 1), default=True) == (-1, None, False)
    assert select(default=True) == (-1, None, False)
    b = Chan(1)
    b.send(1)
    assert select(Recv(a), Recv(b), default=True) == (1, 1, True)
    assert_no_trace(a, b)


def test_nil_channel_never_ready():
    assert select(Recv(None), Send(None, 1), default=True) == (-1, None, False)
    with pytest.raises(ChanTimeout):
        select(Recv(None), Send(None, 1), timeout=0.01)
    with pytest.raises(ChanTimeout):
        select(timeout=0.01)  # select {} blocks forever
    c = Chan(1)
    c.send(3)
    for _ in range(20):
        assert select(Recv(None), Recv(c), Send(None, 0), timeout=T)[0] == 1
        c.send(3)


def test_closed_recv_always_ready():
    c = Chan(0)
    c.close()
    for _ in range(10):
        assert select(Recv(c), Recv(Chan(0)), default=True) == (0, None, False)


def test_closed_recv_drains_buffer_first():
    c = Chan(2)
    c.send(1)
    c.close()
    assert select(Recv(c)) == (0, 1, True)
    assert select(Recv(c)) == (0, None, False)


def test_send_on_closed_panics_even_with_default():
    c = Chan(1)
    c.close()
    with pytest.raises(SendOnClosedChannel, match="^send on closed channel$"):
        select(Send(c, 1), default=True)
    # and the locks were released: the channel still works
    assert c.recv_ok(timeout=T) == (None, False)


def test_exactly_one_case_fires():
    for _ in range(50):
        c = Chan(2)
        i, _, _ = select(Send(c, "a"), Send(c, "b"))
        assert len(c) == 1 and c.recv() == "ab"[i]


def test_timeout_leaves_no_trace():
    a, b, c = Chan(0), Chan(1), Chan(0)
    b.send(0)  # b full: its Send case can't proceed
    with pytest.raises(ChanTimeout) as e:
        select(Recv(a), Send(b, 1), Send(c, 2), Recv(a), timeout=0.02)
    assert isinstance(e.value, TimeoutError)
    assert_no_trace(a, b, c)
    assert (len(b), b.recv()) == (1, 0)


def test_parked_select_woken_by_send():
    a, b = Chan(0), Chan(0)
    out = []
    t = spawn(lambda: out.append(select(Recv(a), Recv(b), timeout=T)))
    wait_until(lambda: len(b.snapshot().recvq) == 1 and len(a.snapshot().recvq) == 1)
    assert b.snapshot().recvq[0].select is True
    b.send("hi", timeout=T)
    join(t)
    assert out == [(1, "hi", True)]
    assert_no_trace(a, b)


def test_parked_select_send_taken_by_receiver():
    a, b = Chan(0), Chan(0)
    out = []
    t = spawn(lambda: out.append(select(Send(a, "A"), Send(b, "B"), timeout=T)))
    wait_until(lambda: len(a.snapshot().sendq) == 1 and len(b.snapshot().sendq) == 1)
    assert a.recv(timeout=T) == "A"
    join(t)
    assert out == [(0, None, True)]
    assert_no_trace(a, b)
    assert b.try_recv()[2] is False  # the other case did not fire


def test_close_wakes_parked_select():
    a, b = Chan(0), Chan(0)
    out = []
    t = spawn(lambda: out.append(select(Recv(a), Recv(b), timeout=T)))
    wait_until(lambda: len(a.snapshot().recvq) == 1)
    a.close()
    join(t)
    assert out == [(0, None, False)]
    assert_no_trace(a, b)


def test_close_makes_parked_select_send_panic():
    a, b = Chan(0), Chan(0)
    errs = []

    def run():
        try:
            select(Send(a, 1), Recv(b), timeout=T)
        except Panic as e:
            errs.append(e)

    t = spawn(run)
    wait_until(lambda: len(a.snapshot().sendq) == 1)
    a.close()
    join(t)
    assert [str(e) for e in errs] == ["send on closed channel"]
    assert_no_trace(b)


def test_bad_cases():
    with pytest.raises(TypeError, match="select case 1 must be Recv"):
        select(Recv(None), Chan(1))
    with pytest.raises(TypeError, match="ch must be a Chan or None"):
        Recv("not a chan")
    with pytest.raises(TypeError, match="ch must be a Chan or None"):
        Send(3, 1)
    with pytest.raises(TypeError, match="default must be a bool"):
        select(Recv(None), default=1)
    with pytest.raises(ValueError, match="timeout"):
        select(Recv(Chan(0)), timeout=-1)


def test_select_with_send_and_recv_on_same_unbuffered_chan_never_self_pairs():
    c = Chan(0)
    with pytest.raises(ChanTimeout):
        select(Send(c, 1), Recv(c), timeout=0.02)
    assert_no_trace(c)


# -- ports of Go's select tests ------------------------------------------------------------------------

@pytest.mark.parametrize("chan_cap", [0, 10])
def test_go_TestSelfSelect(chan_cap):
    """Two goroutines each select {send c; recv c}: a receive never gets its own value on an
    unbuffered channel."""
    c = Chan(chan_cap)
    errors = []
    n = 300 * STRESS

    def run(p):
        for i in range(n):
            cases = (Send(c, p), Recv(c)) if p == 0 or i % 2 == 0 else (Recv(c), Send(c, p))
            try:
                idx, v, ok = select(*cases, timeout=T)
            except ChanTimeout:
                errors.append("timeout")
                return
            if not cases[idx].is_send and chan_cap == 0 and v == p:
                errors.append(f"self receive {p}")
                return

    a, b = spawn(run, 0), spawn(run, 1)
    join(a, b, timeout=60)
    assert errors == []


def test_go_TestSelectStress():
    """4 channels, per channel a sender and a receiver goroutine plus one select-sender and one
    select-receiver that drop a channel (set it nil) after N operations on it."""
    N = 200 * STRESS
    c = [Chan(0), Chan(0), Chan(2), Chan(3)]
    threads = []

    def sender(k):
        for _ in range(N):
            c[k].send(0, timeout=30)

    def receiver(k):
        for _ in range(N):
            c[k].recv(timeout=30)

    def select_sender():
        n = [0] * 4
        c1 = list(c)
        for _ in range(4 * N):
            i, _, _ = select(Send(c1[3], 0), Send(c1[2], 0), Send(c1[0], 0), Send(c1[1], 0), timeout=30)
            k = [3, 2, 0, 1][i]
            n[k] += 1
            if n[k] == N:
                c1[k] = None

    def select_receiver():
        n = [0] * 4
        c1 = list(c)
        for _ in range(4 * N):
            i, _, _ = select(*(Recv(ch) for ch in c1), timeout=30)
            n[i] += 1
            if n[i] == N:
                c1[i] = None

    for k in range(4):
        threads += [spawn(sender, k), spawn(receiver, k)]
    threads += [spawn(select_sender), spawn(select_receiver)]
    join(*threads, timeout=120)
    assert_no_trace(*c)


def test_go_TestSelectFairness():
    """Two always-ready buffered channels (plus two never-ready ones): each wins about half;
    fail beyond 10 sigma, as Go does."""
    trials = 10000
    c1, c2 = Chan(trials + 1), Chan(trials + 1)
    for _ in range(trials + 1):
        c1.send(1)
        c2.send(2)
    c3, c4 = Chan(0), Chan(0)
    cnt = {1: 0, 2: 0}
    for _ in range(trials):
        _, b, _ = select(Recv(c3), Recv(c4), Recv(c1), Recv(c2), timeout=T)
        cnt[b] += 1
    r = trials / 2
    d = 10 * math.sqrt(trials / 4)
    assert abs(cnt[1] - r) <= d and abs(cnt[2] - r) <= d, cnt


@pytest.mark.parametrize("chan_cap", [0, 100])
def test_go_TestPseudoRandomSend(chan_cap):
    """select { case c <- 1: case c <- 0: } picks both sends often."""
    n = 100
    c = Chan(chan_cap)
    got = []
    t = spawn(lambda: got.extend(c.recv(timeout=T) for _ in range(n)))
    for _ in range(n):
        select(Send(c, 1), Send(c, 0), timeout=T)
    join(t)
    assert len(got) == n
    assert got.count(0) > n // 10 and got.count(1) > n // 10, got


def test_go_TestNonblockSelectRace():
    """One of c1/c2 always holds a value, so a select over both must never take default."""
    for _ in range(300 * STRESS):
        c1, c2 = Chan(1), Chan(1)
        c1.send(1)
        res = []
        t = spawn(lambda: res.append(select(Recv(c1), Recv(c2), default=True)[0] != -1))
        c2.send(1, timeout=T)
        c1.try_recv()
        join(t)
        assert res == [True]


def test_go_TestNonblockSelectRace2():
    """Same with close instead of a second send."""
    for _ in range(300 * STRESS):
        c1, c2 = Chan(1), Chan(1)
        c1.send(1)
        res = []
        t = spawn(lambda: res.append(select(Recv(c1), Recv(c2), default=True)[0] != -1))
        c2.close()
        c1.try_recv()
        join(t)
        assert res == [True]


def test_go_TestSelectDuplicateChannel():
    """A select with the same channel twice parks two sudogs on it; after another case fires both
    must be removed, or a later sender would hand its value to a dead select."""
    c, d, e = Chan(0), Chan(0), Chan(0)
    t1 = spawn(lambda: (select(Recv(c), Recv(c), Recv(d), timeout=T), e.send(9, timeout=T)))
    wait_until(lambda: len(c.snapshot().recvq) == 2)
    got = []
    t2 = spawn(lambda: got.append(c.recv(timeout=T)))
    wait_until(lambda: len(c.snapshot().recvq) == 3)
    d.send(7, timeout=T)
    assert e.recv(timeout=T) == 9
    c.send(8, timeout=T)  # must reach the plain receiver, not the finished select
    join(t1, t2)
    assert got == [8]
    assert_no_trace(c, d, e)


# -- random schedules --------------------------------------------------------------------------------

def test_random_select_schedules_no_deadlock_nothing_lost():
    """8 goroutines x ~1,250 random selects = 10,000 (x HCEDU_STRESS) over shared channels of mixed
    capacity (incl. nil cases, duplicates, defaults and short timeouts). Concurrent selects lock
    overlapping channel sets in every order: a lock-order bug hangs here. Afterwards every value
    sent was received exactly once or is still buffered."""
    nthreads, per = 8, 1250 * STRESS
    chans = [Chan(0), Chan(0), Chan(1), Chan(3)]
    sent: list = [[] for _ in range(nthreads)]
    received: list = [[] for _ in range(nthreads)]

    def run(tid):
        rng = random.Random(tid)
        seq = 0
        for _ in range(per):
            cases = []
            for _ in range(rng.randint(1, 4)):
                ch = None if rng.random() < 0.1 else rng.choice(chans)
                if rng.random() < 0.5:
                    seq += 1
                    cases.append(Send(ch, (tid, seq)))
                else:
                    cases.append(Recv(ch))
            try:
                if rng.random() < 0.4:
                    i, v, ok = select(*cases, default=True)
                else:
                    i, v, ok = select(*cases, timeout=0.002)
            except ChanTimeout:
                continue
            if i < 0:
                continue
            if cases[i].is_send:
                sent[tid].append(cases[i].value)
            else:
                assert ok
                received[tid].append(v)

    threads = [spawn(run, t) for t in range(nthreads)]
    join(*threads, timeout=120)
    left = []
    for ch in chans:
        while True:
            v, ok, selected = ch.try_recv()
            if not selected:
                break
            left.append(v)
    all_sent = sorted(v for s in sent for v in s)
    all_got = sorted([v for r in received for v in r] + left)
    assert len(set(all_sent)) == len(all_sent)
    assert all_got == all_sent
    assert_no_trace(*chans)
    assert sum(map(len, sent)) > per  # the schedule really exchanged values
