"""Render the report dict as a self-contained HTML page and as plain text.

Both renderers read only the JSON-able report dict, so every number shown
comes from the JSON. Every piece of text from the data goes through
:func:`html.escape` (quotes included); plots are inline SVG from
``_plots``; there is no JavaScript and nothing is fetched from the network.
"""

from __future__ import annotations

import html
from typing import Any

from ._plots import PLOTS

__all__ = ["fmt", "render_html", "render_text"]

_CSS = """
:root{--fg:#1d2430;--muted:#5b6675;--line:#d9dee5;--bg:#fafbfc;--high:#c0392b;--medium:#b86e00;
--low:#2c6fbb;--info:#5b6675;--ok:#2e8b57}
*{box-sizing:border-box}body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg);margin:0}main{max-width:1200px;margin:0 auto;padding:20px 24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid var(--line);
padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}.meta{color:var(--muted);font-size:13px}
.scroll{max-height:440px;overflow-x:auto;overflow-y:auto;border:1px solid var(--line);margin:6px 0 12px}
table{border-collapse:collapse;font-size:13px;background:#fff;min-width:40%}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top;white-space:nowrap}
th{background:#f0f3f7;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.text{white-space:normal;min-width:16em;max-width:40em;overflow-wrap:break-word}
.badge{display:inline-block;border-radius:3px;padding:0 6px;font-size:12px;color:#fff;
text-transform:uppercase;margin-right:8px;vertical-align:1px}.high{background:var(--high)}
.medium{background:var(--medium)}.low{background:var(--low)}.info{background:var(--info)}
.ok{background:var(--ok)}.skipped{background:var(--info)}.failed{background:var(--high)}
ol.findings{padding-left:28px}ol.findings li{margin:6px 0}
code{background:#eef1f5;padding:1px 4px;border-radius:3px;font-size:13px;overflow-wrap:anywhere}
pre{background:#fff;border:1px solid var(--line);padding:10px;overflow:auto;font-size:13px;white-space:pre-wrap}
figure{margin:8px 0;background:#fff;border:1px solid var(--line);padding:8px}
figure svg{width:100%;max-width:960px;height:auto;display:block}
nav{line-height:1.9}nav a{margin-right:12px;font-size:13px;white-space:nowrap}
details{margin:8px 0}summary{cursor:pointer;color:var(--muted);font-size:13px}
"""

_MAX_HTML_ROWS = 50
_SHORT_TEXT = 40  # longer text cells wrap; ids and numbers stay on one line


