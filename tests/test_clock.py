"""hcedu.clock: RealClock and VirtualClock, including bad input."""

import math
import threading
import time

import pytest

from hcedu.clock import Clock, RealClock, SkewedClock, Timer, VirtualClock, as_clock

from helpers import wait_until


def test_virtual_clock_starts_where_told_and_moves_only_when_advanced():
    c = VirtualClock(100)
    assert c.now() == 100
    time.sleep(0.01)  # not synchronisation: real time passing is the scenario (virtual time must not follow it)
    assert c.now() == 100
    c.advance(2.5)
    assert c.now() == 102.5
    c.advance_to(110)
    assert c.now() == 110


def test_virtual_timers_fire_in_time_order_at_their_due_time():
    c = VirtualClock()
    seen = []
    c.after(5, lambda: seen.append(("a", c.now())))
    c.after(2, lambda: seen.append(("b", c.now())))
    c.after(2, lambda: seen.append(("c", c.now())))  # same due time: creation order
    c.advance(1)
    assert seen == []
    c.advance(9)
    assert seen == [("b", 2), ("c", 2), ("a", 5)]
    assert c.now() == 10


def test_cancel_prevents_the_call_and_reports_whether_it_did():
    c = VirtualClock()
    seen = []
    t = c.after(1, seen.append, "x")
    assert isinstance(t, Timer) and t.pending
    assert t.cancel() is True
    assert t.cancel() is False
    c.advance(5)
    assert seen == [] and not t.fired
    t2 = c.after(1, seen.append, "y")
    c.advance(1)
    assert t2.fired and t2.cancel() is False and seen == ["y"]


def test_callbacks_can_schedule_more_timers_that_fire_in_the_same_advance():
    c = VirtualClock()
    ticks = []

    def tick():
        ticks.append(c.now())
        if len(ticks) < 5:
            c.after(1, tick)

    c.after(1, tick)
    c.advance(10)
    assert ticks == [1, 2, 3, 4, 5]


def test_sleep_on_a_virtual_clock_advances_it_and_fires_timers():
    c = VirtualClock()
    fired = []
    c.after(3, fired.append, 1)
    c.sleep(5)
    assert c.now() == 5 and fired == [1]


def test_run_until_idle_and_next_due():
    c = VirtualClock()
    assert c.next_due() is None
    c.after(7, lambda: None)
    c.after(3, lambda: None)
    assert c.next_due() == 3 and c.pending() == 2
    c.run_until_idle()
    assert c.now() == 7 and c.pending() == 0


