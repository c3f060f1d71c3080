"""The competence (one-coin) annotator model: the null of ``flag_prompts`` when models are unknown.

Hovy et al. (2013, MACE): with probability ``theta_i`` annotator i votes the
true label, otherwise it draws from its own label distribution. Fitted by
EM with ``np.bincount`` (no loop over judgments). Dawid-Skene itself lives
in :func:`prefqa.consensus`; this constrained variant is kept here because a
split between reliable annotators must not be explained away as a "true
tie" class with random votes, as an unconstrained Dawid-Skene tie row can.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ConvergenceWarning

__all__ = ["CompetenceFit", "ds_posterior", "fit_one_coin", "one_coin"]

N_LABELS = 3  # oriented choice: 0 = first response, 1 = second, 2 = tie


@dataclass(frozen=True, eq=False)
class CompetenceFit:
    """A competence (one-coin) fit on oriented choices.

    ``confusion[i, z, l]`` is P(annotator i says l | true label z);
    ``posterior[k, z]`` the posterior of comparison k's true label;
    ``prior[z]`` the class prior.
    """

    confusion: np.ndarray
    posterior: np.ndarray
    prior: np.ndarray
    converged: bool
    n_iter: int
    notes: tuple[str, ...] = ()                       # approximations made (subsample, EM cap)
    subsample: tuple[tuple[str, int, int], ...] = ()  # (what, used, total)


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
) -> CompetenceFit:
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
    for it in range(1, max_iter + 1):  # noqa: B007 - the iteration count is returned after the loop
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
    return CompetenceFit(conf, post, prior, converged, it)


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


def fit_one_coin(
    ann: np.ndarray, comp: np.ndarray, label: np.ndarray, n_ann: int, n_comp: int,
    *, max_fit_judgments: int = 100_000,
) -> CompetenceFit:
    """Fit :func:`one_coin`; on big data, fit on a deterministic subsample.

    EM costs one pass over the judgments per iteration and needs tens to
    hundreds of iterations. Above ``max_fit_judgments`` judgments the
    confusion matrices are fitted on every k-th comparison (all of its
    judgments; k = ceil(n / max_fit_judgments)), which still leaves each
    annotator with thousands of judgments at the 1M scale, and one E-step
    then gives the posterior of every comparison. Deterministic: no rng.
    """
    fit_fn = one_coin
    k = int(np.ceil(len(label) / max_fit_judgments)) if len(label) > max_fit_judgments else 1
    if k == 1:
        fit = fit_fn(ann, comp, label, n_ann, n_comp)
        return CompetenceFit(fit.confusion, fit.posterior, fit.prior, fit.converged, fit.n_iter, _em_note(fit))
    take = comp % k == 0
    sub_comp, _ = _factorize(comp[take])
    sub = fit_fn(ann[take], sub_comp, label[take], n_ann, int(sub_comp.max()) + 1)
    post = ds_posterior(sub.confusion, sub.prior, ann, comp, label, n_comp)
    used = int(take.sum())
    note = (f"the null's annotator competences were fitted on every {k}-th comparison: {used:,} of "
            f"{len(label):,} judgments (more than {max_fit_judgments:,})")
    return CompetenceFit(sub.confusion, post, sub.prior, sub.converged, sub.n_iter, (note, *_em_note(sub)),
                         (("competence EM", used, len(label)),))


def _em_note(fit: CompetenceFit) -> tuple[str, ...]:
    if fit.converged:
        return ()
    note = (f"the null's annotator competence EM stopped after {fit.n_iter} iterations without converging; "
            "its reliabilities are approximate")
    return (note,)


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, inv = np.unique(values, return_inverse=True)
    return inv.astype(np.int64), uniq
