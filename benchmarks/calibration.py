"""Calibration study: do prefqa's headline intervals cover at their nominal rate?

Each replicate simulates a fresh data set with :func:`prefqa.simulate`
(heterogeneous annotators, correlated judgments within comparisons, or a
fixed panel of 5 annotators judging new items), runs the analyses with
their default (analytic) standard errors, and scores every 95% interval
against the value the estimator targets: the simulator's population value
(:attr:`~prefqa.simulate.SimulationTruth.population`, marginal over the
random effects; :attr:`~prefqa.simulate.SimulationTruth.fixed_annotators`
for the fixed panel, whose annotators are the population of interest),
computed once per design on a design :data:`TARGET_SCALE` times a
replicate's size, so that it is also averaged over designs (which models
meet, lengths, display orders), as the replicates are.

Reported per interval: coverage (share of intervals containing the target)
with its binomial SE, and the SE ratio: mean reported standard error over
the SD of the estimate across replicates. Bradley-Terry pools the intervals
of all models for coverage and averages the per-model SE ratios;
``style_bias`` pools its feature coefficients the same way (each scored
against the population coefficient of the same GLM,
:meth:`~prefqa.simulate.SimulationTruth.population_logit`). Target:
coverage 0.93-0.97, SE ratio 0.85-1.15.

Run from the repository root::

    python benchmarks/calibration.py --replicates 1500
    python benchmarks/calibration.py --quick          # 100 replicates per design

``pq.agreement``'s bootstrap CI of Krippendorff's alpha is scored the same way
against the simulator's population alpha (fewer replicates:
``--agreement-replicates``, default a fifth of ``--replicates``).

``tests/test_calibration.py`` runs the same study (200 replicates per design).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

import prefqa as pq

#: Designs of the study: simulate() options, and which truth the intervals are scored against.
DESIGNS: dict[str, dict[str, Any]] = {
    # 40 annotators whose position logits are N(0, 0.8) and length slopes N(0.4, 0.6), a comparison
    # random effect, 3 judgments per comparison: 2,250 judgments (issue 11's study)
    "heterogeneous": {"target": "population", "options": {
        "n_prompts": 250, "n_annotators": 40, "judgments_per_comparison": 3, "position_sd": 0.8,
        "length_effect": 0.4, "length_slope_sd": 0.6, "comparison_sd": 0.5}},
    # homogeneous annotators, strongly correlated judgments within comparisons (5 per comparison)
    "comparisons": {"target": "population", "options": {
        "n_prompts": 150, "n_annotators": 40, "judgments_per_comparison": 5, "length_effect": 0.4, "comparison_sd": 1.0}},
    # 5 heterogeneous annotators, scored against the value conditional on the drawn annotators
    "few_annotators": {"target": "fixed_annotators", "options": {
        "n_prompts": 250, "n_annotators": 5, "judgments_per_comparison": 3, "position_sd": 0.8,
        "length_effect": 0.4, "length_slope_sd": 0.6, "comparison_sd": 0.5}},
}

#: Headline intervals scored in every design: (label, analysis, row of its to_frame(), population key).
INTERVALS: tuple[tuple[str, str, str, str], ...] = (
    ("position_bias P(a)", "position", "p_choose_a", "p_choose_a"),
    ("position_bias logit", "position", "position_logit", "position_logit"),
    ("length_bias P(longer)", "length", "p_longer_chosen", "p_longer_chosen"),
    ("length_bias slope", "length", "length_slope", "length_slope"),
)


@dataclass
class Scores:
    """Per-replicate estimates, SEs, interval bounds and targets of one interval."""

    estimate: list[float] = field(default_factory=list)
    std_error: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    target: list[float] = field(default_factory=list)
    group: list[str] = field(default_factory=list)

    def add(self, row: pd.Series, target: float, group: str = "") -> None:
        self.estimate.append(float(row["estimate"]))
        self.std_error.append(float(row["std_error"]))
        self.low.append(float(row["ci_low"]))
        self.high.append(float(row["ci_high"]))
        self.target.append(float(target))
        self.group.append(group)

    def summary(self) -> dict[str, float]:
        est, se = np.asarray(self.estimate), np.asarray(self.std_error)
        lo, hi, tg = np.asarray(self.low), np.asarray(self.high), np.asarray(self.target)
        ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(tg)
        covered = (lo[ok] <= tg[ok]) & (tg[ok] <= hi[ok])
        n = int(ok.sum())
        cov = float(covered.mean()) if n else np.nan
        spread = est
        groups = np.asarray(self.group)
        ratios = []
        for g in np.unique(groups):  # one SE ratio per model for Bradley-Terry, averaged
            fin = (groups == g) & np.isfinite(spread) & np.isfinite(se)
            if fin.sum() > 2:
                ratios.append(np.mean(se[fin]) / np.std(spread[fin], ddof=1))
        ratio = float(np.mean(ratios)) if ratios else np.nan
        return {"coverage": cov, "coverage_se": float(np.sqrt(cov * (1 - cov) / n)) if n else np.nan,
                "se_ratio": ratio, "replicates": n}


def _model_columns(data: Any, models: pd.Index) -> np.ndarray:
    """+1 for the model shown first, -1 for the second, first model dropped (as the bias GLMs)."""
    j = data.judgments
    mat = np.zeros((len(j), len(models)))
    mat[np.arange(len(j)), models.get_indexer(j["model_a"])] += 1.0
    mat[np.arange(len(j)), models.get_indexer(j["model_b"])] -= 1.0
    return mat[:, 1:]


def _style_targets(data: Any, truth: Any, names: list[str], conditional: bool) -> pd.Series:
    """Population coefficients of style_bias's GLM: position + the features + model strengths."""
    from prefqa.features import judgment_features

    feats = judgment_features(data, names).to_numpy()
    X = np.column_stack([np.ones(data.n_judgments), feats, _model_columns(data, truth.model_strengths.index)])
    beta = truth.population_logit(X, fixed_annotators=conditional)
    return pd.Series(beta[1:1 + len(names)], index=names)


