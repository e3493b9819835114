"""hcedu.lab.pool: instrumented pools, exhaustion on both backends, the Little's-law roofline."""

import threading
import time

import fakeredis
import pytest
import redis
from redis.exceptions import MaxConnectionsError

from hcedu.backend import BackendUnavailable
from hcedu.clock import VirtualClock
from hcedu.lab import littles, loadgen, pool as P, redis_server
from hcedu.lab.instrpool import _CHECKOUT_COLUMNS
from hcedu.lab.poolexp import _split
from hcedu.lab.proxy import Toxics
from hcedu.lab.bench import Claims

from helpers import join, measure_undisturbed, spawn, wait_until


def pool_for(redis_backend, kind="blocking", **kw):
    if redis_backend.kind == "fake":
        return P.make_pool(kind, server=redis_backend.fake_server, **kw)
    return P.make_pool(kind, url=redis_backend.url, **kw)


# -- instrumentation -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", P.KINDS)
def test_checkouts_are_recorded(redis_backend, kind):
    pool = pool_for(redis_backend, kind, max_connections=3)
    c = redis.Redis(connection_pool=pool)
    for i in range(5):
        c.set(f"k{i}", i)
    snap = pool.snapshot()
    assert snap["kind"] == kind and snap["max_connections"] == 3
    assert snap["checkouts"] == 5 and snap["in_use"] == 0 and snap["peak_in_use"] == 1
    assert snap["opened"] == 1 and snap["closed"] == 0 and snap["idle"] == 1 and snap["exhausted"] == 0
    rows = pool.checkouts()
    assert list(rows.columns) == ["t", "wait", "hold", "in_use", "fresh", "error"]
    assert rows["fresh"].tolist() == [True, False, False, False, False]
    assert (rows["hold"] > 0).all() and (rows["wait"] >= 0).all() and (rows["error"] == "").all()
    a, b = pool.get_connection(), pool.get_connection()
    assert pool.snapshot()["in_use"] == 2 and pool.snapshot()["peak_in_use"] == 2
    pool.release(a)
    pool.release(b)
    pool.disconnect()
    assert pool.snapshot()["closed"] == 2 and pool.snapshot()["opened"] == 2


@pytest.mark.parametrize("kind", P.KINDS)
def test_pool_times_checkouts_on_the_injected_clock(kind):
    clock = VirtualClock(100.0)
    pool = P.make_pool(kind, max_connections=2, server=fakeredis.FakeServer(), clock=clock)
    conn = pool.get_connection()
    clock.advance(0.25)                   # held for exactly 0.25 s of the pool's clock
    pool.release(conn)
    clock.advance(10.0)
    assert pool.reap_idle(9.0) == 1       # idle 10 s on the same clock: reaped
    rows = pool.checkouts()
    assert rows["t"].tolist() == [0.0] and rows["wait"].tolist() == [0.0] and rows["hold"].tolist() == [0.25]
    assert pool.snapshot()["mean_hold"] == 0.25
    pool.reset_stats()
    assert pool.stats.clock is clock and pool.stats.t0 == 110.25


def test_hold_time_includes_injected_delay():
    toxics = Toxics(0.01)
    pool = P.make_pool("blocking", max_connections=2, server=fakeredis.FakeServer(), toxics=toxics)
    c = redis.Redis(connection_pool=pool)
    c.ping()
    pool.reset_stats()
    for _ in range(3):
        c.ping()
    assert pool.snapshot()["mean_hold"] >= 0.01  # the connection is held for the round trip


def test_reap_idle_and_prefill(redis_backend):
    pool = pool_for(redis_backend, "blocking", max_connections=4)
    assert pool.prefill(3) == 3
    assert pool.snapshot()["idle"] == 3 and pool.snapshot()["opened"] == 3
    assert pool.reap_idle(60.0) == 0        # nothing idle that long
    assert pool.age_idle(120.0) == 3        # two minutes pass for the idle connections, without sleeping
    assert pool.reap_idle(60.0) == 3        # ConnMaxIdleTime: close the idle sockets
    snap = pool.snapshot()
    assert snap["idle"] == 0 and snap["closed"] == 3
    redis.Redis(connection_pool=pool).ping()  # the next checkout reopens one
    assert pool.snapshot()["opened"] == 4
    with pytest.raises(ValueError, match="n must be <= 4"):
        pool.prefill(5)
    pool.disconnect()


