"""Benchmark: Bradley-Terry at 1M judgments over 200 models (issue 4 table rows 4-5).

Run from the repository root::

    python benchmarks/bench_bradley_terry.py          # 1M judgments, 200 models
    python benchmarks/bench_bradley_terry.py --quick  # 50k judgments, 50 models

Rows timed (each in a fresh forked child, see _harness.py):

* prefqa BT with 4 style covariates (a DataFrame of normalised differences,
  one row per judgment) and sandwich CIs;
* prefqa plain BT (ties='half', no covariates) with 1,000 bootstrap
  resamples over unique (i, j, outcome) rows;
* prefqa BT with the 4 covariates and a bootstrap over reweighted rows
  (rows do not compress), with few resamples, to document its cost;
* the same judgments regrouped as comparisons judged by 3-5 of 100 annotators
  (the ids only: same rows, same choices): plain BT with 1,000 bootstrap
  resamples of comparisons (compressed into vote patterns), and the
  default two-way (annotator x comparison) sandwich;
* prefqa plain BT point fit (ci=None), and choix's ``ilsr_pairwise`` and
  ``opt_pairwise`` on the same judgments as (winner, loser) pairs with ties
  dropped (choix has no ties), for a ratio in the same run.

Data are drawn from a Davidson model with known strengths so the printed
value (Spearman correlation with the truth) checks that every fit is sane.
Each value also gives the child's CPU seconds: on a shared machine the
wall time counts the time spent waiting for a core, the CPU time does not.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import measure, report  # noqa: E402

import prefqa as pq  # noqa: E402


def make_data(n: int, k: int, seed: int = 0) -> tuple[pq.PreferenceData, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 1.0, k)
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    z = rng.uniform(-1, 1, (n, 4))
    beta = np.array([0.4, 0.1, 0.1, 0.05])
    d = strength[a] - strength[b] + z @ beta
    nu = 0.5
    den = np.exp(d / 2) + np.exp(-d / 2) + nu
    u = rng.random(n)
    pa = np.exp(d / 2) / den
    pt = nu / den
    choice = np.where(u < pa, "a", np.where(u < pa + pt, "tie", "b"))
    models = np.array([f"model_{m:03d}" for m in range(k)], dtype=object)
    j = pd.DataFrame({"comparison_id": np.arange(n).astype(str), "annotator_id": None,
                      "choice": choice, "model_a": models[a], "model_b": models[b]})
    cov = pd.DataFrame(z, columns=["length", "headers", "lists", "bold"])
    return pq.PreferenceData(j), pd.Series(strength, index=models), cov


def regroup(data: pq.PreferenceData, n_annotators: int = 100, seed: int = 1) -> pq.PreferenceData:
    """The same judgments as comparisons judged by 3-5 distinct annotators (ids only)."""
    rng = np.random.default_rng(seed)
    j = data.judgments.copy()
    n = len(j)
    sizes = rng.integers(3, 6, n // 3)
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), n)) + 1]
    comp = np.repeat(np.arange(len(sizes)), sizes)[:n]
    slot = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)[:n]
    offset = rng.integers(0, n_annotators, len(sizes))
    first = np.flatnonzero(np.r_[True, comp[1:] != comp[:-1]])
    # every judgment of a comparison names that comparison's first pair
    j["model_a"] = j["model_a"].to_numpy()[first][comp]
    j["model_b"] = j["model_b"].to_numpy()[first][comp]
    j["comparison_id"] = comp.astype(str)
    j["annotator_id"] = ((offset[comp] + slot * 7) % n_annotators).astype(str)
    return pq.PreferenceData(j)


def spearman(est: pd.Series, truth: pd.Series) -> float:
    return float(stats.spearmanr(est.reindex(truth.index), truth).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke size")
    args = parser.parse_args()
    n, k, boots = (50_000, 50, 200) if args.quick else (1_000_000, 200, 1000)
    data, truth, cov = make_data(n, k)
    print(f"{n:,} judgments, {k} models, {boots} bootstrap resamples (2 cores)", flush=True)

    row_boots = 5 if args.quick else 20

    def style_sandwich() -> str:
        c0 = time.process_time()
        r = pq.fit_bradley_terry(data, covariates=cov, ci="sandwich")
        return (f"cpu={time.process_time() - c0:.2f}s rho={spearman(r.scores['estimate'], truth):.4f} "
                f"beta={r.coefficients['estimate'].round(3).tolist()}")

    def plain_bootstrap() -> str:
        c0 = time.process_time()
        r = pq.fit_bradley_terry(data, ties="half", ci="bootstrap", n_resamples=boots, rng=0)
        return (f"cpu={time.process_time() - c0:.2f}s rho={spearman(r.scores['estimate'], truth):.4f} "
                f"conv={r.converged} {len(r.warnings)} warnings")

    def style_row_bootstrap() -> str:
        c0 = time.process_time()
        r = pq.fit_bradley_terry(data, covariates=cov, ci="bootstrap", n_resamples=row_boots, rng=0)
        return f"cpu={time.process_time() - c0:.2f}s conv={r.converged} {len(r.warnings)} warnings"

    grouped = regroup(data)

    def grouped_bootstrap() -> str:
        c0 = time.process_time()
        r = pq.fit_bradley_terry(grouped, ties="half", ci="bootstrap", cluster="comparison",
                                 n_resamples=boots, rng=0)
        return (f"cpu={time.process_time() - c0:.2f}s rho={spearman(r.scores['estimate'], truth):.4f} "
                f"conv={r.converged} {len(r.warnings)} warnings")

    def grouped_two_way() -> str:
        c0 = time.process_time()
        r = pq.fit_bradley_terry(grouped, ties="half")
        return f"cpu={time.process_time() - c0:.2f}s cluster={r.cluster} {len(r.warnings)} warnings"

    def plain_point() -> str:
        c0 = time.process_time()
        r = pq.fit_bradley_terry(data, ties="drop", ci=None)
        return f"cpu={time.process_time() - c0:.2f}s rho={spearman(r.scores['estimate'], truth):.4f}"

    ia, ib, labels = data.model_codes()
    c = data.choice_codes()
    keep = c < 2
    pairs = np.column_stack([np.where(c == 0, ia, ib), np.where(c == 0, ib, ia)])[keep]

    def choix_ilsr() -> str:
        import choix
        c0 = time.process_time()
        est = choix.ilsr_pairwise(len(labels), pairs, alpha=0.0)
        return f"cpu={time.process_time() - c0:.2f}s rho={spearman(pd.Series(est, index=labels), truth):.4f}"

    def choix_opt() -> str:
        import choix
        est = choix.opt_pairwise(len(labels), pairs, alpha=1e-6)
        return f"rho={spearman(pd.Series(est, index=labels), truth):.4f}"

    ms = [
        measure("prefqa BT + 4 covariates, sandwich", style_sandwich),
        measure(f"prefqa plain BT, {boots} bootstrap", plain_bootstrap),
        measure(f"prefqa BT + 4 cov, {row_boots} row bootstrap", style_row_bootstrap),
        measure(f"prefqa BT, 3-5 judges, {boots} comparison boot", grouped_bootstrap),
        measure("prefqa BT, 3-5 judges, two-way sandwich", grouped_two_way),
        measure("prefqa plain BT, point fit", plain_point),
        measure("choix ilsr_pairwise (ties dropped)", choix_ilsr),
    ]
    if args.quick:  # opt_pairwise loops over rows in Python; minutes at 1M
        ms.append(measure("choix opt_pairwise (ties dropped)", choix_opt))
    report(ms, baseline="choix ilsr_pairwise (ties dropped)",
           title="Bradley-Terry, targets: covariates+sandwich < 10 s, bootstrap < 20 s at 1M")


if __name__ == "__main__":
    main()