def test_virtual_clock_is_safe_to_advance_from_several_threads():
    c = VirtualClock()
    count = []
    for i in range(200):
        c.after(i * 0.01, count.append, i)

    def adv():
        for _ in range(100):
            c.advance(0.01)

    ts = [threading.Thread(target=adv) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
        assert not t.is_alive()
    assert sorted(count) == list(range(200))  # every timer fired exactly once
    assert math.isclose(c.now(), 4.0, abs_tol=1e-6)


def test_advances_from_two_threads_add_up_while_a_timer_fires():
    """Thread A's advance fires a timer (outside the clock's lock, the clock standing at the timer's due time);
    meanwhile thread B advances too. Both advances count: the clock ends 0.02 s on, not 0.015 (B reading
    now() = 0.005 and advancing from there, the lost update a loaded make test once hit)."""
    c = VirtualClock()
    firing, go = threading.Event(), threading.Event()
    c.after(0.005, lambda: (firing.set(), go.wait(30)))
    a = threading.Thread(target=c.advance, args=(0.01,), daemon=True)
    a.start()
    assert firing.wait(30) and c.now() == 0.005  # A is inside the timer's callback
    b = threading.Thread(target=c.advance, args=(0.01,), daemon=True)
    b.start()
    b.join(30)
    go.set()
    a.join(30)
    assert not a.is_alive() and not b.is_alive()
    assert math.isclose(c.now(), 0.02, abs_tol=1e-12), c.now()


def test_real_clock_now_sleep_and_after():
    c = RealClock()
    assert abs(c.now() - time.time()) < 1
    done = threading.Event()
    t = c.after(0.01, done.set)
    assert done.wait(2) and t.fired
    never = threading.Event()
    t2 = c.after(0.2, never.set)
    assert t2.cancel() is True
    t2._thread.join(5)  # the timer's thread has ended (cancelled, or fired after its 0.2 s): nothing can fire now
    assert not t2._thread.is_alive() and not never.is_set() and t2.cancel() is False
    t0 = time.perf_counter()
    c.sleep(0.01)
    assert time.perf_counter() - t0 >= 0.009


def test_as_clock():
    assert isinstance(as_clock(None), RealClock)
    v = VirtualClock()
    assert as_clock(v) is v
    assert isinstance(v, Clock) and isinstance(RealClock(), Clock)
    with pytest.raises(TypeError, match="clock must provide"):
        as_clock(object())


@pytest.mark.parametrize("clock", [VirtualClock(), RealClock()], ids=["virtual", "real"])
@pytest.mark.parametrize("bad, exc, msg", [
    (-1, ValueError, "seconds must be >= 0"),
    (float("nan"), ValueError, "not NaN"),
    ("1", TypeError, "seconds must be a number"),
    (None, TypeError, "seconds must be a number"),
    (True, TypeError, "seconds must be a number"),
])
def test_bad_durations_are_rejected_clearly(clock, bad, exc, msg):
    with pytest.raises(exc, match=msg):
        clock.sleep(bad)
    with pytest.raises(exc, match=msg):
        clock.after(bad, lambda: None)


@pytest.mark.parametrize("clock", [VirtualClock(), RealClock()], ids=["virtual", "real"])
def test_after_needs_a_callable(clock):
    with pytest.raises(TypeError, match="fn must be callable"):
        clock.after(1, "not callable")


def test_virtual_clock_bad_input():
    with pytest.raises(TypeError, match="start must be a number"):
        VirtualClock("0")
    c = VirtualClock(10)
    with pytest.raises(ValueError, match="never goes backwards"):
        c.advance_to(5)
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        c.advance(-1)
    with pytest.raises(ValueError, match="must be finite"):
        c.advance(float("inf"))
    with pytest.raises(TypeError, match="t must be a number"):
        c.advance_to(None)
    assert c.now() == 10  # bad input changed nothing


def test_cancelled_real_timers_leave_no_sleeping_thread():
    c = RealClock()
    timers = [c.after(30, lambda: None) for _ in range(50)]
    assert all(t.cancel() for t in timers)
    wait_until(lambda: not any(t._thread.is_alive() for t in timers), step=0.01)


def test_skewed_clock_is_a_real_clock_off_by_its_offset():
    fast, slow = SkewedClock(3600), SkewedClock(-60)
    assert isinstance(fast, RealClock) and repr(fast) == "SkewedClock(offset=+3600)"
    before = time.time()
    assert before + 3600 <= fast.now() < time.time() + 3600 + 1
    assert slow.now() <= time.time() - 60
    for bad in (None, math.nan, "1"):
        with pytest.raises((TypeError, ValueError), match="offset"):
            SkewedClock(bad)


# -- monotonic() and poll_until: durations and waits go through the injected clock ------------------------

def test_monotonic_is_virtual_time_on_a_virtual_clock_and_unskewed_on_a_skewed_one():
    from hcedu.clock import RealClock, SkewedClock, VirtualClock
    c = VirtualClock(5)
    c.advance(2)
    assert c.monotonic() == c.now() == 7
    real, skewed = RealClock(), SkewedClock(3600)
    assert abs(skewed.monotonic() - real.monotonic()) < 1.0 < abs(skewed.now() - real.now())


def test_poll_until_on_a_virtual_clock_advances_time_instead_of_waiting():
    from hcedu.clock import VirtualClock, poll_until
    c = VirtualClock()
    fired = []
    c.after(30, fired.append, "timer")
    assert poll_until(lambda: fired, 60, interval=1, clock=c) and fired == ["timer"] and c.now() == 30
    assert not poll_until(lambda: False, 10, interval=3, clock=c) and c.now() == 40


def test_poll_until_stops_when_the_predicate_raises_and_validates_its_arguments():
    import pytest
    from hcedu.clock import VirtualClock, poll_until

    def boom():
        raise RuntimeError("process exited")

    with pytest.raises(RuntimeError, match="exited"):
        poll_until(boom, 1, clock=VirtualClock())
    with pytest.raises(ValueError, match="timeout"):
        poll_until(bool, -1)
    with pytest.raises(TypeError, match="predicate"):
        poll_until(3, 1)
    with pytest.raises(TypeError, match="clock"):
        poll_until(bool, 1, clock=object())
