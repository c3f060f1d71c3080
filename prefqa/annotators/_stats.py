"""Vectorized building blocks shared by the annotator table, the judge report and the prompt flags.

Everything here works on integer codes (annotator, comparison, choice) and
``np.bincount``; nothing loops over judgments. The pieces:

* :func:`bh` -- Benjamini-Hochberg q-values that skip NaN (untested) entries.
* :func:`outlier_test` -- the annotator-population test used by every
  per-annotator flag (see its docstring for the null).
* :func:`dawid_skene` -- Dawid & Skene (1979) EM on oriented choices.
* :func:`leave_one_out` -- agreement of each judgment with the *other*
  annotators of the same comparison.
* :func:`group_logistic` -- one logistic regression (intercept + slope) per
  group, fitted jointly by vectorized Newton steps.
* :func:`longest_runs` -- the longest run of identical choices per annotator.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..errors import ConvergenceWarning

__all__ = [
    "DawidSkene",
    "bh",
    "dawid_skene",
    "fit_em",
    "ds_posterior",
    "one_coin",
    "group_logistic",
    "leave_one_out",
    "longest_runs",
    "outlier_test",
]

N_LABELS = 3  # oriented choice: 0 = first response, 1 = second, 2 = tie


def bh(p: np.ndarray) -> np.ndarray:
    """Return Benjamini-Hochberg q-values; NaN p-values stay NaN and are not counted.

    Examples
    --------
    >>> bh(np.array([0.01, np.nan, 0.04, 0.03])).round(3).tolist()
    [0.03, nan, 0.04, 0.04]
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return q
    ps = p[ok]
    order = np.argsort(ps, kind="stable")
    scaled = ps[order] * m / np.arange(1, m + 1)
    scaled = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(scaled, 1.0)
    q[ok] = out
    return q


def outlier_test(
    estimate: np.ndarray,
    se_at: np.ndarray,
    valid: np.ndarray,
    *,
    side: str = "two-sided",
) -> tuple[np.ndarray, np.ndarray, float]:
    """Test each annotator against the annotator population.

    The null is "this annotator is drawn from the same population as the
    typical annotator": its estimate is centred at the median ``c`` of the
    valid annotators' estimates, with sampling variance ``se_i**2`` plus a
    between-annotator variance ``tau**2``. ``tau`` comes from the scaled
    median absolute deviation (``1.4826 * MAD``) minus the typical sampling
    variance, floored at 0, so normal annotator-to-annotator variation is
    not flagged and a minority of biased annotators does not move the centre.

    Parameters
    ----------
    estimate : ndarray
        One value per annotator (NaN = not estimable).
    se_at : ndarray
        Standard error of each estimate (for proportions: evaluated at the
        centre; pass a callable result of :func:`_prop_se`).
    valid : ndarray of bool
        Annotators that enter the centre, the spread and the test.
    side : {'two-sided', 'greater', 'less'}
        Direction flagged.

    Returns
    -------
    p : ndarray
        p-values, NaN where not valid or not estimable.
    z : ndarray
        The standardized deviations.
    centre : float
        The population median.
    """
    est = np.asarray(estimate, dtype=np.float64)
    se = np.asarray(se_at, dtype=np.float64)
    ok = valid & np.isfinite(est) & np.isfinite(se)
    p = np.full(est.shape, np.nan)
    z = np.full(est.shape, np.nan)
    if ok.sum() < 2:
        return p, z, float(np.nanmedian(est[ok])) if ok.any() else np.nan
    centre = float(np.median(est[ok]))
    mad = 1.4826 * float(np.median(np.abs(est[ok] - centre)))
    tau2 = max(0.0, mad**2 - float(np.median(se[ok] ** 2)))
    sd = np.sqrt(se**2 + tau2)
    with np.errstate(divide="ignore", invalid="ignore"):
        zz = (est - centre) / sd
        zz = np.where(sd > 0, zz, np.where(est == centre, 0.0, np.sign(est - centre) * np.inf))
    z[ok] = zz[ok]
    if side == "greater":
        p[ok] = stats.norm.sf(zz[ok])
    elif side == "less":
        p[ok] = stats.norm.cdf(zz[ok])
    else:
        p[ok] = 2.0 * stats.norm.sf(np.abs(zz[ok]))
    return p, z, centre


def prop_se(centre: float, n: np.ndarray) -> np.ndarray:
    """Binomial standard error of a proportion at ``centre`` with ``n`` trials."""
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, np.sqrt(max(centre * (1 - centre), 1e-12) / n), np.nan)


@dataclass(frozen=True, eq=False)
class DawidSkene:
    """A Dawid-Skene fit on oriented choices.

    ``confusion[i, z, l]`` is P(annotator i says l | true label z);
    ``posterior[k, z]`` the posterior of comparison k's true label;
    ``prior[z]`` the class prior.
    """

    confusion: np.ndarray
    posterior: np.ndarray
    prior: np.ndarray
    converged: bool
    n_iter: int


