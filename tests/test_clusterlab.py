"""Chapter 17's experiments (hcedu.lab.clusterlab): the slot rule and fencing without a server; CROSSSLOT, the hot
slot, the hot key and a delay queue across a failover on real local servers (marker ``cluster``); and the chapter
notebook running green, saying how to get the binary, on a machine without redis-server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from redis.crc import key_slot

from hcedu.lab import clusterlab, redis_cluster
from hcedu.lab.redis_cluster import local_cluster

ROOT = Path(__file__).resolve().parents[1]


# -- no server needed ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key, tag", [("{user1000}.following", "user1000"), ("foo{}{bar}", None),
                                      ("foo{{bar}}zap", "{bar"), ("a}b{c}", "c"), ("plain", None), ("{", None)])
def test_hash_tag_follows_the_cluster_spec(key, tag):
    assert clusterlab.hash_tag(key) == tag
    assert clusterlab.slot(key) == key_slot((tag or key).encode())


def test_the_chapters_naive_keys_differ_in_slot_and_the_tagged_ones_share_one():
    assert clusterlab.slot(clusterlab.NAIVE_KEYS[0]) != clusterlab.slot(clusterlab.NAIVE_KEYS[1])
    assert len({clusterlab.slot(k) for k in clusterlab.TAGGED_KEYS}) == 1
    with pytest.raises(TypeError, match="key"):
        clusterlab.slot(42)


def test_fencing_rejects_stale_and_equal_tokens():
    f = clusterlab.fenced_writes([("A", 33), ("B", 34), ("A", 33), ("B", 34), ("C", 35)])
    assert list(f["accepted"]) == [True, True, False, False, True]


def test_without_redis_server_every_cell_runs_and_says_how_to_get_it(tmp_path):
    """PATH without redis-server/redis-cli (a directory of links to everything else in /usr/bin)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for d in ("/usr/bin", "/bin"):
        for f in Path(d).iterdir() if Path(d).is_dir() else []:
            if not f.name.startswith("redis-") and not (bindir / f.name).exists():
                (bindir / f.name).symlink_to(f)
    nb = tmp_path / "17.ipynb"
    nb.write_bytes((ROOT / "notebooks" / "17_beyond_one_redis.ipynb").read_bytes())
    env = {**os.environ, "PATH": str(bindir), "PYTHONPATH": str(ROOT)}
    env.pop("REDIS_URL", None)
    code = ("import sys; from hcedu.course.execute import execute; execute(sys.argv[1], timeout=120)")
    run = subprocess.run([sys.executable, "-c", code, str(nb)], env=env, capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    outputs = ["".join(o.get("text", "") for o in c.outputs) for c in nbformat.read(nb, 4).cells
               if c.cell_type == "code"]
    told = [o for o in outputs if "apt-get install redis-server" in o]
    assert len(told) >= 7, outputs  # the setup cell and every cell that would start a server


# -- on real servers ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    if not redis_cluster.available():
        pytest.skip(redis_cluster.NOT_INSTALLED)
    with local_cluster() as c:
        yield c
    assert not any(n.alive() for n in c.nodes), "a cluster node outlived its block"


@pytest.mark.cluster
def test_crossslot_is_refused_by_client_and_server_and_the_tagged_script_runs(cluster):
    t = clusterlab.crossslot(cluster)
    assert list(t["outcome"]) == ["refused by the client", "refused by the server", "ran"]
    assert t["reply"].iloc[1] == "ClusterCrossSlotError: Keys in request don't hash to the same slot"
    assert t["reply"].iloc[2] == 1  # the first fencing token


@pytest.mark.cluster
def test_one_tag_for_all_puts_every_key_on_one_primary(cluster):
    spread = clusterlab.tag_spread(cluster, users=300)
    one, per_user = spread.columns
    assert sorted(spread[one]) == [0, 0, 300]
    assert spread[per_user].sum() == 300 and spread[per_user].min() > 60


@pytest.mark.cluster
def test_a_sharded_stock_spreads_the_sell_scripts_and_sells_exactly_the_stock(cluster):
    load = clusterlab.hot_key(cluster, units=600, buyers=4)
    assert (load["sold"] == 600).all() and (load["left"] == 0).all()
    assert sorted(load.loc["one key", "share"]) == [0.0, 0.0, 1.0]
    assert load.loc["3 shards", "share"].min() > 0.2
    assert clusterlab.chart_hot_key(load).axes[0].get_title().startswith("one stock key")


@pytest.mark.cluster
def test_rebalance_evens_the_shards_and_keeps_the_total(cluster):
    keys = clusterlab.shard_keys(cluster, "stock:t", per_primary=2)
    table = clusterlab.primaries(cluster)
    assert sorted(clusterlab._primary_of(table, k) for k in keys) == [1, 1, 2, 2, 3, 3]
    with cluster.client() as rc:
        for k, v in zip(keys, (500, 0, 7, 0, 0, 1)):
            rc.set(k, v)
        after = clusterlab.rebalance(rc, keys)
        rc.delete(*keys)
    assert sum(after.values()) == 508 and max(after.values()) - min(after.values()) <= 1


@pytest.mark.cluster
@pytest.mark.skipif(not redis_cluster.available(), reason=redis_cluster.NOT_INSTALLED)
def test_a_delay_queue_across_a_failover_loses_the_unreplicated_puts_and_redelivers_the_undone_claim():
    r = clusterlab.queue_failover()
    assert (r.lost_without_resend, r.closed_twice, r.never_closed) == (["o5", "o6"], ["o2"], [])
    assert list(r.frame["idempotent closes"]) == [1] * 6
