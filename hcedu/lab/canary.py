"""Canary-release analysis (Argo Rollouts ``strategy.canary`` steps + an analysis judge, as Kayenta does it).

A canary release sends a small share of traffic to the new version, compares it with the old one, and
either widens the share (``setWeight: 5 → 20 → 50 → 100``, with ``pause`` between) or rolls back. This
module makes the comparison a real statistical decision instead of "the dashboard looked fine":

* :func:`judge` — one-sided **two-proportion z-test** (canary error rate > baseline?) plus a
  **non-inferiority** test (canary error rate < ``max_ratio`` × baseline?). Three answers:

  ``rollback``  the canary is significantly worse (p < alpha) *and* worse by more than ``max_ratio``;
  ``promote``   the data rule out "worse by ``max_ratio`` or more" at level alpha;
  ``hold``      neither yet: too few requests for the data to mean anything either way — keep the
                weight and collect more (a tiny canary with zero errors is *not* evidence it is safe).

* :func:`requests_needed` / :func:`power` — how many requests each side needs before a 2× error rate is
  detectable (the classic sample-size formula for two proportions; Fleiss, no continuity correction).
* :func:`simulate_rollout` — a seeded rollout over the steps on a :class:`~hcedu.clock.VirtualClock`:
  per step, traffic split by weight, binomial errors per side, the judge run on the cumulative counts,
  and the rollout stopped (weight back to 0) on ``rollback``.
* :class:`RolloutPlan` — the steps and analysis thresholds parsed from an Argo Rollouts ``Rollout``
  manifest (pyyaml). The source's manifest is an Argo **CD** ``Application``: it syncs Git to a cluster and
  has no canary steps at all, which :meth:`RolloutPlan.from_manifest` says instead of guessing.

Invariants: every p-value is in [0, 1]; counts are validated (``0 <= errors <= n``); the same seed gives the
same frame; the judge never promotes on fewer than ``min_requests`` canary requests.
Normal tail probabilities use ``math.erfc`` (no scipy); quantiles use :class:`statistics.NormalDist`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd
import yaml

from .. import _validate
from .plot import finish
from ..clock import VirtualClock, as_clock

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DECISIONS", "Verdict", "norm_sf", "z_test", "judge", "requests_needed", "power",
           "power_frame", "simulate_rollout", "decision_rates", "chart_rollout", "chart_power",
           "Step", "Analysis", "RolloutPlan", "parse_duration", "SOURCE_APPLICATION", "EXAMPLE_ROLLOUT"]

DECISIONS = ("promote", "hold", "rollback")
_N = NormalDist()


# -- statistics ---------------------------------------------------------------------------------------
def norm_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z, exact to double precision in the tails: ``erfc(z/√2)/2``."""
    z = _validate.number("z", z, allow_inf=True)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _counts(errors: Any, n: Any, side: str) -> tuple[int, int]:
    n = _validate.integer(f"{side}_n", n, minimum=0)
    errors = _validate.integer(f"{side}_errors", errors, minimum=0)
    if errors > n:
        raise ValueError(f"{side}_errors must be <= {side}_n ({n}) (got {errors})")
    return errors, n


def z_test(baseline_errors: int, baseline_n: int, canary_errors: int, canary_n: int, *,
           alternative: str = "greater") -> tuple[float, float]:
    """Pooled two-proportion z-test of the canary's error rate against the baseline's: ``(z, p_value)``.

    ``alternative="greater"`` (one-sided: is the canary worse?) or ``"two-sided"``. With no requests on a
    side, or no errors (or only errors) on both sides, there is no evidence: ``(0.0, 1.0)``
    (``(0.0, 1.0)`` for two-sided as well).
    """
    _validate.choice("alternative", alternative, ("greater", "two-sided"))
    be, bn = _counts(baseline_errors, baseline_n, "baseline")
    ce, cn = _counts(canary_errors, canary_n, "canary")
    if bn == 0 or cn == 0:
        return 0.0, 1.0
    pooled = (be + ce) / (bn + cn)
    se = math.sqrt(pooled * (1 - pooled) * (1 / bn + 1 / cn))
    if se == 0:
        return 0.0, 1.0
    z = (ce / cn - be / bn) / se
    p = norm_sf(z) if alternative == "greater" else min(1.0, 2 * norm_sf(abs(z)))
    return z, p


