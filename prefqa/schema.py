"""The data model: :class:`PreferenceData` and its validation.

``PreferenceData`` holds normalized pandas tables keyed by string ids
(DESIGN.md section 1). Texts are stored once in ``responses`` and ``prompts``;
``judgments`` holds one row per annotator x comparison and refers to them by id.

Conventions every analysis relies on
------------------------------------
* ``choice`` is ``'a'``, ``'b'`` or ``'tie'``; ``'a'`` is the response shown
  first. Only position analyses read it as displayed.
* Agreement, consensus and pairs use :meth:`PreferenceData.oriented_choice`,
  which says *which response* won, whatever the display order.
* ``annotator_id`` may be missing (``<NA>``) for data without annotators;
  :attr:`PreferenceData.has_annotators` is then ``False``.
* ``order_known`` is ``False`` when the reader could not know the display
  order; ``a``/``b`` were then placed by a stable hash and carry no signal.
* Every model works on integer codes from :meth:`PreferenceData.codes`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from ._ids import hash_arrow_values, stable_id
from ._load_report import LoadReport
from .errors import SchemaError

__all__ = [
    "CHOICES",
    "JUDGMENT_OPTIONAL",
    "JUDGMENT_REQUIRED",
    "PROMPT_COLUMNS",
    "RANKING_COLUMNS",
    "RATING_REQUIRED",
    "RESPONSE_COLUMNS",
    "LoadReport",
    "PreferenceData",
    "stable_id",
]

CHOICES: tuple[str, ...] = ("a", "b", "tie")
JUDGMENT_REQUIRED: tuple[str, ...] = ("comparison_id", "annotator_id", "choice")
JUDGMENT_OPTIONAL: tuple[str, ...] = (
    "prompt_id",
    "response_a_id",
    "response_b_id",
    "model_a",
    "model_b",
    "strength",
    "seconds",
    "timestamp",
)
ID_COLUMNS: tuple[str, ...] = (
    "comparison_id",
    "annotator_id",
    "prompt_id",
    "response_a_id",
    "response_b_id",
    "model_a",
    "model_b",
)
RESPONSE_COLUMNS: tuple[str, ...] = ("response_id", "prompt_id", "text")
PROMPT_COLUMNS: tuple[str, ...] = ("prompt_id", "text")
RATING_REQUIRED: tuple[str, ...] = ("response_id", "annotator_id", "score")
RANKING_COLUMNS: tuple[str, ...] = ("ranking_id", "annotator_id", "prompt_id", "response_id", "rank")


def _missing_columns_error(table: str, missing: list[str], found: list[str]) -> SchemaError:
    mapping = ", ".join(f"'<your column>': '{m}'" for m in missing)
    return SchemaError(
        f"`{table}` is missing required column(s) {missing}; found {found}. "
        f"Rename them, for example pq.read(source, mapping={{{mapping}}})."
    )


def _as_id(series: pd.Series) -> pd.Series:
    """Cast an id column to pandas' string dtype, keeping missing values missing."""
    if pd.api.types.is_float_dtype(series):
        # 1.0 -> "1" for integer-valued floats that pandas made from ints with NaN
        as_int = series.dropna()
        if (as_int == np.floor(as_int)).all():
            return series.astype("Int64").astype("str")
    return series.astype("str")


