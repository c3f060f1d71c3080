"""Null distribution of vote disagreement given each annotator's confusion matrix.

For one comparison with votes ``v_1..v_n`` from annotators with confusion
rows ``p_i = P(v_i = . | true label z)``, votes are independent given ``z``.
The number of agreeing vote pairs ``A = sum_{i<j} 1[v_i = v_j]`` then has

* ``E[A | z] = sum_{i<j} s_ij`` with ``s_ij = sum_l p_il p_jl``;
* ``Var(A | z) = sum_{i<j} (s_ij - s_ij^2) + 2 sum_i sum_{j<k; j,k != i}
  (t_ijk - s_ij s_ik)`` with ``t_ijk = sum_l p_il p_jl p_kl``: pairs of
  pairs that share no annotator are independent, pairs that share one
  covary.

Every sum is rewritten with per-comparison power sums (``T_l = sum_i p_il``,
``Q_l = sum_i p_il^2``, ``C_l = sum_i p_il^3``, ``M_lm = sum_i p_il p_im``),
so the whole computation is a handful of ``np.bincount`` calls. Mixing over
the posterior of ``z`` uses the law of total variance. Comparisons are
independent, so prompt moments are sums over its comparisons.
"""

from __future__ import annotations

import numpy as np

from ..annotators._stats import N_LABELS

__all__ = ["disagreement_moments", "pair_moments", "simulate_disagreement"]


def pair_moments(p: np.ndarray, comp: np.ndarray, n_comp: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of *agreeing* vote pairs per comparison when vote j has label probabilities ``p[j]``."""
    L = N_LABELS

    def per_comp(w: np.ndarray) -> np.ndarray:
        return np.bincount(comp, weights=w, minlength=n_comp)

    T = np.column_stack([per_comp(p[:, l]) for l in range(L)])
    Q = np.column_stack([per_comp(p[:, l] ** 2) for l in range(L)])
    C = np.column_stack([per_comp(p[:, l] ** 3) for l in range(L)])
    M = np.empty((n_comp, L, L))
    for l in range(L):  # 3 x 3 label pairs
        for m in range(l, L):
            M[:, l, m] = M[:, m, l] = per_comp(p[:, l] * p[:, m])
    mean = 0.5 * (T**2 - Q).sum(axis=1)                         # sum_{i<j} s_ij
    # sum_{i<j} s_ij^2 = 1/2 sum_i sum_{j!=i} s_ij^2, and
    # sum_{j != i} s_ij^2 = p_i' M_k p_i - (sum_l p_il^2)^2  (M symmetric: 6 distinct cells)
    quad = np.zeros(len(comp))
    for l in range(L):  # 3 x 3 label pairs
        for m in range(l, L):
            quad += (1.0 if l == m else 2.0) * p[:, l] * p[:, m] * M[:, l, m][comp]
    sq = (p**2).sum(axis=1)
    s2_i = quad - sq**2
    sum_s2 = 0.5 * per_comp(s2_i)
    # triples: sum_{i<j<k} t_ijk, each counted three times by centre
    triples = ((T**3 - 3 * T * Q + 2 * C) / 6.0).sum(axis=1)
    # sum_i sum_{j<k; j,k != i} s_ij s_ik = sum_i [(r_i)^2 - sum_{j!=i} s_ij^2] / 2
    r_i = (p * T[comp]).sum(axis=1) - sq                          # sum_{j != i} s_ij
    cross = 0.5 * per_comp(r_i**2 - s2_i)
    var = (mean - sum_s2) + 2.0 * (3.0 * triples - cross)
    return mean, np.maximum(var, 0.0)


def disagreement_moments(
    confusion: np.ndarray, posterior: np.ndarray, ann: np.ndarray, comp: np.ndarray, n_comp: int
) -> tuple[np.ndarray, np.ndarray]:
    """Null mean and variance of the number of *disagreeing* vote pairs per comparison.

    Parameters
    ----------
    confusion : ndarray, shape (n_annotators, 3, 3)
        ``confusion[i, z, l] = P(annotator i votes l | true label z)``.
    posterior : ndarray, shape (n_comparisons, 3)
        Distribution of each comparison's true label.
    ann, comp : ndarray of int
        Annotator and comparison code of every vote.

    Examples
    --------
    Three perfectly reliable votes never disagree; three uniform ones
    disagree on 2 of 3 pairs on average:

    >>> eye = np.eye(3)[None]; uni = np.full((1, 3, 3), 1 / 3)
    >>> post = np.array([[1.0, 0, 0]]); a = np.zeros(3, int); c = np.zeros(3, int)
    >>> [round(float(disagreement_moments(m, post, a, c, 1)[0][0]), 3) for m in (eye, uni)]
    [0.0, 2.0]
    """
    n_votes = np.bincount(comp, minlength=n_comp).astype(np.float64)
    pairs = n_votes * (n_votes - 1) / 2
    e_mix = np.zeros(n_comp)
    e2_mix = np.zeros(n_comp)
    v_mix = np.zeros(n_comp)
    for z in range(N_LABELS):  # three true labels
        mean, var = pair_moments(confusion[ann, z, :], comp, n_comp)
        w = posterior[:, z]
        e_mix += w * mean
        e2_mix += w * mean**2
        v_mix += w * var
    var_total = v_mix + np.maximum(e2_mix - e_mix**2, 0.0)
    return pairs - e_mix, var_total


def simulate_disagreement(
    confusion: np.ndarray,
    posterior: np.ndarray,
    ann: np.ndarray,
    comp: np.ndarray,
    n_comp: int,
    group: np.ndarray,
    n_groups: int,
    n_resamples: int,
    rng: np.random.Generator,
    *,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Draw ``n_resamples`` null replicates of the disagreeing pairs per group (parametric bootstrap).

    Returns an array of shape ``(n_resamples, n_groups)``. ``group`` maps
    comparisons to groups (prompts); ``weights`` (one per comparison,
    default 1) weight each comparison's disagreeing pairs in the group sum.
    """
    L = N_LABELS
    cum_post = np.cumsum(posterior, axis=1)
    cum_conf = np.cumsum(confusion, axis=2)
    n_votes = np.bincount(comp, minlength=n_comp).astype(np.float64)
    pairs = n_votes * (n_votes - 1) / 2
    out = np.empty((n_resamples, n_groups))
    for b in range(n_resamples):  # resamples; each one is vectorized over votes
        z = (rng.random(n_comp)[:, None] > cum_post[:, :-1]).sum(axis=1)
        zc = z[comp]
        u = rng.random(len(comp))
        lab = (u > cum_conf[ann, zc, 0]).astype(np.int64) + (u > cum_conf[ann, zc, 1])
        counts = np.bincount(comp * L + lab, minlength=n_comp * L).reshape(n_comp, L)
        agree = (counts * (counts - 1) / 2).sum(axis=1)
        dis = pairs - agree
        out[b] = np.bincount(group, weights=dis if weights is None else weights * dis, minlength=n_groups)
    return out
