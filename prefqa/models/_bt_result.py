"""The result object of :func:`prefqa.fit_bradley_terry`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

__all__ = ["BradleyTerryResult", "rank_table"]

ELO_SCALE = 400.0


def rank_table(estimate: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return (rank, rank_low, rank_high) from estimates and their intervals.

    ``rank`` is 1 + the number of items with a strictly higher estimate.
    ``rank_low`` (best plausible) is 1 + the number of items whose
    ``ci_low`` exceeds this item's ``ci_high``; ``rank_high`` (worst
    plausible) is the number of items minus those whose ``ci_high`` is below
    this item's ``ci_low``. Without intervals (NaN) the rank interval is the
    rank itself.
    """
    k = len(estimate)
    est_sorted = np.sort(estimate)
    rank = k - np.searchsorted(est_sorted, estimate, side="right") + 1
    if np.isnan(low).any() or np.isnan(high).any():
        return rank, rank.copy(), rank.copy()
    lows, highs = np.sort(low), np.sort(high)
    surely_better = k - np.searchsorted(lows, high, side="right")
    surely_worse = np.searchsorted(highs, low, side="left")
    return rank, 1 + surely_better, k - surely_worse


@dataclass(frozen=True, eq=False)
class BradleyTerryResult:
    """Bradley-Terry scores with covariates, a tie parameter and CIs.

    Attributes
    ----------
    scores : DataFrame
        Indexed by model (``over="model"``) or response id. Columns
        ``estimate`` (log-strength, centred to mean 0 when unpenalised),
        ``std_error``, ``ci_low``, ``ci_high``, ``rank`` (1 = best),
        ``rank_low``, ``rank_high`` (rank interval implied by the CIs, see
        :func:`rank_table`), ``n`` (judgments involving the item), ``wins``,
        ``losses``, ``ties``. Sorted by ``rank``.
    coefficients : DataFrame
        One row per covariate asked for (``estimate, std_error, ci_low,
        ci_high, p_value, reason``); log-odds per unit of the covariate
        (displayed a minus b). A covariate the data cannot estimate (all 0,
        or collinear with the strengths or earlier covariates) was dropped
        before the fit: its row is NaN and ``reason`` says why (``""`` for
        estimated rows). Empty without covariates.
    tie_parameter : float
        Davidson's ``nu`` (``ties="davidson"``); NaN otherwise. The chance of
        a tie between equal items is ``nu / (2 + nu)``.
    covariance : DataFrame or None
        Covariance of strengths, coefficients (and ``log_tie_parameter``),
        from the sandwich, the Fisher information or the bootstrap draws;
        ``None`` when ``ci=None``.
    over, ties, ci, regularization, covariate_regularization, confidence_level, n_resamples
        The settings used.
    cluster : str or None
        The clustering used by the sandwich or the bootstrap:
        ``'comparison'``, ``'annotator'``, ``'two-way'`` or ``'none'``
        (judgments independent, also for ``ci='fisher'``); ``None`` without
        intervals. ``cluster='auto'`` is resolved to one of these.
    se_method : str
        How the standard errors were obtained, in words (``'none'`` without
        intervals).
    n_judgments, n_items, n_dropped : int
        Judgments used, items scored, judgments left out (missing ids or
        covariates, or ties with ``ties="drop"``).
    log_likelihood : float
        At the estimate (penalty not included).
    converged : bool
    n_iter : int
        L-BFGS iterations of the point fit.
    warnings : tuple of str
    """

    scores: pd.DataFrame
    coefficients: pd.DataFrame
    tie_parameter: float
    covariance: pd.DataFrame | None
    over: str
    ties: str
    ci: str | None
    cluster: str | None
    se_method: str
    regularization: float
    covariate_regularization: float
    confidence_level: float
    n_resamples: int
    n_judgments: int
    n_items: int
    n_dropped: int
    log_likelihood: float
    converged: bool
    n_iter: int
    warnings: tuple[str, ...]

    # ------------------------------------------------------------ predictions
    def _strengths(self, items: Any) -> np.ndarray:
        labels = np.atleast_1d(np.asarray(items, dtype=object))
        known = self.scores.index
        missing = [x for x in labels if x not in known]
        if missing:
            raise _unknown_items(missing, list(known[:5]))
        return self.scores["estimate"].reindex(labels).to_numpy(dtype=float)

    def outcome_probabilities(self, i: Any, j: Any) -> pd.DataFrame:
        """Return the model's ``p_win``, ``p_loss``, ``p_tie`` of ``i`` against ``j``.

        Covariates are set to zero (no style difference, no position).
        ``p_tie`` is 0 unless ``ties="davidson"``.
        """
        si, sj = self._strengths(i), self._strengths(j)
        d = si - sj
        if self.ties == "davidson":
            # P(win) = e^{d/2} / D, D = e^{d/2} + e^{-d/2} + nu: softmax over (d/2, -d/2, log nu)
            logits = np.stack([d / 2, -d / 2, np.full_like(d, np.log(self.tie_parameter)
                                                           if self.tie_parameter > 0 else -np.inf)])
            pw, pl, pt = special.softmax(logits, axis=0)
        else:
            pw = special.expit(d)
            pl, pt = special.expit(-d), np.zeros_like(pw)
        return pd.DataFrame({"i": np.atleast_1d(np.asarray(i, dtype=object)),
                             "j": np.atleast_1d(np.asarray(j, dtype=object)),
                             "p_win": pw, "p_loss": pl, "p_tie": pt})

    def win_probability(self, i: Any, j: Any) -> float | np.ndarray:
        """Return the expected score of ``i`` against ``j``: ``P(win) + P(tie) / 2``.

        With covariates at zero. ``win_probability(i, j) + win_probability(j, i)
        == 1``. Scalars in, float out; array-likes in, array out.
        """
        p = self.outcome_probabilities(i, j)
        out = (p["p_win"] + 0.5 * p["p_tie"]).to_numpy()
        return float(out[0]) if np.ndim(i) == 0 and np.ndim(j) == 0 else out

    def elo(self, *, anchor: str | None = None, anchor_rating: float = 1000.0,
            scale: float = ELO_SCALE) -> pd.DataFrame:
        """Return the scores on the Elo scale: ``scale / ln(10) * estimate + offset``.

        A difference of ``scale`` points means 10:1 odds. Without ``anchor``
        the mean item sits at ``anchor_rating``; with it, ``anchor`` does, and
        the CIs are for the difference to the anchor (normal intervals from
        ``covariance``; the anchor's own interval has zero width), which is
        why anchoring widens them.
        """
        if anchor is not None and anchor not in self.scores.index:
            raise _unknown_items([anchor], list(self.scores.index[:5]))
        f = scale / np.log(10.0)
        s = self.scores
        out = pd.DataFrame(index=s.index)
        if anchor is None:
            out["estimate"] = anchor_rating + f * s["estimate"]
            out["std_error"] = f * s["std_error"]
            out["ci_low"] = anchor_rating + f * s["ci_low"]
            out["ci_high"] = anchor_rating + f * s["ci_high"]
            return out
        est = s["estimate"] - s.loc[anchor, "estimate"]
        if self.covariance is not None:
            c = self.covariance.loc[s.index, s.index].to_numpy()
            a = s.index.get_loc(anchor)
            var = np.diag(c) + c[a, a] - 2.0 * c[:, a]
            se = np.sqrt(np.clip(var, 0.0, None))
        else:
            se = np.full(len(s), np.nan)
        zq = stats.norm.ppf(0.5 + self.confidence_level / 2.0)
        out["estimate"] = anchor_rating + f * est
        out["std_error"] = f * se
        out["ci_low"] = out["estimate"] - zq * out["std_error"]
        out["ci_high"] = out["estimate"] + zq * out["std_error"]
        return out

    # ---------------------------------------------------------------- output
    def to_frame(self) -> pd.DataFrame:
        """Return one tidy row per strength, coefficient and tie parameter.

        Columns ``term, kind ('strength' | 'coefficient' | 'tie_parameter'),
        estimate, std_error, ci_low, ci_high, p_value, n``.
        """
        cols = ["estimate", "std_error", "ci_low", "ci_high"]
        s = self.scores[cols + ["n"]].copy()
        s.insert(0, "kind", "strength")
        s["p_value"] = np.nan
        c = self.coefficients[cols + ["p_value"]].copy()
        c.insert(0, "kind", "coefficient")
        c["n"] = self.n_judgments
        parts = [s.reset_index(names="term"), c.reset_index(names="term")]
        if self.ties == "davidson":
            parts.append(pd.DataFrame([{"term": "tie_parameter", "kind": "tie_parameter",
                                        "estimate": self.tie_parameter, "n": self.n_judgments}]))
        out = pd.concat(parts, ignore_index=True)
        return out[["term", "kind", *cols, "p_value", "n"]]

    def summary(self, max_rows: int = 20) -> str:
        """Return a plain-text summary (top ``max_rows`` items)."""
        lines = [
            f"Bradley-Terry over {self.over}s: {self.n_items:,} items, {self.n_judgments:,} "
            f"judgments ({self.n_dropped:,} left out); ties={self.ties!r}, ci={self.ci!r}, "
            f"cluster={self.cluster!r}, regularization={self.regularization:g}; "
            f"converged={self.converged} after {self.n_iter} iterations.",
            f"Standard errors: {self.se_method}.",
        ]
        if self.ties == "davidson":
            lines.append(f"Davidson tie parameter nu = {self.tie_parameter:.4f}")
        lines.append(f"{'item':<30}{'estimate':>10}{'ci_low':>10}{'ci_high':>10}{'rank':>6}{'range':>10}")
        for name, row in self.scores.head(max_rows).iterrows():
            lines.append(f"{str(name)[:29]:<30}{row.estimate:>10.3f}{row.ci_low:>10.3f}"
                         f"{row.ci_high:>10.3f}{int(row['rank']):>6}"
                         f"{f'{int(row.rank_low)}-{int(row.rank_high)}':>10}")
        for name, row in self.coefficients.iterrows():
            if row.get("reason", ""):
                lines.append(f"coefficient {name}: dropped ({row['reason']})")
                continue
            lines.append(f"coefficient {name}: {row.estimate:.4f} "
                         f"[{row.ci_low:.4f}, {row.ci_high:.4f}], p = {row.p_value:.3g}")
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def _unknown_items(missing: Sequence[Any], known: list[Any]) -> Exception:
    """Build the error for unknown item labels (a SchemaError, never a bare KeyError)."""
    from ..errors import SchemaError

    return SchemaError(f"unknown item(s) {list(missing)[:5]}; the scores are indexed by ids such as "
                       f"{known}. Use labels from `result.scores.index`.")
