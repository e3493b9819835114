"""hcedu.lab.redis_server: a throwaway redis-server starts, answers, and stops by PID."""

import pytest
import redis

from hcedu.lab import redis_server


def test_start_and_stop(real_redis_server):
    srv = redis_server.start()
    try:
        assert srv.alive() and srv.client().ping()
        assert str(srv.port) in srv.url and f"pid={srv.pid}" in repr(srv)
    finally:
        srv.stop()
    assert not srv.alive()  # a reaped-or-zombie server counts as stopped
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=srv.port, socket_connect_timeout=0.5).ping()
    srv.stop()  # idempotent


def test_missing_binary_says_how_to_install(monkeypatch):
    monkeypatch.setattr(redis_server.shutil, "which", lambda name: None)
    assert not redis_server.available()
    with pytest.raises(FileNotFoundError, match="apt-get install redis-server"):
        redis_server.start()


def test_real_redis_prefers_a_given_url_then_redis_url(monkeypatch):
    monkeypatch.setattr(redis_server, "start", lambda: pytest.fail("must not start a server when a URL is known"))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    with redis_server.real_redis("redis://127.0.0.1:2/0") as url:
        assert url == "redis://127.0.0.1:2/0"
    with redis_server.real_redis() as url:
        assert url == "redis://127.0.0.1:1/0"


def test_real_redis_starts_a_throwaway_server_and_stops_it(real_redis_server, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    started = []
    real_start = redis_server.start
    monkeypatch.setattr(redis_server, "start", lambda: started.append(real_start()) or started[-1])
    with pytest.raises(RuntimeError, match="boom"), redis_server.real_redis() as url:
        assert redis.Redis.from_url(url).ping()
        raise RuntimeError("boom")
    assert len(started) == 1 and not started[0].alive()   # stopped even though the block failed


def test_real_redis_without_url_or_binary(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(redis_server.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt-get install redis-server.*REDIS_URL is not set"):
        with redis_server.real_redis():
            pass
    with redis_server.real_redis(required=False) as url:
        assert url is None


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except OSError:
        return 49152   # macOS, Windows


def test_free_ports_and_cluster_bus_ports_stay_below_the_ephemeral_range():
    """A port that bind(0) found was free "a moment ago" in the range where every Jupyter kernel looks for its own
    five: a server started there can take a kernel's port before the kernel binds it (the kernel then dies)."""
    import random

    from hcedu.lab import redis_cluster

    low = _ephemeral_low()
    random.seed(12)   # a test that seeds the shared generator must not make xdist workers pick the same ports
    picks = [redis_server.free_port() for _ in range(50)]
    assert all(p in redis_server.PORT_RANGE and p < low for p in picks), picks
    assert len(set(picks)) > 40, "the picks should spread over the range"
    random.seed(12)
    assert [redis_server.free_port() for _ in range(50)] != picks
    for port in redis_cluster.cluster_ports(6):
        assert port + 10000 < low, f"cluster bus port {port + 10000} is in the ephemeral range"


def test_free_port_skips_a_port_in_use(monkeypatch):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        taken.listen()
        free = next(p for p in redis_server.PORT_RANGE if redis_server.bindable("127.0.0.1", p))
        picks = iter([busy, busy, free])
        monkeypatch.setattr(redis_server._ports, "choice", lambda _range: next(picks))
        assert not redis_server.bindable("127.0.0.1", busy)
        assert redis_server.free_port() == free
