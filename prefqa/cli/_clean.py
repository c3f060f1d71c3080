"""``prefqa relabel``: the relabel queue for a vendor (``pq.relabel_queue``), written atomically.

``prefqa relabel DATA --budget 500 --out queue.csv [--scores COL[,COL]]`` reads DATA as
``prefqa audit`` does, computes ``pq.label_issues`` (votes only, or with reward-model / judge
scores: one column stem such as ``rm_score`` for ``rm_score_a`` / ``rm_score_b`` or a responses
column, or two judgment columns: the scores of the responses shown first and second), ranks the
comparisons by the expected reduction in label error from ``--votes-per-item`` more votes and
writes the ``--budget`` best as CSV or JSONL (by the suffix of ``--out``). ``--label-issues FILE``
also writes the label-issues table (the input of ``prefqa export --suspect-labels FILE``).

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(prog="prefqa")
>>> register(p.add_subparsers(dest="command"))
>>> args = p.parse_args(["relabel", "d.csv", "--budget", "500", "--out", "q.csv", "--scores", "rm_a,rm_b"])
>>> args.budget, args.scores, args.func.__name__
(500, ('rm_a', 'rm_b'), '_cmd_relabel')
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from ..errors import PrefqaError, SchemaError

__all__ = ["RELABEL_FLAGS", "register"]

#: ``pq.label_issues`` / ``pq.relabel_queue`` options -> flags (errors raised under the CLI name the flags).
RELABEL_FLAGS: dict[str, str] = {"budget": "--budget", "votes_per_item": "--votes-per-item", "scores": "--scores",
                                 "consensus": "--consensus", "cross_fit": "--cross-fit", "threshold": "--threshold",
                                 "rng": "--seed"}
_NAMES = re.compile(r"`(" + "|".join(RELABEL_FLAGS) + r")`")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return value


def _scores(text: str) -> str | tuple[str, str]:
    cols = [c.strip() for c in text.split(",") if c.strip()]
    if len(cols) == 1:
        return cols[0]
    if len(cols) == 2:
        return cols[0], cols[1]
    raise argparse.ArgumentTypeError(f"takes one column stem or two judgment columns COL_A,COL_B; got {text!r}")


def _out_path(text: str) -> str:
    if not (text.endswith(".csv") or text.endswith(".jsonl")):
        raise argparse.ArgumentTypeError(f"must end in .csv or .jsonl; got {text!r}")
    return text


def register(sub: Any) -> None:
    """Add the ``relabel`` subcommand to ``sub`` (the parser's subparsers action)."""
    from . import _add_read_options

    r = sub.add_parser("relabel", help="write the comparisons where more votes fix the most label errors "
                                       "(a relabel queue for a vendor)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=__doc__.split("\n\n")[0] if __doc__ else None)
    _add_read_options(r)
    g = r.add_argument_group("queue (mirrors pq.relabel_queue and pq.label_issues)")
    g.add_argument("--budget", type=_positive, required=True, metavar="N", help="comparisons in the queue")
    g.add_argument("--out", type=_out_path, required=True, metavar="FILE",
                   help="the queue, .csv or .jsonl; missing folders are created")
    g.add_argument("--scores", type=_scores, default=None, metavar="COL[,COL]",
                   help="reward-model / judge scores: a column stem (rm_score -> rm_score_a, rm_score_b, or a "
                        "responses column) or the two judgment columns of the responses shown first and second")
    g.add_argument("--votes-per-item", type=_positive, default=3, metavar="M",
                   help="new votes each queued comparison will get (default 3)")
    g.add_argument("--consensus", choices=["majority", "dawid_skene"], default="majority",
                   help="the labels under audit (default majority, as prefqa export)")
    g.add_argument("--cross-fit", type=int, default=5, metavar="K",
                   help="folds over prompts for calibrating the scores (default 5)")
    g.add_argument("--threshold", type=float, default=0.5, metavar="P",
                   help="a label is flagged when p_label_wrong > P (default 0.5)")
    g.add_argument("--seed", type=int, default=0, help="seed of the folds and of the display order (default 0)")
    g.add_argument("--label-issues", default=None, metavar="FILE",
                   help="also write the label-issues table (.csv or .jsonl), the input of "
                        "prefqa export --suspect-labels")
    r.set_defaults(func=_cmd_relabel)


def relabel_terms(message: str) -> str:
    """Name the flags instead of the Python options in an error message.

    Examples
    --------
    >>> relabel_terms("`cross_fit` is a number of folds; got 1.")
    '--cross-fit is a number of folds; got 1.'
    """
    return _NAMES.sub(lambda m: RELABEL_FLAGS[m.group(1)], message)


def _cmd_relabel(args: argparse.Namespace) -> int:
    from ..cleaning import label_issues, relabel_queue, write_queue
    from . import _config, _read

    cfg = _config(args)
    data = _read(args, cfg)
    try:
        issues = label_issues(data, scores=args.scores, consensus=args.consensus, cross_fit=args.cross_fit,
                              threshold=args.threshold, rng=args.seed)
        queue = relabel_queue(data, budget=args.budget, votes_per_item=args.votes_per_item, issues=issues,
                              rng=args.seed)
    except PrefqaError as exc:
        raise type(exc)(relabel_terms(str(exc))) from exc
    print(issues.summary())
    written = [write_queue(queue, args.out)]
    if args.label_issues:
        path = args.label_issues
        if not (path.endswith(".csv") or path.endswith(".jsonl")):
            raise SchemaError(f"--label-issues must end in .csv or .jsonl; got {path!r}.")
        write_queue(issues.to_frame().reset_index(), path)
        written.append(path)
    gain = float(queue["expected_error_reduction"].sum())
    print(f"\nRelabel queue: {len(queue):,} comparisons (budget {args.budget:,}), {args.votes_per_item} more votes "
          f"each; expected wrong labels fixed {gain:.1f}.")
    print(f"wrote {' and '.join(str(Path(p)) for p in written)}")
    return 0