def _strength_rows(result: Any) -> pd.DataFrame:
    frame = result.to_frame()
    return frame[frame["kind"] == "strength"].set_index("term")


#: The targets come from one design this many times a replicate's size (same options), computed once per
#: design: the simulator's population values of that design approximate the super-population value (over
#: designs as well as random effects). Design-to-design noise left in them: about 0.25 / sqrt(n comparisons),
#: 0.001 for rates at 60,000 comparisons, about 5% of a replicate's SE (coverage moves by about 0.001).
TARGET_SCALE = 80
ALPHA_TARGET_SCALE = 20
STYLE_FEATURES = ["length", "headers", "lists", "bold"]


@cache
def panel(name: str, seed: int) -> pd.DataFrame | None:
    """The fixed annotator panel of a fixed-annotator design (None for the others)."""
    spec = DESIGNS[name]
    if spec["target"] != "fixed_annotators":
        return None
    return pq.simulate(rng=seed * 100_003 + 99_991, **spec["options"])[1].annotators


def _big(name: str, seed: int, scale: int) -> tuple[Any, Any, bool]:
    spec = DESIGNS[name]
    options = {**spec["options"], "n_prompts": spec["options"]["n_prompts"] * scale}
    data, truth = pq.simulate(rng=seed * 100_003 + 99_992, annotators=panel(name, seed), **options)
    return data, truth, spec["target"] == "fixed_annotators"


