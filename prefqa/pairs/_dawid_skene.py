"""Dawid-Skene labels for pairs (private; pq.consensus was not available when this was written).

Classes are the oriented outcomes (0 = response 1 better, 1 = response 2
better, 2 = tie); each annotator has a 3 x 3 confusion matrix. EM starts
from the weighted vote shares and runs until the mean change of the
posteriors is below ``tol``.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import ConvergenceWarning, InsufficientDataError
from ..schema import PreferenceData

__all__ = ["dawid_skene_labels"]


def dawid_skene_labels(data: PreferenceData, weights: np.ndarray, *, max_iter: int = 200,
                       tol: float = 1e-7) -> tuple[np.ndarray, np.ndarray]:
    """Return (label per comparison, P(response 1 better | not tie) posterior share).

    Label 0/1/2 is the posterior mode (-1 when the top is shared); the second
    array is P(class 0) / (P(class 0) + P(class 1)).
    """
    if not data.has_annotators:
        raise InsufficientDataError(
            "label='dawid_skene' needs annotator ids to learn each annotator's confusion matrix; "
            "these judgments have none. Use label='majority'."
        )
    comp, labels = data.codes("comparison_id")
    ann, ann_labels = data.codes("annotator_id")
    use = (weights > 0) & (ann >= 0)
    c, a, y, w = comp[use], ann[use], data.oriented_choice()[use].astype(np.int64), weights[use]
    nc, na = len(labels), len(ann_labels)
    t = np.bincount(c * 3 + y, weights=w, minlength=3 * nc).reshape(nc, 3) + 1e-9
    t /= t.sum(axis=1, keepdims=True)
    for it in range(max_iter):
        prior = t.mean(axis=0)
        # confusion[a, k, y]: P(annotator a says y | true class k), add-0.01 smoothing
        conf = np.zeros((na, 3, 3))
        for k in range(3):
            conf[:, k, :] = np.bincount(a * 3 + y, weights=w * t[c, k], minlength=3 * na).reshape(na, 3)
        conf = (conf + 0.01) / (conf + 0.01).sum(axis=2, keepdims=True)
        loglik = np.tile(np.log(prior), (nc, 1))
        for k in range(3):
            np.add.at(loglik[:, k], c, w * np.log(conf[a, k, y]))
        new = np.exp(loglik - loglik.max(axis=1, keepdims=True))
        new /= new.sum(axis=1, keepdims=True)
        delta = np.abs(new - t).mean()
        t = new
        if delta < tol:
            break
    else:
        warnings.warn(f"Dawid-Skene stopped after {max_iter} iterations (change {delta:.2e} > {tol:g}).",
                      ConvergenceWarning, stacklevel=3)
    top = t.max(axis=1)
    label = t.argmax(axis=1).astype(np.int64)
    label[(t >= top[:, None] - 1e-12).sum(axis=1) > 1] = -1
    label[np.bincount(c, minlength=nc) == 0] = -1
    p1 = t[:, 0] / np.maximum(t[:, 0] + t[:, 1], 1e-300)
    return label, p1
