"""Benchmark: pq.krippendorff_alpha vs krippendorff.alpha (dense), pq.agreement bootstrap, ICC bootstrap.

Run from the repository root: ``python benchmarks/bench_reliability.py [--quick] [--comparisons N]``.
Setup (issue 3): 1M units, 500 annotators, 3 judgments per unit, 5 ordinal categories.
pq.agreement is timed in both orientations (issue 11: 'symmetric', the default, counts every
comparison in both orientations inside the pattern compression; 'as_stored' is the old behaviour).
pq.icc on an incomplete design (each unit rated by 3 of 40 raters) times the bootstrap intervals.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import measure, report


def make_long(n_units: int, n_raters: int, per_unit: int, n_cat: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_cat, n_units)
    # distinct raters per unit: offset trick (r, r + s, r + 2s) mod n_raters
    start = rng.integers(0, n_raters, n_units)
    step = rng.integers(1, n_raters // per_unit, n_units)
    raters = (start[:, None] + step[:, None] * np.arange(per_unit)) % n_raters
    noise = rng.integers(-1, 2, (n_units, per_unit)) * (rng.random((n_units, per_unit)) < 0.4)
    values = np.clip(truth[:, None] + noise, 0, n_cat - 1) + 1
    return pd.DataFrame({"unit": np.repeat(np.arange(n_units), per_unit), "rater": raters.ravel(),
                         "value": values.ravel()})


def ours(frame: pd.DataFrame) -> float:
    import prefqa as pq
    return pq.krippendorff_alpha(frame, unit="unit", rater="rater", value="value", level="ordinal")


def peer(frame: pd.DataFrame, n_raters: int, n_units: int) -> float:
    import krippendorff
    dense = np.full((n_raters, n_units), np.nan)
    dense[frame["rater"].to_numpy(), frame["unit"].to_numpy()] = frame["value"].to_numpy()
    return float(krippendorff.alpha(reliability_data=dense, level_of_measurement="ordinal"))


def agreement_10m(n_comparisons: int, n_resamples: int, orientation: str = "symmetric") -> float:
    import prefqa as pq
    rng = np.random.default_rng(1)
    k = rng.integers(1, 8, n_comparisons)  # 1-7 judgments per comparison, mean 4
    comp = np.repeat(np.arange(n_comparisons), k)
    pos = np.arange(len(comp)) - np.repeat(np.cumsum(k) - k, k)
    ann = (rng.integers(0, 5000, n_comparisons)[comp] + 37 * pos) % 5000
    truth = rng.integers(0, 3, n_comparisons)[comp]
    choice = np.where(rng.random(len(comp)) < 0.75, truth, rng.integers(0, 3, len(comp)))
    j = pd.DataFrame({"comparison_id": comp, "annotator_id": ann, "choice": np.array(["a", "b", "tie"])[choice]})
    data = pq.PreferenceData(j)
    import time
    t0 = time.perf_counter()
    kw = {} if orientation is None else {"orientation": orientation}  # None: a version without the option
    res = pq.agreement(data, n_resamples=n_resamples, rng=0, **kw)
    print(f"  agreement ({orientation}) on {data.n_judgments:,} judgments, {n_resamples} resamples: "
          f"{time.perf_counter() - t0:.2f} s (excluding data construction); alpha {res.alpha:.6f}", flush=True)
    return res.alpha


def icc_incomplete(n_units: int, n_raters: int, n_resamples: int, ci: str) -> float:
    import prefqa as pq
    rng = np.random.default_rng(2)
    unit = np.repeat(np.arange(n_units), 3)
    rater = np.argsort(rng.random((n_units, n_raters)), axis=1)[:, :3].ravel()
    y = rng.normal(0, 1, n_units)[unit] + rng.normal(0, 0.5, n_raters)[rater] + rng.normal(0, 0.8, len(unit))
    frame = pd.DataFrame({"unit": unit, "rater": rater, "value": y})
    res = pq.icc(frame, unit="unit", rater="rater", value="value", ci=ci, n_resamples=n_resamples, rng=0)
    return float(res.table.loc["ICC2", "ci_high"] - res.table.loc["ICC2", "ci_low"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small smoke sizes")
    ap.add_argument("--comparisons", type=int, default=None, help="comparisons for the agreement benchmark")
    ap.add_argument("--agreement-only", action="store_true")
    ap.add_argument("--old", action="store_true", help="the installed prefqa has no `orientation` option")
    args = ap.parse_args()
    n_comp = args.comparisons or (50_000 if args.quick else 2_500_000)
    if args.agreement_only:
        runs = [None] if args.old else ["symmetric", "as_stored"]
        ms = [measure(f"pq.agreement 1000 resamples ({o or 'before'})", agreement_10m, n_comp, 1000, o) for o in runs]
        report(ms, title="agreement with bootstrap (time includes building the data)")
        return
    import krippendorff  # noqa: F401  import both libraries before forking: import time is not measured

    import prefqa.reliability  # noqa: F401
    n_units, n_raters = (20_000, 500) if args.quick else (1_000_000, 500)
    frame = make_long(n_units, n_raters, 3, 5)
    m_ours = measure("prefqa.krippendorff_alpha", ours, frame)
    m_peer = measure("krippendorff.alpha (dense)", peer, frame, n_raters, n_units)
    report([m_ours, m_peer], baseline="krippendorff.alpha (dense)",
           title=f"ordinal alpha, {n_units:,} units x {n_raters} raters, 3 per unit, 5 categories")
    print(f"  |difference| = {abs(m_ours.value - m_peer.value):.3e}")
    ms = [measure(f"pq.agreement 1000 resamples ({o})", agreement_10m, n_comp, 1000, o)
          for o in ("symmetric", "as_stored")]
    report(ms, title="agreement with bootstrap (time includes building the data)")
    n_u = 2_000 if args.quick else 20_000
    mi = [measure(f"pq.icc {ci}, 1000 resamples", icc_incomplete, n_u, 40, 1000, ci)
          for ci in ("bootstrap_units", "bootstrap_units_raters")]
    report(mi, title=f"ICC on an incomplete design: {n_u:,} units x 40 raters, 3 per unit (value: ICC(A,1) CI width)")


if __name__ == "__main__":
    main()
