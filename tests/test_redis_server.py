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
        redis.Redis(port=srv.port, socket_connect_timeout=0.5, retry=None).ping()   # no retries with backoff
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
        assert port in redis_server.CLUSTER_PORT_RANGE
    # a node's bus port (port + 10000) is never a port a plain server or another node is given
    buses = range(redis_server.CLUSTER_PORT_RANGE.start + 10000, redis_server.CLUSTER_PORT_RANGE.stop + 10000)
    plain, nodes = set(redis_server.PORT_RANGE), set(redis_server.CLUSTER_PORT_RANGE)
    assert not plain & set(buses) and not nodes & set(buses) and not plain & nodes


@pytest.mark.skipif(not redis_server.available(), reason=redis_server.NOT_INSTALLED)
@pytest.mark.parametrize("taken", ["the port", "the cluster bus port"])
def test_a_port_taken_before_the_server_listens_is_named_at_once_and_another_is_tried(monkeypatch, taken):
    """Ports are found free "a moment ago": another process can take one before redis-server binds it (a cluster
    node that found its port taken never answered, and its start waited out 10 s). The server's log says so:
    start(port) raises PortInUse at once, start() tries another port, and a cluster node moves to another."""
    import socket
    import time

    from hcedu.lab import redis_cluster

    with socket.socket() as squatter:
        port = redis_cluster.cluster_ports(1)[0]
        squatter.bind(("127.0.0.1", port if taken == "the port" else port + 10000))
        squatter.listen()
        args = ("--cluster-enabled", "yes") if taken != "the port" else ()
        t0 = time.monotonic()
        with pytest.raises(redis_server.PortInUse, match=str(port)):
            redis_server.start(port, args=args)
        assert time.monotonic() - t0 < 5, "a taken port must be reported when the log says so, not at the timeout"
        picks = iter([port, redis_server.free_port()])
        with monkeypatch.context() as m:
            m.setattr(redis_server, "free_port", lambda *a, **k: next(picks))
            with redis_server.start(args=args) as server:      # the first pick is taken: the second is used
                assert server.port != port and server.client().ping()
        used: set[int] = set()
        with redis_cluster._start_node(port, (), used) as node:   # a cluster node moves to a free port too
            assert node.port != port and port in used and node.client().ping()


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
