"""The ``prefqa`` command line: ``audit``, ``export``, ``sample`` and ``--version``.

Bad input (a :class:`~prefqa.errors.PrefqaError` or an unreadable file)
exits with status 2 and exactly one line, ``prefqa: error: <message>``, on
stderr; ``--debug`` prints the traceback too and makes the audit re-raise
errors inside steps instead of recording them as failed.

Examples
--------
>>> main(["--version"])  # doctest: +ELLIPSIS
prefqa ...
0
"""

from __future__ import annotations

import argparse
import inspect
import sys
import traceback
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from ._progress import Progress
from .errors import PrefqaError, SchemaError

__all__ = ["main", "build_parser"]

EXPORT_FORMATS = ("dpo", "reward", "kto", "prompts", "openai")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``prefqa: error: ...``) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"prefqa: error: {message}\n")
        raise SystemExit(2)


def _map_pair(text: str) -> tuple[str, str]:
    if "=" not in text or text.startswith("=") or text.endswith("="):
        raise argparse.ArgumentTypeError(f"`--map` takes COLUMN=CANONICAL (for example rater=annotator_id); got {text!r}")
    col, canon = text.split("=", 1)
    return col.strip(), canon.strip()


def _add_read_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", metavar="DATA", help="input file (csv, jsonl, jsonl.gz, json, parquet)")
    p.add_argument("--format", default=None, help="input format (default: auto, or [read] format in the config)")
    p.add_argument("--map", dest="mapping", action="append", type=_map_pair, default=[],
                   metavar="COL=CANONICAL", help="rename an input column to a canonical one (repeatable)")
    p.add_argument("--config", default=None, metavar="TOML",
                   help="TOML file with [read], [pairs] and [audit] tables")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar on stderr")


def _policy_parameters() -> list[inspect.Parameter]:
    """Keyword options of ``pq.build_pairs`` (the export flags mirror them)."""
    try:
        from .pairs import build_pairs
    except ImportError:  # pairs not installed in this checkout: policy comes from the config only
        return []
    sig = inspect.signature(build_pairs)
    return [p for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_policy_options(p: argparse.ArgumentParser) -> None:
    params = _policy_parameters()
    if not params:
        return
    from .pairs import build_pairs

    try:
        hints = typing.get_type_hints(build_pairs)
    except Exception:  # an annotation that cannot be evaluated: fall back to plain strings
        hints = {}
    group = p.add_argument_group("pair-building policy (mirrors pq.build_pairs)")
    for param in params:
        hint = hints.get(param.name, str)
        if hint is typing.Any or "Callable" in str(hint):
            continue  # Python objects (a tokenizer) cannot come from the command line
        text = str(hint)
        default = argparse.SUPPRESS
        args: dict[str, Any] = {"dest": "policy__" + param.name, "default": default,
                                "metavar": param.name.upper(),
                                "help": f"build_pairs({param.name}=...), default {param.default!r}"}
        choices = _literal_choices(hint)
        union = typing.get_args(hint)
        if hint is bool:
            args["action"] = argparse.BooleanOptionalAction
        elif bool in union and any(typing.get_origin(a) is typing.Literal for a in union):
            lit = next(a for a in union if typing.get_origin(a) is typing.Literal)
            args.update(nargs="?", const=True, choices=list(typing.get_args(lit)), metavar=None)
        elif choices:
            args["choices"] = choices
        elif any(k in text for k in ("Sequence", "Iterable", "list", "tuple", "Collection", "set")):
            args["type"] = _csv_list
            args["metavar"] = "A,B,..."
        elif "float" in text:
            args["type"] = float
        elif "int" in text:
            args["type"] = int
        group.add_argument(_flag(param.name), **args)


def _literal_choices(hint: Any) -> list[Any] | None:
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Literal:
        return list(args)
    lits = [a for a in args if typing.get_origin(a) is typing.Literal]
    if len(lits) == 1 and all(a in (type(None),) or a is lits[0] for a in args):
        return list(typing.get_args(lits[0]))
    return None


def _csv_list(text: str) -> list[str]:
    return [t for t in (s.strip() for s in text.split(",")) if t]


def build_parser() -> argparse.ArgumentParser:
    """Return the ``prefqa`` argument parser."""
    parser = _Parser(prog="prefqa", description="Audit RLHF preference data and export clean training pairs.")
    parser.add_argument("--version", action="version", version=f"prefqa {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks; re-raise errors inside audit steps")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    a = sub.add_parser("audit", help="write DIR/report.json and DIR/report.html and print the summary")
    _add_read_options(a)
    a.add_argument("--out", default="prefqa-report", metavar="DIR", help="output folder (default: prefqa-report)")
    a.add_argument("--by", default=None, metavar="COLUMN", help="stratum column for per-stratum reliability and the Simpson check")
    a.set_defaults(func=_cmd_audit)

    x = sub.add_parser("export", help="build training pairs and write them with a manifest")
    _add_read_options(x)
    x.add_argument("--to", required=True, choices=EXPORT_FORMATS, help="export format")
    x.add_argument("--out", required=True, metavar="FILE", help="output file")
    _add_policy_options(x)
    x.set_defaults(func=_cmd_export)

    s = sub.add_parser("sample", help="write the bundled sample dataset")
    s.add_argument("--out", required=True, metavar="FILE", help="output file (.jsonl, .jsonl.gz, .csv, .parquet)")
    s.set_defaults(func=_cmd_sample)
    return parser


def _config(args: argparse.Namespace) -> dict[str, Any]:
    from .audit._config import resolve_config

    cfg = resolve_config(args.config)
    read = cfg["read"]
    if args.format is not None:
        read["format"] = args.format
    if args.mapping:
        mapping = dict(read.get("mapping") or {})
        mapping.update(dict(args.mapping))
        read["mapping"] = mapping
    return cfg


def _read(args: argparse.Namespace, cfg: dict[str, Any]) -> Any:
    from .io import read

    path = Path(args.data)
    if not path.exists():
        raise SchemaError(f"input file {str(path)!r} does not exist; check the path.")
    with Progress(1, label="prefqa read", enabled=args.progress) as bar:
        bar.start(path.name)
        data = read(path, **cfg["read"])
        bar.advance()
    return data


def _cmd_audit(args: argparse.Namespace) -> int:
    from .audit import audit

    cfg = _config(args)
    if args.by is not None:
        cfg["audit"]["by"] = args.by
    data = _read(args, cfg)
    report = audit(data, config=cfg, progress=args.progress, strict=args.debug)
    out = Path(args.out)
    report.to_json(out / "report.json")
    report.to_html(out / "report.html")
    print(report.summary())
    print(f"\nwrote {out / 'report.json'} and {out / 'report.html'}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export
    from .pairs import build_pairs

    cfg = _config(args)
    policy = dict(cfg["pairs"])
    policy.update({k.removeprefix("policy__"): v for k, v in vars(args).items() if k.startswith("policy__")})
    data = _read(args, cfg)
    pairs = build_pairs(data, **policy)
    path = export(pairs, args.out, format=args.to)
    print(f"wrote {path}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from .io import load_sample, write

    path = write(load_sample(), args.out)
    print(f"wrote {path}")
    return 0


def _one_line(exc: BaseException) -> str:
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
    except (PrefqaError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(f"prefqa: error: {_one_line(exc)}\n")
        return 2
    except Exception as exc:  # a bug: say so in one line, traceback with --debug
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(f"prefqa: error: unexpected {type(exc).__name__}: {_one_line(exc)} "
                         "(rerun with --debug for the traceback and report it)\n")
        return 1
