"""Helpers shared by the threaded tests: bounded joins and polls, so a hang fails instead of stalling."""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

from hcedu.clock import REAL, poll_until

T = 5.0  # generous bound on every blocking call: a hang fails instead of stalling the suite
STRESS = max(1, int(os.environ.get("HCEDU_STRESS", "1")))  # scale stress tests up with HCEDU_STRESS=N


def spawn(fn: Callable[..., Any], *args: Any) -> threading.Thread:
    """Start ``fn(*args)`` on a daemon thread."""
    t = threading.Thread(target=fn, args=args, daemon=True, name="hcedu-test")
    t.start()
    return t


def join(*threads: threading.Thread, timeout: float = T) -> None:
    """Join every thread, failing if one is still blocked after ``timeout``."""
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "thread still blocked (deadlock?)"


def wait_until(pred: Callable[[], Any], timeout: float = T, step: float = 0.001,
               message: Callable[[], str] | None = None) -> bool:
    """Poll ``pred`` until it is true (returns True) or fail with AssertionError after ``timeout``.

    The one place the tests poll: a test waits on state through this (or :func:`wait_for_progress`),
    never on a bare ``time.sleep`` (``test_helpers`` greps for them). The loop is the package's own
    :func:`hcedu.clock.poll_until` on the real clock. ``pred`` may raise to fail at once (e.g. a server
    process that exited). ``message()``, called only on failure, says what was awaited."""
    if not poll_until(pred, timeout, interval=step, clock=REAL):
        raise AssertionError(f"condition not reached within {timeout} s" + (f": {message()}" if message else ""))
    return True


def parked_receivers(ch: Any) -> int:
    """How many goroutines are parked receiving on ``ch`` (an ``hcedu.go.Chan``): its ``recvq``."""
    return len(ch.snapshot().recvq)


def parked_senders(ch: Any) -> int:
    """How many goroutines are parked sending on ``ch``, select cases included: its ``sendq``."""
    return len(ch.snapshot().sendq)


def wait_for_url(proc: Any, url: str | Callable[[], str | None], timeout: float,
                 log: Callable[[], str] | None = None, step: float = 0.3) -> str:
    """Wait until a server process ``proc`` (a ``subprocess.Popen``) answers HTTP at ``url``; return the URL.

    ``url`` may be a callable giving the URL, or None while it is not known yet (e.g. a port read from the
    server's log). Fails at once if ``proc`` exits, or after ``timeout`` s; ``log()`` says what the server
    printed (called only on failure)."""
    import urllib.request

    answered: list[str] = []

    def up() -> bool:
        assert proc.poll() is None, f"the server exited with {proc.returncode}: {log() if log else ''}"
        where = url() if callable(url) else url
        if not where:
            return False
        try:
            urllib.request.urlopen(where, timeout=2).close()
        except OSError:
            return False
        answered.append(where)
        return True

    wait_until(up, timeout=timeout, step=step, message=lambda: f"{url if isinstance(url, str) else 'the server'} "
               f"did not answer: {log() if log else ''}")
    return answered[-1]


def flight_waiters(group: Any, key: Any = None) -> int:
    """How many callers wait as duplicates on the in-flight call for ``key`` of a singleflight ``group``
    (an ``hcedu.go.singleflight.Group``); every key's when ``key`` is None. 0 when nothing is in flight."""
    calls = dict(group._m)
    return sum(c.dups for k, c in calls.items() if key is None or k == key)


def crowd_one_flight(group: Any, key: Any, fail: BaseException, dups: int) -> list[BaseException]:
    """Call ``group.do(key, fn)`` (a singleflight ``Group``) from ``1 + dups`` threads, where ``fn`` raises
    ``fail`` only once all ``dups`` later callers wait on its flight as duplicates; return what the callers
    caught (``fail``'s type; any other exception fails the thread's join). Bounded by ``T`` throughout."""
    release, started = threading.Event(), threading.Event()
    caught: list[BaseException] = []

    def fn() -> Any:
        started.set()
        assert release.wait(T)
        raise fail

    def call() -> None:
        try:
            group.do(key, fn)
        except type(fail) as exc:
            caught.append(exc)

    first = spawn(call)
    assert started.wait(T)
    others = [spawn(call) for _ in range(dups)]
    wait_until(lambda: flight_waiters(group, key) >= dups)
    release.set()
    join(first, *others)
    return caught


