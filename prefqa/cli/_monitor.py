"""``prefqa drift`` and ``prefqa check``: batch monitoring and a pipeline gate over ``pq.drift`` / ``pq.compare``.

``prefqa drift DATA`` cuts the data into windows (``--time COL --freq W`` or ``--window COL``),
compares each with the baseline windows (``--baseline K``, ``--baseline LABEL,LABEL`` or
``--baseline FILE``) and prints :meth:`prefqa.DriftResult.summary` with the flagged windows
and annotators; ``--json FILE`` and ``--out DIR`` keep the tables.

``prefqa check DATA --fail-on GATES [--baseline FILE] [--strict] [--json FILE]`` evaluates
gates (grammar in :mod:`prefqa.cli._gates`) and exits 0 when every gate passes, 1 when one
fails and 2 on bad input or a gate that cannot be computed, with the reason. Values come from
the library only: the batch's metrics and their changes from ``pq.compare(DATA, BASELINE)``
(or ``pq.drift``'s whole-batch estimates without a baseline), the flagged counts from
``pq.annotator_table`` and ``pq.flag_prompts``.

Both read the ``[drift]`` and ``[check]`` tables of ``--config`` (flags win)::

    [check]
    fail_on = ["alpha<0.67", "alpha_drop>0.1", "p_first>55%", "drift"]
    strict = false
    baseline = "deliveries/2026-10.jsonl"   # relative to the working directory
    json = "check.json"

    [drift]
    time = "timestamp"      # or window = "batch"
    freq = "W"
    baseline = 4            # the first 4 windows; or a list of window labels; or a file
    fdr = 0.05

The two tables are taken out of the file here; ``[read]`` (validated by
:mod:`prefqa.io.config`), ``[pairs]`` and ``[audit]`` go to the shared resolver as for
``prefqa audit``.

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(prog="prefqa")
>>> register(p.add_subparsers(dest="command"))
>>> args = p.parse_args(["check", "batch.csv", "--fail-on", "alpha<0.67", "--strict"])
>>> args.fail_on, args.strict, args.func.__name__
(['alpha<0.67'], True, '_cmd_check')
"""

from __future__ import annotations

import argparse
import copy
import inspect
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import SchemaError
from ._gates import COUNTS, METRICS, GateOutcome, exit_code, parse_gates, render_table
from ._gates import report as gate_report
from ._measures import DRIFT_FLAGS, Values, drift_terms, library, outcome, records

__all__ = ["CHECK_KEYS", "DRIFT_FLAGS", "DRIFT_KEYS", "drift_terms", "register"]

#: ``[check]`` keys and what each accepts.
CHECK_KEYS: dict[str, str] = {
    "fail_on": "a list of gates (or one comma-separated string), for example [\"alpha<0.67\", \"drift\"]",
    "strict": "true or false", "baseline": "a file path", "json": "a file path",
    "confidence_level": "a number between 0 and 1", "fdr": "a number between 0 and 1",
    "min_judgments": "an integer >= 2", "metrics": f"a list of metric names from {list(METRICS)}",
}
#: ``[drift]`` keys handled here; any other keyword option of ``pq.drift`` is accepted too.
DRIFT_KEYS: dict[str, str] = {
    "time": "a column name", "freq": "a pandas offset alias such as \"W\" or \"D\"", "window": "a column name",
    "baseline": "a number of windows, a list of window labels or a file path",
    "metrics": f"a list of metric names from {list(METRICS)}",
    "confidence_level": "a number between 0 and 1", "fdr": "a number between 0 and 1",
}


# ------------------------------------------------------------------ parsers
def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1; got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive); got {text!r}")
    return value


def _csv(text: str) -> list[str]:
    return [t for t in (s.strip() for s in text.split(",")) if t]


def _add_settings(p: argparse.ArgumentParser) -> None:
    p.add_argument("--confidence-level", type=_fraction, default=None, metavar="LEVEL",
                   help="confidence level of every interval (default 0.95)")
    p.add_argument("--fdr", type=_fraction, default=None, metavar="Q",
                   help="Benjamini-Hochberg false discovery rate of the flags (default 0.05)")
    p.add_argument("--min-judgments", type=int, default=None, metavar="N",
                   help="fewest judgments on each side for an annotator test (default 10)")
    p.add_argument("--metrics", type=_csv, default=None, metavar="M,M,...",
                   help=f"metrics to compute, comma-separated, from: {', '.join(METRICS)} (default: all the data "
                        "supports)")


