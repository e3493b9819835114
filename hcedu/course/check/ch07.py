"""Checker for exercise 07: the drop-oldest back-pressure policy on a Go-style channel.

Checked, one race at a time, each forced deterministically by a channel subclass: with room nothing is
evicted; on a full channel the oldest items are evicted and reported, falsy ones (``None``, ``0``, ``''``)
included; a rival producer that refills the freed slot after each of offer's receives, five times over,
makes every one of those evictions reported, in order and duplicates kept, and the item still ends up
buffered (an offer that gives up after a few rounds loses it); a consumer that empties the buffer first
means nothing evicted and a retried send; a closed channel panics. Then 8 producers and a live consumer
check that every item is delivered or evicted, exactly once.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from . import Verdict, run_checks

__all__ = ["drop_oldest"]


class _ParkedForever(BaseException):
    """Raised inside the learner's ``offer`` when it parks on a channel nobody else can reach (a BaseException,
    so an ``except Exception`` in the learner's code cannot swallow it)."""


def _alone_chan() -> type:
    """A :class:`~hcedu.go.chan.Chan` that refuses to park while ``alone`` is set.

    During the single-goroutine checks the learner's ``offer`` is the only goroutine that can reach the
    channel, so a blocking ``send``/``recv`` that has to park would wait forever. Refusing the park at the
    channel's one parking point (``Chan._block``, called with the channel's lock held, before anything is
    enqueued: the operation does not happen) rejects such an answer at once and on every run, instead of
    after a timeout, and leaves no thread parked behind."""
    from ...go.chan import Chan

    class AloneChan(Chan):
        alone = False
        parked: str | None = None

        def _block(self, sg: Any, q: Any, timeout: float | None, what: str) -> Any:
            if not self.alone or self.parked:   # refused once already: an answer that retries parks for real
                return super()._block(sg, q, timeout, what)
            self._lock.release()
            self.parked = what
            raise _ParkedForever(what)

    return AloneChan


def _with_timeout(fn: Callable[[], Any], seconds: float, what: str, ch: Any = None) -> Any:
    """``fn()`` in its own thread; fails if it raises, parks on ``ch`` (an :func:`_alone_chan`), or is still
    running after ``seconds`` (a block that is not a park on ``ch``, e.g. a ``select`` without a default)."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            out["error"] = exc

    if ch is not None:
        ch.alone = True
    t = threading.Thread(target=run, name="hcedu-check07", daemon=True)
    t.start()
    t.join(seconds)
    if ch is not None:
        ch.alone = False
    if t.is_alive():
        raise AssertionError(f"{what} did not return within {seconds:g} s (it blocks)")
    if ch is not None and ch.parked:
        raise AssertionError(f"{what}: offer blocked in a channel {ch.parked} that no other goroutine could "
                             f"complete, so it would wait forever (it blocks)")
    if "error" in out:
        raise out["error"]
    return out.get("value")


def _evicted(got: Any, what: str) -> list:
    """The learner's return value as a list, or a clear failure naming what was wrong with it."""
    assert isinstance(got, (list, tuple)), (
        f"offer must return the list of evicted items, returned {type(got).__name__}: {got!r} ({what})")
    return list(got)


