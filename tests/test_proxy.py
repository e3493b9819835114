"""hcedu.lab.proxy: the loopback latency/fault proxy and the in-process delaying connection."""

import socket
import threading
import time

import fakeredis
import pytest
import redis
from redis.retry import Retry
from redis.backoff import NoBackoff

from hcedu.backend import BackendUnavailable, serve_embedded
from hcedu.lab import redis_server
from hcedu.lab.proxy import DelayedConnection, LatencyProxy, Toxics, parse_address

from helpers import wait_until


def no_retry_client(url, **kw):
    kw.setdefault("socket_timeout", 2.0)
    return redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2.0, **kw)


@pytest.fixture
def upstream(redis_backend):
    """A TCP Redis for the proxy: TcpFakeServer for the fake half, the real redis-server for the other."""
    if redis_backend.kind == "fake":
        srv = serve_embedded(0, share=False)
        yield srv.url
        srv.stop()
    else:
        yield redis_backend.url


def proxy_threads():
    """The proxies' event-loop goroutines still running (named ``hcedu-proxy-<port>``)."""
    from hcedu.go import running
    return [g for g in running() if g.name.startswith("hcedu-proxy")]


def timed(fn, n=20):
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def test_proxy_forwards_and_applies_delay(upstream):
    with LatencyProxy(upstream, delay=0.0) as p:
        c = no_retry_client(p.url, decode_responses=True)
        c.set("k", "v")
        assert c.get("k") == "v"
        timed(c.ping)
        assert p.stats()["delay"] == 0           # no latency set: nothing delayed
        p.toxics.set_latency(0.02)
        slow = timed(c.ping, 10)
        c.close()
        # the delay is really applied: every PING now takes at least the injected 20 ms (a lower bound,
        # not a timing target; "an undelayed PING is under 20 ms" was one, and failed on a busy machine),
        # and the proxy counted one delay per request
        assert slow >= 0.02
        assert p.stats()["delay"] >= 10
        assert p.stats()["accepted"] >= 1 and p.stats()["bytes_up"] > 0 and p.stats()["bytes_down"] > 0


def test_proxy_faults_surface_as_redis_py_exceptions(upstream):
    with LatencyProxy(upstream) as p:
        c = no_retry_client(p.url, socket_timeout=0.2)
        c.ping()
        p.toxics.inject("stall", duration=1.0)
        with pytest.raises(redis.TimeoutError):
            c.ping()
        p.toxics.inject("reset")
        with pytest.raises(redis.ConnectionError, match="reset by peer"):
            c.ping()
        p.toxics.inject("drop")
        with pytest.raises(redis.ConnectionError, match="closed by server"):
            c.ping()
        assert c.ping() is True  # the pool reconnects once the faults are spent
        kinds = p.toxics.report()["kind"].tolist()
        assert [k for k in kinds if k != "delay"] == ["stall", "reset", "drop"]
        c.close()


def test_stall_shorter_than_socket_timeout_is_just_slow(upstream):
    with LatencyProxy(upstream) as p:
        c = no_retry_client(p.url, socket_timeout=2.0)
        c.ping()
        p.toxics.inject("stall", duration=0.05)
        t = time.perf_counter()
        assert c.ping() is True
        assert time.perf_counter() - t >= 0.05
        c.close()


def test_handshake_is_never_faulted(upstream):
    with LatencyProxy(upstream) as p:
        p.toxics.inject("reset")  # queued before the client even connects
        c = no_retry_client(p.url)
        with pytest.raises(redis.ConnectionError):
            c.ping()  # the first *user* command takes the fault, not CLIENT SETINFO
        assert c.ping() is True
        c.close()


def test_reset_idle_connection_is_reconnected_transparently(upstream):
    with LatencyProxy(upstream) as p:
        c = no_retry_client(p.url)
        c.ping()
        assert p.stats()["open"] == 1
        assert p.reset_all() == 1
        # redis-py notices the dead idle socket at checkout (can_read) and reconnects: no error
        assert c.ping() is True
        assert p.stats()["accepted"] == 2
        c.close()


def test_random_faults_are_seeded():
    def draw(seed):
        t = Toxics(seed=seed)
        t.set_rate("stall", 0.3, duration=0.1)
        return [t.decide(1)[1] for _ in range(50)]
    assert draw(7) == draw(7)
    assert draw(7).count("stall") > 0
    t = Toxics(0.01, 0.005, seed=1)
    delays = [t.decide(1)[0] for _ in range(200)]
    assert min(delays) >= 0.005 and max(delays) <= 0.015 and len(set(delays)) > 100
    t.set_rate("stall", 0)
    t.clear()
    assert t.decide(1)[1] is None