def register(sub: Any) -> None:
    """Add the ``drift`` and ``check`` subcommands to ``sub`` (the parser's subparsers action)."""
    from . import _add_read_options

    raw = argparse.RawDescriptionHelpFormatter
    d = sub.add_parser("drift", help="metrics by time window or batch against a baseline, with control charts' "
                                     "alarms and the annotators who changed", formatter_class=raw,
                       description="Cut DATA into windows (--time COL --freq W, or --window COL), compare each\n"
                                   "with the baseline windows (--baseline K, LABEL,LABEL or FILE) and print what\n"
                                   "changed and when, and who changed; --json FILE and --out DIR keep the tables.")
    _add_read_options(d)
    _config_help(d)
    g = d.add_argument_group("windows (mirrors pq.drift)")
    g.add_argument("--time", default=None, metavar="COL", help="time column (default: timestamp)")
    g.add_argument("--freq", default=None, metavar="ALIAS",
                   help="window length as a pandas offset alias: W (weeks, the default), D, MS, QS, ...")
    g.add_argument("--window", default=None, metavar="COL",
                   help="a column of batch labels as the windows (instead of --time/--freq)")
    g.add_argument("--baseline", default=None, metavar="K|LABELS|FILE",
                   help="baseline: the first K windows, comma-separated window labels, or a data file "
                        "(default: the first quarter of the windows, at least one)")
    g.add_argument("--cusum-k", type=float, default=None, metavar="K",
                   help="CUSUM reference value in standard errors (default 0.5)")
    g.add_argument("--cusum-h", type=float, default=None, metavar="H",
                   help="CUSUM decision limit in standard errors (default 4: in-control average run length "
                        "about 168 windows)")
    _add_settings(d)
    o = d.add_argument_group("output")
    o.add_argument("--json", default=None, metavar="FILE", help="write the windows and annotators tables as JSON")
    o.add_argument("--out", default=None, metavar="DIR",
                   help="write DIR/drift_windows.csv and DIR/drift_annotators.csv")
    d.set_defaults(func=_cmd_drift)

    c = sub.add_parser("check", help="a gate for pipelines: exit 1 when a gate fails, 2 when one cannot be computed",
                       formatter_class=raw, epilog=_gates_epilog())
    _add_read_options(c)
    _config_help(c)
    k = c.add_argument_group("gates")
    k.add_argument("--fail-on", action="append", default=None, metavar="GATES",
                   help="comma-separated gates METRIC OP VALUE, for example 'alpha<0.67,p_first>55%%,"
                        "alpha_drop>0.1,drift' (repeatable; default: fail_on of [check] in --config)")
    k.add_argument("--baseline", default=None, metavar="FILE",
                   help="the baseline delivery (read with the same options as DATA); needed by _drop, _rise "
                        "and drift gates")
    k.add_argument("--strict", action=argparse.BooleanOptionalAction, default=None,
                   help="a gate passes only if its whole confidence interval lies on the passing side")
    k.add_argument("--json", default=None, metavar="FILE", help="write the gates and their values as JSON")
    _add_settings(c)
    c.set_defaults(func=_cmd_check)


def _config_help(p: argparse.ArgumentParser) -> None:
    for action in p._actions:
        if "--config" in action.option_strings:
            action.help = ("TOML file with [read] (reader options), [check] (gates, baseline, strict, json) and "
                           "[drift] (windows, baseline, metrics, fdr, CUSUM) tables; flags win over the file")


def _gates_epilog() -> str:
    lines = ["gate metrics:"]
    lines += [f"  {m:<20}{w}" for m, w in METRICS.items()]
    lines += [f"  {m:<20}{w} (a number: how many; a percentage: the share)" for m, w in COUNTS.items()]
    lines += ["  METRIC_drop         baseline - batch (needs --baseline)",
              "  METRIC_rise         batch - baseline (needs --baseline)",
              "  drift               fails when pq.compare calls a metric worse or flags an annotator",
              "", "exit status: 0 every gate passed, 1 a gate failed, 2 bad input or a gate that cannot be computed"]
    return "\n".join(lines)


