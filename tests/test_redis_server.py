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
