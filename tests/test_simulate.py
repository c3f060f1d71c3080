"""The planted-bias simulator: shapes, determinism, errors, and that planted effects are really there.

The checks here use only numpy/statsmodels on the simulated tables, so they are
independent of prefqa's own estimators (which have their own recovery tests).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
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
        ({"position_sd": -0.1}, "`position_sd` is a standard deviation"),
        ({"comparison_sd": float("nan")}, "`comparison_sd` is a standard deviation"),
        ({"gold_share": 1.2}, r"`gold_share` is a share of comparisons in \[0, 1\]"),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs, match):
    with pytest.raises(SchemaError, match=match):
        pq.simulate(**kwargs)


# ---------------------------------------------------------------- heterogeneity, gold, population values

def _content_hash(data) -> str:
    """SHA-256 over pandas' value hashes of every table (independent of ``PreferenceData.fingerprint``)."""
    import hashlib

    tables = (data.judgments, data.responses, data.prompts, data.ratings)
    parts = [pd.util.hash_pandas_object(t, index=False).to_numpy().tobytes() for t in tables if t is not None]
    return hashlib.sha256(b"".join(parts)).hexdigest()


def test_defaults_are_byte_identical_to_before_the_heterogeneity_options():
    # hashes of the tables produced by the simulator before position_sd / length_slope_sd /
    # comparison_sd / gold_share existed (prefqa/simulate.py at commit 156b8db): the new options draw
    # nothing when left at 0
    data, _ = pq.simulate(rng=3)
    assert _content_hash(data) == "601e72c6bde029c2eea61727146f17865f2a4c94d1c3badb3ea8f42322102a16"
    data, _ = pq.simulate(n_prompts=50, both_orders=0.3, n_spammers=2, n_ambiguous_prompts=3, ratings=True,
                          n_domains=2, rng=4)
    assert _content_hash(data) == "22ea69d05e99c42b2ccac05514e60a2693487bbf57318e83c37b6cf40eb7ee7b"


def test_heterogeneity_is_planted_as_asked():
    data, truth = pq.simulate(n_prompts=1500, n_annotators=400, position_sd=0.8, length_slope_sd=0.6,
                              comparison_sd=0.7, rng=7)
    ann = truth.annotators
    # SD of 400 normal draws: sampling SD about sd / sqrt(2 * 400) = 0.035 sd
    assert abs(ann["position_bias"].std() - 0.8) < 0.1
    assert abs(ann["length_slope"].std() - 0.6) < 0.08
    assert abs(truth.comparisons["effect"].std() - 0.7) < 0.05
    # the comparison effect moves every judgment of its comparison toward its first response
    # (independent check with pandas only)
    j = data.judgments
    comps = truth.comparisons.set_index("comparison_id").reindex(j["comparison_id"])
    decided = (j["choice"] != "tie").to_numpy()
    first_shown = j["response_a_id"].to_numpy() == comps["response_1_id"].to_numpy()
    first_won = ((j["choice"] == "a").to_numpy() == first_shown)[decided].astype(float)
    assert np.corrcoef(first_won, comps["effect"].to_numpy()[decided])[0, 1] > 0.1
    # annotators' own position logits show in their P(a): correlation over annotators
    share_a = data.judgments.assign(a=data.judgments["choice"] == "a").groupby("annotator_id")["a"].mean()
    assert np.corrcoef(share_a, ann["position_bias"].reindex(share_a.index))[0, 1] > 0.5


def test_gold_labels_mark_the_better_response_on_the_asked_share():
    data, truth = pq.simulate(n_prompts=400, n_annotators=20, gold_share=0.3, rng=8)
    j = data.judgments
    comps = truth.comparisons.set_index("comparison_id")
    gold_comp = comps.index[comps["gold"]]
    assert len(gold_comp) == round(0.3 * len(comps))
    has = j["gold"].notna().to_numpy()
    assert set(j.loc[has, "comparison_id"]) == set(gold_comp)
    # the gold label is the displayed side of the response with the higher quality
    c = comps.reindex(j.loc[has, "comparison_id"])
    better_first = (c["quality_1"] > c["quality_2"]).to_numpy()
    first_shown = (j.loc[has, "response_a_id"].to_numpy() == c["response_1_id"].to_numpy())
    expected = np.where(better_first == first_shown, "a", "b")
    assert (j.loc[has, "gold"].to_numpy() == expected).all()
    assert set(j.loc[has, "gold"]) == {"a", "b"}
    # annotators agree with gold well above chance
    assert (j.loc[has, "choice"] == j.loc[has, "gold"]).mean() > 0.6


