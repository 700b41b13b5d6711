"""The bench report as one self-contained HTML page: inline CSS and inline SVG (``svg``), no script,
no font, no CDN, nothing fetched when it opens. Plots first (latency and throughput against the load
level of a sweep; CDFs of TTFT and e2e per level from the per-request samples, old and new overlaid),
then the tables. The template is rendered by jinja2 with autoescape on: every string from the report
(model names, URLs, error texts) is escaped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import jinja2
from markupsafe import Markup

from ...report._common import write_output
from ._common import backend_title, checked, level_label, level_x, load_text, slo_text, table
from .svg import Series, line_chart

COLORS = {"old": "#d95f02", "new": "#1b9e77", "target": "#1b9e77"}

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>migrate bench: {{ title }}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; }
.meta td { padding: 1px 12px 1px 0; } .meta td:first-child { color: #666; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { background: #fff; border: 1px solid #e4e4e4; border-radius: 4px; max-width: 100%; height: auto; }
svg .title { font-weight: 600; font-size: 13px; } svg .tick { font-size: 11px; fill: #555; }
svg .label { font-size: 12px; fill: #333; } svg .legend { font-size: 12px; }
svg .grid { stroke: #eee; } svg .frame { fill: none; stroke: #bbb; }
table.data { border-collapse: collapse; margin: .5em 0 1.5em; }
table.data th, table.data td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
table.data th:first-child, table.data td:first-child { text-align: left; }
table.data th { background: #f6f6f6; }
.code0 { color: #1b7e3b; } .codeN { color: #b35900; }
.note { color: #666; }
</style>
</head>
<body>
<h1>migrate bench: {{ title }}</h1>
<table class="meta">
<tr><td>exit code</td><td class="{{ 'code0' if summary.exit_code == 0 else 'codeN' }}">{{ summary.exit_code }}
{%- if summary.reason %}: {{ summary.reason }}{% endif %}</td></tr>
{% for role, b in backends.items() %}
<tr><td>{{ role }}</td><td>{{ b.kind }} <code>{{ b.model }}</code> at <code>{{ b.url }}</code></td></tr>
{% endfor %}
<tr><td>load</td><td>{{ load }}</td></tr>
<tr><td>SLOs</td><td>{{ slo }}</td></tr>
<tr><td>run</td><td>{{ duration }} s, started {{ started_at }}, migrate {{ tool_version }}</td></tr>
</table>
{% for s in scenarios %}
<h2>{{ s.name }}</h2>
{% if s.sweep %}
<h3>Against the load</h3>
<div class="charts">{% for chart in s.sweep %}{{ chart }}{% endfor %}</div>
{% endif %}
{% for lv in s.levels %}
<h3>{{ s.name }}: {{ lv.label }}</h3>
{% if lv.cdfs %}<div class="charts">{% for chart in lv.cdfs %}{{ chart }}{% endfor %}</div>
{% else %}<p class="note">No completed request to plot.</p>{% endif %}
<table class="data">
<tr>{% for h in lv.head %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in lv.rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>
{% endfor %}
</table>
{% if lv.examples %}<p>Errors, one example per type:</p>
<ul>{% for role, kind, text in lv.examples %}<li>{{ role }} <code>{{ kind }}</code>: {{ text }}</li>{% endfor %}</ul>
{% endif %}
{% endfor %}
{% endfor %}
{% if summary.not_measured %}
<h2>Not measured</h2>
<ul>{% for note in summary.not_measured %}<li>{{ note }}</li>{% endfor %}</ul>
{% endif %}
</body>
</html>
"""


def _environment() -> jinja2.Environment:
    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _name(report: dict, role: str) -> str:
    return backend_title(report, role)


def _ms_of(r: dict, metric: str, key: str) -> Optional[float]:
    value = (r.get(metric) or {}).get(key)
    return None if value is None else value * 1000


def _sweep(report: dict, scenario: dict) -> list[Markup]:
    """TTFT p50/p95, TPOT p50/p95 and requests/s against the load level: only for two levels or more."""
    levels = scenario["levels"]
    if len(levels) < 2:
        return []
    shape = levels[0]["load"]["shape"]
    x_label = "concurrency (requests in flight)" if shape == "concurrency" else f"{shape} rate (requests/s)"
    categories = [f"{level_x(lv):g}" for lv in levels]
    roles = list(report["backends"])

    def curve(role: str, get, *, name: str, dashed: bool = False) -> Series:
        pts = []
        for i, lv in enumerate(levels):
            r = lv["results"].get(role)
            v = get(r) if r else None
            if v is not None:
                pts.append((float(i), v))
        return Series(name, COLORS[role], pts, dashed=dashed)

    charts = []
    for metric, label in (("ttft", "TTFT"), ("tpot", "TPOT")):
        series = [
            curve(role, lambda r, m=metric, k=k: _ms_of(r, m, k), name=f"{_name(report, role)} {k}", dashed=k == "p95")
            for role in roles
            for k in ("p50", "p95")
        ]
        charts.append(
            line_chart(f"{label} p50 and p95 against the load", x_label, f"{label} (ms)", series, categories=categories)
        )
    series = [curve(role, lambda r: r.get("request_throughput"), name=_name(report, role)) for role in roles]
    charts.append(
        line_chart("Throughput against the load", x_label, "completed requests/s", series, categories=categories)
    )
    return charts


def _cdf(values: list[float]) -> list[tuple[float, float]]:
    xs = sorted(values)
    n = len(xs)
    return [(x * 1000, (i + 1) / n) for i, x in enumerate(xs)]


def _cdfs(report: dict, level: dict) -> list[Markup]:
    charts = []
    for metric, label in (("ttft", "TTFT"), ("e2e", "End-to-end latency")):
        series = []
        for role, r in level["results"].items():
            values = [s[metric] for s in r.get("samples", []) if s.get("error") is None and s.get(metric) is not None]
            if values:
                series.append(Series(f"{_name(report, role)} (n={len(values)})", COLORS[role], _cdf(values), step=True))
        if series:
            charts.append(
                line_chart(
                    f"{label}: CDF, {level_label(level)}",
                    f"{label} (ms)",
                    "fraction of requests",
                    series,
                    y_max=1.0,
                    x_from_zero=False,
                )
            )
    return charts


def _context(report: dict) -> dict:
    scenarios = []
    for s in report["scenarios"]:
        levels = []
        for lv in s["levels"]:
            head, rows = table(report, lv)
            examples = [
                (role, kind, text)
                for role, r in lv["results"].items()
                for kind, text in r.get("error_examples", {}).items()
            ]
            levels.append(
                {"label": level_label(lv), "cdfs": _cdfs(report, lv), "head": head, "rows": rows, "examples": examples}
            )
        scenarios.append({"name": s["name"], "sweep": _sweep(report, s), "levels": levels})
    models = " vs ".join(str(b["model"]) for b in report["backends"].values())
    return {
        "title": models,
        "summary": report["summary"],
        "backends": report["backends"],
        "load": load_text(report),
        "slo": slo_text(report),
        "duration": f"{float(report['duration_s']):.1f}",
        "started_at": report["started_at"],
        "tool_version": report["tool_version"],
        "scenarios": scenarios,
    }


def render_html(report: Any) -> str:
    data = checked(report)
    return _environment().from_string(TEMPLATE).render(**_context(data))


def write_html(report: Any, path: str | os.PathLike) -> Path:
    return write_output(path, render_html(report))
