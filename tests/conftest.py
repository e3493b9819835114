"""Shared fixtures: Redis-backed tests run against the embedded fakeredis *and* a real redis-server.

``redis_backend`` is parametrized over ``fake`` and ``real``. The real half starts one throwaway
``redis-server`` per test session (per xdist worker) on a free loopback port, stops it by PID, and
is skipped with a visible reason where no ``redis-server`` binary exists.

The cluster rung: a test (or a module, through ``pytestmark``) marked ``on_cluster`` also runs on
``cluster``, a local Redis Cluster (3 primaries + 3 replicas, :func:`hcedu.lab.redis_cluster.local_cluster`)
started once per session and flushed before each test; that variant carries the ``cluster`` marker
(``pytest -m cluster`` runs just it) and is skipped with a reason without ``redis-server``/``redis-cli``.
Its clients are ``redis.cluster.RedisCluster``.

Use ``redis_backend.client()`` for as many clients as a test needs: they all share one store.

When the session ends, no ``redis-server`` started by it may still run (checked; a leftover fails the run).
"""

from __future__ import annotations

import fakeredis
import pytest
import redis

from hcedu.backend import new_fake_server
from hcedu.lab import redis_cluster, redis_server

SKIP_REAL = "real-Redis half skipped: redis-server is not installed (apt-get install redis-server)"
SKIP_CLUSTER = f"cluster rung skipped: {redis_cluster.NOT_INSTALLED}"


@pytest.fixture(scope="session", autouse=True)
def no_stray_redis_server():
    """Fails the run (an error at the last teardown) if a redis-server this session started outlives it."""
    yield
    left = redis_server.still_running()
    for proc in left:
        proc.stop()
    assert not left, f"redis-server processes outlived the test session (now stopped): {left}"


@pytest.fixture(scope="session")
def real_redis_server():
    """A session-wide redis-server process, or skip when the binary is missing."""
    if not redis_server.available():
        pytest.skip(SKIP_REAL)
    proc = redis_server.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def local_redis_cluster():
    """A session-wide local Redis Cluster (3 primaries + 3 replicas), or skip when the binaries are missing."""
    if not redis_cluster.available():
        pytest.skip(SKIP_CLUSTER)
    with redis_cluster.local_cluster() as cluster:
        yield cluster
    assert not any(n.alive() for n in cluster.nodes), "a cluster node outlived the session"


class Backend:
    """One backing store and a factory of clients for it."""

    def __init__(self, kind: str, url: str | None = None, cluster=None) -> None:
        self.kind = kind
        self.url = url
        self.cluster = cluster
        # database 0 created up front: fakeredis creates it racily on the first concurrent connections
        self.fake_server = new_fake_server() if kind == "fake" else None
        self._clients: list[redis.Redis] = []

    def client(self, **kwargs) -> redis.Redis:
        kwargs.setdefault("decode_responses", True)
        if self.kind == "fake":
            c = fakeredis.FakeRedis(server=self.fake_server, **kwargs)
        elif self.kind == "cluster":
            c = self.cluster.client(**kwargs)
        else:
            c = redis.Redis.from_url(self.url, **kwargs)
        self._clients.append(c)
        return c

    def close(self) -> None:
        for c in self._clients:
            c.close()

    def __repr__(self) -> str:
        return f"<Backend {self.kind}>"


def pytest_generate_tests(metafunc):
    """``redis_backend`` runs on fake and real; tests marked ``on_cluster`` on the cluster rung too."""
    if "redis_backend" not in metafunc.fixturenames:
        return
    params = ["fake", "real"]
    if metafunc.definition.get_closest_marker("on_cluster"):
        params.append(pytest.param("cluster", marks=pytest.mark.cluster))
    metafunc.parametrize("redis_backend", params, indirect=True)


@pytest.fixture
def redis_backend(request):
    """A fresh store: a new FakeServer, the session's redis-server after FLUSHALL, or the session's local
    cluster after FLUSHALL on every primary."""
    if request.param == "fake":
        backend = Backend("fake")
    elif request.param == "cluster":
        from redis.cluster import RedisCluster

        cluster = request.getfixturevalue("local_redis_cluster")
        backend = Backend("cluster", cluster.url, cluster)
        backend.client().flushall(target_nodes=RedisCluster.PRIMARIES)
    else:
        server = request.getfixturevalue("real_redis_server")
        backend = Backend("real", server.url)
        backend.client().flushall()
    yield backend
    backend.close()


@pytest.fixture
def redis_client(redis_backend):
    """One client of ``redis_backend``."""
    return redis_backend.client()


def pytest_configure(config):
    config.addinivalue_line("markers", "on_cluster: this redis_backend test also runs on the local Redis Cluster "
                                       "rung (that variant is marked cluster)")
    config.addinivalue_line("markers", "go: runs real Go programs (hcedu.gorun); skipped with a reason when no Go toolchain is found")
    config.addinivalue_line("markers", "faults: fault-injection suite (lost replies, hung servers, skewed clocks, "
                                       "late workers); real server via the loopback proxy, fakeredis in-process")
