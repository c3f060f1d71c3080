"""Crossed random-effects models for preferences (logistic) and ratings (Gaussian).

Both fits use lme4's formulation (Bates, Maechler, Bolker and Walker 2015,
*J. Stat. Softw.* 67(1)) with sparse block linear algebra instead of a sparse
Cholesky (see ``prefqa.models._design``): the grouping factor with the most
levels is handled level by level and the rest (annotators and the fixed
effects) through a dense Schur complement. Cost is linear in rows.

* :func:`fit_preference_model`: logistic model of P(choice = a), Laplace
  approximation (glmer ``nAGQ = 1``) via penalized IRLS; see ``_glmm``.
* :func:`fit_rating_model`: Gaussian model of absolute scores, profiled REML
  (lmer default); see ``_lmm``.

Boundary fits (a variance component estimated as zero) are reported, never
silenced: the component's ``boundary`` column is ``True``, a sentence goes
into ``warnings`` and a :class:`~prefqa.errors.ConvergenceWarning` is issued.
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import (
    ConvergenceWarning,
    InsufficientDataError,
    PrefqaWarning,
    SchemaError,
)
from ..features import judgment_features
from ..schema import PreferenceData
from ._design import CrossedDesign, Factor
from ._glmm import fit_glmm
from ._lmm import fit_lmm
from ._mixed_checks import _check_fixed_rank, _check_groups
from ._mixed_result import BOUNDARY_SD, MixedModelResult, component_tables, fixed_table

__all__ = ["MixedModelResult", "fit_preference_model", "fit_rating_model"]

_COVARIATES = ("length", "headers", "lists", "bold", "code_blocks")
_PREF_GROUPS = {"annotator": "annotator_id", "prompt": "prompt_id"}
_RATING_GROUPS = {"annotator": "annotator_id", "response": "response_id", "prompt": "prompt_id"}


def _as_tuple(value: str | Sequence[str], name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise SchemaError(f"`{name}` must be a sequence of names; got {value!r}.") from None


def _check_common(random: tuple[str, ...], allowed: Mapping[str, str], confidence_level: float,
                  max_iter: int) -> None:
    bad = [r for r in random if r not in allowed]
    if bad:
        raise SchemaError(f"`random` must name groups among {tuple(allowed)}; got {bad}.")
    if len(set(random)) != len(random):
        raise SchemaError(f"`random` names a group twice: {list(random)}.")
    if not (isinstance(confidence_level, float | int) and 0 < confidence_level < 1):
        raise SchemaError(f"`confidence_level` must be a number strictly between 0 and 1; got {confidence_level!r}.")
    if not (isinstance(max_iter, int) and max_iter > 0):
        raise SchemaError(f"`max_iter` must be a positive integer; got {max_iter!r}.")


def _check_preference_args(data: PreferenceData, fixed: tuple[str, ...], random: tuple[str, ...],
                           random_slopes: Mapping[str, Sequence[str]], quality: str | None, ties: str,
                           method: str, confidence_level: float, max_iter: int) -> None:
    if not isinstance(data, PreferenceData):
        raise SchemaError(f"`data` must be a PreferenceData (see pq.read); got {type(data).__name__}.")
    _check_common(random, _PREF_GROUPS, confidence_level, max_iter)
    bad = [f for f in fixed if f not in ("position", *_COVARIATES)]
    if bad:
        raise SchemaError(f"`fixed` terms must be among {('position', *_COVARIATES)}; got {bad}.")
    if not isinstance(random_slopes, Mapping):
        raise SchemaError(
            f"`random_slopes` must be a dict such as {{'annotator': ('length',)}}; got {random_slopes!r}.")
    for group, terms in random_slopes.items():
        if group not in random:
            raise SchemaError(f"`random_slopes` has group {group!r}, which is not in `random` {list(random)}; "
                              "add it to `random` or remove the slope.")
        bad = [t for t in _as_tuple(terms, "random_slopes") if t not in _COVARIATES]
        if bad:
            raise SchemaError(f"random slopes must be covariates among {_COVARIATES}; got {bad} for {group!r}.")
    if quality not in ("model", "response", None):
        raise SchemaError(f"`quality` must be 'model', 'response' or None; got {quality!r}.")
    if quality == "response":
        raise SchemaError("quality='response' is not supported by fit_preference_model yet (one reference "
                          "response per prompt would be needed); use quality='model' or None, or "
                          "pq.fit_bradley_terry(data, over='response') for response strengths.")
    if ties not in ("drop", "half"):
        raise SchemaError(f"`ties` must be 'drop' or 'half'; got {ties!r}.")
    if method not in ("laplace", "pirls"):
        raise SchemaError(f"`method` must be 'laplace' (glmer nAGQ=1) or 'pirls' (glmer nAGQ=0); got {method!r}.")
    covs = {c for c in fixed if c != "position"} | {t for ts in random_slopes.values() for t in _as_tuple(ts, "")}
    if covs and not data.has_texts:
        raise SchemaError(f"covariates {sorted(covs)} need response texts, but these judgments have none "
                          "(no `response_a_id` or empty `responses`); pass fixed=('position',), "
                          "random_slopes={} or load the texts.")
    if "prompt" in random and "prompt_id" not in data.judgments:
        raise SchemaError("`random` includes 'prompt' but the judgments have no `prompt_id` column; "
                          "drop it with random=('annotator',).")


def _factor(name: str, column: pd.Series, keep: np.ndarray, terms: tuple[str, ...],
            covariates: dict[str, np.ndarray], correlated: bool) -> Factor:
    codes, labels = pd.factorize(column.to_numpy()[keep], sort=True)
    values = np.vstack([np.ones(int(keep.sum())) if t == "intercept" else covariates[t][keep] for t in terms])
    return Factor(name, codes.astype(np.int64), pd.Index(labels, name=column.name), terms, values,
                  correlated and len(terms) > 1)


def _formula(response: str, fixed_names: list[str], factors: list[Factor], intercept: bool) -> str:
    rhs = (["1"] if intercept else ["0"]) + [n for n in fixed_names if n not in ("position", "intercept")]
    for f in factors:
        if f.correlated:
            rhs.append(f"({' + '.join('1' if t == 'intercept' else t for t in f.terms)} | {f.name})")
        else:
            rhs.extend(f"({'1' if t == 'intercept' else '0 + ' + t} | {f.name})" for t in f.terms)
    return f"{response} ~ " + " + ".join(rhs)


def _boundary_messages(vc: pd.DataFrame) -> list[str]:
    return [f"variance component {g!r} is on the boundary (SD {row.sd:.2g} < {BOUNDARY_SD:g}): the data show "
            f"no detectable {g} variation, so its conditional modes are all zero; this is a singular fit "
            "(lme4 says 'boundary (singular) fit'), not an error." for g, row in vc.iterrows() if row.boundary]


def _finish(messages: list[str], converged: bool, notes: Sequence[str] = ()) -> tuple[str, ...]:
    """Warn with every message; ``notes`` (approximations that were taken) are recorded too."""
    if not converged:
        messages.append("the optimizer did not converge; estimates may be inaccurate (raise `max_iter`).")
    for m in messages:
        _warnings.warn(m, ConvergenceWarning, stacklevel=3)
    for m in notes:
        _warnings.warn(m, PrefqaWarning, stacklevel=3)
    return tuple(messages) + tuple(notes)


def fit_preference_model(
    data: PreferenceData,
    *,
    fixed: Sequence[str] = ("length", "position"),
    random: Sequence[str] = ("annotator", "prompt"),
    random_slopes: Mapping[str, Sequence[str]] | None = None,
    correlated: bool = False,
    quality: Literal["model", "response"] | None = "model",
    ties: Literal["drop", "half"] = "drop",
    method: Literal["laplace", "pirls"] = "laplace",
    confidence_level: float = 0.95,
    max_iter: int = 500,
) -> MixedModelResult:
    """Fit a logistic model of P(choice = a) with crossed random effects.

    The model, with ``y = 1`` when the response shown first (``a``) was chosen::

        logit P(y = 1) = position + beta_len * length + sum_m q_m (I[model_a = m] - I[model_b = m])
                         + u_annotator + b_annotator * length + v_prompt

    with ``u ~ N(0, sd_annotator^2)``, ``b ~ N(0, sd_{annotator:length}^2)``
    (independent of ``u``, lme4's ``||``, unless ``correlated=True``) and
    ``v ~ N(0, sd_prompt^2)``. Position and annotator effects are estimated
    net of which response was better (the +1/-1 quality columns of the
    models, reference = the first model id in sorted order).

    Parameters
    ----------
    data : PreferenceData
        Judgments with annotator ids, display order and (for covariates)
        response texts.
    fixed : sequence of str
        ``'position'`` (the intercept) and covariates ``'length'``,
        ``'headers'``, ``'lists'``, ``'bold'``, ``'code_blocks'``. The length
        covariate is ``tanh((len_a - len_b) / s)`` with lengths in characters
        and ``s`` the root mean square of ``len_a - len_b`` over all judgments
        (``prefqa.features.judgment_features``); style counts use
        ``(a - b) / (a + b + 1)``.
    random : sequence of str
        Grouping factors with random intercepts: ``'annotator'`` (side bias),
        ``'prompt'``.
    random_slopes : dict, optional
        Random slopes per group; default ``{'annotator': ('length',)}`` when
        ``'annotator'`` is in ``random`` (per-annotator length bias). Pass
        ``{}`` for none.
    correlated : bool
        Let a group's intercept and slopes correlate (lme4 ``(1 + length | g)``).
    quality : {'model', None}
        Add model-strength differences as +1/-1 fixed columns ``quality:<model>``
        (default when the judgments name models; ignored with a warning
        otherwise). ``'response'`` is not supported yet.
    ties : {'drop', 'half'}
        Drop tied judgments, or keep them as ``y = 0.5`` (half a win each;
        binomial quasi-likelihood, as glmer does with non-integer responses).
    method : {'laplace', 'pirls'}
        ``'laplace'`` (default): glmer's ``nAGQ = 1`` estimates. The
        ``nAGQ = 0`` fit is followed by Newton steps that move the fixed
        effects to the optimum of the Laplace deviance at the same variance
        parameters (on the lme4 fixtures this matches glmer ``nAGQ = 1`` to
        about 1e-4; it costs a few percent to a third more than
        ``'pirls'``, more with many fixed effects). ``'pirls'``: glmer's
        ``nAGQ = 0``, fixed effects estimated inside PIRLS (fastest; biased
        slightly toward zero, 3% on the fixtures).
    confidence_level : float
        For the Wald intervals of the fixed effects.
    max_iter : int
        Outer optimizer iteration limit.

    Returns
    -------
    MixedModelResult

    Raises
    ------
    SchemaError
        Bad options, covariates requested without texts, or a fixed-effect
        column that the judgments cannot estimate (all 0, or a linear
        combination of the others, such as a model always shown first:
        checked exactly over all rows, see ``_mixed_checks``).
    InsufficientDataError
        No annotators when ``'annotator'`` is the only random group, too
        few rows, a random group with one level, or two groups that
        partition the judgments identically.

    Notes
    -----
    Algorithm: penalized IRLS on the sparse crossed design for the modes of
    the random effects (warm-started, cost linear in rows plus a dense
    annotator-sized Cholesky per step), Laplace approximation of the
    likelihood, and an outer optimization over the random-effect SDs only
    (the fixed effects come out of PIRLS, lme4's ``nAGQ = 0`` stage): bounded
    L-BFGS-B with finite-difference gradients below 80k judgments; from 80k
    on, the SDs are first fitted on the judgments of a random tenth of the
    prompts (25k-100k rows) and then refined on all judgments by Newton
    steps with a finite-difference Hessian. ``method='laplace'`` then moves
    the fixed effects to the Laplace (``nAGQ = 1``) optimum at those SDs;
    the SDs are not re-optimized (they differ between ``nAGQ = 0`` and
    ``nAGQ = 1`` by under 0.5% on the lme4 fixtures). Agrees with
    ``lme4::glmer`` (see ``tests/reference/fit_lme4.R``). Standard errors of
    the fixed effects are ``(R_X' R_X)^{-1}`` at the optimum; SD intervals
    are Wald intervals from the finite-difference Hessian of the profiled
    deviance. Measured on a shared 2-core machine (``benchmarks/bench_mixed.py``,
    annotator + slope + prompt, ``method='pirls'``): 100k judgments 6-8 s,
    1M judgments 54-57 s and 1 GB. When the display
    order is unknown (``data.order_known`` is False) the intercept is named
    ``intercept`` and carries no position information; a warning says so.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=150, n_annotators=20, length_effect=1.0, rng=3)
    >>> fit = pq.fit_preference_model(data, random_slopes={})
    >>> list(fit.fixed_effects.index[:2])
    ['position', 'length']
    >>> bool(fit.fixed_effects.loc["length", "ci_low"] > 0)
    True
    """
    fixed_t = _as_tuple(fixed, "fixed")
    random_t = _as_tuple(random, "random")
    if random_slopes is None:
        random_slopes = {"annotator": ("length",)} if "annotator" in random_t and "length" in fixed_t else {}
    _check_preference_args(data, fixed_t, random_t, random_slopes, quality, ties, method, confidence_level, max_iter)
    messages: list[str] = []
    j = data.judgments
    n_in = len(j)
    choice = data.choice_codes()
    keep = np.ones(n_in, dtype=bool)
    if ties == "drop":
        keep &= choice != 2
    slopes = {g: _as_tuple(t, "random_slopes") for g, t in random_slopes.items()}
    groups = list(random_t)
    if "annotator" in groups and not data.has_annotators:
        messages.append("the judgments have no annotator ids, so annotator side bias and per-annotator slopes "
                        "cannot be estimated; fitted without the 'annotator' group.")
        groups.remove("annotator")
        slopes.pop("annotator", None)
    if not groups:
        raise InsufficientDataError("no random-effect group is left to fit (the judgments have no annotator ids); "
                                    "add random=('prompt',) or use pq.length_bias / pq.fit_bradley_terry.")
    for g in groups:
        missing = j[_PREF_GROUPS[g]].isna().to_numpy()
        if missing.any():
            messages.append(f"{int((missing & keep).sum())} judgment(s) without `{_PREF_GROUPS[g]}` left out.")
            keep &= ~missing
    cov_names = [c for c in _COVARIATES if c in fixed_t or any(c in s for s in slopes.values())]
    covariates: dict[str, np.ndarray] = {}
    if cov_names:
        feats = judgment_features(data, cov_names)
        for c in cov_names:
            covariates[c] = feats[c].to_numpy(dtype=np.float64)
            bad = ~np.isfinite(covariates[c])
            if (bad & keep).any():
                messages.append(f"{int((bad & keep).sum())} judgment(s) with unknown `{c}` (missing texts) left out.")
            keep &= ~bad
    use_quality = quality == "model" and data.has_models
    if quality == "model" and not data.has_models:
        messages.append("the judgments name no models, so no quality columns were fitted (quality=None).")
    if use_quality:
        ma, mb, mlabels = data.model_codes()
        keep &= (ma >= 0) & (mb >= 0)
    n = int(keep.sum())
    if n < 10:
        raise InsufficientDataError(f"only {n} usable judgment(s) after dropping ties/missing values; "
                                    "a mixed model needs many more (hundreds).")
    # fixed-effects design
    names: list[str] = []
    cols: list[np.ndarray] = []
    intercept = "position" in fixed_t
    if intercept:
        names.append("position" if data.order_known else "intercept")
        cols.append(np.ones(n))
        if not data.order_known:
            messages.append("the display order is unknown (order_known=False), so the intercept is not a position "
                            "effect and annotator intercepts are not side biases; read them as noise.")
    for c in _COVARIATES:
        if c in fixed_t:
            names.append(c)
            cols.append(covariates[c][keep])
    if use_quality:
        used = np.unique(np.concatenate([ma[keep], mb[keep]]))
        for m in used[1:]:
            names.append(f"quality:{mlabels[m]}")
            cols.append((ma[keep] == m).astype(float) - (mb[keep] == m).astype(float))
    x = np.column_stack(cols) if cols else np.zeros((n, 0))
    _check_fixed_rank(x, names)
    factors = []
    for g in groups:
        terms = ("intercept", *slopes.get(g, ()))
        factors.append(_factor(g, j[_PREF_GROUPS[g]], keep, terms, covariates, correlated))
    _check_groups(factors, n, gaussian=False)
    y = np.where(choice[keep] == 0, 1.0, np.where(choice[keep] == 1, 0.0, 0.5))
    design = CrossedDesign(x, factors)
    try:
        fit = fit_glmm(design, y, method=method, max_iter=max_iter)
    except np.linalg.LinAlgError as exc:
        raise InsufficientDataError(f"the preference model could not be fitted on these {n} judgments ({exc}); "
                                    f"the design is too small or degenerate for the terms {names} and groups "
                                    f"{list(groups)}: drop a term or group, or add judgments.") from None
    fe = fixed_table(names, fit.beta, fit.beta_cov, confidence_level)
    vc, cor, effects = component_tables(design, fit.factorization, fit.theta, fit.u_big, fit.u_small, 1.0,
                                        np.sqrt(np.diag(fit.sd_cov)), confidence_level)
    messages.extend(_boundary_messages(vc))
    n_par = design.p + design.n_theta
    levels = {f.name: f.n_levels for f in factors}
    return MixedModelResult(
        family="binomial", formula=_formula("chose_a", names, design.factors, intercept),
        fixed_effects=fe, variance_components=vc, correlations=cor, random_effects=effects,
        loglik=fit.loglik, aic=-2 * fit.loglik + 2 * n_par, converged=fit.converged, n_iter=fit.n_iter,
        warnings=_finish(messages, fit.converged, fit.notes), n_judgments=n, n_dropped=n_in - n,
        n_annotators=levels.get("annotator", 0), n_prompts=levels.get("prompt", 0), n_responses=0,
        settings={"fixed": fixed_t, "random": tuple(groups), "random_slopes": slopes, "correlated": correlated,
                  "quality": "model" if use_quality else None, "ties": ties, "method": method,
                  "confidence_level": confidence_level, "max_iter": max_iter},
    )


def _check_rating_args(data: PreferenceData, random: tuple[str, ...], aspect: str | None,
                       reml: bool, confidence_level: float, max_iter: int) -> pd.DataFrame:
    if not isinstance(data, PreferenceData):
        raise SchemaError(f"`data` must be a PreferenceData (see pq.read); got {type(data).__name__}.")
    _check_common(random, _RATING_GROUPS, confidence_level, max_iter)
    if not isinstance(reml, bool):
        raise SchemaError(f"`reml` must be True or False; got {reml!r}.")
    r = data.ratings
    if r is None or not len(r):
        raise SchemaError("these data have no ratings; fit_rating_model needs absolute scores "
                          "(`ratings` with response_id, annotator_id, score), e.g. pq.read(path, format='ratings').")
    if "prompt" in random and "prompt_id" not in r:
        raise SchemaError("`random` includes 'prompt' but the ratings have no `prompt_id` column; drop it, "
                          "e.g. random=('annotator', 'response'): without prompts each response is its own unit.")
    aspects = r["aspect"].dropna().unique().tolist() if "aspect" in r else []
    if aspect is not None:
        if aspect not in aspects:
            raise SchemaError(f"`aspect` {aspect!r} not found in the ratings; found {sorted(aspects)}.")
        r = r[r["aspect"] == aspect]
    elif len(aspects) > 1:
        raise SchemaError(f"the ratings hold {len(aspects)} aspects {sorted(aspects)[:6]}; choose one with "
                          "`aspect=` (scores of different aspects are not one scale).")
    return r


def fit_rating_model(
    data: PreferenceData,
    *,
    random: Sequence[str] = ("annotator", "response"),
    aspect: str | None = None,
    reml: bool = True,
    confidence_level: float = 0.95,
    max_iter: int = 500,
) -> MixedModelResult:
    """Fit a Gaussian model of absolute scores with crossed random effects.

    ``score = intercept + u_annotator + v_response + e`` with independent
    normal effects (lme4: ``lmer(score ~ 1 + (1 | annotator) + (1 | response))``).
    Annotator conditional modes are leniency (> 0) or severity (< 0); the
    variance components are what ICC on incomplete designs needs.

    Parameters
    ----------
    data : PreferenceData
        With ``ratings``.
    random : sequence of str
        Among ``'annotator'``, ``'response'``, ``'prompt'``.
    aspect : str, optional
        Which rating aspect to fit when the ratings hold several.
    reml : bool
        Restricted maximum likelihood (lmer's default) or ML.
    confidence_level : float
        For the Wald interval of the intercept.
    max_iter : int
        Optimizer iteration limit.

    Returns
    -------
    MixedModelResult
        ``variance_components`` includes ``residual``.

    Raises
    ------
    SchemaError
        Bad options, no ratings, or ``'prompt'`` in ``random`` without
        ``prompt_id`` (without prompts each response is its own unit: the
        default groups need none).
    InsufficientDataError
        Fewer than 3 ratings, all scores equal, a group with one level or
        with a level per rating (then it is the residual), or two groups
        that partition the ratings identically (one response per prompt).

    Notes
    -----
    Algorithm: profiled REML as in lme4 (the criterion depends on the
    variance ratios only; the intercept and residual variance are profiled
    out), with the penalized least-squares system solved from cross products
    computed once in ``O(n)``; each evaluation is a block factorization with
    exact log-determinants whose cost does not grow with the rows beyond the
    pairs of annotators sharing a response; the ratios are optimized with
    bounded L-BFGS-B. Exact, no approximation beyond the optimizer
    tolerance.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=100, n_annotators=15, ratings=True, leniency_sd=0.8, rng=2)
    >>> fit = pq.fit_rating_model(data)
    >>> list(fit.variance_components.index)
    ['response', 'annotator', 'residual']
    >>> bool(fit.variance_components.loc["annotator", "sd"] > 0.3)
    True
    """
    random_t = _as_tuple(random, "random")
    r = _check_rating_args(data, random_t, aspect, reml, confidence_level, max_iter)
    messages: list[str] = []
    keep = r["score"].notna().to_numpy()
    for g in random_t:
        missing = r[_RATING_GROUPS[g]].isna().to_numpy()
        if missing.any():
            messages.append(f"{int((missing & keep).sum())} rating(s) without `{_RATING_GROUPS[g]}` left out.")
            keep &= ~missing
    n = int(keep.sum())
    if n < 3:
        raise InsufficientDataError(f"only {n} usable rating(s); a mixed model needs many more.")
    factors = [_factor(g, r[_RATING_GROUPS[g]], keep, ("intercept",), {}, False) for g in random_t]
    _check_groups(factors, n, gaussian=True)
    y = r["score"].to_numpy(dtype=np.float64)[keep]
    if np.ptp(y) == 0:
        raise InsufficientDataError(f"all {n} used scores equal {y[0]:g}: there is no variation to split into "
                                    "annotator and response components.")
    design = CrossedDesign(np.ones((n, 1)), factors)
    try:
        fit = fit_lmm(design, y, reml=reml, max_iter=max_iter)
    except np.linalg.LinAlgError as exc:
        raise InsufficientDataError(f"the rating model could not be fitted on these {n} ratings ({exc}); the "
                                    f"design is too small or degenerate for the groups {list(random_t)}: drop a "
                                    "group from `random` or add ratings.") from None
    fe = fixed_table(["intercept"], fit.beta, fit.beta_cov, confidence_level)
    se = np.sqrt(np.diag(fit.sd_cov))
    vc, cor, effects = component_tables(design, fit.factorization, fit.theta, fit.u_big, fit.u_small, fit.sigma,
                                        se[:-1], confidence_level)
    zq = float(np.abs(np.asarray(fixed_table(["z"], np.zeros(1), np.eye(1), confidence_level)["ci_low"]))[0])
    vc.loc["residual"] = {"sd": fit.sigma, "variance": fit.sigma**2, "std_error": se[-1],
                          "ci_low": max(fit.sigma - zq * se[-1], 0.0), "ci_high": fit.sigma + zq * se[-1],
                          "n_levels": n, "boundary": False}
    vc["boundary"] = vc["boundary"].astype(bool)
    vc["n_levels"] = vc["n_levels"].astype(np.int64)
    messages.extend(_boundary_messages(vc))
    no_se = vc.index[~vc["boundary"] & vc["std_error"].isna()].tolist()
    notes = [f"the finite-difference Hessian of the REML criterion is not positive definite, so the SD "
             f"intervals of {no_se} are not available (NaN)."] if no_se else []
    levels = {f.name: f.n_levels for f in factors}
    return MixedModelResult(
        family="gaussian", formula=_formula("score", ["intercept"], design.factors, True),
        fixed_effects=fe, variance_components=vc, correlations=cor, random_effects=effects,
        loglik=fit.loglik, aic=-2 * fit.loglik + 2 * (1 + design.n_theta + 1), converged=fit.converged,
        n_iter=fit.n_iter, warnings=_finish(messages, fit.converged, notes), n_judgments=n, n_dropped=len(r) - n,
        n_annotators=levels.get("annotator", 0), n_prompts=levels.get("prompt", 0),
        n_responses=levels.get("response", 0),
        settings={"random": random_t, "aspect": aspect, "reml": reml, "confidence_level": confidence_level,
                  "max_iter": max_iter},
    )
