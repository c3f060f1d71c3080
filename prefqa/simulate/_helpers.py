"""Small building blocks of the simulator: ids, Arrow gathers, argument checks, distinct draws, texts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import SchemaError
from ._truth import KINDS

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