def e(value: Any) -> str:
    """Escape any value for HTML text and attributes."""
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """Format a JSON value for display (numbers to 4 significant digits)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


def _table(rows: list[dict[str, Any]], *, limit: int = _MAX_HTML_ROWS, total: int | None = None) -> str:
    if not rows:
        return "<p class='meta'>(no rows)</p>"
    cols: list[str] = []
    for r in rows[:limit]:
        cols.extend(c for c in r if c not in cols)
    head = "".join(f"<th>{e(c)}</th>" for c in cols)
    body = []
    for r in rows[:limit]:
        cells = []
        for c in cols:
            v = r.get(c)
            cls = (" class='num'" if isinstance(v, (int, float)) and not isinstance(v, bool)
                   else " class='text'" if isinstance(v, str) and len(v) > _SHORT_TEXT else "")
            cells.append(f"<td{cls}>{e(fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    n = total if total is not None else len(rows)
    more = f"<p class='meta'>showing {min(limit, len(rows)):,} of {n:,} rows</p>" if n > min(limit, len(rows)) else ""
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(body)}</table></div>{more}"


def _section_html(name: str, s: dict[str, Any], sections: dict[str, Any]) -> str:
    status = s["status"]
    parts = [f"<section id='{e(name)}'><h2><span class='badge {e(status)}'>{e(status)}</span>{e(s['title'])}</h2>"]
    parts.append(f"<p class='meta'>{e(fmt(s['seconds']))} s</p>")
    if status != "ok":
        parts.append(f"<p>{e(s['reason'])}</p></section>")
        return "".join(parts)
    res = s["result"] or {}
    if res.get("summary"):
        parts.append(f"<pre>{e(res['summary'])}</pre>")
    plot = PLOTS.get(name)
    svg = plot(sections) if plot else None
    if svg:
        parts.append(f"<figure>{svg}</figure>")
    for w in s.get("warnings", []) + [w for w in res.get("warnings", []) if w not in s.get("warnings", [])]:
        parts.append(f"<p class='meta'>warning: {e(w)}</p>")
    if res.get("examples"):
        parts.append("<h3>Example pairs</h3>" + _table(res["examples"]))
    if res.get("drop_reasons"):
        parts.append("<h3>Drop reasons</h3>" + _table(res["drop_reasons"]))
    if res.get("rejected"):
        parts.append("<h3>Rejected rows</h3>" + _table(res["rejected"]))
    if res.get("rejected_values"):
        parts.append("<h3>Rejected cells (inside used rows)</h3>" + _table(res["rejected_value_counts"] or [])
                     + _table(res["rejected_values"], limit=10))
    strata = res.get("strata")
    if strata and strata.get("rows"):
        parts.append(f"<h3>Per stratum ({e(strata['by'])})</h3>" + _table(strata["rows"]))
    if res.get("table"):
        parts.append("<h3>Table</h3>" + _table(res["table"], total=res.get("n_rows")))
    more = [(tname, t) for tname, t in (res.get("tables") or {}).items()
            if t.get("rows") and t["rows"] != res.get("table")]  # a copy of the main table is not repeated
    if more:
        inner = "".join(f"<h3>{e(tname)}</h3>" + _table(t["rows"], total=t.get("n_rows")) for tname, t in more)
        names = ", ".join(e(tname) for tname, _ in more)
        parts.append(f"<details><summary>More tables: {names}</summary>{inner}</details>")
    parts.append("</section>")
    return "".join(parts)


def render_html(content: dict[str, Any]) -> str:
    """Return the report as one self-contained HTML page."""
    inp = content["input"]
    sections = content["sections"]
    findings = "".join(
        f"<li><span class='badge {e(f['severity'])}'>{e(f['severity'])}</span>{e(f['message'])}"
        + (f"<br><code>{e(f['command'])}</code>" if f.get("command") else "") + "</li>"
        for f in content["findings"]
    ) or "<li>No findings.</li>"
    facts = [("judgments", inp["n_judgments"]), ("comparisons", inp["n_comparisons"]),
             ("annotators", inp["n_annotators"]), ("prompts", inp["n_prompts"]),
             ("models", inp["n_models"]), ("display order known", inp["order_known"]),
             ("texts", inp["has_texts"]), ("source", inp["source"]), ("format", inp["format"]),
             ("engine", engine_text(inp))]
    if inp.get("n_ratings"):
        facts[2:2] = [("ratings", inp["n_ratings"]), ("rated responses", inp.get("n_responses", 0)),
                      ("raters", inp.get("n_rating_annotators", 0))]
    facts_html = _table([{k: v for k, v in facts}])
    notes = content.get("warnings") or []
    warn_html = ("<ul>" + "".join(f"<li><a href='#{e(w['step'])}'>{e(sections[w['step']]['title'])}</a>: "
                                  f"{e(w['message'])}</li>" for w in notes if w["step"] in sections) + "</ul>"
                 if notes else "<p class='meta'>No step reported a warning or an approximation.</p>")
    steps = [{"step": k, "status": s["status"], "seconds": s["seconds"], "reason": s["reason"]}
             for k, s in sections.items()]
    nav = " ".join(f"<a href='#{e(k)}'>{e(s['title'])}</a>" for k, s in sections.items())
    deps = ", ".join(f"{e(k)} {e(v)}" for k, v in content["dependencies"].items())
    body = "".join(_section_html(k, s, sections) for k, s in sections.items())
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>prefqa audit report</title><style>{_CSS}</style></head><body><main>"
        f"<h1>prefqa audit report</h1><p class='meta'>prefqa {e(content['prefqa'])} &middot; schema "
        f"{e(content['schema_version'])} &middot; created {e(content['created'])} &middot; "
        f"input sha256 <code>{e(inp['fingerprint'])}</code></p><nav>{nav}</nav>"
        f"<section id='findings'><h2>Findings</h2><ol class='findings'>{findings}</ol></section>"
        f"<section id='warnings'><h2>Warnings and approximations</h2>{warn_html}</section>"
        f"<section id='input'><h2>Input</h2>{facts_html}</section>"
        f"{body}"
        f"<section id='steps'><h2>Steps and timings</h2>{_table(steps, limit=100)}"
        f"<p class='meta'>total {e(fmt(content['seconds']))} s</p></section>"
        f"<section id='provenance'><h2>Provenance</h2><p class='meta'>Python {e(content['python'])}; {deps}</p>"
        f"<h3>Config</h3><pre>{e(_config_text(content['config']))}</pre></section>"
        "</main></body></html>"
    )


def _config_text(config: dict[str, Any]) -> str:
    import json

    return json.dumps(config, indent=2, ensure_ascii=False)


def _counts_text(inp: dict[str, Any]) -> str:
    """What was read, in the terms of the file: judgments, ratings, or both."""
    parts = []
    if inp["n_judgments"] or not inp.get("n_ratings"):
        parts.append(f"{inp['n_judgments']:,} judgments, {inp['n_comparisons']:,} comparisons, "
                     f"{inp['n_annotators']:,} annotators")
    if inp.get("n_ratings"):
        parts.append(f"{inp['n_ratings']:,} ratings of {inp.get('n_responses', 0):,} responses by "
                     f"{inp.get('n_rating_annotators', 0):,} raters")
    parts.append(f"{inp['n_prompts']:,} prompts, {inp['n_models']:,} models")
    return ", ".join(parts)


def engine_text(inp: dict[str, Any]) -> str:
    """``memory``, or ``duckdb (memory limit 4.0 GiB, 2 threads)``: which engine ran the audit."""
    eng = inp.get("engine") or {"engine": "memory"}
    if eng.get("engine", "memory") == "memory":
        return "memory (pq.read)"
    extra = [f"memory limit {eng['memory_limit']}" if eng.get("memory_limit") else "",
             f"{eng['threads']} threads" if eng.get("threads") else ""]
    extra = [x for x in extra if x]
    return f"{eng['engine']} ({', '.join(extra)})" if extra else str(eng["engine"])


def render_text(content: dict[str, Any]) -> str:
    """Return a plain-text summary of the report."""
    inp = content["input"]
    lines = [
        (f"prefqa audit: {_counts_text(inp)} (sha256 {inp['fingerprint'][:12]}), {content['seconds']:.1f} s"),
        f"engine: {engine_text(inp)}",
        "",
        "Findings:",
    ]
    if not content["findings"]:
        lines.append("  none")
    for i, f in enumerate(content["findings"], 1):
        lines.append(f"  {i}. [{f['severity']}] {f['message']}")
        if f.get("command"):
            lines.append(f"     $ {f['command']}")
    notes = content.get("warnings") or []
    if notes:
        lines += ["", "Warnings and approximations:"]
        lines.extend(f"  {w['step']}: {w['message']}" for w in notes)
    lines += ["", "Steps:"]
    for name, s in content["sections"].items():
        tail = f" - {s['reason']}" if s["reason"] else ""
        lines.append(f"  {s['status']:<8}{name:<22}{s['seconds']:>7.2f} s{tail}")
    return "\n".join(lines)
