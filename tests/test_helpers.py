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


# -- tests wait on state, never on sleeps ------------------------------------------------------------------------
# Every `time.sleep` left in tests/ (the Go twins in tests/go included), with why it is not synchronisation.
# A test that must wait for something waits on state: helpers.wait_until / wait_for_progress / parked_* / join.
SLEEPS_ALLOWED = [
    ("test_clock.py", "time.sleep(0.01)", "real time passing is the scenario: a VirtualClock must not follow it"),
    ("test_faults.py", "time.sleep(ttl / 8)", "probes sample an inflight marker over the real server's clock; the verdict comes from timed renewals"),
    ("test_helpers.py", "time.sleep(0.05)", "a simulated round trip between a check and its act"),
    ("test_lifecycle.py", "spawn(time.sleep, 0.01)", "a goroutine still running as detect_leaks' block ends"),
    ("test_wrong_answers_ch16.py", "time.sleep(0.001)", "a learner's polling worker, the wrong answer under test"),
]


def sleeps_in(source: str) -> list[tuple[int, str]]:
    """(line number, line) of every use of ``time.sleep`` in Python ``source`` (``from time import sleep``
    included); strings and comments do not count."""
    import io
    import tokenize

    lines = source.splitlines()
    toks = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type in (tokenize.NAME, tokenize.OP)]
    found = set()
    for i, t in enumerate(toks):
        if t.string == "time" and toks[i + 1:i + 3] and [x.string for x in toks[i + 1:i + 3]] == [".", "sleep"]:
            found.add(t.start[0])
        if t.string == "from" and [x.string for x in toks[i + 1:i + 3]] == ["time", "import"]:
            if any(x.string == "sleep" for x in toks[i + 3:] if x.start[0] == t.start[0]):
                found.add(t.start[0])
    return [(n, lines[n - 1].strip()) for n in sorted(found)]


def test_sleeps_in_finds_code_not_prose():
    src = 'import time\n"""time.sleep(1) in a docstring"""\nx = 1  # time.sleep(2) in a comment\ntime.sleep(3)\n' \
          'from time import monotonic, sleep\nspawn(time.sleep, 4)\n'
    assert sleeps_in(src) == [(4, "time.sleep(3)"), (5, "from time import monotonic, sleep"),
                              (6, "spawn(time.sleep, 4)")]


def test_no_sleep_in_tests_waits_for_something():
    from pathlib import Path

    here = Path(__file__).resolve().parent
    unexplained, used = [], set()
    for path in sorted(here.rglob("*.py")):
        name = path.relative_to(here).as_posix()
        for n, line in sleeps_in(path.read_text()):
            entry = next((e for e in SLEEPS_ALLOWED if e[0] == name and e[1] in line), None)
            if entry is None:
                unexplained.append(f"tests/{name}:{n}: {line}")
            else:
                used.add(entry)
    assert not unexplained, ("a test sleeps instead of waiting on state (use helpers.wait_until, parked_receivers, "
                             "join, ...; or add the line to SLEEPS_ALLOWED with why it is not synchronisation):\n"
                             + "\n".join(unexplained))
    stale = [e for e in SLEEPS_ALLOWED if e not in used]
    assert not stale, f"SLEEPS_ALLOWED names sleeps that are gone: {stale}"
