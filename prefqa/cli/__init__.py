"""The ``prefqa`` command line: ``audit``, ``export``, ``sample`` and ``--version``.

``audit`` and ``export`` run in memory (``pq.read``) or on an engine
(``pq.scan``): ``--engine duckdb --memory-limit 4GB`` (out of core),
``--engine spark --spark-master local[2]`` (a session prefqa builds), or the
default ``--engine auto`` (memory when the data fits comfortably). The
subcommands of other modules (``drift``, ``check``, ``relabel``) and the
export's cleaning flags are added when their modules exist.

Bad input (a :class:`~prefqa.errors.PrefqaError` or an unreadable file)
exits with status 2 and exactly one line, ``prefqa: error: <message>``, on
stderr; ``--debug`` prints the traceback too and makes the audit re-raise
errors inside steps instead of recording them as failed.

Every option of ``pq.read`` and ``pq.build_pairs`` that an error message
names is a flag, and errors raised under the command line name the flags,
not the Python options: one table (:data:`EXPORT_FLAGS`, :data:`READ_FLAGS`
and the ``pq.build_pairs`` flags generated from its signature) turns
``tie_label=True`` into ``--tie-label true``, ``on_error='skip'`` into
``--on-error skip`` and ``mapping={'choice': {'A': 'a'}}`` into
``--map-value choice:A=a`` (see :func:`cli_terms`).

Examples
--------
>>> main(["--version"])  # doctest: +ELLIPSIS
prefqa ...
0
>>> cli_terms("pass tie_label=True or build with ties='drop'.", "export")
'pass --tie-label true or build with --ties drop.'
"""

from __future__ import annotations

import argparse
import sys
import traceback
import typing
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from .. import __version__
from .._progress import Progress
from ..errors import PrefqaError, PrefqaWarning, SchemaError
from ._terms import (
    EXPORT_FLAGS,
    READ_FLAGS,
    cli_terms,
    list_values,
    literal_choices,
    policy_flags,
    policy_parameters,
    stage,
)

__all__ = ["EXPORT_FLAGS", "READ_FLAGS", "build_parser", "cli_terms", "main"]

_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``prefqa: error: ...``) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"prefqa: error: {message}\n")
        raise SystemExit(2)


def _map_pair(text: str) -> tuple[str, str]:
    if "=" not in text or text.startswith("=") or text.endswith("="):
        raise argparse.ArgumentTypeError(
            f"`--map` takes COLUMN=CANONICAL (for example rater=annotator_id); got {text!r}")
    col, canon = text.split("=", 1)
    return col.strip(), canon.strip()


def _map_value(text: str) -> tuple[str, str, str]:
    col, sep, rest = text.partition(":")
    if not sep or not col.strip() or "=" not in rest:
        raise argparse.ArgumentTypeError(
            f"`--map-value` takes COLUMN:FROM=TO (for example choice:A=a or choice:1=a); got {text!r}")
    old, new = rest.split("=", 1)
    return col.strip(), old, new


