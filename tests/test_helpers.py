"""The test helpers that decide whether a measurement counts (they can make a test pass or skip)."""

import helpers
from helpers import measure_undisturbed, stolen_share


def test_stolen_share():
    before = [100, 0, 50, 800, 0, 0, 0, 50]
    after = [150, 0, 60, 880, 0, 0, 0, 60]          # 150 ticks pass, 10 of them stolen
    assert stolen_share(before, after) == 10 / 150
    assert stolen_share(None, after) == 0.0 and stolen_share(before, before) == 0.0


def _fake_steal(monkeypatch, steals):
    """Make each attempt see the next share of stolen CPU from ``steals``."""
    ticks = iter([v for s in steals for v in ([0] * 8, [100 - s, 0, 0, 0, 0, 0, 0, s])])
    monkeypatch.setattr(helpers, "_cpu_times", lambda: next(ticks))


def test_measure_undisturbed_passes_on_the_first_good_run(monkeypatch):
    _fake_steal(monkeypatch, [0, 0, 0])
    results = iter([1, 2, 3])
    got, found, disturbed = measure_undisturbed(lambda: next(results), lambda r: [] if r == 2 else ["bad"])
    assert (got, found, disturbed) == (2, [], False)


def test_two_undisturbed_failures_fail(monkeypatch):
    _fake_steal(monkeypatch, [20, 0, 0, 0])
    results = iter([1, 2, 3, 4])
    got, found, disturbed = measure_undisturbed(lambda: next(results), lambda r: ["bad"])
    assert got == 3 and found[0] == "bad" and "0% of the CPU stolen" in found[-1] and not disturbed


def test_only_disturbed_failures_are_reported_as_disturbed(monkeypatch):
    _fake_steal(monkeypatch, [20, 30])
    results = iter([1, 2])
    got, found, disturbed = measure_undisturbed(lambda: next(results), lambda r: ["bad"], attempts=2)
    assert got == 2 and disturbed and "30% of the CPU stolen" in found[-1]


def test_wait_for_progress_waits_while_the_count_moves_and_gives_up_on_a_stall():
    counts = iter(range(0, 100, 10))
    assert helpers.wait_for_progress(lambda: next(counts), 50, step=0) == 50
    assert helpers.wait_for_progress(lambda: 3, 10, stall=0.05, step=0.01) == 3    # stuck: returns, no hang


def test_race_the_last_unit_makes_two_readers_see_the_last_unit():
    import threading

    import fakeredis

    client = helpers.race_the_last_unit(fakeredis.FakeRedis(decode_responses=True), timeout=5)
    client.set("t:stock:x", 1)
    sold = []

    def naive_buy():
        if int(client.get("t:stock:x")) >= 1:
            client.decrby("t:stock:x", 1)
            sold.append(1)

    threads = [threading.Thread(target=naive_buy) for _ in range(2)]
    for t in threads:
        t.start()
    helpers.join(*threads)
    assert len(sold) == 2 and client.get("t:stock:x") == "-1"   # oversold, every run
    client.set("t:other", 1)
    assert client.get("t:other") == "1" and client.decrby("t:other", 1) == 0  # other keys pass through


def test_race_the_last_unit_still_reaches_the_last_unit_when_buyers_race_earlier():
    """Buyers that all read "2 left" and both buy would skip "1 left" (CI once sold 5 of 5 that way, no
    oversell): while more than one unit is left, they take turns, so the race always lands on the last unit."""
    import threading
    import time

    import fakeredis

    client = helpers.race_the_last_unit(fakeredis.FakeRedis(decode_responses=True), timeout=5)
    client.set("t:stock:x", 2)
    start = threading.Barrier(2)
    settled = []                                   # first buyers that bought, or read the last unit

    def naive_buy(first: bool):
        if first:
            start.wait()                           # two buyers check "2 left" together...
        else:                                      # ...two more come once those two would have bought
            helpers.wait_until(lambda: len(settled) >= 2)
        stock = int(client.get("t:stock:x"))
        if first and stock == 1:
            settled.append("read the last unit")
        if stock >= 1:
            time.sleep(0.05)                       # not synchronisation: the round trip between check and act
            client.decrby("t:stock:x", 1)
            if first and stock > 1:
                settled.append("bought")

    threads = [threading.Thread(target=naive_buy, args=(i < 2,)) for i in range(4)]
    for t in threads:
        t.start()
    helpers.join(*threads)
    assert int(client.get("t:stock:x")) < 0      # oversold, every run