class PreferenceData:
    """Normalized preference judgments, texts and (optional) ratings.

    Parameters
    ----------
    judgments : DataFrame
        One row per annotator x comparison. Required columns
        ``comparison_id``, ``annotator_id`` (may be all missing), ``choice``
        (``'a'``, ``'b'``, ``'tie'``). Optional: ``prompt_id``,
        ``response_a_id``, ``response_b_id``, ``model_a``, ``model_b``,
        ``strength`` (> 0 favours a), ``seconds``, ``timestamp`` and any extra
        columns (kept as strata).
    responses : DataFrame, optional
        ``response_id``, ``prompt_id``, ``text``.
    prompts : DataFrame, optional
        ``prompt_id``, ``text`` (and optionally ``messages`` holding a JSON
        list of ``{role, content}`` dicts for conversational data).
    ratings : DataFrame, optional
        ``response_id``, ``annotator_id``, ``score`` plus optional ``model``,
        ``aspect``, ``prompt_id``.
    rankings : DataFrame, optional
        ``ranking_id``, ``annotator_id``, ``prompt_id``, ``response_id``,
        ``rank`` (1 = best), kept for Plackett-Luce.
    order_known : bool
        ``False`` when the display order of a/b is unknown.
    load_report : LoadReport, optional
        Set by readers.
    meta : dict, optional
        Free-form provenance (``source_format``, ``conversational``, ...).

    Raises
    ------
    SchemaError
        Missing columns, unknown choices, missing comparison ids, response
        ids not found in ``responses``, or a comparison whose judgments name
        different response pairs or prompts.

    Examples
    --------
    >>> import pandas as pd
    >>> j = pd.DataFrame({"comparison_id": ["c1", "c1", "c2"],
    ...                   "annotator_id": ["x", "y", "x"],
    ...                   "choice": ["a", "b", "tie"]})
    >>> data = PreferenceData(j)
    >>> data.n_judgments, data.n_comparisons, data.n_annotators
    (3, 2, 2)
    """

    __slots__ = (
        "_cache",
        "_judgments",
        "_prompts",
        "_rankings",
        "_ratings",
        "_responses",
        "load_report",
        "meta",
        "order_known",
    )

    def __init__(
        self,
        judgments: pd.DataFrame,
        responses: pd.DataFrame | None = None,
        prompts: pd.DataFrame | None = None,
        ratings: pd.DataFrame | None = None,
        *,
        rankings: pd.DataFrame | None = None,
        order_known: bool = True,
        load_report: LoadReport | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(judgments, pd.DataFrame):
            raise SchemaError(f"`judgments` must be a pandas DataFrame; got {type(judgments).__name__}.")
        self._judgments = _validate_judgments(judgments)
        self._responses = _text_table(responses, "responses", RESPONSE_COLUMNS, ("response_id",))
        self._prompts = _text_table(prompts, "prompts", PROMPT_COLUMNS, ("prompt_id",))
        self._ratings = _validate_ratings(ratings)
        self._rankings = _validate_table(rankings, "rankings", RANKING_COLUMNS, ())
        self.order_known = bool(order_known)
        self.load_report = load_report
        self.meta = dict(meta or {})
        self._cache: dict[str, Any] = {}
        _check_references(self)

    # ----------------------------------------------------------------- tables
    @property
    def judgments(self) -> pd.DataFrame:
        """One row per annotator x comparison (treat as read-only)."""
        return self._judgments

    @property
    def responses(self) -> pd.DataFrame:
        """One row per response: ``response_id``, ``prompt_id``, ``text``."""
        return self._responses

    @property
    def prompts(self) -> pd.DataFrame:
        """One row per prompt: ``prompt_id``, ``text``."""
        return self._prompts

    @property
    def ratings(self) -> pd.DataFrame | None:
        """Absolute scores, one row per annotator x response, or ``None``."""
        return self._ratings

    @property
    def rankings(self) -> pd.DataFrame | None:
        """Rankings in long form (``rank`` 1 = best), or ``None``."""
        return self._rankings

    # ----------------------------------------------------------------- counts
    @property
    def n_judgments(self) -> int:
        """Number of judgment rows."""
        return len(self._judgments)

    @property
    def n_comparisons(self) -> int:
        """Number of distinct comparisons."""
        return len(self.codes("comparison_id")[1])

    @property
    def n_annotators(self) -> int:
        """Number of distinct non-missing annotators."""
        return len(self.codes("annotator_id")[1])

    @property
    def n_prompts(self) -> int:
        """Number of distinct prompts among the judgments (0 if unknown)."""
        if "prompt_id" not in self._judgments:
            return 0
        return len(self.codes("prompt_id")[1])

    @property
    def n_ratings(self) -> int:
        """Number of rating rows (0 without ratings)."""
        return 0 if self._ratings is None else len(self._ratings)

    @property
    def has_annotators(self) -> bool:
        """``True`` when at least one judgment names its annotator."""
        return self.n_annotators > 0

    @property
    def has_texts(self) -> bool:
        """``True`` when judgments point to response texts."""
        return "response_a_id" in self._judgments and len(self._responses) > 0

    @property
    def has_models(self) -> bool:
        """``True`` when judgments name the models compared."""
        j = self._judgments
        return "model_a" in j and "model_b" in j and bool(j["model_a"].notna().any())

    @property
    def conversational(self) -> bool:
        """``True`` when the source held conversational message lists."""
        return bool(self.meta.get("conversational", False))

    # ------------------------------------------------------------ integer views
    def codes(self, column: str) -> tuple[np.ndarray, pd.Index]:
        """Return integer codes and their labels for a judgments column (cached).

        Missing values get code ``-1``. Labels are sorted, so codes do not
        depend on row order.

        Examples
        --------
        >>> j = pd.DataFrame({"comparison_id": ["c2", "c1"], "annotator_id": ["x", None],
        ...                   "choice": ["a", "b"]})
        >>> codes, labels = PreferenceData(j).codes("annotator_id")
        >>> codes.tolist(), list(labels)
        ([0, -1], ['x'])
        """
        key = "codes:" + column
        if key not in self._cache:
            if column not in self._judgments:
                raise SchemaError(
                    f"`judgments` has no column {column!r}; found {list(self._judgments.columns)}."
                )
            codes, labels = pd.factorize(self._judgments[column], sort=True, use_na_sentinel=True)
            self._cache[key] = (codes.astype(np.int64), pd.Index(labels, name=column))
        return self._cache[key]

    def model_codes(self) -> tuple[np.ndarray, np.ndarray, pd.Index]:
        """Return codes of ``model_a`` and ``model_b`` over one shared label index.

        Raises
        ------
        SchemaError
            When the judgments name no models.
        """
        if "model_codes" not in self._cache:
            if not self.has_models:
                raise SchemaError(
                    "these judgments name no models (`model_a`, `model_b`); fit over responses "
                    "instead (over='response') or map your model columns with `mapping=`."
                )
            j = self._judgments
            both = pd.concat([j["model_a"], j["model_b"]], ignore_index=True)
            codes, labels = pd.factorize(both, sort=True, use_na_sentinel=True)
            n = len(j)
            self._cache["model_codes"] = (
                codes[:n].astype(np.int64), codes[n:].astype(np.int64), pd.Index(labels, name="model")
            )
        return self._cache["model_codes"]

    def choice_codes(self) -> np.ndarray:
        """Return the displayed choice as ``int8``: 0 = a, 1 = b, 2 = tie."""
        if "choice_codes" not in self._cache:
            c = self._judgments["choice"].to_numpy(dtype=object)
            out = np.full(len(c), 2, dtype=np.int8)
            out[c == "a"] = 0
            out[c == "b"] = 1
            self._cache["choice_codes"] = out
        return self._cache["choice_codes"]

    def flipped(self) -> np.ndarray:
        """Return ``True`` where a judgment saw its comparison in the other order.

        Each comparison's canonical orientation is the (response_a_id,
        response_b_id) of its first judgment row. Without response ids, the
        displayed order is the identity and nothing is flipped.
        """
        if "flipped" not in self._cache:
            j = self._judgments
            if "response_a_id" not in j:
                out = np.zeros(len(j), dtype=bool)
            else:
                comp, _ = self.codes("comparison_id")
                first = np.full(comp.max() + 1 if len(comp) else 0, -1, dtype=np.int64)
                # first row of each comparison: reversed assignment keeps the smallest index
                idx = np.arange(len(comp))
                first[comp[::-1]] = idx[::-1]
                a = j["response_a_id"].to_numpy(dtype=object)
                out = a != a[first[comp]]
            self._cache["flipped"] = out
        return self._cache["flipped"]

    def oriented_choice(self) -> np.ndarray:
        """Return which response won as ``int8``, independent of display order.

        0 = the comparison's canonical first response won, 1 = the second
        won, 2 = tie. Use this for agreement, consensus and pairs; use
        :meth:`choice_codes` only for position analyses.

        Examples
        --------
        >>> j = pd.DataFrame({"comparison_id": ["c", "c"], "annotator_id": ["x", "y"],
        ...                   "choice": ["a", "b"], "response_a_id": ["r1", "r2"],
        ...                   "response_b_id": ["r2", "r1"]})
        >>> PreferenceData(j).oriented_choice().tolist()  # both picked r1
        [0, 0]
        """
        if "oriented" not in self._cache:
            c = self.choice_codes().copy()
            swap = self.flipped() & (c < 2)
            c[swap] = 1 - c[swap]
            self._cache["oriented"] = c
        return self._cache["oriented"]

    def oriented_strength(self) -> np.ndarray | None:
        """Return ``strength`` signed toward the canonical first response, or ``None``."""
        if "strength" not in self._judgments:
            return None
        s = self._judgments["strength"].to_numpy(dtype=float, na_value=np.nan)
        return np.where(self.flipped(), -s, s)

    def comparisons(self) -> pd.DataFrame:
        """Return one row per comparison in its canonical orientation.

        Columns: ``comparison_id`` plus, when present, ``prompt_id``,
        ``response_1_id``, ``response_2_id``, ``model_1``, ``model_2`` and
        ``n_judgments``. The row order follows :meth:`codes` of
        ``comparison_id``.
        """
        if "comparisons" not in self._cache:
            j = self._judgments
            comp, labels = self.codes("comparison_id")
            first = np.full(len(labels), -1, dtype=np.int64)
            idx = np.arange(len(comp))
            first[comp[::-1]] = idx[::-1]
            out = pd.DataFrame({"comparison_id": labels.to_numpy()})
            rename = {"prompt_id": "prompt_id", "response_a_id": "response_1_id",
                      "response_b_id": "response_2_id", "model_a": "model_1", "model_b": "model_2"}
            for src, dst in rename.items():
                if src in j:
                    out[dst] = j[src].to_numpy()[first]
            out["n_judgments"] = np.bincount(comp, minlength=len(labels))
            self._cache["comparisons"] = out
        return self._cache["comparisons"]

    # ------------------------------------------------------------------ views
    def judgments_with_text(self) -> pd.DataFrame:
        """Return the judgments with ``prompt``, ``response_a``, ``response_b`` joined in."""
        out = self._judgments.copy()
        if "prompt_id" in out and len(self._prompts):
            out["prompt"] = out["prompt_id"].map(self._prompts.set_index("prompt_id")["text"])
        if len(self._responses):
            texts = self._responses.set_index("response_id")["text"]
            for side in ("a", "b"):
                col = f"response_{side}_id"
                if col in out:
                    out[f"response_{side}"] = out[col].map(texts)
        return out

    def subset(self, mask: np.ndarray | pd.Series) -> PreferenceData:
        """Return a new ``PreferenceData`` with the judgments where ``mask`` is true.

        Texts, ratings and rankings are kept whole; the load report is kept.
        """
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.n_judgments,):
            raise SchemaError(f"mask must have one entry per judgment ({self.n_judgments}); got shape {mask.shape}.")
        return PreferenceData(
            self._judgments.loc[mask].reset_index(drop=True), self._responses, self._prompts,
            self._ratings, rankings=self._rankings, order_known=self.order_known,
            load_report=self.load_report, meta=self.meta,
        )

    def fingerprint(self) -> str:
        """Return a sha256 hex digest of the tables' contents (cached).

        The tables are converted to Arrow and each column's *values* hashed
        (the null mask, then the data: offsets rebased and only the bytes the
        column uses), so equal tables hash equal however they were built or
        filtered, and a million judgments with texts take well under a second.

        Examples
        --------
        >>> j = pd.DataFrame({"comparison_id": ["c1", "c2", "c3"], "annotator_id": ["x", None, "y"],
        ...                   "choice": ["a", "b", "tie"]})
        >>> a = PreferenceData(j).subset(np.array([True, False, True]))
        >>> b = PreferenceData(j.iloc[[0, 2]].reset_index(drop=True))
        >>> a.fingerprint() == b.fingerprint() != PreferenceData(j).fingerprint()
        True
        """
        if "fingerprint" not in self._cache:
            import pyarrow as pa

            h = hashlib.sha256()
            for name in ("_judgments", "_responses", "_prompts", "_ratings", "_rankings"):
                table = getattr(self, name)
                h.update(name.encode())
                if table is None or not len(table):
                    continue
                try:
                    arrow = pa.Table.from_pandas(table, preserve_index=False).combine_chunks()
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                    # a column Arrow cannot type (lists among strings): hash its values' text form
                    arrow = pa.Table.from_pandas(table.astype({c: "str" for c in table.columns
                                                               if table[c].dtype == object}),
                                                 preserve_index=False).combine_chunks()
                for col_name, column in zip(arrow.column_names, arrow.columns):
                    h.update(f"{col_name}:{column.type}".encode())
                    for chunk in column.chunks:
                        hash_arrow_values(h, chunk)
            h.update(str(self.order_known).encode())
            self._cache["fingerprint"] = h.hexdigest()
        return self._cache["fingerprint"]

    def __repr__(self) -> str:
        return (
            f"PreferenceData({self.n_judgments:,} judgments, {self.n_comparisons:,} comparisons, "
            f"{self.n_annotators:,} annotators, {self.n_prompts:,} prompts, "
            f"{len(self._responses):,} responses, {self.n_ratings:,} ratings, "
            f"order_known={self.order_known})"
        )


