"""Session experiments (the source's 3.2): live sessions over virtual time, and the EXISTS-then-EXPIRE lookup's harms.

* :func:`live_sessions_over_time` -- seeded users log in, make requests and leave (some log out, most just
  go away) on a :class:`~hcedu.clock.VirtualClock`, against a real :class:`SessionStore` per expiry policy
  (fixed TTL, sliding TTL, sliding + absolute cap). Returns live sessions vs time and the forced re-logins
  each policy costs active users.
* :func:`check_then_act_race` -- a logout (or an expiry) lands between a request's session check and its
  sliding EXPIRE. Admitting that request is not the harm (the session was alive at the check; the atomic
  script has the same window right after it returns): the harm is the **torn read** -- the naive lookup
  then reads an empty hash and returns a session with ``user_id`` None -- and the three round trips.
  ``mode="scripted"`` forces that interleaving with real threads and a :class:`RacingClient`
  (deterministic: every naive request is torn, no atomic one); ``mode="threads"`` lets request and logout
  threads run freely, with a round-trip-sized gap.
* :func:`middleware_overhead` -- what the session middleware costs per request (measured).

:class:`RacingClient` is shared with the exercise checker: it wraps a redis-py client and, inside
``with rc.operation(on_gap):``, calls ``on_gap()`` right before the operation's *second* Redis command in that
thread. An atomic lookup (one ``GETEX`` or one script) has no second command, so nothing can land inside it.
"""

from __future__ import annotations

import contextlib
import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import fakeredis
from ..backend import new_fake_server  # db 0 made up front: fakeredis 2.41's first-use race
import numpy as np
import pandas as pd
import redis
from redis.commands.core import Script

from .. import _validate
from ..backend import Keyspace
from ..clock import REAL, VirtualClock
from ..go import spawn
from ..patterns.session import NaiveSessionStore, SessionStore
from .runner import run_workers

if TYPE_CHECKING:
    from ipywidgets import Widget
    from matplotlib.figure import Figure

__all__ = ["RacingClient", "POLICIES", "Policy", "live_sessions_over_time", "relogins", "chart_live",
           "check_then_act_race", "race_summary", "chart_race", "TORN", "middleware_overhead", "run_threads", "dashboard"]

T = 30.0  # bound on every wait between the two threads of a race (a bound, not a delay: a busy machine must not
#            turn a scripted interleaving into a different one)


class RacingClient:
    """A redis-py client wrapper that runs ``on_gap()`` between an operation's first and second command.

    ``with rc.operation(on_gap) as log:`` marks one logical operation in the current thread; ``log`` collects
    ``(command, result)`` pairs. Commands outside an operation pass straight through. ``register_script``
    returns a script bound to this wrapper, so ``EVALSHA`` counts as one command (a ``NOSCRIPT`` retry is
    three, so warm scripts up first). ``pipeline``/``pubsub`` are not intercepted.
    """

    _PASSTHROUGH = frozenset({"get_encoder", "pipeline", "pubsub", "close", "get_connection_kwargs"})

    def __init__(self, client: redis.Redis) -> None:
        if not isinstance(client, redis.Redis):
            raise TypeError(f"client must be a redis.Redis client (got {type(client).__name__})")
        self._client = client
        self._local = threading.local()

    @contextlib.contextmanager
    def operation(self, on_gap: Callable[[], Any] | None = None) -> Iterator[list[tuple[str, Any]]]:
        st = self._local
        st.active, st.count, st.on_gap, st.log = True, 0, on_gap, []
        try:
            yield st.log
        finally:
            st.active = False

    def register_script(self, script: str) -> Script:
        return Script(self, script)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name.startswith("_") or name in self._PASSTHROUGH or not callable(attr):
            return attr

        def command(*args: Any, **kwargs: Any) -> Any:
            st = self._local
            if getattr(st, "active", False):
                st.count += 1
                if st.count == 2 and st.on_gap is not None:
                    gap, st.on_gap = st.on_gap, None
                    gap()
            result = attr(*args, **kwargs)
            if getattr(st, "active", False):
                st.log.append((name, result))
            return result

        return command

    def __repr__(self) -> str:
        return f"<RacingClient {self._client!r}>"


