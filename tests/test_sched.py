"""hcedu.go.sched: the GMP simulator's invariants and the behaviours chapter 01 teaches."""

from __future__ import annotations

import pandas as pd
import pytest

from hcedu.go import sched as S
from hcedu.go.sched import GSpec, SimDeadlock, simulate

WORKLOADS = {
    "cpu": lambda: S.cpu_bound(6, 15.0),
    "fan_out": lambda: S.fan_out(40, 2.0, seed=3),
    "mixed": lambda: S.mixed(30, seed=1, syscall_share=0.3, net_share=0.3),
    "hog": lambda: S.hog_and_short(4),
    "ping_pong": lambda: S.ping_pong(6),
}


def _all_runs():
    for wname, make in WORKLOADS.items():
        for model in S.MODELS:
            for procs in (1, 3):
                yield pytest.param(wname, model, procs, id=f"{wname}-{model}-P{procs}")


@pytest.mark.parametrize("wname,model,procs", list(_all_runs()))
def test_invariants(wname, model, procs):
    wl = WORKLOADS[wname]()
    r = simulate(wl, model=model, gomaxprocs=procs, seed=7)
    # every G runs to completion and gets exactly its CPU time
    expected = S.workload_frame(wl)
    assert len(r.per_g) == len(expected) == r.metrics["goroutines"]
    assert r.per_g["finish"].notna().all()
    assert (r.per_g["finish"] >= r.per_g["arrive"]).all()
    cpu_by_name = r.per_g.groupby("name")["cpu"].sum()
    want = expected.groupby("name")["cpu_ms"].sum()
    # the creator also pays spawn costs as CPU; never less than the workload's own CPU
    assert (cpu_by_name.reindex(want.index) >= want - 1e-9).all()
    # no P (core) runs two Gs at once
    on_p = r.segments[r.segments["p"] >= 0].sort_values(["p", "start"])
    for _, seg in on_p.groupby("p"):
        assert (seg["start"].to_numpy()[1:] >= seg["end"].to_numpy()[:-1] - 1e-9).all()
    # a G is never in two places at once
    for _, seg in r.segments.sort_values(["g", "start"]).groupby("g"):
        assert (seg["start"].to_numpy()[1:] >= seg["end"].to_numpy()[:-1] - 1e-9).all()
    # steals take at least one G, from another P, and only in the GMP model
    steals = r.events[r.events["event"] == "steal"]
    assert (steals["n"] >= 1).all() and (steals["other"] != steals["p"]).all()
    assert (steals["before"] >= 1).all()
    if model != "gmp":
        assert steals.empty and r.metrics["handoffs"] == 0
    assert 0 <= r.metrics["utilisation"] <= 1 + 1e-9
    assert list(r.events.columns) == S.EVENT_COLUMNS and list(r.segments.columns) == S.SEGMENT_COLUMNS


def test_steals_take_half_of_a_nonempty_victim_queue():
    r = simulate(S.fan_out(60, 3.0, seed=2), gomaxprocs=4, seed=5)
    steals = r.events[r.events["event"] == "steal"]
    assert len(steals) >= 3
    assert (steals["before"] >= 1).all()
    assert (steals["n"] == steals["before"] - steals["before"] // 2).all()   # Go: n - n/2
    assert steals["before"].max() >= 2


def test_same_seed_same_log_different_seed_may_differ():
    wl = S.fan_out(80, 2.0, seed=1)
    a = simulate(wl, gomaxprocs=4, seed=11)
    b = simulate(wl, gomaxprocs=4, seed=11)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.segments, b.segments)
    assert a.metrics == b.metrics
    others = [simulate(wl, gomaxprocs=4, seed=s).events for s in range(12, 20)]
    assert any(not o.equals(a.events) for o in others)


def test_mixed_workload_is_seeded():
    assert S.mixed(10, seed=4) == S.mixed(10, seed=4)
    assert S.mixed(10, seed=4) != S.mixed(10, seed=5)


def test_more_ps_finish_cpu_bound_sooner_up_to_the_number_of_gs():
    wl = S.cpu_bound(8, 20.0)
    spans = {p: simulate(wl, gomaxprocs=p).metrics["makespan"] for p in (1, 2, 4, 8, 16)}
    assert spans[1] > spans[2] > spans[4] > spans[8]
    assert spans[8] == pytest.approx(spans[16])
    assert spans[1] == pytest.approx(160, rel=0.01) and spans[8] == pytest.approx(20, rel=0.01)