def test_health_check_pings_a_connection_idle_too_long():
    toxics = Toxics(0.0)
    pool = P.make_pool("blocking", max_connections=1, server=fakeredis.FakeServer(), toxics=toxics,
                       health_check_interval=30)
    c = redis.Redis(connection_pool=pool)
    c.ping()
    n = toxics.counts["requests"]
    c.set("a", 1)                      # used recently: no health check
    assert toxics.counts["requests"] == n + 1
    assert pool.age_idle(31) == 1      # idle longer than health_check_interval, without sleeping
    c.set("a", 2)                      # PING first, then SET: two round trips
    assert toxics.counts["requests"] == n + 3
    c.set("a", 3)                      # the PING reset its clock
    assert toxics.counts["requests"] == n + 4
    pool.disconnect()


def test_age_idle_counts_for_reaping_and_rejects_bad_input():
    pool = P.make_pool("blocking", max_connections=3, server=fakeredis.FakeServer())
    assert pool.prefill(2) == 2
    assert pool.reap_idle(60.0) == 0
    assert pool.age_idle(61) == 2
    assert pool.reap_idle(60.0) == 2
    with pytest.raises(ValueError, match="seconds"):
        pool.age_idle(-1)
    pool.disconnect()


# -- exhaustion, on both backends ---------------------------------------------------------------------------
def test_fail_fast_pool_raises_at_once_when_exhausted(redis_backend):
    pool = pool_for(redis_backend, "fail-fast", max_connections=2)
    c = redis.Redis(connection_pool=pool)
    held = [pool.get_connection(), pool.get_connection()]
    t = time.perf_counter()
    with pytest.raises(MaxConnectionsError, match="Too many connections"):
        c.ping()
    assert time.perf_counter() - t < 0.5   # no waiting, no retry
    assert isinstance(MaxConnectionsError(), redis.ConnectionError)
    snap = pool.snapshot()
    assert snap["exhausted"] == 1 and snap["in_use"] == 2
    assert pool.checkouts()["error"].tolist()[-1] == "exhausted"
    pool.release(held.pop())
    assert c.ping() is True
    pool.release(held.pop())
    pool.disconnect()


def test_blocking_pool_waits_then_times_out(redis_backend):
    pool = pool_for(redis_backend, "blocking", max_connections=1, timeout=0.2)
    c = redis.Redis(connection_pool=pool)
    held = pool.get_connection()
    t = time.perf_counter()
    with pytest.raises(redis.ConnectionError, match="No connection available"):
        c.ping()
    waited = time.perf_counter() - t
    assert waited >= 0.2
    assert pool.snapshot()["exhausted"] == 1
    # a connection released while a caller waits is handed over: the caller succeeds after waiting.
    # The release happens once the caller is parked in the pool's queue (state, not a timer), so the
    # checkout cannot have ended before it: checkout start + wait >= the moment of release.
    released = []

    def release_once_the_caller_waits():
        wait_until(lambda: pool.pool.not_empty._waiters)
        released.append(time.perf_counter() - pool.stats.t0)
        pool.release(held)

    releaser = spawn(release_once_the_caller_waits)
    assert c.ping() is True
    join(releaser)
    rows = pool.checkouts()
    assert rows["t"].iloc[-1] + rows["wait"].iloc[-1] >= released[0] and rows["error"].iloc[-1] == ""
    pool.disconnect()


