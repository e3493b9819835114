"""Shared fixtures: Redis-backed tests run against the embedded fakeredis *and* a real redis-server.

``redis_backend`` is parametrized over ``fake`` and ``real``. The real half starts one throwaway
``redis-server`` per test session (per xdist worker) on a free loopback port, stops it by PID, and
is skipped with a visible reason where no ``redis-server`` binary exists.

Use ``redis_backend.client()`` for as many clients as a test needs: they all share one store.
"""

from __future__ import annotations

import fakeredis
import pytest
import redis

from hcedu.backend import new_fake_server
from hcedu.lab import redis_server

SKIP_REAL = "real-Redis half skipped: redis-server is not installed (apt-get install redis-server)"


@pytest.fixture(scope="session")
def real_redis_server():
    """A session-wide redis-server process, or skip when the binary is missing."""
    if not redis_server.available():
        pytest.skip(SKIP_REAL)
    proc = redis_server.start()
    yield proc
    proc.stop()


class Backend:
    """One backing store and a factory of clients for it."""

    def __init__(self, kind: str, url: str | None = None) -> None:
        self.kind = kind
        self.url = url
        # database 0 created up front: fakeredis creates it racily on the first concurrent connections
        self.fake_server = new_fake_server() if kind == "fake" else None
        self._clients: list[redis.Redis] = []

    def client(self, **kwargs) -> redis.Redis:
        kwargs.setdefault("decode_responses", True)
        if self.kind == "fake":
            c = fakeredis.FakeRedis(server=self.fake_server, **kwargs)
        else:
            c = redis.Redis.from_url(self.url, **kwargs)
        self._clients.append(c)
        return c

    def close(self) -> None:
        for c in self._clients:
            c.close()

    def __repr__(self) -> str:
        return f"<Backend {self.kind}>"


@pytest.fixture(params=["fake", "real"])
def redis_backend(request):
    """A fresh store: a new FakeServer, or the session's redis-server after FLUSHALL."""
    if request.param == "fake":
        backend = Backend("fake")
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
    config.addinivalue_line("markers", "go: runs real Go programs (hcedu.gorun); skipped with a reason when no Go toolchain is found")
    config.addinivalue_line("markers", "faults: fault-injection suite (lost replies, hung servers, skewed clocks, "
                                       "late workers); real server via the loopback proxy, fakeredis in-process")
