"""Style bias: coefficients against an independent scipy fit, planted length, null data, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special

import prefqa as pq
from prefqa.errors import SchemaError
from prefqa.features import judgment_features

COEF_ATOL = 1e-4  # statsmodels IRLS vs scipy BFGS on the same likelihood


@pytest.fixture(scope="module")
def planted():
    return pq.simulate(n_prompts=300, length_effect=1.0, rng=8)


def test_coefficients_match_an_independent_logistic_fit(planted) -> None:
    data, _ = planted
    feats = ["length", "headers", "lists", "bold"]
    res = pq.style_bias(data, features=feats, control_models=False)
    f = judgment_features(data, feats).to_numpy()
    c = data.judgments["choice"].to_numpy()
    keep = c != "tie"
    X = np.column_stack([np.ones(keep.sum()), f[keep]])
    y = (c[keep] == "a").astype(float)

    def nll(beta: np.ndarray) -> float:
        eta = X @ beta
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta))

    def grad(beta: np.ndarray) -> np.ndarray:
        return X.T @ (special.expit(X @ beta) - y)

    beta = optimize.minimize(nll, np.zeros(X.shape[1]), jac=grad, method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(res.table["estimate"].to_numpy(), beta[1:], atol=COEF_ATOL)


def test_planted_length_is_the_flagged_style(planted) -> None:
    data, truth = planted
    table = pq.style_bias(data).table
    assert bool(table.loc["length", "flagged"])
    assert table.loc["length", "ci_low"] < truth.length_effect < table.loc["length", "ci_high"]
    assert not table.drop(index="length")["flagged"].any()
    assert table.loc["length", "reason"].startswith("favours the response with more length")


def test_null_data_flags_nothing() -> None:
    data, _ = pq.simulate(n_prompts=300, rng=200)
    res = pq.style_bias(data)
    assert not res.table["flagged"].any()
    assert "refusal" in res.dropped  # simulated texts never refuse


@pytest.mark.slow
def test_false_flag_rate_over_null_simulations() -> None:
    # BH at 0.05 over 4 features under the global null: any flag in about 5% of data sets
    n_sims = 20
    any_flag = sum(bool(pq.style_bias(pq.simulate(n_prompts=150, rng=300 + s)[0]).table["flagged"].any())
                   for s in range(n_sims))
    assert any_flag <= 3


def test_refusals_are_measured() -> None:
    rng = np.random.default_rng(0)
    n = 800
    refuse_a = rng.random(n) < 0.3
    refuse_b = rng.random(n) < 0.3
    # annotators penalise refusals: the non-refusing side wins
    p_a = np.where(refuse_a & ~refuse_b, 0.2, np.where(refuse_b & ~refuse_a, 0.8, 0.5))
    choice = np.where(rng.random(n) < p_a, "a", "b")
    ids = np.arange(n).astype(str)
    j = pd.DataFrame({"comparison_id": "c" + ids, "annotator_id": "x", "choice": choice,
                      "prompt_id": "p" + (np.arange(n) // 4).astype(str),
                      "response_a_id": "a" + ids, "response_b_id": "b" + ids})
    text_a = np.where(refuse_a, "I'm sorry, but I can't help with that.", "Here is a helpful answer.")
    text_b = np.where(refuse_b, "I cannot help with that request, sorry!", "Sure, this is what you need.")
    r = pd.DataFrame({"response_id": np.concatenate(["a" + ids, "b" + ids]), "prompt_id": "p",
                      "text": np.concatenate([text_a, text_b])})
    table = pq.style_bias(pq.PreferenceData(j, r), features=["refusal"]).table
    assert table.loc["refusal", "estimate"] < 0 and bool(table.loc["refusal", "flagged"])
    assert table.loc["refusal", "rate_more_chosen"] < 0.35


def test_errors(planted) -> None:
    with pytest.raises(SchemaError, match="`features` must be a non-empty subset"):
        pq.style_bias(planted[0], features=["emoji"])
    j = pd.DataFrame({"comparison_id": ["c"], "annotator_id": ["x"], "choice": ["a"]})
    with pytest.raises(SchemaError, match="needs response texts"):
        pq.style_bias(pq.PreferenceData(j))


def test_frame_and_summary(planted) -> None:
    res = pq.style_bias(planted[0])
    assert {"estimate", "std_error", "ci_low", "ci_high", "p_value", "q_value", "n", "flagged", "reason"} <= set(
        res.to_frame().columns)
    assert "Style control" in res.summary()