@dataclass(frozen=True)
class Verdict:
    """What :func:`judge` decided and why (rates as fractions, ``ratio`` = canary rate / baseline rate)."""

    decision: str
    reason: str
    baseline_rate: float
    canary_rate: float
    ratio: float
    z: float
    p_value: float
    p_noninferior: float

    def __str__(self) -> str:
        return (f"{self.decision.upper()}: {self.reason} (baseline {self.baseline_rate:.2%}, "
                f"canary {self.canary_rate:.2%}, z={self.z:.2f}, p={self.p_value:.3g})")


def _noninferiority_p(be: int, bn: int, ce: int, cn: int, max_ratio: float) -> float:
    """One-sided p for H0: canary_rate >= max_ratio * baseline_rate (small p: the canary is within the margin).

    Wald statistic on Agresti–Caffo adjusted rates (one error and one success added to each side), so that
    zero errors on both sides still gives a finite, conservative standard error."""
    pb, pc = (be + 1) / (bn + 2), (ce + 1) / (cn + 2)
    se = math.sqrt(pc * (1 - pc) / (cn + 2) + max_ratio ** 2 * pb * (1 - pb) / (bn + 2))
    return norm_sf((max_ratio * pb - pc) / se)


def judge(baseline_errors: int, baseline_n: int, canary_errors: int, canary_n: int, *,
          max_ratio: float = 1.5, alpha: float = 0.05, min_requests: int = 100) -> Verdict:
    """Decide ``promote`` / ``hold`` / ``rollback`` for a canary from error counts (see the module docstring).

    ``max_ratio`` (> 1) is the tolerated error-rate ratio canary/baseline; ``alpha`` the significance level
    of both tests; ``min_requests`` the canary requests below which the answer is ``hold`` whatever the
    numbers say (``rollback`` is still allowed below it when the evidence is already overwhelming: p < alpha
    and ratio > ``max_ratio``). Bad input: ``TypeError``/``ValueError`` naming the argument.
    """
    be, bn = _counts(baseline_errors, baseline_n, "baseline")
    ce, cn = _counts(canary_errors, canary_n, "canary")
    max_ratio = _validate.number("max_ratio", max_ratio, minimum=1, strict=True)
    alpha = _validate.number("alpha", alpha, minimum=0, strict=True, maximum=0.5)
    min_requests = _validate.integer("min_requests", min_requests, minimum=0)
    rb = be / bn if bn else math.nan
    rc = ce / cn if cn else math.nan
    if bn and cn:
        ratio = rc / rb if rb > 0 else (math.inf if rc > 0 else 1.0)
    else:
        ratio = math.nan
    z, p = z_test(be, bn, ce, cn)
    p_ni = _noninferiority_p(be, bn, ce, cn, max_ratio) if bn and cn else 1.0
    if p < alpha and ratio > max_ratio:
        decision = "rollback"
        reason = f"canary error rate is {ratio:.1f}x the baseline's and the difference is significant"
    elif cn < min_requests or bn < min_requests:
        decision = "hold"
        reason = f"too few requests to judge (canary {cn}, baseline {bn}; need {min_requests} each)"
    elif p_ni < alpha:
        decision = "promote"
        reason = f"data rule out a canary error rate {max_ratio:g}x the baseline's or worse"
    else:
        decision = "hold"
        reason = f"cannot yet rule out {max_ratio:g}x the baseline's error rate; collect more requests"
    return Verdict(decision, reason, rb, rc, ratio, z, p, p_ni)


def _rates(baseline_rate: Any, ratio: Any) -> tuple[float, float]:
    p1 = _validate.number("baseline_rate", baseline_rate, minimum=0, strict=True, maximum=1)
    ratio = _validate.number("ratio", ratio, minimum=0, strict=True)
    p2 = p1 * ratio
    if p2 >= 1 or ratio == 1:
        raise ValueError(f"ratio must differ from 1 and keep baseline_rate * ratio < 1 (got {ratio:g})")
    return p1, p2


def requests_needed(baseline_rate: float, ratio: float = 2.0, *, alpha: float = 0.05, power: float = 0.8,
                    alternative: str = "greater") -> int:
    """Requests needed **per side** to detect ``baseline_rate * ratio`` vs ``baseline_rate`` with probability
    ``power`` at level ``alpha`` (normal approximation, Fleiss without continuity correction, rounded up).

    E.g. 1 % vs 2 %, two-sided alpha 0.05, power 0.8: 2,319 per side."""
    p1, p2 = _rates(baseline_rate, ratio)
    alpha = _validate.number("alpha", alpha, minimum=0, strict=True, maximum=0.5)
    power_ = _validate.number("power", power, minimum=0, strict=True, maximum=1)
    if power_ >= 1:
        raise ValueError(f"power must be < 1 (got {power!r})")
    _validate.choice("alternative", alternative, ("greater", "two-sided"))
    za = _N.inv_cdf(1 - (alpha if alternative == "greater" else alpha / 2))
    zb = _N.inv_cdf(power_)
    pbar = (p1 + p2) / 2
    num = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(num ** 2 / (p2 - p1) ** 2)


