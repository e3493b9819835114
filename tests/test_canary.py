"""Canary analysis: the z-test against known values, the judge's three decisions, power, the seeded rollout,
and the manifest parser (including the source's Argo CD Application, which has no canary)."""

import math

import pytest

from hcedu.clock import VirtualClock
from hcedu.lab import canary as c


def test_norm_sf_known_values():
    assert c.norm_sf(0) == pytest.approx(0.5)
    assert c.norm_sf(1.959964) == pytest.approx(0.025, abs=1e-6)
    assert c.norm_sf(1.644854) == pytest.approx(0.05, abs=1e-6)
    assert c.norm_sf(2.326348) == pytest.approx(0.01, abs=1e-6)
    assert c.norm_sf(-1.644854) == pytest.approx(0.95, abs=1e-6)
    assert c.norm_sf(8) == pytest.approx(6.22e-16, rel=1e-2)   # erfc keeps the far tail (1 - cdf would be 0)


def test_z_test_known_values():
    # 10/100 vs 20/100: pooled 0.15, se = sqrt(0.15*0.85*0.02) = 0.050498; z = 0.1/se = 1.98030
    z, p = c.z_test(10, 100, 20, 100)
    assert z == pytest.approx(1.98030, abs=1e-4)
    assert p == pytest.approx(0.023835, abs=1e-5)
    z2, p2 = c.z_test(10, 100, 20, 100, alternative="two-sided")
    assert z2 == z and p2 == pytest.approx(0.047670, abs=1e-5)
    # a better canary has a negative z and a large one-sided p
    z3, p3 = c.z_test(20, 100, 10, 100)
    assert z3 == pytest.approx(-z) and p3 == pytest.approx(1 - p)


def test_z_test_degenerate_cases_carry_no_evidence():
    assert c.z_test(0, 100, 0, 100) == (0.0, 1.0)
    assert c.z_test(100, 100, 5, 5) == (0.0, 1.0)
    assert c.z_test(0, 0, 3, 10) == (0.0, 1.0)


def test_requests_needed_matches_textbook():
    # 1 % vs 2 %, alpha 0.05 two-sided, power 0.8: 2,319 per group (Fleiss, no continuity correction)
    assert c.requests_needed(0.01, 2.0, alternative="two-sided") == 2319
    one_sided = c.requests_needed(0.01, 2.0)
    assert one_sided == 1826
    assert c.power(0.01, 2.0, one_sided) == pytest.approx(0.8, abs=0.005)
    assert c.power(0.01, 2.0, 50) < 0.2                      # a tiny canary almost never sees a 2x regression
    assert c.requests_needed(0.01, 3.0) < one_sided < c.requests_needed(0.01, 1.5)


def test_judge_rollback_promote_hold():
    assert c.judge(100, 10_000, 300, 10_000).decision == "rollback"
    v = c.judge(100, 10_000, 95, 10_000)
    assert v.decision == "promote" and v.p_value > 0.5 and v.p_noninferior < 0.05
    # a 5 % canary over one minute: 50 requests, 0 errors -- no evidence either way
    v = c.judge(10, 1_000, 0, 50)
    assert v.decision == "hold" and "too few" in v.reason
    # enough requests but a noisy middle: cannot rule out 1.5x yet
    assert c.judge(20, 2000, 26, 2000).decision == "hold"
    # overwhelming evidence rolls back even below min_requests
    assert c.judge(10, 10_000, 30, 60).decision == "rollback"
    assert "ROLLBACK" in str(c.judge(100, 10_000, 300, 10_000))


def test_judge_small_but_significant_difference_is_tolerated():
    # 1.0 % vs 1.2 % on 200k each: significant, but within the 1.5x margin -> promote, not rollback
    v = c.judge(2000, 200_000, 2400, 200_000)
    assert v.p_value < 0.05 and v.decision == "promote"


@pytest.mark.parametrize("args, kwargs, exc, text", [
    ((5, 4, 0, 10), {}, ValueError, "baseline_errors must be <= baseline_n"),
    ((0, 10, -1, 10), {}, ValueError, "canary_errors must be >= 0"),
    ((0, 10, 0, 10.5), {}, TypeError, "canary_n must be an int"),
    ((0, 10, 0, 10), {"max_ratio": 1}, ValueError, "max_ratio must be > 1"),
    ((0, 10, 0, 10), {"alpha": 0}, ValueError, "alpha must be > 0"),
    ((0, 10, 0, 10), {"min_requests": -1}, ValueError, "min_requests must be >= 0"),
])
def test_judge_bad_input(args, kwargs, exc, text):
    with pytest.raises(exc, match=text):
        c.judge(*args, **kwargs)


def test_bad_input_elsewhere():
    with pytest.raises(ValueError, match="alternative"):
        c.z_test(1, 10, 1, 10, alternative="less")
    with pytest.raises(ValueError, match="ratio must differ from 1"):
        c.requests_needed(0.01, 1.0)
    with pytest.raises(ValueError, match="baseline_rate must be > 0"):
        c.power(0, 2, 100)
    with pytest.raises(ValueError, match="steps must be a non-empty, non-decreasing"):
        c.simulate_rollout(steps=[50, 20])
    with pytest.raises(ValueError, match="steps"):
        c.simulate_rollout(steps=[0, 100])
    with pytest.raises(TypeError, match="frame must be a DataFrame"):
        c.chart_rollout("nope")


