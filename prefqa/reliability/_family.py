"""Vectorized core of the chance-corrected agreement family (Fleiss, Gwet, Brennan-Prediger).

Everything works on count *patterns* (distinct per-unit count vectors) and
their multiplicities, so the same code gives the point estimate (one set of
multiplicities) and all bootstrap replicates at once (a B x P matrix of
resampled multiplicities). Formulas follow Gwet (2014), *Handbook of
Inter-Rater Reliability*, 4th ed., chapters 2-5, for unequal numbers of
raters per unit:

* ``pa = mean over units with r_u >= 2 of sum_k r_uk (r*_uk - 1) / (r_u (r_u - 1))``
  with ``r* = r W'`` (``W`` = agreement weights, identity when unweighted);
* ``pi_k = mean over all rated units of r_uk / r_u``;
* chance agreement: Fleiss ``sum_kl w_kl pi_k pi_l``; Gwet
  ``sum(W) / (q (q - 1)) * sum_k pi_k (1 - pi_k)``; Brennan-Prediger
  ``sum(W) / q^2``; percent agreement 0;
* standard error: Gwet's linearisation, ``var = sum_u (k*_u - k)^2 / (n (n - 1))``
  with ``k*_u = (n / n2) (pa_u - pe [r_u >= 2]) / (1 - pe) - 2 (1 - k)(pe_u - pe) / (1 - pe)``
  (infinite population, no finite-population correction).
"""

from __future__ import annotations

import numpy as np

__all__ = ["KINDS", "family", "weight_matrix"]

KINDS = ("fleiss_kappa", "gwet_ac", "brennan_prediger", "percent_agreement")
WEIGHTS = ("identity", "linear", "quadratic", "ordinal", "ratio", "radical", "circular", "bipolar")


def weight_matrix(kind: str | np.ndarray, values: np.ndarray) -> np.ndarray:
    """Return the V x V agreement weights (1 on the diagonal) of Gwet's weight families.

    ``values`` are the category values (their positions for labels).
    """
    v = len(values)
    if not isinstance(kind, str):
        w = np.asarray(kind, dtype=float)
        return w
    x = np.asarray(values, dtype=float)
    d = x[:, None] - x[None, :]
    lo, hi = (x.min(), x.max()) if v else (0.0, 0.0)
    rng = hi - lo
    if kind in ("identity", "unweighted") or v < 2 or rng == 0:
        return np.eye(v)
    if kind == "linear":
        return 1.0 - np.abs(d) / rng
    if kind == "quadratic":
        return 1.0 - d**2 / rng**2
    if kind == "radical":
        return 1.0 - np.sqrt(np.abs(d)) / np.sqrt(rng)
    if kind == "ratio":
        s = x[:, None] + x[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            raw = np.where(s == 0, 0.0, (d / np.where(s == 0, 1.0, s)) ** 2)
        return 1.0 - raw / ((rng / (hi + lo)) ** 2)
    if kind == "ordinal":
        pos = np.arange(v, dtype=float)
        m = np.abs(pos[:, None] - pos[None, :]) + 1.0
        raw = m * (m - 1.0) / 2.0
        return 1.0 - raw / raw.max()
    if kind == "circular":
        raw = np.sin(np.pi * d / (rng + 1.0)) ** 2
        return 1.0 - raw / raw.max()
    if kind == "bipolar":
        den = (x[:, None] + x[None, :] - 2 * lo) * (2 * hi - x[:, None] - x[None, :])
        with np.errstate(invalid="ignore", divide="ignore"):
            raw = np.where(den == 0, 0.0, d**2 / np.where(den == 0, 1.0, den))
        return 1.0 - raw / raw.max()
    raise ValueError(kind)  # validated by callers


def _chance(kind: str, pi: np.ndarray, w: np.ndarray) -> np.ndarray:
    q = w.shape[0]
    if kind == "fleiss_kappa":
        return np.einsum("kl,...k,...l->...", w, pi, pi)
    if kind == "gwet_ac":
        if q < 2:
            return np.zeros(pi.shape[:-1])
        return w.sum() / (q * (q - 1.0)) * (pi * (1.0 - pi)).sum(axis=-1)
    if kind == "brennan_prediger":
        return np.full(pi.shape[:-1], w.sum() / q**2)
    return np.zeros(pi.shape[:-1])


def family(
    pats: np.ndarray, mult: np.ndarray, w: np.ndarray, kinds: tuple[str, ...] = KINDS, *, se: bool = True,
    perm: np.ndarray | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Compute coefficients for count patterns ``pats`` (P x V) and multiplicities ``mult``.

    ``mult`` has shape (P,) or (B, P); results have shape () or (B,). Keys of
    each entry: ``estimate``, ``pa``, ``pe`` and (``se=True``, 1-D ``mult``
    only) ``std_error``. Patterns must have at least one rating each.

    ``perm`` (a permutation of the categories, e.g. swapping "first won" and
    "second won") symmetrises the category shares: each unit counts half in
    its own orientation and half mirrored, so ``pi_k = pi_perm(k)``. Observed
    agreement ``pa`` is unchanged (the mirror only relabels categories), and
    the linearised SE uses the symmetrised per-unit shares, which is the
    derivative of the symmetrised chance agreement.
    """
    pats = np.asarray(pats, dtype=float)
    mult = np.asarray(mult, dtype=float)
    r = pats.sum(axis=1)
    two = r >= 2
    rstar = pats @ w.T
    den = np.where(two, r * (r - 1.0), 1.0)
    pa_p = np.where(two, (pats * (rstar - 1.0)).sum(axis=1) / den, 0.0)
    share = pats / np.where(r > 0, r, 1.0)[:, None]
    if perm is not None:
        share = (share + share[:, perm]) / 2.0
    n = mult.sum(axis=-1)
    n2 = mult @ two.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        pa = (mult @ pa_p) / n2
        pi = (mult @ share) / n[..., None]
    out: dict[str, dict[str, np.ndarray]] = {}
    q = w.shape[0]
    for kind in kinds:
        pe = pa * 0.0 if kind == "percent_agreement" else _chance(kind, pi, w)
        with np.errstate(invalid="ignore", divide="ignore"):
            est = np.where(pe < 1.0 - 1e-12, (pa - pe) / (1.0 - pe), np.nan)
        res = {"estimate": est, "pa": pa, "pe": pe}
        if se and mult.ndim == 1:
            res["std_error"] = _linearised_se(kind, est, pa_p, two, share, pi, pe, w, q, n, n2, mult)
        out[kind] = res
    return out


def _linearised_se(kind, est, pa_p, two, share, pi, pe, w, q, n, n2, mult) -> np.ndarray:
    if not np.isfinite(est) or n < 2:
        return np.asarray(np.nan)
    k_p = (n / n2) * (pa_p - pe * two) / (1.0 - pe)
    if kind == "fleiss_kappa":
        pe_p = share @ ((w @ pi + w.T @ pi) / 2.0)
    elif kind == "gwet_ac":
        pe_p = (w.sum() / (q * (q - 1.0)) if q >= 2 else 0.0) * (share @ (1.0 - pi))
    else:
        pe_p = np.full(len(pa_p), float(pe))
    k_star = k_p - 2.0 * (1.0 - est) * (pe_p - pe) / (1.0 - pe)
    var = (mult * (k_star - est) ** 2).sum() / (n * (n - 1.0))
    return np.asarray(np.sqrt(var))
