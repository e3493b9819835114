"""Redlock over several independent servers: embedded FakeServers and real redis-server processes."""

from __future__ import annotations

import os
import random
import signal
import threading

import fakeredis
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from hcedu.clock import VirtualClock
from hcedu.lab import redis_server
from hcedu.patterns.redlock import Redlock

from helpers import run_workers, wait_until


def _fake_nodes(n):
    servers = [fakeredis.FakeServer() for _ in range(n)]
    return servers, [fakeredis.FakeRedis(server=s, decode_responses=True) for s in servers]


def _real_client(port):
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, retry=Retry(NoBackoff(), 0),
                       socket_timeout=1.0, socket_connect_timeout=0.5)


def _stop_all(procs):
    ts = [threading.Thread(target=p.stop, daemon=True) for p in procs]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)


@pytest.fixture
def real_nodes():
    if not redis_server.available():
        pytest.skip("redis-server is not installed")
    procs = [redis_server.start() for _ in range(5)]
    yield procs, [_real_client(p.port) for p in procs]
    _stop_all(procs)


def _crash(proc):
    """A node crashes: SIGKILL (it stops answering at once; the PID is reaped later)."""
    os.kill(proc.pid, signal.SIGKILL)


def test_bad_input():
    _, clients = _fake_nodes(3)
    with pytest.raises(ValueError, match="at least one Redis node"):
        Redlock([], "k", 1)
    with pytest.raises(TypeError, match="clients must be a list"):
        Redlock("redis://x", "k", 1)
    with pytest.raises(TypeError, match=r"clients\[1\] must be a redis-py client"):
        Redlock([clients[0], object()], "k", 1)
    with pytest.raises(ValueError, match="ttl must be > 0"):
        Redlock(clients, "k", 0)
    with pytest.raises(ValueError, match="name must be a non-empty"):
        Redlock(clients, "", 1)
    with pytest.raises(ValueError, match="drift_factor must be <= 1"):
        Redlock(clients, "k", 1, drift_factor=2)
    with pytest.raises(ValueError, match="max_tries must be >= 1"):
        Redlock(clients, "k", 1, max_tries=0)
    lock = Redlock(clients, "k", 1)
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        lock.acquire(timeout=-1)


def test_quorum_and_validity_on_a_virtual_clock():
    _, clients = _fake_nodes(5)
    lock = Redlock(clients, "k", 10, clock=VirtualClock())
    assert lock.quorum == 3
    assert lock.acquire(blocking=False)
    assert lock.validity == pytest.approx(10 - (10 * 0.01 + 0.002))  # ttl - drift - elapsed(0)
    assert lock.holders() == [True] * 5
    with pytest.raises(RuntimeError, match="not re-entrant"):
        lock.acquire(blocking=False)
    assert lock.release() is True
    assert not any(c.exists("k") for c in clients)
    assert Redlock(clients[:4], "k", 1).quorum == 3 and Redlock(clients[:1], "k", 1).quorum == 1


@pytest.mark.parametrize("parallel", [True, False])
def test_fake_outage_two_down_acquires_three_down_cannot(parallel):
    servers, clients = _fake_nodes(5)
    servers[3].connected = servers[4].connected = False
    lock = Redlock(clients, "k", 10, parallel=parallel)
    assert lock.acquire(blocking=False)
    assert [r.ok for r in lock.last] == [True, True, True, False, False]
    assert lock.last[3].error == "ConnectionError"
    assert lock.release() is True
    servers[2].connected = False
    other = Redlock(clients, "k", 10, parallel=parallel, retry_delay=0.001, max_tries=3)
    assert other.acquire() is False
    assert other.attempts == 3
    assert not clients[0].exists("k") and not clients[1].exists("k")  # partial success undone


def test_real_outage_two_down_acquires_three_down_cannot(real_nodes):
    procs, clients = real_nodes
    _crash(procs[3])
    _crash(procs[4])
    lock = Redlock(clients, "k", 10)
    assert lock.acquire(blocking=False)
    assert [r.ok for r in lock.last] == [True, True, True, False, False]
    assert lock.release() is True
    _crash(procs[2])
    assert Redlock(clients, "k", 10, max_tries=2, retry_delay=0.001).acquire() is False
    assert not clients[0].exists("k") and not clients[1].exists("k")


