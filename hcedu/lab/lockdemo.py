"""Chapter 08's lab: every way a Redis lock breaks, shown happening (Redis ``SET NX PX`` locks, Redlock;
Go: redsync), plus contention measurements.

The chapter's notebook calls everything through this one name (``from hcedu.lab import lockdemo as lab``);
each job lives in its own module and is re-exported here:

* :mod:`hcedu.lab.lockscenarios`: deterministic scenarios (the client side on a
  :class:`~hcedu.clock.VirtualClock`, the Redis side a real server): :func:`lease_expiry`,
  :func:`pause_past_ttl`, :func:`watchdog_pause`, :func:`watchdog_hung`, each returning a :class:`Scenario`
  whose ``frames`` is a tidy ``DataFrame`` (``t, actor, event, ok, fence, detail, holder, believers``);
* :mod:`hcedu.lab.lockpause`: :func:`sigstop_pause`, a real ``SIGSTOP`` of a process holding the lock;
* :mod:`hcedu.lab.lockfleet`: the Redlock fleet (:class:`Nodes`, :func:`redlock_outage`,
  :func:`redlock_clock_jump`);
* :mod:`hcedu.lab.lockcontention`: measurements (:func:`count_commands`, :func:`round_trips`,
  :func:`contention`), returning frames;
* :mod:`hcedu.lab.lockcharts`: :func:`timeline_chart`, :func:`redlock_chart`, :func:`contention_chart` and
  the :func:`dashboard`.
"""

from __future__ import annotations

from .lockcharts import contention_chart, dashboard, redlock_chart, timeline_chart
from .lockcontention import contention, count_commands, round_trips
from .lockfleet import Nodes, fake_nodes, real_nodes, redlock_clock_jump, redlock_outage
from .lockpause import sigstop_pause
from .lockscenarios import (KEY, UNLOCKS, PausableClock, Scenario, expire_now, lease_expiry, pause_past_ttl,
                            watchdog_hung, watchdog_pause)

__all__ = ["Scenario", "PausableClock", "lease_expiry", "pause_past_ttl", "watchdog_pause", "watchdog_hung",
           "sigstop_pause",
           "Nodes", "fake_nodes", "real_nodes", "redlock_outage", "redlock_clock_jump", "timeline_chart",
           "redlock_chart", "dashboard", "count_commands", "round_trips", "contention", "contention_chart", "UNLOCKS",
           "KEY", "expire_now"]
