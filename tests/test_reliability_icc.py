"""ICC intervals on incomplete designs, ICC on PreferenceData, the CG flag, pairwise kappa q-values.

References: the fast bootstrap is checked against Henderson III recomputed on explicitly resampled data;
coverage of the population ICC on simulated incomplete designs (4 raters, each item rated by 3);
q-values against a hand-written Benjamini-Hochberg step-up.
"""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.reliability._icc_boot import (
    _Design,
    _weighted_iccs,
    bootstrap_icc,
    rater_jackknife,
)
from prefqa.reliability.icc import _estimates, variance_components

icc_mod = importlib.import_module("prefqa.reliability.icc")  # the package attribute `icc` is the function

EXACT = 1e-9
KW = {"unit": "unit", "rater": "rater", "value": "value"}
# Shrout & Fleiss (1979) Table 2, 6 targets x 4 judges (values asserted by pingouin / R psych)
SF = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def _design(rng, n_u, n_r, per, s2a=1.0, s2b=0.3, s2e=0.6):
    unit = np.repeat(np.arange(n_u), per)
    rater = np.argsort(rng.random((n_u, n_r)), axis=1)[:, :per].ravel()
    y = (rng.normal(0, np.sqrt(s2a), n_u)[unit] + rng.normal(0, np.sqrt(s2b), n_r)[rater]
         + rng.normal(0, np.sqrt(s2e), len(unit)))
    return unit, rater, y


def test_weighted_resample_equals_henderson_on_the_explicit_resample():
    rng = np.random.default_rng(0)
    unit, rater, y = _design(rng, 25, 5, 3)
    d = _Design(unit, rater, y)
    for _ in range(4):
        w = rng.multinomial(25, np.full(25, 1 / 25)).astype(float)
        v = rng.multinomial(5, np.full(5, 1 / 5)).astype(float)
        got = _weighted_iccs(d, w[None], v[None])[0]
        # the resample built row by row: unit copies and rater copies are distinct units / raters
        rows = [(uc, r + c * 5, y[i]) for uc, u in enumerate(np.repeat(np.arange(25), w.astype(int)))
                for i in np.flatnonzero(unit == u) for r in [rater[i]] for c in range(int(v[r]))]
        u2, r2, y2 = (np.array(x) for x in zip(*rows))
        c = variance_components(u2, r2, y2)
        np.testing.assert_allclose(got, _estimates(c, c["k"]), atol=EXACT)
    # no resampling at all gives the point estimates
    c = variance_components(unit, rater, y)
    np.testing.assert_allclose(_weighted_iccs(d, np.ones((1, 25)), np.ones((1, 5)))[0], _estimates(c, c["k"]),
                               atol=EXACT)


def test_rater_jackknife_equals_leave_one_rater_out_refits():
    rng = np.random.default_rng(1)
    unit, rater, y = _design(rng, 30, 5, 3)
    thetas = []
    for r in range(5):
        keep = rater != r
        _, uu = np.unique(unit[keep], return_inverse=True)
        _, rr = np.unique(rater[keep], return_inverse=True)
        c = variance_components(uu, rr, y[keep])
        thetas.append(_estimates(c, c["k"]))
    t = np.array(thetas)
    np.testing.assert_allclose(rater_jackknife(unit, rater, y), 4 / 5 * ((t - t.mean(0)) ** 2).sum(0), atol=EXACT)


def test_complete_design_keeps_the_published_f_intervals():
    t, j = np.indices((6, 4))
    f = pd.DataFrame({"unit": t.ravel(), "rater": j.ravel(), "value": np.array(SF, float).ravel()})
    res = pq.icc(f, **KW)
    assert res.se_method == "f_exact" and res.balanced
    # Shrout & Fleiss (1979) via pingouin: ICC(A,1) 95% CI [0.02, 0.76]
    assert (res.table.loc["ICC2", "ci_low"], res.table.loc["ICC2", "ci_high"]) == pytest.approx((0.02, 0.76), abs=5e-3)
    boot = pq.icc(f, **KW, ci="bootstrap_units", n_resamples=300, rng=0)
    assert boot.se_method == "bootstrap_units" and np.isfinite(boot.table["ci_low"]).all()
    np.testing.assert_allclose(boot.table["estimate"], res.table["estimate"], atol=EXACT)