def test_go_puts_child_in_runnext_and_idle_ps_steal():
    r = simulate(S.fan_out(30, 5.0), gomaxprocs=4)
    assert r.metrics["steals"] > 0 and r.metrics["stolen"] >= r.metrics["steals"]
    # the last worker main started runs on main's P right after main exits (it was in runnext)
    segs = r.segments[r.segments["kind"] == "run"]
    main = segs[segs["name"] == "main"].iloc[-1]
    after = segs[(segs["p"] == main["p"]) & (segs["start"] >= main["end"])].iloc[0]
    assert after["name"] == "w29"


def test_channel_wakeups_stay_on_one_p_via_runnext():
    r = simulate(S.ping_pong(10), gomaxprocs=4)
    assert r.segments["p"].nunique() == 1
    assert r.metrics["steals"] == 0


def test_local_runq_overflow_moves_half_to_global():
    r = simulate(S.fan_out(300, 0.1, spawn_gap=0.001), gomaxprocs=1)
    ov = r.events[r.events["event"] == "runq_overflow"]
    assert len(ov) >= 1 and (ov["n"] == 129).all()   # 128 from the local queue + the new G


def test_global_queue_checked_every_61_ticks():
    wl = S.fan_out(200, 0.1, spawn_gap=0.001, jitter=0) + [GSpec("late", (("cpu", 0.1),), arrive=0.5)]
    fair = simulate(wl, gomaxprocs=1)
    unfair = simulate(wl, gomaxprocs=1, global_check_every=10**9)
    late = lambda r: r.per_g.set_index("name").loc["late", "first_run"]  # noqa: E731
    assert fair.metrics["global_checks"] >= 1 and unfair.metrics["global_checks"] == 0
    assert late(fair) < 0.5 + 62 * 0.11      # within ~61 schedule ticks of 0.1 ms work
    assert late(unfair) > late(fair) * 2


def test_sysmon_preempts_after_10ms():
    on = simulate(S.hog_and_short(4), gomaxprocs=1, preemption=True)
    off = simulate(S.hog_and_short(4), gomaxprocs=1, preemption=False)
    req_on = on.per_g[on.per_g["name"].str.startswith("req")]["latency"]
    req_off = off.per_g[off.per_g["name"].str.startswith("req")]["latency"]
    assert on.metrics["preemptions"] >= 4 and off.metrics["preemptions"] == 0
    assert req_on.max() < 22 and req_off.min() > 80
    runs = on.segments[(on.segments["name"] == "hog") & (on.segments["end_reason"] == "preempt")]
    slices = runs["end"] - runs["start"]
    # sysmon notices a new slice on one round and preempts on the first round >= 10 ms later; idle, it
    # sleeps up to 10 ms between rounds, so a hog is preempted 10-20 ms in (Go: forcePreemptNS, sysmon back-off)
    assert (slices >= 10 - 1e-9).all() and (slices <= 20 + 0.02 + 1e-9).all()
    assert slices.max() > 15          # the back-off is modelled: not every slice ends at 10.02 ms


def test_sysmon_backs_off_from_20us_to_10ms_when_it_takes_nothing():
    r = simulate([GSpec("hog", (("cpu", 60.0),))], gomaxprocs=1, preemption=False)
    assert r.metrics["preemptions"] == 0
    eng = S._GMP([GSpec("hog", (("cpu", 60.0),))], 1, False, 0, S.SchedConfig())
    wakes = []
    orig = eng._ev_sysmon

    def spy():
        wakes.append(eng.t)
        orig()
    eng._ev_sysmon = spy
    eng.run()
    gaps = [round(b - a, 6) for a, b in zip(wakes, wakes[1:])]
    assert gaps[:50] == [0.02] * 50                       # 50 idle rounds at 20 µs
    assert gaps[50:53] == [0.04, 0.08, 0.16]              # then doubling
    assert max(gaps) == 10.0 and gaps[-1] == 10.0         # capped at 10 ms


