"""Prompt-level diagnostics: ambiguous ("diverging") and noisy prompts, near-duplicate groups.

``flag_prompts`` gives one row per prompt with vote entropy, split rate,
a test of the split against the annotators' estimated reliability
(Benjamini-Hochberg across the prompts with enough judgments), ``kind``
(``'diverging'`` or ``'noisy'``) and a MinHash ``duplicate_group``.
"""

from __future__ import annotations

from ._flags import flag_prompts

__all__ = ["flag_prompts"]