def _fresh_client() -> redis.Redis:
    return fakeredis.FakeRedis(server=new_fake_server(), decode_responses=True)


# -- live sessions over time ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    """An expiry policy: ``touch`` slides the TTL on each request; ``absolute_ttl`` caps a session's life."""

    name: str
    ttl: float = 1800.0
    touch: bool = True
    absolute_ttl: float | None = None


POLICIES = (
    Policy("fixed 30 min", touch=False),
    Policy("sliding 30 min", touch=True),
    Policy("sliding 30 min + 1 h cap", touch=True, absolute_ttl=3600.0),
)


def _user_events(users: int, horizon: float, seed: int, mean_active: float, mean_gap: float,
                 p_logout: float) -> tuple[list[tuple[float, int, int, str]], list[tuple[float, float]]]:
    rng = random.Random(seed)
    events: list[tuple[float, int, int, str]] = []
    spans = []
    for u in range(users):
        start = rng.uniform(0, horizon * 0.7)
        end = min(horizon, start + rng.expovariate(1 / mean_active))
        spans.append((start, end))
        seq = 0
        events.append((start, u, seq, "login"))
        t = start + rng.expovariate(1 / mean_gap)
        while t < end:
            seq += 1
            events.append((t, u, seq, "request"))
            t += rng.expovariate(1 / mean_gap)
        if rng.random() < p_logout:
            events.append((end, u, seq + 1, "logout"))
    events.sort()
    return events, spans


def live_sessions_over_time(users: int = 60, hours: float = 3.0, *, policies: tuple[Policy, ...] = POLICIES,
                            seed: int = 0, step: float = 120.0, mean_active: float = 2700.0,
                            mean_gap: float = 300.0, p_logout: float = 0.3) -> pd.DataFrame:
    """Simulate ``users`` on a VirtualClock for ``hours`` under each policy (same seeded arrivals for all).

    A user logs in at a uniform time, makes requests with exponential gaps (mean ``mean_gap`` s) while
    active (exponential, mean ``mean_active`` s), then logs out with probability ``p_logout`` or just leaves.
    A request that finds its session gone logs in again (a forced re-login). Each policy gets a fresh
    fakeredis server. Returns one row per (policy, sample): ``policy``, ``t_min``, ``live`` (sessions the
    store counts as live), ``active`` (users actually active), ``relogins`` (cumulative forced re-logins).
    """
    users = _validate.integer("users", users, minimum=1, maximum=20_000)
    hours = _validate.number("hours", hours, minimum=0, strict=True, maximum=48)
    step = _validate.number("step", step, minimum=1)
    if not policies or not all(isinstance(p, Policy) for p in policies):
        raise TypeError("policies must be a non-empty tuple of Policy")
    horizon = hours * 3600
    events, spans = _user_events(users, horizon, seed, mean_active, mean_gap, p_logout)
    starts = np.array([s for s, _ in spans])
    ends = np.array([e for _, e in spans])
    rows = []
    for pol in policies:
        client = _fresh_client()
        clock = VirtualClock()
        store = SessionStore(client, ttl=pol.ttl, keyspace=Keyspace("sessionlab", client), clock=clock,
                             absolute_ttl=pol.absolute_ttl)
        sids: dict[int, str] = {}
        forced = 0
        sample = 0.0
        i = 0
        while sample <= horizon:
            while i < len(events) and events[i][0] <= sample:
                t, u, _, kind = events[i]
                clock.advance_to(t)
                if kind == "login":
                    sids[u] = store.create(u)
                elif kind == "request":
                    if store.get(sids[u], touch=pol.touch) is None:
                        forced += 1
                        sids[u] = store.create(u)
                else:
                    store.destroy(sids[u])
                i += 1
            clock.advance_to(sample)
            rows.append({"policy": pol.name, "t_min": sample / 60, "live": store.live_count(),
                         "active": int(((starts <= sample) & (sample < ends)).sum()), "relogins": forced})
            if len(rows) % 10 == 0:
                store.sweep()
            sample += step
        client.close()
    return pd.DataFrame(rows)