# --------------------------------------------------------------- validation
def _validate_judgments(j: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in JUDGMENT_REQUIRED if c not in j.columns]
    if missing:
        raise _missing_columns_error("judgments", missing, list(map(str, j.columns)))
    j = j.reset_index(drop=True).copy()
    for col in ID_COLUMNS:
        if col in j:
            j[col] = _as_id(j[col])
    if j["comparison_id"].isna().any():
        n = int(j["comparison_id"].isna().sum())
        raise SchemaError(f"`comparison_id` is missing in {n} judgment row(s); every judgment needs one.")
    choice = j["choice"].astype("str")
    bad = ~choice.isin(CHOICES)
    if bad.any():
        counts = choice[bad].fillna("<missing>").value_counts()
        found = ", ".join(f"{v!r} ({n} rows)" for v, n in counts.head(8).items())
        raise SchemaError(
            f"`choice` must be one of 'a', 'b', 'tie'; found {found}. "
            "Map your codes with mapping={'choice': {'A': 'a', ...}}."
        )
    j["choice"] = choice
    for col in ("strength", "seconds"):
        if col in j:
            num = pd.to_numeric(j[col], errors="coerce")
            bad = num.isna() & j[col].notna()
            if bad.any():
                raise SchemaError(
                    f"`{col}` must be numeric; found {j[col][bad].astype(str).head(3).tolist()} "
                    f"in {int(bad.sum())} row(s)."
                )
            j[col] = num.astype(float)
    return j


