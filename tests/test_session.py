"""SessionStore: atomic sliding expiry, absolute cap, logout everywhere, logout broadcast, the naive race."""

from __future__ import annotations

import threading

import pytest

from hcedu.backend import Keyspace
from hcedu.clock import VirtualClock
from hcedu.patterns.session import LogoutListener, NaiveSessionStore, SessionStore, new_sid, valid_sid
from tests.helpers import run_workers, wait_until


def make(backend, clock=None, ttl=30.0, cls=SessionStore, **kw):
    c = backend.client()
    return cls(c, ttl=ttl, keyspace=Keyspace("t-sess", c), clock=clock or VirtualClock(1000), **kw)


@pytest.mark.on_cluster
def test_create_get_slides_and_expires(redis_backend):
    clock = VirtualClock(1000)
    s = make(redis_backend, clock)
    sid = s.create("alice", {"cart": [1, 2], "lang": "zh"})
    assert valid_sid(sid) and len(sid) >= 43
    got = s.get(sid)
    assert (got.user_id, got.data, got.created_at, got.expires_at) == ("alice", {"cart": [1, 2], "lang": "zh"}, 1000, 1030)
    assert 29_000 < s.client.pttl(s.key(sid)) <= 30_000  # Redis's own TTL follows the deadline
    clock.advance(20)
    assert s.get(sid).expires_at == 1050  # slid: 20 s later, 30 s more
    clock.advance(29)
    assert s.touch(sid)
    clock.advance(29.9)
    assert s.get(sid, touch=False).last_seen == 1049  # peek does not slide
    clock.advance(0.1)
    assert s.get(sid) is None  # idle for exactly ttl: gone
    assert not s.client.exists(s.key(sid))  # and deleted on the way
    assert s.live_count() == 0


def test_fixed_ttl_without_touch(redis_backend):
    clock = VirtualClock()
    s = make(redis_backend, clock)
    sid = s.create(1)
    for _ in range(5):
        clock.advance(5)
        assert s.get(sid, touch=False) is not None
    clock.advance(5)
    assert s.get(sid, touch=False) is None


@pytest.mark.on_cluster
def test_absolute_cap_beats_sliding(redis_backend):
    clock = VirtualClock()
    s = make(redis_backend, clock, ttl=30, absolute_ttl=70)
    sid = s.create("u")
    for _ in range(6):  # active every 10 s: sliding alone would keep it forever
        clock.advance(10)
        got = s.get(sid)
        assert got is not None and got.expires_at == min(clock.now() + 30, 70)
    clock.advance(9.5)
    assert s.get(sid) is not None
    clock.advance(0.5)
    assert s.get(sid) is None


@pytest.mark.on_cluster
def test_update_writes_fields_only_on_live_sessions(redis_backend):
    clock = VirtualClock()
    s = make(redis_backend, clock)
    sid = s.create("u", {"a": 1, "b": 2})
    assert s.update(sid, b=3, c={"x": None})
    assert s.get(sid).data == {"a": 1, "b": 3, "c": {"x": None}}
    assert s.destroy(sid) is True and s.destroy(sid) is False
    assert s.update(sid, a=9) is False
    assert not s.client.exists(s.key(sid)), "update must never re-create a logged-out session"
    other = s.create("u")
    clock.advance(31)
    assert s.update(other, a=1) is False and s.update(other) is False


@pytest.mark.on_cluster
def test_destroy_all_and_sessions_of(redis_backend):
    clock = VirtualClock()
    s = make(redis_backend, clock)
    old = s.create("bob")
    clock.advance(20)
    phone, laptop = s.create("bob", {"dev": "phone"}), s.create("bob", {"dev": "laptop"})
    keep = s.create("carol")
    clock.advance(15)  # `old` idled out
    assert sorted(x.sid for x in s.sessions_of("bob")) == sorted([phone, laptop])
    assert {x.data["dev"] for x in s.sessions_of("bob")} == {"phone", "laptop"}
    assert old not in s.client.zrange(s.user_key("bob"), 0, -1), "dead ids are cleaned lazily"
    assert s.destroy_all("bob") == 2
    assert s.get(phone) is None and s.get(laptop) is None and s.sessions_of("bob") == []
    assert not s.client.exists(s.user_key("bob"))
    assert s.get(keep) is not None and s.live_count() == 1
    assert s.destroy_all("nobody") == 0


@pytest.mark.on_cluster
def test_live_count_and_sweep(redis_backend):
    clock = VirtualClock()
    s = make(redis_backend, clock)
    sids = [s.create(f"u{i}") for i in range(5)]
    clock.advance(20)
    s.get(sids[0])
    assert s.live_count() == 5
    clock.advance(15)
    assert s.live_count() == 1
    assert s.sweep() == 4
    assert sum(s.client.exists(s.key(x)) for x in sids) == 1


def test_malformed_sids_are_not_sessions_and_wrong_types_raise(redis_backend):
    s = make(redis_backend)
    for bad in ("", "short", "x" * 200, "a" * 20 + ":*", "../../etc/passwd0000"):
        assert s.get(bad) is None and s.destroy(bad) is False and s.update(bad, a=1) is False
    for bad in (None, 123, b"bytes-session-id-000000", ["x"]):
        with pytest.raises(TypeError, match="sid must be a str"):
            s.get(bad)
        with pytest.raises(TypeError, match="sid must be a str"):
            s.destroy(bad)
    assert s.get(new_sid()) is None  # well-formed but unknown