def test_blocking_pool_under_load_queues_instead_of_failing(redis_backend):
    pool = pool_for(redis_backend, "blocking", max_connections=2, timeout=2.0, record=True)
    if redis_backend.kind == "fake":  # in-process commands are too quick to overlap without a round trip
        pool.connection_kwargs["toxics"].set_latency(0.002)
    df = loadgen.run_load(redis.Redis(connection_pool=pool), concurrency=6, requests=120)
    assert df["ok"].all()
    snap = pool.snapshot()
    assert snap["peak_in_use"] == 2 and snap["exhausted"] == 0 and snap["opened"] == 2
    pool.disconnect()


def test_fail_fast_pool_under_load_sheds_requests(redis_backend):
    pool = pool_for(redis_backend, "fail-fast", max_connections=1)
    if redis_backend.kind == "fake":  # make each request take long enough for callers to collide
        pool.connection_kwargs["toxics"].set_latency(0.002)
    df = loadgen.run_load(redis.Redis(connection_pool=pool), concurrency=6, duration=0.3)
    errors = df.loc[~df["ok"], "error"]
    assert len(errors) > 0 and set(errors) == {"MaxConnectionsError"}
    assert pool.snapshot()["exhausted"] == len(errors)
    pool.disconnect()


# -- bad input -------------------------------------------------------------------------------------------
def test_bad_pool_arguments():
    with pytest.raises(ValueError, match="max_connections must be >= 1"):
        P.make_pool("blocking", max_connections=0)
    with pytest.raises(TypeError, match="max_connections must be an int"):
        P.make_pool("blocking", max_connections=2.0)
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        P.make_pool("blocking", timeout=-1)
    with pytest.raises(ValueError, match="socket_timeout must be >= 0"):
        P.make_pool("fail-fast", socket_timeout=-0.1)
    with pytest.raises(ValueError, match="kind must be one of"):
        P.make_pool("lifo")
    with pytest.raises(ValueError, match="retries must be >= 0"):
        P.make_pool("blocking", retries=-1)
    with pytest.raises(TypeError, match="backoff must be"):
        P.make_pool("blocking", retries=1, backoff=0.1)
    with pytest.raises(TypeError, match="server must be a fakeredis.FakeServer"):
        P.make_pool("blocking", server="localhost")
    with pytest.raises(ValueError, match="delay must be >= 0"):
        P.PoolLab("embedded", delay=-0.002)
    with pytest.raises(ValueError, match="backend must be"):
        P.PoolLab("mongodb")
    with pytest.raises(ValueError, match="via must be one of"):
        P.PoolLab("embedded", via="carrier-pigeon")


def test_unreachable_server_is_a_clear_error():
    port = redis_server.free_port()
    url = f"redis://127.0.0.1:{port}/0"
    pool = P.make_pool("blocking", url=url, socket_connect_timeout=0.3)
    with pytest.raises(redis.ConnectionError):
        redis.Redis(connection_pool=pool).ping()
    assert pool.snapshot()["connect_errors"] == 1 and pool.snapshot()["in_use"] == 0
    for via in ("connection", "proxy"):
        with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}"):
            P.PoolLab(url, via=via)


# -- the model ---------------------------------------------------------------------------------------------
def test_model_functions():
    assert littles.predict(16, 4, 0.002) == pytest.approx(2000)   # the roofline's latency bound, min(P, C)/S
    assert P.roofline(4, 16, 0.002, float("inf")) == pytest.approx(2000)
    assert P.roofline(16, 4, 0.002, float("inf")) == pytest.approx(2000)
    assert P.roofline(32, 32, 0.002, 5000) == 5000
    assert P.roofline(2, 32, 0.002, 5000) == pytest.approx(1000)
    assert P.size_pool(5000, 0.002) == 13
    assert P.size_pool(5000, 0.002, headroom=0) == 10
    assert P.size_pool(1, 0.001) == 1
    with pytest.raises(ValueError, match="pool_size must be >= 1"):
        P.roofline(0, 1, 0.002, 100)
    with pytest.raises(ValueError, match="service_time must be > 0"):
        P.roofline(1, 1, 0, 100)
    with pytest.raises(ValueError, match="target_qps must be > 0"):
        P.size_pool(0, 0.002)


