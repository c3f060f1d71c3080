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

import numpy as np
import pandas as pd

from .._types import RngLike, as_generator
from ..errors import SchemaError
from ..schema import PreferenceData
from ._population import JudgmentDesign
from ._truth import KINDS, SimulationTruth

__all__ = ["KINDS", "SimulationTruth", "simulate"]

_WORDS = np.array(
    "the a model answer data value result method because which however first second then "
    "therefore example note step check simple clear small large fast slow good better best "
    "water light river city table window garden paper music number letter system process".split()
)


def _take(labels: np.ndarray, index: np.ndarray) -> pd.Series:
    """Return ``labels[index]`` as a pandas string column, gathered in Arrow (no Python objects)."""
    import pyarrow as pa

    gathered = pa.array(labels, type=pa.string()).take(pa.array(index, type=pa.int64()))
    return pd.Series(gathered.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get))


def _ids(prefix: str, n: int) -> np.ndarray:
    width = max(len(str(max(n - 1, 0))), 3)
    return np.char.add(prefix, np.char.zfill(np.arange(n).astype(str), width)).astype(object)


def _check_args(n_prompts: int, n_models: int, n_annotators: int, k: int, special: int,
                comparisons_per_prompt: int, both_orders: float, strengths: Sequence[float] | None) -> None:
    if n_prompts < 1 or comparisons_per_prompt < 1:
        raise SchemaError(f"`n_prompts` and `comparisons_per_prompt` must be >= 1; "
                          f"got {n_prompts}, {comparisons_per_prompt}.")
    if n_models < 2:
        raise SchemaError(f"`n_models` must be >= 2 to form comparisons; got {n_models}.")
    if strengths is not None and len(strengths) != n_models:
        raise SchemaError(f"`model_strengths` has {len(strengths)} values for {n_models} models; give one per model.")
    if not 1 <= k <= n_annotators:
        raise SchemaError(
            f"`judgments_per_comparison` must be between 1 and `n_annotators` ({n_annotators}); got {k}."
        )
    if special > n_annotators:
        raise SchemaError(
            f"{special} planted special annotators (spammers, always-a, position- and length-biased) "
            f"exceed `n_annotators` = {n_annotators}; raise `n_annotators`."
        )
    if not 0.0 <= both_orders <= 1.0:
        raise SchemaError(f"`both_orders` is a share of comparisons in [0, 1]; got {both_orders}.")


def _check_panel(annotators: object) -> pd.DataFrame:
    need = ["kind", "accuracy", "position_bias", "length_slope", "leniency"]
    if not isinstance(annotators, pd.DataFrame) or any(c not in annotators for c in need) or not len(annotators):
        got = list(annotators.columns) if isinstance(annotators, pd.DataFrame) else type(annotators).__name__
        raise SchemaError(f"`annotators` must be a non-empty DataFrame like truth.annotators with columns {need}; "
                          f"got {got}.")
    bad = sorted(set(annotators["kind"]) - set(KINDS))
    if bad:
        raise SchemaError(f"`annotators['kind']` has unknown kinds {bad}; use {list(KINDS)}.")
    return annotators


def _distinct_draws(rng: np.random.Generator, n_rows: int, k: int, n: int) -> np.ndarray:
    """Draw ``k`` distinct integers in ``[0, n)`` for each of ``n_rows`` rows."""
    out = np.empty((n_rows, k), dtype=np.int64)
    for j in range(k):  # k is small; each pass redraws only the rows that collide
        col = rng.integers(0, n, n_rows)
        clash = (out[:, :j] == col[:, None]).any(axis=1)
        while clash.any():
            col[clash] = rng.integers(0, n, int(clash.sum()))
            clash = (out[:, :j] == col[:, None]).any(axis=1)
        out[:, j] = col
    return out


def _texts(rng: np.random.Generator, lengths: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """Return response texts of about ``lengths`` characters (some with markdown) and their true lengths."""
    corpus = " ".join(rng.choice(_WORDS, 6000))
    starts = rng.integers(0, len(corpus) - 4000, len(lengths))
    body_len = np.minimum(lengths, 3999)
    bodies = np.array([corpus[s:s + n] for s, n in zip(starts.tolist(), body_len.tolist())], dtype=object)
    header = np.where(rng.random(len(lengths)) < 0.2, "## Answer\n", "")
    bullets = np.where(rng.random(len(lengths)) < 0.3, "\n- first point\n- second point", "")
    bold = np.where(rng.random(len(lengths)) < 0.2, "**Note:** ", "")
    texts = pd.Series(header.astype(object) + bold.astype(object) + bodies + bullets.astype(object), dtype="str")
    return texts, texts.str.len().to_numpy(dtype=np.int64)


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
    ann = _distinct_draws(gen, n_comp, k, n_annotators).ravel()
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
    latent = eta + gen.logistic(0.0, 1.0, len(eta))
    choice = np.where(latent > tie_threshold, 0, np.where(latent < -tie_threshold, 1, 2))  # a, b, tie
    strength = np.where(choice == 2, 0.0, np.sign(latent) * (1.0 + (np.abs(latent) > tie_threshold + 1.5)))
    k_ann = kind[ann]
    spam = k_ann == "spammer"
    u = gen.random(int(spam.sum()))
    choice[spam] = np.where(u < 0.45, 0, np.where(u < 0.9, 1, 2))
    strength[spam] = np.array([1.0, -1.0, 0.0])[choice[spam]]
    always = k_ann == "always_a"
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
        raw = 3.0 + q[rc, side] + leniency[ra] + gen.normal(0.0, 0.7, len(rc))
        rating_table = pd.DataFrame({
            "response_id": _take(resp_ids.ravel(), 2 * rc + side),
            "annotator_id": _take(ann_ids, ra),
            "score": np.clip(np.rint(raw), 1, 5),
            "model": _take(models, pair_models[rc, side]),
            "prompt_id": _take(prompt_ids, comp_prompt[rc]),
        })

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
        ),
        prompts=pd.DataFrame({"ambiguous": ambiguous, "domain": domains},
                             index=pd.Index(prompt_ids, name="prompt_id")),
        comparisons=pd.DataFrame({
            "comparison_id": comp_ids, "prompt_id": prompt_ids[comp_prompt],
            "model_1": models[m1], "model_2": models[m2],
            "response_1_id": resp_ids[:, 0], "response_2_id": resp_ids[:, 1],
            "quality_1": q[:, 0], "quality_2": q[:, 1],
            "length_1": lengths[:, 0], "length_2": lengths[:, 1],
            "effect": comp_effect, "gold": has_gold,
        }),
        length_effect=float(length_effect),
        position_effect=float(position_effect),
        tie_threshold=float(tie_threshold),
        length_scale=scale,
        seed=seed,
        position_sd=float(position_sd), length_slope_sd=float(length_slope_sd),
        comparison_sd=float(comparison_sd), gold_share=float(gold_share),
        _design=JudgmentDesign(
            kind=np.select([k_ann == "spammer", k_ann == "always_a"], [1, 2], 0),
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
