"""The planted-bias simulator: shapes, determinism, errors, and that planted effects are really there.

The checks here use only numpy/statsmodels on the simulated tables, so they are
independent of prefqa's own estimators (which have their own recovery tests).
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

import prefqa as pq
from prefqa.errors import SchemaError

RATE_TOL = 0.05  # binomial SE at n >= 1,000 is <= 0.016; 3 SEs


def _share_a(data, mask):
    return float((data.judgments["choice"].to_numpy()[mask] == "a").mean())


def test_shapes_ids_and_determinism():
    data, truth = pq.simulate(n_prompts=30, comparisons_per_prompt=2, n_annotators=8,
                              judgments_per_comparison=3, rng=5)
    assert (data.n_judgments, data.n_comparisons, data.n_prompts, data.n_annotators) == (180, 60, 30, 8)
    assert len(data.responses) == 120 and (data.comparisons()["n_judgments"] == 3).all()
    # distinct annotators within a comparison
    assert not data.judgments.duplicated(["comparison_id", "annotator_id"]).any()
    again, _ = pq.simulate(n_prompts=30, comparisons_per_prompt=2, n_annotators=8, rng=5)
    assert data.fingerprint() == again.fingerprint()
    other, _ = pq.simulate(n_prompts=30, comparisons_per_prompt=2, n_annotators=8, rng=6)
    assert data.fingerprint() != other.fingerprint()
    assert np.isclose(truth.model_strengths.sum(), 0.0)
    assert data.responses["text"].str.strip().str.len().min() > 0


def test_planted_annotator_kinds_behave_as_planted():
    data, truth = pq.simulate(n_prompts=1500, n_annotators=20, n_spammers=2, n_always_a=2,
                              n_position_biased=2, position_bias=2.0, rng=1)
    kinds = truth.annotators["kind"]
    ann = data.judgments["annotator_id"].to_numpy()
    kind_of = kinds.reindex(ann).to_numpy()
    assert _share_a(data, kind_of == "always_a") == 1.0
    spam = kind_of == "spammer"
    assert abs(_share_a(data, spam) - 0.45) < RATE_TOL
    assert data.judgments["seconds"].to_numpy()[spam].mean() < 10
    normal_rate = _share_a(data, kind_of == "normal")
    assert abs(normal_rate - 0.45) < RATE_TOL  # no position effect for normal annotators, 10% ties
    assert _share_a(data, kind_of == "position") > normal_rate + 0.2


def test_planted_length_effect_is_recovered_by_an_independent_glm():
    data, truth = pq.simulate(n_prompts=4000, n_annotators=30, length_effect=1.0, tie_threshold=0.0,
                              accuracy_range=(0.0, 0.0), rng=2)
    j = data.judgments_with_text()
    x = np.tanh((j["response_a"].str.len() - j["response_b"].str.len()).to_numpy(float) / truth.length_scale)
    y = (j["choice"] == "a").to_numpy(float)
    fit = sm.GLM(y, sm.add_constant(x), family=sm.families.Binomial()).fit()
    lo, hi = fit.conf_int()[1]
    assert lo < 1.0 < hi  # the planted slope lies in the 95% CI
    assert abs(fit.params[0]) < 3 * fit.bse[0] + 1e-9  # no position effect planted


def test_ambiguous_prompts_split_reliable_annotators():
    data, truth = pq.simulate(n_prompts=300, n_ambiguous_prompts=100, n_annotators=12,
                              judgments_per_comparison=5, tie_threshold=0.0, rng=3)
    oriented = data.oriented_choice()
    comp = data.codes("comparison_id")[0]
    share_first = np.bincount(comp, weights=(oriented == 0)) / np.bincount(comp)
    split = np.minimum(share_first, 1 - share_first)
    amb = truth.prompts["ambiguous"].reindex(data.comparisons()["prompt_id"]).to_numpy()
    assert split[amb].mean() > split[~amb].mean() + 0.05
    assert abs(split[amb].mean() - 0.3125) < RATE_TOL  # E[min(k, 5-k)]/5 for k ~ Binomial(5, 1/2)


def test_both_orders_repeats_and_ratings():
    data, truth = pq.simulate(n_prompts=50, n_annotators=10, both_orders=0.5, ratings=True,
                              leniency_sd=1.0, n_domains=3, rng=4)
    dup = data.judgments.duplicated(["comparison_id", "annotator_id"], keep=False)
    assert dup.any()
    assert data.flipped()[dup.to_numpy()].mean() == pytest.approx(0.5)
    r = data.ratings
    assert r["score"].between(1, 5).all() and set(r["response_id"]) <= set(data.responses["response_id"])
    mean_by_ann = r.groupby("annotator_id")["score"].mean()
    corr = np.corrcoef(mean_by_ann, truth.annotators["leniency"].reindex(mean_by_ann.index))[0, 1]
    assert corr > 0.7
    assert data.judgments["domain"].nunique() == 3


def test_without_text_still_has_models_and_no_response_ids():
    data, _ = pq.simulate(n_prompts=10, with_text=False, rng=0)
    assert data.has_models and not data.has_texts


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_models": 1}, "`n_models` must be >= 2"),
        ({"n_annotators": 3, "n_spammers": 2, "n_always_a": 2}, "exceed `n_annotators` = 3"),
        ({"judgments_per_comparison": 40}, "between 1 and `n_annotators`"),
        ({"n_models": 3, "model_strengths": [0.0, 1.0]}, "2 values for 3 models"),
        ({"both_orders": 1.5}, r"share of comparisons in \[0, 1\]"),
        ({"n_ambiguous_prompts": 500}, "n_ambiguous_prompts"),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs, match):
    with pytest.raises(SchemaError, match=match):
        pq.simulate(**kwargs)
