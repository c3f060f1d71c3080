"""The truth ``simulate`` returns: every planted value and the population values of the headline quantities."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from ..errors import SchemaError
from ._population import (
    JudgmentDesign,
    judgment_probabilities,
    population_alpha,
    population_logit,
    population_values,
)

__all__ = ["KINDS", "SimulationTruth"]

KINDS = ("normal", "spammer", "always_a", "position", "length")


@dataclass(frozen=True, eq=False)
class SimulationTruth:
    """Every value ``simulate`` planted.

    Attributes
    ----------
    model_strengths : Series
        Log-strength per model (index ``model``), centred at zero.
    annotators : DataFrame
        Indexed by ``annotator_id``: ``kind`` (normal, spammer, always_a,
        position, length), ``accuracy``, ``position_bias``, ``length_slope``,
        ``leniency``.
    prompts : DataFrame
        Indexed by ``prompt_id``: ``ambiguous`` (bool) and ``domain``.
    comparisons : DataFrame
        One row per comparison: ``comparison_id``, ``prompt_id``,
        ``model_1``, ``model_2``, ``response_1_id``, ``response_2_id``,
        ``quality_1``, ``quality_2``, ``length_1``, ``length_2``.
    length_effect, position_effect, tie_threshold : float
        The global effects on the logit scale.
    length_scale : float
        The RMS of ``len_a - len_b`` (characters) used in the tanh.
    seed : int or None
        The seed, when one was given.
    position_sd, length_slope_sd, comparison_sd, gold_share : float
        The heterogeneity and gold settings used.
    windows : DataFrame or None
        With ``n_windows > 1``: indexed by ``window`` (0-based), ``batch``,
        ``start``, ``end`` (UTC; ``end`` exclusive) and ``n_comparisons``.
    drift : DataFrame or None
        With ``n_windows > 1``: one row per planted change: ``kind``
        (``degrade``, ``join``, ``shift``), ``window``, ``batch``, ``start``,
        ``annotator_ids`` (tuple: who degraded or joined), ``position``
        (team's or shift's position logit), ``length`` (shift of the length
        slope), ``leniency``.
    rm_noise : float or None
        SD of the reward-model score noise, when scores were emitted.
    benchmark : DataFrame or None
        With ``contaminate``: the benchmark frame (one string column
        ``text``) of copied and unrelated prompts.
    contamination : DataFrame or None
        With ``contaminate``: ``prompt_id``, ``benchmark_row`` (row of
        :attr:`benchmark`), ``edit`` (verbatim, case, spacing, punctuation,
        appended).

    Notes
    -----
    ``annotators["position_bias"]`` and ``annotators["length_slope"]`` are
    each annotator's deviation from the global ``position_effect`` and
    ``length_effect`` (planted extra plus random draw);
    ``comparisons["effect"]`` is ``u_c`` and ``comparisons["gold"]`` whether
    the comparison carries gold labels. With ``n_windows > 1``,
    ``comparisons["window"]`` is each comparison's window and
    ``annotators`` gains ``first_window`` (when the annotator started) and
    ``degraded_from`` (first random window, missing when never).
    """

    model_strengths: pd.Series
    annotators: pd.DataFrame
    prompts: pd.DataFrame
    comparisons: pd.DataFrame
    length_effect: float
    position_effect: float
    tie_threshold: float
    length_scale: float
    seed: int | None
    position_sd: float = 0.0
    length_slope_sd: float = 0.0
    comparison_sd: float = 0.0
    gold_share: float = 0.0
    windows: pd.DataFrame | None = None
    drift: pd.DataFrame | None = None
    rm_noise: float | None = None
    benchmark: pd.DataFrame | None = field(default=None, repr=False)
    contamination: pd.DataFrame | None = None
    _design: JudgmentDesign | None = field(default=None, repr=False)

    @cached_property
    def better(self) -> pd.Series:
        """The truly better response of each comparison (higher latent quality), indexed by ``comparison_id``.

        The response id; compare it with a judgment's ``response_a_id`` to
        get the better displayed side. On ambiguous prompts the votes follow
        personal sides, but quality still decides what is "better" here.
        """
        c = self.comparisons
        first = (c["quality_1"] >= c["quality_2"]).to_numpy()
        return pd.Series(np.where(first, c["response_1_id"].to_numpy(dtype=object),
                                  c["response_2_id"].to_numpy(dtype=object)),
                         index=pd.Index(c["comparison_id"].to_numpy(dtype=object), name="comparison_id"),
                         name="better_response_id", dtype="str")

    @property
    def contaminated_prompts(self) -> pd.Index:
        """Ids of the prompts copied into :attr:`benchmark` (empty without ``contaminate``)."""
        if self.contamination is None:
            return pd.Index([], name="prompt_id", dtype="str")
        return pd.Index(self.contamination["prompt_id"].to_numpy(dtype=object), name="prompt_id", dtype="str")

    @cached_property
    def _population(self) -> tuple[pd.Series, pd.Series]:
        return self._values(fixed=False)

    @cached_property
    def _fixed(self) -> tuple[pd.Series, pd.Series]:
        return self._values(fixed=True)

    def _values(self, fixed: bool) -> tuple[pd.Series, pd.Series]:
        pa, pb = self._probabilities_fixed if fixed else self._probabilities
        return population_values(self._checked_design(), pa, pb, self.model_strengths.index, fixed=fixed)

    @cached_property
    def _probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        return judgment_probabilities(self._checked_design(), fixed=False)

    @cached_property
    def _probabilities_fixed(self) -> tuple[np.ndarray, np.ndarray]:
        return judgment_probabilities(self._checked_design(), fixed=True)

    def _checked_design(self) -> JudgmentDesign:
        if self._design is None:
            raise SchemaError("this SimulationTruth was built without its design; population values "
                              "are only available from pq.simulate(...).")
        return self._design

    def population_logit(self, X: np.ndarray, *, fixed_annotators: bool = False) -> np.ndarray:
        """Population coefficients of any logistic fit of "a chosen" on per-judgment columns.

        The value a binomial GLM of "the response shown first was chosen",
        fitted on the non-tie judgments with design matrix ``X``, converges
        to on this design (its pseudo-true value under the population
        outcome probabilities; see :attr:`population` for what is
        integrated out). Use it to score analyses that the named
        properties do not cover, such as ``style_bias`` coefficients.

        Parameters
        ----------
        X : ndarray, shape (n_judgments, p)
            One row per judgment, in the order of ``data.judgments``; rows
            with a non-finite value are left out.
        fixed_annotators : bool
            Hold the drawn annotators fixed (as :attr:`fixed_annotators`).

        Returns
        -------
        ndarray of shape (p,)
            NaN when the design is singular.

        Examples
        --------
        >>> import prefqa as pq
        >>> data, truth = pq.simulate(n_prompts=50, position_effect=0.5, rng=0)
        >>> beta = truth.population_logit(np.ones((data.n_judgments, 1)))
        >>> bool(abs(beta[0] - truth.population["position_logit"]) < 0.1)
        True
        """
        pa, pb = self._probabilities_fixed if fixed_annotators else self._probabilities
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] != len(pa):
            raise SchemaError(f"`X` must have one row per judgment ({len(pa)}); got shape {X.shape}.")
        return population_logit(X, pa, pb)

    @property
    def population(self) -> pd.Series:
        """Population value of each headline quantity for the generated design.

        Marginal over every latent draw (annotators' accuracy, position and
        length-slope deviations, response qualities around their model's
        strength, comparison effects, personal sides, logistic noise) and
        conditional on the observed design (models compared, lengths,
        display orders, who judged what); computed by quadrature (module
        notes of :mod:`prefqa.simulate._population`). Index:

        * ``p_choose_a``: P(first shown chosen) over non-tie judgments, the
          target of ``position_bias(...).estimate``;
        * ``position_logit``: the position term of the logistic fit with
          model strengths (``position_bias(...).logit``);
        * ``p_longer_chosen``: P(longer chosen) over non-tie judgments whose
          lengths (characters) differ by more than 10%
          (``length_bias(...).estimate`` at its defaults);
        * ``length_slope``: the slope on the tanh length covariate in the
          logistic fit with position and model strengths
          (``length_bias(...).slope``);
        * ``p_tie``: the share of tied judgments.
        """
        return self._population[0].copy()

    @property
    def population_strengths(self) -> pd.Series:
        """Davidson Bradley-Terry log-strengths (centred) that ``fit_bradley_terry`` converges to.

        The pseudo-true values of the default fit (``over="model"``,
        ``ties="davidson"``, no covariates) on the population outcome
        probabilities: attenuated from :attr:`model_strengths` by response
        and annotator noise.
        """
        return self._population[1].copy()

    @cached_property
    def population_alpha(self) -> float:
        """Population Krippendorff alpha of the choices (nominal; which response won, or a tie).

        The target of ``pq.agreement``'s alpha with its default
        ``orientation="symmetric"`` chance agreement: one minus the expected
        within-comparison disagreement over the expected chance
        disagreement, marginal over the same draws as :attr:`population`.
        NaN with ambiguous prompts or same-annotator repeats (not modelled).
        Costs about 0.1 s per 1,000 judgments: computed on first access.
        """
        return population_alpha(self._checked_design(), fixed=False)

    @cached_property
    def fixed_annotator_alpha(self) -> float:
        """:attr:`population_alpha` with the drawn annotators held fixed."""
        return population_alpha(self._checked_design(), fixed=True)

    @property
    def fixed_annotators(self) -> pd.Series:
        """:attr:`population` with the drawn annotators held fixed (their accuracy, deviations, sides)."""
        return self._fixed[0].copy()

    @property
    def fixed_annotator_strengths(self) -> pd.Series:
        """:attr:`population_strengths` with the drawn annotators held fixed."""
        return self._fixed[1].copy()

    def flagged_annotators(self) -> pd.Index:
        """Return the ids of every annotator planted with a problem (not ``normal``)."""
        return self.annotators.index[self.annotators["kind"] != "normal"]

    def summary(self) -> str:
        """Return a plain-text account of what was planted."""
        counts = self.annotators["kind"].value_counts().reindex(KINDS, fill_value=0)
        kinds = ", ".join(f"{k}: {n}" for k, n in counts.items())
        return (
            f"{len(self.comparisons):,} comparisons over {len(self.prompts):,} prompts "
            f"({int(self.prompts['ambiguous'].sum())} ambiguous); "
            f"{len(self.model_strengths)} models; annotators {kinds}; "
            f"length effect {self.length_effect:g}, position effect {self.position_effect:g}, "
            f"tie threshold {self.tie_threshold:g}."
        )