def relogins(frame: pd.DataFrame) -> pd.DataFrame:
    """Per policy: forced re-logins, mean and peak live sessions, and live-per-active overhead."""
    g = frame.groupby("policy", sort=False)
    out = pd.DataFrame({
        "forced re-logins": g["relogins"].max(),
        "mean live": g["live"].mean().round(1),
        "peak live": g["live"].max(),
        "mean active users": g["active"].mean().round(1),
    })
    return out


def chart_live(frame: pd.DataFrame) -> "Figure":
    """Live sessions vs time per policy, with the truly active users dashed; forced re-logins beside it."""
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.8), gridspec_kw={"width_ratios": [3, 1.2]})
    names = list(dict.fromkeys(frame["policy"]))
    for name in names:
        f = frame[frame["policy"] == name]
        ax.plot(f["t_min"], f["live"], label=name, lw=1.6)
    first = frame[frame["policy"] == names[0]]
    ax.plot(first["t_min"], first["active"], "k--", lw=1.2, label="users actually active")
    from .plot import finish

    finish(ax, title="Live sessions in Redis", xlabel="virtual time (minutes)", ylabel="sessions", legend="below",
           integer_y=True, ylim_zero=True, tight=False)
    summary = relogins(frame)
    ax2.barh(range(len(summary)), summary["forced re-logins"], color=["tab:blue", "tab:orange", "tab:green"][:len(summary)])
    ax2.set_yticks(range(len(summary)), [n.replace(" + ", "\n+ ") for n in summary.index], fontsize=8)
    ax2.invert_yaxis()
    return finish(ax2, title="forced re-logins", xlabel="active users forced to log in again", legend=None,
                  integer_x=True)


# -- the EXISTS-then-EXPIRE race ------------------------------------------------------------------------
STORES = ("naive EXISTS→EXPIRE→HGETALL", "atomic Lua (read+slide)")


