"""A latency + fault plan (toxiproxy's toxics) shared by :class:`hcedu.lab.proxy.LatencyProxy` and the
in-process :class:`hcedu.lab.proxy.DelayedConnection`: what each request suffers, decided in one place.

:class:`Toxics` draws each request's fate (a delay, maybe a fault) and records it; each fault kind is a
small strategy (:class:`_Fault`) that the proxy plays on a connection's bytes and the in-process
connection plays on a reply, so the kinds are chosen once by name (:data:`FAULTS`). What each fault does
is described in :mod:`hcedu.lab.proxy`.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

import pandas as pd
import redis

from .. import _validate
from ..clock import REAL, as_clock

__all__ = ["FAULTS", "Toxics", "FaultEvent"]


class _Fault:
    """One fault kind (:mod:`hcedu.lab.proxy` says what each does), played alike by the proxy and in-process:
    ``on_proxy`` returns the extra delay before the request goes upstream, or None when it ends there;
    ``on_connection`` returns the extra seconds before the reply is read, or raises what the client sees."""

    needs_duration = False

    def on_proxy(self, pipe: Any, duration: float) -> float | None:
        raise NotImplementedError

    def on_connection(self, conn: Any, duration: float, read: Any) -> float:
        raise NotImplementedError


class _Stall(_Fault):
    needs_duration = True

    def on_proxy(self, pipe: Any, duration: float) -> float | None:
        return duration

    def on_connection(self, conn: Any, duration: float, read: Any) -> float:
        return duration


class _Close(_Fault):
    """``drop`` (FIN: the client reads end of stream) or, with ``rst``, ``reset`` (connection reset by peer)."""

    def __init__(self, rst: bool) -> None:
        self.rst = rst

    def on_proxy(self, pipe: Any, duration: float) -> float | None:
        pipe.close(rst=self.rst)
        return None

    def on_connection(self, conn: Any, duration: float, read: Any) -> float:
        conn.disconnect()
        if self.rst:
            raise redis.ConnectionError(f"Error while reading from {conn._host_label} : "
                                        f"(104, 'Connection reset by peer')")
        raise redis.ConnectionError("Connection closed by server.")


class _LoseReply(_Fault):
    def on_proxy(self, pipe: Any, duration: float) -> float | None:
        pipe.lose_reply = True
        return 0.0

    def on_connection(self, conn: Any, duration: float, read: Any) -> float:
        try:
            read()  # executed; reply discarded
        except redis.ResponseError:
            pass
        conn.disconnect()
        raise redis.ConnectionError("Connection closed by server.")


_FAULTS: dict[str, _Fault] = {"stall": _Stall(), "drop": _Close(rst=False), "reset": _Close(rst=True),
                              "lose_reply": _LoseReply()}

#: The faults a :class:`Toxics` plan can inject.
FAULTS: tuple[str, ...] = tuple(_FAULTS)


@dataclass(frozen=True)
class FaultEvent:
    """One thing a :class:`Toxics` plan did to one request: ``kind`` is ``delay`` or a fault."""

    t: float          # seconds since the plan was created
    conn: int         # connection id (proxy or in-process)
    kind: str         # "delay", "stall", "drop" or "reset"
    seconds: float    # injected delay or stall duration (0 for drop/reset)
    via: str          # "proxy" or "in-process"


class Toxics:
    """A latency + fault plan shared by :class:`LatencyProxy` and :class:`DelayedConnection` (toxiproxy's toxics).

    Thread-safe: change it from any thread while requests flow. ``seed`` makes jitter and random
    faults reproducible. ``record=False`` keeps only the counters (for long load runs). ``clock`` (real by
    default) stamps the events and is the clock the in-process connections sleep the delays on.
    """

    def __init__(self, delay: float = 0.0, jitter: float = 0.0, *, seed: int | None = 0,
                 record: bool = True, clock: Any = REAL) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.clock = as_clock(clock)
        self._t0 = self.clock.monotonic()
        self._queue: list[tuple[str, float]] = []
        self._rates: dict[str, tuple[float, float]] = {}
        self._events: list[FaultEvent] = []
        self._record = bool(record)
        self.counts: dict[str, int] = {"requests": 0, "delay": 0, **{k: 0 for k in FAULTS}}
        self.delay = 0.0
        self.jitter = 0.0
        self.set_latency(delay, jitter)

    def set_latency(self, delay: float, jitter: float = 0.0) -> None:
        """Add ``delay`` ± uniform ``jitter`` seconds to every request (``jitter <= delay``)."""
        delay = _validate.number("delay", delay, minimum=0)
        jitter = _validate.number("jitter", jitter, minimum=0)
        if jitter > delay:
            raise ValueError(f"jitter must be <= delay so a delay is never negative (got jitter={jitter:g}, "
                             f"delay={delay:g})")
        with self._lock:
            self.delay, self.jitter = delay, jitter

    def inject(self, kind: str, count: int = 1, duration: float = 0.0) -> None:
        """Make the next ``count`` user requests suffer ``kind`` (``stall`` for ``duration`` s, ``drop``, ``reset``,
        ``lose_reply``: executed by the server, reply never delivered)."""
        _validate.choice("kind", kind, FAULTS)
        count = _validate.integer("count", count, minimum=1)
        duration = self._duration(kind, duration)
        with self._lock:
            self._queue.extend([(kind, duration)] * count)

    def set_rate(self, kind: str, probability: float, duration: float = 0.0) -> None:
        """Make each user request suffer ``kind`` with ``probability`` (0 turns it off); seeded by ``seed``."""
        _validate.choice("kind", kind, FAULTS)
        probability = _validate.number("probability", probability, minimum=0, maximum=1)
        if probability > 0:
            duration = self._duration(kind, duration)
        with self._lock:
            if probability == 0:
                self._rates.pop(kind, None)
            else:
                self._rates[kind] = (probability, duration)

    @staticmethod
    def _duration(kind: str, duration: float) -> float:
        duration = _validate.number("duration", duration, minimum=0)
        if _FAULTS[kind].needs_duration and duration <= 0:
            raise ValueError("duration must be > 0 for a stall (seconds to hold the request)")
        return duration

    def clear(self) -> None:
        """Remove pending and random faults (latency stays)."""
        with self._lock:
            self._queue.clear()
            self._rates.clear()

    def decide(self, conn: int, *, handshake: bool = False, via: str = "proxy") -> tuple[float, str | None, float]:
        """Draw the fate of one request: ``(delay, fault or None, fault duration)``. Records it."""
        with self._lock:
            self.counts["requests"] += 1
            d = self.delay
            if self.jitter:
                d = max(0.0, d + self._rng.uniform(-self.jitter, self.jitter))
            fault: str | None = None
            dur = 0.0
            if not handshake:
                if self._queue:
                    fault, dur = self._queue.pop(0)
                else:
                    for kind, (p, kdur) in self._rates.items():
                        if self._rng.random() < p:
                            fault, dur = kind, kdur
                            break
            now = self.clock.monotonic() - self._t0
            if d > 0:
                self.counts["delay"] += 1
                if self._record:
                    self._events.append(FaultEvent(now, conn, "delay", d, via))
            if fault is not None:
                self.counts[fault] += 1
                if self._record:
                    self._events.append(FaultEvent(now, conn, fault, dur, via))
        return d, fault, dur

    @property
    def events(self) -> list[FaultEvent]:
        with self._lock:
            return list(self._events)

    def report(self) -> pd.DataFrame:
        """Every recorded delay and fault as a frame (columns ``t, conn, kind, seconds, via``)."""
        ev = self.events
        return pd.DataFrame([e.__dict__ for e in ev], columns=["t", "conn", "kind", "seconds", "via"])

    def __repr__(self) -> str:
        return (f"Toxics(delay={self.delay:g}, jitter={self.jitter:g}, pending={len(self._queue)}, "
                f"rates={self._rates})")