def wait_for_progress(count: Callable[[], int], target: int, stall: float = 30.0, step: float = 0.02) -> int:
    """Poll ``count()`` until it reaches ``target``; give up only once it has not moved for ``stall`` s.

    A hang guard rather than a time limit: a machine twice as slow (or busy) just takes longer. Returns
    the last count (the caller asserts on it, so a stall fails there with the numbers)."""
    last = [count()]

    def moved() -> bool:
        now = count()
        if now == last[-1]:
            return False
        last.append(now)
        return True

    while last[-1] < target and poll_until(moved, stall, interval=step, clock=REAL):
        pass
    return last[-1]


def race_the_last_unit(client: Any, readers: int = 2, timeout: float = T) -> Any:
    """Force the check-then-act race of a naive stock (``GET`` stock, compare, ``DECRBY``) at the protocol level.

    Wraps ``client.execute_command`` in two steps, so the race happens every run (free-running threads
    produce it only when the scheduler is kind; on a busy machine they sometimes run one at a time):

    1. While more than one unit is left, buyers take turns: a thread's ``GET`` of a stock key (``...:stock:...``,
       or the hash-tagged ``...{stock:<item>}`` of :class:`~hcedu.patterns.stock.NaiveStock`) waits for
       the turn, and gives it back after its ``DECRBY`` (or when it decides not to buy: the stock read below 1,
       or ``HEXISTS`` found it had bought already). So the stock steps down one unit at a time and always
       reaches "1 left"; two buyers racing at "2 left" would otherwise skip it and never oversell.
    2. At "1 left" the turn is given back at once, and a ``DECRBY`` by a thread whose last ``GET`` read ``1``
       waits (at most ``timeout`` s) until ``readers`` such DECRBYs are waiting: that many buyers all saw one
       unit left and decided to buy it (a buyer whose ``HEXISTS`` says it bought already reads "1" too, but
       does not count), the interleaving the naive stock loses.

    Every wait is bounded by ``timeout``, so a buyer that never comes back only slows the run. Returns ``client``.
    """
    original = client.execute_command
    turn = threading.Lock()            # one check-then-act at a time while more than one unit is left
    lock, enough = threading.Lock(), threading.Event()
    mine = threading.local()           # .turn: this thread holds `turn`; .value: its last stock GET
    seen = [0]

    def give_back() -> None:
        if getattr(mine, "turn", False):
            mine.turn = False
            turn.release()

    def execute_command(*args: Any, **kwargs: Any) -> Any:
        name = str(args[0]).upper()
        stock_get = name == "GET" and len(args) > 1 and any(m in str(args[1]) for m in (":stock:", "{stock:"))
        if stock_get and not getattr(mine, "turn", False):
            mine.turn = turn.acquire(timeout=timeout)
        if name in ("DECRBY", "DECR") and getattr(mine, "value", None) in ("1", b"1"):
            mine.value = None
            with lock:
                seen[0] += 1
                if seen[0] >= readers:
                    enough.set()
            enough.wait(timeout)
        try:
            result = original(*args, **kwargs)
        except BaseException:
            give_back()
            raise
        if stock_get:
            mine.value = result
            if result in ("1", b"1"):
                give_back()                 # let the next buyers read the last unit too
            elif result is None or int(result) < 1:
                give_back()
        elif name in ("DECRBY", "DECR") or (name == "HEXISTS" and result):
            give_back()
        return result

    client.execute_command = execute_command
    return client


