"""Chapter 08's lab: every way a Redis lock breaks, shown happening (Redis ``SET NX PX`` locks, Redlock;
Go: redsync), plus contention measurements.

The chapter's notebook calls everything through this one name (``from hcedu.lab import lockdemo as lab``);
each job lives in its own module and is re-exported here:

* :mod:`hcedu.lab.lockscenarios`: deterministic scenarios (the client side on a
  :class:`~hcedu.clock.VirtualClock`, the Redis side a real server): :func:`lease_expiry`,
  :func:`pause_past_ttl`, :func:`watchdog_pause`, :func:`watchdog_hung`, each returning a frozen
  :class:`Scenario` subclass whose ``frame`` is a tidy ``DataFrame`` (``t, actor, event, ok, fence, detail,
  holder, believers``) and whose named fields are the outcome (``summary`` lists them as a dict);
* :mod:`hcedu.lab.lockpause`: :func:`sigstop_pause`, a real ``SIGSTOP`` of a process holding the lock;
* :mod:`hcedu.lab.lockfleet`: the Redlock fleet (:class:`Nodes`, :func:`redlock_outage`,
  :func:`redlock_clock_jump`);
* :mod:`hcedu.lab.lockcontention`: measurements (:func:`count_commands`, :func:`round_trips`,
  :func:`contention`), returning frames;
* :mod:`hcedu.lab.lockcharts`: :func:`chart_timeline`, :func:`chart_redlock`, :func:`chart_contention` and
  the :func:`dashboard`.
"""

from __future__ import annotations

from .lockcharts import chart_contention, chart_redlock, chart_timeline, dashboard
from .lockcontention import contention, count_commands, round_trips
from .lockfleet import ClockJump, Nodes, fake_nodes, real_nodes, redlock_clock_jump, redlock_outage
from .lockpause import SigstopPause, sigstop_pause
from .lockscenarios import (KEY, UNLOCKS, LeaseExpiry, PausableClock, PausePastTTL, Scenario, WatchdogHung,
                            WatchdogPause, expire_now, lease_expiry, pause_past_ttl, watchdog_hung, watchdog_pause)

__all__ = ["Scenario", "LeaseExpiry", "PausePastTTL", "WatchdogPause", "WatchdogHung", "SigstopPause", "ClockJump",
           "PausableClock", "lease_expiry", "pause_past_ttl", "watchdog_pause", "watchdog_hung", "sigstop_pause",
           "Nodes", "fake_nodes", "real_nodes", "redlock_outage", "redlock_clock_jump", "chart_timeline",
           "chart_redlock", "dashboard", "count_commands", "round_trips", "contention", "chart_contention", "UNLOCKS",
           "KEY", "expire_now"]