def _text_table(
    table: pd.DataFrame | None, name: str, columns: tuple[str, ...], unique: tuple[str, ...]
) -> pd.DataFrame:
    """``responses`` / ``prompts``: validated, or empty with their columns when not given."""
    out = _validate_table(table, name, columns, unique)
    return out if out is not None else pd.DataFrame({c: pd.Series(dtype="str") for c in columns})


def _validate_table(
    table: pd.DataFrame | None, name: str, columns: tuple[str, ...], unique: tuple[str, ...]
) -> pd.DataFrame | None:
    if table is None:
        if name in ("responses", "prompts"):
            return pd.DataFrame({c: pd.Series(dtype="str") for c in columns})
        return None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise _missing_columns_error(name, missing, list(map(str, table.columns)))
    table = table.reset_index(drop=True).copy()
    for col in columns:
        if col.endswith("_id"):
            table[col] = _as_id(table[col])
    if "text" in table:
        table["text"] = table["text"].astype("str").fillna("")
    for col in unique:
        dup = table[col].duplicated()
        if dup.any():
            raise SchemaError(
                f"`{name}.{col}` must be unique; {table[col][dup].head(3).tolist()} appear more than once."
            )
    return table


def _validate_ratings(ratings: pd.DataFrame | None) -> pd.DataFrame | None:
    if ratings is None:
        return None
    r = _validate_table(ratings, "ratings", RATING_REQUIRED, ())
    if r is None:  # unreachable: ratings is not None here
        return None
    score = pd.to_numeric(r["score"], errors="coerce")
    bad = score.isna() & r["score"].notna()
    if bad.any():
        raise SchemaError(
            f"`score` must be numeric; found {r['score'][bad].astype(str).head(3).tolist()} in {int(bad.sum())} row(s)."
        )
    r["score"] = score.astype(float)
    for col in ("model", "aspect", "prompt_id"):
        if col in r:
            r[col] = _as_id(r[col])
    return r


