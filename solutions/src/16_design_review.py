"""Generator for solutions/16_design_review.ipynb (the exercise is generated from it by `hcedu build-exercises`)."""
from pathlib import Path

from hcedu.course.nbbuild import build, code, md

ROOT = Path(__file__).resolve().parents[2]

cells = [
    md("""
    # Exercise 16: the rollback decision

    A canary served `canary_n` requests with `canary_errors` failures; the stable version (the baseline)
    served `baseline_n` with `baseline_errors`. Write
    `decide(baseline_errors, baseline_n, canary_errors, canary_n, *, max_ratio=1.5, alpha=0.05, min_requests=100)`
    returning `"rollback"`, `"hold"` or `"promote"` by these rules, **in this order**:

    1. **rollback** if the canary is significantly worse *and* materially worse: the one-sided pooled
       two-proportion z-test gives p < `alpha`, and `canary rate / baseline rate > max_ratio`
       (a ratio is `inf` when the baseline has no errors and the canary has some). With no requests on a
       side, or a pooled rate of 0 or 1, there is no evidence: p = 1.
       * pooled rate `p = (be + ce) / (bn + cn)`, `se = sqrt(p (1 - p) (1/bn + 1/cn))`,
         `z = (ce/cn - be/bn) / se`, and the one-sided p-value is `P(Z > z) = erfc(z / sqrt(2)) / 2`.
    2. **hold** if either side has fewer than `min_requests` requests (too little data to promote).
    3. **promote** if the data rule out "the canary is `max_ratio` times worse or more": with the adjusted
       rates `pb = (be + 1) / (bn + 2)`, `pc = (ce + 1) / (cn + 2)`,
       `z_ni = (max_ratio * pb - pc) / sqrt(pc (1 - pc) / (cn + 2) + max_ratio² pb (1 - pb) / (bn + 2))`,
       promote when `P(Z > z_ni) < alpha`.
    4. otherwise **hold** (keep the weight, collect more requests).

    Raise `ValueError` for impossible counts (an errors count below 0 or above its n). Use only `math`.
    """),
    code("""
    import math


    def decide(baseline_errors: int, baseline_n: int, canary_errors: int, canary_n: int, *,
               max_ratio: float = 1.5, alpha: float = 0.05, min_requests: int = 100) -> str:
        \"\"\"'rollback', 'hold' or 'promote' for a canary, by the four rules above.\"\"\"
        ### BEGIN SOLUTION
        be, bn, ce, cn = baseline_errors, baseline_n, canary_errors, canary_n
        for e, n in ((be, bn), (ce, cn)):
            if n < 0 or not 0 <= e <= n:
                raise ValueError(f"errors must be in 0..n (got {e} of {n})")

        def sf(z: float) -> float:
            return 0.5 * math.erfc(z / math.sqrt(2))

        p_value, ratio = 1.0, math.nan
        if bn and cn:
            rb, rc = be / bn, ce / cn
            ratio = rc / rb if rb else (math.inf if rc else 1.0)
            pooled = (be + ce) / (bn + cn)
            se = math.sqrt(pooled * (1 - pooled) * (1 / bn + 1 / cn))
            if se:
                p_value = sf((rc - rb) / se)
        if p_value < alpha and ratio > max_ratio:
            return "rollback"
        if bn < min_requests or cn < min_requests:
            return "hold"
        pb, pc = (be + 1) / (bn + 2), (ce + 1) / (cn + 2)
        se_ni = math.sqrt(pc * (1 - pc) / (cn + 2) + max_ratio ** 2 * pb * (1 - pb) / (bn + 2))
        if sf((max_ratio * pb - pc) / se_ni) < alpha:
            return "promote"
        return "hold"
        ### END SOLUTION
    """),
    md("""
    Try it on the three situations from the chapter: a clear regression, a 5 % canary one minute in, and a
    canary as good as the baseline.
    """),
    code("""
    for args in [(100, 10_000, 300, 10_000), (10, 1_000, 0, 50), (100, 10_000, 95, 10_000)]:
        try:
            print(args, "->", decide(*args))
        except NotImplementedError:
            print("… write decide() above first")
            break
    """),
    md("""
    ## Check

    Nine checks: the rules one by one, 300 seeded random cases against the chapter's `hcedu.lab.canary.judge`
    (only cases whose answer is robust to small changes of `alpha` and `max_ratio`), and bad input.
    """),
    code("""
    from hcedu.course import check

    check.canary_decision(decide)
    """),
    md("""
    **Going further.** Run your `decide` after every analysis interval of a rollout
    (`hcedu.lab.canary.simulate_rollout` shows how). Each look is another chance of a false rollback: how
    would you budget `alpha` across looks (sequential testing, e.g. alpha spending), and why do Argo Rollouts'
    `failureLimit` and Kayenta's score thresholds exist?
    """),
]

if __name__ == "__main__":
    print(build(ROOT / "solutions" / "16_design_review.ipynb", cells))
