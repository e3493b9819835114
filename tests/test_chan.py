"""hcedu.go.chan: Go's channel rules (specs/go-semantics.md §1) and ports of runtime/chan_test.go.

Every blocking call is bounded by a timeout; nothing asserts wall-clock timings. Stress sizes
scale with ``HCEDU_STRESS`` (default 1; the acceptance's 8x8x100,000 run is
``benchmarks/chan_throughput.py --stress`` or ``HCEDU_STRESS=100 pytest -k 100000``).
"""

from __future__ import annotations

import os
import threading

import pytest

from hcedu.go import Chan, ChanTimeout, Panic
from hcedu.go import chan as chanmod
from hcedu.go.chan import (CloseOfClosedChannel, CloseOfNilChannel, MakeChanSizeOutOfRange,
                           SendOnClosedChannel)

from helpers import STRESS, T, join, parked_receivers, parked_senders, spawn, wait_until


# -- make ------------------------------------------------------------------------------------------

def test_make_sizes():
    for n in (0, 1, 5):
        c = Chan(n)
        assert c.cap == n and len(c) == 0
        assert chanmod.capacity(c) == n and chanmod.length(c) == 0
    assert Chan().cap == 0


def test_make_negative_panics_with_go_message():
    with pytest.raises(MakeChanSizeOutOfRange) as e:
        Chan(-1)
    assert isinstance(e.value, Panic) and str(e.value) == "makechan: size out of range"
    with pytest.raises(Panic, match="^makechan: size out of range$"):
        Chan(chanmod.MAX_CAP + 1)


@pytest.mark.parametrize("bad", [1.5, "3", None, True, [1]])
def test_make_non_int_is_type_error(bad):
    with pytest.raises(TypeError, match="cap must be an int"):
        Chan(bad)


def test_empty_channel_is_truthy():
    assert Chan(3)  # __len__ must not make an empty channel falsy


# -- buffered FIFO, len, blocking iff full/empty ---------------------------------------------------

def test_buffer_fifo_and_ring_indices():
    c = Chan(3)
    for v in (1, 2, 3):
        c.send(v)
    s = c.snapshot()
    assert (s.qcount, s.sendx, s.recvx, s.buf) == (3, 0, 0, [1, 2, 3])
    assert c.recv() == 1
    c.send(4)  # wraps: writes slot 0
    s = c.snapshot()
    assert (s.qcount, s.sendx, s.recvx, s.buf) == (3, 1, 1, [4, 2, 3])
    assert s.values() == [2, 3, 4]
    assert [c.recv() for _ in range(3)] == [2, 3, 4]
    s = c.snapshot()
    assert s.qcount == 0 and s.buf == [None, None, None]


def test_source_example_third_send_blocks():
    # make(chan int, 2); ch <- 1; ch <- 2; the third send blocks until a receive frees a slot
    c = Chan(2)
    c.send(1)
    c.send(2)
    assert not c.try_send(3)
    with pytest.raises(ChanTimeout):
        c.send(3, timeout=0.02)
    assert c.snapshot().sendq == []  # the timed-out sender left no trace
    done = []
    t = spawn(lambda: (c.send(3, timeout=T), done.append(True)))
    wait_until(lambda: parked_senders(c) == 1)
    assert c.snapshot().sendq[0].elem == 3
    assert c.recv(timeout=T) == 1
    join(t)
    assert done == [True]
    assert [c.recv(timeout=T), c.recv(timeout=T)] == [2, 3]


def test_recv_from_full_buffer_with_parked_sender_rotates():
    # chan.go recv(): out = buf[recvx]; buf[recvx] = sender's value; recvx++; sendx = recvx
    c = Chan(2)
    c.send("a")
    c.send("b")
    t = spawn(c.send, "c", T)
    wait_until(lambda: parked_senders(c) == 1)
    assert c.recv(timeout=T) == "a"
    join(t)
    s = c.snapshot()
    assert (s.qcount, s.recvx, s.sendx, s.buf) == (2, 1, 1, ["c", "b"])
    assert [c.recv(timeout=T), c.recv(timeout=T)] == ["b", "c"]


def test_len_cap():
    c = Chan(4)
    c.send(1)
    c.send(2)
    assert (len(c), c.cap) == (2, 4)
    u = Chan(0)
    assert (len(u), u.cap) == (0, 0)