def power(baseline_rate: float, ratio: float, canary_n: int, baseline_n: int | None = None, *,
          alpha: float = 0.05) -> float:
    """Probability that the one-sided z-test at ``alpha`` flags a canary whose true error rate is
    ``ratio`` × ``baseline_rate``, given ``canary_n`` canary and ``baseline_n`` (default: same) baseline
    requests (normal approximation)."""
    p1, p2 = _rates(baseline_rate, ratio)
    cn = _validate.integer("canary_n", canary_n, minimum=1)
    bn = cn if baseline_n is None else _validate.integer("baseline_n", baseline_n, minimum=1)
    alpha = _validate.number("alpha", alpha, minimum=0, strict=True, maximum=0.5)
    pbar = (p1 * bn + p2 * cn) / (bn + cn)
    se0 = math.sqrt(pbar * (1 - pbar) * (1 / bn + 1 / cn))
    se1 = math.sqrt(p1 * (1 - p1) / bn + p2 * (1 - p2) / cn)
    za = _N.inv_cdf(1 - alpha)
    return norm_sf((za * se0 - (p2 - p1)) / se1)


def power_frame(baseline_rate: float = 0.01, ratios: Sequence[float] = (1.5, 2.0, 3.0), *,
                requests: Sequence[int] = tuple(int(x) for x in np.geomspace(50, 50_000, 40)),
                alpha: float = 0.05) -> pd.DataFrame:
    """Power of the one-sided test per canary size (equal baseline), one row per (ratio, canary_n); the
    ``baseline_rate`` and ``alpha`` it was computed for are columns too (what :func:`chart_power` titles)."""
    rows = [{"ratio": float(r), "canary_n": int(n), "power": power(baseline_rate, r, int(n), alpha=alpha),
             "baseline_rate": baseline_rate, "alpha": alpha}
            for r in ratios for n in requests]
    return pd.DataFrame(rows)


# -- simulation ---------------------------------------------------------------------------------------
def simulate_rollout(steps: Sequence[int] = (5, 20, 50, 100), *, baseline_error_rate: float = 0.01,
                     canary_error_rate: float = 0.02, requests_per_step: int = 20_000, seed: int = 0,
                     pause: float = 600.0, clock: Any = None, max_ratio: float = 1.5, alpha: float = 0.05,
                     min_requests: int = 100, max_intervals: int = 6) -> pd.DataFrame:
    """A seeded canary rollout, judged after every analysis interval: one row per interval that ran.

    Each interval ``requests_per_step`` requests arrive; each goes to the canary with probability
    weight/100 (binomial) and fails with its side's error rate. The interval lasts ``pause`` seconds on
    ``clock`` (default: a fresh :class:`VirtualClock`, so it is instant); then :func:`judge` runs on the
    **cumulative** counts and the controller acts (column ``action``):

    ``advance``   promote -> the next weight;      ``done``     promote at the last weight;
    ``hold``      stay at this weight one more interval (at most ``max_intervals`` per step);
    ``paused``    still ``hold`` after ``max_intervals``: stop and wait for a human (Argo's inconclusive);
    ``rollback``  weight back to 0, rollout aborted.

    Columns: step, interval, weight, t, baseline_n, baseline_errors, canary_n, canary_errors, the cumulative
    ``cum_*`` of those four, baseline_rate, canary_rate (cumulative), ratio, z, p_value, decision, action.
    """
    weights = [_validate.integer("steps[]", w, minimum=1, maximum=100) for w in steps]
    if not weights or weights != sorted(weights):
        raise ValueError(f"steps must be a non-empty, non-decreasing list of weights in 1..100 (got {list(steps)})")
    rb = _validate.number("baseline_error_rate", baseline_error_rate, minimum=0, maximum=1)
    rc = _validate.number("canary_error_rate", canary_error_rate, minimum=0, maximum=1)
    n = _validate.integer("requests_per_step", requests_per_step, minimum=1)
    seed = _validate.integer("seed", seed)
    pause = _validate.number("pause", pause, minimum=0)
    max_intervals = _validate.integer("max_intervals", max_intervals, minimum=1)
    clock = VirtualClock() if clock is None else as_clock(clock)
    rng = np.random.default_rng(seed)
    cum = dict(baseline_n=0, baseline_errors=0, canary_n=0, canary_errors=0)
    rows: list[dict[str, Any]] = []
    i = 0
    interval = 1
    while i < len(weights):
        w = weights[i]
        cn = int(rng.binomial(n, w / 100))
        bn = n - cn
        ce, be = int(rng.binomial(cn, rc)), int(rng.binomial(bn, rb))
        clock.sleep(pause)
        for k, val in (("baseline_n", bn), ("baseline_errors", be), ("canary_n", cn), ("canary_errors", ce)):
            cum[k] += val
        v = judge(cum["baseline_errors"], cum["baseline_n"], cum["canary_errors"], cum["canary_n"],
                  max_ratio=max_ratio, alpha=alpha, min_requests=min_requests)
        if v.decision == "promote":
            action = "done" if i == len(weights) - 1 else "advance"
        elif v.decision == "hold":
            action = "hold" if interval < max_intervals else "paused"
        else:
            action = "rollback"
        rows.append(dict(step=i + 1, interval=interval, weight=w, t=clock.now(), baseline_n=bn,
                         baseline_errors=be, canary_n=cn, canary_errors=ce,
                         **{f"cum_{k}": val for k, val in cum.items()},
                         baseline_rate=v.baseline_rate, canary_rate=v.canary_rate, ratio=v.ratio, z=v.z,
                         p_value=v.p_value, decision=v.decision, action=action))
        if action in ("done", "paused", "rollback"):
            break
        if action == "advance":
            i, interval = i + 1, 1
        else:
            interval += 1
    return pd.DataFrame(rows)