def dawid_skene(
    ann: np.ndarray,
    comp: np.ndarray,
    label: np.ndarray,
    n_ann: int,
    n_comp: int,
    *,
    max_iter: int = 1000,
    tol: float = 1e-5,
    smoothing: float = 0.5,
) -> DawidSkene:
    """Fit Dawid & Skene (1979) by EM with class-conditional confusion matrices.

    ``smoothing`` is a symmetric Dirichlet pseudo-count added to every
    confusion cell, which keeps rare classes (ties) and small annotators
    finite. Initialised from the per-comparison vote shares (soft majority).
    Stops when the relative change of the marginal log-likelihood falls
    below ``tol``; warns :class:`ConvergenceWarning` when ``max_iter`` is
    reached first.

    Examples
    --------
    >>> ann = np.tile([0, 1, 2, 3], 3); comp = np.repeat([0, 1, 2], 4)
    >>> lab = np.array([0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 2])
    >>> fit = dawid_skene(ann, comp, lab, 4, 3)
    >>> fit.posterior.argmax(axis=1).tolist()
    [0, 1, 0]
    """
    L = N_LABELS
    counts = np.bincount(comp * L + label, minlength=n_comp * L).reshape(n_comp, L).astype(float)
    post = (counts + 0.01) / (counts + 0.01).sum(axis=1, keepdims=True)
    conf = np.full((n_ann, L, L), 1.0 / L)
    prior = np.full(L, 1.0 / L)
    converged, it, prev, change = False, 0, -np.inf, np.inf
    for it in range(1, max_iter + 1):
        # M-step
        conf = np.empty((n_ann, L, L))
        for z in range(L):
            w = post[comp, z]
            conf[:, z, :] = np.bincount(ann * L + label, weights=w, minlength=n_ann * L).reshape(n_ann, L)
        conf += smoothing
        conf /= conf.sum(axis=2, keepdims=True)
        prior = post.mean(axis=0) + 1e-9
        prior /= prior.sum()
        # E-step
        logc = np.log(conf)
        logpost = np.empty((n_comp, L))
        for z in range(L):
            logpost[:, z] = np.log(prior[z]) + np.bincount(comp, weights=logc[ann, z, label], minlength=n_comp)
        top = logpost.max(axis=1, keepdims=True)
        new = np.exp(logpost - top)
        total = new.sum(axis=1, keepdims=True)
        new /= total
        loglik = float((top[:, 0] + np.log(total[:, 0])).sum())
        change = abs(loglik - prev) / max(abs(loglik), 1.0)
        post, prev = new, loglik
        if change < tol:
            converged = True
            break
    if not converged:
        warnings.warn(
            f"Dawid-Skene EM stopped after {max_iter} iterations without converging "
            f"(relative log-likelihood change {change:.2g} > tol {tol:g}); its accuracies are approximate.",
            ConvergenceWarning, stacklevel=3,
        )
    return DawidSkene(conf, post, prior, converged, it)


