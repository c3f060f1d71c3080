"""The ``prefqa`` command line: ``audit``, ``export``, ``sample`` and ``--version``.

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
import ast
import inspect
import re
import shlex
import sys
import traceback
import typing
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from ._progress import Progress
from .errors import PrefqaError, PrefqaWarning, SchemaError

__all__ = ["main", "build_parser", "cli_terms", "READ_FLAGS", "EXPORT_FLAGS"]

#: ``pq.read`` options -> flags (``mapping`` is phrased as ``--map`` / ``--map-value``).
READ_FLAGS: dict[str, str] = {"format": "--format", "on_error": "--on-error", "duplicates": "--duplicates",
                              "mapping": "--map"}
#: ``pq.export`` options -> flags of ``prefqa export``.
EXPORT_FLAGS: dict[str, str] = {"format": "--to", "tie_label": "--tie-label", "margin": "--margin-column",
                                "allow_empty_prompts": "--allow-empty-prompts", "path": "--out"}
_BOOL_FLAGS = {"--allow-empty-prompts", "--margin-column"}  # store_true flags: True -> the bare flag
_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")


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
    from . import io

    registry = getattr(io, "reader_formats", None)
    if registry is not None:
        return [(f.name, f.description) for f in registry()]
    return [(name, "") for name in io.FORMATS]


def _export_formats() -> tuple[str, ...]:
    from .export._formats import FORMATS

    return FORMATS


def _listing(title: str, items: Sequence[tuple[str, str]]) -> str:
    width = max(len(n) for n, _ in items)
    return title + "\n" + "\n".join(f"  {n:<{width}}  {d}".rstrip() for n, d in items)


def _add_read_options(p: argparse.ArgumentParser) -> None:
    names = [n for n, _ in _reader_formats()]
    p.add_argument("data", metavar="DATA", help="input file (csv, jsonl, jsonl.gz, json, parquet, xlsx)")
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


def _policy_parameters() -> list[inspect.Parameter]:
    """Keyword options of ``pq.build_pairs`` (the export flags mirror them)."""
    from .pairs import build_pairs

    sig = inspect.signature(build_pairs)
    return [p for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _literal_choices(hint: Any) -> list[Any] | None:
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Literal:
        return list(args)
    lits = [a for a in args if typing.get_origin(a) is typing.Literal]
    if len(lits) == 1 and all(a in (type(None),) or a is lits[0] for a in args):
        return list(typing.get_args(lits[0]))
    return None


def _list_values(name: str) -> list[str] | None:
    """Valid items of list options whose values are names (shown in --help)."""
    if name == "guards":
        from .pairs import DEFAULT_GUARDS, OPTIONAL_GUARDS

        return [*DEFAULT_GUARDS, *OPTIONAL_GUARDS]
    return None


def _policy_flags() -> dict[str, tuple[str, str]]:
    """``build_pairs`` option -> (flag, kind) with kind 'bool', 'value' or 'choice+bool'."""
    from .pairs import build_pairs

    try:
        hints = typing.get_type_hints(build_pairs)
    except Exception:  # an annotation that cannot be evaluated: fall back to plain strings
        hints = {}
    out = {}
    for param in _policy_parameters():
        hint = hints.get(param.name, str)
        if hint is typing.Any or "Callable" in str(hint):
            continue  # Python objects (a tokenizer) cannot come from the command line
        union = typing.get_args(hint)
        if hint is bool:
            kind = "bool"
        elif bool in union and any(typing.get_origin(a) is typing.Literal for a in union):
            kind = "choice+bool"
        else:
            kind = "value"
        out[param.name] = (_flag(param.name), kind)
    return out


def _add_policy_options(p: argparse.ArgumentParser) -> None:
    from .pairs import build_pairs

    try:
        hints = typing.get_type_hints(build_pairs)
    except Exception:  # an annotation that cannot be evaluated: fall back to plain strings
        hints = {}
    params = {q.name: q for q in _policy_parameters()}
    group = p.add_argument_group("pair-building policy (mirrors pq.build_pairs)")
    for name, (flag, kind) in _policy_flags().items():
        param, hint = params[name], hints.get(name, str)
        text = str(hint)
        args: dict[str, Any] = {"dest": "policy__" + name, "default": argparse.SUPPRESS,
                                "metavar": name.upper()}
        what = f"build_pairs({name}=...)"
        choices = _literal_choices(hint)
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
            valid = _list_values(name)
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
    a.add_argument("--by", default=None, metavar="COLUMN", help="stratum column for per-stratum reliability and the Simpson check")
    a.set_defaults(func=_cmd_audit)

    from .pairs import REASONS

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
    x.set_defaults(func=_cmd_export)

    s = sub.add_parser("sample", help="write the bundled sample dataset")
    s.add_argument("--out", required=True, metavar="FILE",
                   help="output file (.jsonl, .jsonl.gz, .csv, .parquet); missing folders are created")
    s.set_defaults(func=_cmd_sample)
    return parser


# ---------------------------------------------------------------- library terms -> CLI terms

def _stage_table(stage: str) -> dict[str, str]:
    """Library option -> flag for errors raised in ``stage`` ('read', 'pairs' or 'export')."""
    table: dict[str, str] = {}
    if stage == "export":
        table.update(EXPORT_FLAGS)
    if stage in ("pairs", "export"):
        try:
            flags = _policy_flags()
        except ImportError:  # pragma: no cover - pairs missing from a partial install
            flags = {}
        for name, (flag, _) in flags.items():
            table.setdefault(name, flag)
    for name, flag in READ_FLAGS.items():
        table.setdefault(name, flag)
    return table


def _config_keys() -> tuple[str, ...]:
    try:
        from .io.config import READ_KEYS
    except ImportError:  # pragma: no cover
        return ()
    return tuple(READ_KEYS)


def _scan_value(text: str, i: int) -> int:
    """End of the Python literal starting at ``text[i]`` (quoted, bracketed or a bare token)."""
    n = len(text)
    if i >= n:
        return i
    if text[i] in "'\"":
        j = text.find(text[i], i + 1)
        return n if j < 0 else j + 1
    if text[i] in "{[(":
        depth, j, quote = 0, i, None
        while j < n:
            c = text[j]
            if quote:
                quote = None if c == quote else quote
            elif c in "'\"":
                quote = c
            elif c in "{[(":
                depth += 1
            elif c in "}])":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        return n
    m = re.compile(r"[^\s,;)\]}`]*").match(text, i)
    end = m.end() if m else i
    while end > i and text[end - 1] == ".":
        end -= 1
    return end


def _literal(raw: str) -> Any:
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw.strip("'\"")


def _mapping_flags(raw: str, exc: BaseException | None) -> str:
    fix = getattr(exc, "fix", None)
    if isinstance(fix, dict) and fix.get("map_value"):
        try:
            from .io import format_fix

            return format_fix(fix, "cli")
        except ImportError:  # pragma: no cover - older io without format_fix
            pass
    value = _literal(raw) if raw else None
    if not isinstance(value, dict) or not value:
        return "`--map COL=CANONICAL` / `--map-value COL:FROM=TO`"
    parts = []
    for col, v in value.items():
        if isinstance(v, dict):
            parts += [f"--map-value {shlex.quote(f'{col}:{k}={t}')}" for k, t in v.items()]
        else:
            parts.append(f"--map {shlex.quote(f'{col}={v}')}")
    return " ".join(parts)


def _render(name: str, raw: str, table: dict[str, str], exc: BaseException | None) -> str | None:
    if name == "mapping":
        return _mapping_flags(raw, exc)
    if name in table:
        flag = table[name]
        value = _literal(raw) if raw else None
        if not raw:
            return f"`{flag}`"
        if value is None:
            return f"no {flag}"
        if flag in _BOOL_FLAGS:
            return flag if value is True else f"no {flag}"
        if isinstance(value, bool):
            kinds = dict(_policy_flags().values()) if flag not in ("--tie-label",) else {}
            if kinds.get(flag) == "bool":
                return flag if value else "--no-" + flag[2:]
            if kinds.get(flag) == "choice+bool" and value:
                return flag
            return f"{flag} {str(value).lower()}"
        if isinstance(value, (list, tuple)):
            return f"{flag} {shlex.quote(','.join(map(str, value)))}"
        return f"{flag} {shlex.quote(str(value))}" if str(value) not in ("...", "'...'") else f"{flag} ..."
    if name in _config_keys():
        return f"`{name} = {raw or '...'}` in the [read] table of --config TOML"
    return None


_TOKEN = re.compile(r"pq\.(?:read|build_pairs|export)\(|(?<![\w.\-:/])([a-z_][a-z0-9_]*)\s*=(?!=)")


def cli_terms(message: str, stage: str = "read", exc: BaseException | None = None) -> str:
    """Rephrase library options in ``message`` as ``prefqa`` flags.

    ``stage`` says which call raised it (``'read'``, ``'pairs'`` or ``'export'``): ``format``
    is ``--format`` when reading and ``--to`` when exporting. Calls such as
    ``pq.read(source, mapping={...})`` become their flags; options that are no flag name the
    ``[read]`` key of ``--config``; text that names no option is left alone.

    Examples
    --------
    >>> cli_terms("or pass on_error='skip' to list it.")
    'or pass --on-error skip to list it.'
    >>> cli_terms("Map your codes, for example mapping={'choice': {'A': 'a', 'Tie': 'tie'}}.")
    'Map your codes, for example --map-value choice:A=a --map-value choice:Tie=tie.'
    >>> cli_terms("Rename them, for example pq.read(source, mapping={'rater': 'annotator_id'}).")
    'Rename them, for example --map rater=annotator_id.'
    >>> cli_terms("pass policy='best_vs_worst' or use policy=None", "pairs")
    'pass --policy best_vs_worst or use no --policy'
    """
    table = _stage_table(stage)
    out, pos = [], 0
    while True:
        m = _TOKEN.search(message, pos)
        if m is None:
            out.append(message[pos:])
            return "".join(out)
        out.append(message[pos:m.start()])
        if m.group(1) is None:  # a call: keep its translated keyword arguments only
            end = _scan_value(message, m.end() - 1)
            inner = message[m.end():end - 1]
            args = [cli_terms(a.strip(), stage, exc) for a in _split_args(inner) if "=" in a]
            out.append(" ".join(args) if args else m.group(0) + inner + ")")
            pos = end
            continue
        name = m.group(1)
        j = m.end()
        while j < len(message) and message[j] == " ":
            j += 1
        end = _scan_value(message, j)
        new = _render(name, message[j:end], table, exc)
        if new is None:
            out.append(message[m.start():m.end()])
            pos = m.end()
        else:
            out.append(new)
            pos = end


def _split_args(inner: str) -> list[str]:
    parts, depth, quote, start = [], 0, None, 0
    for k, c in enumerate(inner):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "{[(":
            depth += 1
        elif c in "}])":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(inner[start:k])
            start = k + 1
    parts.append(inner[start:])
    return parts


@contextmanager
def _stage(name: str) -> Iterator[None]:
    """Mark PrefqaErrors raised inside with the stage whose options they name."""
    try:
        yield
    except PrefqaError as exc:
        if not hasattr(exc, "_prefqa_stage"):
            exc._prefqa_stage = name  # type: ignore[attr-defined]
        raise


# ---------------------------------------------------------------- commands

def _config(args: argparse.Namespace) -> dict[str, Any]:
    from .audit._config import resolve_config

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
    from .io import read

    path = Path(args.data)
    if not path.exists():
        raise SchemaError(f"input file {str(path)!r} does not exist; check the path.")
    with Progress(1, label="prefqa read", enabled=args.progress) as bar, _stage("read"):
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
    with _stage("pairs"):
        report = audit(data, config=cfg, progress=args.progress, strict=args.debug)
    out = Path(args.out)
    report.to_json(out / "report.json")
    report.to_html(out / "report.html")
    print(report.summary())
    print(f"\nwrote {out / 'report.json'} and {out / 'report.html'}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export, manifest_path
    from .pairs import build_pairs

    cfg = _config(args)
    policy = dict(cfg["pairs"])
    policy.update({k.removeprefix("policy__"): v for k, v in vars(args).items() if k.startswith("policy__")})
    data = _read(args, cfg)
    out = Path(args.out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PrefqaWarning)
        with _stage("pairs"):
            pairs = build_pairs(data, **policy)
        with _stage("export"), _folders_for(out):
            _check_out(out)
            path = export(pairs, out, format=args.to, tie_label=args.tie_label, margin=args.margin_column,
                          allow_empty_prompts=args.allow_empty_prompts)
    _reissue(caught, "export")
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


def _reissue(caught: list[warnings.WarningMessage], stage: str) -> None:
    """Print prefqa's warnings as ``prefqa: warning: ...`` lines in CLI terms; re-emit the others."""
    for w in caught:
        if issubclass(w.category, PrefqaWarning):
            sys.stderr.write(f"prefqa: warning: {cli_terms(_one_line(w.message), stage)}\n")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _cmd_sample(args: argparse.Namespace) -> int:
    from .io import load_sample, write

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
        stage = getattr(exc, "_prefqa_stage", None)
        text = _one_line(exc)
        sys.stderr.write(f"prefqa: error: {cli_terms(text, stage, exc) if stage else text}\n")
        return 2
    except OSError as exc:
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