def test_with_model_labels_regimes():
    import pandas as pd
    df = pd.DataFrame({"pool_size": [1, 8, 32], "concurrency": [1, 8, 32], "throughput": [450.0, 2000, 5000]})
    out = P.with_model(df, 0.002, 6000)
    assert out["regime"].tolist() == ["latency", "knee", "cpu"]
    assert out["roofline"].tolist() == pytest.approx([500, 4000, 6000])


# -- acceptance: the roofline, on the embedded and on a real redis-server ----------------------------------
# (pool size, concurrency): C < P, P < C (callers queue on the blocking pool) and P = C. Up to 16 callers:
# with 32 threads queueing on redis-py's blocking pool (e.g. P = 8, C = 32) every release wakes waiters,
# and on a busy 2-core machine those wake-ups cost 10-25 % of throughput (see benchmarks/pool_roofline.py).
# Both roofline tests are marked `quiet`: `make bench` runs them (not `make test`), alone, because they
# compare throughput with ceilings measured in the same run, and a second busy process skews that.
LATENCY_POINTS = [(1, 1), (1, 4), (8, 2), (2, 2), (4, 4), (4, 16), (8, 8), (32, 8)]


@pytest.mark.quiet
def test_roofline_latency_bound_within_15_percent(redis_backend):
    """Where min(P, C)/S is at most half of X_cpu, throughput is within 15 % of min(P, C)/S."""
    backend = "embedded" if redis_backend.kind == "fake" else redis_backend.url

    def problems(run):
        df = run.frame
        checked = df[df["regime"] == "latency"].copy()
        # Little's law per point: mean connections in use = throughput × hold time ≈ min(P, C)
        checked["busy_ratio"] = (checked["throughput"] * checked["hold"]
                                 / checked[["pool_size", "concurrency"]].min(axis=1))
        shown = checked[["pool_size", "concurrency", "throughput", "latency_bound", "ratio", "busy_ratio"]]
        found = []
        if not 0.002 <= run.service_time < 0.004:     # 2 ms injected + command cost
            found.append(f"S = {run.service_time:.5f} s")
        if len(checked) < 5:
            found.append(f"only {len(checked)} latency-bound points")
        if (df["errors"] != 0).any():
            found.append("requests failed")
        if (checked["ratio"] - 1).abs().max() > 0.15 or (checked["busy_ratio"] - 1).abs().max() > 0.15:
            found.append(f"off by more than 15 % (S = {run.service_time:.5f} s):\n{shown}")
        return found

    with P.one_core(), P.PoolLab(backend, delay=0.002) as lab:
        run, found, disturbed = measure_undisturbed(
            lambda: P.interleaved_sweep(lab, LATENCY_POINTS, rounds=3, slice_time=0.1), problems)
    if disturbed:
        pytest.skip(f"the host kept pausing this VM: {found[-1]}")
    latency = run.frame[run.frame["regime"] == "latency"]
    claims = Claims("test_pool_lab")          # `make bench` prints these with every benchmark's claims
    for which, pick in (("lowest", min), ("highest", max)) if len(latency) else ():
        claims.check(f"roofline {redis_backend.kind}: {which} latency-bound point / min(P, C)/S",
                     pick(latency["ratio"]), at_least=0.85, at_most=1.15)
    assert not found, "; ".join(found)


