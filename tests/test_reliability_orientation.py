"""Orientation-free agreement, categories from the data, per-stratum expected disagreement, ratings-only data.

Independent references: the ``krippendorff`` package (alpha on the doubled data, each comparison
once as stored and once mirrored; alpha on each stratum alone) and prefqa's low-level textbook
coefficients (``pq.fleiss_kappa``, ``pq.gwet_ac``, ``brennan_prediger``) on the same long tables.
"""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.reliability import brennan_prediger, percent_agreement

EXACT = 1e-9
KW = {"unit": "unit", "rater": "rater", "value": "value"}
COEFS = ("krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "brennan_prediger", "percent_agreement")


def _swap_sides(j: pd.DataFrame, comparisons: np.ndarray) -> pd.DataFrame:
    """Swap a and b of every judgment of the given comparisons (texts, models, choice, strength)."""
    j = j.copy()
    m = j["comparison_id"].isin(comparisons).to_numpy()
    for x, y in (("response_a_id", "response_b_id"), ("model_a", "model_b")):
        if x in j:
            a, b = j.loc[m, x].to_numpy(), j.loc[m, y].to_numpy()
            j.loc[m, x], j.loc[m, y] = b, a
    j.loc[m, "choice"] = j.loc[m, "choice"].map({"a": "b", "b": "a", "tie": "tie"})
    if "strength" in j:
        j.loc[m, "strength"] = -j.loc[m, "strength"]
    return j


def _estimates(res: pq.AgreementResult, target: str = "choice") -> pd.Series:
    c = res.coefficients
    return c[(c["stratum"] == "all") & (c["target"] == target)].set_index("coefficient")["estimate"]


def _skewed(seed: int, n: int = 300, ties: bool = True) -> pd.DataFrame:
    """Comparisons stored with the better response mostly first (as in model-name order files)."""
    rng = np.random.default_rng(seed)
    k = rng.integers(2, 6, n)
    comp = np.repeat(np.arange(n), k)
    first_better = rng.random(n) < 0.85
    p_first = np.where(first_better, 0.8, 0.25)[comp]
    u = rng.random(len(comp))
    choice = np.where(u < p_first, "a", "b").astype(object)
    if ties:
        choice[rng.random(len(comp)) < 0.1] = "tie"
    pos = np.arange(len(comp)) - np.repeat(np.cumsum(k) - k, k)
    return pd.DataFrame({"comparison_id": [f"c{c:04d}" for c in comp], "annotator_id": [f"a{p}" for p in pos],
                         "choice": choice})


def _displayed(seed: int, n: int = 200) -> pq.PreferenceData:
    """Judgments with response ids, each shown in a random display order, with a signed strength."""
    rng = np.random.default_rng(seed)
    j = _skewed(seed, n)
    comp = j["comparison_id"].to_numpy(dtype=object)
    ra, rb = comp + "-x", comp + "-y"                     # x = the response stored first
    shown_swapped = rng.random(len(j)) < 0.4
    won = j["choice"].to_numpy(dtype=object)              # a = x won, b = y won
    j["response_a_id"] = np.where(shown_swapped, rb, ra)
    j["response_b_id"] = np.where(shown_swapped, ra, rb)
    j["model_a"] = np.where(shown_swapped, "m2", "m1")
    j["model_b"] = np.where(shown_swapped, "m1", "m2")
    flip = {"a": "b", "b": "a", "tie": "tie"}
    j["choice"] = np.where(shown_swapped, pd.Series(won).map(flip).to_numpy(dtype=object), won)
    size = rng.integers(1, 4, len(j)).astype(float)
    sign = np.where(j["choice"] == "a", 1.0, np.where(j["choice"] == "b", -1.0, 0.0))
    j["strength"] = sign * size
    responses = pd.DataFrame({"response_id": np.r_[np.unique(ra), np.unique(rb)]})
    responses["prompt_id"] = responses["response_id"].str[:-2]
    responses["text"] = "text of " + responses["response_id"]
    j["prompt_id"] = comp
    return pq.PreferenceData(j, responses=responses)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_swapping_sides_of_half_the_comparisons_changes_no_coefficient(seed):
    data = _displayed(seed)
    rng = np.random.default_rng(seed)
    ids = data.judgments["comparison_id"].unique()
    swapped = pq.PreferenceData(_swap_sides(data.judgments, rng.choice(ids, len(ids) // 2, replace=False)),
                                responses=data.responses)
    a = pq.agreement(data, n_resamples=0)
    b = pq.agreement(swapped, n_resamples=0)
    for target in ("choice", "strength"):
        ea, eb = _estimates(a, target), _estimates(b, target)
        assert len(ea) and np.isfinite(ea["krippendorff_alpha"])
        np.testing.assert_allclose(eb.loc[ea.index], ea, atol=EXACT, err_msg=target)
    # which judgment comes first sets the canonical orientation (schema.flipped): shuffling the rows
    # changes it for many comparisons, and no coefficient
    shuffled = pq.PreferenceData(data.judgments.sample(frac=1.0, random_state=seed), responses=data.responses)
    assert (shuffled.oriented_choice() != data.oriented_choice()[
        data.judgments.index.get_indexer(shuffled.judgments.index)]).any()
    es = _estimates(pq.agreement(shuffled, n_resamples=0), "choice")
    np.testing.assert_allclose(es.loc[list(COEFS)], _estimates(a).loc[list(COEFS)], atol=EXACT)
    # the same holds without response ids (stored a/b is then the orientation)
    plain = _skewed(seed)
    comps = plain["comparison_id"].unique()
    flip = _swap_sides(plain, rng.choice(comps, len(comps) // 2, replace=False))
    ea = _estimates(pq.agreement(pq.PreferenceData(plain), n_resamples=0))
    eb = _estimates(pq.agreement(pq.PreferenceData(flip), n_resamples=0))
    np.testing.assert_allclose(eb.loc[list(COEFS)], ea.loc[list(COEFS)], atol=EXACT)
    # ... while the coefficients as stored do move (so the test can fail)
    sa = _estimates(pq.agreement(pq.PreferenceData(plain), n_resamples=0, orientation="as_stored"))
    sb = _estimates(pq.agreement(pq.PreferenceData(flip), n_resamples=0, orientation="as_stored"))
    assert abs(sa["krippendorff_alpha"] - sb["krippendorff_alpha"]) > 0.05
    assert sa["percent_agreement"] == pytest.approx(sb["percent_agreement"], abs=EXACT)


def _long(j: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"unit": j["comparison_id"], "rater": j["annotator_id"], "value": j["choice"]})


def _doubled(j: pd.DataFrame) -> pd.DataFrame:
    mirror = _long(j).assign(unit=lambda f: f["unit"] + "~mirror",
                             value=lambda f: f["value"].map({"a": "b", "b": "a", "tie": "tie"}))
    return pd.concat([_long(j), mirror], ignore_index=True)


@pytest.mark.parametrize("ties", [True, False])
def test_symmetric_equals_independent_computation_on_the_doubled_data(ties):
    j = _skewed(7, ties=ties)
    res = pq.agreement(pq.PreferenceData(j), n_resamples=0)
    est = _estimates(res)
    d = _doubled(j)
    dense = d.assign(value=d["value"].map({"a": 0, "b": 1, "tie": 2})).pivot(
        index="rater", columns="unit", values="value").to_numpy(dtype=float)
    assert est["krippendorff_alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=dense, level_of_measurement="nominal"), abs=EXACT)
    # the kappa family's point estimates on the doubled data (pa unchanged, marginals symmetrised)
    assert est["fleiss_kappa"] == pytest.approx(pq.fleiss_kappa(d, **KW).estimate, abs=EXACT)
    assert est["gwet_ac1"] == pytest.approx(pq.gwet_ac(d, **KW).estimate, abs=EXACT)
    assert est["brennan_prediger"] == pytest.approx(brennan_prediger(d, **KW).estimate, abs=EXACT)
    assert est["percent_agreement"] == pytest.approx(percent_agreement(_long(j), **KW).estimate, abs=EXACT)
    assert res.categories == (("a", "b", "tie") if ties else ("a", "b"))


def test_as_stored_on_tie_free_data_equals_gwet_ac_exactly():
    # issue 11: a fixed tie category gave AC1 0.567 through pq.agreement and 0.357 through pq.gwet_ac
    j = _skewed(3, ties=False)
    res = pq.agreement(pq.PreferenceData(j), n_resamples=0, orientation="as_stored")
    low = _long(j)
    assert res.categories == ("a", "b")
    assert res.ac1 == pytest.approx(pq.gwet_ac(low, **KW).estimate, abs=EXACT)
    assert res.kappa == pytest.approx(pq.fleiss_kappa(low, **KW).estimate, abs=EXACT)
    row = res.coefficients.set_index("coefficient").loc["gwet_ac1"]
    assert row["std_error"] == pytest.approx(pq.gwet_ac(low, **KW).std_error, abs=EXACT)
    assert _estimates(res)["brennan_prediger"] == pytest.approx(brennan_prediger(low, **KW).estimate, abs=EXACT)
    # declaring the tie category gives the old three-category values
    three = pq.agreement(pq.PreferenceData(j), n_resamples=0, orientation="as_stored", categories=["a", "b", "tie"])
    assert three.ac1 == pytest.approx(pq.gwet_ac(low, **KW, value_domain=["a", "b", "tie"]).estimate, abs=EXACT)
    assert three.ac1 != pytest.approx(res.ac1, abs=1e-3)


def test_categories_are_validated():
    data = pq.PreferenceData(_skewed(1))
    with pytest.raises(pq.SchemaError, match="leaves out choices that occur"):
        pq.agreement(data, n_resamples=0, categories=["a", "b"])
    with pytest.raises(pq.SchemaError, match="subset of"):
        pq.agreement(data, n_resamples=0, categories=["first", "second"])
    with pytest.raises(pq.SchemaError, match="both 'a' and 'b'"):
        pq.agreement(pq.PreferenceData(_skewed(1).assign(choice="a")), n_resamples=0, categories=["a"])
    with pytest.raises(pq.SchemaError, match="`orientation` must be one of"):
        pq.agreement(data, orientation="sorted")
    with pytest.raises(pq.SchemaError, match="`expected` must be one of"):
        pq.agreement(data, by="annotator_id", expected="local")


def test_bootstrap_still_runs_on_compressed_patterns_and_brackets_the_estimate():
    res = pq.agreement(pq.PreferenceData(_skewed(5)), n_resamples=400, rng=0)
    c = res.coefficients.set_index("coefficient")
    for name in COEFS:
        assert c.loc[name, "ci_low"] < c.loc[name, "estimate"] < c.loc[name, "ci_high"], name
    # the linearised SE of Fleiss' kappa and the bootstrap spread agree roughly (same estimator)
    width = c.loc["fleiss_kappa", "ci_high"] - c.loc["fleiss_kappa", "ci_low"]
    assert width / (2 * 1.96 * c.loc["fleiss_kappa", "std_error"]) == pytest.approx(1.0, abs=0.25)


@pytest.mark.parametrize("orientation", ["as_stored", "symmetric"])
def test_within_strata_equals_krippendorff_on_each_stratum_alone(orientation):
    j = _skewed(11)
    j["batch"] = np.where(j["comparison_id"].str[-1].isin(list("01234")), "x", "y")
    j.loc[j["batch"] == "y", "choice"] = j.loc[j["batch"] == "y", "choice"].replace({"tie": "a"})
    res = pq.agreement(pq.PreferenceData(j), n_resamples=0, by="batch", expected="within", orientation=orientation)
    pooled = pq.agreement(pq.PreferenceData(j), n_resamples=0, by="batch", orientation=orientation)
    c = res.coefficients
    for batch in ("x", "y"):
        sub = j[j["batch"] == batch]
        f = _long(sub) if orientation == "as_stored" else _doubled(sub)
        dense = f.assign(value=f["value"].map({"a": 0, "b": 1, "tie": 2})).pivot(
            index="rater", columns="unit", values="value").to_numpy(dtype=float)
        ref = krippendorff.alpha(reliability_data=dense, level_of_measurement="nominal")
        got = c[(c["stratum"] == batch) & (c["coefficient"] == "krippendorff_alpha")]["estimate"].iloc[0]
        assert got == pytest.approx(ref, abs=EXACT), batch
        # each stratum alone through pq.agreement gives the same number
        alone = pq.agreement(pq.PreferenceData(sub), n_resamples=0, orientation=orientation,
                             categories=list(res.categories))
        assert alone.alpha == pytest.approx(ref, abs=EXACT)
        p = pooled.coefficients
        p_alpha = p[(p["stratum"] == batch) & (p["coefficient"] == "krippendorff_alpha")]["estimate"].iloc[0]
        assert p_alpha != pytest.approx(ref, abs=1e-4)  # pooled uses all data's expected disagreement
    assert res.expected == "within" and pooled.expected == "pooled"


def _ratings_only(prompt_ids: bool) -> pq.PreferenceData:
    rng = np.random.default_rng(4)
    n_items, n_raters = 60, 5
    truth = rng.normal(0, 1, n_items)
    rows = [(f"item-{i}", f"r{r}", float(np.clip(np.round(3 + truth[i] + rng.normal(0, 0.6)), 1, 5)))
            for i in range(n_items) for r in rng.choice(n_raters, 3, replace=False)]
    ratings = pd.DataFrame(rows, columns=["response_id", "annotator_id", "score"])
    if prompt_ids:
        ratings["prompt_id"] = "p-" + ratings["response_id"]
    empty = pd.DataFrame({c: pd.Series([], dtype="str") for c in ("comparison_id", "annotator_id", "choice")})
    return pq.PreferenceData(empty, ratings=ratings)


@pytest.mark.parametrize("prompt_ids", [False, True])
def test_agreement_on_ratings_only_data(prompt_ids):
    data = _ratings_only(prompt_ids)
    res = pq.agreement(data, n_resamples=50, rng=0, level="interval")
    c = res.coefficients
    assert set(c["target"]) == {"rating:overall"} and res.n_units_used == 0
    r = data.ratings
    dense = r.pivot(index="annotator_id", columns="response_id", values="score").to_numpy(dtype=float)
    got = c.set_index("coefficient").loc["krippendorff_alpha", "estimate"]
    assert got == pytest.approx(krippendorff.alpha(reliability_data=dense, level_of_measurement="interval"), abs=EXACT)
    assert "rating:overall" in res.summary()


def test_no_overlap_anywhere_raises_with_the_reason():
    empty = pd.DataFrame({c: pd.Series([], dtype="str") for c in ("comparison_id", "annotator_id", "choice")})
    ratings = pd.DataFrame({"response_id": ["x", "y"], "annotator_id": ["r1", "r2"], "score": [1.0, 2.0]})
    with pytest.raises(pq.InsufficientDataError, match="no response rated by 2 or more"):
        pq.agreement(pq.PreferenceData(empty, ratings=ratings))
    with pytest.raises(pq.InsufficientDataError, match="needs annotator ids"):
        pq.agreement(pq.PreferenceData(empty))


def test_intra_rater_alpha_is_orientation_free_and_equals_krippendorff_on_doubled_repeats():
    rng = np.random.default_rng(8)
    j = _skewed(8, n=200)
    rep = j.sample(150, random_state=2).copy()                 # the same annotator judges again
    flip = rng.random(len(rep)) < 0.25
    rep.loc[flip, "choice"] = rep.loc[flip, "choice"].map({"a": "b", "b": "a", "tie": "a"})
    both = pd.concat([j, rep], ignore_index=True)
    res = pq.agreement(pq.PreferenceData(both), n_resamples=0)
    got = res.intra_rater.set_index("coefficient").loc["krippendorff_alpha", "estimate"]
    units = both.assign(unit=both["comparison_id"] + "|" + both["annotator_id"])
    units = units[units["unit"].isin(units.loc[units["unit"].duplicated(), "unit"])]
    units = units.assign(rater=units.groupby("unit").cumcount())  # repeat number as the "rater"
    d = pd.concat([units, units.assign(unit=units["unit"] + "~m",
                                       choice=units["choice"].map({"a": "b", "b": "a", "tie": "tie"}))])
    dense = d.assign(v=d["choice"].map({"a": 0, "b": 1, "tie": 2})).pivot(
        index="rater", columns="unit", values="v").to_numpy(dtype=float)
    assert got == pytest.approx(krippendorff.alpha(reliability_data=dense, level_of_measurement="nominal"), abs=EXACT)
    comps = both["comparison_id"].unique()
    swapped = _swap_sides(both, rng.choice(comps, len(comps) // 2, replace=False))
    res2 = pq.agreement(pq.PreferenceData(swapped), n_resamples=0)
    assert res2.intra_rater.set_index("coefficient").loc["krippendorff_alpha", "estimate"] == pytest.approx(got, abs=EXACT)
    stored = pq.agreement(pq.PreferenceData(both), n_resamples=0, orientation="as_stored")
    assert stored.intra_rater["estimate"].iloc[0] != pytest.approx(got, abs=1e-3)


@pytest.mark.slow
def test_symmetric_bootstrap_ci_covers_the_population_alpha():
    # population: comparisons stored with the better response first 85% of the time (see _skewed);
    # its symmetric alpha is that of one very large sample (doubled-data alpha, sampling error ~1e-3)
    big = _skewed(99, n=100_000)
    true_alpha = pq.agreement(pq.PreferenceData(big), n_resamples=0).alpha
    reps, hits = 100, 0
    for i in range(reps):
        res = pq.agreement(pq.PreferenceData(_skewed(1000 + i, n=150)), n_resamples=400, rng=i)
        row = res.coefficients.set_index("coefficient").loc["krippendorff_alpha"]
        hits += row["ci_low"] <= true_alpha <= row["ci_high"]
    assert hits / reps >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / reps), hits / reps  # measured 0.93 (SE 0.022)


def test_per_annotator_kappa_is_orientation_free():
    """annotator_agreement's loo_kappa (the annotator table's) does not move when stored sides are swapped."""
    from prefqa.reliability.annotators import annotator_agreement

    rng = np.random.default_rng(5)
    plain = _skewed(5)
    comps = plain["comparison_id"].unique()
    flip = _swap_sides(plain, rng.choice(comps, len(comps) // 2, replace=False))
    a = annotator_agreement(pq.PreferenceData(plain))
    b = annotator_agreement(pq.PreferenceData(flip))
    np.testing.assert_allclose(b["loo_kappa"], a["loo_kappa"], atol=EXACT)
    np.testing.assert_allclose(b["loo_agreement"], a["loo_agreement"], atol=EXACT)
    sa = annotator_agreement(pq.PreferenceData(plain), orientation="as_stored")
    sb = annotator_agreement(pq.PreferenceData(flip), orientation="as_stored")
    assert np.nanmax(np.abs(sa["loo_kappa"] - sb["loo_kappa"])) > 0.02  # as stored it does move


@pytest.mark.parametrize("orientation", ["symmetric", "as_stored"])
def test_two_way_jackknife_equals_brute_force_leave_one_out(orientation):
    """The exact leave-one-out alphas (units, annotators, judgments) equal refits on the reduced data."""
    from prefqa.reliability import _boot

    data, _ = pq.simulate(n_prompts=40, n_annotators=12, rng=3)
    res = pq.agreement(data, n_resamples=20, rng=0, orientation=orientation)
    row = res.coefficients.query("coefficient == 'krippendorff_alpha' and target == 'choice'").iloc[0]
    assert row["se_method"] == "two_way_jackknife"
    j = data.judgments

    def alpha(mask: np.ndarray) -> float:
        return pq.agreement(data.subset(mask), n_resamples=0, orientation=orientation,
                            categories=res.categories).alpha

    def jack(values: np.ndarray) -> float:
        return (len(values) - 1) / len(values) * float(((values - values.mean()) ** 2).sum())

    ann = j["annotator_id"].to_numpy()
    comp = j["comparison_id"].to_numpy()
    v_raters = jack(np.array([alpha(ann != a) for a in np.unique(ann)]))
    v_units = jack(np.array([alpha(comp != c) for c in np.unique(comp)]))
    v_judg = jack(np.array([alpha(np.arange(len(j)) != i) for i in range(len(j))]))
    expected = max(v_units + v_raters - v_judg, v_units)
    assert row["std_error"] == pytest.approx(np.sqrt(expected), rel=1e-9)
    # the bootstrap over comparisons alone (fewer than 10 annotators) says it treats them as fixed
    few = data.subset(np.isin(ann, np.unique(ann)[:5]))
    res5 = pq.agreement(few, n_resamples=50, rng=0, orientation=orientation)
    assert res5.coefficients.query("coefficient == 'krippendorff_alpha'")["se_method"].iloc[0] == "bootstrap"
    assert any("treats these annotators as fixed" in w for w in res5.warnings)
