"""Session experiments: live sessions per expiry policy, the check-then-act race, RacingClient, overhead."""

from __future__ import annotations

import pytest

from hcedu.lab import sessionlab
from hcedu.lab.sessionlab import RacingClient


def test_live_sessions_policies_shape_and_ordering():
    f = sessionlab.live_sessions_over_time(users=30, hours=2, step=300)
    assert list(f.columns) == ["policy", "t_min", "live", "active", "relogins"]
    assert len(f) == 3 * 25 and (f["live"] >= 0).all()
    r = sessionlab.relogins(f)["forced re-logins"]
    # the fixed TTL kicks active users out, the cap some, sliding (almost) none
    assert r["fixed 30 min"] > r["sliding 30 min + 1 h cap"] >= r["sliding 30 min"]
    again = sessionlab.live_sessions_over_time(users=30, hours=2, step=300)
    assert f.equals(again)  # deterministic for a seed


@pytest.mark.parametrize("event", ["logout", "expire"])
def test_scripted_race_naive_always_torn_atomic_never(redis_backend, event):
    f = sessionlab.check_then_act_race(20, mode="scripted", event=event, client=redis_backend.client())
    s = sessionlab.race_summary(f)
    naive, atomic = s.index
    assert s.loc[naive].tolist() == [20, 20, 20, 20, 3]  # every request torn, 3 round trips each
    assert s.loc[atomic, sessionlab.TORN] == 0 and s.loc[atomic, "requests"] == 20
    assert s.loc[atomic, "round trips per lookup"] == 1


def test_free_running_threads_atomic_never_accepts_dead(redis_backend):
    f = sessionlab.check_then_act_race(30, mode="threads", client=redis_backend.client(), gap=0.002)
    s = sessionlab.race_summary(f)
    assert s["requests"].tolist() == [30, 30]
    assert s.iloc[1][sessionlab.TORN] == 0  # the naive count varies run to run: not asserted


def test_racing_client_runs_gap_before_second_command_only(redis_client):
    rc = RacingClient(redis_client)
    calls = []
    with rc.operation(lambda: calls.append("gap")) as log:
        rc.set("k", "v")
        calls.append("after 1")
        rc.get("k")
        rc.get("k")
    assert calls == ["after 1", "gap"] and [c for c, _ in log] == ["set", "get", "get"]
    with rc.operation(lambda: calls.append("never")):
        rc.getex("k", ex=10)
    assert "never" not in calls and rc.get("k") == "v"
    script = rc.register_script("return redis.call('GET', KEYS[1])")
    with rc.operation(lambda: calls.append("x")):
        assert script(keys=["k"]) in ("v", None)  # NOSCRIPT retry may cross the gap on first use
    with pytest.raises(TypeError):
        RacingClient("nope")


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        sessionlab.check_then_act_race(mode="nope")
    with pytest.raises(ValueError, match="event"):
        sessionlab.check_then_act_race(event="nope")
    with pytest.raises(ValueError, match="users"):
        sessionlab.live_sessions_over_time(users=0)
    with pytest.raises(TypeError, match="policies"):
        sessionlab.live_sessions_over_time(policies=("x",))


def test_charts_and_overhead_shape():
    import matplotlib
    matplotlib.use("Agg")
    f = sessionlab.live_sessions_over_time(users=10, hours=1, step=600)
    assert len(sessionlab.chart_live(f).axes) == 2
    r = sessionlab.check_then_act_race(5)
    assert len(sessionlab.chart_race(r).axes) == 1
    m = sessionlab.middleware_overhead(20, repeats=1)
    assert m.shape == (3, 3) and (m["requests"] == 20).all()


def test_dashboard_builds():
    import matplotlib
    matplotlib.use("Agg")
    assert sessionlab.dashboard(users=5, hours=0.5) is not None