def test_unbuffered_send_waits_for_receiver():
    c = Chan(0)
    assert not c.try_send(1)
    with pytest.raises(ChanTimeout):
        c.send(1, timeout=0.02)
    assert c.snapshot().sendq == []
    got = []
    t = spawn(lambda: got.append(c.recv(timeout=T)))
    wait_until(lambda: parked_receivers(c) == 1)
    assert c.try_send(42)  # direct hand-off to the parked receiver
    join(t)
    assert got == [42]
    s = c.snapshot()
    assert s.qcount == 0 and s.recvq == [] and s.sendq == []


def test_direct_handoff_bypasses_buffer():
    c = Chan(2)
    got = []
    t = spawn(lambda: got.append(c.recv(timeout=T)))
    wait_until(lambda: parked_receivers(c) == 1)
    c.send("x")
    join(t)
    s = c.snapshot()
    assert got == ["x"] and (s.qcount, s.sendx, s.recvx) == (0, 0, 0)


def test_recv_blocks_when_empty_and_times_out_without_trace():
    c = Chan(1)
    with pytest.raises(ChanTimeout) as e:
        c.recv(timeout=0.02)
    assert isinstance(e.value, TimeoutError)
    assert c.snapshot().recvq == []
    assert c.try_recv() == (None, False, False)
    c.send(7)
    assert c.try_recv() == (7, True, True)


def test_timeout_zero_is_a_poll():
    c = Chan(1)
    with pytest.raises(ChanTimeout):
        c.recv(timeout=0)
    c.send(1, timeout=0)
    assert c.recv(timeout=0) == 1


@pytest.mark.parametrize("bad", [-1, "1", float("nan")])
def test_bad_timeout(bad):
    c = Chan(0)
    exc = TypeError if isinstance(bad, str) else ValueError
    with pytest.raises(exc, match="timeout"):
        c.recv(timeout=bad)
    with pytest.raises(exc, match="timeout"):
        c.send(1, timeout=bad)


def test_fifo_wait_queues():
    # senders park in order and are served in order (C5); same for receivers
    c = Chan(0)
    threads = []
    for i in range(5):
        threads.append(spawn(c.send, i, T))
        wait_until(lambda n=i + 1: parked_senders(c) == n)
    assert [w.elem for w in c.snapshot().sendq] == [0, 1, 2, 3, 4]
    assert [c.recv(timeout=T) for _ in range(5)] == [0, 1, 2, 3, 4]
    join(*threads)
    got = []
    lock = threading.Lock()

    def r(i):
        v = c.recv(timeout=T)
        with lock:
            got.append((i, v))

    threads = []
    for i in range(5):
        threads.append(spawn(r, i))
        wait_until(lambda n=i + 1: parked_receivers(c) == n)
    for v in range(5):
        c.send(v, timeout=T)
    join(*threads)
    assert sorted(got) == [(i, i) for i in range(5)]


# -- close -----------------------------------------------------------------------------------------

def test_close_keeps_buffer_then_zero_false_forever():
    c = Chan(3)
    c.send(1)
    c.send(2)
    c.close()
    assert c.recv_ok(timeout=T) == (1, True)
    assert c.recv_ok(timeout=T) == (2, True)
    for _ in range(3):
        assert c.recv_ok(timeout=T) == (None, False)
        assert c.recv(timeout=T) is None
        assert c.try_recv() == (None, False, True)


def test_close_wakes_all_receivers():
    c = Chan(0)
    got = []
    lock = threading.Lock()

    def r():
        res = c.recv_ok(timeout=T)
        with lock:
            got.append(res)

    threads = [spawn(r) for _ in range(4)]
    wait_until(lambda: parked_receivers(c) == 4)
    c.close()
    join(*threads)
    assert got == [(None, False)] * 4
    assert c.snapshot().recvq == []


def test_close_makes_parked_senders_panic():
    c = Chan(0)
    errs = []

    def s(i):
        try:
            c.send(i, timeout=T)
        except Panic as e:
            errs.append(e)

    threads = [spawn(s, i) for i in range(3)]
    wait_until(lambda: parked_senders(c) == 3)
    c.close()
    join(*threads)
    assert len(errs) == 3
    assert all(isinstance(e, SendOnClosedChannel) and str(e) == "send on closed channel" for e in errs)
    assert c.snapshot().sendq == []


def test_send_on_closed_panics_blocking_and_nonblocking():
    c = Chan(1)
    c.close()
    with pytest.raises(Panic, match="^send on closed channel$"):
        c.send(1)
    with pytest.raises(SendOnClosedChannel):
        c.try_send(1)


