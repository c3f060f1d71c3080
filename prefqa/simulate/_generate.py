"""Planted-bias simulator: preference data with known annotator, length and position effects.

``simulate`` returns ``(data, truth)``: a :class:`~prefqa.schema.PreferenceData`
and a :class:`SimulationTruth` holding every planted value, so tests and users
can check that prefqa's analyses recover them.

The generative model
--------------------
* Each prompt gets ``comparisons_per_prompt`` comparisons. A comparison pairs
  two fresh responses from two different models. A response's quality is
  ``strength[model] + N(0, response_sd)``; its length (characters) is
  log-normal, independent of quality.
* Each comparison is judged by ``judgments_per_comparison`` distinct
  annotators, each seeing the pair in a random display order (``a`` = shown
  first). With ``both_orders`` a share of comparisons is judged a second time
  by the same annotators in the swapped order (as LLM judges are run).
* For annotator *i* and a judgment with ``a``/``b`` as displayed::

      eta = accuracy_i * (q_a - q_b) + u_c + (length_effect + length_slope_i) * x
            + position_effect + position_bias_i
      x   = tanh((len_a - len_b) / scale),  scale = RMS of (len_a - len_b)

  ``position_bias_i`` is the planted extra logit of position-biased
  annotators plus a draw from ``N(0, position_sd)``; ``length_slope_i`` the
  planted extra slope plus a draw from ``N(0, length_slope_sd)``; ``u_c`` a
  comparison effect from ``N(0, comparison_sd)`` in favour of the
  comparison's first response (sign flipped when it is shown second), shared
  by every judgment of the comparison.

  A latent ``eta + Logistic(0, 1)`` above ``tie_threshold`` picks ``a``,
  below ``-tie_threshold`` picks ``b``, otherwise ``tie``: the Rao-Kupper
  model ``P(a) = sigmoid(eta - t)``, ``P(b) = sigmoid(-eta - t)``.
  ``strength`` is the signed size of the latent (1 or 2; 0 for ties).
* Spammers click ``a``/``b``/``tie`` at random (45/45/10%) and fast;
  always-a annotators always choose ``a``.
* On ambiguous prompts the quality term is replaced by a strong personal
  side per (annotator, prompt): reliable annotators genuinely split.
* With ``gold_share > 0`` that share of comparisons carries a ``gold``
  column on its judgments: the displayed label (``a``/``b``) of the response
  of higher quality ``q`` (missing on the other comparisons).
* The truth's :attr:`SimulationTruth.population` holds the value each
  headline estimator converges to on this design (marginal over the random
  effects, by quadrature: see :mod:`prefqa.simulate._population`), and
  :attr:`SimulationTruth.fixed_annotators` the same with the drawn
  annotators held fixed.
* With ``ratings=True`` every annotator also scores the responses of the
  comparisons it judged on a 1-5 scale:
  ``round(3 + quality + leniency_i + N(0, 0.7))`` clipped to 1..5.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import pandas as pd

from .._types import RngLike, as_generator
from ..errors import SchemaError
from ..schema import PreferenceData
from ._cleaning import benchmark_frame, contaminated_count, prompt_texts, rm_scores
from ._drift import Degrade, Join, Shift, batch_labels, plan_drift
from ._helpers import _check_args, _check_panel, _distinct_draws, _ids, _take, _texts
from ._population import JudgmentDesign
from ._truth import KINDS, SimulationTruth

__all__ = ["KINDS", "SimulationTruth", "simulate"]


def simulate(
    *,
    n_prompts: int = 200,
    n_models: int = 5,
    model_strengths: Sequence[float] | None = None,
    comparisons_per_prompt: int = 3,
    n_annotators: int = 30,
    judgments_per_comparison: int = 3,
    accuracy_range: tuple[float, float] = (0.7, 1.3),
    n_spammers: int = 0,
    n_always_a: int = 0,
    n_position_biased: int = 0,
    position_bias: float = 1.5,
    n_length_biased: int = 0,
    length_slope: float = 2.0,
    length_effect: float = 0.0,
    position_effect: float = 0.0,
    n_ambiguous_prompts: int = 0,
    tie_threshold: float = 0.3,
    both_orders: float = 0.0,
    ratings: bool = False,
    leniency_sd: float = 0.0,
    n_domains: int = 0,
    response_sd: float = 0.5,
    position_sd: float = 0.0,
    length_slope_sd: float = 0.0,
    comparison_sd: float = 0.0,
    gold_share: float = 0.0,
    annotators: pd.DataFrame | None = None,
    with_text: bool = True,
    n_windows: int = 1,
    drift: Sequence[Degrade | Join | Shift | dict] | None = None,
    rm_noise: float | None = None,
    contaminate: int | float | None = None,
    rng: RngLike = 0,
) -> tuple[PreferenceData, SimulationTruth]:
    """Simulate preference judgments with planted biases.

    Parameters
    ----------
    n_prompts, comparisons_per_prompt : int
        Prompts, and comparisons (pairs of responses) per prompt.
    n_models : int
        Models; each comparison pits two different ones against each other.
    model_strengths : sequence of float, optional
        Log-strengths (default evenly spaced in [-1, 1]); centred before use.
    n_annotators, judgments_per_comparison : int
        Annotator pool, and distinct annotators per comparison.
    accuracy_range : (float, float)
        Uniform range of the non-spammer annotators' weight on quality.
    n_spammers, n_always_a : int
        Annotators who click at random, and who always choose ``a``.
    n_position_biased, position_bias : int, float
        Annotators with an extra logit ``position_bias`` toward ``a``.
    n_length_biased, length_slope : int, float
        Annotators with an extra slope ``length_slope`` on the length covariate.
    length_effect, position_effect : float
        Global slope on the length covariate, and global logit toward ``a``.
    n_ambiguous_prompts : int
        Prompts on which annotators follow a personal side, not quality.
    tie_threshold : float
        Rao-Kupper threshold ``t``; 0 gives no ties.
    both_orders : float
        Share of comparisons judged again by the same annotators in the
        swapped display order.
    ratings : bool
        Also produce 1-5 ratings of each judged response.
    leniency_sd : float
        SD of the annotators' leniency on the rating scale.
    n_domains : int
        If > 0, add a ``domain`` stratum column (per prompt).
    response_sd : float
        SD of response quality around its model's strength.
    position_sd : float
        SD of the annotators' position logits around ``position_effect``
        (every annotator gets a draw; planted position-biased annotators
        add ``position_bias`` on top).
    length_slope_sd : float
        SD of the annotators' length slopes around ``length_effect``.
    comparison_sd : float
        SD of a per-comparison effect on the quality-difference logit,
        shared by all the comparison's judgments (correlated judgments).
    gold_share : float
        Share of comparisons (in [0, 1]) whose judgments get a ``gold``
        column: the displayed label of the higher-quality response.
    annotators : DataFrame, optional
        A fixed annotator panel to reuse, such as ``truth.annotators`` of an
        earlier run (columns ``kind``, ``accuracy``, ``position_bias``,
        ``length_slope``, ``leniency``): nothing about the annotators is
        drawn, and ``n_annotators`` and the planted-annotator counts are
        ignored. Simulations of new items judged by the same annotators
        (the estimand of :attr:`SimulationTruth.fixed_annotators`).
    with_text : bool
        Generate prompt and response texts (lengths are planted either way).
    n_windows : int
        With more than one, the comparisons are split into consecutive
        weekly windows and the judgments (and ratings) get ``timestamp``
        and ``batch`` columns (see :mod:`prefqa.simulate._drift`).
    drift : list of Degrade, Join, Shift or dict, optional
        Changes planted from a window on: degrading annotators, a joining
        team with a position bias, a global shift (position, length,
        leniency). Listed in :attr:`SimulationTruth.drift`.
    rm_noise : float, optional
        Add reward-model scores ``rm_score_a`` / ``rm_score_b`` (latent
        quality plus ``N(0, rm_noise^2)``; see
        :mod:`prefqa.simulate._cleaning`).
    contaminate : int or float, optional
        Copy that many prompts (or that share) verbatim or lightly edited
        into :attr:`SimulationTruth.benchmark`; prompts then get distinct
        pseudo-word texts. Needs ``with_text``.
    rng : int, Generator or None
        Seed or generator.

    Returns
    -------
    data : PreferenceData
        With ``order_known=True``.
    truth : SimulationTruth
        Every planted value.

    Examples
    --------
    >>> data, truth = simulate(n_prompts=20, n_annotators=6, n_spammers=1, rng=1)
    >>> data.n_judgments, data.n_comparisons, data.n_annotators
    (180, 60, 6)
    >>> sorted(truth.annotators["kind"].unique())
    ['normal', 'spammer']

    Heterogeneous annotators: the population P(first shown chosen) stays
    near 0.5 when position logits are centred at 0, while each annotator
    deviates.

    >>> data, truth = simulate(n_prompts=50, n_annotators=10, position_sd=0.8,
    ...                        comparison_sd=0.5, gold_share=0.2, rng=1)
    >>> bool(abs(truth.population["p_choose_a"] - 0.5) < 0.03), bool(truth.annotators["position_bias"].std() > 0.3)
    (True, True)
    >>> int(data.judgments["gold"].notna().sum()) == 3 * round(0.2 * data.n_comparisons)
    True

    Drift over four weekly windows: one annotator turns random from window 2
    and a position-biased team of three joins at window 3.

    >>> from prefqa.simulate import Degrade, Join
    >>> data, truth = simulate(n_prompts=40, n_annotators=8, n_windows=4, rng=2,
    ...                        drift=[Degrade(window=2), Join(window=3, n_annotators=3)])
    >>> sorted(data.judgments["batch"].unique())
    ['batch-000', 'batch-001', 'batch-002', 'batch-003']
    >>> truth.drift[["kind", "window", "batch"]].values.tolist()
    [['degrade', 2, 'batch-002'], ['join', 3, 'batch-003']]
    >>> len(truth.drift.loc[1, "annotator_ids"]), data.n_annotators
    (3, 11)
    """
    k = judgments_per_comparison
    panel = _check_panel(annotators) if annotators is not None else None
    if panel is not None:
        n_annotators, n_spammers, n_always_a, n_position_biased, n_length_biased = len(panel), 0, 0, 0, 0
    special = n_spammers + n_always_a + n_position_biased + n_length_biased
    _check_args(n_prompts, n_models, n_annotators, k, special, comparisons_per_prompt, both_orders, model_strengths)
    if not 0 <= n_ambiguous_prompts <= n_prompts:
        raise SchemaError(f"`n_ambiguous_prompts` must be between 0 and `n_prompts` ({n_prompts}); "
                          f"got {n_ambiguous_prompts}.")
    for name, value in (("position_sd", position_sd), ("length_slope_sd", length_slope_sd),
                        ("comparison_sd", comparison_sd), ("response_sd", response_sd)):
        if not np.isfinite(value) or value < 0:
            raise SchemaError(f"`{name}` is a standard deviation and must be finite and >= 0; got {value!r}.")
    if not 0.0 <= gold_share <= 1.0:
        raise SchemaError(f"`gold_share` is a share of comparisons in [0, 1]; got {gold_share!r}.")
    if contaminate is not None and not with_text:
        raise SchemaError("`contaminate` copies prompt texts into a benchmark, which needs `with_text=True`.")
    n_copies = contaminated_count(contaminate, n_prompts)
    plan = plan_drift(n_windows, drift, n_prompts * comparisons_per_prompt)
    seed = rng if isinstance(rng, int) else None
    gen = as_generator(rng)

    # models
    models = _ids("model-", n_models)
    strengths = np.linspace(-1.0, 1.0, n_models) if model_strengths is None else np.asarray(model_strengths, float)
    strengths = strengths - strengths.mean()

    # prompts
    prompt_ids = _ids("prompt-", n_prompts)
    ambiguous = np.zeros(n_prompts, dtype=bool)
    ambiguous[gen.choice(n_prompts, n_ambiguous_prompts, replace=False)] = True
    domains = _ids("domain-", max(n_domains, 1))[gen.integers(0, max(n_domains, 1), n_prompts)]

    # annotators: kinds on a random permutation of ids
    ann_ids = _ids("ann-", n_annotators)
    kind = np.full(n_annotators, "normal", dtype=object)
    order = gen.permutation(n_annotators)
    start = 0
    for name, count in (("spammer", n_spammers), ("always_a", n_always_a),
                        ("position", n_position_biased), ("length", n_length_biased)):
        kind[order[start:start + count]] = name
        start += count
    accuracy = gen.uniform(*accuracy_range, n_annotators)
    accuracy[kind == "spammer"] = 0.0
    ann_pos = np.where(kind == "position", position_bias, 0.0)
    ann_len = np.where(kind == "length", length_slope, 0.0)
    leniency = gen.normal(0.0, leniency_sd, n_annotators) if leniency_sd > 0 else np.zeros(n_annotators)
    # random parts are drawn only when asked for, so default output stays as before
    pos_dev = gen.normal(0.0, position_sd, n_annotators) if position_sd > 0 else np.zeros(n_annotators)
    slope_dev = gen.normal(0.0, length_slope_sd, n_annotators) if length_slope_sd > 0 else np.zeros(n_annotators)
    if panel is not None:  # a given panel replaces every draw above (they only advanced the generator)
        ann_ids = panel.index.to_numpy(dtype=object)
        kind = panel["kind"].to_numpy(dtype=object)
        accuracy = panel["accuracy"].to_numpy(dtype=np.float64)
        leniency = panel["leniency"].to_numpy(dtype=np.float64)
        ann_pos, ann_len = np.zeros(n_annotators), np.zeros(n_annotators)
        pos_dev = panel["position_bias"].to_numpy(dtype=np.float64)
        slope_dev = panel["length_slope"].to_numpy(dtype=np.float64)
    n_original = n_annotators
    first_window, team_pos, team_len = plan.team()
    if plan.n_new:  # a joining team: appended annotators, drawn as the others are (only when planted)
        n_new = plan.n_new
        ann_ids = np.concatenate([ann_ids, _ids("ann-", n_annotators + n_new)[n_annotators:]])
        kind = np.concatenate([kind, np.where(team_pos != 0, "position", "normal").astype(object)])
        accuracy = np.concatenate([accuracy, gen.uniform(*accuracy_range, n_new)])
        ann_pos = np.concatenate([ann_pos, team_pos])
        ann_len = np.concatenate([ann_len, np.zeros(n_new)])
        leniency = np.concatenate([leniency, team_len + (gen.normal(0.0, leniency_sd, n_new) if leniency_sd > 0
                                                         else 0.0)])
        pos_dev = np.concatenate([pos_dev, gen.normal(0.0, position_sd, n_new) if position_sd > 0 else np.zeros(n_new)])
        slope_dev = np.concatenate([slope_dev, gen.normal(0.0, length_slope_sd, n_new) if length_slope_sd > 0
                                    else np.zeros(n_new)])
        n_annotators += n_new
    first_window = np.concatenate([np.zeros(n_original, np.int64), first_window])
    degraded_from = plan.degraded_from(gen, ann_ids, kind)

    # comparisons and responses
    n_comp = n_prompts * comparisons_per_prompt
    comp_prompt = np.repeat(np.arange(n_prompts), comparisons_per_prompt)
    m1 = gen.integers(0, n_models, n_comp)
    m2 = (m1 + gen.integers(1, n_models, n_comp)) % n_models
    q = np.column_stack([strengths[m1], strengths[m2]]) + gen.normal(0.0, response_sd, (n_comp, 2))
    planned_len = np.maximum(np.rint(gen.lognormal(np.log(400.0), 0.6, (n_comp, 2))), 20).astype(np.int64)
    resp_ids = _ids("resp-", 2 * n_comp).reshape(n_comp, 2)
    if with_text:
        texts, lengths = _texts(gen, planned_len.ravel())
        lengths = lengths.reshape(n_comp, 2)
    else:
        texts, lengths = None, planned_len
    comp_ids = _ids("cmp-", n_comp)

    # judgments: k distinct annotators per comparison, random display order
    comp_window = plan.comparison_windows(n_comp)
    ann = plan.draw_annotators(gen, comp_window, k, n_original, first_window, _distinct_draws)
    comp = np.repeat(np.arange(n_comp), k)
    swap = gen.random(len(comp)) < 0.5
    if both_orders > 0:
        again = np.flatnonzero(gen.random(n_comp) < both_orders)
        rows = np.flatnonzero(np.isin(comp, again))
        comp, ann, swap = (np.concatenate([comp, comp[rows]]), np.concatenate([ann, ann[rows]]),
                           np.concatenate([swap, ~swap[rows]]))
    side_a = swap.astype(np.int64)  # column of the canonical pair shown first
    qa, qb = q[comp, side_a], q[comp, 1 - side_a]
    la, lb = lengths[comp, side_a], lengths[comp, 1 - side_a]
    diff = (la - lb).astype(float)
    scale = float(np.sqrt(np.mean(diff**2))) or 1.0
    x = np.tanh(diff / scale)

    quality_term = accuracy[ann] * (qa - qb)
    comp_effect = gen.normal(0.0, comparison_sd, n_comp) if comparison_sd > 0 else np.zeros(n_comp)
    if comparison_sd > 0:
        quality_term += comp_effect[comp] * np.where(swap, -1.0, 1.0)
    amb = ambiguous[comp_prompt[comp]]
    personal_all = np.zeros(len(comp))
    if amb.any():
        sides = gen.choice(np.array([-1, 1], dtype=np.int8), (n_annotators, n_prompts))
        personal = 2.0 * sides[ann[amb], comp_prompt[comp[amb]]] * np.where(swap[amb], -1.0, 1.0)
        personal_all[amb] = personal
        quality_term[amb] = np.where(kind[ann[amb]] == "spammer", 0.0, personal)
    ann_pos = ann_pos + pos_dev
    ann_len = ann_len + slope_dev
    planted_offset = (length_effect + ann_len[ann] - slope_dev[ann]) * x + position_effect + ann_pos[ann] - pos_dev[ann]
    eta = quality_term + (length_effect + ann_len[ann]) * x + position_effect + ann_pos[ann]
    j_window = comp_window[comp]
    if plan.changes:
        shift_pos, shift_slope, _ = plan.shifts(j_window)
        planted_offset = planted_offset + shift_pos + shift_slope * x
        eta = eta + shift_pos + shift_slope * x
    latent = eta + gen.logistic(0.0, 1.0, len(eta))
    choice = np.where(latent > tie_threshold, 0, np.where(latent < -tie_threshold, 1, 2))  # a, b, tie
    strength = np.where(choice == 2, 0.0, np.sign(latent) * (1.0 + (np.abs(latent) > tie_threshold + 1.5)))
    k_ann = kind[ann]
    spam = (k_ann == "spammer") | (degraded_from[ann] <= j_window)
    u = gen.random(int(spam.sum()))
    choice[spam] = np.where(u < 0.45, 0, np.where(u < 0.9, 1, 2))
    strength[spam] = np.array([1.0, -1.0, 0.0])[choice[spam]]
    always = (k_ann == "always_a") & ~spam
    choice[always] = 0
    strength[always] = 1.0
    seconds = np.where(spam, gen.lognormal(np.log(4.0), 0.3, len(eta)), gen.lognormal(np.log(40.0), 0.5, len(eta)))

    pair_models = np.column_stack([m1, m2])
    judgments = pd.DataFrame({
        "comparison_id": _take(comp_ids, comp),
        "annotator_id": _take(ann_ids, ann),
        "choice": _take(np.array(["a", "b", "tie"], dtype=object), choice),
        "prompt_id": _take(prompt_ids, comp_prompt[comp]),
        "response_a_id": _take(resp_ids.ravel(), 2 * comp + side_a),
        "response_b_id": _take(resp_ids.ravel(), 2 * comp + 1 - side_a),
        "model_a": _take(models, pair_models[comp, side_a]),
        "model_b": _take(models, pair_models[comp, 1 - side_a]),
        "strength": strength,
        "seconds": seconds,
    })
    has_gold = np.zeros(n_comp, dtype=bool)
    if gold_share > 0:
        has_gold[gen.choice(n_comp, round(gold_share * n_comp), replace=False)] = True
        gold_code = np.where(has_gold[comp], np.where(qa > qb, 0, 1), 2)
        judgments["gold"] = _take(np.array(["a", "b", None], dtype=object), gold_code)
    if n_domains > 0:
        judgments["domain"] = _take(domains, comp_prompt[comp])
    responses = pd.DataFrame({
        "response_id": resp_ids.ravel(),
        "prompt_id": prompt_ids[np.repeat(comp_prompt, 2)],
        "text": texts,
    }) if with_text else None
    prompts = pd.DataFrame({
        "prompt_id": prompt_ids,
        "text": np.char.add("Question ", np.char.add(np.arange(n_prompts).astype(str),
                            ": please explain the topic clearly.")).astype(object),
    }) if with_text else None
    if not with_text:
        judgments = judgments.drop(columns=["response_a_id", "response_b_id"])

    rating_table = None
    if ratings:
        first = ~pd.DataFrame({"c": comp, "a": ann}).duplicated().to_numpy()
        rc, ra = np.repeat(comp[first], 2), np.repeat(ann[first], 2)
        side = np.tile([0, 1], int(first.sum()))
        quality = q[rc, side]
        if plan.changes:  # degraded raters ignore quality; shifts add leniency
            quality = np.where(degraded_from[ra] <= comp_window[rc], 0.0, quality)
            quality = quality + plan.shifts(comp_window[rc])[2]
        raw = 3.0 + quality + leniency[ra] + gen.normal(0.0, 0.7, len(rc))
        rating_table = pd.DataFrame({
            "response_id": _take(resp_ids.ravel(), 2 * rc + side),
            "annotator_id": _take(ann_ids, ra),
            "score": np.clip(np.rint(raw), 1, 5),
            "model": _take(models, pair_models[rc, side]),
            "prompt_id": _take(prompt_ids, comp_prompt[rc]),
        })

    # extras, drawn last so that every output above is unchanged by them
    if plan.active:
        judgments["timestamp"] = plan.timestamps(gen, comp_window, comp)
        judgments["batch"] = _take(batch_labels(plan.n_windows), j_window)
        if rating_table is not None:  # a rating shares its judgment's time
            first_row = np.flatnonzero(first)
            rating_table["timestamp"] = judgments["timestamp"].to_numpy()[np.repeat(first_row, 2)]
            rating_table["batch"] = _take(batch_labels(plan.n_windows), np.repeat(j_window[first_row], 2))
    scores = rm_scores(gen, q, rm_noise)
    if scores is not None:
        judgments["rm_score_a"] = scores[comp, side_a]
        judgments["rm_score_b"] = scores[comp, 1 - side_a]
        if responses is not None:
            responses["rm_score"] = scores.ravel()
    benchmark = contamination = None
    if contaminate is not None:
        prompts = cast(pd.DataFrame, prompts)  # not None: `contaminate` needs with_text (checked above)
        prompts["text"] = prompt_texts(gen, n_prompts)
        benchmark, contamination = benchmark_frame(gen, prompt_ids, prompts["text"].to_numpy(), n_copies)

    data = PreferenceData(
        judgments, responses, prompts, rating_table, order_known=True,
        meta={"source_format": "simulate", "conversational": False, "seed": seed},
    )
    truth = SimulationTruth(
        model_strengths=pd.Series(strengths, index=pd.Index(models, name="model"), name="strength"),
        annotators=pd.DataFrame(
            {"kind": kind, "accuracy": accuracy, "position_bias": ann_pos, "length_slope": ann_len,
             "leniency": leniency},
            index=pd.Index(ann_ids, name="annotator_id"),
        ).assign(**({"first_window": first_window, "degraded_from": _never_na(degraded_from, plan.n_windows)}
                    if plan.active else {})),
        prompts=pd.DataFrame({"ambiguous": ambiguous, "domain": domains},
                             index=pd.Index(prompt_ids, name="prompt_id")),
        comparisons=pd.DataFrame({
            "comparison_id": comp_ids, "prompt_id": prompt_ids[comp_prompt],
            "model_1": models[m1], "model_2": models[m2],
            "response_1_id": resp_ids[:, 0], "response_2_id": resp_ids[:, 1],
            "quality_1": q[:, 0], "quality_2": q[:, 1],
            "length_1": lengths[:, 0], "length_2": lengths[:, 1],
            "effect": comp_effect, "gold": has_gold,
        }).assign(**({"window": comp_window} if plan.active else {})),
        length_effect=float(length_effect),
        position_effect=float(position_effect),
        tie_threshold=float(tie_threshold),
        length_scale=scale,
        seed=seed,
        position_sd=float(position_sd), length_slope_sd=float(length_slope_sd),
        comparison_sd=float(comparison_sd), gold_share=float(gold_share),
        windows=plan.windows_table(comp_window) if plan.active else None,
        drift=plan.drift_table(ann_ids, degraded_from, np.arange(n_original, n_annotators)) if plan.active else None,
        rm_noise=None if rm_noise is None else float(rm_noise),
        benchmark=benchmark, contamination=contamination,
        _design=JudgmentDesign(
            kind=np.select([spam, always], [1, 2], 0),
            ann=ann, model_a=pair_models[comp, side_a], model_b=pair_models[comp, 1 - side_a],
            strength_diff=strengths[pair_models[comp, side_a]] - strengths[pair_models[comp, 1 - side_a]],
            ambiguous=amb, personal=personal_all, x=x, len_a=la, len_b=lb, planted_offset=planted_offset,
            accuracy=accuracy, position_dev=pos_dev, slope_dev=slope_dev,
            accuracy_range=(float(accuracy_range[0]), float(accuracy_range[1])),
            position_sd=float(position_sd), length_slope_sd=float(length_slope_sd),
            comparison_sd=float(comparison_sd), response_sd=float(response_sd),
            tie_threshold=float(tie_threshold), n_models=n_models, comp=comp, first_shown=~swap,
        ),
    )
    return data, truth


def _never_na(first: np.ndarray, never: int) -> pd.arrays.IntegerArray:
    """``first`` as nullable ints, missing where it equals ``never``."""
    out = pd.array(first, dtype="Int64")
    out[first >= never] = pd.NA
    return out
