"""Deterministic interleavings of cache readers and writers (Go's ``-race`` can't find these: no memory race).

The cache/DB consistency strategies of :mod:`hcedu.patterns.consistency` are generators of steps
(``cache_get``, ``db_read``, ``cache_set``, ``cache_del``, ``db_write``, ``sleep``, ...). Chapter 15 runs
several actors — readers ``r1, r2, ...``, writers ``w1, w2, ...``, for write-behind a ``flush`` and a
``crash`` actor, for CDC a ``cdc`` consumer — against one key on a real Redis cache and a
:class:`~hcedu.patterns.consistency.VersionedDB` on a :class:`~hcedu.clock.VirtualClock`, choosing who moves
next by:

* a **scripted schedule** (``["r1", "r1", "w1", "w1", "r1"]``: the classic stale-set race); a number in
  the schedule advances virtual time by that many seconds; actors left over run in time order;
* **time** (``schedule=None``): each step takes ``tick`` seconds, ``starts``/``pauses`` delay actors,
  sleeps sleep — the earliest-ready actor moves (ties in actor order);
* **every schedule** (:func:`enumerate_runs`: depth-first over who-moves-next, each run replayed from
  scratch) or **seeded random ones** (:func:`sample_runs`).

Each run returns an :class:`Outcome`: the trace, reads that returned a version older than the newest
one committed when the read began (stale reads), the longest time the cache held an old version
(a stale entry left at the end counts until its TTL expires: that is how long it really lasts), and
whether the final cache is stale. :func:`compare` tabulates strategies; :func:`threaded_check` replays
the canonical race of each strategy with real threads on real Redis (a hook pauses one thread at the
exact step), so the race is not an artefact of the simulator.

The chapter calls everything through this one name (``from hcedu.lab import interleave as il``); the jobs
live in :mod:`hcedu.lab.interleave_runs` (the simulator), :mod:`hcedu.lab.interleave_threads` (real
threads) and :mod:`hcedu.lab.interleave_charts` (figures), re-exported here.
"""

from __future__ import annotations

from .interleave_charts import chart_compare, chart_delay, chart_timeline
from .interleave_runs import (BACKGROUND, DELAYED, KEY, STALE_SET, Outcome, compare, delay_sweep, enumerate_runs,
                              run, sample_runs, summarize)
from .interleave_threads import CANONICAL, SCENARIOS, threaded_check, threaded_race

__all__ = ["KEY", "Outcome", "run", "enumerate_runs", "sample_runs", "compare", "summarize", "delay_sweep",
           "threaded_race", "threaded_check", "chart_timeline", "chart_compare", "chart_delay", "STALE_SET",
           "BACKGROUND", "DELAYED", "SCENARIOS", "CANONICAL"]
