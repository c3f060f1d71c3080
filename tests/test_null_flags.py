"""No flag from null data (issue 11, "Null data").

No annotator is biased: position logits and length slopes are all zero, annotators
differ in accuracy only (uniform on 0.3-1.7). Over 100 seeds, each of the bias steps'
flags may fire in at most 5% + 3 SE of the seeds: 0.05 + 3 * sqrt(0.05 * 0.95 / 100)
= 0.115, so at most 11 of 100. A seed counts as flagged by

* ``position_bias`` when its CI of P(first shown chosen) excludes 0.5 (the audit's
  ``position_bias`` finding, ``audit/_findings.py``);
* ``length_bias`` when its CI of P(longer chosen) excludes 0.5 (the audit's
  ``length_bias`` finding);
* the per-annotator position test when any annotator has ``flagged_position``
  (BH across annotators, so under the complete null the family-wise rate is <= fdr);
* the per-annotator length test when any annotator has ``flagged_length``.

A positive control on planted annotators shows the same flags do fire.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import prefqa as pq
from prefqa.bias._per_annotator import annotator_length_tests, annotator_position_tests

SEEDS = 100
MAX_SHARE = 0.05 + 3 * np.sqrt(0.05 * 0.95 / SEEDS)  # 0.115
DESIGN = {"n_prompts": 150, "n_annotators": 20, "judgments_per_comparison": 3, "accuracy_range": (0.3, 1.7)}


def _flags(data) -> dict[str, bool]:
    pos = pq.position_bias(data)
    length = pq.length_bias(data)
    return {
        "position_bias": not pos.confidence_interval.low <= 0.5 <= pos.confidence_interval.high,
        "length_bias": not length.confidence_interval.low <= 0.5 <= length.confidence_interval.high,
        "annotator position test": bool(annotator_position_tests(data)["flagged_position"].any()),
        "annotator length test": bool(annotator_length_tests(data)["flagged_length"].any()),
    }


@pytest.mark.slow
def test_bias_steps_stay_quiet_on_null_data():
    counts: dict[str, int] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(SEEDS):
            data, truth = pq.simulate(rng=1000 + seed, **DESIGN)
            assert (truth.annotators["position_bias"] == 0).all() and (truth.annotators["length_slope"] == 0).all()
            for name, flagged in _flags(data).items():
                counts[name] = counts.get(name, 0) + int(flagged)
    too_many = {k: v for k, v in counts.items() if v / SEEDS > MAX_SHARE}
    assert not too_many, f"flags in more than {MAX_SHARE:.3f} of {SEEDS} null seeds: {too_many} (all: {counts})"


@pytest.mark.slow
def test_the_same_flags_fire_on_planted_bias():
    hits = dict.fromkeys(("position_bias", "length_bias", "annotator position test", "annotator length test"), 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(10):
            data, _ = pq.simulate(rng=2000 + seed, position_effect=0.4, length_effect=1.0, n_position_biased=2,
                                  position_bias=2.0, n_length_biased=2, length_slope=5.0, **DESIGN)
            flags = _flags(data)
            for name in hits:
                hits[name] += int(flags[name])
    assert all(v >= 8 for v in hits.values()), hits
