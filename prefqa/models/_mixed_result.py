"""``MixedModelResult`` and the tables built from a crossed fit (private)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._design import CrossedDesign, Factorization

__all__ = ["BOUNDARY_SD", "MixedModelResult", "component_tables", "fixed_table"]

#: A variance component whose SD (on the model scale) is below this is reported on the boundary.
BOUNDARY_SD = 1e-4


@dataclass(frozen=True, eq=False)
class MixedModelResult:
    """Result of :func:`prefqa.fit_preference_model` or :func:`prefqa.fit_rating_model`.

    Attributes
    ----------
    family : {'binomial', 'gaussian'}
        Logistic preference model or Gaussian rating model.
    formula : str
        The model in lme4 syntax (the equivalent ``glmer``/``lmer`` call).
    fixed_effects : DataFrame
        Indexed by term: ``estimate, std_error, ci_low, ci_high, p_value``
        (Wald z). In the preference model the intercept, the log-odds of
        choosing the response shown first at zero covariates, is ``position``.
    variance_components : DataFrame
        Indexed by group (``annotator``, ``prompt``, ``annotator:length``,
        ``response``, ``residual``): ``sd``, ``variance``, ``std_error``,
        ``ci_low``, ``ci_high`` (Wald on the SD scale from a numerical Hessian,
        lower end truncated at 0; NaN on the boundary and for correlated
        terms), ``n_levels`` and ``boundary`` (SD below ``1e-4``).
    correlations : DataFrame
        Random-effect correlations (``correlated=True`` only): ``group``,
        ``term_1``, ``term_2``, ``correlation``; empty otherwise.
    random_effects : dict of str to DataFrame
        Per group, conditional modes indexed by id: ``estimate``,
        ``std_error`` (conditional SD, lme4's ``condVar``) and ``n`` (rows).
    loglik, aic : float
        Log-likelihood (Laplace approximation for binomial; the REML
        criterion when ``reml=True``, as lme4 reports it) and AIC.
    converged : bool
    n_iter : int
        Outer optimizer iterations.
    warnings : tuple of str
    n_judgments : int
        Rows in the fit (judgments or ratings).
    n_dropped : int
        Input rows left out (ties under ``ties='drop'``, missing ids or features).
    n_annotators, n_prompts, n_responses : int
        Levels of the grouping factors in the fit (0 when not used).
    settings : dict
        Options the fit ran with.
    """

    family: str
    formula: str
    fixed_effects: pd.DataFrame
    variance_components: pd.DataFrame
    correlations: pd.DataFrame
    random_effects: dict[str, pd.DataFrame]
    loglik: float
    aic: float
    converged: bool
    n_iter: int
    warnings: tuple[str, ...]
    n_judgments: int
    n_dropped: int
    n_annotators: int
    n_prompts: int
    n_responses: int
    settings: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Return fixed effects and variance components as one tidy table.

        Columns: ``component`` (``fixed`` or ``sd``), ``term``, ``estimate``,
        ``std_error``, ``ci_low``, ``ci_high``, ``p_value``, ``flagged``
        (boundary components) and ``reason``.
        """
        fe = self.fixed_effects.reset_index().rename(columns={"index": "term"})
        fe.insert(0, "component", "fixed")
        fe["flagged"] = False
        fe["reason"] = ""
        vc = self.variance_components
        sd = pd.DataFrame({
            "component": "sd", "term": vc.index.to_numpy(dtype=object), "estimate": vc["sd"].to_numpy(),
            "std_error": vc["std_error"].to_numpy(), "ci_low": vc["ci_low"].to_numpy(),
            "ci_high": vc["ci_high"].to_numpy(), "p_value": np.nan,
            "flagged": vc["boundary"].to_numpy(dtype=bool),
            "reason": np.where(vc["boundary"].to_numpy(dtype=bool), "variance on the boundary (zero)", ""),
        })
        return pd.concat([fe, sd], ignore_index=True)

    def summary(self) -> str:
        """Return a plain-text summary of the fit."""
        kind = "Logistic (Laplace)" if self.family == "binomial" else "Gaussian (REML)" \
            if self.settings.get("reml", False) else "Gaussian (ML)"
        lines = [
            f"{kind} crossed random-effects model: {self.formula}",
            f"{self.n_judgments:,} rows used ({self.n_dropped:,} dropped); "
            f"log-likelihood {self.loglik:.2f}, AIC {self.aic:.2f}; "
            f"{'converged' if self.converged else 'NOT converged'} after {self.n_iter} iterations.",
            "Fixed effects:",
        ]
        for term, row in self.fixed_effects.iterrows():
            lines.append(f"  {term:<24} {row.estimate:8.3f}  SE {row.std_error:.3f}  "
                         f"CI [{row.ci_low:.3f}, {row.ci_high:.3f}]  p {row.p_value:.3g}")
        lines.append("Variance components (SD):")
        for group, row in self.variance_components.iterrows():
            flag = "  (boundary)" if row.boundary else ""
            lines.append(f"  {group:<24} {row.sd:8.3f}  levels {int(row.n_levels):,}{flag}")
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def fixed_table(names: list[str], beta: np.ndarray, cov: np.ndarray, confidence_level: float) -> pd.DataFrame:
    """Wald table of fixed effects."""
    se = np.sqrt(np.clip(np.diag(cov), 0, None)) if len(beta) else np.zeros(0)
    zq = stats.norm.ppf(0.5 + confidence_level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.norm.sf(np.abs(beta / se))
    return pd.DataFrame({"estimate": beta, "std_error": se, "ci_low": beta - zq * se,
                         "ci_high": beta + zq * se, "p_value": p}, index=pd.Index(names, name="term"))


def _group_name(factor_name: str, term: str) -> str:
    return factor_name if term == "intercept" else f"{factor_name}:{term}"


def component_tables(
    design: CrossedDesign, fac: Factorization, theta: np.ndarray, u_big: np.ndarray,
    u_small: np.ndarray, scale: float, sd_se: np.ndarray, confidence_level: float,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    """Variance components, correlations and conditional modes (with SEs) per group.

    ``scale`` is the residual SD for Gaussian fits and 1 for logistic fits;
    ``sd_se`` the Wald SE of each SD in theta order (NaN where unavailable).
    """
    zq = stats.norm.ppf(0.5 + confidence_level / 2)
    temps = design.templates(theta)
    b_big, b_small = design.conditional_effects(theta, u_big, u_small)
    big_blocks, s_inv = fac.random_cov_blocks()
    rows, cors, effects = [], [], {}
    for fi, (f, t, b) in enumerate(zip(design.factors, temps, [b_big, *b_small])):
        if fi == 0:
            blocks = big_blocks
        else:
            off = design.small_offsets[fi - 1]
            idx = off + np.arange(f.n_levels)[:, None] * f.k + np.arange(f.k)[None, :]
            blocks = s_inv[idx[:, :, None], idx[:, None, :]]
        cond = np.einsum("ts,lsu,vu->ltv", t, blocks, t) * scale**2
        cov = (t @ t.T) * scale**2
        counts = np.bincount(f.codes, minlength=f.n_levels)
        for j, term in enumerate(f.terms):
            sd = float(np.sqrt(cov[j, j]))
            group = _group_name(f.name, term)
            se = float(sd_se[design.theta_slices[fi][j]]) if not f.correlated else np.nan
            rows.append({"group": group, "sd": sd, "variance": sd**2, "std_error": se,
                         "ci_low": max(sd - zq * se, 0.0), "ci_high": sd + zq * se,
                         "n_levels": f.n_levels, "boundary": sd < BOUNDARY_SD})
            effects[group] = pd.DataFrame(
                {"estimate": b[:, j], "std_error": np.sqrt(np.clip(cond[:, j, j], 0, None)),
                 "n": counts}, index=pd.Index(f.labels.to_numpy(), name=f.labels.name))
        if f.correlated:
            for a in range(f.k):
                for c in range(a + 1, f.k):
                    den = np.sqrt(cov[a, a] * cov[c, c])
                    cors.append({"group": f.name, "term_1": f.terms[a], "term_2": f.terms[c],
                                 "correlation": float(cov[a, c] / den) if den > 0 else np.nan})
    vc = pd.DataFrame(rows).set_index("group")
    cor = pd.DataFrame(cors, columns=["group", "term_1", "term_2", "correlation"])
    return vc, cor, effects
