"""hcedu.go.Pool and gc(): specs/go-semantics.md §3 and ports of sync/pool_test.go
(TestPool, TestPoolNew, TestPoolGC, TestPoolRelease, TestPoolStress)."""

from __future__ import annotations

import gc as pygc
import os
import threading
import weakref

import pytest

from hcedu.go import Pool, gc
from hcedu.go.pool import SOURCES, on_p

STRESS = max(1, int(os.environ.get("HCEDU_STRESS", "1")))


def spawn(fn, *args):
    t = threading.Thread(target=fn, args=args, daemon=True, name="hcedu-test")
    t.start()
    return t


def join(*threads, timeout=30):
    for t in threads:
        t.join(timeout)
        assert not t.is_alive()


class Obj:
    """A weak-referenceable pooled object (Go's test uses *string with a finalizer)."""

    def __init__(self, n=0):
        self.n = n


# -- ports of sync/pool_test.go --------------------------------------------------------------------

def test_go_TestPool():
    p = Pool(procs=4)
    assert p.get() is None, "expected empty"
    with on_p(0):  # Runtime_procPin
        p.put("a")
        p.put("b")
        assert p.get() == "a"
        assert p.get() == "b"
        assert p.get() is None
    # put a large number of objects so they spill into stealable space
    for _ in range(100):
        p.put("c")
    gc()  # after one GC, the victim cache keeps them alive
    assert p.get() == "c", "want c after GC"
    gc()  # a second GC drops the victim cache
    assert p.get() is None, "want nil after second GC"


def test_go_TestPoolNew():
    i = 0

    def new():
        nonlocal i
        i += 1
        return i

    p = Pool(new=new)
    assert p.get() == 1
    assert p.get() == 2
    with on_p(0):
        p.put(42)
        assert p.get() == 42
    assert p.get() == 3


@pytest.mark.parametrize("drain", [False, True], ids=["TestPoolGC", "TestPoolRelease"])
def test_go_TestPoolGC_and_Release(drain):
    """Objects put in a pool are released (finalized) after the pool's GCs: Go checks that at
    least N-1 of N are finalized within a few GCs."""
    N = 100
    p = Pool()
    finalized = []
    refs = []
    for i in range(N):
        v = Obj(i)
        refs.append(weakref.ref(v, lambda _r: finalized.append(1)))
        p.put(v)
        del v
    if drain:
        for _ in range(N):
            p.get()
    for _ in range(5):
        gc()
        pygc.collect()
        if len(finalized) >= N - 1:
            break
    assert len(finalized) >= N - 1, f"only {len(finalized)} out of {N} resources are finalized"
    assert all(r() is None for r in refs)


def test_go_TestPoolStress():
    """Each goroutine puts 0 and gets; anything it gets back must be 0 (or nil), while gc() runs
    concurrently (our addition: the stop-the-world path races with pinned puts and gets)."""
    P, N = 8, 2000 * STRESS
    p = Pool(procs=4)
    bad = []
    stop = threading.Event()

    def worker():
        for _ in range(N):
            p.put(0)
            vv = p.get()
            if vv is not None and vv != 0:
                bad.append(vv)

    def collector():
        while not stop.is_set():
            gc()

    c = spawn(collector)
    workers = [spawn(worker) for _ in range(P)]
    join(*workers)
    stop.set()
    join(c)
    assert bad == []
    s = p.stats()
    assert s["gets"] == P * N and s["puts"] == P * N


# -- the rules of §3 ---------------------------------------------------------------------------------

def test_put_none_is_ignored_and_empty_get_calls_new_without_storing():
    made = []
    p = Pool(new=lambda: made.append(1) or Obj())
    p.put(None)
    assert p.pooled() == {"local": 0, "victim": 0}
    x = p.get()
    assert isinstance(x, Obj) and made == [1]
    assert p.pooled() == {"local": 0, "victim": 0}  # New's result is not stored
    assert p.stats()["new"] == 1 and p.stats()["puts"] == 0