@pytest.mark.quiet
def test_roofline_cpu_bound_plateaus_at_the_ceiling(redis_backend):
    """Where min(P, C)/S is at least twice X_cpu, adding connections stops helping: throughput plateaus
    at the client's CPU ceiling (1 / CPU seconds per command, one thread, no injected latency) and never
    exceeds it."""
    backend = "embedded" if redis_backend.kind == "fake" else redis_backend.url

    def problems(run):
        df = run.frame
        x24, x32 = df["throughput"]
        found = []
        if (df["regime"] != "cpu").any():
            found.append("a point is not in the CPU regime: min(P, C)/S < 2 × X_cpu")
        # the latency model alone is wrong here: far fewer requests than min(P, C)/S ...
        if x32 > 0.6 * df["latency_bound"].iloc[-1]:
            found.append("throughput follows min(P, C)/S: no CPU roof")
        # ... because the client's CPU is the roof: more connections and callers buy nothing
        if x32 > 1.15 * x24:
            found.append("throughput still grows from P = 24 to P = 32")
        # It cannot beat the CPU it has (X_cpu is CPU time, so a real server's own work, which overlaps
        # the client's, does not count), and sits below it by what GIL hand-offs between 24-32 threads
        # cost per request. At (32, 32), 8 runs on this 2-core VM gave 0.47-0.88 × X_cpu (median 0.67)
        # embedded, where fakeredis's server lock adds convoys, and 0.67-1.07 (median 0.83) on
        # redis-server, whatever sys.setswitchinterval was (5 or 50 ms); so the floor is wide.
        if not (0.4 <= df["ratio"]).all() or not (df["ratio"] <= 1.15).all():
            found.append(f"plateau at {df['ratio'].round(2).tolist()} × X_cpu, outside [0.4, 1.15]")
        return found

    with P.one_core(), P.PoolLab(backend, delay=0.002) as lab:
        run, found, disturbed = measure_undisturbed(
            lambda: P.interleaved_sweep(lab, [(24, 24), (32, 32)], rounds=5, slice_time=0.1, mix="pipe30"),
            problems)
    if disturbed:
        pytest.skip(f"the host kept pausing this VM: {found[-1]}")
    df = run.frame
    claims = Claims("test_pool_lab")
    for (p, c), ratio in zip(df[["pool_size", "concurrency"]].values.tolist(), df["ratio"]):
        claims.check(f"roofline {redis_backend.kind}: CPU-bound (P, C) = ({p}, {c}) / X_cpu", ratio,
                     at_least=0.4, at_most=1.15)
    claims.check(f"roofline {redis_backend.kind}: CPU-bound, P = 32 / P = 24 throughput",
                 df["throughput"].iloc[1] / df["throughput"].iloc[0], at_most=1.15)
    shown = df[["pool_size", "concurrency", "throughput", "latency_bound", "cpu_ceiling", "ratio", "regime"]]
    assert not found, f"{'; '.join(found)}\n{shown}"


def test_interleaved_sweep_measures_ceilings_alongside():
    with P.PoolLab("embedded", delay=0.002) as lab:
        run = P.interleaved_sweep(lab, [(1, 1), (4, 2)], rounds=2, slice_time=0.05)
        assert lab.toxics.delay == 0.002 and not lab._clients     # latency restored, clients closed
    assert isinstance(run, P.InterleavedSweep) and repr(run).startswith("<InterleavedSweep 2 points, 2 rounds: S = ")
    df = run.frame
    assert df[["pool_size", "concurrency"]].values.tolist() == [[1, 1], [4, 2]]
    assert {"throughput", "latency_bound", "cpu_ceiling", "ratio", "regime", "cpu_per_request"} <= set(df.columns)
    # S is the 2 ms injected plus the command's cost: never less; "not much more" is a sanity bound only
    # (12 ms was measured with the machine 9x oversubscribed), the quiet roofline test checks S closely
    assert 0.002 <= run.service_time < 0.05 and run.rounds == 2
    assert run.cpu_ceiling > run.one_thread * 0.8 > 0
    assert (df["cpu_ceiling"] == run.cpu_ceiling).all()
    # Neither point can beat its latency bound: each request holds a connection >= the 2 ms injected, so
    # min(P, C) callers complete at most min(P, C) / 2 ms (+ one request per caller per 0.05 s window).
    # That "2 callers do about twice what 1 does" is a measurement: the quiet roofline test checks it
    # (`make bench`); on a busy machine one 0.05 s slice can lose half its CPU, so it is no test here.
    bound = df[["pool_size", "concurrency"]].min(axis=1) / 0.002
    assert ((df["throughput"] > 0) & (df["throughput"] <= bound * 1.1)).all(), df


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(rounds=0), ValueError, "rounds must be >= 1"),
    (dict(slice_time=0.001), ValueError, "slice_time must be >= 0.02"),
    (dict(pairs=[]), ValueError, "at least one"),
    (dict(pairs=[(0, 4)]), ValueError, "pool_size must be >= 1"),
    (dict(pairs=[(4, "x")]), TypeError, "concurrency must be an int"),
])
def test_interleaved_sweep_rejects_bad_input(kwargs, error, match):
    with P.PoolLab("embedded", delay=0.001) as lab, pytest.raises(error, match=match):
        P.interleaved_sweep(lab, **kwargs)


