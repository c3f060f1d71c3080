"""Sufficient statistics for the analyses, computed in memory (numpy) or in an engine (SQL).

Each family module holds reductions ``name(data, ...)`` that accept a
:class:`~prefqa.schema.PreferenceData` or a :class:`~prefqa.engine.ScannedData`
and return the same small numpy arrays / DataFrames in canonical (sorted-code)
order either way; the analyses call them and run one shared estimator.

Family modules:

* :mod:`.votes` -- per-comparison vote patterns and per-annotator x pattern x
  vote counts (agreement, alpha, kappa family, two-way jackknife,
  leave-one-out annotator agreement, intra-rater repeats, consensus votes).
* :mod:`.labels` -- consensus: votes against the comparison's pattern, ids per
  comparison, Dawid-Skene's E-step sums and expected confusion counts.
* :mod:`.pairs_bt` -- model-pair win/tie counts and per-cluster sums for
  Bradley-Terry.
* :mod:`.bias` -- per-judgment integer codes and engine-joined response features (bias, annotators, prompts, Simpson).
"""