def _tie_label(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise argparse.ArgumentTypeError(
        f"`--tie-label` takes true (both responses of a tie acceptable) or false (both unacceptable); got {text!r}")


def _reader_formats() -> list[tuple[str, str]]:
    """(name, description) of every reader format, from the io registry when it exists."""
    from .. import io

    registry = getattr(io, "reader_formats", None)
    if registry is not None:
        return [(f.name, f.description) for f in registry()]
    return [(name, "") for name in io.FORMATS]


def _export_formats() -> tuple[str, ...]:
    from ..export._formats import FORMATS

    return FORMATS


def _listing(title: str, items: Sequence[tuple[str, str]]) -> str:
    width = max(len(n) for n, _ in items)
    return title + "\n" + "\n".join(f"  {n:<{width}}  {d}".rstrip() for n, d in items)


def _add_read_options(p: argparse.ArgumentParser) -> None:
    names = [n for n, _ in _reader_formats()]
    p.add_argument("data", metavar="DATA", help="input file (csv, tsv, jsonl, jsonl.gz, json, parquet, xlsx)")
    g = p.add_argument_group("reading (mirrors pq.read)")
    g.add_argument("--format", default=None, choices=["auto", *names],
                   help=f"input format, one of: auto, {', '.join(names)} (default: auto, or [read] format "
                        "in the config); see the list below")
    g.add_argument("--map", dest="mapping", action="append", type=_map_pair, default=[],
                   metavar="COL=CANONICAL", help="rename an input column to a canonical one (repeatable)")
    g.add_argument("--map-value", dest="map_values", action="append", type=_map_value, default=[],
                   metavar="COL:FROM=TO", help="replace the value FROM of column COL with TO, for example "
                   "choice:1=a (repeatable; builds pq.read(mapping={COL: {FROM: TO}}))")
    g.add_argument("--on-error", default=None, choices=["raise", "skip"],
                   help="bad rows and cells: raise (stop with the line and value) or skip (list them in the "
                        "load report); default raise")
    g.add_argument("--duplicates", default=None, choices=["keep", "drop"],
                   help="exact duplicate rows (equal in every column): keep or drop; always reported; default keep")
    g.add_argument("--config", default=None, metavar="TOML",
                   help="TOML file with [read], [pairs] and [audit] tables (every other reader option)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar on stderr")


ENGINES = ("auto", "memory", "duckdb", "spark")


def _add_engine_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("engine (pq.read in memory, or pq.scan on DuckDB / Spark)")
    g.add_argument("--engine", default="auto", choices=ENGINES,
                   help="where the analyses run: memory (pq.read), duckdb (out of core, spills under "
                        "--memory-limit), spark (a session on --spark-master), or auto (default: memory when "
                        "the data fits comfortably, duckdb otherwise); DATA may then be a glob such as "
                        "'data/*.parquet' (quote it)")
    g.add_argument("--memory-limit", default=None, metavar="SIZE",
                   help="DuckDB's memory limit, for example 4GB (--engine duckdb or auto)")
    g.add_argument("--threads", type=int, default=None, metavar="N", help="DuckDB's thread count")
    g.add_argument("--spark-master", default=None, metavar="URL",
                   help="--engine spark: the master of the session prefqa builds (default local[2]); a "
                        "cluster URL such as spark://host:7077, or run under spark-submit")
    g.add_argument("--responses", default=None, metavar="PARQUET",
                   help="engines: the responses table (response_id, text or precomputed features)")
    g.add_argument("--prompts", default=None, metavar="PARQUET", help="engines: the prompts table (prompt_id, text)")


def _add_policy_options(p: argparse.ArgumentParser) -> None:
    from ..pairs import build_pairs

    try:
        hints = typing.get_type_hints(build_pairs)
    except (NameError, TypeError):  # an annotation that cannot be evaluated: fall back to plain strings
        hints = {}
    params = {q.name: q for q in policy_parameters()}
    group = p.add_argument_group("pair-building policy (mirrors pq.build_pairs)")
    for name, (flag, kind) in policy_flags().items():
        param, hint = params[name], hints.get(name, str)
        text = str(hint)
        args: dict[str, Any] = {"dest": "policy__" + name, "default": argparse.SUPPRESS,
                                "metavar": name.upper()}
        what = f"build_pairs({name}=...)"
        choices = literal_choices(hint)
        if kind == "bool":
            args["action"] = argparse.BooleanOptionalAction
            args.pop("metavar")
        elif kind == "choice+bool":
            lit = next(a for a in typing.get_args(hint) if typing.get_origin(a) is typing.Literal)
            values = list(typing.get_args(lit))
            args.update(nargs="?", const=True, choices=values, metavar=None)
            what += f"; bare flag = True, or one of: {', '.join(values)}"
        elif choices:
            args["choices"] = choices
            args.pop("metavar")
            what += f"; one of: {', '.join(map(str, choices))}"
        elif any(k in text for k in ("Sequence", "Iterable", "list", "tuple", "Collection", "set")):
            args["type"] = _csv_list
            args["metavar"] = "A,B,..."
            valid = list_values(name)
            what += f"; comma-separated{': any of ' + ', '.join(valid) if valid else ' ids'}"
        elif "float" in text:
            args["type"] = float
        elif "int" in text:
            args["type"] = int
        default = param.default
        shown = ",".join(default) if isinstance(default, tuple) else default
        args["help"] = f"{what} (default {shown!r})".replace("%", "%%")
        group.add_argument(flag, **args)


def _csv_list(text: str) -> list[str]:
    return [t for t in (s.strip() for s in text.split(",")) if t]


def build_parser() -> argparse.ArgumentParser:
    """Return the ``prefqa`` argument parser."""
    parser = _Parser(prog="prefqa", description="Audit RLHF preference data and export clean training pairs.")
    parser.add_argument("--version", action="version", version=f"prefqa {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks; re-raise errors inside audit steps")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    formats = _listing("input formats (--format):", _reader_formats())
    raw = argparse.RawDescriptionHelpFormatter

    a = sub.add_parser("audit", help="write DIR/report.json and DIR/report.html and print the summary",
                       epilog=formats, formatter_class=raw)
    _add_read_options(a)
    a.add_argument("--out", default="prefqa-report", metavar="DIR",
                   help="output folder, created if missing (default: prefqa-report)")
    a.add_argument("--by", default=None, metavar="COLUMN",
                   help="stratum column for per-stratum reliability and the Simpson check")
    _add_engine_options(a)
    a.set_defaults(func=_cmd_audit)

    from ..pairs import REASONS

    reasons = _listing("reason codes of dropped comparisons (printed after an export):", list(REASONS.items()))
    x = sub.add_parser("export", help="build training pairs and write them with a manifest",
                       epilog=formats + "\n\n" + reasons, formatter_class=raw)
    _add_read_options(x)
    e = x.add_argument_group("output (mirrors pq.export)")
    fmts = _export_formats()
    e.add_argument("--to", required=True, choices=fmts, help=f"export format, one of: {', '.join(fmts)}")
    e.add_argument("--out", required=True, metavar="FILE",
                   help="output file (.jsonl, .jsonl.gz or .parquet); missing folders are created")
    e.add_argument("--tie-label", type=_tie_label, default=None, metavar="{true,false}",
                   help="--to kto with --ties keep_as_kto: label both responses of a tie acceptable (true) "
                        "or unacceptable (false)")
    e.add_argument("--allow-empty-prompts", action="store_true",
                   help="export even when every prompt is empty (refused by default: the prompt column was "
                        "probably not read)")
    e.add_argument("--margin-column", action="store_true", help="--to reward: add the margin column")
    _add_policy_options(x)
    _add_engine_options(x)
    cleaning = _optional("_export_opts")
    if cleaning is not None:
        cleaning.add_cleaning_options(x)
    x.set_defaults(func=_cmd_export)

    s = sub.add_parser("sample", help="write the bundled sample dataset")
    s.add_argument("--out", required=True, metavar="FILE",
                   help="output file (.jsonl, .jsonl.gz, .csv, .parquet); missing folders are created")
    s.set_defaults(func=_cmd_sample)
    for name in ("_monitor", "_clean"):  # drift / check, relabel (their own modules)
        module = _optional(name)
        if module is not None:
            module.register(sub)
    return parser


def _optional(name: str) -> Any:
    """``prefqa.cli.<name>`` when it exists (subcommands and flags other modules add), else ``None``."""
    import importlib

    try:
        return importlib.import_module(f".{name}", __package__)
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.{name}":
            raise
        return None


# ---------------------------------------------------------------- commands

def _config(args: argparse.Namespace) -> dict[str, Any]:
    from ..audit._config import resolve_config

    cfg = resolve_config(args.config)
    read = cfg["read"]
    if args.format is not None:
        read["format"] = args.format
    if args.on_error is not None:
        read["on_error"] = args.on_error
    if args.duplicates is not None:
        read["duplicates"] = args.duplicates
    if args.mapping or args.map_values:
        mapping = dict(read.get("mapping") or {})
        for col, canon in args.mapping:
            if isinstance(mapping.get(col), dict):
                raise SchemaError(f"`--map {col}={canon}` renames column {col!r}, which already has a value map "
                                  f"(--map-value {col}:... or [read.mapping] in the config); key the value map "
                                  f"by the new name: --map-value {canon}:FROM=TO.")
            mapping[col] = canon
        for col, old, new in args.map_values:
            current = mapping.get(col)
            if isinstance(current, str):
                raise SchemaError(f"`--map-value {col}:{old}={new}`: {col!r} is renamed to {current!r} by --map; "
                                  f"key the value map by the new name: --map-value {current}:{old}={new}.")
            mapping[col] = {**(current or {}), old: new}
        read["mapping"] = mapping
    return cfg


def _read(args: argparse.Namespace, cfg: dict[str, Any]) -> Any:
    from ..io import read

    path = Path(args.data)
    if not path.exists():
        raise SchemaError(f"input file {str(path)!r} does not exist; check the path.")
    with Progress(1, label="prefqa read", enabled=args.progress) as bar, stage("read"):
        bar.start(path.name)
        data = read(path, **cfg["read"])
        bar.advance()
    return data


def _glob_or_paths(text: str) -> list[str]:
    import glob

    return sorted(glob.glob(text)) if glob.has_magic(text) else [text]


def _engine(args: argparse.Namespace) -> tuple[str, str]:
    """The engine to run on and why (``--engine auto`` asks :func:`prefqa.engine._auto.choose_engine`)."""
    if args.engine != "auto":
        return args.engine, "chosen with --engine"
    paths = _glob_or_paths(args.data)
    if not paths:
        raise SchemaError(f"no file matches {args.data!r}; check the path or the glob.")
    try:
        from ..engine._auto import choose_engine
    except ImportError:  # the rule's module is not there: pq.read for one file, DuckDB for several
        if len(paths) == 1 and args.responses is None and args.prompts is None:
            return "memory", "one file (no engine rule available)"
        return "duckdb", "several files (no engine rule available)"
    kind, why = choose_engine(paths)
    return ("memory" if kind == "memory" else "duckdb"), why


_READ_ONLY_FLAGS = (("format", "--format"), ("on_error", "--on-error"), ("duplicates", "--duplicates"))


def _load(args: argparse.Namespace, cfg: dict[str, Any]) -> tuple[Any, Any]:
    """``(data, session)``: ``pq.read`` for the memory engine, ``pq.scan`` otherwise (and the Spark session built)."""
    engine, why = _engine(args)
    if engine == "memory":
        if args.responses is not None or args.prompts is not None:
            raise SchemaError("--responses / --prompts name engine tables; add --engine duckdb (or spark), or "
                              "read one canonical file in memory without them.")
        return _read(args, cfg), None
    used = [flag for attr, flag in _READ_ONLY_FLAGS if getattr(args, attr) is not None]
    if args.mapping or args.map_values:
        used.append("--map / --map-value")
    if used:
        verb = "is an option" if len(used) == 1 else "are options"
        raise SchemaError(f"{', '.join(used)} {verb} of pq.read (--engine memory); --engine {engine} scans "
                          "canonical Parquet as written by pq.write. Drop them, or add --engine memory.")
    from ..engine import scan

    session = None
    with Progress(1, label=f"prefqa scan ({engine})", enabled=args.progress) as bar, stage("read"):
        bar.start(args.data)
        if engine == "spark":
            session = _spark_session(args.spark_master)
            data = scan(_glob_or_paths(args.data), engine="spark", connection=session,
                        responses=args.responses, prompts=args.prompts)
        else:
            # --engine auto that chose DuckDB: pq.scan(engine="auto") sets its documented memory limit
            data = scan(_glob_or_paths(args.data), engine="auto" if args.engine == "auto" else "duckdb",
                        memory_limit=args.memory_limit,
                        threads=args.threads, responses=args.responses, prompts=args.prompts)
        data.meta["engine_choice"] = why
        bar.advance()
    return data, session


def _spark_session(master: str | None) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SchemaError("--engine spark needs pyspark and a Java runtime: pip install 'prefqa[spark]'.") from exc
    builder = SparkSession.builder.appName("prefqa").config("spark.ui.enabled", "false")
    if master is not None or SparkSession.getActiveSession() is None:
        builder = builder.master(master or "local[2]")
    return builder.getOrCreate()


def _cmd_audit(args: argparse.Namespace) -> int:
    from ..audit import audit

    cfg = _config(args)
    if args.by is not None:
        cfg["audit"]["by"] = args.by
    data, _session = _load(args, cfg)
    with stage("pairs"):
        report = audit(data, config=cfg, progress=args.progress, strict=args.debug)
    out = Path(args.out)
    report.to_json(out / "report.json")
    report.to_html(out / "report.html")
    print(report.summary())
    print(f"\nwrote {out / 'report.json'} and {out / 'report.html'}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from ..export import export, manifest_path
    from ..pairs import build_pairs

    cfg = _config(args)
    policy = dict(cfg["pairs"])
    policy.update({k.removeprefix("policy__"): v for k, v in vars(args).items() if k.startswith("policy__")})
    data, _session = _load(args, cfg)
    cleaning = _optional("_export_opts")
    if cleaning is not None:
        policy.update(cleaning.cleaning_kwargs(args, data))
    out = Path(args.out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PrefqaWarning)
        with stage("pairs"):
            pairs = build_pairs(data, **policy)
        with stage("export"), _folders_for(out):
            _check_out(out)
            path = export(pairs, out, format=args.to, tie_label=args.tie_label, margin=args.margin_column,
                          allow_empty_prompts=args.allow_empty_prompts)
    _reissue(caught, "export")
    report = getattr(data, "load_report", None)
    if report is not None:  # what the reader kept, rejected, dropped and changed, in CLI terms
        print("\n".join(cli_terms(line, "read") for line in report.summary().splitlines()))
    print("\n".join(cli_terms(line, "pairs") for line in pairs.summary().splitlines()))
    print(f"wrote {path} and {manifest_path(path)}")
    return 0


@contextmanager
def _folders_for(out: Path) -> Iterator[None]:
    """Create the missing folders of ``out`` (as ``audit --out`` does); remove them again if the write fails."""
    missing = [d for d in [out.parent, *out.parent.parents] if not d.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for d in missing:  # deepest first; only folders this call made, and only while empty
            try:
                d.rmdir()
            except OSError:
                break
        raise


def _check_out(out: Path) -> None:
    """Refuse a bad suffix before any folder is created (the export would refuse it after)."""
    if not any(out.name.endswith(s) for s in (".jsonl", ".jsonl.gz", ".parquet")):
        raise SchemaError(f"`path` must end in one of ['.jsonl', '.jsonl.gz', '.parquet']; got {out.name!r}.")


def _reissue(caught: list[warnings.WarningMessage], where: str) -> None:
    """Print prefqa's warnings as ``prefqa: warning: ...`` lines in CLI terms; re-emit the others."""
    for w in caught:
        if issubclass(w.category, PrefqaWarning):
            sys.stderr.write(f"prefqa: warning: {cli_terms(_one_line(w.message), where)}\n")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _cmd_sample(args: argparse.Namespace) -> int:
    from ..io import load_sample, write

    out = Path(args.out)
    with _folders_for(out):
        path = write(load_sample(), out)
    print(f"wrote {path}")
    return 0


def _one_line(exc: BaseException | Warning | str) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``prefqa`` command line and return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        return int(args.func(args))
    except PrefqaError as exc:
        if args.debug:
            traceback.print_exc()
        where = getattr(exc, "_prefqa_stage", None)
        text = _one_line(exc)
        sys.stderr.write(f"prefqa: error: {cli_terms(text, where, exc) if where else text}\n")
        return 2
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc()
        sys.stderr.write("prefqa: interrupted; no partial output file was left (writes are atomic)\n")
        return 130
    except OSError as exc:
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(f"prefqa: error: {_one_line(exc)}\n")
        return 2
    except Exception as exc:  # noqa: BLE001 - a bug: say so in one line, traceback with --debug
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(f"prefqa: error: unexpected {type(exc).__name__}: {_one_line(exc)} "
                         "(rerun with --debug for the traceback and report it)\n")
        return 1