@cache
def targets(name: str, seed: int) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Headline values, Bradley-Terry strengths and style coefficients every replicate is scored against."""
    data, truth, conditional = _big(name, seed, TARGET_SCALE)
    head = truth.fixed_annotators if conditional else truth.population
    strengths = truth.fixed_annotator_strengths if conditional else truth.population_strengths
    return head, strengths, _style_targets(data, truth, STYLE_FEATURES, conditional)


@cache
def alpha_target(name: str, seed: int) -> float:
    """The population Krippendorff alpha every agreement replicate is scored against."""
    _, truth, conditional = _big(name, seed, ALPHA_TARGET_SCALE)
    return truth.fixed_annotator_alpha if conditional else truth.population_alpha


def _replicate(name: str, seed: int, r: int) -> tuple[Any, Any]:
    spec = DESIGNS[name]
    return pq.simulate(rng=seed * 100_003 + r, annotators=panel(name, seed), **spec["options"])


def run_design(name: str, replicates: int, seed: int = 0, max_seconds: float = np.inf,
               style: bool = True) -> pd.DataFrame:
    """Run ``replicates`` replicates of one design; return one row per interval.

    Stops early once ``max_seconds`` have passed (the ``replicates`` column
    says how many ran). ``style=False`` leaves ``style_bias`` out (a third
    of the time per replicate).
    """
    scores: dict[str, Scores] = {label: Scores() for label, *_ in INTERVALS}
    if style:
        scores["style_bias coefficients"] = Scores()
    scores["fit_bradley_terry sandwich"] = Scores()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        head, strengths, style_values = targets(name, seed)
        start = time.perf_counter()
        for r in range(replicates):
            if time.perf_counter() - start > max_seconds:
                break
            data, _ = _replicate(name, seed, r)
            frames = {"position": pq.position_bias(data).to_frame(), "length": pq.length_bias(data).to_frame()}
            for label, analysis, term, key in INTERVALS:
                scores[label].add(frames[analysis].loc[term], head[key])
            if style:
                table = pq.style_bias(data, features=STYLE_FEATURES).to_frame()
                for feature, value in style_values.items():
                    if np.isfinite(table.loc[feature, "estimate"]):  # not estimable: no interval to score
                        scores["style_bias coefficients"].add(table.loc[feature], value, str(feature))
            bt = _strength_rows(pq.fit_bradley_terry(data, ci="sandwich"))
            for model, value in strengths.items():
                scores["fit_bradley_terry sandwich"].add(bt.loc[model], value, str(model))
    seconds = time.perf_counter() - start
    rows = [{"design": name, "interval": label, **s.summary(), "seconds": seconds} for label, s in scores.items()]
    return pd.DataFrame(rows)


def run_agreement(name: str, replicates: int, seed: int = 0, max_seconds: float = np.inf,
                  n_resamples: int = 400) -> pd.DataFrame:
    """Calibration of ``pq.agreement``'s bootstrap interval for Krippendorff's alpha (one row).

    Scored against :func:`alpha_target`; ``n_resamples`` bootstrap
    resamples per replicate.
    """
    scores = Scores()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        target = alpha_target(name, seed)
        start = time.perf_counter()
        for r in range(replicates):
            if time.perf_counter() - start > max_seconds:
                break
            data, _ = _replicate(name, seed, 50_000 + r)
            frame = pq.agreement(data, n_resamples=n_resamples, rng=r).to_frame()
            row = frame[(frame["coefficient"] == "krippendorff_alpha") & (frame["target"] == "choice")].iloc[0]
            scores.add(row, target)
    seconds = time.perf_counter() - start
    return pd.DataFrame([{"design": name, "interval": "agreement alpha (default CI)", **scores.summary(),
                          "seconds": seconds}])


def run_study(replicates: int, designs: tuple[str, ...] = tuple(DESIGNS), seed: int = 0) -> pd.DataFrame:
    """Every design of :data:`DESIGNS`; one row per (design, interval)."""
    return pd.concat([run_design(d, replicates, seed) for d in designs], ignore_index=True)


HEADER = (f"{'design':<15} {'interval':<29} {'coverage':>8} {'(SE)':>7} {'SE ratio':>8} "
          f"{'reps':>5} {'seconds':>8}")


def format_table(table: pd.DataFrame, header: bool = True) -> str:
    """The study as a plain-text table (``reps``: intervals scored; Bradley-Terry has one per model)."""
    lines = [HEADER] if header else []
    for row in table.itertuples():
        ratio = "n/a" if not np.isfinite(row.se_ratio) else f"{row.se_ratio:.3f}"
        lines.append(f"{row.design:<15} {row.interval:<29} {row.coverage:>8.3f} {row.coverage_se:>7.3f} "
                     f"{ratio:>8} {row.replicates:>5d} {row.seconds:>8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1500, help="replicates per design (default 1500)")
    parser.add_argument("--quick", action="store_true", help="100 replicates per design")
    parser.add_argument("--designs", nargs="*", default=list(DESIGNS), choices=list(DESIGNS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=np.inf,
                        help="stop each design after this many seconds (the table shows the replicates run)")
    parser.add_argument("--agreement-replicates", type=int, default=None,
                        help="replicates of the agreement study per design (default: a fifth of --replicates)")
    args = parser.parse_args(argv)
    reps = 100 if args.quick else args.replicates
    print(f"prefqa {pq.__version__}: calibration of 95% intervals, {reps} replicates per design")
    for name in args.designs:
        opts = ", ".join(f"{k}={v}" for k, v in DESIGNS[name]["options"].items())
        print(f"  {name}: {opts}; scored against truth.{DESIGNS[name]['target']}")
    agree_reps = args.agreement_replicates if args.agreement_replicates is not None else max(reps // 5, 20)
    print(HEADER, flush=True)
    for name in args.designs:
        print(format_table(run_design(name, reps, args.seed, args.max_seconds), header=False), flush=True)
        print(format_table(run_agreement(name, agree_reps, args.seed, args.max_seconds / 3), header=False),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
