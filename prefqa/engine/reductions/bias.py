"""Per-judgment integer codes for the bias, annotator, prompt and Simpson analyses.

:func:`judgment_codes` returns one :class:`JudgmentCodes` for a
``PreferenceData`` (numpy: the cached codes of the data object) or a
``ScannedData`` (SQL: the code columns of the coded judgments table ``{j}``,
pulled as Arrow in scan order). Both carry the same arrays: comparison,
annotator and prompt codes (sorted ids, ``-1`` missing), the displayed and
oriented choice, the flip flag and the model codes, plus the small label
indexes (annotators, prompts, models). Only numeric columns cross from the
engine: about 50 bytes per judgment (six ``int64`` code columns, three
one-byte columns), so 1M judgments pull about 50 MB and 100M about 5 GB; no
id string, text or label per row is pulled.

``JudgmentCodes`` answers the integer views of
:class:`~prefqa.schema.PreferenceData` under the same names
(``codes``, ``choice_codes``, ``flipped``, ``oriented_choice``,
``model_codes``, ``n_judgments`` ...), so the estimators of the analyses
run unchanged on either source and give the same numbers.

:func:`judgment_values` pulls per-judgment numeric columns of the source
(``seconds``, ``strength``, rating-model scores ...) in the same order, and
:func:`side_values` per-judgment values of the two displayed responses from
a per-response table (features) joined in the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ...errors import InsufficientDataError, SchemaError
from ...schema import PreferenceData
from .._scan import ScannedData

__all__ = ["JudgmentCodes", "coded_preference_data", "judgment_codes", "judgment_values", "labels_of", "side_values",
           "stratum_codes"]


@dataclass(frozen=True, eq=False)
class JudgmentCodes:
    """Integer views of the judgments, equal for in-memory and engine data.

    Attributes
    ----------
    comp, ann, prm : ndarray of int64
        Codes of ``comparison_id``, ``annotator_id``, ``prompt_id`` (``prm``
        is None without a prompt column); ``-1`` where missing.
    choice, oriented : ndarray of int8
        Displayed choice (0 a, 1 b, 2 tie) and oriented choice (0 = the
        comparison's first response won).
    flip : ndarray of bool
        The judgment saw its comparison in the other order than its first row.
    ma, mb : ndarray of int64 or None
        Model codes over one shared label index (None without model columns).
    """

    comp: np.ndarray
    n_comparisons: int
    ann: np.ndarray
    annotator_labels: pd.Index
    prm: np.ndarray | None
    prompt_labels: pd.Index | None
    choice: np.ndarray
    flip: np.ndarray
    oriented: np.ndarray
    ma: np.ndarray | None
    mb: np.ndarray | None
    model_labels: pd.Index | None
    order_known: bool
    has_models: bool
    has_texts: bool
    columns: tuple[str, ...] = ()
    _extra: dict[str, Any] = field(default_factory=dict, repr=False)

    # ---------------------------------------------------- PreferenceData's integer views
    @property
    def n_judgments(self) -> int:
        """Number of judgments."""
        return len(self.choice)

    @property
    def n_annotators(self) -> int:
        """Number of distinct named annotators."""
        return len(self.annotator_labels)

    @property
    def n_prompts(self) -> int:
        """Number of distinct prompt ids (0 without a prompt column)."""
        return 0 if self.prompt_labels is None else len(self.prompt_labels)

    @property
    def has_prompt_ids(self) -> bool:
        """``True`` when the judgments have a ``prompt_id`` column."""
        return self.prm is not None

    @property
    def has_annotators(self) -> bool:
        """``True`` when at least one judgment names its annotator."""
        return self.n_annotators > 0

    def codes(self, column: str) -> tuple[np.ndarray, pd.Index]:
        """Codes and labels of ``comparison_id``, ``annotator_id`` or ``prompt_id``.

        Comparison labels are not pulled from an engine: their index is a
        ``RangeIndex`` over the codes (its length is the number of comparisons).
        """
        if column == "comparison_id":
            return self.comp, pd.RangeIndex(self.n_comparisons, name="comparison_id")
        if column == "annotator_id":
            return self.ann, self.annotator_labels
        if column == "prompt_id" and self.prm is not None and self.prompt_labels is not None:
            return self.prm, self.prompt_labels
        raise SchemaError(f"`judgments` has no column {column!r} among the coded columns "
                          "(comparison_id, annotator_id, prompt_id).")

    def choice_codes(self) -> np.ndarray:
        """Displayed choice as int8: 0 = a, 1 = b, 2 = tie."""
        return self.choice

    def flipped(self) -> np.ndarray:
        """``True`` where a judgment saw its comparison in the other order."""
        return self.flip

    def oriented_choice(self) -> np.ndarray:
        """Oriented choice as int8 (0 = the comparison's first response won)."""
        return self.oriented

    def model_codes(self) -> tuple[np.ndarray, np.ndarray, pd.Index]:
        """Codes of ``model_a`` and ``model_b`` over one shared label index."""
        if not self.has_models or self.ma is None or self.mb is None or self.model_labels is None:
            raise SchemaError("these judgments name no models (`model_a`, `model_b`); map your model columns "
                              "with `mapping=`.")
        return self.ma, self.mb, self.model_labels

    def subset(self, mask: np.ndarray) -> JudgmentCodes:
        """The judgments where ``mask`` is true, codes kept (label indexes unchanged)."""
        mask = np.asarray(mask, dtype=bool)

        def cut(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[mask]

        return JudgmentCodes(
            comp=self.comp[mask], n_comparisons=self.n_comparisons, ann=self.ann[mask],
            annotator_labels=self.annotator_labels, prm=cut(self.prm), prompt_labels=self.prompt_labels,
            choice=self.choice[mask], flip=self.flip[mask], oriented=self.oriented[mask], ma=cut(self.ma),
            mb=cut(self.mb), model_labels=self.model_labels, order_known=self.order_known,
            has_models=self.has_models, has_texts=self.has_texts, columns=self.columns)


def _from_memory(data: PreferenceData) -> JudgmentCodes:
    j = data.judgments
    comp, comp_labels = data.codes("comparison_id")
    ann, ann_labels = data.codes("annotator_id")
    prm, prm_labels = data.codes("prompt_id") if "prompt_id" in j else (None, None)
    ma: np.ndarray | None = None
    mb: np.ndarray | None = None
    mlabels: pd.Index | None = None
    if data.has_models:
        ma, mb, mlabels = data.model_codes()
    return JudgmentCodes(
        comp=comp, n_comparisons=len(comp_labels), ann=ann, annotator_labels=ann_labels, prm=prm,
        prompt_labels=prm_labels, choice=data.choice_codes(), flip=data.flipped(),
        oriented=data.oriented_choice(), ma=ma, mb=mb, model_labels=mlabels, order_known=data.order_known,
        has_models=data.has_models, has_texts=data.has_texts, columns=tuple(j.columns))


def labels_of(data: ScannedData, code: str, column: str) -> pd.Index:
    """The labels of a code column of ``{j}`` in code order (``code`` 0, 1, ...), as an Index named ``column``."""
    frame = data.frame(f'SELECT DISTINCT {code} AS code, CAST("{column}" AS VARCHAR) AS label FROM {{j}} '
                       f"WHERE {code} >= 0 ORDER BY code")
    return pd.Index(frame["label"].astype(str).to_numpy(dtype=object), name=column, dtype="str")


def _engine_labels(data: ScannedData, has_prm: bool, has_m: bool,
                   with_responses: bool) -> tuple[dict[str, pd.Index], int]:
    """Annotator, prompt and model labels in code order and the number of responses, in one query."""
    parts = ["SELECT 'a' AS kind, _ann AS code, CAST(annotator_id AS VARCHAR) AS label FROM {j} WHERE _ann >= 0 "
             "GROUP BY _ann, annotator_id"]
    if has_prm:
        parts.append("SELECT 'p' AS kind, _prm AS code, CAST(prompt_id AS VARCHAR) AS label FROM {j} WHERE _prm >= 0 "
                     "GROUP BY _prm, prompt_id")
    if has_m:
        parts.append("SELECT 'm' AS kind, _ma AS code, CAST(model_a AS VARCHAR) AS label FROM {j} WHERE _ma >= 0 "
                     "GROUP BY _ma, model_a")
        parts.append("SELECT 'm' AS kind, _mb AS code, CAST(model_b AS VARCHAR) AS label FROM {j} WHERE _mb >= 0 "
                     "GROUP BY _mb, model_b")
    if with_responses:  # the size of the responses table rides along as kind 'r'
        parts.append("SELECT 'r' AS kind, count(*) AS code, CAST(NULL AS VARCHAR) AS label FROM {r}")
    frame = data.frame(" UNION ALL ".join(parts))
    rows = frame[frame["kind"] == "r"]
    out_r = int(rows["code"].iloc[0]) if len(rows) else 0
    frame = frame[frame["kind"] != "r"]
    out = {}
    for kind, name in (("a", "annotator_id"), ("p", "prompt_id"), ("m", "model")):  # three label kinds
        part = frame[frame["kind"] == kind].drop_duplicates("code").sort_values("code")
        out[kind] = pd.Index(part["label"].astype(str).to_numpy(dtype=object), name=name, dtype="str")
    return out, out_r


def _from_engine(data: ScannedData) -> JudgmentCodes:
    cols = set(data.columns)
    has_prm = "prompt_id" in cols
    has_m = "model_a" in cols and "model_b" in cols
    select = ["_cmp", "_ann", "CAST(_ch AS TINYINT) AS _ch", "_flip", "CAST(_och AS TINYINT) AS _och"]
    if has_prm:
        select.append("_prm")
    if has_m:
        select += ["_ma", "_mb"]
    table = data.sql(f"SELECT {', '.join(select)} FROM {{j}} ORDER BY _row")

    def col(name: str, dtype: Any) -> np.ndarray:
        return table.column(name).to_numpy().astype(dtype, copy=False)

    with_responses = "response_a_id" in cols and data.responses_table is not None
    labels, n_responses = _engine_labels(data, has_prm, has_m, with_responses)
    comp = col("_cmp", np.int64)
    ma = col("_ma", np.int64) if has_m else None
    has_texts = bool(with_responses and n_responses > 0)
    return JudgmentCodes(
        comp=comp, n_comparisons=int(comp.max()) + 1 if len(comp) else 0, ann=col("_ann", np.int64),
        annotator_labels=labels["a"], prm=col("_prm", np.int64) if has_prm else None,
        prompt_labels=labels["p"] if has_prm else None, choice=col("_ch", np.int8), flip=col("_flip", bool),
        oriented=col("_och", np.int8), ma=ma, mb=col("_mb", np.int64) if has_m else None,
        model_labels=labels["m"] if has_m else None, order_known=data.order_known,
        has_models=bool(ma is not None and (ma >= 0).any()), has_texts=has_texts, columns=tuple(data.columns))


def judgment_codes(data: PreferenceData | ScannedData | JudgmentCodes) -> JudgmentCodes:
    """Return the :class:`JudgmentCodes` of ``data`` (cached on the data object).

    Examples
    --------
    >>> import prefqa as pq
    >>> data, _ = pq.simulate(n_prompts=10, n_annotators=4, rng=1)
    >>> mem, eng = judgment_codes(data), judgment_codes(pq.scan(data))
    >>> bool((mem.comp == eng.comp).all() and (mem.oriented == eng.oriented).all())
    True
    >>> list(mem.annotator_labels) == list(eng.annotator_labels)
    True
    """
    if isinstance(data, JudgmentCodes):
        return data
    if isinstance(data, ScannedData):
        if "codes:judgments" not in data._cache:
            data._cache["codes:judgments"] = _from_engine(data)
        return data._cache["codes:judgments"]
    if isinstance(data, PreferenceData):
        if "codes:judgments" not in data._cache:
            data._cache["codes:judgments"] = _from_memory(data)
        return data._cache["codes:judgments"]
    raise SchemaError(f"`data` must be a PreferenceData or a pq.scan(...) result; got {type(data).__name__}.")


def judgment_values(data: PreferenceData | ScannedData, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-judgment float values of numeric judgment columns, in row (scan) order; NaN where missing.

    A column absent from the source is left out of the result. Non-numeric
    values become NaN, as ``pd.to_numeric(errors="coerce")`` does in memory.
    """
    out: dict[str, np.ndarray] = {}
    if isinstance(data, PreferenceData):
        j = data.judgments
        for c in columns:
            if c in j:
                out[c] = pd.to_numeric(j[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return out
    present = [c for c in columns if c in data.columns]
    cache = data._cache.setdefault("values", {})
    missing = [c for c in present if c not in cache]
    if missing:
        sel = ", ".join(f'TRY_CAST("{c}" AS DOUBLE) AS "{c}"' for c in missing)
        table = data.sql(f"SELECT {sel} FROM {{j}} ORDER BY _row")
        for c in missing:
            cache[c] = table.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
    return {c: cache[c] for c in present}


def side_values(data: ScannedData, table: str, columns: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per judgment, ``(value of response a, value of response b)`` for each of ``columns`` of ``table``.

    ``table`` is a per-response table registered in ``data``'s engine, keyed
    by ``response_id``; the join runs in the engine and only the float
    columns come back, in scan order (NaN where a response is unknown).
    Pulled columns are kept on ``data`` (16 bytes per judgment and column),
    so the analyses of one scan join each feature once.
    """
    if "response_a_id" not in data.columns or "response_b_id" not in data.columns:
        raise InsufficientDataError("the judgments have no response ids (`response_a_id`, `response_b_id`).")
    cache = data._cache.setdefault(f"sides:{table}", {})
    missing = [c for c in columns if c not in cache]
    if missing:
        sel = ", ".join(f'CAST(fa."{c}" AS DOUBLE) AS "a_{c}", CAST(fb."{c}" AS DOUBLE) AS "b_{c}"' for c in missing)
        got = data.sql(f"SELECT {sel} FROM {{j}} j LEFT JOIN {table} fa ON fa.response_id = j.response_a_id "
                       f"LEFT JOIN {table} fb ON fb.response_id = j.response_b_id ORDER BY j._row")
        for c in missing:
            cache[c] = (got.column(f"a_{c}").to_numpy(zero_copy_only=False).astype(np.float64),
                        got.column(f"b_{c}").to_numpy(zero_copy_only=False).astype(np.float64))
    return {c: cache[c] for c in columns}


def coded_preference_data(codes: JudgmentCodes) -> PreferenceData:
    """An in-memory ``PreferenceData`` rebuilt from integer codes, for estimators that need one.

    Comparison ids become zero-padded code numbers (so their sorted order,
    hence every code, is the engine's); annotator and model ids are the real
    labels; choices are ``'a'``/``'b'``/``'tie'``. No response, prompt or text
    column: use it for fits on codes and per-judgment covariates only (the
    joint length-controlled Bradley-Terry fit of ``length_bias``). It holds
    a few strings per judgment built in Python memory from the codes (about
    150 bytes per judgment), never pulled from the engine.
    """
    width = len(str(max(codes.n_comparisons - 1, 0)))
    comp = pd.Series(codes.comp).astype("str").str.zfill(width)
    ann_labels = codes.annotator_labels.to_numpy(dtype=object)

    def label(values: np.ndarray, labels: np.ndarray) -> pd.Series:
        out = pd.Series(labels[np.where(values >= 0, values, 0)] if len(labels) else np.full(len(values), None),
                        dtype="str")
        return out.where(values >= 0)

    frame = {"comparison_id": comp, "annotator_id": label(codes.ann, ann_labels),
             "choice": pd.Series(np.array(["a", "b", "tie"], dtype=object)[codes.choice], dtype="str")}
    if codes.ma is not None and codes.mb is not None and codes.model_labels is not None:
        names = codes.model_labels.to_numpy(dtype=object)
        frame["model_a"], frame["model_b"] = label(codes.ma, names), label(codes.mb, names)
    return PreferenceData(pd.DataFrame(frame), order_known=codes.order_known)


def stratum_codes(data: PreferenceData | ScannedData, columns: Sequence[str]) -> tuple[np.ndarray, pd.Index]:
    """Per-judgment codes of the strata of ``columns`` (values as text joined by ``' | '``; ``-1`` where any
    is missing) and the sorted stratum labels.

    In memory: ``pandas.factorize(sort=True)`` of the joined labels. In an
    engine: the distinct labels (one row per stratum) are pulled, sorted in
    Python the same way, registered back as a small code table and joined,
    and only the integer code per judgment comes back (in scan order).
    Values are cast to text by the engine (``CAST(x AS VARCHAR)``), which
    equals pandas' ``astype(str)`` for text, integer and float columns.
    """
    cols = list(columns)
    if isinstance(data, PreferenceData):
        j = data.judgments
        key = j[cols].astype("str")
        label = key.iloc[:, 0]
        if len(cols) > 1:  # vectorized concatenation, never a row-wise apply
            label = label.str.cat([key[c] for c in cols[1:]], sep=" | ")
        label = label.where(j[cols].notna().all(axis=1))
        codes, labels = pd.factorize(label, sort=True, use_na_sentinel=True)
        return codes.astype(np.int64), pd.Index(labels, dtype="str")
    expr = " || ' | ' || ".join(f'CAST("{c}" AS VARCHAR)' for c in cols)
    known = " AND ".join(f'"{c}" IS NOT NULL' for c in cols)
    got = data.frame(f"SELECT DISTINCT {expr} AS label FROM {{j}} WHERE {known}")
    labels = pd.Index(sorted(got["label"].astype(str).tolist()), dtype="str")
    import pyarrow as pa

    name = data.backend.temp_name("strata")
    data.backend.register(name, pa.table({"label": pa.array(labels.to_numpy(dtype=object), pa.string()),
                                          "code": pa.array(np.arange(len(labels), dtype=np.int64))}))
    try:
        out = data.sql(f"SELECT coalesce(s.code, -1) AS code FROM {{j}} j LEFT JOIN {name} s "
                       f"ON s.label = ({_prefixed(cols)}) "
                       f"ORDER BY j._row")
    finally:
        data.backend.drop(name)
    return out.column("code").to_numpy().astype(np.int64), labels


def _prefixed(cols: Sequence[str]) -> str:
    return " || ' | ' || ".join(f'CAST(j."{c}" AS VARCHAR)' for c in cols)
