"""A real Redis Cluster and a Sentinel-watched primary on loopback, started and stopped by the course."""

from __future__ import annotations

import pytest
import redis

from hcedu.lab import redis_cluster
from hcedu.lab.redis_cluster import local_cluster, sentinel_trio

pytestmark = [pytest.mark.cluster,
              pytest.mark.skipif(not redis_cluster.available(), reason=redis_cluster.NOT_INSTALLED)]


@pytest.fixture(scope="module")
def cluster():
    with local_cluster() as c:
        yield c
    assert not any(n.alive() for n in c.nodes), "a cluster node outlived its block"


def test_six_nodes_three_primaries_every_slot_served(cluster):
    rc = cluster.client()
    try:
        with cluster.nodes[0].client() as direct:
            info = direct.cluster("info")
            roles = [n["flags"] for n in direct.cluster("nodes").values()]
        assert info["cluster_state"] == "ok" and int(info["cluster_slots_assigned"]) == 16384
        assert sum("master" in r for r in roles) == 3 and sum("slave" in r for r in roles) == 3, roles
        for i in range(60):
            rc.set(f"user:{i}", i)
        served = {cluster.node_for(f"user:{i}").port for i in range(60)}
        assert len(served) == 3, "60 keys landed on fewer than 3 primaries"
        assert rc.get("user:42") == "42"
    finally:
        rc.close()


def test_a_multi_key_script_needs_its_keys_in_one_slot(cluster):
    rc = cluster.client()
    try:
        script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[2])"
        with pytest.raises(redis.exceptions.RedisClusterException, match="same key slot"):
            rc.eval(script, 2, "lock:orders", "lock:orders:fence", "x")
        assert rc.eval(script, 2, "{lock:orders}", "{lock:orders}:fence", "x") is None
        assert rc.keyslot("{lock:orders}") == rc.keyslot("{lock:orders}:fence")
        # the server itself refuses keys of two slots in one script, whatever the client checks
        node = cluster.node_for("{lock:orders}")
        with node.client() as direct:
            with pytest.raises(redis.ResponseError, match="CROSSSLOT|MOVED|same slot"):
                direct.eval(script, 2, "{lock:orders}", "{lock:other}", "x")
    finally:
        rc.close()


def test_bad_sizes_are_refused_before_anything_starts():
    with pytest.raises(ValueError, match="primaries"):
        with local_cluster(primaries=2):
            pass
    with pytest.raises(ValueError, match="replicas"):
        with local_cluster(replicas=-1):
            pass


def test_sentinel_promotes_the_replica_when_the_primary_dies():
    with sentinel_trio() as trio:
        assert trio.current_primary() == ("127.0.0.1", trio.primary.port)
        trio.primary.client().set("k", "v")
        redis_cluster._wait(lambda: trio.replica.client().get("k") == "v", 10, "replication of k")
        trio.primary.stop()
        redis_cluster._wait(lambda: trio.current_primary()[1] == trio.replica.port, 30, "the failover")
        assert trio.replica.client().info("replication")["role"] == "master"
        assert trio.replica.client().get("k") == "v"
    assert not any(p.alive() for p in (trio.primary, trio.replica, trio.sentinel))


def test_connect_takes_a_cluster_url_and_describe_says_cluster(cluster, monkeypatch):
    from redis.cluster import RedisCluster

    from hcedu import backend

    rc = backend.connect(cluster.url)
    try:
        assert isinstance(rc, RedisCluster)
        rc.set("{orders}:a", "1")
        info = backend.describe(rc)
        assert info.kind == "cluster" and "3 primaries" in str(info) and "Redis Cluster" in str(info)
    finally:
        rc.close()
    monkeypatch.setenv(backend.ENV_VAR, cluster.url)
    rc = backend.connect()
    try:
        assert isinstance(rc, RedisCluster)
    finally:
        rc.close()


def test_a_dead_cluster_url_fails_with_the_fix(monkeypatch):
    import socket

    from hcedu import backend

    with socket.socket() as s:  # a closed loopback port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(backend.BackendUnavailable, match="restart JupyterLab"):
        backend.connect(f"redis+cluster://127.0.0.1:{port}/0")
