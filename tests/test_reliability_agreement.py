"""pq.agreement, annotator_agreement, ICC on incomplete designs, properties vs krippendorff."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import prefqa as pq
from prefqa.reliability import annotator_agreement
from prefqa.reliability.icc import variance_components

EXACT = 1e-9
PUB4 = 5e-5
KW = {"unit": "unit", "rater": "rater", "value": "value"}


@pytest.fixture(scope="module")
def sim():
    return pq.simulate(n_prompts=150, n_annotators=20, n_spammers=3, both_orders=0.3, ratings=True,
                       n_domains=2, rng=11)


def _pandalm_data(pandalm_dir) -> pq.PreferenceData:
    raw = pd.read_json(pandalm_dir / "testset-v1.json").reset_index()
    long = raw.melt(id_vars="index", value_vars=["annotator1", "annotator2", "annotator3"],
                    var_name="annotator_id", value_name="label")
    choice = long["label"].map({1: "a", 2: "b", 0: "tie"})
    return pq.PreferenceData(pd.DataFrame({"comparison_id": long["index"].astype(str),
                                           "annotator_id": long["annotator_id"], "choice": choice}))


def test_agreement_pandalm_matches_low_level(pandalm_dir):
    data = _pandalm_data(pandalm_dir)
    res = pq.agreement(data, n_resamples=200, rng=0, orientation="as_stored", categories=["a", "b", "tie"])
    # reference-values.md "computed here" on the stored labels: Fleiss 0.86418, alpha 0.86422
    assert res.alpha == pytest.approx(0.86422, abs=5e-6)
    assert res.kappa == pytest.approx(0.86418, abs=5e-6)
    row = res.to_frame().query("coefficient == 'krippendorff_alpha' and target == 'choice'").iloc[0]
    assert row["ci_low"] < res.alpha < row["ci_high"]
    assert res.n_annotators == 3 and res.n_units_skipped == 0
    assert res.level == "ordinal"


def test_agreement_uses_oriented_choice_not_display_label():
    j = pd.DataFrame({
        "comparison_id": ["c1", "c1", "c2", "c2", "c3", "c3"], "annotator_id": ["x", "y"] * 3,
        "choice": ["a", "b", "a", "b", "b", "a"],
        "response_a_id": ["r1", "r2", "r3", "r4", "r5", "r6"], "response_b_id": ["r2", "r1", "r4", "r3", "r6", "r5"],
    })
    res = pq.agreement(pq.PreferenceData(j), n_resamples=0)
    # every pair picked the same response in swapped display order: perfect agreement
    assert res.percent_agreement == 1.0
    assert res.alpha == pytest.approx(1.0, abs=EXACT)


def test_agreement_simulated_spammers_lower_reliability(sim):
    data, truth = sim
    res = pq.agreement(data, n_resamples=100, rng=1, by="domain")
    assert set(res.coefficients["stratum"]) == {"all", "domain-000", "domain-001"}
    assert {"choice", "strength", "rating:overall"} <= set(res.coefficients["target"])
    assert res.n_repeats > 0 and len(res.intra_rater) == 2
    spam = truth.annotators.index[truth.annotators["kind"] == "spammer"]
    clean = pq.agreement(data.subset(~data.judgments["annotator_id"].isin(spam).to_numpy()), n_resamples=0)
    assert clean.alpha > res.alpha
    assert "domain" in res.summary() or "domain-000" in res.summary()


def test_annotator_agreement_flags_spammers(sim):
    data, truth = sim
    table = annotator_agreement(data)
    assert table.index.name == "annotator_id" and len(table) == data.n_annotators
    spam = truth.annotators.index[truth.annotators["kind"] == "spammer"]
    normal = table.drop(spam)
    assert table.loc[spam, "loo_kappa"].max() < normal["loo_kappa"].median()
    assert table.loc[spam, "loo_agreement"].max() < normal["loo_agreement"].median()
    assert (table["n_repeat_units"] > 0).any()


def test_annotator_loo_kappa_matches_cohen():
    # two annotators: the consensus of "the others" is the other annotator -> Cohen's kappa
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, 60)
    y = np.where(rng.random(60) < 0.7, x, rng.integers(0, 3, 60))
    lab = np.array(["a", "b", "tie"])
    j = pd.DataFrame({"comparison_id": np.r_[np.arange(60), np.arange(60)].astype(str),
                      "annotator_id": ["x"] * 60 + ["y"] * 60, "choice": lab[np.r_[x, y]]})
    table = annotator_agreement(pq.PreferenceData(j), orientation="as_stored")
    long = pd.DataFrame({"unit": j["comparison_id"], "rater": j["annotator_id"], "value": j["choice"]})
    ck = pq.cohen_kappa(long, **KW, value_domain=["a", "b", "tie"])
    assert table.loc["x", "loo_kappa"] == pytest.approx(ck.estimate, abs=EXACT)
    # orientation-free (the default): pairwise_kappa with the a/b mirror is the same table symmetrised
    sym = annotator_agreement(pq.PreferenceData(j))
    pk = pq.pairwise_kappa(long, **KW, value_domain=["a", "b", "tie"], min_overlap=2,
                           mirror={"a": "b", "b": "a", "tie": "tie"})
    assert sym.loc["x", "loo_kappa"] == pytest.approx(pk["estimate"].iloc[0], abs=EXACT)
    assert table.loc["x", "loo_agreement"] == pytest.approx(float((x == y).mean()), abs=EXACT)


def test_no_annotator_ids_and_no_overlap_errors():
    j = pd.DataFrame({"comparison_id": ["c1", "c2"], "annotator_id": [None, None], "choice": ["a", "b"]})
    with pytest.raises(pq.InsufficientDataError, match="reliability needs annotator ids"):
        pq.agreement(pq.PreferenceData(j))
    j = pd.DataFrame({"comparison_id": ["c1", "c2"], "annotator_id": ["x", "y"], "choice": ["a", "b"]})
    with pytest.raises(pq.InsufficientDataError, match="got 0 of 2 comparisons"):
        pq.agreement(pq.PreferenceData(j))
    f = pd.DataFrame({"unit": [1, 2], "rater": ["x", "y"], "value": [1, 2]})
    with pytest.raises(pq.InsufficientDataError, match="got 0 of 2 units"):
        pq.krippendorff_alpha(f, **KW)
    with pytest.raises(pq.SchemaError, match="`level` must be one of"):
        pq.krippendorff_alpha(f, **KW, level="likert")
    with pytest.raises(pq.SchemaError, match="no column"):
        pq.krippendorff_alpha(f, unit="item", rater="rater", value="value")
    with pytest.raises(pq.SchemaError, match="`level` sets how ratings"):
        pq.agreement(pq.PreferenceData(j), level="nominal")
    with pytest.raises(pq.SchemaError, match="exactly 2 raters"):
        pq.cohen_kappa(pd.DataFrame({"unit": [1, 1, 1], "rater": list("xyz"), "value": [1, 1, 2]}), **KW)


def test_single_category_is_prevalence_not_crash():
    f = pd.DataFrame({"unit": [1, 1, 2, 2, 3, 3], "rater": list("xyxyxy"), "value": ["a"] * 6})
    with pytest.raises(pq.InsufficientDataError, match="prevalence"):
        pq.krippendorff_alpha(f, **KW)
    fk = pq.fleiss_kappa(f, **KW)
    assert np.isnan(fk.estimate) and "prevalence" in fk.warnings[0]
    assert pq.gwet_ac(f, **KW).estimate == 1.0
    j = pd.DataFrame({"comparison_id": ["c1", "c1", "c2", "c2"], "annotator_id": list("xyxy"), "choice": ["a"] * 4})
    res = pq.agreement(pq.PreferenceData(j), n_resamples=10, orientation="as_stored")
    assert np.isnan(res.alpha) and res.ac1 == 1.0 and res.percent_agreement == 1.0
    assert any("prevalence" in w for w in res.warnings)
    # counted in both orientations, everyone picking the same response is perfect agreement
    sym = pq.agreement(pq.PreferenceData(j), n_resamples=10)
    assert sym.alpha == 1.0 and sym.kappa == 1.0 and sym.categories == ("a", "b")
    # all ties: a single category whatever the orientation
    ties = pq.agreement(pq.PreferenceData(j.assign(choice="tie")), n_resamples=10)
    assert np.isnan(ties.alpha) and ties.categories == ("tie",) and ties.percent_agreement == 1.0
    assert any("prevalence" in w for w in ties.warnings)


def test_perfect_agreement_gives_one():
    f = pd.DataFrame({"unit": [1, 1, 2, 2, 3, 3, 3], "rater": list("xyxyxyz"), "value": [1, 1, 2, 2, 3, 3, 3]})
    for lv in ("nominal", "ordinal", "interval", "ratio"):
        assert pq.krippendorff_alpha(f, **KW, level=lv) == pytest.approx(1.0, abs=EXACT)
    for fn in (pq.fleiss_kappa, pq.gwet_ac):
        assert fn(f, **KW).estimate == pytest.approx(1.0, abs=EXACT)


# --------------------------------------------------------------- hypothesis vs krippendorff
@st.composite
def sparse_ratings(draw):
    n_units = draw(st.integers(2, 25))
    n_raters = draw(st.integers(2, 7))
    n_vals = draw(st.integers(2, 5))
    cells = draw(st.lists(st.tuples(st.integers(0, n_units - 1), st.integers(0, n_raters - 1),
                                    st.integers(1, n_vals)), min_size=4, max_size=120))
    f = pd.DataFrame(cells, columns=["unit", "rater", "value"]).drop_duplicates(["unit", "rater"])
    return f


def _dense(f: pd.DataFrame) -> np.ndarray:
    return f.pivot(index="rater", columns="unit", values="value").to_numpy(dtype=float)


@given(sparse_ratings())
def test_alpha_equals_krippendorff_package(f):
    m = _dense(f)
    for lv in ("nominal", "ordinal", "interval", "ratio"):
        try:
            ref = krippendorff.alpha(reliability_data=m, level_of_measurement=lv)
        except (ValueError, ZeroDivisionError):
            continue
        if not np.isfinite(ref):
            with pytest.raises(pq.InsufficientDataError):
                pq.krippendorff_alpha(f, **KW, level=lv)
            continue
        assert pq.krippendorff_alpha(f, **KW, level=lv) == pytest.approx(ref, abs=1e-9), lv


@given(sparse_ratings(), st.integers(0, 2**31 - 1))
def test_invariance_to_permutations(f, seed):
    rng = np.random.default_rng(seed)
    try:
        base = pq.krippendorff_alpha(f, **KW)
    except pq.InsufficientDataError:
        return
    g = f.sample(frac=1.0, random_state=seed).copy()  # row order
    g["unit"] = rng.permutation(50)[g["unit"]]          # unit labels
    g["rater"] = rng.permutation(10)[g["rater"]]        # rater labels
    relabel = dict(zip(range(1, 6), rng.permutation(5) + 1))
    g["value"] = g["value"].map(relabel)                # category labels (nominal)
    assert pq.krippendorff_alpha(g, **KW) == pytest.approx(base, abs=1e-9)
    a, b = pq.gwet_ac(f, **KW), pq.gwet_ac(g, **KW)
    assert b.estimate == pytest.approx(a.estimate, abs=1e-9, nan_ok=True)
    assert pq.fleiss_kappa(g, **KW).estimate == pytest.approx(pq.fleiss_kappa(f, **KW).estimate, abs=1e-9, nan_ok=True)


# --------------------------------------------------------------- ICC on incomplete designs
def _henderson_dense(unit, rater, y):
    """Independent Henderson III via dense least squares on dummy designs."""
    n = len(y)
    U = np.eye(unit.max() + 1)[unit]
    R = np.eye(rater.max() + 1)[rater]
    one = np.ones((n, 1))

    def red(x):
        beta = np.linalg.lstsq(x, y, rcond=None)[0]
        return float(y @ (x @ beta))

    r_full, r_u, r_r = red(np.c_[one, U, R]), red(np.c_[one, U]), red(np.c_[one, R])
    df_e = n - U.shape[1] - R.shape[1] + 1
    s2e = (y @ y - r_full) / df_e
    P_u = U @ np.linalg.pinv(U)
    P_r = R @ np.linalg.pinv(R)
    tr_b = np.trace(R.T @ (np.eye(n) - P_u) @ R)
    tr_a = np.trace(U.T @ (np.eye(n) - P_r) @ U)
    s2b = (r_full - r_u - (R.shape[1] - 1) * s2e) / tr_b
    s2a = (r_full - r_r - (U.shape[1] - 1) * s2e) / tr_a
    return s2a, s2b, s2e


# pingouin wine data set (PG icc.csv): 8 wines (rows) x judges A..D
WINE = [[1, 2, 0, 1], [1, 3, 3, 2], [3, 8, 1, 4], [6, 4, 3, 3], [6, 5, 5, 6], [7, 5, 6, 2], [8, 7, 7, 9], [9, 9, 9, 8]]


def test_icc_incomplete_matches_dense_henderson_and_keeps_units():
    wide = np.array(WINE, dtype=float)
    wide[3, 0] = np.nan  # pingouin's missing-value case; pingouin drops wine 4, we keep it
    t, j = np.nonzero(~np.isnan(wide))
    f = pd.DataFrame({"unit": t, "rater": j, "value": wide[t, j]})
    res = pq.icc(f, **KW)
    assert res.n_units == 8 and not res.balanced and res.warnings
    s2a, s2b, s2e = _henderson_dense(t, j, wide[t, j])
    np.testing.assert_allclose(res.components[["unit", "rater", "residual"]], [s2a, s2b, s2e], atol=EXACT)


def test_icc_moments_recover_planted_components():
    rng = np.random.default_rng(2)
    n_u, n_r = 400, 40
    a, b = rng.normal(0, 1.0, n_u), rng.normal(0, 0.5, n_r)
    unit = np.repeat(np.arange(n_u), 4)
    rater = np.concatenate([rng.choice(n_r, 4, replace=False) for _ in range(n_u)])
    keep = rng.random(len(unit)) > 0.2          # incomplete, unbalanced
    unit, rater = unit[keep], rater[keep]
    y = 3 + a[unit] + b[rater] + rng.normal(0, 0.7, len(unit))
    c = variance_components(unit, rater, y)
    assert c["unit"] == pytest.approx(1.0, abs=0.2)
    assert c["rater"] == pytest.approx(0.25, abs=0.15)
    assert c["residual"] == pytest.approx(0.49, abs=0.08)


# --------------------------------------------------------------- bootstrap coverage
@pytest.mark.slow
def test_bootstrap_ci_covers_true_alpha():
    # population: 3 categories, 3 raters per unit, latent class + 30% random labels
    def draw(rng, n):
        truth = rng.integers(0, 3, n)
        lab = np.where(rng.random((n, 3)) < 0.7, truth[:, None], rng.integers(0, 3, (n, 3)))
        return pd.DataFrame({"comparison_id": np.repeat(np.arange(n), 3).astype(str),
                             "annotator_id": np.tile(["x", "y", "z"], n),
                             "choice": np.array(["a", "b", "tie"])[lab.ravel()]})

    big = draw(np.random.default_rng(0), 200_000)
    f = pd.DataFrame({"unit": big["comparison_id"], "rater": big["annotator_id"], "value": big["choice"]})
    true_alpha = pq.krippendorff_alpha(f, **KW)
    hits, reps = 0, 60
    for i in range(reps):
        d = pq.PreferenceData(draw(np.random.default_rng(100 + i), 150))
        row = pq.agreement(d, n_resamples=400, rng=i).to_frame().iloc[0]
        hits += row["ci_low"] <= true_alpha <= row["ci_high"]
    assert 0.85 <= hits / reps <= 1.0  # nominal 0.95; binomial sd ~0.03 at 60 reps