def _displayed(data, truth):
    """Per judgment: its comparison's truth row, whether response 1 was shown first (+1 / -1) and mu_a - mu_b."""
    j = data.judgments
    comps = truth.comparisons.set_index("comparison_id").reindex(j["comparison_id"])
    first = j["response_a_id"].to_numpy() == comps["response_1_id"].to_numpy()
    s = truth.model_strengths
    mu = s.reindex(j["model_a"]).to_numpy() - s.reindex(j["model_b"]).to_numpy()
    return comps, first, np.where(first, 1.0, -1.0), mu


def _mc_probabilities(data, truth, *, fixed, draws, seed):
    """Per-judgment P(a), P(b) by brute-force Monte Carlo over the latent draws (independent of the quadrature).

    Re-draws what ``simulate`` draws at random (accuracy, position and slope deviations, response
    qualities around the model strengths, comparison effects) for the design as generated, and
    averages the exact Rao-Kupper probabilities. Only normal annotators and no ambiguous prompts.
    """
    from scipy.special import expit

    gen = np.random.default_rng(seed)
    j = data.judgments
    comps, first_shown, sign, mu = _displayed(data, truth)
    la = np.where(first_shown, comps["length_1"], comps["length_2"]).astype(float)
    lb = np.where(first_shown, comps["length_2"], comps["length_1"]).astype(float)
    x = np.tanh((la - lb) / truth.length_scale)
    ann_codes, ann_labels = pd.factorize(j["annotator_id"])
    a_tab = truth.annotators.reindex(ann_labels)
    n, m = len(j), len(ann_labels)
    pa, pb = np.zeros(n), np.zeros(n)
    sd_q = 0.5  # response_sd default
    t = truth.tie_threshold
    for _ in range(draws):
        if fixed:
            acc = a_tab["accuracy"].to_numpy()
            pos = a_tab["position_bias"].to_numpy()
            slope = a_tab["length_slope"].to_numpy()
        else:
            acc = gen.uniform(0.7, 1.3, m)
            pos = gen.normal(0.0, truth.position_sd, m)
            slope = gen.normal(0.0, truth.length_slope_sd, m)
        noise = gen.normal(0.0, sd_q, n) - gen.normal(0.0, sd_q, n)  # q_a - q_b around mu (fresh responses)
        u = gen.normal(0.0, truth.comparison_sd, len(truth.comparisons))
        u_j = u[pd.factorize(j["comparison_id"])[0]] * sign
        eta = (acc[ann_codes] * (mu + noise) + u_j + (truth.length_effect + slope[ann_codes]) * x
               + truth.position_effect + pos[ann_codes])
        pa += expit(eta - t)
        pb += expit(-eta - t)
    return pa / draws, pb / draws, x


