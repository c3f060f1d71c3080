"""Consensus and Bradley-Terry on engine data: pq.consensus (majority, Dawid-Skene with and without its
hash subsample) and pq.fit_bradley_terry (plain / position; sandwich by every clustering, fisher, cluster
bootstrap) from pq.scan equal the in-memory results (rtol 1e-9, atol 1e-12); the design and pattern
reductions equal across memory, DuckDB and Spark."""

from __future__ import annotations

import warnings

import choix
import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.engine.reductions import labels, pairs_bt, votes
from prefqa.errors import SchemaError

TOL = {"rtol": 1e-9, "atol": 1e-12}


def _messy() -> pq.PreferenceData:
    """Few annotators, ragged, repeats shown in both orders, missing annotators and model ids, no prompts."""
    rng = np.random.default_rng(21)
    n = 1200
    comp = rng.integers(0, 300, n)
    ann = rng.choice(["ann-a", "ann-b", "ann-c", None], n, p=[0.4, 0.3, 0.2, 0.1])
    models = np.array(["m1", "m2", "m3", "m4", "m5"])
    ma, mb = models[comp % 5], models[(comp + 1 + comp % 4) % 5]
    swap = rng.random(n) < 0.3
    ra = np.array([f"r{c}a" for c in comp], dtype=object)
    rb = np.array([f"r{c}b" for c in comp], dtype=object)
    j = pd.DataFrame({"comparison_id": [f"c{c:03d}" for c in comp], "annotator_id": ann,
                      "choice": rng.choice(["a", "b", "tie"], n, p=[0.45, 0.4, 0.15]),
                      "response_a_id": np.where(swap, rb, ra), "response_b_id": np.where(swap, ra, rb),
                      "model_a": np.where(swap, mb, ma).astype(object), "model_b": np.where(swap, ma, mb)})
    j.loc[j.index[::97], "model_a"] = None
    return pq.PreferenceData(j)


@pytest.fixture(scope="module")
def datasets() -> dict[str, pq.PreferenceData]:
    sim, _ = pq.simulate(n_prompts=120, n_annotators=12, n_spammers=2, rng=4)
    return {"sim": sim, "sample": pq.load_sample(), "messy": _messy()}


def _same_consensus(a: pq.ConsensusResult, b: pq.ConsensusResult) -> None:
    pd.testing.assert_frame_equal(a.labels, b.labels, check_dtype=False, check_index_type=False, **TOL)
    pd.testing.assert_frame_equal(a.confusion, b.confusion, check_dtype=False, **TOL)
    pd.testing.assert_series_equal(a.class_prior, b.class_prior, **TOL)
    for f in ("flip_rate", "judgment_error_rate", "log_likelihood"):
        x, y = getattr(a, f), getattr(b, f)
        assert (np.isnan(x) and np.isnan(y)) or abs(x - y) <= 1e-9 * abs(x) + 1e-12, f
    for f in ("n_iter", "converged", "warnings", "n_judgments", "n_comparisons", "n_annotators", "method"):
        assert getattr(a, f) == getattr(b, f), f


@pytest.mark.parametrize("name", ["sim", "sample", "messy"])
@pytest.mark.parametrize("options", [{"method": "majority"}, {"method": "dawid_skene"},
                                     {"method": "dawid_skene", "max_fit_comparisons": 120}])
def test_consensus_scanned_equals_memory(datasets, name, options):
    data = datasets[name]
    _same_consensus(pq.consensus(data, **options), pq.consensus(pq.scan(data), **options))