def check_then_act_race(n: int = 100, *, mode: str = "scripted", event: str = "logout", client: Any = None,
                        threads: int = 4, gap: float = 0.002, seed: int = 0, clock: Any = REAL) -> pd.DataFrame:
    """Requests racing a logout (``event="logout"``) or an expiry (``"expire"``) of their session, on real threads.

    For each store (the naive EXISTS-then-EXPIRE one and :class:`SessionStore`) ``n`` sessions are created and
    each gets one request thread and one logout thread. ``mode="scripted"``: the logout runs exactly in the
    request's gap (before its second Redis command) or, if the request has no second command, right after it
    (deterministic). ``mode="threads"``: both start together at a barrier; the request pauses ``gap`` s between
    its commands (one network round trip) and the logout fires after a seeded random delay in ``[0, 2*gap]``
    (not deterministic). ``threads`` request threads run at once. ``client`` defaults to a fresh fakeredis;
    the pauses sleep on ``clock`` (real by default: they race real Redis round trips).

    Returns one row per request: ``store``, ``i``, ``accepted``, ``event_in_gap`` (the logout/expiry landed
    between the request's commands), ``torn`` (a session was returned with ``user_id`` None: the check saw
    the session, the read found it gone), ``round_trips`` (Redis commands the lookup sent).
    """
    n = _validate.integer("n", n, minimum=1, maximum=10_000)
    _validate.choice("mode", mode, ("scripted", "threads"))
    _validate.choice("event", event, ("logout", "expire"))
    threads = _validate.integer("threads", threads, minimum=1, maximum=64)
    gap = _validate.number("gap", gap, minimum=0, maximum=1)
    raw = client if client is not None else _fresh_client()
    rng = random.Random(seed)
    rows = []
    for kind in STORES:
        ks = Keyspace(f"race-{STORES.index(kind)}", raw)
        ks.cleanup()
        racing = RacingClient(raw)
        cls = NaiveSessionStore if kind == STORES[0] else SessionStore
        store = cls(racing, ttl=1800, keyspace=ks, clock=VirtualClock())
        ender = SessionStore(raw, ttl=1800, keyspace=ks, clock=VirtualClock())
        store.get("warm-up-the-scripts-0000")  # load scripts outside any operation (no NOSCRIPT retry later)
        sids = [store.create(f"user{i}") for i in range(n)]
        delays = [rng.uniform(0, 2 * gap) for _ in range(n)]
        out: list[dict[str, Any] | None] = [None] * n

        def end_session(sid: str) -> None:
            if event == "logout":
                ender.destroy(sid)
            else:  # the session times out: Redis expires the key (1 ms TTL, then wait past it)
                raw.pexpire(ender.key(sid), 1)
                clock.sleep(0.005)
                raw.exists(ender.key(sid))  # an access makes Redis delete an expired key now

        def one(i: int) -> None:
            sid = sids[i]
            go, done, in_gap = threading.Event(), threading.Event(), []

            def ender_thread() -> None:
                try:
                    if mode == "scripted":
                        go.wait(T)
                    else:
                        barrier.wait(T)
                        clock.sleep(delays[i])
                    end_session(sid)
                finally:
                    done.set()

            if mode == "scripted":
                def on_gap() -> None:
                    in_gap.append(True)
                    go.set()
                    done.wait(T)
            else:
                barrier = threading.Barrier(2, timeout=T)

                def on_gap() -> None:
                    clock.sleep(gap)
            ender_g = spawn(ender_thread, name="hcedu-race-ender", report=False)
            if mode == "threads":
                barrier.wait(T)
            with racing.operation(on_gap) as log:
                session = store.get(sid)
            go.set()
            if not ender_g.join(T):
                raise TimeoutError(f"the ender of request {i} was still running after {T:g} s")
            if ender_g.exception is not None:
                raise ender_g.exception
            dead = any(cmd in ("expire", "pexpire") and not res for cmd, res in log)
            if mode == "threads":
                in_gap = [True] if dead else []
            out[i] = {"store": kind, "i": i, "accepted": session is not None, "event_in_gap": bool(in_gap),
                      "torn": session is not None and session.user_id is None, "round_trips": len(log)}

        run_threads(one, n, threads)
        rows.extend(r for r in out if r is not None)
        ks.cleanup()
    return pd.DataFrame(rows)


def run_threads(fn: Callable[[int], Any], n: int, width: int, *, name: str = "hcedu-race-request",
                timeout: float = 120.0) -> None:
    """Run ``fn(i)`` for i in range(n) on ``width`` goroutines named ``name-k`` (:func:`~hcedu.lab.runner.run_workers`),
    each taking the next ``i``; re-raise the first error (a worker stops at its first error), raise
    ``TimeoutError`` if they are not done within ``timeout`` s (a stuck goroutine is left behind, daemon)."""
    nxt = iter(range(n))
    lock = threading.Lock()

    def worker(_: int) -> None:
        while True:
            with lock:
                i = next(nxt, None)
            if i is None:
                return
            fn(i)

    run_workers(worker, width, name=name, timeout=timeout).raise_first()


TORN = "torn read (user_id None)"


def race_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per store: requests, let in, session ended inside the request's gap, torn reads, round trips per lookup."""
    g = frame.groupby("store", sort=False)
    return pd.DataFrame({"requests": g.size(), "let in": g["accepted"].sum(),
                         "session ended between its commands": g["event_in_gap"].sum(),
                         TORN: g["torn"].sum(),
                         "round trips per lookup": g["round_trips"].max()}).astype(int)