@pytest.mark.parametrize("fixed", [False, True])
def test_population_values_match_an_independent_monte_carlo_and_statsmodels(fixed):
    data, truth = pq.simulate(n_prompts=150, n_annotators=6 if fixed else 40, position_sd=0.8,
                              length_slope_sd=0.6, length_effect=0.4, comparison_sd=0.5, rng=11)
    pop = truth.fixed_annotators if fixed else truth.population
    pa, pb, x = _mc_probabilities(data, truth, fixed=fixed, draws=3000, seed=1)
    decided = pa + pb
    # P(a) among non-ties: MC SE of the ratio is < 0.5 / sqrt(3000 * 1350) ~ 3e-4; tolerance 1e-3
    assert abs(pop["p_choose_a"] - pa.sum() / decided.sum()) < 1e-3
    assert abs(pop["p_tie"] - (1 - decided.mean())) < 1e-3
    j = data.judgments
    jt = data.judgments_with_text()
    la, lb = jt["response_a"].str.len().to_numpy(float), jt["response_b"].str.len().to_numpy(float)
    trial = (la != lb) & (np.abs(la - lb) / np.maximum(la, lb) > 0.1)
    p_longer = np.where(la > lb, pa, pb)
    assert abs(pop["p_longer_chosen"] - p_longer[trial].sum() / decided[trial].sum()) < 1e-3
    # pseudo-true GLM coefficients: statsmodels on the expected counts (each judgment as a success row
    # weighted P(a) and a failure row weighted P(b)), same columns as position_bias / length_bias
    import statsmodels.api as sm

    models = truth.model_strengths.index
    mat = np.zeros((len(j), len(models)))
    mat[np.arange(len(j)), models.get_indexer(j["model_a"])] += 1
    mat[np.arange(len(j)), models.get_indexer(j["model_b"])] -= 1
    X_pos = np.column_stack([np.ones(len(j)), mat[:, 1:]])
    X_len = np.column_stack([np.ones(len(j)), x, mat[:, 1:]])
    y = np.r_[np.ones(len(j)), np.zeros(len(j))]
    w = np.r_[pa, pb]
    pos = sm.GLM(y, np.vstack([X_pos, X_pos]), family=sm.families.Binomial(), freq_weights=w).fit()
    slope = sm.GLM(y, np.vstack([X_len, X_len]), family=sm.families.Binomial(), freq_weights=w).fit()
    assert abs(pop["position_logit"] - pos.params[0]) < 5e-3
    assert abs(pop["length_slope"] - slope.params[1]) < 1e-2
    # with the annotators fixed and few of them, P(a) follows their drawn position logits
    if fixed:
        assert abs(pop["p_choose_a"] - truth.population["p_choose_a"]) > 0.005


def test_estimators_converge_to_the_population_values_on_a_large_design():
    # 200 annotators, 36,000 judgments: the estimates sit within 3 (cluster-robust order) SEs of the
    # population values, while the planted means (0 position, 0.4 slope) are not the target
    data, truth = pq.simulate(n_prompts=4000, n_annotators=200, position_sd=0.8, length_slope_sd=0.6,
                              length_effect=0.4, comparison_sd=0.5, rng=12)
    pop = truth.population
    assert abs(pop["p_choose_a"] - 0.5) < 0.01
    assert pop["length_slope"] < 0.4 - 0.02  # marginal slope is attenuated by the heterogeneity
    pb = pq.position_bias(data)
    lb = pq.length_bias(data)
    # annotator-level SD of P(a) is about 0.18; over 200 annotators SE ~ 0.013
    assert abs(pb.estimate - pop["p_choose_a"]) < 0.04
    assert abs(lb.slope - pop["length_slope"]) < 3 * 0.035
    assert abs(lb.estimate - pop["p_longer_chosen"]) < 0.03
    bt = pq.fit_bradley_terry(data).to_frame()
    est = bt[bt["kind"] == "strength"].set_index("term")["estimate"].reindex(truth.population_strengths.index)
    assert np.max(np.abs(est - truth.population_strengths)) < 0.06
    # the attenuation is real: the planted strengths are further away
    assert np.max(np.abs(truth.population_strengths - truth.model_strengths)) > 0.1


def test_population_logit_reproduces_the_named_values_and_checks_its_input():
    data, truth = pq.simulate(n_prompts=80, position_sd=0.5, length_effect=0.5, length_slope_sd=0.3, rng=13)
    j = data.judgments
    models = truth.model_strengths.index
    mat = np.zeros((len(j), len(models)))
    mat[np.arange(len(j)), models.get_indexer(j["model_a"])] += 1
    mat[np.arange(len(j)), models.get_indexer(j["model_b"])] -= 1
    ones = np.ones((len(j), 1))
    assert truth.population_logit(np.hstack([ones, mat[:, 1:]]))[0] == pytest.approx(
        truth.population["position_logit"], abs=1e-9)
    jt = data.judgments_with_text()
    x = np.tanh((jt["response_a"].str.len() - jt["response_b"].str.len()).to_numpy(float) / truth.length_scale)
    beta = truth.population_logit(np.column_stack([ones, x, mat[:, 1:]]), fixed_annotators=True)
    assert beta[1] == pytest.approx(truth.fixed_annotators["length_slope"], abs=1e-9)
    with pytest.raises(SchemaError, match="one row per judgment"):
        truth.population_logit(np.ones((3, 1)))