def test_close_twice_and_close_nil():
    c = Chan()
    c.close()
    with pytest.raises(CloseOfClosedChannel, match="^close of closed channel$"):
        c.close()
    with pytest.raises(CloseOfNilChannel, match="^close of nil channel$"):
        chanmod.close(None)
    with pytest.raises(Panic):
        chanmod.close(None)


def test_range_until_closed_and_drained():
    c = Chan(10)
    for i in range(5):
        c.send(i)
    c.close()
    assert list(c) == [0, 1, 2, 3, 4]
    c2 = Chan(0)
    out = []
    t = spawn(lambda: out.extend(c2.range(timeout=T)))
    for i in range(3):
        c2.send(i, timeout=T)
    c2.close()
    join(t)
    assert out == [0, 1, 2]


def test_range_timeout():
    with pytest.raises(ChanTimeout):
        list(Chan(1).range(timeout=0.01))


# -- nil channel -----------------------------------------------------------------------------------

def test_nil_channel_blocks_forever_and_has_zero_len_cap():
    assert chanmod.length(None) == 0 and chanmod.capacity(None) == 0
    with pytest.raises(ChanTimeout):
        chanmod.send(None, 1, timeout=0.01)
    with pytest.raises(ChanTimeout):
        chanmod.recv(None, timeout=0.01)
    with pytest.raises(ChanTimeout):
        chanmod.recv_ok(None, timeout=0.01)
    with pytest.raises(TypeError, match="ch must be a Chan or None"):
        chanmod.send([], 1, timeout=0.01)


def test_module_functions_forward_to_chan():
    c = Chan(1)
    chanmod.send(c, "v", timeout=T)
    assert chanmod.length(c) == 1
    assert chanmod.recv_ok(c, timeout=T) == ("v", True)
    chanmod.close(c)
    assert chanmod.recv(c, timeout=T) is None


# -- snapshot / invariants -------------------------------------------------------------------------

def test_snapshot_shows_parked_goroutines_and_values():
    c = Chan(1)
    c.send("buffered")
    t = spawn(c.send, "waiting", T)
    wait_until(lambda: parked_senders(c) == 1)
    s = c.snapshot()
    assert s.closed is False and s.recvq == []
    assert s.sendq[0].g == "hcedu-test" and s.sendq[0].elem == "waiting"
    assert s.to_dict()["sendq"][0].elem == "waiting"
    assert c.recv(timeout=T) == "buffered"
    join(t)
    assert c.recv(timeout=T) == "waiting"


def test_repr_has_no_id():
    c = Chan(2)
    c.send(1)
    assert repr(c) == "<Chan cap=2 len=1>"
    c.close()
    assert repr(c) == "<Chan cap=2 len=1 closed>"


def test_after_fires_on_virtual_clock():
    from hcedu.clock import VirtualClock

    clk = VirtualClock()
    ch = chanmod.after(5, clock=clk)
    assert ch.try_recv()[2] is False
    clk.advance(5)
    # Go 1.23+: a timer channel reports cap 0 and len 0, also once it has fired
    assert (ch.cap, len(ch), chanmod.capacity(ch), chanmod.length(ch)) == (0, 0, 0, 0)
    assert ch.recv(timeout=T) == 5.0


# -- ports of runtime/chan_test.go -----------------------------------------------------------------

def test_go_TestChan():
    """TestChan: for chanCap 0..N: recv blocks on empty, send blocks on full, close-unblocks, FIFO,
    len/cap. (N smaller than Go's 20 to stay quick.)"""
    N = 8
    for cap_ in range(N):
        # recv from empty chan blocks
        c = Chan(cap_)
        got = []
        t = spawn(lambda: got.append(c.recv_ok(timeout=T)))
        wait_until(lambda: parked_receivers(c) == 1)  # parked on recvq, not merely not yet run
        assert got == [], "chan[%d]: receive from empty chan" % cap_
        c.send(0, timeout=T)  # ensure that the receiver is unblocked
        join(t)
        assert got == [(0, True)]
        # send to full chan blocks
        c = Chan(cap_)
        for i in range(cap_):
            c.send(i)
        sent = []
        t = spawn(lambda: (c.send(0, timeout=T), sent.append(1)))
        wait_until(lambda: parked_senders(c) == 1)
        assert sent == [], "chan[%d]: send to full chan" % cap_
        c.recv(timeout=T)
        join(t)
        # closed chan returns zero value, ok false
        c = Chan(cap_)
        for i in range(cap_):
            c.send(i)
        c.close()
        for i in range(cap_):
            assert c.recv_ok(timeout=T) == (i, True)
        assert c.recv_ok(timeout=T) == (None, False)
        # close unblocks receive
        c = Chan(cap_)
        done = Chan(0)
        t = spawn(lambda: done.send(c.recv_ok(timeout=T)[1], timeout=T))
        wait_until(lambda: parked_receivers(c) == 1)  # close must wake a parked receiver
        c.close()
        assert done.recv(timeout=T) is False
        join(t)
        # FIFO under concurrency: one sender, one receiver
        c = Chan(cap_)
        t = spawn(lambda: [c.send(i, timeout=T) for i in range(100)])
        assert [c.recv(timeout=T) for _ in range(100)] == list(range(100))
        join(t)
        # len/cap
        c = Chan(cap_)
        assert (len(c), c.cap) == (0, cap_)
        for i in range(cap_):
            c.send(i)
        assert (len(c), c.cap) == (cap_, cap_)


