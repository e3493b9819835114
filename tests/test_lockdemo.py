"""Chapter 08 lab: the failure scenarios give the same results on fakeredis and on a real redis-server."""

from __future__ import annotations

import threading

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from hcedu.backend import serve_embedded  # noqa: E402
from hcedu.lab import lockdemo as L  # noqa: E402
from hcedu.lab import redis_server  # noqa: E402

COLUMNS = ["t", "actor", "event", "ok", "fence", "detail", "holder", "believers"]


def test_naive_del_deletes_bs_lock_and_lets_c_in(redis_backend):
    s = L.lease_expiry(redis_backend.client, "naive")
    assert list(s.frame.columns) == COLUMNS
    assert s.summary == {"a_release": True, "b_lock_survived": False, "c_got_in": True, "max_holders": 2}
    f = s.frame
    rel = f[(f.actor == "A") & (f.event == "release")].iloc[0]
    assert rel.detail == "plain DEL" and rel.holder == ""  # B's key is gone after A's DEL
    assert "B+C" in set(f.believers)                          # B and C both believe they hold it


@pytest.mark.parametrize("unlock", ["token", "redis-py"])
def test_token_release_keeps_bs_lock_same_as_redis_py(redis_backend, unlock):
    s = L.lease_expiry(redis_backend.client, unlock)
    assert s.a_release is False
    assert s.b_lock_survived is True
    assert s.c_got_in is False
    assert "B+C" not in set(s.frame.believers)


def test_lease_expiry_with_a_custom_release_function(redis_backend):
    def del_release(client, key, token):
        return bool(client.delete(key))

    assert L.lease_expiry(redis_backend.client, del_release).b_lock_survived is False
    with pytest.raises(ValueError, match="unlock must be one of"):
        L.lease_expiry(redis_backend.client, "nope")
    with pytest.raises(ValueError, match="work must be longer than ttl"):
        L.lease_expiry(redis_backend.client, "token", ttl=30, work=10)


def test_pause_past_ttl_two_holders_and_exactly_the_stale_write_is_rejected(redis_backend):
    s = L.pause_past_ttl(redis_backend.client)
    assert s.two_holders is True
    assert s.rejected == [("A", 33)]
    assert s.final_value == "B's data"
    writes = s.frame[s.frame.event == "write"]
    assert [(r.actor, int(r.fence), r.ok) for r in writes.itertuples()] == [("B", 34, True), ("A", 33, False)]
    check = s.frame[s.frame.event == "check"].iloc[0]
    assert check.ok  # A checked it held the lock before the pause: the check did not help
    unfenced = L.pause_past_ttl(redis_backend.client, fenced=False)
    assert unfenced.rejected == [] and unfenced.final_value == "A's data"
    short = L.pause_past_ttl(redis_backend.client, ttl=10, pause=5)  # fits inside the lease
    assert short.summary == {"two_holders": False, "rejected": [], "final_value": "B's data"}
    assert "redis" not in set(short.frame.actor)  # no lease expired
    edge = L.pause_past_ttl(redis_backend.client, ttl=10, pause=9.5)  # A wakes after expiry, before B writes
    assert edge.rejected == [] and edge.final_value == "B's data"
    with pytest.raises(ValueError, match="pause must be > 0"):
        L.pause_past_ttl(redis_backend.client, pause=0)


def test_watchdog_does_not_save_a_paused_holder(redis_backend):
    s = L.watchdog_pause(redis_backend.client)
    assert s.summary == {"two_holders": True, "renewals": 1, "a_lost": True, "rejected": [("A", 1)]}
    renews = s.frame[s.frame.event == "renew"]
    assert [(r.t, r.ok) for r in renews.itertuples()] == [(3.0, True), (20.0, False)]  # the late tick fails


def test_hung_holder_renews_forever_unless_capped(redis_backend):
    s = L.watchdog_hung(redis_backend.client, until=60)
    assert s.summary == {"renewals": 20, "b_tries": 6, "b_acquired": False}
    capped = L.watchdog_hung(redis_backend.client, until=60, max_renewals=3)
    assert capped.summary == {"renewals": 3, "b_tries": 2, "b_acquired": True}
    assert not [t for t in threading.enumerate() if t.name.startswith("hcedu-lock-watchdog-")]


def test_redlock_outage_and_clock_jump_fake():
    with L.fake_nodes(5) as nodes:
        df = L.redlock_outage(nodes, 3)
        verdict = df.groupby("down")["acquired"].first().to_dict()
        assert verdict == {0: True, 1: True, 2: True, 3: False}
        assert df.groupby("down")["holds"].sum().to_dict() == {0: 5, 1: 4, 2: 3, 3: 2}
    with L.fake_nodes(5) as nodes:
        jump = L.redlock_clock_jump(nodes)
        assert jump.summary == {"client1_holds": True, "client2_holds": True, "two_holders": True}
        fig = L.chart_redlock(df, jump)
        assert len(fig.axes) == 2
        plt.close(fig)


def test_redlock_on_real_servers():
    if not redis_server.available():
        pytest.skip("redis-server is not installed")
    with L.real_nodes(5) as nodes:
        jump = L.redlock_clock_jump(nodes)
        assert jump.two_holders is True
        df = L.redlock_outage(nodes, 3)
        assert df.groupby("down")["acquired"].first().to_dict() == {0: True, 1: True, 2: True, 3: False}


