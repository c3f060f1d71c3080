"""Crossed mixed models: exact references, planted-effect recovery, null data and errors.

lme4 agreement lives in tests/test_mixed_lme4.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import prefqa as pq
from prefqa.errors import ConvergenceWarning, InsufficientDataError, SchemaError

EXACT_RTOL = 1e-5  # REML vs closed-form ANOVA: same estimator, optimizer tolerance only
STATSMODELS_RTOL = 2e-3  # statsmodels MixedLM (REML, its own optimizer) on the same tiny data
NEAR_ZERO_SD = 0.15  # "near zero" for a variance component estimated on null data


def _ratings_only(ratings: pd.DataFrame) -> pq.PreferenceData:
    stub = pd.DataFrame({"comparison_id": ["c"], "annotator_id": ["x"], "choice": ["a"]})
    return pq.PreferenceData(stub, ratings=ratings)


def test_reml_equals_anova_on_balanced_one_way() -> None:
    # balanced one-way layout: REML variance = (MSB - MSW) / n per group, residual = MSW (textbook ANOVA
    # estimator, e.g. Searle, Casella & McCulloch 1992, ch. 3), when MSB > MSW
    rng = np.random.default_rng(5)
    groups, per = 25, 8
    g = np.repeat(np.arange(groups), per)
    y = 2.0 + rng.normal(0, 0.8, groups)[g] + rng.normal(0, 1.0, groups * per)
    data = _ratings_only(pd.DataFrame({"response_id": [f"r{i}" for i in range(len(y))],
                                       "annotator_id": [f"a{k:02d}" for k in g], "score": y}))
    fit = pq.fit_rating_model(data, random=("annotator",))
    means = np.bincount(g, y) / per
    msb = per * np.sum((means - y.mean()) ** 2) / (groups - 1)
    msw = np.sum((y - means[g]) ** 2) / (groups * per - groups)
    assert msb > msw
    vc = fit.variance_components
    assert vc.loc["annotator", "variance"] == pytest.approx((msb - msw) / per, rel=EXACT_RTOL)
    assert vc.loc["residual", "variance"] == pytest.approx(msw, rel=EXACT_RTOL)
    assert fit.fixed_effects.loc["intercept", "estimate"] == pytest.approx(y.mean(), rel=EXACT_RTOL)
    # the intercept SE of a balanced one-way REML fit is sqrt(MSB / N)
    assert fit.fixed_effects.loc["intercept", "std_error"] == pytest.approx(np.sqrt(msb / len(y)), rel=1e-4)
    # conditional modes are the shrunken group means
    shrink = (msb - msw) / per / ((msb - msw) / per + msw / per)
    expected = shrink * (means - y.mean())
    got = fit.random_effects["annotator"]["estimate"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-8)


def test_crossed_gaussian_matches_statsmodels_mixedlm() -> None:
    # independent implementation: statsmodels MixedLM with crossed variance components (REML)
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(9)
    n = 400
    a, r = rng.integers(0, 15, n), rng.integers(0, 60, n)
    y = 1.0 + rng.normal(0, 0.5, 15)[a] + rng.normal(0, 1.0, 60)[r] + rng.normal(0, 0.8, n)
    ratings = pd.DataFrame({"response_id": [f"r{k:02d}" for k in r], "annotator_id": [f"a{k:02d}" for k in a],
                            "score": y})
    fit = pq.fit_rating_model(_ratings_only(ratings))
    df = pd.DataFrame({"y": y, "a": a, "r": r})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.MixedLM.from_formula("y ~ 1", groups=np.ones(n), data=df,
                                      vc_formula={"a": "0 + C(a)", "r": "0 + C(r)"}).fit(reml=True)
    vc = fit.variance_components
    assert vc.loc["annotator", "variance"] == pytest.approx(ref.vcomp[0], rel=STATSMODELS_RTOL)
    assert vc.loc["response", "variance"] == pytest.approx(ref.vcomp[1], rel=STATSMODELS_RTOL)
    assert vc.loc["residual", "variance"] == pytest.approx(ref.scale, rel=STATSMODELS_RTOL)
    assert fit.fixed_effects.loc["intercept", "estimate"] == pytest.approx(ref.fe_params.iloc[0], rel=STATSMODELS_RTOL)
    assert fit.loglik == pytest.approx(ref.llf, abs=0.01)


@pytest.fixture(scope="module")
def planted() -> tuple[pq.PreferenceData, pq.SimulationTruth]:
    # ties off and exact quality (response_sd=0, accuracy 1) so the logistic model is the true model
    return pq.simulate(n_prompts=400, comparisons_per_prompt=4, n_annotators=50, judgments_per_comparison=3,
                       n_position_biased=4, n_length_biased=4, position_bias=1.5, length_slope=2.0,
                       length_effect=1.0, position_effect=0.5, tie_threshold=0.0, response_sd=0.0,
                       accuracy_range=(1.0, 1.0), rng=11)


@pytest.fixture(scope="module")
def planted_fit(planted: tuple[pq.PreferenceData, pq.SimulationTruth]) -> pq.MixedModelResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # prompts have no planted variance
        return pq.fit_preference_model(planted[0])


def test_recovers_planted_fixed_effects(planted, planted_fit) -> None:
    _, truth = planted
    ann = truth.annotators
    fe = planted_fit.fixed_effects
    # the fixed effects are the population means over annotators
    for term, value in (("position", truth.position_effect + ann["position_bias"].mean()),
                        ("length", truth.length_effect + ann["length_slope"].mean())):
        assert fe.loc[term, "ci_low"] <= value <= fe.loc[term, "ci_high"], (term, value, fe.loc[term].to_dict())
    strengths = truth.model_strengths - truth.model_strengths.iloc[0]
    for model, value in strengths.iloc[1:].items():
        row = fe.loc[f"quality:{model}"]
        assert row.ci_low <= value <= row.ci_high, (model, value)


def test_recovers_planted_annotator_sds(planted, planted_fit) -> None:
    _, truth = planted
    ann = truth.annotators
    vc = planted_fit.variance_components
    for group, column in (("annotator", "position_bias"), ("annotator:length", "length_slope")):
        value = ann[column].std(ddof=0)
        assert vc.loc[group, "ci_low"] <= value <= vc.loc[group, "ci_high"], (group, value, vc.loc[group].to_dict())
    assert vc.loc["prompt", "sd"] < NEAR_ZERO_SD  # no prompt effect was planted


def test_planted_biased_annotators_rank_at_the_top(planted, planted_fit) -> None:
    _, truth = planted
    kind = truth.annotators["kind"]
    for group, planted_kind in (("annotator", "position"), ("annotator:length", "length")):
        table = planted_fit.random_effects[group]
        assert table.index.name == "annotator_id" and {"estimate", "std_error", "n"} <= set(table.columns)
        top = table["estimate"].nlargest(int((kind == planted_kind).sum())).index
        assert set(top) == set(kind.index[kind == planted_kind]), (group, kind.loc[top].tolist())
        assert (table["std_error"] > 0).all()


def test_null_data_gives_near_zero_components_with_warning() -> None:
    data, _ = pq.simulate(n_prompts=300, comparisons_per_prompt=4, n_annotators=40, length_effect=1.0,
                          tie_threshold=0.0, response_sd=0.0, accuracy_range=(1.0, 1.0), rng=12)
    with pytest.warns(ConvergenceWarning, match="on the boundary"):
        fit = pq.fit_preference_model(data)
    vc = fit.variance_components
    assert (vc["sd"] < NEAR_ZERO_SD).all(), vc
    assert vc["boundary"].any()
    assert len(fit.warnings) == int(vc["boundary"].sum())
    assert fit.to_frame().query("component == 'sd'")["flagged"].sum() == vc["boundary"].sum()


def test_rating_model_recovers_leniency() -> None:
    data, truth = pq.simulate(n_prompts=200, n_annotators=20, ratings=True, leniency_sd=0.8, rng=4)
    fit = pq.fit_rating_model(data)
    modes = fit.random_effects["annotator"]["estimate"]
    true = truth.annotators["leniency"].reindex(modes.index)
    assert np.corrcoef(modes, true)[0, 1] > 0.9
    assert fit.n_responses == data.ratings["response_id"].nunique()
    assert "residual" in fit.variance_components.index
    assert fit.formula == "score ~ 1 + (1 | response) + (1 | annotator)"
    text = fit.summary()
    assert "Gaussian (REML)" in text and "annotator" in text


def test_result_shapes_and_to_frame(planted_fit) -> None:
    frame = planted_fit.to_frame()
    assert list(frame.columns) == ["component", "term", "estimate", "std_error", "ci_low", "ci_high", "p_value",
                                   "flagged", "reason"]
    assert set(frame["component"]) == {"fixed", "sd"}
    assert planted_fit.aic == pytest.approx(-2 * planted_fit.loglik + 2 * (len(planted_fit.fixed_effects) + 3))
    assert planted_fit.n_judgments == 4800 and planted_fit.n_dropped == 0  # no ties were simulated
    assert planted_fit.n_annotators == 50 and planted_fit.n_prompts == 400
    assert planted_fit.settings["ties"] == "drop" and planted_fit.settings["method"] == "laplace"


# ----------------------------------------------------------------------------- errors and edge cases
@pytest.fixture(scope="module")
def small() -> pq.PreferenceData:
    return pq.simulate(n_prompts=40, n_annotators=8, rng=3)[0]


@pytest.mark.parametrize("kwargs, match", [
    ({"ties": "split"}, "`ties` must be 'drop' or 'half'"),
    ({"random": ("rater",)}, "`random` must name groups among"),
    ({"fixed": ("length", "verbosity")}, "`fixed` terms must be among"),
    ({"random_slopes": {"prompt": ("length",)}, "random": ("annotator",)}, "not in `random`"),
    ({"quality": "response"}, "quality='response' is not supported"),
    ({"method": "agq"}, "`method` must be 'laplace'"),
    ({"confidence_level": 95}, "`confidence_level` must be a number strictly between 0 and 1; got 95"),
])
def test_preference_model_rejects_bad_options(small: pq.PreferenceData, kwargs: dict, match: str) -> None:
    with pytest.raises(SchemaError, match=match):
        pq.fit_preference_model(small, **kwargs)


def test_rating_model_errors(small: pq.PreferenceData) -> None:
    with pytest.raises(SchemaError, match="no ratings"):
        pq.fit_rating_model(small)
    with pytest.raises(SchemaError, match="`data` must be a PreferenceData"):
        pq.fit_rating_model(pd.DataFrame())
    two = pd.DataFrame({"response_id": ["r1", "r2"], "annotator_id": ["a", "b"], "score": [1.0, 2.0],
                        "aspect": ["help", "harm"]})
    with pytest.raises(SchemaError, match="choose one with `aspect=`"):
        pq.fit_rating_model(_ratings_only(two))


def test_no_annotators_is_a_clear_error(small: pq.PreferenceData) -> None:
    j = small.judgments.assign(annotator_id=pd.NA)
    data = pq.PreferenceData(j, small.responses, small.prompts)
    with pytest.raises(InsufficientDataError, match="no annotator ids"):
        pq.fit_preference_model(data, random=("annotator",))


def test_unknown_display_order_is_named_in_warnings(small: pq.PreferenceData) -> None:
    data = pq.PreferenceData(small.judgments, small.responses, small.prompts, order_known=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = pq.fit_preference_model(data, random_slopes={})
    assert "intercept" in fit.fixed_effects.index and "position" not in fit.fixed_effects.index
    assert any("display order is unknown" in w for w in fit.warnings)


def test_covariates_without_texts_are_rejected() -> None:
    j = pd.DataFrame({"comparison_id": [f"c{i}" for i in range(20)], "annotator_id": ["x", "y"] * 10,
                      "choice": ["a", "b", "a", "a"] * 5})
    with pytest.raises(SchemaError, match="need response texts"):
        pq.fit_preference_model(pq.PreferenceData(j), random=("annotator",))


def test_ties_drop_or_half(small: pq.PreferenceData) -> None:
    n_ties = int((small.judgments["choice"] == "tie").sum())
    assert n_ties > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dropped = pq.fit_preference_model(small, random_slopes={})
        half = pq.fit_preference_model(small, ties="half", random_slopes={})
    assert dropped.n_dropped == n_ties and dropped.n_judgments == small.n_judgments - n_ties
    assert half.n_dropped == 0 and half.n_judgments == small.n_judgments
    # half-wins pull every coefficient toward zero relative to dropping the ties
    assert abs(half.fixed_effects.loc["length", "estimate"]) < abs(dropped.fixed_effects.loc["length", "estimate"])


# ----------------------------------------------------------------------------- fast paths agree with slow ones
SCHUR_ATOL = 1e-10  # same sums in a different order
OPTIMIZER_RTOL = 5e-3  # two optimizers on one criterion: Newton from a subsample vs L-BFGS-B from theta = 1
SD_SE_RTOL = 0.10  # Wald SEs of the SDs from two finite-difference Hessians at nearby points


def _random_factor(rng: np.random.Generator, name: str, n: int, levels: int, terms: tuple[str, ...]):
    from prefqa.models._design import Factor

    values = np.vstack([np.ones(n) if t == "intercept" else np.tanh(rng.normal(size=n)) for t in terms])
    return Factor(name, rng.integers(0, levels, n), pd.Index(np.arange(levels)), terms, values)


@pytest.mark.parametrize("small", [(("annotator", 40, ("intercept", "length")),),
                                   (("annotator", 30, ("intercept", "length")), ("rater", 25, ("intercept",)))])
def test_schur_plan_equals_sparse_product(small: tuple) -> None:
    # independent implementation: scipy.sparse B' D^{-1} B against the precomputed-pair bincounts
    import scipy.sparse as sp

    from prefqa.models._design import CrossedDesign
    from prefqa.models._mixed_schur import SchurPlan

    rng = np.random.default_rng(21)
    n = 6000
    factors = [_random_factor(rng, "prompt", n, 700, ("intercept",))]
    factors += [_random_factor(rng, name, n, levels, terms) for name, levels, terms in small]
    design = CrossedDesign(np.ones((n, 1)), factors)
    blocks = design.crossprod(rng.uniform(0.05, 0.25, n), rng.normal(size=n))
    dinv = 1.0 / (blocks.d.ravel() + 1.0)
    one_factor = len(small) == 1
    plan = design.schur_plan()
    assert (plan.cell_small is not None) == one_factor  # both plans are exercised
    g = blocks.bs.data * np.sqrt(dinv)[design._bs_rows]
    expected = (blocks.bs.T @ sp.diags(dinv) @ blocks.bs).toarray()
    np.testing.assert_allclose(plan.product(g), expected, atol=SCHUR_ATOL)
    general = SchurPlan(design._bs_indptr, design._bs_indices, design.q_s)
    np.testing.assert_allclose(general.product(g), expected, atol=SCHUR_ATOL)


def test_subsample_newton_path_matches_lbfgs_path() -> None:
    # large data use a subsample start and Newton steps on theta; same optimum as the L-BFGS-B path
    from prefqa.models._design import CrossedDesign
    from prefqa.models._glmm import fit_glmm

    rng = np.random.default_rng(22)
    n = 24_000
    ann = _random_factor(rng, "annotator", n, 80, ("intercept", "length"))
    prm = _random_factor(rng, "prompt", n, 1200, ("intercept",))
    x = np.column_stack([np.ones(n), ann.values[1]])
    eta = (0.3 + 0.8 * x[:, 1] + rng.normal(0, 0.6, 80)[ann.codes] + rng.normal(0, 0.5, 80)[ann.codes] * x[:, 1]
           + rng.normal(0, 0.5, 1200)[prm.codes])
    y = (rng.random(n) < expit(eta)).astype(float)
    slow = fit_glmm(CrossedDesign(x, [ann, prm]), y, method="pirls", subsample=0)
    fast = fit_glmm(CrossedDesign(x, [ann, prm]), y, method="pirls", subsample=6000)
    assert "Newton" in fast.message and "Newton" not in slow.message
    # the subsample start is recorded (issue 11 item 9), the full-data path has nothing to record
    assert any("first fitted on the" in n and "refined on all 24,000 judgments" in n for n in fast.notes)
    assert not slow.notes
    assert fast.converged and slow.converged
    np.testing.assert_allclose(fast.theta, slow.theta, rtol=OPTIMIZER_RTOL)
    np.testing.assert_allclose(fast.beta, slow.beta, rtol=OPTIMIZER_RTOL)
    # SD standard errors: exact-point stencil vs the Newton path's BFGS-updated stencil (up to 3 SEs away)
    np.testing.assert_allclose(np.sqrt(np.diag(fast.sd_cov)), np.sqrt(np.diag(slow.sd_cov)), rtol=SD_SE_RTOL)
    assert abs(fast.deviance - slow.deviance) < 0.01


# ----------------------------------------------------------------------------- estimability checks
def test_fixed_rank_is_checked_on_every_row() -> None:
    # issue 11 item 9: the rank used to be checked on the first 200k rows only, so a column that
    # varies only later (a model first judged after row 200k) raised a false error
    from prefqa.models.mixed import _check_fixed_rank

    n = 250_000
    late = np.zeros(n)
    late[200_000:] = np.where(np.arange(50_000) % 2 == 0, 1.0, -1.0)
    x = np.column_stack([np.ones(n), np.tanh(np.linspace(-3, 3, n)), late])
    _check_fixed_rank(x, ["position", "length", "quality:m9"])            # full rank: no error
    dup = np.column_stack([x, 2.0 * x[:, 1] - x[:, 0]])
    with pytest.raises(SchemaError, match=r"'twice' cannot be estimated: it is a linear combination of "
                                          r"\['position', 'length'\]"):
        _check_fixed_rank(dup, ["position", "length", "quality:m9", "twice"])
    with pytest.raises(SchemaError, match="'zero' cannot be estimated: it is 0 in every used judgment"):
        _check_fixed_rank(np.column_stack([x, np.zeros(n)]), ["position", "length", "quality:m9", "zero"])


def test_model_always_shown_first_is_a_clear_error() -> None:
    rng = np.random.default_rng(3)
    n = 200
    j = pd.DataFrame({"comparison_id": [f"c{i}" for i in range(n)],
                      "annotator_id": [f"w{i % 12}" for i in range(n)],
                      "choice": np.where(rng.random(n) < 0.6, "a", "b"), "model_a": "m1", "model_b": "m0"})
    with pytest.raises(SchemaError, match="'quality:m1' cannot be estimated.*position and model cannot be told"):
        pq.fit_preference_model(pq.PreferenceData(j), fixed=("position",), random=("annotator",))


def _ratings(n_responses: int, per: int, n_annotators: int = 6, prompts: bool = False, seed: int = 0) -> pq.PreferenceData:
    rng = np.random.default_rng(seed)
    resp = np.repeat(np.arange(n_responses), per)
    ann = (resp + np.tile(np.arange(per), n_responses)) % n_annotators
    score = rng.normal(0, 1.0, n_responses)[resp] + rng.normal(0, 0.6, n_annotators)[ann] + rng.normal(0, 0.5, len(resp))
    ratings = pd.DataFrame({"response_id": [f"item-{r}" for r in resp], "annotator_id": [f"w{a}" for a in ann],
                            "score": score})
    if prompts:  # one response per prompt
        ratings["prompt_id"] = [f"p{r}" for r in resp]
    return _ratings_only(ratings)


def test_rating_model_without_prompt_ids_uses_responses_as_units() -> None:
    # issue 12: ratings-only data without prompt ids; each response is its own unit
    data = _ratings(80, 3)
    assert "prompt_id" not in data.ratings
    fit = pq.fit_rating_model(data)
    assert fit.n_responses == 80 and fit.n_prompts == 0 and fit.converged
    assert fit.random_effects["response"].index[0].startswith("item-")     # the user's ids, as given
    assert fit.variance_components.loc["response", "sd"] > 0.5
    with pytest.raises(SchemaError, match="no `prompt_id` column; drop it.*each response is its own unit"):
        pq.fit_rating_model(data, random=("annotator", "response", "prompt"))


def test_rating_model_with_one_response_per_prompt() -> None:
    data = _ratings(80, 3, prompts=True)
    fit = pq.fit_rating_model(data)                          # default groups: annotator, response
    assert fit.n_responses == 80
    by_prompt = pq.fit_rating_model(data, random=("annotator", "prompt"))
    np.testing.assert_allclose(by_prompt.variance_components.loc["prompt", "sd"],
                               fit.variance_components.loc["response", "sd"], rtol=1e-6)
    with pytest.raises(InsufficientDataError, match="'response' and 'prompt' group the rows identically"):
        pq.fit_rating_model(data, random=("annotator", "response", "prompt"))


def test_rating_model_terms_that_cannot_be_estimated_are_named() -> None:
    with pytest.raises(InsufficientDataError, match="'response' has a level for every one of the 40 used"):
        pq.fit_rating_model(_ratings(40, 1))                 # one rating per response
    with pytest.raises(InsufficientDataError, match=r"'annotator' has 1 level\(s\).*random=\('response',\)"):
        pq.fit_rating_model(_ratings(40, 2, n_annotators=1))
    constant = _ratings(20, 2)
    constant = _ratings_only(constant.ratings.assign(score=3.0))
    with pytest.raises(InsufficientDataError, match="all 40 used scores equal 3: there is no variation"):
        pq.fit_rating_model(constant)


# ----------------------------------------------------------------------------- robustness (issue 12 item 3)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def messy_design(draw: st.DrawFn) -> pq.PreferenceData:
    """Small messy designs: 1-12 annotators, 1-7 judgments per comparison, duplicates, ties, 2-4 models."""
    n_models = draw(st.integers(2, 4))
    n_comp = draw(st.integers(1, 14))
    n_ann = draw(st.integers(1, 12))
    n_prompts = draw(st.integers(1, 4))
    all_ties = draw(st.booleans()) and draw(st.booleans())
    rows, responses = [], {}
    for c in range(n_comp):
        ma = draw(st.integers(0, n_models - 1))
        mb = draw(st.integers(0, n_models - 1).filter(lambda m, ma=ma: m != ma))
        prompt = f"p{draw(st.integers(0, n_prompts - 1))}"
        ra, rb = f"r{c}a", f"r{c}b"
        responses[ra] = (prompt, "word " * draw(st.integers(1, 30)) + "**bold**" * draw(st.integers(0, 1)))
        responses[rb] = (prompt, "word " * draw(st.integers(1, 30)))
        for _ in range(draw(st.integers(1, 7))):
            flip = draw(st.booleans())
            choice = "tie" if all_ties else draw(st.sampled_from(["a", "b", "a", "b", "tie"]))
            row = {"comparison_id": f"c{c}", "annotator_id": f"w{draw(st.integers(0, n_ann - 1))}",
                   "choice": choice, "prompt_id": prompt,
                   "response_a_id": rb if flip else ra, "response_b_id": ra if flip else rb,
                   "model_a": f"m{mb if flip else ma}", "model_b": f"m{ma if flip else mb}"}
            rows.append(row)
            if draw(st.integers(0, 5)) == 0:
                rows.append(dict(row))                        # an exact duplicate row
    j = pd.DataFrame(rows)
    resp = pd.DataFrame([{"response_id": k, "prompt_id": v[0], "text": v[1]} for k, v in responses.items()])
    prompts = pd.DataFrame({"prompt_id": sorted(set(resp["prompt_id"])), "text": "a prompt"})
    n_rat = draw(st.integers(0, 3))
    ratings = None
    if n_rat:
        ids = list(responses)
        ratings = pd.DataFrame([{"response_id": ids[(k * 7) % len(ids)], "annotator_id": f"w{k % n_ann}",
                                 "score": float(draw(st.integers(1, 5)))} for k in range(n_rat * len(ids))])
    return pq.PreferenceData(j, resp, prompts, ratings=ratings)


@settings(max_examples=30, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(messy_design())
def test_models_return_or_raise_prefqa_errors_on_messy_designs(data: pq.PreferenceData) -> None:
    calls = [
        lambda: pq.fit_bradley_terry(data),
        lambda: pq.fit_bradley_terry(data, ci="bootstrap", n_resamples=20, rng=0),
        lambda: pq.fit_bradley_terry(data, ties="drop", covariates=["position", "length"], cluster="two-way"),
        lambda: pq.fit_bradley_terry(data, over="response", ci="fisher", regularization=0.1),
        lambda: pq.fit_preference_model(data, max_iter=50),
        lambda: pq.fit_preference_model(data, random=("annotator",), random_slopes={}, ties="half", max_iter=50),
        lambda: pq.fit_rating_model(data, max_iter=50),
    ]
    for call in calls:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                result = call()
            except pq.PrefqaError:
                continue
        assert result.to_frame() is not None and isinstance(result.summary(), str)