def test_proxy_always_shuts_down_no_threads_no_port(upstream):
    before = len(proxy_threads())
    p = LatencyProxy(upstream, delay=0.001)
    port = p.port
    c = no_retry_client(p.url)
    c.ping()                     # an open proxied connection at stop time
    p.toxics.inject("stall", duration=5.0)
    hung = threading.Thread(target=lambda: pytest.raises(redis.RedisError, c.get, "x"), daemon=True)
    hung.start()                 # and a request parked in a stall
    wait_until(lambda: p.stats()["stall"] >= 1)
    p.stop()
    p.stop()                     # idempotent
    hung.join(5)
    assert not hung.is_alive()
    assert not p.running
    assert len(proxy_threads()) == before
    with socket.socket() as s:   # the port is free again: nothing listens
        assert s.connect_ex(("127.0.0.1", port)) != 0
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    c.close()


def test_proxy_stops_on_exception_in_with_block(upstream):
    before = len(proxy_threads())
    with pytest.raises(ZeroDivisionError):
        with LatencyProxy(upstream) as p:
            no_retry_client(p.url).ping()
            1 / 0
    assert not p.running and len(proxy_threads()) == before


def test_unreachable_upstream_is_a_clear_error():
    port = redis_server.free_port()
    with pytest.raises(BackendUnavailable, match=f"Cannot reach Redis at redis://127.0.0.1:{port}"):
        LatencyProxy(("127.0.0.1", port), connect_timeout=0.5)
    assert not [t for t in proxy_threads() if str(port) in t.name]


def test_upstream_dying_later_resets_new_clients():
    srv = serve_embedded(0, share=False)
    with LatencyProxy(srv.url) as p:
        srv.stop()
        c = no_retry_client(p.url)
        with pytest.raises(redis.ConnectionError):
            c.ping()
        wait_until(lambda: p.stats()["upstream_failures"] >= 1)
        c.close()


def test_bad_arguments():
    with pytest.raises(ValueError, match="delay must be >= 0"):
        Toxics(delay=-0.001)
    with pytest.raises(ValueError, match="jitter must be <= delay"):
        Toxics(delay=0.001, jitter=0.002)
    with pytest.raises(ValueError, match="kind must be one of"):
        Toxics().inject("explode")
    with pytest.raises(ValueError, match="duration must be > 0 for a stall"):
        Toxics().inject("stall")
    with pytest.raises(ValueError, match="count must be >= 1"):
        Toxics().inject("reset", count=0)
    with pytest.raises(ValueError, match="probability must be <= 1"):
        Toxics().set_rate("drop", 1.5)
    with pytest.raises(TypeError, match="toxics must be a Toxics"):
        LatencyProxy(("127.0.0.1", 1), toxics="slow")
    with pytest.raises(ValueError, match="upstream must be"):
        parse_address("http://example.com")
    with pytest.raises(TypeError, match="upstream must be"):
        parse_address(6379)
    assert parse_address("redis://127.0.0.1:7000/0") == ("127.0.0.1", 7000)
    assert parse_address("localhost:7001") == ("localhost", 7001)


# -- the in-process twin -------------------------------------------------------------------------------------
def fake_client(toxics, **kw):
    pool = redis.ConnectionPool(connection_class=DelayedConnection, server=fakeredis.FakeServer(),
                                toxics=toxics, max_connections=4, **kw)
    return redis.Redis(connection_pool=pool)


def test_delayed_connection_applies_delay_once_per_request_and_pipeline():
    t = Toxics(0.0)
    c = fake_client(t)
    c.ping()
    t.set_latency(0.02)
    assert timed(c.ping, 5) >= 0.02
    n = t.counts["delay"]
    pipe = c.pipeline(transaction=False)
    for i in range(10):
        pipe.incr("n")
    t.set_latency(0.1)                             # ten delays would take >= 1 s: a 10x margin for a busy machine
    t0 = time.perf_counter()
    assert pipe.execute()[-1] == 10
    assert t.counts["delay"] == n + 1              # one round trip for the whole pipeline
    assert time.perf_counter() - t0 < 10 * 0.1     # not ten
    c.close()


def test_delayed_connection_faults_match_the_proxy():
    t = Toxics()
    c = fake_client(t, socket_timeout=0.05)
    c.ping()
    t.inject("stall", duration=1.0)
    with pytest.raises(redis.TimeoutError, match="injected stall"):
        c.ping()
    t.inject("reset")
    with pytest.raises(redis.ConnectionError, match="reset by peer"):
        c.ping()
    t.inject("drop")
    with pytest.raises(redis.ConnectionError, match="closed by server"):
        c.ping()
    assert c.ping() is True
    assert t.counts["stall"] == t.counts["reset"] == t.counts["drop"] == 1
    assert set(t.report()["via"]) == {"in-process"}
    c.close()


def test_delayed_connection_rejects_bad_toxics():
    with pytest.raises(TypeError, match="toxics must be a Toxics"):
        DelayedConnection(server=fakeredis.FakeServer(), toxics=0.002)