def chart_race(frame: pd.DataFrame) -> "Figure":
    """Bars per store: requests that got the whole session vs a torn one (``user_id`` None) vs none."""
    import matplotlib.pyplot as plt

    from .plot import color, finish

    s = race_summary(frame)
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    y = np.arange(len(s))
    ok = s["let in"] - s[TORN]
    rejected = s["requests"] - s["let in"]
    ax.barh(y, ok, color=color("safe"), label="got the whole session")
    ax.barh(y, s[TORN], left=ok, color=color("naive"), label="got a TORN session (user_id None)")
    ax.barh(y, rejected, left=ok + s[TORN], color="0.7", label="no session (401)")
    ax.set_yticks(y, [f"{name}: {n} round trip{'s' if n != 1 else ''}"
                      for name, n in zip(s.index, s["round trips per lookup"])])
    ax.invert_yaxis()
    finish(ax, title="a logout lands between the lookup's commands", xlabel="requests", legend="below",
           integer_x=True)
    return fig


# -- measure ----------------------------------------------------------------------------------------------
def middleware_overhead(requests: int = 2000, *, client: Any = None, repeats: int = 3,
                        clock: Any = REAL) -> pd.DataFrame:
    """Measured (on ``clock``, real by default): microseconds per request through a tiny WSGI app, bare vs behind :class:`SessionMiddleware`
    (atomic store) vs behind it with the naive store. Best of ``repeats``. Numbers vary by machine/backend.
    """
    from wsgiref.util import setup_testing_defaults

    from .sessionmw import SessionMiddleware

    requests = _validate.integer("requests", requests, minimum=1, maximum=1_000_000)
    repeats = _validate.integer("repeats", repeats, minimum=1, maximum=20)
    raw = client if client is not None else _fresh_client()

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        return None

    rows = []
    for name, factory in (("bare app", None), ("atomic store (1 script)", SessionStore),
                          ("naive store (EXISTS, EXPIRE, HGETALL)", NaiveSessionStore)):
        ks = Keyspace("mw-overhead", raw)
        if factory is None:
            handler, sid = app, None
        else:
            store = factory(raw, ttl=1800, keyspace=ks, clock=VirtualClock())
            sid = store.create("bench")
            handler = SessionMiddleware(app, store, secure=False)
        environ: dict[str, Any] = {}
        setup_testing_defaults(environ)
        environ["PATH_INFO"] = "/account"
        if sid is not None:
            environ["HTTP_COOKIE"] = f"sid={sid}"
        best = float("inf")
        for _ in range(repeats):
            t0 = clock.monotonic()
            for _ in range(requests):
                body = handler(dict(environ), start_response)
            best = min(best, clock.monotonic() - t0)
        assert body == [b"ok"]
        rows.append({"variant": name, "requests": requests, "us_per_request": best / requests * 1e6})
        ks.cleanup()
    frame = pd.DataFrame(rows).set_index("variant")
    frame["overhead_us"] = frame["us_per_request"] - frame.loc["bare app", "us_per_request"]
    return frame.round(1)


def dashboard(users: int = 60, hours: float = 3.0, seed: int = 0) -> "Widget":
    """An ipywidgets control: idle-timeout and absolute-cap sliders redraw :func:`chart_live` for a fixed TTL,
    a sliding TTL and a sliding TTL with the cap (``cap h = 0`` drops the capped policy)."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    def show(ttl_min: int = 30, cap_h: float = 1.0) -> None:
        ttl = ttl_min * 60.0
        policies = [Policy(f"fixed {ttl_min} min", ttl=ttl, touch=False),
                    Policy(f"sliding {ttl_min} min", ttl=ttl, touch=True)]
        if cap_h > 0:
            policies.append(Policy(f"sliding {ttl_min} min + {cap_h:g} h cap", ttl=ttl, absolute_ttl=cap_h * 3600))
        chart_live(live_sessions_over_time(users, hours, policies=tuple(policies), seed=seed))
        plt.show()

    return w.interactive(show, ttl_min=w.IntSlider(value=30, min=5, max=120, step=5, description="idle TTL min"),
                         cap_h=w.FloatSlider(value=1.0, min=0, max=4, step=0.5, description="cap h"))