def drop_oldest(offer: Callable[[Any, Any], Any], producers: int = 8, per_producer: int = 300) -> Verdict:
    """Check ``offer(ch, item) -> list of evicted items``: never blocks; on a full buffer it evicts the oldest
    buffered item(s) to make room and returns them (usually one; more if other producers refill the slot
    first); and under concurrent producers and a live consumer every item is either
    delivered or returned as evicted, exactly once, with each producer's delivered items in order."""
    from ...go.chan import Chan, SendOnClosedChannel

    AloneChan = _alone_chan()

    def room_means_no_eviction() -> None:
        ch = AloneChan(3)
        got = _evicted(_with_timeout(lambda: offer(ch, "a"), 1, "offer on an empty channel", ch), "with room")
        assert got == [], f"nothing should be evicted when there is room, got {got!r}"
        assert len(ch) == 1, f"the item should be buffered (len(ch) == 1), len is {len(ch)}"

    def full_evicts_oldest() -> None:
        ch = AloneChan(3)
        got = [_evicted(_with_timeout(lambda x=x: offer(ch, x), 1, "offer on a full channel", ch), "full channel")
               for x in "abcde"]
        assert got == [[], [], [], ["a"], ["b"]], f"expected evictions [[], [], [], ['a'], ['b']], got {got!r}"
        left = [ch.recv(timeout=1) for _ in range(3)]
        assert left == ["c", "d", "e"], f"the buffer should hold the 3 newest in order, holds {left!r}"
        # falsy items are items: an eviction is known from try_recv's `selected`/`ok`, never from the value
        ch = AloneChan(1)
        items = [None, 0, "", "z"]
        got = [_evicted(_with_timeout(lambda x=x: offer(ch, x), 1, "offer on a full channel", ch), "falsy items")
               for x in items]
        want = [[], [None], [0], [""]]
        lost = [w[0] for g, w in zip(got, want) if w and g != w]
        assert got == want and ch.try_recv()[:2] == ("z", True), (
            f"offering {items!r} in turn on a Chan(1) should evict {want!r}, got {got!r}"
            + (f": the evicted {', '.join(map(repr, lost))} went unreported. None, 0 and '' are items too: count "
               f"an eviction when try_recv's `selected` and `ok` say it received, not by the value (`if old:` "
               f"or `if old is not None` loses them)" if lost else ""))

    def rival_refills_the_slot() -> None:
        class RivalChan(AloneChan):
            """After each of the learner's first ``rivals`` receives another producer grabs the freed slot (a
            race, made deterministic), whichever receive the learner uses (``try_recv``, ``recv``,
            ``recv_ok``). The rival sends the same value each time, so a set of the evictions merges them
            (on every hash seed)."""

            rivals = 5

            def _after_receive(self) -> None:
                if self.rivals:
                    self.rivals -= 1
                    super().try_send("rival")

            def try_recv(self) -> Any:
                got = super().try_recv()
                if got[2]:
                    self._after_receive()
                return got

            def recv_ok(self, timeout: float | None = None) -> Any:
                got = super().recv_ok(timeout)
                self._after_receive()
                return got

        ch = RivalChan(1)
        ch.send("a")
        rounds = ch.rivals
        got = _evicted(_with_timeout(lambda: offer(ch, "b"), 1, "offer when a rival refills the slot", ch),
                       "rival refills the slot")
        ch.rivals = 0
        want = ["a"] + ["rival"] * rounds
        race = f"another producer refilled the slot after each of offer's receives ({rounds} times)"
        if ch.try_recv()[:2] != ("b", True):
            where = "reported evicted instead of buffered" if "b" in got else "neither buffered nor reported: lost"
            raise AssertionError(
                f"{race}; offer returned {got!r} and 'b' was {where}. An offer that stops after a fixed number "
                f"of tries gives up on the item: keep evicting and retrying until try_send succeeds")
        if got != want and sorted(map(repr, got)) == sorted(map(repr, want)):
            raise AssertionError(f"{race}, so {want!r} were evicted in that order; offer returned {got!r}: "
                                 f"the eviction order was lost")
        if got != want and {repr(x) for x in got} == {repr(x) for x in want}:
            raise AssertionError(f"{race}, so {want!r} were evicted; offer returned {got!r}: equal items were "
                                 f"merged (a set?): return the list in eviction order, duplicates included")
        assert got == want, (
            f"{race}, so 'a' and {rounds} x 'rival' were all evicted, in that order; offer returned {got!r}")

    def consumer_takes_it_first() -> None:
        class ConsumerChan(AloneChan):
            """The first time a send finds the buffer full, the consumer empties it before the producer's next
            step (a race, made deterministic)."""

            consumer = True

            def try_send(self, v: Any) -> bool:
                ok = super().try_send(v)
                if not ok and self.consumer:
                    self.consumer = False
                    while True:
                        got = super().try_recv()
                        if not got[2]:
                            break
                        self.delivered.append(got[0])
                return ok

        ch = ConsumerChan(1)
        ch.delivered = []
        ch.send("a")
        got = _evicted(_with_timeout(lambda: offer(ch, "b"), 1, "offer when the consumer empties the buffer first",
                                     ch),
                       "consumer took the item first")
        assert ch.delivered == ["a"], "the consumer should have received 'a'"
        assert got == [], (f"the consumer received 'a' before offer could evict it, so nothing was evicted; offer "
                           f"reported {got!r} (check try_recv's `selected` before counting an eviction)")
        assert ch.try_recv()[:2] == ("b", True), (
            "offer returned without sending 'b': the consumer emptied the buffer, so try_recv found nothing to "
            "evict; that is no reason to give up: try_send again (there is room now), until it succeeds")

    def closed_channel_panics() -> None:
        ch = AloneChan(1)
        ch.close()
        try:
            _with_timeout(lambda: offer(ch, "x"), 1, "offer on a closed channel", ch)
        except SendOnClosedChannel:
            return
        raise AssertionError("offer on a closed channel must panic 'send on closed channel', like a send")

    def conserves_items_under_concurrency() -> None:
        ch = Chan(1)  # one slot: producers fight over it, so evictions race often
        delivered: list[Any] = []
        evicted: list[Any] = []
        lock = threading.Lock()

        def consumer() -> None:
            for v in ch.range(timeout=10):
                delivered.append(v)

        def producer(p: int) -> None:
            for i in range(per_producer):
                e = _evicted(offer(ch, (p, i)), "under concurrency")
                with lock:
                    evicted.extend(e)

        c = threading.Thread(target=consumer, name="hcedu-check07-consumer", daemon=True)
        c.start()
        ps = [threading.Thread(target=producer, args=(p,), name=f"hcedu-check07-{p}", daemon=True)
              for p in range(producers)]
        for t in ps:
            t.start()
        for t in ps:
            t.join(30)
            assert not t.is_alive(), "a producer is stuck: offer must never block"
        ch.close()
        c.join(10)
        everything = {(p, i) for p in range(producers) for i in range(per_producer)}
        assert len(delivered) + len(evicted) == len(everything), (
            f"{len(delivered)} delivered + {len(evicted)} evicted != {len(everything)} offered")
        assert set(delivered) | set(evicted) == everything, "some items were neither delivered nor evicted"
        assert not set(delivered) & set(evicted), "an item was both delivered and reported evicted"
        for p in range(producers):
            seq = [i for q, i in delivered if q == p]
            assert seq == sorted(seq), f"producer {p}'s items were delivered out of order"

    return run_checks("drop-oldest back-pressure policy", [
        ("with room, nothing is evicted", room_means_no_eviction, "try_send first; return []"),
        ("when full, the oldest item is evicted and returned", full_evicts_oldest,
         "if try_send fails, try_recv one item (the oldest) and try again"),
        ("when a rival refills the slot, every eviction is reported", rival_refills_the_slot,
         "keep a list: append every item try_recv took, until try_send succeeds"),
        ("when the consumer empties the buffer first, nothing is evicted and nothing blocks",
         consumer_takes_it_first, "never block (no recv/send without select-default); count an eviction only "
         "when try_recv actually received; when it received nothing, just try_send again"),
        ("a closed channel panics like a send", closed_channel_panics, "let try_send's panic propagate"),
        (f"{producers} producers + a consumer: every item delivered or evicted, exactly once",
         conserves_items_under_concurrency,
         "loop until try_send succeeds; collect every item try_recv evicts (the consumer may take it first)"),
    ])