def test_measure_ceilings_cpu_ceiling_is_cpu_time():
    with P.PoolLab("embedded", delay=0.002) as lab:
        m = P.measure_ceilings(lab, duration=0.1)
    assert isinstance(m, P.Ceilings) and m.service_time >= 0.002
    # a lone worker's CPU seconds per command never exceed its wall-clock seconds per command (they
    # agree on a quiet machine; when another process takes the CPU, only the wall clock runs on)
    assert m.cpu_ceiling >= 0.9 * m.one_thread > 0


# -- experiments, charts, checker ----------------------------------------------------------------------------
def test_proxy_rung_runs_and_cleans_up(redis_backend):
    if redis_backend.kind == "fake":
        lab = P.PoolLab("tcp", delay=0.001, via="proxy")
    else:
        lab = P.PoolLab(redis_backend.url, delay=0.001, via="proxy")
    with lab:
        row = P.sweep(lab, pairs=[(2, 2)], duration=0.1)
        assert row["errors"].item() == 0 and row["throughput"].item() > 0
        assert lab.proxy is not None and lab.proxy.running
        assert "latency via proxy" in lab.describe()
    assert not lab.proxy.running
    assert not [t for t in threading.enumerate() if t.name.startswith("hcedu-proxy")]


def test_split_takes_percentiles_of_successful_checkouts_only():
    import math
    import pandas as pd
    rows = pd.DataFrame([[0.0, w, h, 1, False, ""] for w, h in zip(range(100), [0.002] * 99 + [0.5])]
                        + [[0.0, 9e9, math.nan, 1, False, "exhausted"]], columns=_CHECKOUT_COLUMNS)
    split = _split(rows)
    assert split["wait_p50"] == pytest.approx(49.5) and split["wait_p99"] == pytest.approx(98.01)
    assert split["hold_p50"] == pytest.approx(0.002) and split["hold_p99"] > 0.002
    assert all(math.isnan(v) for v in _split(None).values())
    assert all(math.isnan(v) for v in _split(rows.iloc[-1:]).values())   # only failures: nothing to split


def test_sweep_splits_latency_into_queue_wait_and_service_time():
    with P.PoolLab("embedded", delay=0.003) as lab:
        row = P.sweep(lab, pairs=[(1, 4)], duration=0.1).iloc[0]
        assert row["hold_p50"] >= 0.003                       # holding a connection includes the round trip
        assert 0 <= row["wait_p50"] <= row["wait_p99"] and row["hold_p50"] <= row["hold_p99"]
        bare = P.sweep(lab, pairs=[(1, 1)], duration=0.05, record=False).iloc[0]
        assert bare[["wait_p50", "wait_p99", "hold_p50", "hold_p99"]].isna().all()


def test_retries_amplify_load_on_a_slow_server():
    with P.PoolLab("embedded", delay=0.001) as lab:
        configs = {"timeout": dict(socket_timeout=0.02),
                   "timeout + 2 retries": dict(socket_timeout=0.02, retries=2)}
        out = P.stall_experiment(lab, configs, slow_all=0.03, requests=8, concurrency=2, pool_size=2)
        assert lab.toxics.delay == 0.001                       # restored afterwards
    assert list(out["config"]) == list(configs)
    assert (out["errors"] == 8).all()                          # a slow server fails every attempt
    assert out["amplification"].iloc[0] == pytest.approx(1.0)
    assert out["amplification"].iloc[1] == pytest.approx(3.0)  # and retries triple its load
    # ... and its latency: each attempt waits out its 20 ms socket timeout, so a caller waits >= 60 ms, not
    # >= 20 ms (lower bounds: a busy machine only adds to them; "p50 > 2.5x the other p50" was a timing
    # target, which fails once a busy machine adds 10 ms to both)
    assert out["p50"].iloc[0] >= 0.02 and out["p50"].iloc[1] >= 3 * 0.02