def test_go_TestNonblockRecvRace():
    """TestNonblockRecvRace: a closed buffered chan with one value; a non-blocking receive racing
    with close must always be selected (value or closed), never "would block"."""
    n = 200 * STRESS
    not_ready = []
    for _ in range(n):
        c = Chan(1)
        c.send(1)
        t = spawn(lambda: c.try_recv()[2] or not_ready.append(1))
        c.close()
        c.recv(timeout=T)
        join(t)
    assert not_ready == [], "chan is not ready"


def test_go_TestMultiConsumer():
    """TestMultiConsumer: many producers and consumers over a buffered channel; sum and count
    match."""
    nwork, niter = 5, 500 * STRESS
    q = Chan(nwork * 3)
    r = Chan(nwork * 3)

    def consumer():
        n = s = 0
        for v in q.range(timeout=T):
            n += 1
            s += v
        r.send((n, s), timeout=T)

    threads = [spawn(consumer) for _ in range(nwork)]
    expect = 0
    for i in range(niter):
        v = pow(i, 2, 101)  # a pseudo-random sequence, as Go uses 1<<(i%64)
        expect += v
        q.send(v, timeout=T)
    q.close()
    n = s = 0
    for _ in range(nwork):
        a, b = r.recv(timeout=T)
        n += a
        s += b
    join(*threads)
    assert (n, s) == (niter, expect)


def test_go_TestChanSendInterface():
    """TestChanSendInterface: send an arbitrary object, blocking and non-blocking."""
    c = Chan(1)
    obj = {"k": [1, 2]}
    c.send(obj)
    assert c.try_send(obj) is False
    assert c.recv() is obj


def test_go_TestSelfSelect_unbuffered_send_recv_same_goroutine_times_out():
    """A lone goroutine cannot rendezvous with itself on an unbuffered channel."""
    c = Chan(0)
    with pytest.raises(ChanTimeout):
        c.send(1, timeout=0.01)
    with pytest.raises(ChanTimeout):
        c.recv(timeout=0.01)
    s = c.snapshot()
    assert s.sendq == [] and s.recvq == []


def test_invariants_hold_under_concurrency():
    """C6 sampled while producers/consumers race: qcount>0 => recvq empty; qcount<cap => sendq
    empty (buffered); never both queues non-empty. Each sample waits until the channel has moved on
    (another receive), so the 300 samples span at least 300 operations however the machine schedules."""
    c = Chan(2)
    stop = threading.Event()
    received = [0]

    def prod():
        i = 0
        while not stop.is_set():
            try:
                c.send(i, timeout=0.05)
            except ChanTimeout:
                pass
            i += 1

    def cons():
        while not stop.is_set():
            try:
                c.recv(timeout=0.05)
                received[0] += 1  # a racy count is fine: it only has to move
            except ChanTimeout:
                pass

    threads = [spawn(prod) for _ in range(3)] + [spawn(cons) for _ in range(3)]
    try:
        for _ in range(300):
            s = c.snapshot()
            assert 0 <= s.qcount <= s.dataqsiz
            assert s.sendx == (s.recvx + s.qcount) % s.dataqsiz
            if s.qcount > 0:
                assert s.recvq == []
            if s.qcount < s.dataqsiz:
                assert s.sendq == []
            assert not (s.recvq and s.sendq)
            seen = received[0]
            wait_until(lambda: received[0] != seen, step=0.0001)
    finally:
        stop.set()
        join(*threads)


