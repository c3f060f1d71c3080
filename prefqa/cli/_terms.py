"""Library terms -> command-line terms: the one table behind every error the CLI prints.

Errors raised by ``pq.read``, ``pq.build_pairs`` and ``pq.export`` name Python options
(``tie_label=True``, ``on_error='skip'``, ``mapping={...}``). Under the command line
:func:`cli_terms` rephrases them as flags, from :data:`READ_FLAGS`, :data:`EXPORT_FLAGS`
and the ``pq.build_pairs`` flags generated from its signature (:func:`policy_flags`);
reader options that are no flag name their ``[read]`` key of ``--config``. A structured fix
carried by the error (``SchemaError.fix``, see ``prefqa.io.format_fix``) is used when present.
The stage that raised (``read``, ``pairs``, ``export``) picks the table: ``format`` is
``--format`` when reading and ``--to`` when exporting.

Examples
--------
>>> cli_terms("pass tie_label=True or build with ties='drop'.", "export")
'pass --tie-label true or build with --ties drop.'
"""

from __future__ import annotations

import ast
import inspect
import re
import shlex
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import PrefqaError

__all__ = ["EXPORT_FLAGS", "READ_FLAGS", "cli_terms", "list_values", "literal_choices", "policy_flags",
           "policy_parameters", "stage"]

#: ``pq.read`` options -> flags (``mapping`` is phrased as ``--map`` / ``--map-value``).
READ_FLAGS: dict[str, str] = {"format": "--format", "on_error": "--on-error", "duplicates": "--duplicates",
                              "mapping": "--map"}
#: ``pq.export`` options -> flags of ``prefqa export``.
EXPORT_FLAGS: dict[str, str] = {"format": "--to", "tie_label": "--tie-label", "margin": "--margin-column",
                                "allow_empty_prompts": "--allow-empty-prompts", "path": "--out"}
_BOOL_FLAGS = {"--allow-empty-prompts", "--margin-column"}  # store_true flags: True -> the bare flag



def policy_parameters() -> list[inspect.Parameter]:
    """Keyword options of ``pq.build_pairs`` (the export flags mirror them)."""
    from ..pairs import build_pairs

    sig = inspect.signature(build_pairs)
    return [p for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def literal_choices(hint: Any) -> list[Any] | None:
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Literal:
        return list(args)
    lits = [a for a in args if typing.get_origin(a) is typing.Literal]
    if len(lits) == 1 and all(a in (type(None),) or a is lits[0] for a in args):
        return list(typing.get_args(lits[0]))
    return None


def list_values(name: str) -> list[str] | None:
    """Valid items of list options whose values are names (shown in --help)."""
    if name == "guards":
        from ..pairs import DEFAULT_GUARDS, OPTIONAL_GUARDS

        return [*DEFAULT_GUARDS, *OPTIONAL_GUARDS]
    return None


def policy_flags() -> dict[str, tuple[str, str]]:
    """``build_pairs`` option -> (flag, kind) with kind 'bool', 'value' or 'choice+bool'."""
    from ..pairs import build_pairs

    try:
        hints = typing.get_type_hints(build_pairs)
    except (NameError, TypeError):  # an annotation that cannot be evaluated: fall back to plain strings
        hints = {}
    out = {}
    for param in policy_parameters():
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



def _stage_table(stage: str) -> dict[str, str]:
    """Library option -> flag for errors raised in ``stage`` ('read', 'pairs' or 'export')."""
    table: dict[str, str] = {}
    if stage == "export":
        table.update(EXPORT_FLAGS)
    if stage in ("pairs", "export"):
        try:
            flags = policy_flags()
        except ImportError:  # pragma: no cover - pairs missing from a partial install
            flags = {}
        for name, (flag, _) in flags.items():
            table.setdefault(name, flag)
    for name, flag in READ_FLAGS.items():
        table.setdefault(name, flag)
    return table


def _config_keys() -> tuple[str, ...]:
    try:
        from ..io.config import READ_KEYS
    except ImportError:  # pragma: no cover
        return ()
    return tuple(READ_KEYS)


def _outside_quotes(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """Yield ``(index, char, depth)`` for each character of ``text[start:]`` outside quoted strings.

    ``depth`` is the number of brackets open around the character (a closing
    bracket reports the depth it returns to).

    >>> [(c, d) for _, c, d in _outside_quotes("{'a': [1]}") if c in "{}[]"]
    [('{', 0), ('[', 1), (']', 1), ('}', 0)]
    """
    depth, quote = 0, None
    for k in range(start, len(text)):
        c = text[k]
        if quote:
            quote = None if c == quote else quote
            continue
        if c in "'\"":
            quote = c
            continue
        if c in "}])":
            depth -= 1
        yield k, c, depth
        if c in "{[(":
            depth += 1


def _scan_value(text: str, i: int) -> int:
    """End of the Python literal starting at ``text[i]`` (quoted, bracketed or a bare token)."""
    n = len(text)
    if i >= n:
        return i
    if text[i] in "'\"":
        j = text.find(text[i], i + 1)
        return n if j < 0 else j + 1
    if text[i] in "{[(":
        return next((k + 1 for k, c, depth in _outside_quotes(text, i) if c in "}])" and depth == 0), n)
    m = re.compile(r"[^\s,;)\]}`]*").match(text, i)
    end = m.end() if m else i
    while end > i and text[end - 1] == "." and text[i:end].strip(".") != "":
        end -= 1  # a sentence's full stop, not an ellipsis
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
            from ..io import format_fix

            return format_fix(fix, "cli")
        except ImportError:  # pragma: no cover - older io without format_fix
            pass
    value = _literal(raw) if raw else None
    if not isinstance(value, dict) or not value:
        return "--map COL=CANONICAL (or --map-value COL:FROM=TO)"
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
            return flag
        if value is None:
            return f"no {flag}"
        if flag in _BOOL_FLAGS:
            return flag if value is True else f"no {flag}"
        if isinstance(value, bool):
            kinds = dict(policy_flags().values()) if flag not in ("--tie-label",) else {}
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
    parts, start = [], 0
    for k, c, depth in _outside_quotes(inner):
        if c == "," and depth == 0:
            parts.append(inner[start:k])
            start = k + 1
    parts.append(inner[start:])
    return parts


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Mark PrefqaErrors raised inside with the stage whose options they name."""
    try:
        yield
    except PrefqaError as exc:
        if not hasattr(exc, "_prefqa_stage"):
            exc._prefqa_stage = name  # type: ignore[attr-defined]
        raise