def test_dawid_skene_subsample_recovers_planted_truth_and_spammers():
    # planted truth (pq.simulate): which response is better, and which annotators are spammers
    sim, truth = pq.simulate(n_prompts=3000, n_annotators=20, n_spammers=4, rng=1)

    def accuracy(res: pq.ConsensusResult) -> float:
        lab = res.labels
        side = (lab["label"] != "tie").to_numpy()
        pred = np.where(lab["label"] == "1", lab["response_1_id"], lab["response_2_id"])[side]
        return float((pred == truth.better.reindex(lab.index).to_numpy()[side]).mean())

    full = pq.consensus(sim, method="dawid_skene")
    sub = pq.consensus(pq.scan(sim), method="dawid_skene", max_fit_comparisons=2500)
    assert any("hash subsample" in w for w in sub.warnings) and not any("subsample" in w for w in full.warnings)
    assert sub.n_comparisons == sim.n_comparisons and sub.labels["label"].notna().all()  # every one labelled
    assert accuracy(sub) > 0.7 and abs(accuracy(sub) - accuracy(full)) < 0.03
    conf = sub.confusion[(sub.confusion["true_label"] != "tie") & (sub.confusion["true_label"]
                                                                   == sub.confusion["observed_label"])]
    diag = conf.groupby("annotator_id")["probability"].mean()
    spam = truth.annotators.index[truth.annotators["kind"] == "spammer"]
    assert diag.reindex(spam).max() < diag.drop(spam).min()


def test_hash_sample_depends_on_ids_and_seed_only(datasets):
    data = datasets["sim"]
    s = pq.scan(data)
    a = votes.hash_sample(data, "comparison_id", 0.3, seed="x")
    np.testing.assert_array_equal(a, votes.hash_sample(s, "comparison_id", 0.3, seed="x"))
    assert 0.2 < len(a) / data.n_comparisons < 0.4
    assert not np.array_equal(a, votes.hash_sample(data, "comparison_id", 0.3, seed="y"))
    # the rule is per id: a subset of the comparisons keeps exactly the ids of the full set's sample it holds
    ids = data.codes("comparison_id")[1]
    keep = np.isin(data.codes("comparison_id")[0], np.arange(0, data.n_comparisons, 2))
    sub = data.subset(keep)
    got = set(sub.codes("comparison_id")[1][votes.hash_sample(sub, "comparison_id", 0.3, seed="x")])
    assert got == set(ids[a]) & set(sub.codes("comparison_id")[1])
    assert len(votes.hash_sample(s, "comparison_id", 1.0)) == data.n_comparisons


def test_consensus_weights_need_memory(datasets):
    s = pq.scan(datasets["sim"])
    with pytest.raises(SchemaError, match="need the judgments in memory"):
        pq.consensus(s, weights=np.ones(s.n_judgments))


BT_OPTIONS = [
    {}, {"ties": "half"}, {"ties": "drop", "cluster": "comparison"}, {"covariates": ["position"]},
    {"cluster": "annotator", "covariates": ["position"]}, {"cluster": "none"}, {"ci": "fisher"},
    {"ci": "bootstrap", "n_resamples": 50, "rng": 2}, {"ci": "bootstrap", "cluster": "annotator", "n_resamples": 40,
                                                       "rng": 3},
    {"ci": "bootstrap", "cluster": "none", "n_resamples": 30, "rng": 4},
    {"over": "response", "ci": None, "regularization": 0.1},
]


def _same_bt(a: pq.BradleyTerryResult, b: pq.BradleyTerryResult) -> None:
    pd.testing.assert_frame_equal(a.scores, b.scores, check_dtype=False, check_index_type=False, **TOL)
    pd.testing.assert_frame_equal(a.coefficients, b.coefficients, **TOL)
    if a.covariance is None:
        assert b.covariance is None
    else:
        pd.testing.assert_frame_equal(a.covariance, b.covariance, check_index_type=False, check_column_type=False,
                                      **TOL)
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-12)
    assert np.isclose(a.tie_parameter, b.tie_parameter, **TOL) or (np.isnan(a.tie_parameter)
                                                                    and np.isnan(b.tie_parameter))
    for f in ("warnings", "se_method", "cluster", "n_judgments", "n_dropped", "n_items", "converged", "n_iter"):
        assert getattr(a, f) == getattr(b, f), f


