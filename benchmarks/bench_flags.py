"""Benchmark: annotator_table + flag_prompts + length_bias on 1M simulated judgments (issue 5).

Target: under 30 s in total on 2 cores, not counting the crossed-model fit
(``length_bias`` runs with its default ``use_mixed_model=False``). Each call
runs once in a fresh forked child (see ``_harness.py``); the ``all three``
row runs them back to back in one child, so the text features are computed
once and shared, as in an audit. The last two rows time the per-annotator
length slopes: prefqa's one implementation (``bias._per_annotator``:
vectorized Newton, clustered SEs and the pool test, features cached) against
statsmodels' ``Logit`` in a loop over annotators (point estimates only) on
arrays prepared in the parent.
``annotator_table`` runs ``pq.consensus(method="dawid_skene")`` itself (on
one comparison in k above 100k judgments); an audit that already has a
consensus result passes it with ``consensus=``. The machine's load average
is printed before and after: on a shared machine wall times inflate with it.

Run from the repository root::

    python benchmarks/bench_flags.py            # 1M judgments
    python benchmarks/bench_flags.py --quick    # 30k judgments smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import measure, report  # noqa: E402

import prefqa as pq  # noqa: E402
import prefqa.annotators  # noqa: E402,F401  (imported before forking: import time is not measured)
import prefqa.bias  # noqa: E402,F401
import prefqa.prompts  # noqa: E402,F401
import statsmodels.discrete.discrete_model  # noqa: E402,F401


def _all_three(data):
    t = pq.annotator_table(data)
    f = pq.flag_prompts(data)
    lb = pq.length_bias(data)
    return f"{int(t['flagged'].sum())} annotators, {int(f['flagged'].sum())} prompts flagged; slope {lb.slope:.2f}" \
        if hasattr(lb, "slope") else f"{int(t['flagged'].sum())} annotators, {int(f['flagged'].sum())} prompts flagged"


def _annotators(data):
    t = pq.annotator_table(data)
    return f"{int(t['flagged'].sum())} of {len(t)} flagged"


def _prompts(data):
    f = pq.flag_prompts(data)
    return f"{int(f['flagged'].sum())} of {int(f['tested'].sum())} tested flagged"


def _length(data):
    pq.length_bias(data)
    return "done"


def _slope_inputs(data):
    """Per-judgment arrays for the slope rows, prepared once in the parent (not timed)."""
    from prefqa.annotators._metrics import codes_for, length_covariate

    _, c = codes_for(data)
    return c, length_covariate(data)[c.mask]


def _statsmodels_slopes(c, x):
    from statsmodels.discrete.discrete_model import Logit

    keep = (c.displayed < 2) & np.isfinite(x)
    y = (c.displayed == 0).astype(float)
    slopes = []
    for a in range(c.n_ann):  # the loop prefqa's vectorized Newton replaces
        m = keep & (c.ann == a)
        fit = Logit(y[m], np.column_stack([np.ones(m.sum()), x[m]])).fit(disp=0)
        slopes.append(fit.params[1])
    return f"{len(slopes)} slopes"


def _ours_slopes(data):
    """The one per-annotator length implementation (slopes, clustered SEs and the pool test)."""
    from prefqa.bias._per_annotator import annotator_length_tests

    t = annotator_length_tests(data)
    return f"{int(t['length_slope'].notna().sum())} slopes"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30k judgments instead of 1M")
    args = parser.parse_args(argv)
    n_prompts = 3_334 if args.quick else 111_112  # x 3 comparisons x 3 judgments
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    data, _ = pq.simulate(n_prompts=n_prompts, n_annotators=300, n_spammers=10, n_position_biased=10,
                          n_length_biased=10, n_always_a=5, n_ambiguous_prompts=n_prompts // 20,
                          with_text=True, rng=0)
    print(f"simulated {data.n_judgments:,} judgments in {time.perf_counter() - t0:.1f} s "
          f"({data.n_annotators} annotators, {data.n_prompts:,} prompts)", flush=True)
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    rows = [
        measure("annotator_table", _annotators, data),
        measure("flag_prompts", _prompts, data),
        measure("length_bias", _length, data),
        measure("all three (one process)", _all_three, data),
    ]
    c, x = _slope_inputs(data)
    rows += [
        measure("prefqa per-annotator length tests", _ours_slopes, data),
        measure("statsmodels Logit loop", _statsmodels_slopes, c, x),
    ]
    report(rows, baseline="statsmodels Logit loop",
           title=f"bench_flags: {data.n_judgments:,} judgments, 2-core target < 30 s for all three")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
