"""Failover loses a lock, on real redis-server processes: two holders without WAIT, one with it."""

import pytest

from hcedu.lab import redis_cluster
from hcedu.lab.failover import chart_failover, lock_failover

pytestmark = [pytest.mark.cluster, pytest.mark.waits,  # waits for replicas and failovers (see the root conftest.py)
              pytest.mark.skipif(not redis_cluster.available(), reason=redis_cluster.NOT_INSTALLED)]


def test_the_promoted_replica_never_saw_the_lock_so_b_acquires_it_too():
    r = lock_failover()
    assert r.holders == ("A", "B") and r.two_holders
    assert r.lock_value_after.startswith("B-")
    assert list(r.frame["actor"])[:3] == ["replica", "A", "primary"]
    assert chart_failover(r).axes[0].get_title().startswith("after failover A and B hold the lock")


def test_with_wait_a_gives_the_unreplicated_lock_up_and_b_is_the_only_holder():
    r = lock_failover(wait=True)
    assert r.holders == ("B",)
    assert "0 replica(s) acknowledged" in set(r.frame["detail"])


def test_bad_arguments_are_named_before_anything_starts():
    with pytest.raises(ValueError, match="ttl_ms"):
        lock_failover(ttl_ms=10)
    with pytest.raises(ValueError, match="wait_timeout_ms"):
        lock_failover(wait_timeout_ms=0)