def decision_rates(canary_n: int, *, baseline_n: int | None = None, baseline_error_rate: float = 0.01,
                   canary_error_rates: Sequence[float] = (0.01, 0.02), trials: int = 400, seed: int = 0,
                   max_ratio: float = 1.5, alpha: float = 0.05, min_requests: int = 100) -> pd.DataFrame:
    """Monte Carlo: share of ``trials`` judged promote/hold/rollback for a canary of ``canary_n`` requests,
    per true canary error rate (a good canary = the baseline's rate; a bad one = 2×). Rows: canary rate;
    columns: the three decisions (fractions summing to 1)."""
    cn = _validate.integer("canary_n", canary_n, minimum=1)
    bn = cn if baseline_n is None else _validate.integer("baseline_n", baseline_n, minimum=1)
    trials = _validate.integer("trials", trials, minimum=1)
    rng = np.random.default_rng(_validate.integer("seed", seed))
    rb = _validate.number("baseline_error_rate", baseline_error_rate, minimum=0, maximum=1)
    out = {}
    for rc in canary_error_rates:
        rc = _validate.number("canary_error_rates[]", rc, minimum=0, maximum=1)
        be = rng.binomial(bn, rb, trials)
        ce = rng.binomial(cn, rc, trials)
        counts = dict.fromkeys(DECISIONS, 0)
        for b, c in zip(be, ce):
            counts[judge(int(b), bn, int(c), cn, max_ratio=max_ratio, alpha=alpha,
                         min_requests=min_requests).decision] += 1
        out[rc] = {k: v / trials for k, v in counts.items()}
    frame = pd.DataFrame(out).T[list(DECISIONS)]
    frame.index.name = "canary_error_rate"
    return frame


# -- charts -------------------------------------------------------------------------------------------
_COLORS = {"promote": "tab:green", "hold": "tab:orange", "rollback": "tab:red"}