@pytest.mark.parametrize("name", ["sim", "sample", "messy"])
@pytest.mark.parametrize("options", BT_OPTIONS, ids=[str(o) for o in BT_OPTIONS])
def test_bradley_terry_scanned_equals_memory(datasets, name, options):
    data = datasets[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = pq.fit_bradley_terry(data, **options)
        b = pq.fit_bradley_terry(pq.scan(data), **options)
    _same_bt(a, b)


def test_bradley_terry_scanned_matches_choix(datasets):
    # independent implementation: choix's penalised pairwise MLE on the same wins (ties dropped)
    data = datasets["sim"]
    res = pq.fit_bradley_terry(pq.scan(data), ties="drop", regularization=0.2, ci=None)
    ia, ib, labels = data.model_codes()
    y = data.choice_codes()
    keep = y < 2
    pairs = [(int(a), int(b)) if c == 0 else (int(b), int(a)) for a, b, c in zip(ia[keep], ib[keep], y[keep], strict=True)]
    ref = choix.opt_pairwise(len(labels), pairs, alpha=0.1)
    got = res.scores.reindex(labels)["estimate"].to_numpy()
    np.testing.assert_allclose(got - got.mean(), ref - ref.mean(), atol=1e-5)


def test_bradley_terry_cells_equal_and_two_way_meat_uses_cells(datasets):
    data = datasets["messy"]
    s = pq.scan(data)
    for position in (False, True):
        a, b = pairs_bt.bt_cells(data, position=position), pairs_bt.bt_cells(s, position=position)
        np.testing.assert_array_equal(a.counts, b.counts)
        assert (a.n_used, a.n_without_ids, a.n_missing_annotator, a.comp_nest) == (
            b.n_used, b.n_without_ids, b.n_missing_annotator, b.comp_nest)
        assert a.n_without_ids > 0 and a.n_missing_annotator > 0  # planted
        for clustering in pairs_bt.CLUSTERINGS:
            pa, ma = a.patterns(clustering)
            pb, mb = b.patterns(clustering)
            np.testing.assert_array_equal(ma, mb)
            assert (pa != pb).nnz == 0
            assert int(ma.sum()) == a.n_clusters(clustering)
            # every used judgment sits in exactly one cluster of each clustering
            assert pa.multiply(ma[:, None]).sum() == a.n_used


@pytest.mark.parametrize("name", ["sim", "sample"])
@pytest.mark.parametrize("options", [
    {"covariates": ["length", "bold", "position"]},
    {"covariates": ["length_diff", "lists"], "ci": "bootstrap", "n_resamples": 20, "rng": 1},
    {"covariates": ["refusal", "headers"], "cluster": "annotator"},
], ids=["length-bold-position", "bootstrap", "annotator"])
def test_bradley_terry_scanned_with_text_covariates_equals_memory(datasets, name, options):
    # covariates pulled as numeric arrays (features joined in the engine), the per-judgment fit on them
    data = datasets[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same_bt(pq.fit_bradley_terry(data, **options), pq.fit_bradley_terry(pq.scan(data), **options))


def test_bradley_terry_scanned_table_covariate_and_errors(datasets):
    data = datasets["sim"]
    table = pd.DataFrame({"u": np.linspace(-1.0, 1.0, data.n_judgments)})
    _same_bt(pq.fit_bradley_terry(data, covariates=table), pq.fit_bradley_terry(pq.scan(data), covariates=table))
    with pytest.raises(SchemaError, match="one per judgment"):
        pq.fit_bradley_terry(pq.scan(data), covariates=table.iloc[:10])
    with pytest.raises(SchemaError, match="unknown covariate"):
        pq.fit_bradley_terry(pq.scan(data), covariates=["nope"])


@pytest.mark.spark
def test_consensus_and_bradley_terry_on_spark(spark, datasets):
    # few queries (Spark answers each in seconds): the majority vote and a comparison-clustered sandwich
    data = pq.PreferenceData(datasets["messy"].judgments.iloc[:400])
    s = pq.scan(data, engine="spark", connection=spark)
    _same_consensus(pq.consensus(data), pq.consensus(s))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same_bt(pq.fit_bradley_terry(data, cluster="comparison"), pq.fit_bradley_terry(s, cluster="comparison"))