def test_a_failed_attempt_releases_partial_success():
    servers, clients = _fake_nodes(5)
    clients[0].set("k", "someone-else")
    clients[1].set("k", "someone-else")
    clients[2].set("k", "someone-else")
    lock = Redlock(clients, "k", 10)
    assert lock.acquire(blocking=False) is False
    assert [c.get("k") for c in clients] == ["someone-else"] * 3 + [None, None]  # ours undone, theirs kept


class _SlowClock(VirtualClock):
    """Every reading of the duration clock moves time on: the fan-out 'takes' longer than the lease."""

    def monotonic(self):
        self.advance(6)
        return super().monotonic()


def test_validity_budget_elapsed_longer_than_ttl_fails_and_releases():
    _, clients = _fake_nodes(3)
    lock = Redlock(clients, "k", 5, clock=_SlowClock())
    assert lock.acquire(blocking=False) is False  # every node said yes, but the validity is negative
    assert all(r.ok for r in lock.last)
    assert not any(c.exists("k") for c in clients)


def _clock_jump(lock_nodes_1, lock_nodes_2, jump):
    """Kleppmann's scenario: client 1 reaches A,B,C; C's clock jumps and its copy expires; client 2
    reaches C,D,E. Returns (held1, held2)."""
    one = Redlock(lock_nodes_1, "k", 30, clock=VirtualClock())
    assert one.acquire(blocking=False)
    assert [r.ok for r in one.last] == [True, True, True, False, False]
    jump()
    two = Redlock(lock_nodes_2, "k", 30, clock=VirtualClock())
    assert two.acquire(blocking=False)
    assert [r.ok for r in two.last] == [False, False, True, True, True]
    return one.held, two.held


def test_clock_jump_lets_two_clients_hold_fake():
    servers, clients = _fake_nodes(5)
    cut = fakeredis.FakeServer()
    cut.connected = False
    unreachable = fakeredis.FakeRedis(server=cut, decode_responses=True)
    view1 = clients[:3] + [unreachable, unreachable]
    view2 = [unreachable, unreachable] + clients[2:]
    held = _clock_jump(view1, view2, lambda: clients[2].pexpire("k", 1) and _gone(clients[2]))
    assert held == (True, True)


def test_clock_jump_lets_two_clients_hold_real(real_nodes):
    procs, clients = real_nodes
    unreachable = _real_client(redis_server.free_port())
    view1 = clients[:3] + [unreachable, unreachable]
    view2 = [unreachable, unreachable] + clients[2:]
    held = _clock_jump(view1, view2, lambda: clients[2].pexpire("k", 1) and _gone(clients[2]))
    assert held == (True, True)


def _gone(client):
    return wait_until(lambda: not client.exists("k"), step=0.002, message=lambda: "key did not expire")


def test_extend_and_mutual_exclusion_under_threads():
    _, clients = _fake_nodes(3)
    lock = Redlock(clients, "k", 5, clock=VirtualClock())
    assert lock.acquire(blocking=False)
    assert lock.extend() is True and all(r.ok for r in lock.last)
    clients[0].set("k", "stolen")
    clients[1].set("k", "stolen")
    assert lock.extend() is False  # only one node still ours
    lock.release()

    inside, worst = [0], [0]
    guard = threading.Lock()

    def worker(i):
        mine = Redlock([fakeredis.FakeRedis(connection_pool=c.connection_pool) for c in clients], "m", 10,
                       retry_delay=0.002, max_tries=None, rng=random.Random(i))
        for _ in range(30):
            assert mine.acquire(timeout=30)
            with guard:
                inside[0] += 1
                worst[0] = max(worst[0], inside[0])
            with guard:
                inside[0] -= 1
            assert mine.release()

    run_workers(worker, 4)
    assert worst[0] == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("hcedu-redlock-")]