def run_workers(worker: Callable[[int], Any], n: int, timeout: float = 120.0) -> None:
    """Run ``worker(i)`` for i in range(n) on threads; fail if one hangs, re-raise the first error."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            worker(i)
        except BaseException as exc:  # reported in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True, name=f"hcedu-test-worker-{i}") for i in range(n)]
    for t in threads:
        t.start()
    join(*threads, timeout=timeout)
    if errors:
        raise errors[0]


def _cpu_times() -> list[int] | None:
    """The machine's CPU time counters from /proc/stat (user .. steal), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def stolen_share(before: list[int] | None, after: list[int] | None) -> float:
    """Share of the CPU time between two :func:`_cpu_times` readings that the hypervisor stole (0 if unknown)."""
    if before is None or after is None:
        return 0.0
    total = sum(after) - sum(before)
    return (after[7] - before[7]) / total if total > 0 else 0.0


def measure_undisturbed(run: Callable[[], Any], problems: Callable[[Any], list[str]], *, attempts: int = 6,
                        max_steal: float = 0.05) -> tuple[Any, list[str], bool]:
    """Run a throughput measurement until it passes ``problems`` (an empty list), at most ``attempts`` times.

    A shared host sometimes pauses this VM (CPU *steal*): a run during which more than ``max_steal`` of
    the CPU time was stolen measured the host, not the code, so its failure does not count. Two
    undisturbed failures end it. Returns ``(result, problems, disturbed)``: ``disturbed`` is True when no
    run was undisturbed (the caller skips, saying so, rather than pass or fail on noise).
    """
    result: Any = None
    found, undisturbed_failures, any_undisturbed = ["not run"], 0, False
    for _ in range(attempts):
        before = _cpu_times()
        attempt = run()
        stolen = stolen_share(before, _cpu_times())
        attempt_found = problems(attempt)
        if not attempt_found:
            return attempt, [], False
        note = f"{stolen:.0%} of the CPU stolen by the host meanwhile"
        if stolen <= max_steal:
            any_undisturbed = True
            undisturbed_failures += 1
            result, found = attempt, attempt_found + [note]
            if undisturbed_failures >= 2:
                break
        elif not any_undisturbed:       # keep a disturbed failure only until an undisturbed one exists
            result, found = attempt, attempt_found + [note]
    return result, found, not any_undisturbed


def assert_rejected(verdict: Any, *mentions: str, runs: int = 1, check: Callable[[], Any] | None = None) -> None:
    """Assert a checker's verdict rejects a wrong solution with a hint or detail naming the mistake.

    ``mentions``: words (case-insensitive) of which at least one must appear in the verdict line.
    ``check``: a zero-argument callable re-running the checker; with ``runs > 1`` it is re-run that many
    times and must reject every time (race-type wrong solutions).
    """
    verdicts = [verdict] + ([check() for _ in range(runs - 1)] if check is not None else [])
    for i, v in enumerate(verdicts):
        line = str(v)
        assert not v, f"run {i + 1}/{len(verdicts)}: a wrong solution was accepted: {line}"
        assert not getattr(v, "unsolved", False), f"run {i + 1}: reported as unsolved, not rejected: {line}"
        assert not getattr(v, "internal", False), f"run {i + 1}: the checker crashed: {line}"
        if mentions:
            assert any(m.lower() in line.lower() for m in mentions), (
                f"run {i + 1}: the verdict names none of {mentions!r}: {line}")


def assert_accepted(verdict: Any) -> None:
    """Assert a checker accepts a correct (reference or alternative) solution."""
    assert verdict, f"a correct solution was rejected: {verdict}"


def solution_function(notebook: str, name: str) -> Any:
    """The function ``name`` as defined in ``solutions/<notebook>.ipynb`` (the code cell that defines it is
    run in a fresh namespace), so a test checks the reference solution itself, not a copy of it."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "solutions" / f"{notebook}.ipynb"
    for cell in json.loads(path.read_text())["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "code" and f"def {name}(" in src:
            namespace: dict[str, Any] = {}
            exec(compile(src, str(path), "exec"), namespace)
            return namespace[name]
    raise LookupError(f"no code cell of {path.name} defines {name}()")
