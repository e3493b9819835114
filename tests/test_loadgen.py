"""hcedu.lab.loadgen: the closed-loop load generator."""

import threading

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from hcedu.backend import BackendUnavailable
from hcedu.clock import RealClock
from hcedu.go import running
from hcedu.lab import loadgen, redis_server, stats


def workers_alive():
    return [g for g in running() if g.name.startswith("hcedu-loadgen")]


def test_requests_mode_records_every_request(redis_backend):
    c = redis_backend.client()
    df = loadgen.run_load(c, concurrency=4, requests=200, mix={"set": 1, "get": 1}, keys=10, seed=3)
    assert len(df) == 200
    assert list(df.columns) == ["worker", "op", "start", "end", "latency", "ok", "error"]
    assert df["ok"].all() and set(df["op"]) == {"get", "set"}
    assert set(df["worker"]) <= {0, 1, 2, 3}
    assert (df["end"] >= df["start"]).all() and (df["latency"] > 0).all()
    assert df["start"].is_monotonic_increasing
    assert not df.attrs                     # one result type: the frame, no side channel (issue 16)
    assert stats.throughput(df) > 0
    assert not workers_alive()
    keys = c.keys("hcedu:loadgen:*")
    assert keys and all(int(k.rsplit(":", 1)[1]) < 10 for k in keys)


def test_duration_mode_window_and_warmup(redis_backend):
    c = redis_backend.client()
    df = loadgen.run_load(c, concurrency=2, duration=0.3, warmup=0.1, mix="incr", keys=1)
    assert len(df) > 0 and (df["start"] >= 0.1).all() and df["start"].max() <= 0.3
    assert stats.throughput(df, window=(0.1, 0.3)) > 0
    total = int(c.get("hcedu:loadgen:0"))
    assert total >= len(df)  # warm-up requests ran but were not recorded
    assert not workers_alive()


def test_command_mix_follows_weights_and_seed(redis_backend):
    c = redis_backend.client()
    a = loadgen.run_load(c, concurrency=1, requests=400, mix={"get": 3, "ping": 1}, seed=5)
    b = loadgen.run_load(c, concurrency=1, requests=400, mix={"get": 3, "ping": 1}, seed=5)
    assert a["op"].tolist() == b["op"].tolist()  # same seed, same sequence
    share = (a["op"] == "get").mean()
    assert 0.65 < share < 0.85


def test_redis_errors_are_recorded_and_the_run_continues(redis_backend):
    c = redis_backend.client()
    c.set("hcedu:loadgen:0", "not-a-number")

    def bad(client, key, rng):
        return client.incr("hcedu:loadgen:0")  # WRONGTYPE-ish: value is not an integer
    df = loadgen.run_load(c, concurrency=2, requests=20, mix="bad", ops={"bad": bad})
    assert len(df) == 20 and not df["ok"].any() and set(df["error"]) == {"ResponseError"}


def test_a_bug_in_an_op_stops_the_run_and_is_reraised(redis_backend):
    c = redis_backend.client()

    def buggy(client, key, rng):
        raise KeyError("oops")
    with pytest.raises(KeyError, match="oops"):
        loadgen.run_load(c, concurrency=3, duration=5.0, mix="buggy", ops={"buggy": buggy})
    assert not workers_alive()


def test_progress_bar_runs(redis_backend, capsys):
    df = loadgen.run_load(redis_backend.client(), concurrency=2, duration=0.2, progress=True)
    assert len(df) > 0


def test_unreachable_server_fails_before_workers_start():
    port = redis_server.free_port()
    c = redis.Redis(port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}|localhost:{port}"):
        loadgen.run_load(c, concurrency=2, requests=10)
    assert not workers_alive()


@pytest.mark.parametrize("kwargs, exc, msg", [
    ({"concurrency": 0, "requests": 1}, ValueError, "concurrency must be >= 1"),
    ({"concurrency": 2.5, "requests": 1}, TypeError, "concurrency must be an int"),
    ({}, ValueError, "exactly one of duration"),
    ({"duration": 1, "requests": 1}, ValueError, "exactly one of duration"),
    ({"duration": -1}, ValueError, "duration must be > 0"),
    ({"requests": 10, "warmup": 0.1}, ValueError, "warmup needs duration"),
    ({"duration": 0.1, "warmup": 0.2}, ValueError, "warmup must be < duration"),
    ({"requests": 1, "mix": "flushall"}, ValueError, "unknown command 'flushall'"),
    ({"requests": 1, "mix": {"get": -1}}, ValueError, "must be >= 0"),
    ({"requests": 1, "mix": {"get": 0}}, ValueError, "must not all be 0"),
    ({"requests": 1, "mix": 3}, TypeError, "mix must be"),
    ({"requests": 1, "keys": 0}, ValueError, "keys must be >= 1"),
    ({"requests": 1, "ops": {"x": 1}}, TypeError, "must be callable"),
])
def test_bad_arguments(redis_backend, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        loadgen.run_load(redis_backend.client(), **kwargs)


def test_client_must_be_a_redis_client():
    with pytest.raises(TypeError, match="client must be a redis.Redis"):
        loadgen.run_load("redis://localhost", requests=1)



class _TickingClock(RealClock):
    """Each reading by a load worker (any thread but the caller's) moves time on 150 ms (the main thread's readings do not), as if the
    worker were preempted between any two readings; against a 200 ms run, the reading after one that
    passed the deadline check is already past the deadline."""

    def __init__(self) -> None:
        self._t, self._lock, self._main = 0.0, threading.Lock(), threading.get_ident()

    def monotonic(self) -> float:
        with self._lock:
            if threading.get_ident() != self._main:
                self._t += 0.15
            return self._t


def test_no_request_starts_at_or_after_the_deadline(redis_backend):
    df = loadgen.run_load(redis_backend.client(), concurrency=1, duration=0.2, mix="incr", keys=1,
                          clock=_TickingClock())
    assert list(df["start"]) == [pytest.approx(0.15)], df   # the next reading, 0.45, is past the deadline
    assert not workers_alive()
