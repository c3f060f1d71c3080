"""Planted changes over time for :func:`~prefqa.simulate.simulate`: windows, timestamps and drift.

With ``n_windows > 1`` the comparisons are split into consecutive windows one
week apart (comparison ``c`` of ``n`` lies in window ``floor(c * n_windows / n)``,
so every judgment of a comparison lies in one window), and the judgments get a
``timestamp`` (UTC; window ``w`` covers the week starting Monday
``2026-01-05 + w weeks``, which is one pandas ``"W"`` period) and a ``batch``
label (``batch-000``, ``batch-001``, ...).

``drift=`` plants changes from a window ``k`` on (0-based) onwards:

* :class:`Degrade`: annotators who, from window ``k``, click at random as the
  spammers do (45/45/10% ``a``/``b``/``tie``, fast) and rate without regard
  to quality;
* :class:`Join`: a team of new annotators who work only from window ``k``
  (drawn into the pool of every comparison from then on), with an extra
  position logit and an optional leniency on the rating scale;
* :class:`Shift`: a global change from window ``k``: an added position logit,
  an added length slope, an added rating leniency.

Each may also be given as a dict with a ``"kind"`` key (``"degrade"``,
``"join"``, ``"shift"``) and the same fields. The truth lists every planted
change (:attr:`SimulationTruth.drift`) and the windows
(:attr:`SimulationTruth.windows`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from ..errors import SchemaError

__all__ = ["Degrade", "DriftPlan", "Join", "Shift", "WINDOW_ORIGIN", "plan_drift"]

WINDOW_ORIGIN = pd.Timestamp("2026-01-05", tz="UTC")  # a Monday: week w is one pandas "W" (W-SUN) period


@dataclass(frozen=True)
class Degrade:
    """Annotators who click at random from window ``window`` on.

    Parameters
    ----------
    window : int
        First degraded window (0-based).
    n_annotators : int
        How many, drawn among the ``normal`` annotators (ignored when
        ``annotator_ids`` is given).
    annotator_ids : tuple of str, optional
        Exactly which annotators degrade.
    """

    window: int
    n_annotators: int = 1
    annotator_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Join:
    """A team of ``n_annotators`` new annotators working from window ``window`` on.

    Parameters
    ----------
    window : int
        First window of the team (0-based; at least 1).
    n_annotators : int
        Team size. Their quality weights are drawn from ``accuracy_range``
        and their random position and length deviations as the original
        annotators' are; kind ``position`` when ``position_bias != 0``.
    position_bias : float
        Extra logit toward the response shown first.
    leniency : float
        Extra rating leniency (added to the drawn leniency).
    """

    window: int
    n_annotators: int = 5
    position_bias: float = 1.5
    leniency: float = 0.0


@dataclass(frozen=True)
class Shift:
    """A global change from window ``window`` on.

    Parameters
    ----------
    window : int
        First shifted window (0-based).
    position : float
        Added logit toward the response shown first (every annotator).
    length : float
        Added slope on the length covariate.
    leniency : float
        Added to every rating before rounding.
    """

    window: int
    position: float = 0.0
    length: float = 0.0
    leniency: float = 0.0


_KINDS = {"degrade": Degrade, "join": Join, "shift": Shift}


def _as_change(item: object, n_windows: int) -> Degrade | Join | Shift:
    if isinstance(item, Mapping):
        spec = dict(item)
        kind = spec.pop("kind", None)
        cls = _KINDS.get(str(kind).lower()) if kind is not None else None
        if cls is None:
            raise SchemaError(f"a drift dict needs 'kind' one of {list(_KINDS)}; got {kind!r}.")
        allowed = {f.name for f in fields(cls)}
        extra = sorted(set(spec) - allowed)
        if extra or "window" not in spec:
            raise SchemaError(f"drift {kind!r} takes fields {sorted(allowed)} (window required); got {sorted(item)}.")
        if spec.get("annotator_ids") is not None:
            spec["annotator_ids"] = tuple(str(a) for a in spec["annotator_ids"])
        item = cls(**spec)
    if not isinstance(item, (Degrade, Join, Shift)):
        raise SchemaError(f"`drift` items must be Degrade, Join or Shift (or dicts with 'kind'); "
                          f"got {type(item).__name__}.")
    w = item.window
    if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or not 0 <= int(w) < n_windows:
        raise SchemaError(f"a planted change's `window` must be an int in [0, n_windows) = [0, {n_windows}); "
                          f"got {w!r}. Raise `n_windows` or move the change.")
    if isinstance(item, Join) and (int(w) < 1 or item.n_annotators < 1):
        raise SchemaError(f"a joining team needs window >= 1 and n_annotators >= 1; got window {w}, "
                          f"n_annotators {item.n_annotators}.")
    if isinstance(item, Degrade) and item.annotator_ids is None and item.n_annotators < 1:
        raise SchemaError(f"Degrade needs n_annotators >= 1 or annotator_ids; got {item.n_annotators}.")
    return item


@dataclass(frozen=True, eq=False)
class DriftPlan:
    """The parsed windows and changes, and the per-annotator facts they imply."""

    n_windows: int
    changes: tuple[Degrade | Join | Shift, ...]

    @property
    def active(self) -> bool:
        return self.n_windows > 1

    @property
    def joins(self) -> tuple[Join, ...]:
        return tuple(c for c in self.changes if isinstance(c, Join))

    @property
    def n_new(self) -> int:
        return sum(j.n_annotators for j in self.joins)

    def comparison_windows(self, n_comp: int) -> np.ndarray:
        return (np.arange(n_comp, dtype=np.int64) * self.n_windows) // max(n_comp, 1)

    def team(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per new annotator: first window, extra position logit, extra leniency."""
        js = self.joins
        first = np.concatenate([np.full(j.n_annotators, j.window, np.int64) for j in js]) if js else np.zeros(0, int)
        pos = np.concatenate([np.full(j.n_annotators, float(j.position_bias)) for j in js]) if js else np.zeros(0)
        len_ = np.concatenate([np.full(j.n_annotators, float(j.leniency)) for j in js]) if js else np.zeros(0)
        return first, pos, len_

    def draw_annotators(self, gen: np.random.Generator, comp_window: np.ndarray, k: int, n_original: int,
                        first_window: np.ndarray, draws) -> np.ndarray:
        """``k`` distinct annotator codes per comparison, from the pool active in its window."""
        if not self.joins:
            return draws(gen, len(comp_window), k, n_original + self.n_new).ravel()
        out = np.empty((len(comp_window), k), dtype=np.int64)
        for w in range(self.n_windows):  # a handful of windows; each is one vectorized draw
            rows = np.flatnonzero(comp_window == w)
            pool = np.flatnonzero(first_window <= w)
            if len(rows):
                out[rows] = pool[draws(gen, len(rows), k, len(pool))]
        return out.ravel()

    def degraded_from(self, gen: np.random.Generator, ann_ids: np.ndarray, kind: np.ndarray) -> np.ndarray:
        """Per annotator: first degraded window, or ``n_windows`` (never)."""
        out = np.full(len(ann_ids), self.n_windows, dtype=np.int64)
        for c in self.changes:
            if not isinstance(c, Degrade):
                continue
            if c.annotator_ids is not None:
                pos = pd.Index(ann_ids).get_indexer(list(c.annotator_ids))
                if (pos < 0).any():
                    missing = [a for a, p in zip(c.annotator_ids, pos) if p < 0]
                    raise SchemaError(f"Degrade names annotators {missing} that the simulation does not have; "
                                      f"ids look like {list(ann_ids[:3])}.")
            else:
                normal = np.flatnonzero((kind == "normal") & (out == self.n_windows))
                if c.n_annotators > len(normal):
                    raise SchemaError(f"Degrade asks for {c.n_annotators} annotators but only {len(normal)} "
                                      f"normal, not yet degraded annotators exist; raise `n_annotators`.")
                pos = gen.choice(normal, c.n_annotators, replace=False)
            out[pos] = np.minimum(out[pos], int(c.window))
        return out

    def shifts(self, window: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row of ``window``: added position logit, length slope and rating leniency."""
        pos, slope, len_ = (np.zeros(len(window)) for _ in range(3))
        for c in self.changes:
            if isinstance(c, Shift):
                on = window >= c.window
                pos += on * float(c.position)
                slope += on * float(c.length)
                len_ += on * float(c.leniency)
        return pos, slope, len_

    def timestamps(self, gen: np.random.Generator, comp_window: np.ndarray, comp: np.ndarray) -> pd.Series:
        """A UTC timestamp per judgment: comparison start in its week's first 5 days, plus up to a day."""
        start = comp_window * 7.0 + gen.uniform(0.0, 5.0, len(comp_window))
        days = start[comp] + gen.uniform(0.0, 1.0, len(comp))
        return pd.Series(WINDOW_ORIGIN + pd.to_timedelta(np.rint(days * 86400.0), unit="s"))

    def windows_table(self, comp_window: np.ndarray) -> pd.DataFrame:
        w = np.arange(self.n_windows)
        start = WINDOW_ORIGIN + pd.to_timedelta(7 * w, unit="D")
        return pd.DataFrame({
            "batch": batch_labels(self.n_windows),
            "start": start,
            "end": start + pd.Timedelta(days=7),
            "n_comparisons": np.bincount(comp_window, minlength=self.n_windows),
        }, index=pd.Index(w, name="window"))

    def drift_table(self, ann_ids: np.ndarray, degraded: np.ndarray, team_codes: np.ndarray) -> pd.DataFrame:
        """One row per planted change: kind, window, batch, start, the annotators concerned, the sizes."""
        labels = batch_labels(self.n_windows)
        rows = []
        team_at = 0
        for c in self.changes:
            row = {"kind": type(c).__name__.lower(), "window": int(c.window), "batch": labels[int(c.window)],
                   "start": WINDOW_ORIGIN + pd.Timedelta(days=7 * int(c.window)), "annotator_ids": (),
                   "position": 0.0, "length": 0.0, "leniency": 0.0}
            if isinstance(c, Degrade):
                row["annotator_ids"] = tuple(ann_ids[degraded == c.window].tolist()) if c.annotator_ids is None \
                    else tuple(c.annotator_ids)
            elif isinstance(c, Join):
                codes = team_codes[team_at:team_at + c.n_annotators]
                team_at += c.n_annotators
                row.update(annotator_ids=tuple(ann_ids[codes].tolist()), position=float(c.position_bias),
                           leniency=float(c.leniency))
            else:
                row.update(position=float(c.position), length=float(c.length), leniency=float(c.leniency))
            rows.append(row)
        cols = ["kind", "window", "batch", "start", "annotator_ids", "position", "length", "leniency"]
        return pd.DataFrame(rows, columns=cols)


def batch_labels(n_windows: int) -> np.ndarray:
    width = max(len(str(max(n_windows - 1, 0))), 3)
    return np.char.add("batch-", np.char.zfill(np.arange(n_windows).astype(str), width)).astype(object)


def plan_drift(n_windows: int, drift: Sequence[object] | None, n_comp: int) -> DriftPlan:
    """Check ``n_windows`` and ``drift`` and return the plan."""
    if isinstance(n_windows, bool) or not isinstance(n_windows, (int, np.integer)) or n_windows < 1:
        raise SchemaError(f"`n_windows` must be an int >= 1; got {n_windows!r}.")
    if n_windows > n_comp:
        raise SchemaError(f"`n_windows` = {n_windows} exceeds the {n_comp} comparisons; every window needs one. "
                          f"Raise `n_prompts` or lower `n_windows`.")
    if drift is not None and (isinstance(drift, (str, bytes, Mapping)) or not isinstance(drift, Sequence)):
        drift = [drift]
    changes = tuple(_as_change(d, int(n_windows)) for d in (drift or ()))
    if changes and n_windows < 2:
        raise SchemaError(f"`drift` plants changes from a window on, which needs `n_windows` >= 2; "
                          f"got n_windows = {n_windows}.")
    return DriftPlan(int(n_windows), changes)