def test_exhaustion_experiment_shapes():
    """8 callers on 2 connections overload a fail-fast pool only if a third caller asks while two hold theirs: on
    a starved worker (load58: one core hogged, the worker at nice 10) 8 threads with 2 ms holds never overlapped
    in 0.2 s. Holds of 10 ms, and the better of up to three runs (the issue's "measure twice"), keep the shape
    checked on a busy machine; a pool that never runs out still fails all three."""
    for _ in range(3):
        with P.PoolLab("embedded", delay=0.01) as lab:
            ex = P.exhaustion(lab, pool_size=2, concurrency=8, duration=0.2, timeout=0.02)
        if ex["fail-fast"].snapshot["exhausted"] > 0:
            break
    assert set(ex) == set(P.KINDS) and all(isinstance(r, P.PoolRun) for r in ex.values())
    assert ex["fail-fast"].snapshot["exhausted"] > 0
    assert set(ex["blocking"].checkouts.columns) >= {"wait", "error"}
    assert ex["blocking"].window == (0.0, 0.2)
    assert repr(ex["blocking"]).startswith("<PoolRun blocking: ") and "window 0-0.2 s" in repr(ex["blocking"])
    bl = ex["blocking"].frame                     # throughput counts only completions inside the window
    inside = bl["ok"] & (bl["end"] <= 0.2)
    assert ex["blocking"].throughput == pytest.approx(inside.sum() / 0.2) and inside.sum() > 0


def test_defaults_table_matches_the_spec():
    t = P.defaults_table()
    assert list(t.columns) == ["pool size", "min idle", "idle timeout", "max retries", "read timeout", "pool wait"]
    assert t.loc["go-redis v8", "idle timeout"] == "IdleTimeout 5 min"
    assert t.loc["go-redis v9.0–9.21", "idle timeout"] == "ConnMaxIdleTime 30 min"
    assert t.loc["go-redis v9.22+", "read timeout"] == "5 s"
    assert (t.loc[[i for i in t.index if i.startswith("go-redis")], "pool size"] == "10 × GOMAXPROCS").all()
    assert t.loc["redis-py 8.x", "pool size"].startswith("100") and t.loc["redis-py 8.x", "max retries"] == "10"
    assert not any(redis.__version__ in str(i) for i in t.index)     # the same table on every install


def test_installed_redis_py_has_the_stated_8x_defaults():
    assert P.installed_redis_py_defaults() == P.REDIS_PY_8_DEFAULTS


def test_charts_return_figures_and_reject_bad_frames():
    import pandas as pd
    from matplotlib.figure import Figure
    from hcedu.lab import poolviz
    sweep = P.with_model(pd.DataFrame({"pool_size": [1, 2, 1, 2], "concurrency": [2, 2, 8, 8],
                                       "throughput": [450.0, 900, 450, 900], "p50": [0.002] * 4,
                                       "p99": [0.003] * 4}), 0.002, 20000)
    assert isinstance(poolviz.chart_roofline(sweep, 0.002, 20000), Figure)
    assert len(poolviz.chart_latency(sweep).axes) == 1                      # whole requests only
    split = sweep.assign(wait_p50=1e-5, wait_p99=0.2, hold_p50=0.002, hold_p99=0.004)
    fig = poolviz.chart_latency(split, run_length=0.2)
    assert [a.get_title() for a in fig.axes] == ["waiting for a connection (queue wait)",
                                                 "holding it (service time)"]
    assert fig.axes[1].get_legend() is not None and fig.axes[0].get_legend() is None   # outside the data
    assert isinstance(poolviz.chart_wait_histogram(pd.DataFrame({"wait": [1e-5, 2e-5, 0.05]})), Figure)
    frames = {"a": pd.DataFrame({"latency": [0.001, 0.002], "ok": [True, False]})}
    assert len(poolviz.chart_outcome(frames).axes) == 2
    runs = {k: P.PoolRun(f, (0.0, 1.0), {}, pd.DataFrame({"wait": []})) for k, f in frames.items()}
    assert len(poolviz.chart_outcome(runs).axes) == 2
    tails = pd.DataFrame({"config": ["x"], "p50": [1.0], "p99": [2.0], "p999": [3.0]})
    assert isinstance(poolviz.chart_tail(tails), Figure)
    assert poolviz.chart_tail(tails, unit="us").axes[0].get_ylabel() == "latency (us, log)"
    with pytest.raises(ValueError, match="missing column"):
        poolviz.chart_roofline(sweep.drop(columns="throughput"), 0.002, 1)
    with pytest.raises(TypeError, match="DataFrame"):
        poolviz.chart_latency([1, 2])
    with pytest.raises(ValueError, match="must not be empty"):
        poolviz.chart_outcome({})