def test_incomplete_design_gets_intervals():
    rng = np.random.default_rng(2)
    unit, rater, y = _design(rng, 80, 4, 3)
    f = pd.DataFrame({"unit": unit, "rater": rater, "value": y})
    res = pq.icc(f, **KW, n_resamples=300, rng=0)
    t = res.table
    assert not res.balanced and res.se_method == "bootstrap_units_raters" and res.n_resamples == 300
    assert (t["ci_low"] < t["estimate"]).all() and (t["estimate"] < t["ci_high"]).all()
    assert (t["std_error"] > 0).all()
    fixed = pq.icc(f, **KW, ci="bootstrap_units", n_resamples=300, rng=0)
    assert (fixed.table["std_error"] < t["std_error"]).all()  # rater sampling adds variance
    assert any("raters are held fixed" in w for w in fixed.warnings)
    none = pq.icc(f, **KW, ci="f")
    assert none.se_method == "none" and none.table["ci_low"].isna().all()
    assert "bootstrap_units_raters" in res.summary()
    with pytest.raises(pq.SchemaError, match="`ci` must be one of"):
        pq.icc(f, **KW, ci="pigeonhole")


@pytest.mark.slow
def test_incomplete_design_intervals_cover_the_population_icc():
    # 4 raters, each item rated by 3 (issue 11 item 8); new raters and items in every replicate;
    # population ICC(1) = ICC(A,1) = 1 / 1.9, ICC(C,1) = 1 / 1.6
    rng = np.random.default_rng(20)
    pop = np.array([1 / 1.9, 1 / 1.9, 1 / 1.6])
    reps, hits, hits_fixed = 200, np.zeros(3), 0
    for _ in range(reps):
        unit, rater, y = _design(rng, 60, 4, 3)
        draws, _ = bootstrap_icc(unit, rater, y, n_resamples=300, rng=rng)
        c = variance_components(unit, rater, y)
        est = _estimates(c, c["k"])[:3]
        se = np.sqrt(np.nanvar(draws[:, :3], axis=0, ddof=1) + rater_jackknife(unit, rater, y)[:3])
        hits += np.abs(est - pop) <= 1.959963984540054 * se
        lo, hi = np.nanquantile(draws[:, 2], [0.025, 0.975])
        hits_fixed += lo <= pop[2] <= hi
    cover = hits / reps
    sd = np.sqrt(0.95 * 0.05 / reps)
    assert (cover >= 0.95 - 3 * sd).all() and (cover <= 0.995).all(), cover  # measured 0.965, 0.955, 0.99
    assert hits_fixed / reps >= 0.95 - 3 * sd, hits_fixed / reps  # units only, ICC(C,1): measured 0.94


def _ratings_data(aspects: bool = False) -> pq.PreferenceData:
    rng = np.random.default_rng(3)
    unit, rater, y = _design(rng, 40, 4, 3)
    ratings = pd.DataFrame({"response_id": [f"resp-{u}" for u in unit], "annotator_id": [f"r{r}" for r in rater],
                            "score": np.round(3 + y, 1)})
    if aspects:
        ratings = pd.concat([ratings.assign(aspect="helpful"), ratings.assign(aspect="harmless")], ignore_index=True)
    empty = pd.DataFrame({c: pd.Series([], dtype="str") for c in ("comparison_id", "annotator_id", "choice")})
    return pq.PreferenceData(empty, ratings=ratings)


def test_icc_accepts_preference_data_without_prompt_ids():
    data = _ratings_data()
    res = pq.icc(data, n_resamples=100, rng=0)
    r = data.ratings
    ref = pq.icc(r, unit="response_id", rater="annotator_id", value="score", n_resamples=100, rng=0)
    np.testing.assert_allclose(res.table["estimate"], ref.table["estimate"], atol=EXACT)
    np.testing.assert_allclose(res.table["ci_low"], ref.table["ci_low"], atol=EXACT)
    assert res.n_units == 40
    two = _ratings_data(aspects=True)
    with pytest.raises(pq.SchemaError, match="pass `aspect=`"):
        pq.icc(two)
    one = pq.icc(two, aspect="helpful", n_resamples=100, rng=0)
    np.testing.assert_allclose(one.table["estimate"], res.table["estimate"], atol=EXACT)
    j = pd.DataFrame({"comparison_id": ["c1", "c1"], "annotator_id": ["x", "y"], "choice": ["a", "b"]})
    with pytest.raises(pq.InsufficientDataError, match="use pq.agreement"):
        pq.icc(pq.PreferenceData(j))
    with pytest.raises(pq.SchemaError, match="needs the column names"):
        pq.icc(r)


