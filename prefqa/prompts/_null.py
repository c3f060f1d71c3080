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
    """Mean and variance of *agreeing* vote pairs per comparison when vote j has label probabilities ``p[j]``.

    Written with contiguous one-dimensional arrays (one per label) and
    ``np.bincount``: this runs ten times per ``flag_prompts`` call on every vote.
    """
    def per_comp(w: np.ndarray) -> np.ndarray:
        return np.bincount(comp, weights=w, minlength=n_comp)

    cols = [np.ascontiguousarray(p[:, k]) for k in range(N_LABELS)]
    sq_l = [c * c for c in cols]
    T = [per_comp(c) for c in cols]
    Q = [per_comp(c2) for c2 in sq_l]
    C = [per_comp(c2 * c) for c, c2 in zip(cols, sq_l)]
    p01, p02, p12 = cols[0] * cols[1], cols[0] * cols[2], cols[1] * cols[2]
    m01, m02, m12 = per_comp(p01), per_comp(p02), per_comp(p12)
    mean = 0.5 * sum(t * t - q for t, q in zip(T, Q))               # sum_{i<j} s_ij
    # sum_{i<j} s_ij^2 = 1/2 sum_i sum_{j!=i} s_ij^2, and
    # sum_{j != i} s_ij^2 = p_i' M_k p_i - (sum_l p_il^2)^2  (M symmetric: diagonal Q, three off-diagonal cells)
    quad = (sq_l[0] * Q[0][comp] + sq_l[1] * Q[1][comp] + sq_l[2] * Q[2][comp]
            + 2.0 * (p01 * m01[comp] + p02 * m02[comp] + p12 * m12[comp]))
    sq = sq_l[0] + sq_l[1] + sq_l[2]
    s2_i = quad - sq * sq
    sum_s2 = 0.5 * per_comp(s2_i)
    # triples: sum_{i<j<k} t_ijk, each counted three times by centre
    triples = sum(t**3 - 3.0 * t * q + 2.0 * c for t, q, c in zip(T, Q, C)) / 6.0
    # sum_i sum_{j<k; j,k != i} s_ij s_ik = sum_i [(r_i)^2 - sum_{j!=i} s_ij^2] / 2
    r_i = cols[0] * T[0][comp] + cols[1] * T[1][comp] + cols[2] * T[2][comp] - sq   # sum_{j != i} s_ij
    cross = 0.5 * per_comp(r_i * r_i - s2_i)
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