# ------------------------------------------------------------------ config
def _check_table(table: Any, name: str, keys: dict[str, str], *, extra: Sequence[str] = ()) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise SchemaError(f"`[{name}]` in --config must be a table; got {type(table).__name__}.")
    bad = sorted(set(table) - set(keys) - set(extra))
    if bad:
        allowed = sorted({*keys, *extra})
        raise SchemaError(f"`[{name}]` has unknown key(s) {bad}; allowed keys are {allowed}.")
    for key in ("confidence_level", "fdr"):
        v = table.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1):
            raise SchemaError(f"`[{name}] {key}` must be {keys[key]}; got {v!r}.")
    return dict(table)


def _drift_extra() -> list[str]:
    """Keyword options of ``pq.drift`` beyond :data:`DRIFT_KEYS` (CUSUM settings and the like)."""
    from ..drift import drift

    params = inspect.signature(drift).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in DRIFT_KEYS]


def _configs(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(shared config with the read flags applied, ``[check]``, ``[drift]``) from ``--config`` and the flags."""
    from . import _config
    from ..io.config import load_config

    raw: dict[str, Any] = load_config(args.config) if args.config else {}
    check = _check_table(raw.pop("check", {}), "check", CHECK_KEYS)
    drift = raw.pop("drift", {})
    drift = _check_table(drift, "drift", DRIFT_KEYS, extra=_drift_extra() if drift else ())
    if "strict" in check and not isinstance(check["strict"], bool):
        raise SchemaError(f"`[check] strict` must be true or false; got {check['strict']!r}.")
    for key in ("baseline", "json"):
        if key in check and not isinstance(check[key], str):
            raise SchemaError(f"`[check] {key}` must be {CHECK_KEYS[key]}; got {check[key]!r}.")
    ns = copy.copy(args)
    ns.config = raw
    return _config(ns), check, drift


def _settings(args: argparse.Namespace, table: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("confidence_level", "fdr", "metrics", "min_judgments"):
        value = getattr(args, key, None)
        value = table.get(key) if value is None else value
        if value is not None:
            out[key] = value
    metrics = out.get("metrics")
    if metrics is not None:
        if isinstance(metrics, str):
            metrics = _csv(metrics)
        bad = [m for m in metrics if m not in METRICS] if isinstance(metrics, list) else [metrics]
        if bad:
            raise SchemaError(f"unknown metric(s) {bad} in --metrics; choose from {list(METRICS)}.")
        out["metrics"] = list(metrics)
    return out


# ------------------------------------------------------------------ reading and calling the library
def _read_file(args: argparse.Namespace, cfg: dict[str, Any], path: str, what: str) -> Any:
    from . import _read

    if not Path(path).exists():
        raise SchemaError(f"{what} file {path!r} does not exist; check the path.")
    return _read(argparse.Namespace(**{**vars(args), "data": path}), cfg)


def _baseline_value(text: Any, args: argparse.Namespace, cfg: dict[str, Any]) -> Any:
    """``--baseline`` of ``drift``: an int (first K windows), window labels, or a data file."""
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text
    if isinstance(text, list):
        return [str(t) for t in text]
    s = str(text).strip()
    if re.fullmatch(r"\d+", s):
        return int(s)
    if Path(s).is_file():
        return _read_file(args, cfg, s, "--baseline")
    return _csv(s)


def _drift_options(args: argparse.Namespace, table: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    opts = {k: v for k, v in table.items() if k not in ("confidence_level", "fdr", "metrics", "min_judgments")}
    for key in ("time", "freq", "window", "cusum_k", "cusum_h"):
        if getattr(args, key, None) is not None:
            opts[key] = getattr(args, key)
    if args.window is not None and args.time is None:
        opts.pop("time", None)
    if args.time is not None and args.window is None:
        opts.pop("window", None)
    base = args.baseline if args.baseline is not None else table.get("baseline")
    opts["baseline"] = _baseline_value(base, args, cfg)
    if opts["baseline"] is None:
        opts.pop("baseline")
    return {**opts, **_settings(args, table)}


# ------------------------------------------------------------------ prefqa drift
def _cmd_drift(args: argparse.Namespace) -> int:
    from ..drift import drift

    cfg, _, table = _configs(args)
    data = _read_file(args, cfg, args.data, "input")
    opts = _drift_options(args, table, cfg)
    res = library(lambda: drift(data, **opts))
    print(res.summary())
    _print_flags(res)
    written = []
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in (("windows", res.windows), ("annotators", res.annotators)):
            path = out / f"drift_{name}.csv"
            _atomic_text(path, frame.to_csv(index=False))
            written.append(str(path))
    if args.json:
        from ..audit._json import dumps

        content = {"summary": res.summary(), "settings": _settings_of(res),
                   "windows": records(res.windows), "annotators": records(res.annotators),
                   "warnings": list(getattr(res, "warnings", ()))}
        _atomic_text(Path(args.json), dumps(content))
        written.append(args.json)
    if written:
        print(f"\nwrote {' and '.join(written)}")
    return 0


def _settings_of(res: Any) -> dict[str, Any]:
    from ..audit._json import jsonable

    keep = {}
    for key in ("window_source", "labels", "baseline_windows", "baseline_rule", "metrics", "confidence_level", "fdr",
                "cusum_k", "cusum_h", "change_points", "n_windows", "n_judgments", "n_ratings", "n_annotators",
                "se_method"):
        if hasattr(res, key):
            value = getattr(res, key)
            if not hasattr(value, "judgments"):  # a baseline PreferenceData is not copied into the JSON
                keep[key] = jsonable(value)
    return keep


def _print_flags(res: Any) -> None:
    """After the summary: per metric, when it changed (first flagged window, first CUSUM alarm); who changed."""
    w = res.windows
    rows = [("metric", "flagged windows", "first flagged", "first CUSUM alarm")]
    alarms = getattr(res, "change_points", {}) or {}
    for metric, g in w.groupby("metric", sort=False, observed=True):
        hit = g[g["flagged"].fillna(False).astype(bool).to_numpy()]
        rows.append((str(metric), str(len(hit)), str(hit["window"].iloc[0]) if len(hit) else "-",
                     str(alarms.get(metric) or "-")))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print("\nWhat changed and when:")
    print("\n".join("  " + "  ".join(c.ljust(n) for c, n in zip(r, widths)).rstrip() for r in rows))
    a = res.annotators
    if len(a) and "flagged" in a:
        fa = a[a["flagged"].fillna(False).astype(bool).to_numpy()]
        first = fa.drop_duplicates("annotator_id")
        who = ", ".join(f"{r.annotator_id} from {r.window}" for r in first.itertuples())
        print(f"Who changed: {len(first)} annotator(s)" + (f": {who}" if who else ""))


def _atomic_text(path: Path, text: str) -> None:
    from .._atomic import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# ------------------------------------------------------------------ prefqa check
def _cmd_check(args: argparse.Namespace) -> int:
    cfg, table, drift_table = _configs(args)
    given = args.fail_on if args.fail_on else table.get("fail_on")
    if given is None:
        raise SchemaError("no gate given; pass --fail-on GATES (for example --fail-on 'alpha<0.67,drift') or set "
                          "fail_on in the [check] table of --config.")
    gates = parse_gates(given)
    strict = bool(args.strict if args.strict is not None else table.get("strict", False))
    base_path = args.baseline if args.baseline is not None else table.get("baseline")
    settings = _settings(args, {**drift_table, **table})
    data = _read_file(args, cfg, args.data, "input")
    baseline = _read_file(args, cfg, base_path, "--baseline") if base_path else None
    values = Values(data, baseline, settings)
    outcomes = [outcome(g, values, strict) for g in gates]
    print(_headline(args.data, base_path, data, baseline, outcomes, strict))
    print(render_table(outcomes))
    json_path = args.json if args.json is not None else table.get("json")
    if json_path:
        from .. import __version__
        from ..audit._json import dumps, jsonable

        content = gate_report(
            outcomes, prefqa=__version__, data=str(args.data), baseline=base_path, strict=strict,
            settings=jsonable(settings), n_judgments=data.n_judgments,
            baseline_n_judgments=None if baseline is None else baseline.n_judgments,
            compare=values.compare_records(), annotators=values.compare_annotators())
        _atomic_text(Path(json_path), dumps(content))
        print(f"\nwrote {json_path}")
    return exit_code(outcomes)


def _headline(path: str, base: str | None, data: Any, baseline: Any, outcomes: Sequence[GateOutcome],
              strict: bool) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("pass", "fail", "error")}
    against = f" against {base} ({baseline.n_judgments:,} judgments)" if baseline is not None else ""
    mode = " (--strict: whole intervals)" if strict else ""
    return (f"prefqa check: {path} ({data.n_judgments:,} judgments){against}{mode}: {len(outcomes)} gate(s), "
            f"{counts['pass']} passed, {counts['fail']} failed, {counts['error']} could not be computed\n")