def test_put_fills_private_then_shared_head_and_get_is_lifo():
    p = Pool(procs=2)
    with on_p(0):
        for x in "abcd":
            p.put(x)
        snap = p.snapshot()["local"]
        assert snap[0] == {"private": "a", "shared": ["d", "c", "b"]}  # head first
        assert snap[1] == {"private": None, "shared": []}
        assert [p.get() for _ in range(4)] == ["a", "d", "c", "b"]
    s = p.stats()
    assert (s["private"], s["shared"]) == (1, 3)


def test_get_steals_from_other_ps_tails_starting_at_pid_plus_one():
    p = Pool(procs=4)
    for pid, items in ((1, "x1 y1 z1"), (2, "x2 y2"), (3, "x3 y3")):
        with on_p(pid):
            for it in items.split():
                p.put(it)  # x = private, the rest go to shared
    with on_p(0):
        # P0 is empty: steal from P1's tail (the oldest shared), then P1 again, then P2
        assert p.get() == "y1"
        assert p.get() == "z1"
        assert p.get() == "y2"
    with on_p(2):
        assert p.get() == "x2"  # own private first
        assert p.get() == "y3"  # own shared empty: steal from P3 (pid+1) before P0/P1
    assert p.stats()["steal"] == 4
    assert p.stats()["private"] == 1


def test_victim_private_then_victim_shared_and_no_promotion():
    p = Pool(procs=2)
    with on_p(1):
        p.put("p1")
        p.put("s1a")
        p.put("s1b")
    with on_p(0):
        p.put("p0")
    gc()
    assert p.pooled() == {"local": 0, "victim": 4}
    with on_p(0):
        assert p.get() == "p0"      # victim private[pid]
        assert p.get() == "s1a"     # victim shared, tails from pid onward
        assert p.get() == "s1b"
        assert p.pooled()["local"] == 0  # victim hits are not promoted back
        assert p.get() is None            # p1 is P1's victim private: not reachable from P0
        assert p.victim_size == 0         # an empty search sets victimSize = 0
    s = p.stats()
    assert (s["victim_private"], s["victim_shared"], s["nil"]) == (1, 2, 1)


def test_item_survives_exactly_one_gc():
    gc()
    gc()  # flush other tests' pools so gc()'s dropped count is this pool's
    p = Pool()
    p.put(Obj(1))
    assert gc() == 0
    assert p.pooled() == {"local": 0, "victim": 1}
    assert gc() == 1  # dropped now
    assert p.pooled() == {"local": 0, "victim": 0}
    assert p.get() is None


def test_item_put_after_gc_survives_next_gc():
    p = Pool()
    gc()
    p.put("late")
    gc()
    assert p.get() == "late"


def test_gc_covers_every_pool():
    pools = [Pool() for _ in range(3)]
    for i, p in enumerate(pools):
        p.put(i + 1)
    gc()
    gc()
    assert [p.get() for p in pools] == [None, None, None]


def test_stats_and_reset():
    p = Pool(new=Obj, procs=1)
    p.put(Obj())
    p.get()
    p.get()
    s = p.stats()
    assert set(SOURCES) <= set(s)
    assert (s["gets"], s["hits"], s["new"], s["puts"]) == (2, 1, 1, 1)
    assert s["hit_rate"] == 0.5
    p.reset_stats()
    assert p.stats()["gets"] == 0 and p.stats()["hit_rate"] == 0.0


def test_new_can_be_set_later():
    p = Pool()
    assert p.get() is None
    p.new = lambda: "made"
    assert p.get() == "made"


def test_bad_arguments():
    with pytest.raises(TypeError, match="new must be callable"):
        Pool(new=5)
    with pytest.raises(ValueError, match="procs must be >= 1"):
        Pool(procs=0)
    with pytest.raises(TypeError, match="procs must be an int"):
        Pool(procs=1.5)
    with pytest.raises(ValueError, match="pid must be >= 0"):
        with on_p(-1):
            pass
    p = Pool()
    with pytest.raises(TypeError, match="new must be callable"):
        p.new = "x"


def test_repr():
    p = Pool(procs=2)
    p.put(1)
    assert repr(p) == "<Pool procs=2 pooled={'local': 1, 'victim': 0}>"
