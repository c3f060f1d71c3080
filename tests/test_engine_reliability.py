"""Reliability on engine data: pq.agreement, krippendorff_alpha and annotator_agreement from pq.scan
equal the in-memory results (rtol 1e-9, atol 1e-12), including bootstrap CIs, the two-way jackknife,
per-stratum rows and intra-rater repeats; the vote reductions equal across memory, DuckDB and Spark."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.engine.reductions import labels, votes
from prefqa.errors import InsufficientDataError, SchemaError
from prefqa.reliability import annotator_agreement

TOL = {"rtol": 1e-9, "atol": 1e-12}


def _messy() -> pq.PreferenceData:
    """Few annotators, ragged overlap, repeats in both orders, missing annotators, no prompts, NaN strata."""
    rng = np.random.default_rng(11)
    n = 900
    comp = rng.integers(0, 260, n)
    ann = rng.choice(["ann-a", "ann-b", "ann-c", None], n, p=[0.4, 0.3, 0.2, 0.1])
    models = np.array(["m1", "m2", "m3", "m4"])
    ma = models[comp % 4]
    mb = models[(comp + 1 + comp % 3) % 4]
    swap = rng.random(n) < 0.3
    ra = np.array([f"r{c}a" for c in comp], dtype=object)
    rb = np.array([f"r{c}b" for c in comp], dtype=object)
    ra2, rb2 = np.where(swap, rb, ra), np.where(swap, ra, rb)
    ma2, mb2 = np.where(swap, mb, ma), np.where(swap, ma, mb)
    strength = np.where(rng.random(n) < 0.2, np.nan, rng.integers(-2, 3, n).astype(float))
    batch = np.where(rng.random(n) < 0.1, None, rng.choice(["x", "y", "z"], n)).astype(object)
    j = pd.DataFrame({"comparison_id": [f"c{c:03d}" for c in comp], "annotator_id": ann,
                      "choice": rng.choice(["a", "b", "tie"], n, p=[0.45, 0.4, 0.15]), "response_a_id": ra2,
                      "response_b_id": rb2, "model_a": ma2, "model_b": mb2, "strength": strength, "batch": batch})
    return pq.PreferenceData(j)


@pytest.fixture(scope="module")
def datasets() -> dict[str, pq.PreferenceData]:
    sim, _ = pq.simulate(n_prompts=120, n_annotators=12, n_spammers=2, rng=4)
    return {"sim": sim, "sample": pq.load_sample(), "messy": _messy()}


def _same_agreement(a: pq.AgreementResult, b: pq.AgreementResult) -> None:
    ca = a.coefficients[~a.coefficients["target"].str.startswith("rating")].reset_index(drop=True)
    cb = b.coefficients
    assert list(ca["coefficient"]) == list(cb["coefficient"]) and list(ca["stratum"]) == list(cb["stratum"])
    num = ca.select_dtypes("number").columns
    np.testing.assert_allclose(ca[num].to_numpy(float), cb[num].to_numpy(float), **TOL)
    for col in ("target", "level", "se_method", "reason"):
        assert list(ca[col]) == list(cb[col])
    pd.testing.assert_frame_equal(a.intra_rater, b.intra_rater, **TOL)
    for f in ("n_judgments", "n_judgments_used", "n_units", "n_units_used", "n_annotators", "n_repeats",
              "n_without_annotator", "categories"):
        assert getattr(a, f) == getattr(b, f), f


@pytest.mark.parametrize("name", ["sim", "sample", "messy"])
@pytest.mark.parametrize("options", [
    {}, {"orientation": "as_stored"}, {"by": "model_a"}, {"by": ["model_a", "model_b"], "expected": "within"},
    {"categories": ["a", "b", "tie"]},
])
def test_agreement_scanned_equals_memory(datasets, name, options):
    data = datasets[name]
    if name == "messy" and "by" in options:
        options = {**options, "by": "batch"}
    a = pq.agreement(data, n_resamples=120, rng=7, **options)
    b = pq.agreement(pq.scan(data), n_resamples=120, rng=7, **options)
    _same_agreement(a, b)
    assert a.warnings == b.warnings or name == "sample"  # the sample's ratings add rows only in memory


def test_agreement_scanned_two_way_jackknife_and_strength_rows(datasets):
    data = datasets["sim"]
    b = pq.agreement(pq.scan(data), n_resamples=50, rng=1).coefficients
    alpha = b[(b["stratum"] == "all") & (b["coefficient"] == "krippendorff_alpha")]
    assert set(alpha["target"]) == {"choice", "strength"}
    assert (alpha["se_method"] == "two_way_jackknife").all()  # 12 annotators: the jackknife runs on the engine table


def test_agreement_scanned_by_null_stratum_and_first_row_rule(datasets):
    data = datasets["messy"]
    a = pq.agreement(data, n_resamples=0, by="batch")
    b = pq.agreement(pq.scan(data), n_resamples=0, by="batch")
    assert "<NA>" in set(b.coefficients["stratum"])
    _same_agreement(a, b)
    assert b.n_repeats > 0 and b.n_without_annotator > 0  # repeats and missing annotators were planted


def test_agreement_scanned_alpha_matches_krippendorff_package(datasets):
    # independent implementation (krippendorff 0.9): the reliability matrix of first votes as stored
    data = datasets["messy"]
    t = votes.first_votes(pq.scan(data))
    assert t.n_first == int(t.table["count"].sum())
    comp, _ = data.codes("comparison_id")
    ann, _ = data.codes("annotator_id")
    och = data.oriented_choice().astype(float)
    keep = ann >= 0
    frame = pd.DataFrame({"c": comp[keep], "a": ann[keep], "v": och[keep]}).drop_duplicates(["c", "a"])
    matrix = frame.pivot(index="a", columns="c", values="v").to_numpy()
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    got = pq.agreement(pq.scan(data), n_resamples=0, orientation="as_stored").alpha
    assert got == pytest.approx(expected, rel=1e-12)


def test_krippendorff_alpha_of_data(datasets):
    for name in ("sim", "messy"):
        data = datasets[name]
        mem = pq.krippendorff_alpha(data)
        assert pq.krippendorff_alpha(pq.scan(data)) == pytest.approx(mem, rel=1e-12)
        assert mem == pq.agreement(data, n_resamples=0).alpha
    with pytest.raises(SchemaError, match="nominal alpha of the choices"):
        pq.krippendorff_alpha(datasets["sim"], level="ordinal")
    with pytest.raises(SchemaError, match="unit=, rater= and value="):
        pq.krippendorff_alpha(pd.DataFrame({"u": [1]}))
    j = pd.DataFrame({"comparison_id": ["c1", "c2"], "annotator_id": ["x", "y"], "choice": ["a", "b"]})
    with pytest.raises(InsufficientDataError, match="2 or more annotators"):
        pq.krippendorff_alpha(pq.scan(pq.PreferenceData(j)))


@pytest.mark.parametrize("name", ["sim", "sample", "messy"])
@pytest.mark.parametrize("orientation", ["symmetric", "as_stored"])
def test_annotator_agreement_scanned_equals_memory(datasets, name, orientation):
    data = datasets[name]
    a = annotator_agreement(data, orientation=orientation)
    b = annotator_agreement(pq.scan(data), orientation=orientation)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_index_type=False, **TOL)


def test_spammers_recovered_from_scanned_annotator_agreement(datasets):
    sim, truth = pq.simulate(n_prompts=80, n_annotators=10, n_spammers=2, rng=3)
    table = annotator_agreement(pq.scan(sim))
    spam = truth.annotators.index[truth.annotators["kind"] == "spammer"]
    assert table.loc[spam, "loo_agreement"].max() < table.drop(spam)["loo_agreement"].min()


@pytest.mark.parametrize("name", ["sim", "messy"])
def test_vote_reductions_equal(datasets, name):
    data = datasets[name]
    s = pq.scan(data)
    for by in (None, "model_a"):
        a, b = votes.first_votes(data, by=by), votes.first_votes(s, by=by)
        pd.testing.assert_frame_equal(a.table, b.table)
        assert (a.strata, a.n_first, a.n_named, a.n_judgments) == (b.strata, b.n_first, b.n_named, b.n_judgments)
        sa, la = votes.first_strength(data, by=by)
        sb, lb = votes.first_strength(s, by=by)
        pd.testing.assert_frame_equal(sa, sb, check_dtype=False)
        assert la == lb
    pd.testing.assert_frame_equal(votes.repeat_votes(data), votes.repeat_votes(s))
    pd.testing.assert_frame_equal(labels.all_votes(data), labels.all_votes(s))
    pd.testing.assert_frame_equal(votes.comparison_votes(data), votes.comparison_votes(s))


def test_first_votes_table_counts_every_first_judgment(datasets):
    data = datasets["messy"]
    t = votes.first_votes(data).table
    ann = data.codes("annotator_id")[0]
    comp = data.codes("comparison_id")[0]
    named = ann >= 0
    n_first = len(np.unique(comp[named] * 10 + ann[named]))
    assert int(t["count"].sum()) == n_first
    size = t[["n0", "n1", "n2"]].sum(axis=1)
    units = (t["count"] / size).sum()
    assert units == pytest.approx(len(np.unique(comp[named])))


@pytest.mark.spark
def test_agreement_and_annotator_agreement_on_spark(spark, datasets):
    # a small slice without strength: Spark answers each query in seconds, so the test keeps to agreement's few
    j = datasets["messy"].judgments.drop(columns=["strength"]).iloc[:300]
    data = pq.PreferenceData(j)
    s = pq.scan(data, engine="spark", connection=spark)
    a = pq.agreement(data, n_resamples=60, rng=3)
    b = pq.agreement(s, n_resamples=60, rng=3)
    _same_agreement(a, b)
