"""Wrong answers to exercise 07 (the drop-oldest back-pressure policy), written as a learner would.

The races (a rival producer refilling the freed slot, the consumer emptying the buffer first) are forced
by channel subclasses in the checker, at the channel-operation level, so each race-type wrong answer is
rejected on every run; each is run 5 times to show it. A blocking send or receive on a channel no other goroutine
can reach is refused where it would park (no timeout to wait out).
"""

from __future__ import annotations

import pytest

from hcedu.course import check
from hcedu.go.chan import SendOnClosedChannel

from helpers import assert_accepted, assert_rejected, solution_function



reference = solution_function("07_backpressure_policy", "offer")


def recursive(ch, item):
    """Alternative: evict one, then offer again (recursion instead of a loop)."""
    if ch.try_send(item):
        return []
    old, ok, selected = ch.try_recv()
    return ([old] if selected and ok else []) + recursive(ch, item)


def evict_once(ch, item):
    # one eviction, one retry: if a rival took the freed slot, the item is silently lost
    if ch.try_send(item):
        return []
    old, ok, selected = ch.try_recv()
    ch.try_send(item)
    return [old]


def evict_then_blocking_send(ch, item):
    # makes room, then a plain send: blocks when a rival took the room
    evicted = []
    if not ch.try_send(item):
        old, ok, selected = ch.try_recv()
        evicted.append(old)
        ch.send(item)
    return evicted


def blocking_recv_to_evict(ch, item):
    # "the buffer is full, so recv cannot block": the consumer may empty it first
    evicted = []
    while not ch.try_send(item):
        evicted.append(ch.recv())
    return evicted


def blocking_recv_in_a_bare_except(ch, item):
    # "just in case": every error around the blocking receive is swallowed, and it tries again
    evicted = []
    while not ch.try_send(item):
        try:
            evicted.append(ch.recv())
        except:  # noqa: E722 - the learner's catch-all
            pass
    return evicted


def ignores_selected(ch, item):
    # counts an eviction even when try_recv received nothing
    evicted = []
    while not ch.try_send(item):
        old, ok, selected = ch.try_recv()
        evicted.append(old)
    return evicted


def check_len_then_act(ch, item):
    # check-then-act on len(): the state changes between the check and the act
    evicted = []
    if len(ch) == ch.cap:
        evicted.append(ch.try_recv()[0])
    ch.try_send(item)
    return evicted


def skips_none(ch, item):
    # "None means nothing was received": an evicted None is lost
    evicted = []
    while not ch.try_send(item):
        old, ok, selected = ch.try_recv()
        if old is not None:
            evicted.append(old)
    return evicted


def skips_falsy(ch, item):
    # truthiness instead of `selected`: an evicted 0 or '' is lost
    evicted = []
    while not ch.try_send(item):
        old, ok, selected = ch.try_recv()
        if old:
            evicted.append(old)
    return evicted


def bounded_retries(ch, item):
    # "three tries is plenty": when rivals refill the slot more often, the item is neither buffered nor reported
    evicted = []
    for _ in range(3):
        if ch.try_send(item):
            return evicted
        old, ok, selected = ch.try_recv()
        if selected and ok:
            evicted.append(old)
    return evicted


def returns_a_set(ch, item):
    # "no duplicates": a set loses the eviction order and merges equal items
    evicted = []
    while not ch.try_send(item):
        old, ok, selected = ch.try_recv()
        if selected and ok:
            evicted.append(old)
    return list(set(evicted))


def gives_up_when_nothing_to_evict(ch, item):
    # stops when try_recv finds nothing (the consumer emptied the buffer), without sending the item
    evicted = []
    while not ch.try_send(item):
        old, ok, selected = ch.try_recv()
        if not selected:
            break
        if ok:
            evicted.append(old)
    return evicted


def drops_newest(ch, item):
    # drop_newest, not drop_oldest
    return [] if ch.try_send(item) else [item]


def forgets_to_report(ch, item):
    # evicts correctly, reports nothing: the silent loss the chapter is about
    recursive(ch, item)
    return []


def swallows_closed(ch, item):
    # hides a send on a closed channel
    try:
        return recursive(ch, item)
    except SendOnClosedChannel:
        return []


def returns_count(ch, item):
    # returns how many, not which
    return len(recursive(ch, item))


def test_reference_and_recursive_alternative_pass():
    assert_accepted(check.drop_oldest(reference))
    assert_accepted(check.drop_oldest(recursive))


RACES = {
    "evict once": (evict_once, ["every eviction is reported", "rival"]),
    "evict, then blocking send": (evict_then_blocking_send, ["blocks"]),
    "blocking recv to evict": (blocking_recv_to_evict, ["blocks"]),
    "blocking recv in a bare except": (blocking_recv_in_a_bare_except, ["blocks"]),
    "ignores selected": (ignores_selected, ["selected"]),
    "len() check, then act": (check_len_then_act, ["rival", "selected", "every eviction"]),
    "bounded retries": (bounded_retries, ["stops after a fixed number of tries"]),
    "gives up when nothing to evict": (gives_up_when_nothing_to_evict, ["without sending 'b'", "try_send again"]),
}


@pytest.mark.parametrize("name", list(RACES))
def test_race_type_wrong_answer_is_rejected_every_time(name):
    fn, mentions = RACES[name]
    assert_rejected(check.drop_oldest(fn), *mentions, runs=5, check=lambda: check.drop_oldest(fn))


WRONG = {
    "drops the newest": (drops_newest, ["oldest item is evicted"]),
    "forgets to report": (forgets_to_report, ["expected evictions"]),
    "swallows the closed-channel panic": (swallows_closed, ["closed channel"]),
    "returns a count": (returns_count, ["must return the list"]),
    "skips an evicted None": (skips_none, ["the evicted None went unreported"]),
    "skips falsy evictions": (skips_falsy, ["the evicted None, 0, '' went unreported"]),
    # the rival's evictions are equal values, so the set merges them on every hash seed
    "returns a set": (returns_a_set, ["equal items were merged"]),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_wrong_answer_is_rejected_with_a_hint(name):
    fn, mentions = WRONG[name]
    assert_rejected(check.drop_oldest(fn), *mentions)