def test_simulate_rollout_is_seeded_and_consistent():
    a = c.simulate_rollout(seed=3)
    b = c.simulate_rollout(seed=3)
    assert a.equals(b)
    assert a["t"].tolist() == [600.0 * (i + 1) for i in range(len(a))]
    assert (a["baseline_n"] + a["canary_n"] == 20_000).all()
    assert a["cum_canary_n"].tolist() == a["canary_n"].cumsum().tolist()
    assert (a["canary_errors"] <= a["canary_n"]).all()
    assert a["p_value"].between(0, 1).all()


def test_simulate_rollout_outcomes():
    bad = c.simulate_rollout(seed=0, canary_error_rate=0.03)
    assert bad["action"].iloc[-1] == "rollback" and bad["weight"].iloc[-1] < 100
    good = c.simulate_rollout(seed=1, canary_error_rate=0.01)
    assert good["action"].iloc[-1] == "done" and good["weight"].tolist()[-1] == 100
    assert set(good["weight"]) == {5, 20, 50, 100}
    # a hold keeps the weight for another interval; never more than max_intervals per step
    tiny = c.simulate_rollout(seed=0, canary_error_rate=0.01, requests_per_step=200, max_intervals=3)
    assert tiny["action"].iloc[-1] == "paused" and len(tiny) == 3 and set(tiny["weight"]) == {5}


def test_simulate_rollout_uses_the_given_clock():
    clock = VirtualClock(100)
    f = c.simulate_rollout(seed=1, canary_error_rate=0.01, pause=60, clock=clock)
    assert clock.now() == 100 + 60 * len(f)


def test_decision_rates_show_power():
    small = c.decision_rates(100, trials=200)
    big = c.decision_rates(3000, trials=200)
    for f in (small, big):
        assert list(f.columns) == ["promote", "hold", "rollback"]
        assert f.sum(axis=1).round(9).eq(1).all()
    assert small.loc[0.02, "rollback"] < 0.3            # a 2x regression usually slips past a tiny canary
    assert big.loc[0.02, "rollback"] > 0.85              # and is caught with enough requests
    assert big.loc[0.01, "rollback"] < 0.1               # a good canary is rarely rolled back


def test_rollout_plan_from_manifest():
    plan = c.RolloutPlan.from_manifest(c.EXAMPLE_ROLLOUT)
    assert plan.name == "payment-service"
    assert plan.weights == [5, 20, 50, 100]
    assert plan.pauses == [600.0, 600.0, 600.0]
    assert plan.analysis.max_error_rate == 0.02 and plan.analysis.failure_limit == 2
    assert plan.analysis.interval == 60.0
    f = c.simulate_rollout(plan.weights, seed=1, canary_error_rate=0.01, pause=plan.pauses[0])
    assert f["action"].iloc[-1] == "done"


def test_source_application_has_no_canary():
    with pytest.raises(ValueError, match="kind Application .* no rollout strategy"):
        c.RolloutPlan.from_manifest(c.SOURCE_APPLICATION)


def test_manifest_parser_rejects_and_parses_edge_cases():
    with pytest.raises(ValueError, match="no spec.strategy.canary.steps"):
        c.RolloutPlan.from_manifest("kind: Rollout\nspec:\n  strategy:\n    blueGreen: {activeService: a}\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        c.RolloutPlan.from_manifest("kind: [Rollout")
    with pytest.raises(ValueError, match="no 'kind: Rollout'"):
        c.RolloutPlan.from_manifest("kind: Deployment\n")
    plan = c.RolloutPlan.from_manifest(
        "kind: Rollout\nspec:\n  strategy:\n    canary:\n      steps:\n      - setWeight: 10\n      - pause: {}\n")
    assert plan.weights == [10] and plan.pauses == [None]
    assert c.parse_duration("1h") == 3600 and c.parse_duration("30s") == 30 and c.parse_duration(5) == 5
    with pytest.raises(ValueError, match="duration must look like"):
        c.parse_duration("10 minutes")
    with pytest.raises(ValueError, match="setWeight must be <= 100"):
        c.RolloutPlan.from_manifest("kind: Rollout\nspec:\n  strategy:\n    canary:\n      steps:\n"
                                    "      - setWeight: 150\n")


def test_charts_return_figures():
    import matplotlib.pyplot as plt

    fig = c.chart_rollout(c.simulate_rollout(seed=0))
    assert len(fig.axes) == 1
    fig2 = c.chart_power(c.power_frame(requests=[50, 500, 5000]))
    assert len(fig2.axes) == 1
    pf = c.power_frame(requests=[50, 500, 5000])
    assert pf.groupby("ratio")["power"].apply(lambda s: s.is_monotonic_increasing).all()
    assert not math.isnan(pf["power"].sum())
    plt.close("all")
