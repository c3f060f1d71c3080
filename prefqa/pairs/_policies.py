"""Turn rated multi-completion data (a score per response) into candidate pairs.

Every response's score is the mean of its ratings (over annotators and
aspects). Within each prompt:

``best_vs_worst``
    The highest-scored response against the lowest-scored one (distilabel's
    max/min binarisation). Equal best or worst scores are broken at random.
``best_vs_random``
    The highest-scored response against one response drawn at random from
    those scored lower (the HF UltraFeedback binarisation, except that
    equal-scored responses are never drawn).
``all_above_margin``
    Every pair of responses whose scores differ by more than ``margin``.
``adjacent``
    Every response against every response on the next lower distinct score
    level (5 > 4 > 3: 5-vs-4 and 4-vs-3, not 5-vs-3).

With every policy a pair needs ``score_chosen - score_rejected > margin``
(``margin`` defaults to 0), so equal scores never produce a pair. Prompts
that yield no pair are reported as one dropped row each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InsufficientDataError
from ..schema import PreferenceData

__all__ = ["POLICIES", "check_rated_prompts", "rated_candidates", "within_group_pairs"]

POLICIES: tuple[str, ...] = ("best_vs_worst", "best_vs_random", "all_above_margin", "adjacent")


def within_group_pairs(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (earlier, later) row positions of every pair of rows sharing a group value.

    ``group`` must be sorted (equal values contiguous).

    Examples
    --------
    >>> e, l = within_group_pairs(np.array([0, 0, 0, 1, 2, 2]))
    >>> list(zip(e.tolist(), l.tolist()))
    [(0, 1), (0, 2), (1, 2), (4, 5)]
    """
    n = len(group)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    later = np.repeat(np.arange(n), rank)
    offs = np.arange(len(later)) - np.repeat(np.cumsum(rank) - rank, rank)
    earlier = np.repeat(np.repeat(starts, sizes), rank) + offs
    return earlier.astype(np.int64), later.astype(np.int64)


def _response_scores(data: PreferenceData, excluded: set[str]) -> pd.DataFrame:
    r = data.ratings
    assert r is not None  # for mypy: build_pairs refuses a policy on data without ratings
    if excluded:
        r = r[~r["annotator_id"].isin(excluded)]
    grouped = r.groupby("response_id", sort=False)
    out = grouped["score"].agg(["mean", "size"]).rename(columns={"mean": "score", "size": "n_ratings"})
    if "model" in r:
        out["model"] = grouped["model"].first()
    resp = data.responses.set_index("response_id")
    out["prompt_id"] = out.index.map(resp["prompt_id"]) if len(resp) else pd.NA
    if "prompt_id" in r:
        out["prompt_id"] = out["prompt_id"].fillna(grouped["prompt_id"].first())
    return out


def rated_candidates(
    data: PreferenceData, policy: str, margin: float, excluded: set[str], rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (candidates, empty_prompts) for a rating policy.

    ``candidates`` has one row per candidate pair: ``prompt_id``,
    ``chosen_id``, ``rejected_id``, ``chosen_score``, ``rejected_score``,
    ``chosen_model``, ``rejected_model``, ``n_judgments`` (ratings of the
    two responses). ``empty_prompts`` has one row per prompt without a pair:
    ``prompt_id`` and ``reason_code``.
    """
    s = _response_scores(data, excluded)
    s = s[s["prompt_id"].notna()]
    g_codes, g_labels = pd.factorize(s["prompt_id"], sort=False)  # order of first appearance
    score = s["score"].to_numpy(dtype=np.float64)
    key = rng.random(len(s))
    order = np.lexsort((key, -score, g_codes))
    g, sc = g_codes[order], score[order]
    rid = s.index.to_numpy(dtype=object)[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if len(g) else np.zeros(0, np.int64)
    sizes = np.diff(np.r_[starts, len(g)])
    best = np.repeat(starts, sizes)
    if policy == "best_vs_worst":
        worst = starts + sizes - 1
        earlier, later = starts, worst
    elif policy == "best_vs_random":
        eligible = (sc[best] - sc) > margin
        pick = np.where(eligible, rng.random(len(g)), -1.0)
        frame = pd.DataFrame({"g": g, "pick": pick})
        chosen_row = frame[eligible].groupby("g")["pick"].idxmax().to_numpy(dtype=np.int64)
        earlier, later = best[chosen_row], chosen_row
    else:
        earlier, later = within_group_pairs(g)
        if policy == "adjacent":
            new_level = np.r_[True, (g[1:] != g[:-1]) | (sc[1:] != sc[:-1])]
            level = np.cumsum(new_level) - np.repeat(np.cumsum(new_level)[starts], sizes)
            keep = level[later] == level[earlier] + 1
            earlier, later = earlier[keep], later[keep]
    keep = (sc[earlier] - sc[later]) > margin
    earlier, later = earlier[keep], later[keep]
    n_rat = s["n_ratings"].to_numpy(dtype=np.int64)[order]
    models = s["model"].to_numpy(dtype=object)[order] if "model" in s else np.full(len(g), None, dtype=object)
    cand = pd.DataFrame({
        "prompt_id": g_labels.to_numpy(dtype=object)[g[earlier]],
        "chosen_id": rid[earlier], "rejected_id": rid[later],
        "chosen_score": sc[earlier], "rejected_score": sc[later],
        "chosen_model": models[earlier], "rejected_model": models[later],
        "n_judgments": n_rat[earlier] + n_rat[later],
        "group": g[earlier],
    }).sort_values(["group"], kind="stable").drop(columns="group").reset_index(drop=True)
    has_pair = np.zeros(len(g_labels), dtype=bool)
    has_pair[g[earlier]] = True
    n_distinct = pd.Series(sc[starts]).to_numpy() != pd.Series(sc[starts + sizes - 1]).to_numpy()
    reason = np.where(sizes < 2, "single_response", np.where(~n_distinct, "equal_scores", "within_margin"))
    empty = pd.DataFrame({"prompt_id": g_labels.to_numpy(dtype=object)[~has_pair],
                          "reason_code": reason[~has_pair]})
    return cand, empty


def check_rated_prompts(data: PreferenceData, policy: str) -> None:
    """Rated pairs are formed within a prompt: refuse ratings whose responses have no prompt ids at all."""
    resp = data.responses
    pid = resp["prompt_id"] if "prompt_id" in resp else pd.Series(dtype="object")
    ratings = data.ratings
    assert ratings is not None  # for mypy: build_pairs refuses a policy on data without ratings
    rated = ratings["response_id"]
    known = pid[resp["response_id"].isin(rated).to_numpy()].notna() if len(resp) else pd.Series(dtype=bool)
    if "prompt_id" in ratings:
        has_prompt = bool(ratings["prompt_id"].notna().any())
    else:
        has_prompt = bool(known.any())
    if not has_prompt:
        raise InsufficientDataError(
            f"policy={policy!r} pairs responses of the same prompt, but none of the {rated.nunique():,} rated "
            "responses has a prompt id (each response is then its own unit), so no pair can be formed. Read "
            "a file with a `prompt` or `prompt_id` column, or map yours with pq.read(..., "
            "mapping={'YOUR_COLUMN': 'prompt_id'})."
        )