def test_a_syscall_p_is_not_retaken_while_its_queue_is_empty_and_another_p_is_idle():
    # Go's retake: skip a P in a syscall if its run queue is empty, some P is idle (or M spinning) and the
    # syscall is younger than 10 ms: nobody is waiting for it
    short = simulate([GSpec("io", (("cpu", 1.0), ("syscall", 5.0), ("cpu", 1.0)))], gomaxprocs=2)
    assert short.metrics["handoffs"] == 0 and "retake" not in set(short.events["event"])
    long = simulate([GSpec("io", (("cpu", 1.0), ("syscall", 15.0), ("cpu", 1.0)))], gomaxprocs=2)
    retakes = long.events[long.events["event"] == "retake"]
    assert len(retakes) == 1 and retakes["time"].iloc[0] >= 1.0 + 10.0


def test_syscall_hands_p_to_another_m():
    wl = [GSpec("io", (("cpu", 1.0), ("syscall", 5.0), ("cpu", 1.0)))] + \
         [GSpec(f"c{i}", (("cpu", 3.0),)) for i in range(3)]
    r = simulate(wl, gomaxprocs=1)
    assert r.metrics["handoffs"] >= 1
    assert r.metrics["threads"] >= 2            # more Ms than Ps
    ev = r.events
    h = ev[ev["event"] == "handoff"].iloc[0]
    assert h["m"] != h["other"]
    # while io sits in its syscall, another G runs on the single P
    sys_seg = r.segments[r.segments["kind"] == "syscall"].iloc[0]
    assert sys_seg["p"] == -1
    during = r.segments[(r.segments["kind"] == "run") & (r.segments["start"] < sys_seg["end"])
                        & (r.segments["end"] > sys_seg["start"])]
    assert len(during) >= 1


def test_blocking_syscall_blocks_everything_only_in_n_to_1():
    wl = [GSpec("io", (("syscall", 10.0),)), GSpec("quick", (("cpu", 1.0),), arrive=0.5)]
    quick = {m: simulate(wl, model=m, gomaxprocs=1).per_g.set_index("name").loc["quick", "finish"]
             for m in S.MODELS}
    assert quick["gmp"] < 2 and quick["1:1"] < 2 and quick["n:1"] > 10


def test_network_wait_parks_g_and_netpoller_wakes_it():
    wl = [GSpec("net", (("cpu", 1.0), ("net", 3.0), ("cpu", 1.0))), GSpec("other", (("cpu", 2.0),))]
    r = simulate(wl, gomaxprocs=1)
    assert r.metrics["netpoll"] == 1 and r.metrics["handoffs"] == 0 and r.metrics["threads"] == 1
    assert r.per_g.set_index("name").loc["net", "finish"] == pytest.approx(5.0, abs=0.1)


def test_one_to_one_uses_a_thread_per_g():
    wl = S.cpu_bound(10, 5.0)
    assert simulate(wl, model="1:1", gomaxprocs=2).metrics["threads"] == 10
    assert simulate(wl, model="gmp", gomaxprocs=2).metrics["threads"] <= 2
    assert simulate(wl, model="n:1", gomaxprocs=2).metrics["threads"] == 1


def test_compare_has_one_row_per_model():
    df = S.compare(S.cpu_bound(4, 10.0), gomaxprocs=2)
    assert list(df.index) == list(S.MODELS)
    assert df.loc["n:1", "makespan"] > df.loc["gmp", "makespan"]


def test_deadlock_is_reported_like_go():
    with pytest.raises(SimDeadlock, match="all goroutines are asleep - deadlock!"):
        simulate([GSpec("lonely", (("recv", "c"),))])


def test_bad_input_is_rejected_clearly():
    wl = S.cpu_bound(2)
    with pytest.raises(ValueError, match="gomaxprocs must be >= 1"):
        simulate(wl, gomaxprocs=0)
    with pytest.raises(TypeError, match="gomaxprocs must be an int"):
        simulate(wl, gomaxprocs=2.5)
    with pytest.raises(ValueError, match="model must be one of"):
        simulate(wl, model="m:n")
    with pytest.raises(ValueError, match="n must be >= 1"):
        S.cpu_bound(-3)
    with pytest.raises(ValueError, match="n must be >= 1"):
        S.mixed(0)
    with pytest.raises(ValueError, match="workload must contain"):
        simulate([])
    with pytest.raises(TypeError, match="workload\\[0\\] must be a GSpec"):
        simulate([("cpu", 1)])
    with pytest.raises(ValueError, match="kind must be one of"):
        GSpec("x", [("sleep", 1)])
    with pytest.raises(ValueError, match="duration"):
        GSpec("x", [("cpu", -1)])
    with pytest.raises(TypeError, match="unknown option"):
        simulate(wl, preempt_afterr=5)
    with pytest.raises(ValueError, match="syscall_share \\+ net_share"):
        S.mixed(3, syscall_share=0.7, net_share=0.7)
    with pytest.raises(ValueError, match="preempt_after"):
        simulate(wl, preempt_after=0)