def one_coin(
    ann: np.ndarray,
    comp: np.ndarray,
    label: np.ndarray,
    n_ann: int,
    n_comp: int,
    *,
    max_iter: int = 500,
    tol: float = 1e-6,
    smoothing: float = 0.5,
) -> DawidSkene:
    """Fit the MACE-style competence model (Hovy et al., 2013) by EM.

    With probability ``theta_i`` annotator i is competent and votes the true
    label; otherwise it draws from its own label distribution ``xi_i``. Its
    confusion matrix is ``theta_i * I + (1 - theta_i) * xi_i`` (same error
    distribution for every true label), so a split between reliable
    annotators cannot be explained away as a "true tie" class with random
    votes, as an unconstrained Dawid-Skene tie row can. ``smoothing`` is a
    Beta/Dirichlet pseudo-count on ``theta`` and ``xi``.

    Examples
    --------
    >>> ann = np.tile([0, 1, 2, 3], 3); comp = np.repeat([0, 1, 2], 4)
    >>> lab = np.array([0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 2])
    >>> fit = one_coin(ann, comp, lab, 4, 3)
    >>> fit.posterior.argmax(axis=1).tolist()
    [0, 1, 0]
    """
    L = N_LABELS
    counts = np.bincount(comp * L + label, minlength=n_comp * L).reshape(n_comp, L).astype(float)
    post = (counts + 0.01) / (counts + 0.01).sum(axis=1, keepdims=True)
    eye = np.eye(L)
    converged, it, prev, change = False, 0, -np.inf, np.inf
    conf = np.full((n_ann, L, L), 1.0 / L)
    prior = np.full(L, 1.0 / L)
    theta = np.full(n_ann, 0.8)
    xi = np.full((n_ann, L), 1.0 / L)
    cl = comp * L + label  # flat indices, cheaper than 2-D fancy indexing in the loop
    al = ann * L + label
    n_i = np.bincount(ann, minlength=n_ann).astype(float)
    for it in range(1, max_iter + 1):
        # expected competence of each vote, mixed over the posterior of the truth
        hit = post.ravel()[cl]
        num = theta[ann]
        own = (1.0 - num) * xi.ravel()[al]
        competent = hit * num / (num + own)
        theta = (np.bincount(ann, weights=competent, minlength=n_ann) + smoothing) / (n_i + 2 * smoothing)
        xi = np.bincount(al, weights=1.0 - competent, minlength=n_ann * L).reshape(n_ann, L)
        xi = (xi + smoothing) / (xi + smoothing).sum(axis=1, keepdims=True)
        conf = theta[:, None, None] * eye[None] + (1.0 - theta)[:, None, None] * xi[:, None, :]
        prior = post.mean(axis=0) + 1e-9
        prior /= prior.sum()
        logc = np.log(conf)
        cols = [np.log(prior[z]) + np.bincount(comp, weights=logc[:, z, :].ravel()[al], minlength=n_comp)
                for z in range(L)]  # three true labels
        top = np.maximum(np.maximum(cols[0], cols[1]), cols[2])
        e = [np.exp(col - top) for col in cols]
        total = e[0] + e[1] + e[2]
        post = np.column_stack(e) / total[:, None]
        loglik = float((top + np.log(total)).sum())
        change = abs(loglik - prev) / max(abs(loglik), 1.0)
        prev = loglik
        if change < tol:
            converged = True
            break
    if not converged:
        warnings.warn(
            f"the annotator competence EM stopped after {max_iter} iterations without converging "
            f"(relative log-likelihood change {change:.2g} > tol {tol:g}); its reliabilities are approximate.",
            ConvergenceWarning, stacklevel=3,
        )
    return DawidSkene(conf, post, prior, converged, it)


def ds_posterior(
    confusion: np.ndarray, prior: np.ndarray, ann: np.ndarray, comp: np.ndarray, label: np.ndarray, n_comp: int
) -> np.ndarray:
    """One Dawid-Skene E-step: the posterior of every comparison's true label given fixed confusions."""
    logc = np.log(confusion)
    logpost = np.empty((n_comp, N_LABELS))
    for z in range(N_LABELS):  # three true labels
        logpost[:, z] = np.log(prior[z]) + np.bincount(comp, weights=logc[ann, z, label], minlength=n_comp)
    logpost -= logpost.max(axis=1, keepdims=True)
    post = np.exp(logpost)
    return post / post.sum(axis=1, keepdims=True)


def fit_em(
    method: str, ann: np.ndarray, comp: np.ndarray, label: np.ndarray, n_ann: int, n_comp: int,
    *, max_fit_judgments: int = 100_000,
) -> DawidSkene:
    """Fit ``'dawid_skene'`` or ``'one_coin'``; on big data, fit on a deterministic subsample.

    EM costs one pass over the judgments per iteration and needs tens to
    hundreds of iterations. Above ``max_fit_judgments`` judgments the
    confusion matrices are fitted on every k-th comparison (all of its
    judgments; k = ceil(n / max_fit_judgments)), which still leaves each
    annotator with thousands of judgments at the 1M scale, and one E-step
    then gives the posterior of every comparison. Deterministic: no rng.
    """
    fit_fn = dawid_skene if method == "dawid_skene" else one_coin
    k = int(np.ceil(len(label) / max_fit_judgments)) if len(label) > max_fit_judgments else 1
    if k == 1:
        return fit_fn(ann, comp, label, n_ann, n_comp)
    take = comp % k == 0
    sub_comp, _ = _factorize(comp[take])
    sub = fit_fn(ann[take], sub_comp, label[take], n_ann, int(sub_comp.max()) + 1)
    post = ds_posterior(sub.confusion, sub.prior, ann, comp, label, n_comp)
    return DawidSkene(sub.confusion, post, sub.prior, sub.converged, sub.n_iter)


