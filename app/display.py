"""How the app words and formats what prefqa returns: headers, precision, errors, skip reasons, CI methods.

No Streamlit and no statistics here (tests call these functions directly).
Every table the app shows goes through :func:`readable`, so a column has one
header and one number format on every page.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import prefqa as pq

#: snake_case column name -> header shown in the app (one place for every page).
LABELS: dict[str, str] = {
    "annotator_id": "Annotator", "prompt_id": "Prompt", "comparison_id": "Comparison",
    "response_id": "Response", "model": "Model", "model_a": "Model shown first", "model_b": "Model shown second",
    "choice": "Choice (as displayed)", "choice_as_displayed": "Choice (as displayed)", "preferred": "Preferred",
    "flagged": "Flagged", "reason": "Reason", "notes": "Notes", "kind": "Kind", "step": "Step",
    "title": "Step", "status": "Status", "seconds": "Seconds", "outcome": "Outcome",
    "reason_code": "Reason code", "stratum": "Stratum", "target": "Target", "coefficient": "Coefficient",
    "level": "Level", "feature": "Feature", "bucket": "Length ratio", "term": "Term", "component": "Component",
    "type": "Type", "description": "Description", "aspect": "Aspect", "score": "Score",
    "rater_1": "Annotator 1", "rater_2": "Annotator 2", "model_pair": "Model pair",
    "estimate": "Estimate", "std_error": "Std. error", "se_method": "SE method", "ci_low": "CI low",
    "ci_high": "CI high", "p_value": "p-value", "q_value": "q-value (BH)", "n": "N",
    "n_judgments": "Judgments", "n_comparisons": "Comparisons", "n_units": "Units", "n_ratings": "Ratings",
    "n_scored": "Judgments with a consensus", "n_a": "Chose first shown", "n_both_orders": "Seen in both orders",
    "n_inconsistent": "Inconsistent across orders", "n_repeat_units": "Repeated comparisons",
    "n_differ": "Pairs that differ", "n_longer_won": "Longer chosen", "n_gold": "Gold items",
    "n_levels": "Levels", "wins": "Wins", "losses": "Losses", "ties": "Ties", "rank": "Rank",
    "loo_agreement": "Agreement with others", "loo_kappa": "Kappa vs others", "loo_kappa_se": "Kappa SE",
    "intra_agreement": "Self-agreement", "intra_alpha": "Self-alpha", "ds_accuracy": "Dawid-Skene accuracy",
    "p_a": "Chose first shown (share)", "p_a_ci_low": "First shown CI low", "p_a_ci_high": "First shown CI high",
    "position_logit": "Position logit", "position_logit_se": "Position logit SE", "tie_rate": "Tie rate",
    "length_slope": "Length slope", "length_slope_se": "Length slope SE", "slope": "Length slope",
    "leniency": "Leniency (score offset)", "median_seconds": "Median seconds", "fast": "Fast",
    "longest_run": "Longest same-choice run", "gold_accuracy": "Gold accuracy", "consistency": "Consistency",
    "self_consistency": "Self-consistency", "agreement": "Agreement", "weight": "Weight",
    "raw_win_rate": "Win rate (raw)", "raw_ci_low": "Raw CI low", "raw_ci_high": "Raw CI high",
    "lc_win_rate": "Win rate (length-controlled)", "lc_ci_low": "LC CI low", "lc_ci_high": "LC CI high",
    "rate_more_chosen": "More-featured chosen", "rate_ci_low": "Rate CI low", "rate_ci_high": "Rate CI high",
    "std_estimate": "Standardised estimate", "sd": "SD", "variance": "Variance", "boundary": "At boundary",
    "share_a_first": "Shown first (share)", "share_first": "Shown first (share)", "estimable": "Estimable",
    "win_probability": "P(row wins)", "f": "F", "df1": "df1", "df2": "df2", "style_estimate": "Style estimate",
    "style_ci_low": "Style CI low", "style_ci_high": "Style CI high", "style_rank": "Style rank",
    "n_with_consensus": "Judgments with a consensus", "kappa": "Kappa", "kappa_ci_low": "Kappa CI low",
    "kappa_ci_high": "Kappa CI high", "gold_ci_low": "Gold CI low", "gold_ci_high": "Gold CI high",
    "position_consistency": "Position consistency", "n_position": "Position judgments",
    "n_length": "Length judgments", "divergence": "Raw vs LC divergence", "lc_std_error": "LC std. error",
    "model_1": "Model 1", "model_2": "Model 2", "n_model_1_first": "Model 1 shown first",
    "share_model_1_first": "Model 1 shown first (share)", "one_sided": "Shown in one order",
}
#: Columns holding shares in [0, 1], shown as percentages.
RATES: frozenset[str] = frozenset({
    "p_a", "p_a_ci_low", "p_a_ci_high", "tie_rate", "loo_agreement", "intra_agreement", "ds_accuracy",
    "gold_accuracy", "consistency", "self_consistency", "agreement", "raw_win_rate", "raw_ci_low",
    "raw_ci_high", "lc_win_rate", "lc_ci_low", "lc_ci_high", "rate_more_chosen", "rate_ci_low",
    "rate_ci_high", "share_a_first", "share_first", "win_probability", "position_consistency", "gold_ci_low",
    "gold_ci_high", "share_model_1_first", "divergence",
})
#: Integer-valued columns without an ``n_`` prefix, shown with thousands separators.
COUNTS: frozenset[str] = frozenset({"n", "wins", "losses", "ties", "rank", "longest_run", "df1", "df2",
                                    "style_rank"})
#: Audit steps the app itself leaves out (``components.APP_AUDIT["skip"]``), in the user's terms.
APP_SKIPPED: dict[str, str] = {
    "preference_model": "not run in the app (the crossed mixed model takes minutes on large data); "
                        "`prefqa audit DATA --out DIR` fits it",
    "pairs": "previewed on the Export page, with the policy you choose there",
}
#: What the app adds to a library skip reason that names a CLI or config option (the app has its own control).
APP_HINTS: dict[str, str] = {
    "simpson": "in the app: pick a stratum column on the Data page (columns with 2 to 20 values)",
}
#: Printf formats by kind (Streamlit NumberColumn); ``percent`` is Streamlit's preset (0.25 -> 25.00%).
FORMATS: dict[str, str] = {"rate": "percent", "count": "localized", "p": "%.2e", "coef": "%.3f",
                           "seconds": "%.1f"}


def label(column: Any) -> str:
    """Return the header for a column name (unknown names: underscores become spaces).

    Examples
    --------
    >>> label("loo_agreement"), label("batch_size"), label("q_leniency")
    ('Agreement with others', 'Batch size', 'q-value (leniency)')
    """
    name = str(column)
    if name in LABELS:
        return LABELS[name]
    for prefix, head in (("p_", "p-value"), ("q_", "q-value"), ("flagged_", "Flagged")):
        if name.startswith(prefix) and len(name) > len(prefix):
            return f"{head} ({name[len(prefix):].replace('_', ' ')})"
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else name


def kind(column: Any, dtype: Any, *, rates: frozenset[str] | set[str] = frozenset()) -> str | None:
    """Return the display kind of a column: ``rate``, ``count``, ``p``, ``coef``, ``seconds`` or None (as is).

    Examples
    --------
    >>> import numpy as np
    >>> [kind(c, np.dtype(float)) for c in ("p_a", "q_value", "n_judgments", "slope")]
    ['rate', 'p', 'count', 'coef']
    """
    name = str(column)
    if not (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)):
        return None
    if name in RATES or name in rates:
        return "rate"
    if name in COUNTS or name.startswith("n_"):
        return "count"
    if name in ("p_value", "q_value") or name.startswith(("p_", "q_")):
        return "p"
    if "seconds" in name:
        return "seconds"
    return "coef"


def readable(frame: pd.DataFrame, *, rates: Any = ()) -> tuple[pd.DataFrame, dict[str, str]]:
    """Return ``frame`` ready to show: named index as a column, all-missing columns dropped, headers relabelled.

    Parameters
    ----------
    frame : DataFrame
        A result table.
    rates : iterable of str
        Extra columns that hold shares in this table (``estimate`` is a share in some tables only).

    Returns
    -------
    (DataFrame, dict)
        The relabelled frame and ``{header: format}`` for the numeric columns.

    Examples
    --------
    >>> import pandas as pd
    >>> out, fmt = readable(pd.DataFrame({"n_judgments": [1200], "p_a": [0.5], "gold_accuracy": [None]}))
    >>> list(out.columns), fmt
    (['Judgments', 'Chose first shown (share)'], {'Judgments': 'localized', 'Chose first shown (share)': 'percent'})
    """
    out = frame
    if not isinstance(out.index, pd.RangeIndex) or out.index.name is not None:
        out = out.reset_index()
    keep = [col for col in out.columns if not (len(out) and out[col].isna().all())]
    out = out.loc[:, keep]
    rate_set = set(rates)
    formats: dict[str, str] = {}
    names: list[str] = []
    for col in out.columns:
        header = label(col)
        while header in names:  # two source names with one label: keep both, distinguishable
            header += " "
        names.append(header)
        k = kind(col, out[col].dtype, rates=rate_set)
        if k is not None:
            formats[header] = FORMATS[k]
    out = out.set_axis(names, axis=1)
    return out, formats


def error_message(exc: BaseException) -> str:
    """Return what the app shows for an exception: the library's message, or a short line for anything else.

    Examples
    --------
    >>> error_message(pq.SchemaError("no `choice` column; map one."))
    'no `choice` column; map one.'
    >>> error_message(KeyError("prompt_id"))
    "Unexpected error (KeyError: 'prompt_id'). This is a bug in prefqa or its app; please report it with the first rows of the file."
    """  # noqa: E501 - a doctest's expected output is one line
    if isinstance(exc, pq.PrefqaError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return (f"Unexpected error ({detail[:300]}). This is a bug in prefqa or its app; please report it with the "
            "first rows of the file.")


def skip_reason(report: Any, step: str) -> str:
    """Why an audit step has no result, in the user's terms (the library's reason unless the app skipped it)."""
    if step in APP_SKIPPED:
        return APP_SKIPPED[step]
    section = (getattr(report, "sections", {}) or {}).get(step) or {}
    reason = section.get("reason")
    if reason:
        reason = str(reason).rstrip(".")
        return f"{reason}; {APP_HINTS[step]}" if step in APP_HINTS else reason
    status = section.get("status")
    return f"{step.replace('_', ' ')}: {status}" if status else f"{step.replace('_', ' ')} was not computed"


def step_frame(report: Any) -> pd.DataFrame:
    """The audit's steps (title, status, reason, seconds) with the app's own skips reworded."""
    steps = report.to_frame().reset_index()
    if "step" in steps and "reason" in steps:
        app = steps["step"].astype(str).map(APP_SKIPPED)
        mine = app.notna().to_numpy() & (steps["status"].astype(str) == "skipped").to_numpy()
        steps.loc[mine, "reason"] = app[mine]
    return steps


def findings(report: Any) -> list[dict[str, Any]]:
    """The audit's findings for the Overview, in the library's words.

    'Skipped' notes for steps the app itself leaves out are dropped (they are the app's choice, not
    the data's), and skipped steps that share one reason are listed in one note.

    Examples
    --------
    >>> from types import SimpleNamespace as R
    >>> rep = R(findings=[{"severity": "info", "code": "step_skipped", "step": s, "message": m} for s, m in
    ...     [("consensus", "Consensus skipped: ratings only."),
    ...      ("bradley_terry", "Bradley-Terry skipped: ratings only."),
    ...      ("preference_model", "Crossed preference model skipped: disabled in the config.")]],
    ...     sections={"consensus": {"title": "Consensus", "reason": "ratings only"},
    ...               "bradley_terry": {"title": "Bradley-Terry", "reason": "ratings only"}})
    >>> [f["message"] for f in findings(rep)]
    ['Skipped (ratings only): Consensus, Bradley-Terry.']
    """
    sections = getattr(report, "sections", {}) or {}
    out: list[dict[str, Any]] = []
    by_reason: dict[str, list[str]] = {}
    for f in report.findings:
        step = f.get("step")
        if f.get("code") != "step_skipped":
            out.append(f)
        elif step not in APP_SKIPPED:
            sec = sections.get(step) or {}
            reason = skip_reason(report, step) if sec.get("reason") else ""
            if not reason:
                out.append(f)
                continue
            if reason not in by_reason:
                by_reason[reason] = []
                out.append({**f, "message": None, "_reason": reason})
            by_reason[reason].append(str(sec.get("title") or step))
    for f in out:
        if "_reason" in f:
            reason = f.pop("_reason")
            f["message"] = f"Skipped ({reason}): {', '.join(by_reason[reason])}."
    return out


_SE_WORDS = {
    "wilson": "Wilson score over judgments (iid)", "iid": "iid", "bootstrap": "bootstrap",
    "cluster_bootstrap": "cluster bootstrap", "gwet_linearised": "Gwet's linearised variance",
    "cr2": "cluster-robust CR2 (Bell-McCaffrey, t reference)", "two_way": "two-way cluster-robust",
    "twoway": "two-way cluster-robust", "cluster_robust": "cluster-robust", "sandwich": "sandwich",
    "wald": "Wald", "bootstrap_units_raters": "bootstrap over units and raters",
    "bootstrap_units": "bootstrap over units", "profile": "profile likelihood", "f_test": "F-based", "reml": "REML",
}


def _words(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return " x ".join(map(str, value))
    text = str(value).replace("+", " x ")
    return _SE_WORDS.get(text.lower(), text.replace("_", " "))


def method_words(se_method: Any, cluster: Any = None) -> str:
    """How an SE was obtained, in words, with the clusters: 'two-way cluster-robust (annotator x comparison)'.

    Examples
    --------
    >>> method_words("gwet_linearised")
    "Gwet's linearised variance"
    >>> method_words(None, "prompt")
    'clustered by prompt (method not stated by this prefqa version)'
    """
    cl = _words(cluster) if cluster not in (None, "", "none") else ""
    if se_method is not None and str(se_method) not in ("", "nan", "None"):
        words = _words(se_method)
        return words + (f" ({cl})" if cl and cl not in words else "")
    if cl:
        return f"clustered by {cl} (method not stated by this prefqa version)"
    return "method not stated by this prefqa version"


def interval_note(result: Any) -> str:
    """'95% CI, <how the SE was obtained> (<clusters>)' from a result's ``se_method`` and ``cluster`` fields.

    Examples
    --------
    >>> from types import SimpleNamespace as R
    >>> interval_note(R(confidence_level=0.95, se_method="two-way cluster-robust", cluster=("annotator", "comparison")))
    '95% CI, two-way cluster-robust (annotator x comparison)'
    >>> interval_note(R(confidence_level=0.9, cluster="prompt"))
    '90% CI, clustered by prompt (method not stated by this prefqa version)'
    """
    level = getattr(result, "confidence_level", 0.95)
    return f"{level:.0%} CI, " + method_words(getattr(result, "se_method", None), getattr(result, "cluster", None))


def notes(result: Any) -> list[str]:
    """A result's warnings and approximation notes (``subsampled``), as sentences to show under it.

    Result objects carry ``warnings`` (and ``subsampled``) as fields; per-entity tables carry
    them in ``DataFrame.attrs`` (``warnings``, ``notes``, ``subsampled``, ``subsample``).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"flagged": [False]})
    >>> t.attrs.update(warnings=("null fitted on 100,000 of 250,000 votes",), subsampled=True)
    >>> notes(t)
    ['null fitted on 100,000 of 250,000 votes', 'Approximation: part of this result was computed on a subsample.']
    """
    if isinstance(result, pd.DataFrame):
        meta: dict[str, Any] = dict(result.attrs)
    else:
        meta = {k: getattr(result, k, None) for k in ("warnings", "notes", "subsampled", "subsample")}
    out: list[str] = []
    for key in ("warnings", "notes"):
        value = meta.get(key)
        if isinstance(value, str) and value:
            out.append(value)
        elif isinstance(value, (tuple, list)):
            out.extend(str(v) for v in value if str(v))
    sub, detail = meta.get("subsampled"), meta.get("subsample")
    if isinstance(sub, str) and sub:
        out.append(f"Approximation: {sub}")
    elif (isinstance(sub, (bool, np.bool_)) and bool(sub)) or (isinstance(sub, (dict, tuple, list)) and sub):
        extra = detail if detail else (sub if not isinstance(sub, (bool, np.bool_)) else "")
        out.append("Approximation: part of this result was computed on a subsample"
                   + (f" ({extra})." if extra else "."))
    return out


_LOAD_LABELS = {"source": "File", "format": "Format", "n_rows": "Rows read", "n_rows_used": "Rows used",
                "n_rejected": "Rows rejected", "n_judgments": "Judgments", "n_ratings": "Ratings",
                "n_repeats": "Repeated judgments (kept)", "n_empty_texts": "Empty texts (kept)",
                "n_rejected_values": "Cells rejected", "n_duplicates": "Exact duplicate rows",
                "duplicates_policy": "Duplicates", "n_coerced": "Values coerced", "n_unused_columns": "Unused columns"}


def load_counts(report: Any) -> pd.DataFrame:
    """The load report's counts as two text columns (what, value), counts with thousands separators.

    Examples
    --------
    >>> import pandas as pd
    >>> from types import SimpleNamespace as R
    >>> load_counts(R(to_frame=lambda: pd.DataFrame({"format": ["trl"], "n_rows": [12000]}))).values.tolist()
    [['Format', 'trl'], ['Rows read', '12,000']]
    """
    row = report.to_frame().iloc[0]
    values = [f"{int(v):,}" if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else str(v)
              for v in row.to_numpy(dtype=object)]
    return pd.DataFrame({"What": [_LOAD_LABELS.get(str(k), label(k)) for k in row.index], "Value": values})


def ratings(data: pq.PreferenceData) -> pd.DataFrame:
    """The data's ratings table (empty when there is none)."""
    r = data.ratings
    return r if r is not None else pd.DataFrame(columns=["response_id", "annotator_id", "score"])


def ratings_only(data: pq.PreferenceData) -> bool:
    """True when the data holds absolute scores but no pairwise judgments."""
    r = data.ratings
    return data.n_judgments == 0 and r is not None and len(r) > 0


def has_ratings(data: pq.PreferenceData) -> bool:
    """True when the data holds absolute scores (a ``ratings`` table)."""
    r = data.ratings
    return r is not None and len(r) > 0