def stress_mpmc(producers: int, consumers: int, per_producer: int, cap_: int) -> None:
    """Nothing lost, nothing duplicated, per-producer FIFO at every consumer."""
    c = Chan(cap_)
    results = [[] for _ in range(consumers)]

    def prod(p):
        for i in range(per_producer):
            c.send((p, i), timeout=30)

    def cons(k):
        out = results[k]
        for v in c.range(timeout=30):
            out.append(v)

    cs = [spawn(cons, k) for k in range(consumers)]
    ps = [spawn(prod, p) for p in range(producers)]
    for t in ps:
        t.join(120)
        assert not t.is_alive()
    c.close()
    for t in cs:
        t.join(120)
        assert not t.is_alive()
    seen = set()
    for out in results:
        last = {}
        for p, i in out:
            assert i > last.get(p, -1), "per-producer FIFO violated"
            last[p] = i
        seen.update(out)
    total = sum(len(o) for o in results)
    assert total == producers * per_producer, "lost or duplicated"
    assert len(seen) == total


@pytest.mark.parametrize("cap_", [0, 1, 16])
def test_stress_8x8(cap_):
    stress_mpmc(8, 8, 400 * STRESS if cap_ else 150 * STRESS, cap_)


@pytest.mark.skipif(STRESS < 100, reason="set HCEDU_STRESS>=100 for the 8x8x100,000 acceptance run")
def test_stress_8x8x100000():
    stress_mpmc(8, 8, 100_000, 64)


# -- chandiagram ---------------------------------------------------------------------------------

def test_stepper_source_example_and_diagram():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from hcedu.lab.chandiagram import ChanStepper, chart_chan, describe

    s = ChanStepper(2, [("send", "G1", 1), ("send", "G1", 2), ("send", "G2", 3), ("recv", "G3"),
                        ("recv", "G4"), ("recv", "G4"), ("recv", "G5"), ("send", "G6", 9), ("close",)],
                    timeout=T)
    try:
        assert s.step() == ["G1: send 1 done"]
        assert s.step() == ["G1: send 2 done"]
        assert s.step() == ["G2: send 3 parked on sendq"]  # the source's "third send blocks"
        assert describe(s.ch.snapshot()).splitlines()[3] == "sendq: G2(3)"
        assert s.step() == ["G2: send 3 done", "G3: recv -> 1 (ok=True)"]
        st = s.ch.snapshot()
        assert (st.buf, st.recvx, st.sendx) == ([3, 2], 1, 1)
        assert s.step() == ["G4: recv -> 2 (ok=True)"]
        assert s.step() == ["G4: recv -> 3 (ok=True)"]
        assert s.step() == ["G5: recv parked on recvq"]
        assert s.step() == ["G5: recv -> 9 (ok=True)", "G6: send 9 done"]  # direct hand-off
        assert s.step() == ["close(ch): closed"]
        assert s.done
        with pytest.raises(IndexError):
            s.step()
        assert isinstance(chart_chan(s.history[2][2], title="third send"), Figure)
        assert isinstance(chart_chan(Chan(0).snapshot()), Figure)
    finally:
        s.stop()


def test_stepper_close_wakes_parked_and_records_panic():
    from hcedu.lab.chandiagram import ChanStepper

    s = ChanStepper(0, [("send", "G1", "x"), ("close",)], timeout=T)
    s.step()
    assert s.step() == ["close(ch): closed", "G1: send 'x' panicked: send on closed channel"]
    s.stop()


def test_stepper_bad_ops():
    from hcedu.lab.chandiagram import ChanStepper, chart_chan

    with pytest.raises(ValueError, match="operation must be one of"):
        ChanStepper(1, [("push", "G1", 1)])
    with pytest.raises(ValueError, match="send takes 2"):
        ChanStepper(1, [("send", "G1")])
    with pytest.raises(TypeError, match="state must be a ChanState"):
        chart_chan({"qcount": 0})


def test_after_bad_arguments_and_a_negative_duration_fires_at_once_like_go():
    from hcedu.clock import VirtualClock

    clock = VirtualClock()
    ch = chanmod.after(-1, clock=clock)  # Go: time.After(-d) fires immediately (due now, not later)
    clock.advance(0)
    assert ch.recv(timeout=5) == clock.now()
    with pytest.raises(ValueError, match="seconds must be a number, not NaN"):
        chanmod.after(float("nan"))
    with pytest.raises(TypeError, match="seconds must be a number"):
        chanmod.after("1")