def _check_references(data: PreferenceData) -> None:
    j = data.judgments
    known = data.responses["response_id"]
    if len(known):
        for col in ("response_a_id", "response_b_id"):
            if col in j:
                unknown = ~_isin(j[col], known) & j[col].notna().to_numpy()
                if unknown.any():
                    raise SchemaError(
                        f"`judgments.{col}` names response ids not in `responses`: "
                        f"{j[col][unknown].head(3).tolist()} ({int(unknown.sum())} rows). "
                        "Pass the response texts, or drop the id columns."
                    )
    # one comparison = one prompt and one unordered pair of responses
    if "response_a_id" in j and "response_b_id" in j and len(j):
        comp, _ = data.codes("comparison_id")
        both = pd.concat([j["response_a_id"], j["response_b_id"]], ignore_index=True)
        rcode = pd.factorize(both, use_na_sentinel=True)[0].astype(np.int64)
        ra, rb = rcode[: len(j)], rcode[len(j):]
        pair_code = np.minimum(ra, rb) * (rcode.max() + 2) + np.maximum(ra, rb)
        _one_value_per_comparison(comp, pair_code, j["comparison_id"], "response pairs")
    if "prompt_id" in j:
        comp, _ = data.codes("comparison_id")
        _one_value_per_comparison(comp, data.codes("prompt_id")[0], j["comparison_id"], "prompts")


def _isin(values: pd.Series, allowed: pd.Series) -> np.ndarray:
    """Vectorized membership test (pandas' arrow-string ``isin`` loops in Python)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values)  # no copy for pandas' Arrow-backed strings
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_string())
    found = pc.is_in(arr, value_set=pa.array(allowed).cast(arr.type))
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def _one_value_per_comparison(comp: np.ndarray, values: np.ndarray, ids: pd.Series, what: str) -> None:
    if not len(comp):
        return
    n = comp.max() + 1
    vmin = np.full(n, np.iinfo(np.int64).max)
    vmax = np.full(n, np.iinfo(np.int64).min)
    np.minimum.at(vmin, comp, values)
    np.maximum.at(vmax, comp, values)
    bad = np.flatnonzero(vmin != vmax)
    if len(bad):
        example = ids[np.isin(comp, bad[:3])].unique()[:3].tolist()
        raise SchemaError(
            f"{len(bad)} comparison(s) have judgments over different {what}, for example "
            f"comparison_id {example}. A comparison id must name one prompt and one pair of "
            "responses; give distinct ids to distinct comparisons."
        )
