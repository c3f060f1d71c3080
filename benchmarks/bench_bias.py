"""Benchmark: length, position and style bias on simulated judgments (default 1M).

Run from the repository root: ``python benchmarks/bench_bias.py [--quick] [--n N]``, or
``python benchmarks/bench_bias.py --coverage R`` for a quick coverage check of the headline
intervals (R replicates of 40 heterogeneous annotators, see :func:`heterogeneous`).
The peer is a hand-written statsmodels GLM with prompt-clustered SEs on the same
design, which is the core of ``length_bias``'s slope (a user's do-it-yourself route).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import measure, report

import prefqa as pq


def _simulate(n_judgments: int):
    n_prompts = max(n_judgments // 9, 10)  # 3 comparisons x 3 judgments per prompt
    return pq.simulate(n_prompts=n_prompts, n_annotators=300, n_length_biased=10, n_position_biased=10,
                       length_effect=0.5, position_effect=0.2, rng=0)[0]


def _cpu(fn):
    """Wrap ``fn`` so its value starts with the CPU seconds it used (robust to a busy machine)."""
    def wrapped(*args):
        c0 = time.process_time()
        value = fn(*args)
        return f"cpu {time.process_time() - c0:.1f}s | {value}"
    wrapped.__name__ = fn.__name__
    return wrapped


def _length(data):
    res = pq.length_bias(data)
    return f"slope {res.slope:.3f} p_longer {res.estimate:.3f}"


def _position(data):
    res = pq.position_bias(data)
    return f"P(a) {res.estimate:.3f}"


def _style(data):
    res = pq.style_bias(data)
    return f"{len(res.table)} features"


def _all_three(data):
    return (_length(data), _position(data), _style(data))


def _statsmodels_glm(data):
    import statsmodels.api as sm

    from prefqa.features import judgment_features

    x = judgment_features(data, ["length"])["length"].to_numpy()
    c = data.choice_codes()
    ca, cb, labels = data.model_codes()
    m = np.zeros((len(c), len(labels)))
    m[np.arange(len(c)), ca] += 1
    m[np.arange(len(c)), cb] -= 1
    use = c < 2
    X = np.column_stack([np.ones(len(c)), x, m[:, 1:]])[use]
    fit = sm.GLM((c[use] == 0).astype(float), X, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": data.codes("prompt_id")[0][use]})
    return f"slope {fit.params[1]:.3f}"


def heterogeneous(rng, *, n_annotators=40, n_comparisons=600, per_comparison=3, position_sd=0.8,
                  slope_mean=0.4, slope_sd=0.6, comparison_sd=1.0, per_prompt=2):
    """Judgments by heterogeneous annotators: logit P(a) = pos_j + o * (d_c + u_c + s_j * x_c).

    ``pos_j ~ N(0, position_sd)`` (population P(a) = 1/2 exactly by symmetry), ``s_j ~ N(slope_mean,
    slope_sd)``, a comparison random effect ``u_c ~ N(0, comparison_sd)``, quality ``d_c ~ N(0, 1)``,
    display order ``o`` random per judgment; ``x_c`` is prefqa's tanh length covariate of the texts.
    Returns ``(data, x1, o)`` with ``x1`` the covariate of response 1 shown first.
    """
    import pandas as pd

    n = n_comparisons * per_comparison
    l1 = rng.integers(50, 600, n_comparisons)
    l2 = rng.integers(50, 600, n_comparisons)
    scale = np.sqrt(np.mean((l1 - l2) ** 2.0))
    x1 = np.tanh((l1 - l2) / scale)
    pos = rng.normal(0, position_sd, n_annotators)
    slope = rng.normal(slope_mean, slope_sd, n_annotators)
    d = rng.normal(0, 1, n_comparisons) + rng.normal(0, comparison_sd, n_comparisons)
    comp = np.repeat(np.arange(n_comparisons), per_comparison)
    ann = np.concatenate([rng.choice(n_annotators, per_comparison, replace=False) for _ in range(n_comparisons)])
    o = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    eta = pos[ann] + o * (d[comp] + slope[ann] * x1[comp])
    chose_a = rng.random(n) < 1 / (1 + np.exp(-eta))
    first_is_1 = o > 0
    r1 = np.char.add("r1-", comp.astype(str))
    r2 = np.char.add("r2-", comp.astype(str))
    j = pd.DataFrame({"comparison_id": np.char.add("c", comp.astype(str)), "annotator_id": np.char.add("a", ann.astype(str)),
                      "prompt_id": np.char.add("p", (comp // per_prompt).astype(str)),
                      "response_a_id": np.where(first_is_1, r1, r2), "response_b_id": np.where(first_is_1, r2, r1),
                      "choice": np.where(chose_a, "a", "b")})
    ids = np.concatenate([np.char.add("r1-", np.arange(n_comparisons).astype(str)),
                          np.char.add("r2-", np.arange(n_comparisons).astype(str))])
    texts = ["x" * int(k) for k in np.concatenate([l1, l2])]
    responses = pd.DataFrame({"response_id": ids, "prompt_id": np.char.add("p", (np.concatenate(
        [np.arange(n_comparisons)] * 2) // per_prompt).astype(str)), "text": texts})
    prompts = pd.DataFrame({"prompt_id": np.unique(responses["prompt_id"]), "text": "q"})
    return pq.PreferenceData(j, responses, prompts), x1, o


def coverage(replicates: int, seed: int = 0, cluster: str = "auto") -> None:
    """Coverage of the headline 95% intervals against population values on :func:`heterogeneous` data."""
    import statsmodels.api as sm

    rng = np.random.default_rng(seed)
    # population values of the marginal slope and P(longer chosen): one very large design
    big, _, _ = heterogeneous(rng, n_annotators=4000, n_comparisons=60_000, per_comparison=3)
    from prefqa.features import judgment_features
    xb = judgment_features(big, ["length"])["length"].to_numpy()
    yb = (big.choice_codes() == 0).astype(float)
    pop_slope = float(sm.GLM(yb, np.column_stack([np.ones(len(yb)), xb]), family=sm.families.Binomial()).fit().params[1])
    pop_longer = pq.length_bias(big, cluster="none", control_models=False).estimate
    print(f"population: P(a) 0.5, position logit 0, slope {pop_slope:.4f}, P(longer) {pop_longer:.4f}")
    hits = {"P(a)": [], "position logit": [], "P(longer chosen)": [], "length slope": []}
    ses, ests = [], []
    t0 = time.perf_counter()
    for _ in range(replicates):
        data, _, _ = heterogeneous(rng)
        pb = pq.position_bias(data, cluster=cluster)
        lb = pq.length_bias(data, cluster=cluster)
        hits["P(a)"].append(pb.confidence_interval.low <= 0.5 <= pb.confidence_interval.high)
        hits["position logit"].append(pb.logit_confidence_interval.low <= 0 <= pb.logit_confidence_interval.high)
        hits["P(longer chosen)"].append(lb.confidence_interval.low <= pop_longer <= lb.confidence_interval.high)
        hits["length slope"].append(lb.slope_confidence_interval.low <= pop_slope <= lb.slope_confidence_interval.high)
        ses.append(lb.slope_std_error)
        ests.append(lb.slope)
    print(f"{replicates} replicates in {time.perf_counter() - t0:.0f} s, cluster={cluster!r}")
    for name, h in hits.items():
        cov = float(np.mean(h))
        print(f"  {name:<18} coverage {cov:.3f} (MC SE {np.sqrt(cov * (1 - cov) / replicates):.3f})")
    print(f"  slope: mean SE / SD over replicates = {np.mean(ses) / np.std(ests, ddof=1):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10k judgments smoke run")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--coverage", type=int, default=0, help="replicates of the coverage check")
    parser.add_argument("--cluster", default="auto")
    args = parser.parse_args()
    if args.coverage:
        coverage(args.coverage, cluster=args.cluster)
        return
    n = 10_000 if args.quick else args.n
    import statsmodels.api  # noqa: F401  imported once in the parent so no child pays for it

    from prefqa import bias  # noqa: F401
    t0 = time.perf_counter()
    data = _simulate(n)
    print(f"simulated {data.n_judgments:,} judgments in {time.perf_counter() - t0:.1f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    results = [
        measure("statsmodels GLM (slope only)", _cpu(_statsmodels_glm), data),
        measure("pq.length_bias", _cpu(_length), data),
        measure("pq.position_bias", _cpu(_position), data),
        measure("pq.style_bias", _cpu(_style), data),
        measure("length+position+style (one process)", _cpu(_all_three), data),
    ]
    report(results, baseline="statsmodels GLM (slope only)",
           title=f"bias analyses on {data.n_judgments:,} judgments (features not cached before each call)")


if __name__ == "__main__":
    main()