def leave_one_out(
    ann: np.ndarray, comp: np.ndarray, label: np.ndarray, n_comp: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return, per judgment, the others' votes on the same comparison.

    "Others" excludes every judgment of the same annotator on that
    comparison (repeats and swapped-order reruns).

    Returns
    -------
    n_others : ndarray of float
        Judgments by other annotators on the comparison.
    same : ndarray of float
        How many of them chose the same oriented label.
    others_by_label : ndarray, shape (n, 3)
        The others' votes per label.
    """
    L = N_LABELS
    counts = np.bincount(comp * L + label, minlength=n_comp * L).reshape(n_comp, L)
    key = comp.astype(np.int64) * (int(ann.max()) + 1 if len(ann) else 1) + ann
    grp, _ = _factorize(key)
    own = np.bincount(grp * L + label, minlength=(int(grp.max()) + 1 if len(grp) else 0) * L).reshape(-1, L)
    others = (counts[comp] - own[grp]).astype(float)
    n_others = others.sum(axis=1)
    same = others[np.arange(len(label)), label]
    return n_others, same, others


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, inv = np.unique(values, return_inverse=True)
    return inv.astype(np.int64), uniq


def group_logistic(
    group: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    n_groups: int,
    *,
    regularization: float = 1e-3,
    max_iter: int = 50,
    tol: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Fit ``logit P(y=1) = b0_g + b1_g * x`` separately for every group, jointly vectorized.

    A tiny ridge ``regularization`` keeps separated groups (an annotator
    who always picks the same side) finite. Returns intercepts, slopes,
    slope standard errors (from the inverse Hessian) and whether every
    group converged.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=4000); g = np.repeat([0, 1], 2000)
    >>> y = (rng.random(4000) < 1 / (1 + np.exp(-(np.where(g == 1, 2.0, 0.0) * x)))).astype(float)
    >>> b0, b1, se, ok = group_logistic(g, x, y, 2)
    >>> (np.round(b1, 1) + 0.0).tolist(), ok
    ([0.0, 2.0], True)
    """
    b0 = np.zeros(n_groups)
    b1 = np.zeros(n_groups)
    converged = False
    h00 = h01 = h11 = np.ones(n_groups)
    for _ in range(max_iter):
        eta = b0[group] + b1[group] * x
        mu = 1.0 / (1.0 + np.exp(-eta))
        w = mu * (1.0 - mu)
        r = y - mu
        g0 = np.bincount(group, weights=r, minlength=n_groups) - regularization * b0
        g1 = np.bincount(group, weights=r * x, minlength=n_groups) - regularization * b1
        h00 = np.bincount(group, weights=w, minlength=n_groups) + regularization
        h01 = np.bincount(group, weights=w * x, minlength=n_groups)
        h11 = np.bincount(group, weights=w * x * x, minlength=n_groups) + regularization
        det = h00 * h11 - h01**2
        d0 = (h11 * g0 - h01 * g1) / det
        d1 = (h00 * g1 - h01 * g0) / det
        step = np.maximum(np.abs(d0), np.abs(d1))
        scale = np.minimum(1.0, 5.0 / np.maximum(step, 1e-300))  # damp huge first steps
        b0 += scale * d0
        b1 += scale * d1
        if float(np.max(step, initial=0.0)) < tol:
            converged = True
            break
    det = h00 * h11 - h01**2
    with np.errstate(divide="ignore", invalid="ignore"):
        se1 = np.sqrt(h00 / det)
    return b0, b1, se1, converged


def longest_runs(ann: np.ndarray, label: np.ndarray, order_key: np.ndarray, n_ann: int) -> np.ndarray:
    """Return the longest run of identical labels per annotator, in ``order_key`` order.

    Examples
    --------
    >>> longest_runs(np.array([0, 0, 0, 1, 1]), np.array([1, 1, 0, 2, 2]),
    ...              np.arange(5), 2).tolist()
    [2, 2]
    """
    if len(ann) == 0:
        return np.zeros(n_ann, dtype=np.int64)
    order = np.lexsort((order_key, ann))
    a, lab = ann[order], label[order]
    start = np.ones(len(a), dtype=bool)
    start[1:] = (a[1:] != a[:-1]) | (lab[1:] != lab[:-1])
    starts = np.flatnonzero(start)
    lengths = np.diff(np.append(starts, len(a)))
    out = np.zeros(n_ann, dtype=np.int64)
    np.maximum.at(out, a[starts], lengths)
    return out


def run_pvalue(longest: np.ndarray, n: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """P(longest run >= observed) for ``n`` i.i.d. draws with label ``shares``.

    Poisson approximation to the number of runs of length ``>= L``: a run of
    label l starts at a given position with probability ``(1 - p_l) p_l**L``
    (``p_l**L`` at the first position), so the expected count is
    ``sum_l p_l**L * (1 + (n - L) * (1 - p_l))`` and
    ``P(max run >= L) = 1 - exp(-expected)``.

    Examples
    --------
    >>> run_pvalue(np.array([40]), np.array([100]), np.array([0.45, 0.45, 0.1])) < 1e-10
    array([ True])
    """
    L = np.asarray(longest, dtype=np.float64)[:, None]
    nn = np.asarray(n, dtype=np.float64)[:, None]
    p = np.clip(np.asarray(shares, dtype=np.float64)[None, :], 1e-12, 1 - 1e-12)
    expected = (p**L * (1.0 + np.maximum(nn - L, 0.0) * (1.0 - p))).sum(axis=1)
    return -np.expm1(-expected)