def test_population_alpha_matches_monte_carlo_with_the_krippendorff_package():
    # independent check: redraw the latent draws and the votes on the generated design, score each draw with
    # the `krippendorff` package on the units counted in both orientations (that symmetrises the chance
    # agreement, as pq.agreement's default does), and average
    krippendorff = pytest.importorskip("krippendorff")

    data, truth = pq.simulate(n_prompts=60, n_annotators=12, position_sd=0.8, length_effect=0.4,
                              length_slope_sd=0.6, comparison_sd=0.7, rng=14)
    j = data.judgments
    _, first, sign, mu = _displayed(data, truth)
    jt = data.judgments_with_text()
    x = np.tanh((jt["response_a"].str.len() - jt["response_b"].str.len()).to_numpy(float) / truth.length_scale)
    ann, ann_labels = pd.factorize(j["annotator_id"])
    comp, comp_labels = pd.factorize(j["comparison_id"])
    n, m, c = len(j), len(ann_labels), len(comp_labels)
    gen = np.random.default_rng(2)
    alphas = []
    for _ in range(200):
        acc = gen.uniform(0.7, 1.3, m)
        pos, slope = gen.normal(0, 0.8, m), gen.normal(0, 0.6, m)
        e = gen.normal(0, 0.5, c) - gen.normal(0, 0.5, c)  # canonical q1 - q2 around the strengths
        u = gen.normal(0, 0.7, c)
        eta = acc[ann] * (mu + sign * e[comp]) + sign * u[comp] + (0.4 + slope[ann]) * x + pos[ann]
        latent = eta + gen.logistic(0, 1, n)
        shown = np.where(latent > 0.3, 0, np.where(latent < -0.3, 1, 2))  # a, b, tie as displayed
        label = np.where(shown == 2, 2, np.where((shown == 0) == first, 0, 1))  # first / second response, tie
        table = np.full((m, 2 * c), np.nan)
        table[ann, comp] = label
        table[ann, c + comp] = np.where(label == 2, 2, 1 - label)  # the same unit, sides swapped
        alphas.append(krippendorff.alpha(reliability_data=table, level_of_measurement="nominal"))
    alphas = np.asarray(alphas)
    se = alphas.std(ddof=1) / np.sqrt(len(alphas))
    assert abs(truth.population_alpha - alphas.mean()) < 4 * se + 0.002
    assert 0.05 < truth.population_alpha < 0.6


def test_a_fixed_annotator_panel_is_reused_as_given():
    _, first = pq.simulate(n_prompts=40, n_annotators=5, position_sd=0.8, length_slope_sd=0.6, rng=15)
    data, again = pq.simulate(n_prompts=40, n_annotators=99, position_sd=0.8, length_slope_sd=0.6,
                              annotators=first.annotators, rng=16)
    assert again.annotators.equals(first.annotators) and data.n_annotators == 5
    # new items: the comparisons differ, and the fixed-annotator value uses the panel's own position logits
    assert not again.comparisons["quality_1"].equals(first.comparisons["quality_1"])
    share_a = data.judgments.assign(a=data.judgments["choice"] == "a").groupby("annotator_id")["a"].mean()
    assert np.corrcoef(share_a, first.annotators["position_bias"].reindex(share_a.index))[0, 1] > 0.5
    with pytest.raises(SchemaError, match="`annotators` must be a non-empty DataFrame"):
        pq.simulate(annotators=first.annotators.drop(columns="accuracy"))
