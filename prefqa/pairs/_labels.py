"""Labels per comparison: which response won, how strongly, and how often labels flip.

All arrays are indexed by comparison code (``data.codes('comparison_id')``)
and oriented to the comparison's canonical first response
(``data.oriented_choice()``): 0 = response 1 won, 1 = response 2, 2 = tie.
"""

from __future__ import annotations

import numpy as np

from ..schema import PreferenceData

__all__ = ["vote_table", "majority_labels", "one_coin_flip_rate"]

NO_MAJORITY = -1
_EPS = 1e-9


def vote_table(data: PreferenceData, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return weighted votes (n_comparisons x 3) and the count of judgments with weight > 0.

    Examples
    --------
    >>> import pandas as pd
    >>> j = pd.DataFrame({"comparison_id": ["c", "c", "c"], "annotator_id": list("xyz"),
    ...                   "choice": ["a", "a", "tie"]})
    >>> votes, n = vote_table(PreferenceData(j), np.ones(3))
    >>> votes.tolist(), n.tolist()
    ([[2.0, 0.0, 1.0]], [3])
    """
    comp, labels = data.codes("comparison_id")
    nc = len(labels)
    oc = data.oriented_choice().astype(np.int64)
    votes = np.bincount(comp * 3 + oc, weights=weights, minlength=3 * nc).reshape(nc, 3)
    n = np.bincount(comp, weights=(weights > 0).astype(np.float64), minlength=nc).astype(np.int64)
    return votes, n


def majority_labels(votes: np.ndarray) -> np.ndarray:
    """Return the category with strictly the most votes, or -1 when the top is shared.

    Examples
    --------
    >>> majority_labels(np.array([[2., 1., 0.], [1., 1., 0.], [0., 1., 2.], [0., 0., 0.]])).tolist()
    [0, -1, 2, -1]
    """
    top = votes.max(axis=1)
    label = votes.argmax(axis=1).astype(np.int64)
    n_top = (votes >= top[:, None] - _EPS).sum(axis=1)
    label[(n_top > 1) | (top <= 0)] = NO_MAJORITY
    return label


def one_coin_flip_rate(win: np.ndarray, lose: np.ndarray, kept: np.ndarray) -> float:
    """Estimate the share of kept majority labels that are wrong, under a one-coin model.

    Every annotator is assumed to pick the better response with the same
    probability ``q``. ``q`` is fitted from how often two non-tie votes on
    the same comparison agree: P(agree) = q^2 + (1 - q)^2. A kept label
    with ``k`` votes for and ``m`` against is then wrong with probability
    ``1 / (1 + (q / (1 - q)) ** (k - m))`` (equal prior). Returns ``nan``
    when no comparison has two or more non-tie votes.

    Examples
    --------
    >>> win, lose = np.array([3., 2., 3.]), np.array([0., 1., 0.])
    >>> round(one_coin_flip_rate(win, lose, np.ones(3, bool)), 4)
    0.0445
    """
    total = win + lose
    pairs = total * (total - 1) / 2
    if pairs.sum() <= 0:
        return float("nan")
    agree = (win * (win - 1) / 2 + lose * (lose - 1) / 2).sum() / pairs.sum()
    q = 0.5 * (1.0 + np.sqrt(max(2.0 * agree - 1.0, 0.0)))
    if not kept.any():
        return float("nan")
    if q >= 1.0:
        return 0.0
    d = (win - lose)[kept]
    wrong = 1.0 / (1.0 + np.exp(d * np.log(q / (1.0 - q)))) if q > 0.5 else np.full(len(d), 0.5)
    return float(np.mean(wrong))
