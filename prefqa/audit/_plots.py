"""Static plots for the HTML report: matplotlib (Agg) rendered to inline SVG.

Each function takes the JSON-able report section (never a result object),
so every number drawn comes from the report's JSON. Text is drawn as SVG
``<text>`` (``svg.fonttype = "none"``), which matplotlib XML-escapes; math
parsing is off so ``$`` in ids is literal. The XML prolog, DOCTYPE and
comments are stripped so the SVG can sit inline in HTML.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # matplotlib itself is imported only when a plot is drawn
    from matplotlib.typing import RcKeyType

__all__ = ["PLOTS", "svg_of"]

_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none", "svg.hashsalt": "prefqa", "text.parse_math": False,
    "font.size": 11, "axes.spines.top": False, "axes.spines.right": False,
    "font.family": "sans-serif",
}
_FLAG = "#c0392b"
_BASE = "#2c6fbb"
_ALT = "#e08e0b"


def _label(text: Any, limit: int = 40) -> str:
    s = str(text)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def svg_of(draw: Callable[[Any], None], *, width: float = 9.0, height: float = 3.8) -> str:
    """Return the inline SVG of a figure drawn by ``draw(ax)``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(width, height))
        try:
            draw(ax)
            fig.tight_layout()
            buf = io.StringIO()
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        finally:
            plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.find("<svg"):]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.DOTALL)
    # matplotlib escapes & < > in text nodes; escape quotes there too, so no data text is left raw
    return re.sub(r">([^<]+)<", lambda m: ">" + m.group(1).replace('"', "&quot;").replace("'", "&#x27;") + "<", svg)


def _interval_plot(rows: list[dict[str, Any]], label_key: str, title: str, xlabel: str,
                   *, second: list[dict[str, Any]] | None = None, second_name: str = "") -> str | None:
    rows = [r for r in rows if r.get("estimate") is not None]
    if not rows:
        return None
    labels = [_label(r.get(label_key)) for r in rows]
    height = min(max(2.0, 0.32 * len(rows) + 1.2), 10.0)

    def draw(ax: Any) -> None:
        y = np.arange(len(rows), dtype=float)
        for data, offset, color, name in ((rows, 0.0, _BASE, "plain"), (second, 0.25, _ALT, second_name)):
            if not data:
                continue
            est = np.array([_num(r.get("estimate")) for r in data])
            lo = np.array([_num(r.get("ci_low"), e) for r, e in zip(data, est)])
            hi = np.array([_num(r.get("ci_high"), e) for r, e in zip(data, est)])
            err = np.vstack([np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)])
            yy = y[: len(data)] + offset
            ax.errorbar(est, yy, xerr=err, fmt="o", color=color, capsize=3, ms=4,
                        label=name if second else None)
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        if second:
            ax.legend(loc="best", frameon=False)

    return svg_of(draw, height=height)


def _num(value: Any, default: float = np.nan) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def plot_agreement(section: dict[str, Any]) -> str | None:
    """Agreement coefficients with their confidence intervals (overall and per stratum)."""
    res = section.get("result") or {}
    rows = []
    for r in res.get("table", []):
        if r.get("coefficient") is None:
            continue
        stratum = r.get("stratum")
        where = "" if stratum in (None, "all") else f" [{stratum}]"
        rows.append({**r, "label": f"{r.get('target', '')} {r['coefficient']}{where}".strip()})
    return _interval_plot(rows[:40], "label", "Agreement with confidence intervals", "estimate")


def plot_annotators(section: dict[str, Any]) -> str | None:
    """Annotator scatter: agreement against P(a), sized by judgments, flagged marked."""
    sc = (section.get("result") or {}).get("scatter")
    if not sc or not sc.get("points"):
        return None
    pts = sc["points"]

    def draw(ax: Any) -> None:
        x = np.array([_num(p["x"]) for p in pts])
        y = np.array([_num(p["y"]) for p in pts])
        n = np.array([_num(p["n"], 1.0) for p in pts])
        flagged = np.array([bool(p["flagged"]) for p in pts])
        size = 12 + 120 * np.sqrt(n / np.nanmax(n)) if np.nanmax(n) > 0 else np.full(len(n), 20.0)
        ax.scatter(x[~flagged], y[~flagged], s=size[~flagged], c=_BASE, alpha=0.6, label="not flagged")
        ax.scatter(x[flagged], y[flagged], s=size[flagged], c=_FLAG, marker="X", alpha=0.9, label="flagged")
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_xlabel(sc["x"])
        ax.set_ylabel(sc["y"] + " (chose the first-shown response)")
        ax.set_title("Annotators (size = judgments)")
        ax.legend(loc="best", frameon=False)

    return svg_of(draw, height=4.6)