def chart_rollout(frame: pd.DataFrame) -> "Figure":
    """Cumulative error rate of baseline and canary after each analysis interval (x labels: weight, interval,
    canary requests so far), each point marked with the judge's decision; a red band where it rolled back."""
    import matplotlib.pyplot as plt

    if not isinstance(frame, pd.DataFrame) or "decision" not in frame.columns:
        raise TypeError("frame must be a DataFrame from simulate_rollout()")
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    x = np.arange(1, len(frame) + 1)
    ax.plot(x, frame["baseline_rate"] * 100, "o-", color="tab:blue", label="baseline (stable)")
    ax.plot(x, frame["canary_rate"] * 100, "s-", color="tab:purple", label="canary")
    for xi, (_, r) in zip(x, frame.iterrows()):
        ax.annotate(r["decision"], (xi, r["canary_rate"] * 100), textcoords="offset points",
                    xytext=(0, 8), ha="center", fontsize=9, color=_COLORS[r["decision"]], weight="bold")
        if r["action"] == "rollback":
            ax.axvspan(xi - 0.3, xi + 0.3, color="tab:red", alpha=0.12)
    ax.set_xticks(list(x))
    ax.set_xticklabels([f"{w}% #{i}\n{n:,} req" for w, i, n in
                        zip(frame["weight"], frame["interval"], frame["cum_canary_n"])], fontsize=8)
    ax.set_xlim(0.5, len(frame) + 0.5)
    ax.set_ylim(0, max(frame["canary_rate"].max(), frame["baseline_rate"].max()) * 100 * 1.35 + 0.1)
    return finish(ax, title="Canary vs baseline error rate after each analysis interval (label: judge's decision)",
                  ylabel="cumulative error rate (%)", legend="outside")


def chart_power(frame: pd.DataFrame) -> "Figure":
    """Power vs canary requests (log x) per true error-rate ratio, with the 80 % line."""
    import matplotlib.pyplot as plt

    if not isinstance(frame, pd.DataFrame) or not {"power", "baseline_rate", "alpha"} <= set(frame.columns):
        raise TypeError("frame must be a DataFrame from power_frame()")
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for ratio, g in frame.groupby("ratio", sort=True):
        ax.plot(g["canary_n"], g["power"], label=f"canary {ratio:g}x the error rate")
    ax.axhline(0.8, color="grey", ls="--", lw=1)
    ax.text(frame["canary_n"].min(), 0.82, "80 % power", fontsize=8, color="grey")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    return finish(ax, title=f"Power of the canary test (baseline {frame['baseline_rate'].iloc[0]:.0%} "
                            f"errors, alpha {frame['alpha'].iloc[0]:g})",
                  xlabel="requests on the canary (and as many on the baseline)",
                  ylabel="P(test flags the bad canary)", legend="outside")


# -- the manifest --------------------------------------------------------------------------------------
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(value: Any) -> float:
    """Argo's duration strings (``"30s"``, ``"10m"``, ``"1h"``, or a bare number of seconds) -> seconds."""
    if isinstance(value, bool):
        raise TypeError(f"duration must be a str like '10m' or a number (got bool: {value!r})")
    if isinstance(value, (int, float)):
        return _validate.number("duration", value, minimum=0)
    if not isinstance(value, str):
        raise TypeError(f"duration must be a str like '10m' or a number (got {type(value).__name__}: {value!r})")
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", value)
    if not m:
        raise ValueError(f"duration must look like '30s', '10m' or '1h' (got {value!r})")
    return float(m.group(1)) * _UNITS.get(m.group(2) or "s")


@dataclass(frozen=True)
class Step:
    """One canary step: ``setWeight`` (percent of traffic to the canary) or ``pause`` (seconds; None =
    indefinite, waiting for a human to promote)."""

    set_weight: int | None = None
    pause: float | None = None
    indefinite: bool = False


@dataclass(frozen=True)
class Analysis:
    """Analysis thresholds: the metric is the error rate; ``max_error_rate`` the absolute ceiling (an
    AnalysisTemplate's ``successCondition: result[0] < x``); ``failure_limit`` failed measurements allowed;
    ``max_ratio``/``alpha``/``min_requests`` the comparative judge (:func:`judge`)."""

    max_error_rate: float | None = None
    failure_limit: int = 0
    interval: float | None = None
    max_ratio: float = 1.5
    alpha: float = 0.05
    min_requests: int = 100