def test_charts_return_figures(redis_backend):
    for s in (L.lease_expiry(redis_backend.client, "naive"), L.pause_past_ttl(redis_backend.client),
              L.watchdog_pause(redis_backend.client), L.watchdog_hung(redis_backend.client)):
        fig = L.chart_timeline(s)
        assert len(fig.axes) == 1
        plt.close(fig)


def test_round_trips_one_each_way(redis_backend):
    df = L.round_trips(redis_backend.client())
    assert df.set_index("impl")[["acquire", "release"]].to_dict("index") == {
        "naive": {"acquire": 1, "release": 1}, "hcedu": {"acquire": 1, "release": 1},
        "redis-py": {"acquire": 1, "release": 1}}


@pytest.mark.parametrize("poll", ["backoff", "immediate"])
@pytest.mark.parametrize("impl", ["hcedu", "redis-py"])
def test_contention_threads_shape(redis_backend, poll, impl):
    df = L.contention(redis_backend.client, (1, 3), per_client=10, poll=poll, impl=impl)
    assert list(df.contenders) == [1, 3] and list(df.acquisitions) == [10, 30]
    assert (df.throughput > 0).all() and (df.p99_ms >= df.p50_ms).all()
    fig = L.chart_contention(df)
    plt.close(fig)


def test_contention_processes_against_tcp_fake_server():
    with serve_embedded(share=False) as server:
        df = L.contention(contenders=(2,), per_client=5, mode="processes", url=server.url)
    assert list(df.acquisitions) == [10]


def test_spawned_contenders_do_not_import_pandas():
    """A spawned contender (or SIGSTOP holder) imports its module afresh: pandas there cost ~0.35 s per
    process, a third of chapter 08's process cell. Only the parent builds frames."""
    import subprocess
    import sys

    code = ("import sys, hcedu.lab.lockcontention, hcedu.lab.lockpause; "
            "print(sorted(m for m in ('pandas', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_contention_bad_input(redis_backend):
    with pytest.raises(ValueError, match="mode must be one of"):
        L.contention(redis_backend.client, mode="fibers")
    with pytest.raises(TypeError, match="needs client_factory"):
        L.contention(None)
    with pytest.raises(ValueError, match="contenders must be >= 1"):
        L.contention(redis_backend.client, (0,))


def test_pausable_clock_defers_timers_until_resume():
    from hcedu.clock import VirtualClock
    base = VirtualClock()
    p = L.PausableClock(base)
    fired = []
    p.after(1, lambda: fired.append(base.now()))
    p.pause()
    base.advance(5)
    assert fired == []
    p.resume()
    assert fired == [5.0]


def test_exercise_checker_accepts_the_fix_and_catches_both_bugs():
    from hcedu.course.check import safe_release
    from hcedu.patterns.lock import RELEASE_LUA

    def lua(c, k, t):
        return bool(c.register_script(RELEASE_LUA)(keys=[k], args=[t]))

    def plain_del(c, k, t):
        return bool(c.delete(k))

    def get_then_del(c, k, t):
        return c.get(k) == t and bool(c.delete(k))

    def stub(c, k, t):
        raise NotImplementedError

    assert safe_release(lua).ok and str(safe_release(lua)).startswith("✓ 5/5")
    v = safe_release(plain_del)
    assert not v and "B's lock" in str(v)
    v = safe_release(get_then_del)
    assert not v and v.passed == 4 and "not atomic" in str(v)
    assert safe_release(stub).unsolved


def test_dashboard_redraws_the_pause_scenario(redis_backend):
    import ipywidgets

    w = L.dashboard(redis_backend.client)
    assert isinstance(w, ipywidgets.interactive)
    assert w.result.two_holders is True
    w.children[1].value = 3  # a pause that fits in the lease
    assert w.result.summary == {"two_holders": False, "rejected": [], "final_value": "B's data"}
    plt.close("all")


def test_a_real_sigstop_pause_on_a_tcp_fake_server():
    with serve_embedded(share=False) as server:
        s = L.sigstop_pause(server.url)
    assert s.summary == {"b_acquired_while_a_paused": True, "fences": (1, 2), "a_write_accepted": False,
                         "a_release": False, "final_value": "B's data"}
    assert list(s.frame.event) == ["acquire", "pause", "expire", "acquire", "write", "resume", "write",
                                    "release", "release"]


def test_a_real_sigstop_pause_on_a_real_server(real_redis_server):
    s = L.sigstop_pause(real_redis_server.url)
    assert s.b_acquired_while_a_paused and s.a_write_accepted is False
    assert s.a_release is False and s.final_value == "B's data"


def test_scenarios_return_frozen_results_whose_summary_is_their_named_fields(redis_backend):
    import dataclasses

    s = L.lease_expiry(redis_backend.client, "token")
    assert isinstance(s, L.LeaseExpiry) and isinstance(s, L.Scenario)
    assert s.summary == {"a_release": s.a_release, "b_lock_survived": s.b_lock_survived,
                         "c_got_in": s.c_got_in, "max_holders": s.max_holders}
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.c_got_in = True
    p = L.pause_past_ttl(redis_backend.client)
    assert "resource" not in p.summary and p.resource.value == p.final_value


def test_contention_reports_the_failing_contenders_error_not_the_broken_barrier(redis_backend):
    calls = []

    def factory():
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("contender 2 cannot connect")
        return redis_backend.client()

    with pytest.raises(ConnectionError, match="contender 2 cannot connect"):
        L.contention(factory, (3,), per_client=2)