def plot_length(section: dict[str, Any]) -> str | None:
    """Length-bias curve: win rate of the longer response by length-difference bucket."""
    res = section.get("result") or {}
    curve = res.get("curve")
    if not curve or not curve.get("rows"):
        return None
    rows = curve["rows"]

    def draw(ax: Any) -> None:
        x = np.arange(len(rows), dtype=float)
        y = np.array([_num(r.get(curve["y"])) for r in rows])
        ax.plot(x, y, "o-", color=_BASE)
        ax.set_xticks(x, [_label(r.get(curve["x"]), 14) for r in rows], rotation=30, ha="right")
        if curve.get("low") and curve.get("high"):
            lo = np.array([_num(r.get(curve["low"])) for r in rows])
            hi = np.array([_num(r.get(curve["high"])) for r in rows])
            ax.fill_between(x, lo, hi, color=_BASE, alpha=0.2, lw=0)
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("length ratio bucket (longer / shorter)")
        ax.set_ylabel("P(longer response chosen)")
        ax.set_title("Length bias by bucket")

    return svg_of(draw)


def plot_leaderboard(section: dict[str, Any], style: dict[str, Any] | None) -> str | None:
    """Bradley-Terry scores with CIs; the style-controlled fit beside when it ran."""
    res = section.get("result") or {}
    rows = [r for r in res.get("table", []) if r.get("kind", "strength") == "strength"]
    key = _id_key(rows)
    if key is None:
        return None
    rows = sorted(rows, key=lambda r: -_num(r.get("estimate"), -np.inf))
    second = None
    sres = (style or {}).get("result") or {}
    if sres.get("table"):
        by_id = {r.get(key): r for r in sres["table"] if r.get("kind", "strength") == "strength"}
        second = [by_id.get(r.get(key), {"estimate": None}) for r in rows]
    return _interval_plot(rows, key, "Bradley-Terry leaderboard", "log-strength",
                          second=second, second_name="style-controlled")


def _id_key(rows: list[dict[str, Any]]) -> str | None:
    if not rows:
        return None
    for k in ("model", "item", "response_id", "term", "parameter", "name", "index"):
        if k in rows[0]:
            return k
    return next(iter(rows[0]))


def plot_prompts(section: dict[str, Any]) -> str | None:
    """Histogram of the per-prompt disagreement measure."""
    dist = (section.get("result") or {}).get("distribution")
    if not dist or not dist.get("counts"):
        return None

    def draw(ax: Any) -> None:
        edges = np.array(dist["edges"], dtype=float)
        ax.bar(edges[:-1], dist["counts"], width=np.diff(edges), align="edge", color=_BASE,
               edgecolor="white")
        ax.set_xlabel(dist["column"])
        ax.set_ylabel("prompts")
        ax.set_title("Prompt disagreement distribution")

    return svg_of(draw)


def plot_drops(section: dict[str, Any]) -> str | None:
    """Kept pairs and dropped comparisons by reason."""
    res = section.get("result") or {}
    reasons = list(res.get("drop_reasons") or [])
    if res.get("n_kept") is None and not reasons:
        return None
    labels = ["kept"] + [_label(r["reason"]) for r in reasons]
    values = [res.get("n_kept") or 0] + [r["n"] for r in reasons]

    def draw(ax: Any) -> None:
        y = np.arange(len(labels))
        ax.barh(y, values, color=[_BASE] + [_FLAG] * len(reasons))
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_xlabel("comparisons")
        ax.set_title("Pair building: kept and dropped by reason")

    return svg_of(draw, height=min(max(2.0, 0.34 * len(labels) + 1.2), 6.5))


#: section name -> plot function(report sections) -> SVG or None
PLOTS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "reliability": lambda s: plot_agreement(s["reliability"]),
    "annotators": lambda s: plot_annotators(s["annotators"]),
    "length_bias": lambda s: plot_length(s["length_bias"]),
    "bradley_terry": lambda s: plot_leaderboard(s["bradley_terry"], s.get("bradley_terry_style")),
    "prompts": lambda s: plot_prompts(s["prompts"]),
    "pairs": lambda s: plot_drops(s["pairs"]),
    "drift": lambda s: _plot_drift(s["drift"]),
    "readiness": lambda s: _plot_readiness("readiness", s),
    "cleaning": lambda s: _plot_readiness("cleaning", s),
}


def _plot_readiness(name: str, sections: dict[str, Any]) -> str | None:
    from ._readiness import plot_cleaning, plot_readiness  # C3's sections (prefqa.audit._readiness)

    return (plot_readiness if name == "readiness" else plot_cleaning)(sections[name])


def _plot_drift(section: dict[str, Any]) -> str | None:
    from ._drift import plot_drift  # the Drift section's own charts (control charts, heatmap)

    return plot_drift(section)