@dataclass(frozen=True)
class RolloutPlan:
    """An Argo Rollouts canary strategy as data: ``name``, ``steps`` and ``analysis``."""

    name: str
    steps: tuple[Step, ...]
    analysis: Analysis = field(default_factory=Analysis)

    @property
    def weights(self) -> list[int]:
        """The traffic weights in order (what :func:`simulate_rollout` takes as ``steps``)."""
        return [s.set_weight for s in self.steps if s.set_weight is not None]

    @property
    def pauses(self) -> list[float | None]:
        """Pause durations in order (None = indefinite pause)."""
        return [None if s.indefinite else s.pause for s in self.steps if s.set_weight is None]

    @classmethod
    def from_manifest(cls, text: str) -> "RolloutPlan":
        """Parse YAML holding a ``kind: Rollout`` (argoproj.io) and optionally a ``kind: AnalysisTemplate``.

        Reads ``spec.strategy.canary.steps`` (``setWeight``, ``pause: {duration}``; ``pause: {}`` is
        indefinite) and, from the template, the first metric's ``successCondition`` (``result[0] < x`` or
        ``<= x``), ``failureLimit`` and ``interval``. ``ValueError`` for anything else — in particular an
        Argo CD ``Application`` (the source's example), which describes *what* to sync, not *how* to shift
        traffic, and a Rollout without canary steps (e.g. ``blueGreen``).
        """
        _validate.text("text", text)
        try:
            docs = [d for d in yaml.safe_load_all(text) if d]
        except yaml.YAMLError as exc:
            raise ValueError(f"text is not valid YAML: {exc}") from None
        kinds = [d.get("kind") if isinstance(d, dict) else None for d in docs]
        if "Rollout" not in kinds:
            if "Application" in kinds:
                raise ValueError("kind Application (Argo CD) has no rollout strategy: it syncs a Git path to a "
                                 "cluster. Canary steps live in an Argo Rollouts 'kind: Rollout' "
                                 "(spec.strategy.canary.steps)")
            raise ValueError(f"no 'kind: Rollout' document found (kinds: {kinds})")
        ro = docs[kinds.index("Rollout")]
        canary = (((ro.get("spec") or {}).get("strategy") or {}).get("canary"))
        if not isinstance(canary, dict) or not canary.get("steps"):
            raise ValueError("the Rollout has no spec.strategy.canary.steps (blueGreen or empty strategy)")
        steps = []
        for raw in canary["steps"]:
            if not isinstance(raw, dict):
                raise ValueError(f"a canary step must be a mapping (got {raw!r})")
            if "setWeight" in raw:
                steps.append(Step(set_weight=_validate.integer("setWeight", raw["setWeight"], minimum=0,
                                                               maximum=100)))
            elif "pause" in raw:
                p = raw["pause"] or {}
                if "duration" in p:
                    steps.append(Step(pause=parse_duration(p["duration"])))
                else:
                    steps.append(Step(indefinite=True))
            # analysis / setCanaryScale / experiment steps carry no weight: ignored here
        analysis = Analysis()
        if "AnalysisTemplate" in kinds:
            metrics = (docs[kinds.index("AnalysisTemplate")].get("spec") or {}).get("metrics") or []
            if metrics:
                m = metrics[0]
                cond = str(m.get("successCondition", ""))
                hit = re.fullmatch(r"\s*result(?:\[0\])?\s*<=?\s*([0-9.]+)\s*", cond)
                analysis = Analysis(
                    max_error_rate=float(hit.group(1)) if hit else None,
                    failure_limit=_validate.integer("failureLimit", m.get("failureLimit", 0), minimum=0),
                    interval=parse_duration(m["interval"]) if "interval" in m else None)
        name = str(((ro.get("metadata") or {}).get("name")) or "rollout")
        return cls(name, tuple(steps), analysis)


#: The source's manifest (section 5), verbatim in substance: an Argo CD Application, automated sync.
SOURCE_APPLICATION = """
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: payment-service-prod
spec:
  project: default
  source:
    repoURL: https://gitlab.com/platform/payment.git
    targetRevision: HEAD
    path: k8s/production
  destination:
    server: https://k8s-prod.example.com
    namespace: payment-prod
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
"""

#: What the source's prose describes ("先将新版本推送给5%的用户流量 ... 逐步扩大至全量"), as Argo Rollouts says it.
EXAMPLE_ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: payment-service
spec:
  strategy:
    canary:
      analysis:
        templates:
        - templateName: error-rate
        startingStep: 1
      steps:
      - setWeight: 5
      - pause: {duration: 10m}
      - setWeight: 20
      - pause: {duration: 10m}
      - setWeight: 50
      - pause: {duration: 10m}
      - setWeight: 100
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: error-rate
spec:
  metrics:
  - name: error-rate
    interval: 1m
    failureLimit: 2
    successCondition: result[0] < 0.02
    provider:
      prometheus:
        query: |
          sum(rate(http_requests_total{app="payment",version="canary",code=~"5.."}[1m]))
          / sum(rate(http_requests_total{app="payment",version="canary"}[1m]))
"""
