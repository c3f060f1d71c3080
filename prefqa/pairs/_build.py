"""``build_pairs``: preference data -> training pairs, with every dropped comparison explained."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._types import RngLike, as_generator
from ..consensus import consensus
from ..errors import InsufficientDataError, SchemaError
from ..schema import PreferenceData
from ._assemble import apply_guards, frames, positions, take
from ._balance import balance_lengths, cap_per_prompt
from ._cleaning import apply_cleaning, cleaning_inputs
from ._guards import DEFAULT_GUARDS, OPTIONAL_GUARDS, text_codes
from ._policies import POLICIES, check_rated_prompts, rated_candidates
from ._result import PairSet, check_accounting, flip_rate

__all__ = ["build_pairs"]

LABELS = ("majority", "dawid_skene", "model")
TIES = ("drop", "keep_as_kto")
FLAGGED = ("keep", "drop", "downweight")
DOWNWEIGHT = 0.5


def _validate(data: Any, label: str, min_agreement: float, min_judgments: int, ties: str,
              policy: str | None, margin: float, flagged: str, guards: tuple[str, ...],
              near_identical_threshold: float, near_duplicate_threshold: float,
              max_tokens: int | None, tokenizer: Any, length_balance: Any, length_tolerance: float,
              n_length_buckets: int, max_pairs_per_prompt: int | None, annotator_flags: Any = None,
              prompt_flags: Any = None) -> None:
    if not isinstance(data, PreferenceData):
        raise SchemaError(f"`data` must be a PreferenceData; got {type(data).__name__}. Load it with pq.read(...).")
    if label not in LABELS:
        raise SchemaError(f"`label` must be one of {list(LABELS)}; got {label!r}.")
    if ties not in TIES:
        raise SchemaError(f"`ties` must be one of {list(TIES)}; got {ties!r}.")
    if flagged not in FLAGGED:
        raise SchemaError(f"`flagged` must be one of {list(FLAGGED)}; got {flagged!r}.")
    if flagged == "keep" and (annotator_flags is not None or prompt_flags is not None):
        raise SchemaError(
            "`annotator_flags`/`prompt_flags` are used with flagged='drop' or 'downweight'; with "
            "flagged='keep' they would be ignored. Pass flagged='drop' (or 'downweight'), or drop the tables.")
    for name, table in (("annotator_flags", annotator_flags), ("prompt_flags", prompt_flags)):
        if isinstance(table, pd.DataFrame) and "flagged" not in table:
            raise SchemaError(
                f"`{name}` must be a table with a boolean `flagged` column indexed by id (the output of "
                f"pq.annotator_table / pq.flag_prompts) or a sequence of ids; got columns {list(table.columns)[:8]}.")
    if label in ("dawid_skene", "model") and policy is None and not data.has_annotators:
        what = ("learns each annotator's confusion matrix" if label == "dawid_skene"
                else "removes each annotator's side and length bias")
        raise InsufficientDataError(f"label={label!r} {what}, so it needs annotator ids; these judgments "
                                    "have none. Use label='majority'.")
    if policy is not None and policy not in POLICIES:
        raise SchemaError(f"`policy` must be None (pairs from judgments) or one of {list(POLICIES)}; got {policy!r}.")
    if not 0.0 <= float(min_agreement) <= 1.0:
        raise SchemaError(f"`min_agreement` must be in [0, 1]; got {min_agreement!r}.")
    if int(min_judgments) != min_judgments or min_judgments < 1:
        raise SchemaError(f"`min_judgments` must be a positive integer; got {min_judgments!r}.")
    if not np.isfinite(margin) or margin < 0:
        raise SchemaError(f"`margin` must be a finite number >= 0; got {margin!r}.")
    if policy is None and margin != 0:
        raise SchemaError(
            f"`margin` ({margin!r}) applies to rated data with a `policy`; for judged data use "
            "`min_agreement` instead, or pass policy='best_vs_worst' (etc.) to pair by ratings."
        )
    unknown = [g for g in guards if g not in DEFAULT_GUARDS + OPTIONAL_GUARDS]
    if unknown:
        raise SchemaError(f"unknown `guards` {unknown}; choose from {list(DEFAULT_GUARDS + OPTIONAL_GUARDS)}.")
    for name, t in (("near_identical_threshold", near_identical_threshold),
                    ("near_duplicate_threshold", near_duplicate_threshold)):
        if not 0.0 < t <= 1.0:
            raise SchemaError(f"`{name}` must be in (0, 1]; got {t!r}.")
    if "truncation" in guards:
        if tokenizer is None or max_tokens is None:
            raise SchemaError(
                "the 'truncation' guard needs both `tokenizer` (a callable text -> token ids, or an "
                f"object with .encode) and `max_tokens`; got tokenizer={tokenizer!r}, max_tokens={max_tokens!r}."
            )
        if (not callable(tokenizer) and not callable(getattr(tokenizer, "encode", None))
                and not isinstance(tokenizer, (str, os.PathLike))):
            raise SchemaError(f"`tokenizer` must be callable, have .encode, or be a path to a local tokenizer.json; "
                              f"got {type(tokenizer).__name__}.")
        if int(max_tokens) != max_tokens or max_tokens < 1:
            raise SchemaError(f"`max_tokens` must be a positive integer; got {max_tokens!r}.")
    elif tokenizer is not None or max_tokens is not None:
        raise SchemaError(
            "`tokenizer`/`max_tokens` are only used by the 'truncation' guard; add it: "
            "guards=('empty', 'identical', 'duplicate', 'truncation')."
        )
    if length_balance not in (False, True, "subsample", "reweight"):
        raise SchemaError(f"`length_balance` must be False, True, 'subsample' or 'reweight'; got {length_balance!r}.")
    if not 0.0 <= length_tolerance < 0.5:
        raise SchemaError(f"`length_tolerance` must be in [0, 0.5); got {length_tolerance!r}.")
    if int(n_length_buckets) != n_length_buckets or n_length_buckets < 1:
        raise SchemaError(f"`n_length_buckets` must be a positive integer; got {n_length_buckets!r}.")
    if max_pairs_per_prompt is not None and (int(max_pairs_per_prompt) != max_pairs_per_prompt
                                             or max_pairs_per_prompt < 1):
        raise SchemaError(f"`max_pairs_per_prompt` must be None or a positive integer; got {max_pairs_per_prompt!r}.")
    if policy is not None:
        if data.ratings is None or not len(data.ratings):
            raise SchemaError(
                f"policy={policy!r} pairs responses by their ratings, but `data` has no ratings; "
                "read a ratings file (format='ratings') or use policy=None to pair from judgments."
            )
        if label != "majority":
            raise SchemaError(
                f"`label` ({label!r}) applies to judged data; rated pairs come from scores (policy={policy!r}).")
        check_rated_prompts(data, policy)
    elif not data.n_judgments and data.ratings is not None and len(data.ratings):
        raise SchemaError(
            f"`data` holds {len(data.ratings):,} ratings and no judged comparisons, so there is nothing to "
            f"pair with policy=None; pair responses of the same prompt by score with policy= one of {list(POLICIES)} "
            "(for example policy='best_vs_worst')."
        )
    elif not data.has_texts or "response_b_id" not in data.judgments:
        raise SchemaError(
            "pairs need response texts: the judgments have no `response_a_id`/`response_b_id` with a "
            "`responses` table. Read data that carries `response_a` and `response_b` texts."
        )


def _flag_ids(table: Any, name: str) -> set[str]:
    """Ids flagged in a precomputed table (a ``flagged`` column, indexed by id) or a sequence of ids."""
    if isinstance(table, pd.DataFrame):
        return set(map(str, table.index[table["flagged"].fillna(False).to_numpy(dtype=bool)]))
    if isinstance(table, str):
        return {table}
    return set(map(str, table))


def _flags(data: PreferenceData, flagged: str, annotator_flags: Any, prompt_flags: Any) -> tuple[set[str], set[str]]:
    """Flagged annotator and prompt ids.

    From the given tables, else from a fresh pq.annotator_table / pq.flag_prompts.
    """
    if flagged == "keep":
        return set(), set()
    if annotator_flags is not None:
        annotators = _flag_ids(annotator_flags, "annotator_flags")
    elif data.has_annotators:
        from ..annotators import annotator_table
        annotators = _flag_ids(annotator_table(data), "annotator_flags")
    else:
        annotators = set()
    if prompt_flags is not None:
        prompts = _flag_ids(prompt_flags, "prompt_flags")
    elif "prompt_id" in data.judgments:
        from ..prompts import flag_prompts
        prompts = _flag_ids(flag_prompts(data), "prompt_flags")
    else:
        prompts = set()
    return annotators, prompts


def _consensus(data: PreferenceData, label: Literal["majority", "dawid_skene", "model"], drop_a: set[str],
               half_a: set[str]) -> tuple[pd.DataFrame, int]:
    """Labels from the judgments left after dropping ``drop_a``, with ``half_a`` at weight DOWNWEIGHT.

    ``pq.consensus(method=label)`` for 'majority' / 'dawid_skene', the
    debiased model labels of ``_model_label`` for 'model'. Returns the
    ``labels`` table (indexed by comparison_id; comparisons without
    judgments left are absent) and the number of judgments used.
    """
    use = data
    if drop_a or half_a:
        ann = data.judgments["annotator_id"].to_numpy(dtype=object, na_value=None)
        if drop_a:
            keep = ~np.isin(ann, list(drop_a))
            if not keep.all():
                use = data.subset(keep)
                ann = ann[keep]
        w = np.where(np.isin(ann, list(half_a)), DOWNWEIGHT, 1.0) if half_a else None
    else:
        w = None
    if not use.n_judgments:
        return pd.DataFrame(columns=["label", "p_1", "p_2", "p_tie", "n_judgments", "agreement", "tied_vote"]), 0
    if label == "model":
        from ._model_label import (
            model_labels,  # imports the mixed-model stack only when asked for
        )

        return model_labels(use, w)[0], use.n_judgments
    return consensus(use, method=label, weights=w).labels, use.n_judgments


def _str_series(values: Any, n: int) -> pd.Series:
    if values is None:
        return pd.Series(np.full(n, None, dtype=object), dtype="object")
    return values.reset_index(drop=True) if isinstance(values, pd.Series) else pd.Series(values)


def _judged_units(data, label, ties, min_judgments, min_agreement, excl_a, excl_p, flag_a, flag_p, flagged):
    """One unit per comparison (order of first appearance) with label columns and early reasons."""
    comp, _ = data.codes("comparison_id")
    c = data.comparisons()
    n = len(c)
    drop_a = excl_a | (flag_a if flagged == "drop" else set())
    half_a = (flag_a - drop_a) if flagged == "downweight" else set()
    labels, n_used = _consensus(data, label, drop_a, half_a)
    # label rows follow the comparison codes of the data used: the same as `c` unless judgments were left out
    same_rows = n_used == data.n_judgments
    lab_tab = labels if same_rows else labels.reindex(c["comparison_id"])
    found = lab_tab["label"].notna().to_numpy()
    # label codes: 0 / 1 = canonical first / second response, 2 = tie, -1 = split vote (no majority)
    lab = lab_tab["label"].to_numpy(dtype=object, na_value=None)
    code = np.select([lab == "1", lab == "2", lab == "tie"], [0, 1, 2], -1)
    code[lab_tab["tied_vote"].fillna(False).to_numpy(dtype=bool)] = -1
    # orientation: the labels' own (after exclusions a comparison's first judgment may differ), else the data's
    u: dict[str, Any] = {"comparison_id": c["comparison_id"],
                         "prompt_id": _str_series(c.get("prompt_id"), n)}
    for k in ("response_1_id", "response_2_id", "model_1", "model_2"):
        col = _str_series(c.get(k), n)
        if not same_rows and k in lab_tab:
            col = col.where(~found, _str_series(lab_tab[k], n))
        u[{"response_1_id": "id_1", "response_2_id": "id_2"}.get(k, k)] = col
    p1, p2, pt = (lab_tab[k].to_numpy(dtype=np.float64, na_value=np.nan) for k in ("p_1", "p_2", "p_tie"))
    # sided labels: chosen = the winner; ties and split votes: ordered by response id
    swap = code == 1
    unsided = np.flatnonzero((code < 0) | (code == 2))
    if len(unsided):
        i1 = take(u["id_1"], unsided).astype("str").fillna("").to_numpy(dtype=object)
        i2 = take(u["id_2"], unsided).astype("str").fillna("").to_numpy(dtype=object)
        swap[unsided] = i1 > i2
    p_c, p_r = np.where(swap, p2, p1), np.where(swap, p1, p2)
    u.update(swap=swap, n_judgments=lab_tab["n_judgments"].fillna(0).to_numpy(dtype=np.int64),
             agreement=lab_tab["agreement"].to_numpy(dtype=np.float64, na_value=np.nan),
             p_chosen=p_c + 0.5 * pt, margin=p_c - p_r, weight=np.ones(n), is_tie=code == 2)
    reason = np.full(n, None, dtype=object)

    def mark(reason_code: str, cond: np.ndarray) -> None:
        reason[(reason == None) & cond] = reason_code  # noqa: E711 - elementwise on an object array

    pid = u["prompt_id"]
    if excl_p:
        mark("excluded_prompt", pid.isin(excl_p).to_numpy())
    if flag_p and flagged == "drop":
        mark("flagged_prompt", pid.isin(flag_p).to_numpy())
    elif flag_p and flagged == "downweight":
        fp = pid.isin(flag_p).to_numpy()
        u["weight"][fp] = DOWNWEIGHT
        u["p_chosen"][fp] = 0.5 + DOWNWEIGHT * (u["p_chosen"][fp] - 0.5)
    mark("no_judgments", ~found)
    mark("too_few_judgments", u["n_judgments"] < min_judgments)
    if ties == "drop":
        mark("tie", code == 2)
    mark("no_majority", code == -1)
    mark("low_agreement", u["agreement"] < min_agreement - 1e-12)
    first = np.full(n, len(comp), dtype=np.int64)
    present, first_row = np.unique(comp, return_index=True)
    first[present] = first_row
    order = np.argsort(first, kind="stable")
    if (order == np.arange(n)).all():
        return u, reason
    return {k: take(v, order) if isinstance(v, pd.Series) else v[order] for k, v in u.items()}, reason[order]


def _rated_units(data, policy, margin, excl_a, excl_p, rng):
    cand, empty = rated_candidates(data, policy, margin, excl_a, rng)
    n_c, n = len(cand), len(cand) + len(empty)

    def col(name: str) -> pd.Series:
        both = np.concatenate([cand[name].to_numpy(dtype=object), np.full(len(empty), None, dtype=object)])
        return pd.Series(both, dtype="object")

    u: dict[str, Any] = {
        "comparison_id": pd.Series(np.full(n, None, dtype=object), dtype="object"),
        "prompt_id": pd.Series(np.concatenate([cand["prompt_id"].to_numpy(dtype=object),
                                               empty["prompt_id"].to_numpy(dtype=object)]), dtype="object"),
        "id_1": col("chosen_id"), "id_2": col("rejected_id"),
        "model_1": col("chosen_model"), "model_2": col("rejected_model"),
        "swap": np.zeros(n, dtype=bool),
        "n_judgments": np.concatenate([cand["n_judgments"].to_numpy(dtype=np.int64), np.zeros(len(empty), np.int64)]),
        "agreement": np.full(n, np.nan), "p_chosen": np.r_[np.ones(n_c), np.full(len(empty), np.nan)],
        "weight": np.ones(n), "is_tie": np.zeros(n, dtype=bool),
    }
    for k in ("chosen_score", "rejected_score"):
        u[k] = np.r_[cand[k].to_numpy(dtype=np.float64), np.full(len(empty), np.nan)]
    u["margin"] = u["chosen_score"] - u["rejected_score"]
    reason = np.concatenate([np.full(n_c, None, dtype=object), empty["reason_code"].to_numpy(dtype=object)])
    reason[(reason == None) & u["prompt_id"].isin(excl_p).to_numpy()] = "excluded_prompt"  # noqa: E711
    return u, reason


def build_pairs(
    data: PreferenceData,
    *,
    label: Literal["majority", "dawid_skene", "model"] = "majority",
    min_agreement: float = 0.0,
    min_judgments: int = 1,
    ties: Literal["drop", "keep_as_kto"] = "drop",
    policy: Literal["best_vs_worst", "best_vs_random", "all_above_margin", "adjacent"] | None = None,
    margin: float = 0.0,
    exclude_annotators: Sequence[str] = (),
    exclude_prompts: Sequence[str] = (),
    flagged: Literal["keep", "drop", "downweight"] = "keep",
    annotator_flags: pd.DataFrame | Sequence[str] | None = None,
    prompt_flags: pd.DataFrame | Sequence[str] | None = None,
    suspect_labels: Any = None,
    suspect_action: Literal["drop", "flip", "downweight", "keep"] = "drop",
    contamination: Any = None,
    guards: Sequence[str] = DEFAULT_GUARDS,
    near_identical_threshold: float = 0.9,
    near_duplicate_threshold: float = 0.9,
    max_tokens: int | None = None,
    tokenizer: Any = None,
    length_balance: bool | Literal["subsample", "reweight"] = False,
    length_tolerance: float = 0.05,
    n_length_buckets: int = 5,
    max_pairs_per_prompt: int | None = None,
    rng: RngLike = None,
) -> PairSet:
    """Build chosen/rejected training pairs and account for every comparison left out.

    Parameters
    ----------
    data : PreferenceData
        Judged comparisons with response texts, or (with ``policy``) rated
        responses.
    label : {'majority', 'dawid_skene', 'model'}
        How a comparison's winner is decided; the first two are exactly
        ``pq.consensus(data, method=label)`` (same labels, ``p_*`` and
        ``agreement``). ``'majority'``: the response (or tie) with strictly
        the most votes; a shared top (``tied_vote``) is ``no_majority``.
        ``'dawid_skene'``: the Dawid-Skene posterior mode (needs annotator
        ids). ``'model'``: the sign of each comparison's quality difference
        after ``pq.fit_preference_model`` has removed annotator side and
        length biases and the position and length effects (needs annotator
        ids; see ``prefqa.pairs._model_label``); beats the majority vote when
        biased annotators are common, costs a mixed-model fit. ``p_chosen``
        is ``p_winner + p_tie / 2`` of the label source (the vote share for
        the majority, a posterior otherwise), ``margin`` is ``p_winner -
        p_loser``.
    min_agreement : float
        Drop comparisons where the share of judgments agreeing with the
        label is below this (``low_agreement``).
    min_judgments : int
        Drop comparisons with fewer judgments (``too_few_judgments``).
    ties : {'drop', 'keep_as_kto'}
        Tied comparisons are dropped (``tie``), or kept in ``PairSet.ties``
        for the KTO export (they never become pairs).
    policy : {'best_vs_worst', 'best_vs_random', 'all_above_margin', 'adjacent'}, optional
        Pair rated multi-completion data by score instead of judgments; see
        ``prefqa.pairs._policies``. Equal scores never make a pair.
    margin : float
        With a policy: a pair needs a score difference above ``margin``.
    exclude_annotators, exclude_prompts : sequence of str
        Judgments (ratings) of these annotators are ignored; comparisons of
        these prompts are dropped (``excluded_prompt``).
    flagged : {'keep', 'drop', 'downweight'}
        What to do with annotators flagged by ``pq.annotator_table`` and
        prompts flagged by ``pq.flag_prompts``: nothing; ignore the
        annotators' judgments (a comparison left without any is
        ``no_judgments``) and drop the prompts' comparisons
        (``flagged_prompt``); or count the annotators' votes half
        (``pq.consensus(..., weights=)``) and give the prompts' pairs
        ``weight`` 0.5 with ``p_chosen`` shrunk halfway to 0.5.
    annotator_flags, prompt_flags : DataFrame or sequence of str, optional
        Precomputed flags, so nothing is refitted: the output of
        ``pq.annotator_table`` / ``pq.flag_prompts`` (rows with ``flagged``
        true, indexed by id) or the flagged ids themselves (``()`` for none).
        Default: computed here when ``flagged`` is not ``'keep'``.
    suspect_labels : LabelIssues, DataFrame or sequence of str, optional
        Precomputed ``pq.label_issues(data, ...)`` (or its ``.to_frame()``,
        or the flagged comparison ids): the comparisons whose label is
        probably wrong.
    suspect_action : {'drop', 'flip', 'downweight', 'keep'}
        What to do with them (``prefqa.pairs._cleaning``): drop them
        (``suspect_label``); swap chosen and rejected (``flipped`` column,
        counted as ``flipped_suspect_label`` in the manifest, ``p_chosen``
        becomes ``p_label_wrong``); keep them at ``weight`` 0.5 with
        ``p_chosen`` shrunk halfway to 0.5; or keep them and only count them.
    contamination : ContaminationResult, DataFrame or sequence of str, optional
        Precomputed ``pq.contamination(data, benchmarks)`` (or a table with
        ``prompt_id``, or the prompt ids): their comparisons are dropped
        (``contaminated``, naming the benchmark row).
    guards : sequence of str
        Default ``('empty', 'identical', 'duplicate')``; add
        ``'near_identical'``, ``'near_duplicate'``, ``'truncation'`` (see
        ``prefqa.pairs._guards`` for the measures).
    near_identical_threshold, near_duplicate_threshold : float
        Word-bigram Jaccard similarity at or above which a pair is dropped.
    max_tokens : int, optional
        Token budget of prompt + response for the ``'truncation'`` guard.
    tokenizer : callable, object with ``.encode``, or path, optional
        Maps a text to a sequence of token ids (for ``'truncation'``); a
        path is a local ``tokenizer.json`` (the ``tokenizers`` package).
        The guard keeps the first ``max_tokens`` tokens of prompt + response
        (TRL's ``truncation_mode='keep_start'``); ``pq.lint`` reports the same
        pairs and also models ``keep_end`` and ``max_prompt_tokens``.
    length_balance : bool or {'subsample', 'reweight'}
        Balance P(chosen is longer) to 0.5 +/- ``length_tolerance`` within
        ``n_length_buckets`` buckets of length (``True`` = subsample);
        before/after shares are in ``PairSet.length_balance``.
    max_pairs_per_prompt : int, optional
        Keep at most this many pairs per prompt (highest agreement first).
    rng : int or Generator, optional
        Seeds random tie-breaks, ``best_vs_random`` and subsampling.

    Returns
    -------
    PairSet
        ``pairs``, ``ties``, ``dropped`` (one row per unit not kept, with
        ``reason_code`` and ``reason``), counts, settings, the input
        fingerprint, the estimated flip rate (``pq.consensus``' definition,
        ``mean(1 - p_chosen)``, over the kept pairs; for the majority vote
        only pairs with 2+ judgments count) and ``manifest()``.

    Raises
    ------
    SchemaError
        Bad options, no response texts, or a policy without ratings.
    InsufficientDataError
        ``label='dawid_skene'`` or ``'model'`` without annotator ids.

    Examples
    --------
    >>> import pandas as pd
    >>> import prefqa as pq
    >>> j = pd.DataFrame({"comparison_id": ["c1", "c1", "c2", "c2"], "annotator_id": list("xyxy"),
    ...                   "choice": ["b", "b", "a", "tie"], "prompt_id": ["p"] * 4,
    ...                   "response_a_id": ["r1", "r1", "r3", "r3"], "response_b_id": ["r2", "r2", "r4", "r4"]})
    >>> r = pd.DataFrame({"response_id": ["r1", "r2", "r3", "r4"], "prompt_id": ["p"] * 4,
    ...                   "text": ["Paris.", "It is Paris.", "Lyon", "  "]})
    >>> ps = pq.build_pairs(pq.PreferenceData(j, r, pd.DataFrame({"prompt_id": ["p"], "text": ["Capital?"]})))
    >>> ps.pairs[["chosen", "rejected", "agreement"]].values.tolist()
    [['It is Paris.', 'Paris.', 1.0]]
    >>> ps.dropped[["comparison_id", "reason_code"]].values.tolist()
    [['c2', 'no_majority']]
    """
    from ..engine import _pairs as _engine_pairs  # pq.scan data: decide on text keys, texts stay in the engine
    if _engine_pairs.is_scanned(data):
        kw = {k: v for k, v in locals().items() if k not in ("data", "_engine_pairs")}
        return _engine_pairs.linked(build_pairs(_engine_pairs.keyed(data, kw), **kw), data)
    guards = (guards,) if isinstance(guards, str) else tuple(guards)
    suspects, contaminated = cleaning_inputs(suspect_labels, suspect_action, contamination, policy)
    _validate(data, label, min_agreement, min_judgments, ties, policy, margin, flagged, guards,
              near_identical_threshold, near_duplicate_threshold, max_tokens, tokenizer,
              length_balance, length_tolerance, n_length_buckets, max_pairs_per_prompt,
              annotator_flags, prompt_flags)
    gen = as_generator(rng)
    excl_a, excl_p = set(map(str, exclude_annotators)), set(map(str, exclude_prompts))
    flag_a, flag_p = _flags(data, flagged, annotator_flags, prompt_flags)
    if policy is None:
        u, reason = _judged_units(data, label, ties, min_judgments, min_agreement,
                                  excl_a, excl_p, flag_a, flag_p, flagged)
        n_input, unit = data.n_comparisons, "comparison"
    else:
        u, reason = _rated_units(data, policy, margin, excl_a | (flag_a if flagged == "drop" else set()),
                                       excl_p | (flag_p if flagged == "drop" else set()), gen)
        n_input, unit = len(reason), "candidate"
    n_u = len(reason)
    u["flipped"] = np.zeros(n_u, dtype=bool)
    detail = np.full(n_u, "", dtype=object)
    cleaning = apply_cleaning(u, reason, detail, suspects, suspect_action, contaminated,
                              data.comparisons()["comparison_id"])
    texts = data.responses["text"]
    ptab = data.prompts
    pos = positions(pd.concat([u["id_1"], u["id_2"]], ignore_index=True), data.responses["response_id"])
    pos_1, pos_2 = pos[:n_u], pos[n_u:]
    cpos, rpos = np.where(u["swap"], pos_2, pos_1), np.where(u["swap"], pos_1, pos_2)
    reason[(reason == None) & ((cpos < 0) | (rpos < 0))] = "missing_text"  # noqa: E711
    ppos = positions(u["prompt_id"], ptab["prompt_id"]) if len(ptab) else np.full(n_u, -1, dtype=np.int64)
    pid_code, pid_uniques = pd.factorize(u["prompt_id"], use_na_sentinel=False)
    if len(ptab):  # prompts are the same when their texts are
        p_code = text_codes(ptab["text"])[0]
        pkey = np.where(ppos >= 0, p_code[np.maximum(ppos, 0)], -1 - pid_code)
    else:
        pkey = -1 - pid_code
    apply_guards(u, reason, detail, guards, texts, cpos, rpos, ptab, ppos, pkey,
                 near_identical_threshold, near_duplicate_threshold, tokenizer, max_tokens)
    alive_pair = (reason == None) & ~u["is_tie"]  # noqa: E711
    if max_pairs_per_prompt is not None:
        cut = cap_per_prompt(pkey, u["agreement"], u["margin"], alive_pair, int(max_pairs_per_prompt))
        reason[cut] = "prompt_cap"
        alive_pair &= ~cut
    balance_report = pd.DataFrame()
    if length_balance:
        lens = texts.str.len().to_numpy(dtype=np.float64)
        mode = "reweight" if length_balance == "reweight" else "subsample"
        cut, w, balance_report = balance_lengths(
            lens[cpos], lens[rpos], alive_pair, mode=mode, tolerance=length_tolerance,
            n_buckets=int(n_length_buckets), rng=gen)
        reason[cut] = "length_balance"
        u["weight"] = u["weight"] * w
    pairs, tie_frame, dropped = frames(data, u, reason, detail, texts, cpos, rpos, ptab, ppos)
    check_accounting(n_input, len(pairs) + len(tie_frame), len(dropped))
    flip = flip_rate(pairs, label if policy is None else "score")
    warnings = []
    if not len(pairs):
        warnings.append("no pairs were kept; see `dropped` for the reasons.")
    unknown = cleaning.get("suspect_labels", {}).get("n_unknown_ids", 0)
    if unknown:
        warnings.append(f"{unknown:,} comparison ids in `suspect_labels` are not in the data (computed on other "
                        "data?); they were ignored.")
    settings = {
        "label": label if policy is None else "score", "min_agreement": float(min_agreement),
        "min_judgments": int(min_judgments), "ties": ties, "policy": policy, "margin": float(margin),
        "exclude_annotators": sorted(excl_a), "exclude_prompts": sorted(excl_p), "flagged": flagged,
        "n_flagged_annotators": len(flag_a), "n_flagged_prompts": len(flag_p), "guards": list(guards),
        "near_identical_threshold": float(near_identical_threshold),
        "near_duplicate_threshold": float(near_duplicate_threshold),
        "max_tokens": None if max_tokens is None else int(max_tokens),
        "tokenizer": None if tokenizer is None else type(tokenizer).__name__,
        "length_balance": length_balance, "length_tolerance": float(length_tolerance),
        "n_length_buckets": int(n_length_buckets),
        "max_pairs_per_prompt": None if max_pairs_per_prompt is None else int(max_pairs_per_prompt),
        "suspect_action": suspect_action if suspects is not None else None,
        "n_suspect_labels": None if suspects is None else len(suspects),
        "n_contaminated_prompts": None if contaminated is None else len(contaminated),
        "rng": rng if isinstance(rng, int) else None,
    }
    return PairSet(
        pairs=pairs, ties=tie_frame, dropped=dropped, unit=unit, n_input=n_input,
        n_judgments=data.n_judgments, n_annotators=data.n_annotators,
        n_prompts=int(pid_uniques.notna().sum()), settings=settings,
        flip_rate=flip, length_balance=balance_report, conversational=data.conversational,
        source_fingerprint=data.fingerprint(), warnings=tuple(warnings), cleaning=cleaning,
    )

