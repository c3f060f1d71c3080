"""Reward-model scores and benchmark contamination for :func:`~prefqa.simulate.simulate`.

``rm_noise=s`` adds the judgment columns ``rm_score_a`` / ``rm_score_b``
(and an ``rm_score`` column on the responses table): each response's latent
quality ``q`` plus ``N(0, s^2)`` noise drawn once per response, so every
judgment showing a response carries the same score.

``contaminate=n`` (a count, or a share of prompts when a float in (0, 1))
gives the prompts distinct texts of 14-40 pseudo-words (so that only planted
copies overlap) and builds a benchmark frame, :attr:`SimulationTruth.benchmark`
(one string column ``text``), holding copies of ``n`` prompts and as many
unrelated benchmark prompts, shuffled. The copies cycle through five kinds
(:attr:`SimulationTruth.contamination` gives each copy's ``prompt_id``,
``benchmark_row`` and ``edit``):

* ``verbatim``: the prompt text unchanged;
* ``case``: upper-cased;
* ``spacing``: spaces doubled, a tab and a newline inserted, padded at both ends;
* ``punctuation``: commas after some words, the final punctuation changed;
* ``appended``: a sentence appended ("Answer in one short paragraph.").

Every prompt has at least 14 words, so each copy shares a 13-word n-gram
with its prompt after normalising case, whitespace and punctuation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import SchemaError

__all__ = ["EDITS", "benchmark_frame", "contaminated_count", "prompt_texts"]

EDITS = ("verbatim", "case", "spacing", "punctuation", "appended")
_SYLLABLES = np.array([c + v for c in "bdfgklmnprstvz" for v in "aeiou"], dtype=object)  # 70 syllables


def contaminated_count(contaminate: int | float | None, n_prompts: int) -> int:
    """Return how many prompts to copy, checking the argument."""
    if contaminate is None:
        return 0
    if isinstance(contaminate, bool) or not isinstance(contaminate, (int, float, np.integer, np.floating)):
        raise SchemaError(f"`contaminate` is a count of prompts or a share in (0, 1); got {contaminate!r}.")
    if isinstance(contaminate, (float, np.floating)) and not float(contaminate).is_integer():
        if not 0.0 < contaminate < 1.0:
            raise SchemaError(f"`contaminate` as a share must lie in (0, 1); got {contaminate!r}.")
        return int(round(float(contaminate) * n_prompts))
    n = int(contaminate)
    if not 0 <= n <= n_prompts:
        raise SchemaError(f"`contaminate` = {n} prompts must be between 0 and `n_prompts` ({n_prompts}).")
    return n


def _words(gen: np.random.Generator, n: int) -> np.ndarray:
    """``n`` pseudo-words of 2-3 syllables (4,900 + 343,000 possible words)."""
    syl = _SYLLABLES[gen.integers(0, len(_SYLLABLES), (n, 3))]
    three = gen.random(n) < 0.5
    return syl[:, 0] + syl[:, 1] + np.where(three, syl[:, 2], "")


def prompt_texts(gen: np.random.Generator, n: int) -> np.ndarray:
    """``n`` prompt texts: 'Explain' and 13-39 pseudo-words, ending in '?'."""
    lengths = gen.integers(13, 40, n)
    words = _words(gen, int(lengths.sum()))
    ends = np.cumsum(lengths)
    starts = ends - lengths
    bodies = [" ".join(words[s:e]) for s, e in zip(starts.tolist(), ends.tolist())]  # one join per prompt
    return np.char.add(np.char.add("Explain ", np.array(bodies, dtype=str)), "?").astype(object)


def _edit(text: str, kind: str, gen: np.random.Generator) -> str:
    if kind == "case":
        return text.upper()
    if kind == "spacing":
        words = text.split(" ")
        cut = len(words) // 2
        return "  " + "  ".join(words[:cut]) + "\t" + " ".join(words[cut:-1]) + "\n" + words[-1] + "  "
    if kind == "punctuation":
        words = text.rstrip("?").split(" ")
        every = int(gen.integers(2, 5))
        return " ".join(w + ("," if i % every == every - 1 else "") for i, w in enumerate(words)) + "!"
    if kind == "appended":
        return text + " Answer in one short paragraph."
    return text


def benchmark_frame(gen: np.random.Generator, prompt_ids: np.ndarray, texts: np.ndarray,
                    n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the benchmark frame and the contamination table (prompt_id, benchmark_row, edit)."""
    chosen = np.sort(gen.choice(len(prompt_ids), n, replace=False))
    edits = np.array(EDITS, dtype=object)[np.arange(n) % len(EDITS)]
    copies = [_edit(str(texts[i]), str(e), gen) for i, e in zip(chosen.tolist(), edits.tolist())]  # n small edits
    unrelated = prompt_texts(gen, max(n, 10)).tolist()
    all_texts = np.array(copies + unrelated, dtype=object)
    order = gen.permutation(len(all_texts))
    row_of = np.empty(len(all_texts), dtype=np.int64)
    row_of[order] = np.arange(len(all_texts))
    bench = pd.DataFrame({"text": pd.Series(all_texts[order], dtype="str")})
    table = pd.DataFrame({"prompt_id": prompt_ids[chosen], "benchmark_row": row_of[:n], "edit": edits})
    return bench, table.sort_values("benchmark_row", ignore_index=True)


def rm_scores(gen: np.random.Generator, q: np.ndarray, rm_noise: float | None) -> np.ndarray | None:
    """Per comparison x canonical side: latent quality plus N(0, rm_noise^2), or None."""
    if rm_noise is None:
        return None
    if isinstance(rm_noise, bool) or not np.isfinite(rm_noise) or rm_noise < 0:
        raise SchemaError(f"`rm_noise` is a standard deviation and must be finite and >= 0; got {rm_noise!r}.")
    return q + gen.normal(0.0, float(rm_noise), q.shape) if rm_noise > 0 else q.copy()
