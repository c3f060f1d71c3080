"""Benchmark: length, position and style bias on simulated judgments (default 1M).

Run from the repository root: ``python benchmarks/bench_bias.py [--quick] [--n N]``.
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
from _harness import measure, report  # noqa: E402

import prefqa as pq  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10k judgments smoke run")
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
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