@pytest.mark.parametrize("kwargs, exc, msg", [
    ({"ttl": 0}, ValueError, "ttl must be > 0"),
    ({"ttl": -5}, ValueError, "ttl must be > 0"),
    ({"ttl": "30"}, TypeError, "ttl must be a number"),
    ({"ttl": float("nan")}, ValueError, "ttl"),
    ({"ttl": 30, "absolute_ttl": 0}, ValueError, "absolute_ttl must be > 0"),
    ({"ttl": 30, "clock": "now"}, TypeError, "clock"),
    ({"ttl": 30, "keyspace": "ks"}, TypeError, "keyspace"),
])
def test_bad_constructor_arguments(redis_client, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        SessionStore(redis_client, **kwargs)


def test_bad_create_arguments(redis_backend):
    s = make(redis_backend)
    with pytest.raises(TypeError, match="user_id"):
        s.create(None)
    with pytest.raises(ValueError, match="user_id"):
        s.create("")
    with pytest.raises(TypeError, match="data must be a dict"):
        s.create("u", [("a", 1)])
    with pytest.raises(TypeError, match="JSON-serializable"):
        s.create("u", {"x": object()})
    with pytest.raises(TypeError, match="JSON-serializable"):
        s.update(s.create("u"), x={1, 2})


@pytest.mark.on_cluster
def test_concurrent_requests_and_logouts_never_accept_after_logout(redis_backend):
    """Real threads: requests hammer sessions while others log them out; once a logout returned, no
    request may find the session, and no destroyed session exists at the end."""
    s = make(redis_backend)
    sids = [s.create(f"u{i}") for i in range(40)]
    logged_out: set[str] = set()
    lock = threading.Lock()
    violations: list[str] = []

    def worker(k: int) -> None:
        mine = make(redis_backend, s.clock)
        for j in range(60):
            sid = sids[(k * 7 + j) % len(sids)]
            if k == 0 and j % 2 == 0:
                mine.destroy(sid)
                with lock:
                    logged_out.add(sid)
                continue
            with lock:
                was_out = sid in logged_out
            if mine.get(sid) is not None and was_out:
                violations.append(sid)

    run_workers(worker, 4, timeout=60)
    assert violations == []
    assert logged_out and all(not s.client.exists(s.key(x)) for x in logged_out)
    assert s.live_count() == len(sids) - len(logged_out)


def test_naive_store_accepts_a_session_logged_out_between_exists_and_expire(redis_backend):
    """The source's middleware, with the logout scripted into its gap: let in on a dead session."""
    s = make(redis_backend)
    naive = make(redis_backend, cls=NaiveSessionStore, between=lambda sid: s.destroy(sid))
    sid = naive.create("mallory")
    got = naive.get(sid)
    assert got is not None, "the naive store lets the request in"
    assert got.user_id is None and naive.accepted_dead == 1
    assert not s.client.exists(s.key(sid)), "... although the session was gone"
    # the atomic store, same schedule: the logout lands after the single step, the next lookup fails
    sid2 = s.create("mallory")
    assert s.get(sid2) is not None and s.destroy(sid2) and s.get(sid2) is None


def test_naive_store_without_interference_behaves(redis_backend):
    naive = make(redis_backend, cls=NaiveSessionStore)
    sid = naive.create("u", {"k": 1})
    got = naive.get(sid)
    assert got.user_id == "u" and got.data == {"k": 1} and naive.accepted_dead == 0
    with pytest.raises(TypeError, match="between must be callable"):
        make(redis_backend, cls=NaiveSessionStore, between=5)


@pytest.mark.on_cluster
def test_logout_listener_evicts_and_stops(redis_backend):
    s = make(redis_backend)
    seen: list[str] = []
    cache = {"stale": 1}
    listener = LogoutListener(s, cache, on_logout=seen.append, poll=0.02)
    try:
        assert listener.wait_ready(5)
        assert cache == {} and listener.flushes == 1  # flushed on subscribe: anything missed is dropped
        sid = s.create("u")
        cache[sid] = "cached session"
        cache["other"] = 2
        assert s.logout(sid) is True
        wait_until(lambda: seen == [sid])
        assert cache == {"other": 2} and listener.evicted == 1
        assert listener._thread.name.startswith("hcedu-") and listener._thread.daemon
    finally:
        listener.close()
    assert not listener.running
    listener.close()  # idempotent
    assert s.publish_logout(new_sid()) == 0  # nobody listens any more: the message is simply lost


def test_logout_listener_bad_input(redis_backend):
    s = make(redis_backend)
    with pytest.raises(TypeError, match="store"):
        LogoutListener("store")
    with pytest.raises(TypeError, match="cache"):
        LogoutListener(s, cache=5)
    with pytest.raises(ValueError, match="poll"):
        LogoutListener(s, poll=0)


def test_login_cost_does_not_grow_with_the_users_sessions(redis_backend):
    """Issue 15 item 6: create() used to HGET every one of the user's sessions inside its script."""
    if redis_backend.kind == "fake":
        pytest.skip("counts the commands scripts run (INFO commandstats): real server only")
    from hcedu.patterns.session import CLEANUP_BATCH

    c = redis_backend.client()
    clock = VirtualClock(1000)
    s = SessionStore(c, ttl=60, clock=clock, keyspace=Keyspace("t-sess-cost", c))
    for _ in range(500):
        s.create("heavy")
    clock.advance(30)
    for _ in range(300):
        s.create("heavy")  # 500 sessions now 30 s from their deadline, 300 fresh
    clock.advance(40)      # the first 500 are dead, the 300 live
    c.config_resetstat()
    s.create("heavy")
    hgets = int(c.info("commandstats").get("cmdstat_hget", {}).get("calls", 0))
    assert hgets <= CLEANUP_BATCH  # bounded by the batch, not by the user's 800 sessions
    for _ in range(40):
        s.create("heavy")
    assert len(s.sessions_of("heavy")) == 300 + 41