def test_dashboard_builds():
    from hcedu.lab import poolviz
    with P.PoolLab("embedded", delay=0.002) as lab:
        box = poolviz.dashboard(lab, duration=0.1)
        sliders = box.children[0].children
        assert [s.description for s in sliders] == ["pool size", "callers", "RTT (ms)"]
        sliders[2].value = 1.0                  # turning a knob changes the injected RTT and re-runs
        assert lab.toxics.delay == pytest.approx(0.001)


def test_dashboard_uses_the_ceilings_it_is_given(monkeypatch):
    from hcedu.lab import poolviz
    calls = []
    real = P.measure_ceilings
    monkeypatch.setattr(P, "measure_ceilings", lambda *a, **k: calls.append(k) or real(*a, **k))
    with P.PoolLab("embedded", delay=0.002) as lab:
        given = P.Ceilings(service_time=0.0021, cpu_ceiling=9000.0, one_thread=400.0)
        box = poolviz.dashboard(lab, duration=0.1, ceilings=given)
        assert calls == []                       # the starting RTT (2 ms) is the one they were measured at
        box.children[0].children[2].value = 1.0  # a new RTT is measured
        assert len(calls) == 1
        lab.toxics.set_latency(0.005)            # measured at another RTT than the slider's start: not used
        poolviz.dashboard(lab, duration=0.1, ceilings=given)
        assert len(calls) == 2
        with pytest.raises(TypeError, match="ceilings must be a Ceilings"):
            poolviz.dashboard(lab, ceilings=(0.002, 9000.0))


def test_checker_verdicts():
    from hcedu.course.check import pool_sizing

    def stub(q, p, r):
        raise NotImplementedError
    assert "not solved yet" in str(pool_sizing(stub))
    v = pool_sizing(lambda q, p, r: 2.5)
    assert not v and "0/4 checks passed, then failed" in str(v)
    v = pool_sizing(lambda q, p, r: 2)          # too small for 2,000 QPS at 2 ms
    assert not v and "1/4 checks passed, then failed" in str(v) and "saturated" in str(v)


def test_simulate_pool_is_deterministic_and_shows_queueing():
    a = P.simulate_pool(5, 2000, 0.002, seed=3)
    assert a == P.simulate_pool(5, 2000, 0.002, seed=3)          # same seed, same run
    assert a != P.simulate_pool(5, 2000, 0.002, seed=4)
    assert 0.78 < a["utilisation"] < 0.82 and a["throughput"] == pytest.approx(2000, rel=0.05)
    more = P.simulate_pool(10, 2000, 0.002, seed=3)                 # identical traffic, twice the pool
    assert more["p99"] < a["p99"] and more["waited"] < a["waited"]
    assert P.simulate_pool(4, 2000, 0.002, requests=5000)["p99"] > 0.01   # utilisation 1: the queue grows
    with pytest.raises(ValueError, match="pool_size"):
        P.simulate_pool(0, 2000, 0.002)
