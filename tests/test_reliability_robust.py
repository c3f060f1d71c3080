"""agreement / kappa / icc on small messy designs: a result (NaN with a reason) or a PrefqaError, never a raw error.

Designs: 1-12 annotators, 1-7 judgments per comparison, duplicated rows, all ties or no ties, one
comparison, strata, strength; ratings with 1-5 raters per item, constant scores, duplicates.
Derandomised hypothesis with a fixed number of examples (well under 30 s). Also: prefqa imports no
GPL `krippendorff` at run time.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import prefqa as pq
from prefqa.errors import PrefqaError

CHOICES = np.array(["a", "b", "tie"])
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def messy_judgments(draw: st.DrawFn) -> pd.DataFrame:
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    n_ann = draw(st.integers(1, 12))
    n_cmp = draw(st.integers(1, 12))
    per = np.minimum(rng.integers(1, draw(st.integers(1, 7)) + 1, n_cmp), n_ann)
    comp = np.repeat(np.arange(n_cmp), per)
    ann = np.concatenate([rng.permutation(n_ann)[:k] for k in per])
    ties = draw(st.sampled_from(["mixed", "none", "all"]))
    pick = {"mixed": rng.integers(0, 3, len(comp)), "none": rng.integers(0, 2, len(comp)),
            "all": np.full(len(comp), 2)}[ties]
    j = pd.DataFrame({"comparison_id": [f"c{c}" for c in comp], "annotator_id": [f"a{x}" for x in ann],
                      "choice": CHOICES[pick]})
    if draw(st.booleans()):  # display orders and response ids
        swap = rng.random(len(j)) < 0.5
        x, y = j["comparison_id"] + "-x", j["comparison_id"] + "-y"
        j["response_a_id"] = np.where(swap, y, x)
        j["response_b_id"] = np.where(swap, x, y)
    if draw(st.booleans()):
        j["strength"] = np.where(pick == 0, 1.0, np.where(pick == 1, -1.0, 0.0)) * rng.integers(1, 3, len(j))
    if draw(st.booleans()):
        j["batch"] = rng.choice(["x", "y"], len(j))
    n_dup = draw(st.integers(0, 3))
    if n_dup:
        j = pd.concat([j, j.sample(min(n_dup, len(j)), random_state=1)], ignore_index=True)
    return j


def _check_result(res: pq.AgreementResult) -> None:
    c = res.coefficients
    undefined = c[~np.isfinite(c["estimate"].to_numpy(dtype=float))]
    assert undefined["reason"].fillna("").str.len().gt(0).all(), undefined
    res.summary()
    res.to_frame()


@SETTINGS
@given(messy_judgments(), st.sampled_from(["symmetric", "as_stored"]), st.sampled_from(["pooled", "within"]))
def test_agreement_on_messy_designs(j, orientation, expected):
    data = pq.PreferenceData(j)
    by = "batch" if "batch" in j else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = pq.agreement(data, n_resamples=20, rng=0, orientation=orientation, expected=expected, by=by)
        except PrefqaError:
            return
    _check_result(res)
    est = res.coefficients["estimate"].to_numpy(dtype=float)
    assert (np.abs(est[np.isfinite(est)]) <= 1.0 + 1e-9).all()
    long = pd.DataFrame({"unit": j["comparison_id"], "rater": j["annotator_id"],
                         "value": np.asarray(data.oriented_choice())})
    try:
        pw = pq.pairwise_kappa(long, unit="unit", rater="rater", value="value", min_overlap=2)
    except PrefqaError:
        return
    assert {"q_value", "significant"} <= set(pw.columns)


@st.composite
def messy_ratings(draw: st.DrawFn) -> pd.DataFrame:
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    n_rat = draw(st.integers(1, 6))
    n_items = draw(st.integers(1, 12))
    per = np.minimum(rng.integers(1, 6, n_items), n_rat)
    item = np.repeat(np.arange(n_items), per)
    rater = np.concatenate([rng.permutation(n_rat)[:k] for k in per])
    constant = draw(st.booleans())
    score = np.full(len(item), 3.0) if constant else rng.integers(1, 6, len(item)).astype(float)
    r = pd.DataFrame({"response_id": [f"i{i}" for i in item], "annotator_id": [f"r{x}" for x in rater],
                      "score": score})
    if draw(st.booleans()):
        r = pd.concat([r, r.head(2).assign(score=1.0)], ignore_index=True)
    return r


@SETTINGS
@given(messy_ratings(), st.sampled_from(["auto", "bootstrap_units", "f"]))
def test_icc_and_rating_agreement_on_messy_designs(r, ci):
    empty = pd.DataFrame({c: pd.Series([], dtype="str") for c in ("comparison_id", "annotator_id", "choice")})
    data = pq.PreferenceData(empty, ratings=r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = pq.icc(data, ci=ci, n_resamples=30, rng=0)
            assert res.se_method in ("f_exact", "bootstrap_units", "bootstrap_units_raters", "none")
            res.summary()
        except PrefqaError:
            pass
        try:
            _check_result(pq.agreement(data, n_resamples=10, rng=0))
        except PrefqaError:
            pass


def test_one_comparison_and_all_ties():
    j = pd.DataFrame({"comparison_id": ["c"] * 3, "annotator_id": list("xyz"), "choice": ["tie"] * 3})
    res = pq.agreement(pq.PreferenceData(j), n_resamples=10, rng=0)
    assert np.isnan(res.alpha) and np.isnan(res.kappa) and res.percent_agreement == 1.0
    assert res.categories == ("tie",) and res.n_units_used == 1
    row = res.coefficients.set_index("coefficient").loc["krippendorff_alpha"]
    assert "single category" in row["reason"]


def test_prefqa_imports_no_krippendorff_at_run_time():
    code = ("import sys, pandas as pd, prefqa as pq\n"
            "f = pd.DataFrame({'u': [1, 1, 2, 2], 'r': list('xyxy'), 'v': [1, 1, 2, 1]})\n"
            "pq.krippendorff_alpha(f, unit='u', rater='r', value='v')\n"
            "j = pd.DataFrame({'comparison_id': ['c', 'c', 'd', 'd'], 'annotator_id': list('xyxy'),"
            " 'choice': ['a', 'a', 'b', 'tie']})\n"
            "pq.agreement(pq.PreferenceData(j), n_resamples=5)\n"
            "pq.icc(f, unit='u', rater='r', value='v', n_resamples=5)\n"
            "assert 'krippendorff' not in sys.modules, 'prefqa imported krippendorff'\n")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
