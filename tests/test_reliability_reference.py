"""Reliability coefficients against published reference values (../shared/data/reference-values.json).

Each value names its source beside it; see reference-values.md for the provenance.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.errors import SchemaError
from prefqa.reliability import brennan_prediger, percent_agreement

EXACT = 1e-9      # values recomputed to full precision (krippendorff 0.9.0, own/sklearn)
PUB7 = 5e-8       # published with 7 significant digits
PUB5 = 5e-6       # published with 5 decimals
PUB4 = 5e-5       # published with 4 decimals (SAS)
PUB3 = 5e-4       # published with 3 decimals
PUB2 = 5e-3       # published with 2 decimals
REML_RTOL = 1e-4  # REML by bounded L-BFGS-B (fit_rating_model) vs closed-form ANOVA components
REML_ATOL = 1e-3  # fit_rating_model vs statsmodels MixedLM REML: two optimizers, variances near 1-6


def coders_by_units(matrix: list[list]) -> pd.DataFrame:
    """rows = coders, columns = units, None = missing -> long frame."""
    m = np.array(matrix, dtype=float)
    c, u = np.nonzero(~np.isnan(m))
    return pd.DataFrame({"unit": u, "rater": c, "value": m[c, u]})


def units_by_raters(matrix: list[list]) -> pd.DataFrame:
    return coders_by_units(np.array(matrix, dtype=float).T.tolist())


def counts_to_long(counts: list[list[int]]) -> pd.DataFrame:
    """units x categories counts -> long frame with anonymous raters 0..r-1 per unit."""
    rows = []
    for u, row in enumerate(counts):
        r = 0
        for cat, k in enumerate(row, start=1):
            for _ in range(k):
                rows.append((u, r, cat))
                r += 1
    return pd.DataFrame(rows, columns=["unit", "rater", "value"])


def table_to_long(table: list[list[int]], cats: list) -> pd.DataFrame:
    rows, u = [], 0
    for i, row in enumerate(table):
        for j, k in enumerate(row):
            for _ in range(k):
                rows += [(u, "r1", cats[i]), (u, "r2", cats[j])]
                u += 1
    return pd.DataFrame(rows, columns=["unit", "rater", "value"])


KW = {"unit": "unit", "rater": "rater", "value": "value"}


# --------------------------------------------------------------- Krippendorff's alpha
def test_krippendorff_2011_4x12_all_levels(reference_values):
    case = reference_values["krippendorff_2011_4x12"]
    f = coders_by_units(case["data"])
    exp = case["expected"]
    # Krippendorff (2011) / FK doctest: nominal 0.743, ordinal 0.815, interval 0.849, ratio 0.797
    for lv, key in [("nominal", "alpha_nominal"), ("ordinal", "alpha_ordinal"),
                    ("interval", "alpha_interval"), ("ratio", "alpha_ratio")]:
        got = pq.krippendorff_alpha(f, **KW, level=lv)
        assert got == pytest.approx(exp[key], abs=PUB3)
        # krippendorff 0.9.0, recomputed in reference-values.md
        assert got == pytest.approx(exp["computed_krippendorff_0_9_0"][lv], abs=EXACT)
    # GW README krippen.alpha.raw = 0.74342
    assert pq.krippendorff_alpha(f, **KW) == pytest.approx(0.74342, abs=PUB5)
    # 904/1216 exactly (evalica asserts it)
    assert pq.krippendorff_alpha(f, **KW) == pytest.approx(904 / 1216, abs=EXACT)


def test_krippendorff_strings_need_value_domain_for_ordinal(reference_values):
    f = coders_by_units(reference_values["krippendorff_2011_4x12"]["data"])
    f["value"] = f["value"].map({1.0: "one", 2.0: "two", 3.0: "three", 4.0: "four", 5.0: "five"})
    assert pq.krippendorff_alpha(f, **KW) == pytest.approx(0.743, abs=PUB3)  # FK string doctest
    with pytest.raises(pq.SchemaError, match="value_domain"):
        pq.krippendorff_alpha(f, **KW, level="ordinal")
    dom = ["one", "two", "three", "four", "five"]
    assert pq.krippendorff_alpha(f, **KW, level="ordinal", value_domain=dom) == pytest.approx(0.815, abs=PUB3)


def test_krippendorff_wikipedia_3x15(reference_values):
    case = reference_values["krippendorff_wikipedia_3x15"]
    f = coders_by_units(case["data"])
    # FK doctest (Wikipedia example): nominal 0.691358, interval 0.810845
    assert pq.krippendorff_alpha(f, **KW) == pytest.approx(case["expected"]["alpha_nominal"], abs=5e-7)
    assert pq.krippendorff_alpha(f, **KW, level="interval") == pytest.approx(
        case["expected"]["alpha_interval"], abs=5e-7)


def test_hayes_krippendorff_2007_40x5(reference_values):
    case = reference_values["hayes_krippendorff_2007_40x5"]
    f = units_by_raters(case["data"])
    # Hayes & Krippendorff (2007): ordinal 0.7598; HK README (Grill): nominal 0.477, interval 0.757
    assert pq.krippendorff_alpha(f, **KW, level="ordinal") == pytest.approx(0.7598, abs=PUB4)
    assert pq.krippendorff_alpha(f, **KW) == pytest.approx(0.477, abs=PUB3)
    assert pq.krippendorff_alpha(f, **KW, level="interval") == pytest.approx(0.757, abs=PUB3)
    for lv, v in case["expected"]["computed_krippendorff_0_9_0"].items():
        assert pq.krippendorff_alpha(f, **KW, level=lv) == pytest.approx(v, abs=EXACT)


def test_irrcac_raw5obser_first_15_units(reference_values):
    case = reference_values["hayes_krippendorff_2007_40x5"]
    f = units_by_raters(case["data"][:15])
    exp = reference_values["irrcac_raw5obser_15x5"]["expected_3dp_afergadis_irrCAC"]
    # AF irrCAC tests: AC1 0.497 (pa 0.616, pe 0.236), alpha 0.481
    ac1 = pq.gwet_ac(f, **KW)
    assert ac1.estimate == pytest.approx(exp["gwet_ac1"], abs=PUB3)
    assert ac1.p_observed == pytest.approx(exp["gwet_pa"], abs=PUB3)
    assert ac1.p_chance == pytest.approx(exp["gwet_pe"], abs=PUB3)
    assert pq.krippendorff_alpha(f, **KW) == pytest.approx(exp["krippendorff_alpha_nominal"], abs=PUB3)


# --------------------------------------------------------------- kappa family
def test_irrcac_4x12_family_and_standard_errors(reference_values):
    f = coders_by_units(reference_values["krippendorff_2011_4x12"]["data"])
    # GW README (R irrCAC) on cac.raw4raters
    ac1 = pq.gwet_ac(f, **KW)
    assert ac1.estimate == pytest.approx(0.77544, abs=PUB5)
    assert ac1.std_error == pytest.approx(0.14295, abs=PUB5)
    assert ac1.p_observed == pytest.approx(0.8181818, abs=PUB7)
    assert ac1.p_chance == pytest.approx(0.1903212, abs=PUB7)
    assert ac1.ci_low == pytest.approx(0.461, abs=PUB3) and ac1.ci_high == 1.0  # CI (0.461, 1)
    fk = pq.fleiss_kappa(f, **KW)
    assert fk.estimate == pytest.approx(0.76117, abs=PUB5)
    assert fk.std_error == pytest.approx(0.15302, abs=PUB5)
    assert fk.p_chance == pytest.approx(0.2387153, abs=PUB7)
    bp = brennan_prediger(f, **KW)
    assert bp.estimate == pytest.approx(0.77273, abs=PUB5)
    assert bp.std_error == pytest.approx(0.14472, abs=PUB5)
    assert percent_agreement(f, **KW).estimate == pytest.approx(0.8181818, abs=PUB7)
    assert (fk.n_ratings, fk.n_units, fk.n_pairable) == (41, 12, 11)  # 41 ratings; unit 12 rated once


WEIGHTED_AF = {  # AF irrCAC tests (3 d.p.) on the 4x12 table, Gwet's weight families
    "gwet_ac2": {"linear": 0.859, "quadratic": 0.914, "ordinal": 0.899, "ratio": 0.857,
                 "radical": 0.820, "circular": 0.830, "bipolar": 0.900},
    "fleiss": {"linear": 0.818, "quadratic": 0.865, "ordinal": 0.850, "ratio": 0.821,
               "radical": 0.790, "circular": 0.807, "bipolar": 0.853},
}


def test_irrcac_4x12_weighted(reference_values):
    f = coders_by_units(reference_values["krippendorff_2011_4x12"]["data"])
    exp = reference_values["krippendorff_2011_4x12"]["expected"]["weighted_3dp_afergadis_irrCAC"]
    assert exp["gwet_ac2"] == WEIGHTED_AF["gwet_ac2"] and exp["fleiss"] == WEIGHTED_AF["fleiss"]
    for w, v in exp["gwet_ac2"].items():
        res = pq.gwet_ac(f, **KW, weights=w)
        assert res.name == "gwet_ac2"
        assert res.estimate == pytest.approx(v, abs=PUB3), w
    for w, v in exp["fleiss"].items():
        assert pq.fleiss_kappa(f, **KW, weights=w).estimate == pytest.approx(v, abs=PUB3), w


def test_fleiss_1971_diagnoses(reference_values):
    case = reference_values["fleiss_1971_diagnoses_30x6"]
    f = units_by_raters(case["data"])
    # R irr::kappam.fleiss(diagnoses) via SM: 0.4302445
    assert pq.fleiss_kappa(f, **KW).estimate == pytest.approx(0.4302445, abs=PUB7)
    assert f.groupby("value").size().tolist() == case["expected"]["category_totals"]


def test_irrcac_distrib_6raters(reference_values):
    case = reference_values["irrcac_distrib_6raters_15x5"]
    f = counts_to_long(case["data"])
    # GW README on distrib.6raters
    fk = pq.fleiss_kappa(f, **KW)
    assert fk.estimate == pytest.approx(0.4139265, abs=PUB7)
    assert fk.std_error == pytest.approx(0.08119291, abs=5e-9)
    assert fk.p_observed == pytest.approx(0.5511111, abs=PUB7)
    assert fk.p_chance == pytest.approx(0.2340741, abs=PUB7)
    ac1 = pq.gwet_ac(f, **KW)
    assert ac1.estimate == pytest.approx(0.4448007, abs=PUB7)
    assert ac1.p_chance == pytest.approx(0.1914815, abs=PUB7)
    assert brennan_prediger(f, **KW).estimate == pytest.approx(0.4388889, abs=PUB7)
    assert pq.krippendorff_alpha(f, **KW) == pytest.approx(0.4204384, abs=PUB7)
    # same as rows 1-15 of the Fleiss diagnoses table
    g = units_by_raters(reference_values["fleiss_1971_diagnoses_30x6"]["data"][:15])
    assert pq.fleiss_kappa(g, **KW).estimate == pytest.approx(fk.estimate, abs=EXACT)


def test_fleiss_wikipedia_10x14(reference_values):
    f = counts_to_long(reference_values["fleiss_wikipedia_10x14"]["data"])
    assert pq.fleiss_kappa(f, **KW).estimate == pytest.approx(0.210, abs=PUB3)  # SM test (Wikipedia)
    assert pq.fleiss_kappa(f, **KW).estimate == pytest.approx(0.2099307, abs=PUB7)  # computed here


# --------------------------------------------------------------- Cohen
def test_cohen_sas_3x3(reference_values):
    case = reference_values["cohen_sas_3x3"]
    f = table_to_long(case["data"], [1, 2, 3])
    exp = case["expected"]
    # SAS PROC FREQ printout via SM: 0.4842, ASE 0.1380, CI [0.2137, 0.7547], Z 3.2626
    k = pq.cohen_kappa(f, **KW)
    assert k.estimate == pytest.approx(exp["kappa"], abs=PUB4)
    assert k.std_error == pytest.approx(exp["ase"], abs=PUB4)
    assert (k.ci_low, k.ci_high) == pytest.approx(exp["ci95"], abs=PUB4)
    assert k.z == pytest.approx(exp["z"], abs=PUB4)
    # linear weights [0, 1, 2]: 0.4701, ASE 0.1457, CI [0.1845, 0.7558], Z 3.2971
    w = pq.cohen_kappa(f, **KW, weights="linear")
    assert w.estimate == pytest.approx(exp["weighted_kappa_linear"], abs=PUB4)
    assert w.std_error == pytest.approx(exp["weighted_ase"], abs=PUB4)
    assert (w.ci_low, w.ci_high) == pytest.approx(exp["weighted_ci95"], abs=PUB4)
    assert w.z == pytest.approx(exp["weighted_z"], abs=PUB4)


def test_cohen_irrcac_abstractors(reference_values):
    case = reference_values["irrcac_cont3x3abstractors"]
    f = table_to_long(case["data"], ["Ectopic", "AIU", "NIU"])
    exp = case["expected"]
    dom = ["Ectopic", "AIU", "NIU"]
    k = pq.cohen_kappa(f, **KW, value_domain=dom)
    assert k.estimate == pytest.approx(exp["cohen_kappa"], abs=PUB7)  # GW README 0.7964094
    assert k.std_error == pytest.approx(exp["cohen_se"], abs=5e-9)    # GW README se 0.05891072
    assert k.p_observed == pytest.approx(exp["percent_agreement"], abs=EXACT)
    # AF tests: linear 0.843, quadratic 0.892
    assert pq.cohen_kappa(f, **KW, value_domain=dom, weights="linear").estimate == pytest.approx(
        exp["cohen_linear_3dp"], abs=PUB3)
    assert pq.cohen_kappa(f, **KW, value_domain=dom, weights="quadratic").estimate == pytest.approx(
        exp["cohen_quadratic_3dp"], abs=PUB3)


def test_cohen_irr_anxiety_observed_levels(reference_values):
    case = reference_values["irr_anxiety_20x3"]
    f = units_by_raters(case["data"])
    exp = case["expected_raters_2_3"]
    # R irr::kappa2(anxiety[,2:3]) via SM; weights from the observed levels {1,2,3,4,6}
    for w, kk, zk in [("unweighted", "kappa_unweighted", "z_unweighted"),
                      ("linear", "kappa_equal", "z_equal"), ("quadratic", "kappa_squared", "z_squared")]:
        k = pq.cohen_kappa(f, **KW, raters=(1, 2), weights=w)
        assert k.estimate == pytest.approx(exp[kk], abs=PUB7), w
        assert k.z == pytest.approx(exp[zk], abs=5e-6), w
    assert pq.cohen_kappa(f, **KW, raters=(1, 2)).p_value == pytest.approx(exp["p_unweighted"], abs=PUB7)
    # the full 1..6 scale gives a different value (reference-values.md pitfall: 0.1262136)
    full = pq.cohen_kappa(f, **KW, raters=(1, 2), weights="linear", value_domain=[1, 2, 3, 4, 5, 6])
    assert full.estimate == pytest.approx(0.1262136, abs=PUB7)
    # pairwise table agrees with the single-pair function
    pw = pq.pairwise_kappa(f, **KW, weights="quadratic", min_overlap=2).set_index(["rater_1", "rater_2"])
    assert pw.loc[(1, 2), "estimate"] == pytest.approx(exp["kappa_squared"], abs=PUB7)
    assert pw.loc[(1, 2), "n"] == 20


def test_pandalm_pairwise_kappa(pandalm_dir):
    raw = pd.read_json(pandalm_dir / "testset-v1.json")
    long = raw.reset_index().melt(id_vars="index", value_vars=["annotator1", "annotator2", "annotator3"],
                                  var_name="annotator", value_name="label")
    f = pd.DataFrame({"unit": long["index"], "rater": long["annotator"], "value": long["label"]})
    pw = pq.pairwise_kappa(f, **KW, min_overlap=10).set_index(["rater_1", "rater_2"])["estimate"]
    # PL README IAA table 0.85 / 0.88 / 0.86; sklearn recomputation 0.8520 / 0.8789 / 0.8617
    assert pw[("annotator1", "annotator2")] == pytest.approx(0.85, abs=PUB2)
    assert pw[("annotator1", "annotator3")] == pytest.approx(0.88, abs=PUB2)
    assert pw[("annotator2", "annotator3")] == pytest.approx(0.86, abs=PUB2)
    assert pw[("annotator1", "annotator2")] == pytest.approx(0.8520, abs=PUB4)
    assert pw[("annotator1", "annotator3")] == pytest.approx(0.8789, abs=PUB4)
    assert pw[("annotator2", "annotator3")] == pytest.approx(0.8617, abs=PUB4)
    # computed here (no published value): Fleiss 0.86418, alpha 0.86422
    assert pq.fleiss_kappa(f, **KW).estimate == pytest.approx(0.86418, abs=PUB5)
    assert pq.krippendorff_alpha(f, **KW) == pytest.approx(0.86422, abs=PUB5)


# --------------------------------------------------------------- ICC
ICC_ORDER = ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"]


def test_icc_shrout_fleiss(reference_values):
    case = reference_values["shrout_fleiss_1979_6x4"]
    exp = case["expected"]
    res = pq.icc(units_by_raters(case["data"]), **KW)
    t = res.table.loc[ICC_ORDER]
    assert res.balanced
    # R psych / pingouin (Shrout & Fleiss 1979 Table 2): 0.17 0.29 0.71 0.44 0.62 0.91
    np.testing.assert_allclose(t["estimate"], [exp[k] for k in ICC_ORDER], atol=PUB2)
    np.testing.assert_allclose(t["estimate"], [exp["computed_4dp"][k] for k in ICC_ORDER], atol=PUB4)
    np.testing.assert_allclose(t["f"], exp["F"], atol=0.05)
    np.testing.assert_allclose(t["df2"], exp["df2"], atol=0)
    # p-values: 0.00013 matches at 5 d.p.; for ICC1 scipy's F(5, 18) tail at F = MSB/MSW gives
    # 0.164769 against the published 0.16472 (a 5e-5 gap we could not attribute), hence 1e-4.
    np.testing.assert_allclose(t["p_value"], exp["pval"], atol=1e-4)
    np.testing.assert_allclose(t["ci_low"], exp["ci95_lower"], atol=PUB2)
    np.testing.assert_allclose(t["ci_high"], exp["ci95_upper"], atol=PUB2)


def test_icc_pingouin_wine(reference_values):
    case = reference_values["pingouin_wine_8x4"]
    exp = case["expected"]
    res = pq.icc(units_by_raters(case["data"]), **KW)
    t = res.table.loc[ICC_ORDER]
    # pingouin docstring: 0.728 0.728 0.729 0.914 0.914 0.915; F 11.680 / 11.787; CIs
    np.testing.assert_allclose(t["estimate"], [exp[k] for k in
                               ["ICC(1,1)", "ICC(A,1)", "ICC(C,1)", "ICC(1,k)", "ICC(A,k)", "ICC(C,k)"]], atol=PUB3)
    np.testing.assert_allclose(t["estimate"], [exp["computed_6dp"][k] for k in ICC_ORDER], atol=5e-7)
    np.testing.assert_allclose(t["f"], exp["F"], atol=PUB3)
    np.testing.assert_allclose(t["df2"], exp["df2"], atol=0)
    np.testing.assert_allclose(np.c_[t["ci_low"], t["ci_high"]], exp["ci95"], atol=PUB2)


def test_icc_reml_equals_moments_on_shrout_fleiss(reference_values):
    # balanced data with positive ANOVA components: REML (prefqa.models.mixed.fit_rating_model)
    # and the moment estimates agree, so method="reml" reproduces Shrout & Fleiss (1979) Table 2
    case = reference_values["shrout_fleiss_1979_6x4"]
    exp = case["expected"]
    moments = pq.icc(units_by_raters(case["data"]), **KW)
    res = pq.icc(units_by_raters(case["data"]), **KW, method="reml")
    t = res.table.loc[ICC_ORDER]
    assert res.method.startswith("reml") and moments.method.startswith("anova")
    np.testing.assert_allclose(t["estimate"], [exp[k] for k in ICC_ORDER], atol=PUB2)
    np.testing.assert_allclose(t["estimate"], [exp["computed_4dp"][k] for k in ICC_ORDER], atol=PUB4)
    np.testing.assert_allclose(res.components, moments.components, rtol=REML_RTOL)
    np.testing.assert_allclose(t["ci_low"], exp["ci95_lower"], atol=PUB2)
    np.testing.assert_allclose(t["f"], exp["F"], atol=0.05)


def test_icc_reml_matches_statsmodels_on_an_incomplete_design(reference_values):
    # independent REML: statsmodels MixedLM with crossed variance components (one group)
    import statsmodels.formula.api as smf

    wide = np.array(reference_values["pingouin_wine_8x4"]["data"], dtype=float)
    wide[3, 0] = np.nan
    t, j = np.nonzero(~np.isnan(wide))
    f = pd.DataFrame({"unit": t, "rater": j, "value": wide[t, j], "g": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the rater component sits on the boundary (singular fit)
        res = pq.icc(f, **KW, method="reml")
        sm = smf.mixedlm("value ~ 1", f, groups="g", re_formula="0",
                         vc_formula={"unit": "0 + C(unit)", "rater": "0 + C(rater)"}).fit(reml=True)
    vc = dict(zip(sm.model.exog_vc.names, sm.vcomp))
    np.testing.assert_allclose(res.components[["unit", "rater", "residual"]],
                               [vc["unit"], vc["rater"], sm.scale], atol=REML_ATOL)
    assert not res.balanced and any("boundary" in w for w in res.warnings)
    est = res.table["estimate"]
    assert est["ICC3"] == pytest.approx(vc["unit"] / (vc["unit"] + sm.scale), abs=REML_ATOL)


def test_icc_method_is_validated():
    f = units_by_raters([[1, 2], [3, 4], [5, 7]])
    with pytest.raises(SchemaError, match=r"`method` must be one of \('moments', 'reml'\); got 'ml'"):
        pq.icc(f, **KW, method="ml")