def test_unconverged_cg_solve_is_recorded(monkeypatch):
    rng = np.random.default_rng(4)
    unit, rater, y = _design(rng, 300, 60, 3)
    f = pd.DataFrame({"unit": unit, "rater": rater, "value": y})
    dense = pq.icc(f, **KW, ci="f")
    monkeypatch.setattr(icc_mod, "_DENSE_MAX", 0)
    cg = pq.icc(f, **KW, ci="f")
    assert not any("conjugate-gradient" in w for w in cg.warnings)
    np.testing.assert_allclose(cg.components, dense.components, rtol=1e-8)
    monkeypatch.setattr(icc_mod, "_CG_MAXITER", 2)
    short = pq.icc(f, **KW, ci="f")
    assert any("conjugate-gradient" in w and "2 iterations" in w for w in short.warnings)


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg step-up written out: q_(i) = min_{j >= i} p_(j) m / j."""
    m = len(p)
    order = np.argsort(p)
    q = np.empty(m)
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        q[i] = running
    return q


def test_pairwise_kappa_q_values():
    rng = np.random.default_rng(5)
    n_items, truth = 80, rng.integers(0, 2, 80)
    rows = []
    for r in range(8):
        good = r < 4   # raters 0-3 follow the truth, 4-7 click at random
        lab = np.where(rng.random(n_items) < 0.85, truth, 1 - truth) if good else rng.integers(0, 2, n_items)
        rows += [(i, f"r{r}", int(v)) for i, v in enumerate(lab)]
    f = pd.DataFrame(rows, columns=["unit", "rater", "value"])
    pw = pq.pairwise_kappa(f, **KW, fdr=0.05)
    assert len(pw) == 28
    np.testing.assert_allclose(pw["q_value"], _bh(pw["p_value"].to_numpy()), atol=1e-12)
    good = pw["rater_1"].isin(["r0", "r1", "r2", "r3"]) & pw["rater_2"].isin(["r0", "r1", "r2", "r3"])
    assert pw.loc[good, "significant"].all()
    assert pw.loc[~good, "significant"].sum() <= 2
    assert (pw["q_value"] >= pw["p_value"]).all()
    with pytest.raises(pq.SchemaError, match="`fdr` must be"):
        pq.pairwise_kappa(f, **KW, fdr=1.5)


def test_pairwise_kappa_mirror_is_orientation_free_with_a_delta_method_se():
    rng = np.random.default_rng(6)
    n = 300
    truth = np.where(rng.random(n) < 0.8, 0, 1)          # stored with the preferred response first
    lab = lambda: np.where(rng.random(n) < 0.8, truth, 1 - truth)
    f = pd.DataFrame({"unit": np.r_[np.arange(n), np.arange(n)], "rater": ["x"] * n + ["y"] * n,
                      "value": np.r_[lab(), lab()]})
    mirror = {0: 1, 1: 0}
    sym = pq.pairwise_kappa(f, **KW, mirror=mirror).iloc[0]
    flip = f["unit"].isin(rng.choice(n, n // 2, replace=False))
    g = f.assign(value=np.where(flip, 1 - f["value"], f["value"]))
    assert pq.pairwise_kappa(g, **KW, mirror=mirror).iloc[0]["estimate"] == pytest.approx(sym["estimate"], abs=EXACT)
    assert pq.pairwise_kappa(g, **KW).iloc[0]["estimate"] != pytest.approx(
        pq.pairwise_kappa(f, **KW).iloc[0]["estimate"], abs=1e-3)       # as stored it moves
    doubled = pd.concat([f, f.assign(unit=f["unit"] + n, value=1 - f["value"])])
    assert sym["estimate"] == pytest.approx(pq.cohen_kappa(doubled, **KW).estimate, abs=EXACT)
    assert sym["p_observed"] == pytest.approx(pq.cohen_kappa(f, **KW).p_observed, abs=EXACT) and sym["n"] == n
    # the SE matches the spread of the estimator over simulated tables (delta method, exact gradient)
    from prefqa.reliability.cohen import kappa_from_tables
    p_cells = np.array([[0.55, 0.12], [0.10, 0.23]])
    tables = rng.multinomial(n, p_cells.ravel(), size=4000).reshape(-1, 2, 2).astype(float)
    perm = [1, 0]
    res = kappa_from_tables((tables + tables[:, perm][:, :, perm]) / 2.0)
    assert np.mean(res["std_error"]) / np.std(res["estimate"], ddof=1) == pytest.approx(1.0, abs=0.05)
    with pytest.raises(pq.SchemaError, match="no image"):
        pq.pairwise_kappa(f, **KW, mirror={0: 1})