def test_preemption_metric_says_what_applied():
    wl = S.cpu_bound(2, 1.0)
    assert simulate(wl, model="gmp", preemption=False).metrics["preemption"] is False
    assert simulate(wl, model="1:1", preemption=False).metrics["preemption"] is True
    assert simulate(wl, model="n:1", preemption=True).metrics["preemption"] is False


def test_charts_and_dashboard():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hcedu.lab import schedviz as V

    wl = V.mixed_workload(8, 0.5)
    rs = [simulate(wl, model=m, gomaxprocs=2) for m in S.MODELS]
    fig = V.chart_gantt(rs[0])
    assert len(fig.axes) == 1
    ticks = {t.get_text(): y for t, y in zip(fig.axes[0].get_yticklabels(), fig.axes[0].get_yticks())}
    assert ticks["P0"] > ticks["P1"] > ticks["syscall (M blocked)"]   # P0 on top, syscall lanes below
    assert len(V.chart_gantt_compare(rs).axes) == 3
    tab = V.metrics_table(rs)
    assert list(tab["model"]) == list(S.MODELS) and list(tab.columns) == V.METRIC_COLUMNS
    box = V.dashboard(goroutines=4)
    p_slider = box.children[0].children[0]
    p_slider.value = 1   # redraws without error
    with pytest.raises(TypeError, match="SimResult"):
        V.chart_gantt("not a result")
    with pytest.raises(ValueError, match="goroutines must be >= 1"):
        V.mixed_workload(0, 0.1)
    plt.close("all")


def _random_workload(rng):
    specs = []
    for i in range(rng.randint(1, 20)):
        steps = []
        for k in range(rng.randint(1, 5)):
            kind = rng.choice(["cpu", "cpu", "syscall", "net", "go"])
            if kind == "go":
                steps.append(("go", GSpec(f"c{i}_{k}", (("cpu", rng.uniform(0.01, 15)), ("syscall", rng.uniform(0.01, 3))))))
            else:
                steps.append((kind, rng.uniform(0.01, 15)))
        specs.append(GSpec(f"g{i}", tuple(steps), arrive=rng.choice([0.0, rng.uniform(0, 20)])))
    for j in range(rng.randint(0, 3)):
        specs.append(GSpec(f"s{j}", (("cpu", 1.0), ("send", f"ch{j}"), ("cpu", 0.5))))
        specs.append(GSpec(f"r{j}", (("recv", f"ch{j}"), ("cpu", 0.5)), arrive=rng.uniform(0, 5)))
    return specs


def test_random_workloads_keep_invariants():
    import random

    rng = random.Random(2024)
    for trial in range(25):
        specs = _random_workload(rng)
        want_cpu = S.workload_frame(specs)["cpu_ms"].sum()
        for model in S.MODELS:
            for procs in (1, 3):
                r = simulate(specs, model=model, gomaxprocs=procs, seed=trial, preemption=rng.random() < 0.7)
                where = f"trial {trial} {model} P={procs}"
                assert r.per_g["finish"].notna().all(), where
                for _, seg in r.segments[r.segments["p"] >= 0].sort_values(["p", "start"]).groupby("p"):
                    assert (seg["start"].to_numpy()[1:] >= seg["end"].to_numpy()[:-1] - 1e-9).all(), where
                cpu = r.per_g["cpu"].sum()
                ran = (r.segments.loc[r.segments["kind"] == "run", "end"]
                       - r.segments.loc[r.segments["kind"] == "run", "start"]).sum()
                assert cpu >= want_cpu - 1e-6, where          # every burst ran in full
                assert ran == pytest.approx(cpu, abs=1e-6), where   # and only while on a P
