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


def _with_bold_on_winners(n_bold: int, seed: int = 0) -> pq.PreferenceData:
    """400 single-judgment comparisons; in ``n_bold`` of them the chosen response alone has bold."""
    rng = np.random.default_rng(seed)
    n = 400
    la, lb = rng.integers(40, 400, n), rng.integers(40, 400, n)
    choice = np.where(rng.random(n) < special.expit(0.8 * np.tanh((la - lb) / 200)), "a", "b")
    ta = np.array(["w " * (k // 2) for k in la], dtype=object)
    tb = np.array(["w " * (k // 2) for k in lb], dtype=object)
    idx = np.arange(n_bold)
    ta[idx] = np.where(choice[idx] == "a", ta[idx] + " **bold**", ta[idx])
    tb[idx] = np.where(choice[idx] == "b", tb[idx] + " **bold**", tb[idx])
    ids_a, ids_b = [f"a{i}" for i in range(n)], [f"b{i}" for i in range(n)]
    j = pd.DataFrame({"comparison_id": [f"c{i}" for i in range(n)], "annotator_id": rng.choice(list("uvwxyz"), n),
                      "prompt_id": [f"p{i}" for i in range(n)], "response_a_id": ids_a, "response_b_id": ids_b,
                      "choice": choice})
    r = pd.DataFrame({"response_id": ids_a + ids_b, "prompt_id": [f"p{i}" for i in range(n)] * 2,
                      "text": list(ta) + list(tb)})
    return pq.PreferenceData(j, r)


def test_separated_feature_with_two_pairs_is_not_estimable_and_not_flagged() -> None:
    res = pq.style_bias(_with_bold_on_winners(2), features=["length", "bold"])
    bold = res.table.loc["bold"]
    assert not bold["estimable"] and not bold["flagged"] and bold["n_comparisons_differ"] == 2
    assert np.isnan(bold["estimate"]) and np.isnan(bold["p_value"]) and np.isnan(bold["q_value"])
    assert "min_n_differ=30" in bold["reason"] and "not estimable" in res.summary()
    assert res.table.loc["length", "estimable"] and np.isfinite(res.table.loc["length", "p_value"])
    # without the count rule, the separation itself is caught: the bold response is always chosen
    loose = pq.style_bias(_with_bold_on_winners(2), features=["length", "bold"], min_n_differ=1)
    assert not loose.table.loc["bold", "estimable"] and "separates" in loose.table.loc["bold", "reason"]
    # 60 separated pairs pass the count rule and are still not estimable
    many = pq.style_bias(_with_bold_on_winners(60), features=["length", "bold"])
    assert not many.table.loc["bold", "estimable"] and not many.table.loc["bold", "flagged"]


def test_hh_rlhf_bold_is_not_estimable(hh_path) -> None:
    # HH-RLHF harmless-base test: `bold` differs in 2 pairs (its coefficient was -27, q < 0.001, before)
    res = pq.style_bias(pq.read(hh_path))
    bold = res.table.loc["bold"]
    assert not bold["estimable"] and not bold["flagged"] and bold["n_comparisons_differ"] == 2
    assert res.cluster in ("prompt", "comparison") and "cluster-robust" in res.se_method


def test_default_se_is_two_way_clustered_like_statsmodels(planted) -> None:
    import statsmodels.api as sm

    data, _ = planted
    feats = ["length", "lists"]
    res = pq.style_bias(data, features=feats, control_models=False)
    assert res.cluster == "annotator+prompt"
    f = judgment_features(data, feats).to_numpy()
    j = data.judgments
    keep = (j["choice"] != "tie").to_numpy()
    X = np.column_stack([np.ones(keep.sum()), f[keep]])
    y = (j["choice"].to_numpy()[keep] == "a").astype(float)
    groups = np.column_stack([pd.factorize(j["annotator_id"][keep])[0], pd.factorize(j["prompt_id"][keep])[0]])
    fit = sm.GLM(y, X, family=sm.families.Binomial()).fit(cov_type="cluster", cov_kwds={"groups": groups})
    np.testing.assert_allclose(res.table["std_error"].to_numpy(), fit.bse[1:], rtol=1e-6)
