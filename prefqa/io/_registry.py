"""The one registry of reader formats: name, reader, detection signature, options, description.

Adding a reader means adding one :class:`ReaderFormat` to :data:`REGISTRY`; ``pq.read``
(dispatch and ``format="auto"`` detection), option checks, ``prefqa.io.FORMATS`` and the
format lists of the CLI and the app are all derived from it (:func:`reader_formats`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ._arena import read_arena
from ._canonical import read_canonical
from ._derived import read_rankings, read_ratings
from ._pairs import looks_like_hh, read_hh, read_openai, read_trl
from ._wide import WIDE_OPTIONS, default_annotator_columns, read_wide

__all__ = ["FORMATS", "REGISTRY", "ReaderFormat", "get_format", "reader_formats"]


@dataclass(frozen=True)
class ReaderFormat:
    """One reader format.

    Attributes
    ----------
    name : str
        The ``format=`` value.
    reader : callable
        ``reader(source, collector, **options) -> PreferenceData``.
    signature : str
        The columns that identify the format, in words (shown when detection fails).
    matches : callable
        ``matches(frame, options) -> bool``: ``True`` when the columns fit the signature.
    options : tuple of str
        Keyword options of :func:`prefqa.read` that apply to this format.
    description : str
        One line for format pickers (CLI ``--help``, the app).
    """

    name: str
    reader: Callable[..., Any]
    signature: str
    matches: Callable[[pd.DataFrame, dict[str, Any]], bool]
    options: tuple[str, ...]
    description: str

    def to_dict(self) -> dict[str, Any]:
        """Name, signature, options and description (no callables): for the CLI and the app."""
        return {"name": self.name, "signature": self.signature, "options": list(self.options),
                "description": self.description}


def _cols(frame: pd.DataFrame) -> set[str]:
    return set(map(str, frame.columns))


def _is_hh(frame: pd.DataFrame, options: dict[str, Any]) -> bool:
    return {"chosen", "rejected"} <= _cols(frame) and "prompt" not in _cols(frame) and looks_like_hh(frame["chosen"])


REGISTRY: tuple[ReaderFormat, ...] = (
    ReaderFormat("prefqa", read_canonical, "comparison_id + choice",
                 lambda f, o: {"comparison_id", "choice"} <= _cols(f), (),
                 "prefqa's canonical long table: one row per annotator x comparison"),
    ReaderFormat("trl", read_trl, "chosen + rejected (+ prompt)",
                 lambda f, o: {"chosen", "rejected"} <= _cols(f) and not _is_hh(f, o), ("id_column",),
                 "TRL preference rows (standard or conversational, explicit or implicit prompt)"),
    ReaderFormat("hh", read_hh, "chosen + rejected holding '\\n\\nHuman:' / '\\n\\nAssistant:' transcripts",
                 _is_hh, ("id_column",), "Anthropic HH-RLHF transcripts"),
    ReaderFormat("wide", read_wide,
                 "annotator columns such as annotator1, annotator2 (or annotator_columns=...); PandaLM's "
                 "instruction + input + response1 + response2 + cmp_key is recognised",
                 lambda f, o: any(k in o for k in WIDE_OPTIONS) or bool(default_annotator_columns(f.columns)),
                 ("id_column", *WIDE_OPTIONS),
                 "one row per comparison, one column per annotator (PandaLM, spreadsheets)"),
    ReaderFormat("ratings", read_ratings, "score + response (or response_id) + annotator_id",
                 lambda f, o: "score" in _cols(f) and bool({"response", "response_id"} & _cols(f)), ("aspect",),
                 "absolute scores per annotator x response (UltraFeedback, HelpSteer, ConvAbuse)"),
    ReaderFormat("rankings", read_rankings, "ranking (a list, best first) + prompt",
                 lambda f, o: "ranking" in _cols(f), ("id_column", "ranking_items"),
                 "rankings of several responses per prompt"),
    ReaderFormat("arena", read_arena, "model_a + model_b + winner",
                 lambda f, o: {"model_a", "model_b", "winner"} <= _cols(f), ("id_column",),
                 "Chatbot Arena battles"),
    ReaderFormat("openai", read_openai, "input + preferred_output + non_preferred_output",
                 lambda f, o: {"preferred_output", "non_preferred_output"} <= _cols(f), ("id_column",),
                 "OpenAI preference fine-tuning rows"),
)

FORMATS: tuple[str, ...] = tuple(f.name for f in REGISTRY)


def reader_formats() -> tuple[ReaderFormat, ...]:
    """Return every reader format, in the order of :data:`FORMATS`.

    Examples
    --------
    >>> from prefqa.io import reader_formats
    >>> [f.name for f in reader_formats()][:3]
    ['prefqa', 'trl', 'hh']
    >>> reader_formats()[0].to_dict()["signature"]
    'comparison_id + choice'
    """
    return REGISTRY


def get_format(name: str) -> ReaderFormat:
    """Return the registered format called ``name`` (``KeyError`` when unknown; callers check first)."""
    return {f.name: f for f in REGISTRY}[name]
