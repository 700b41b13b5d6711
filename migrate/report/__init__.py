"""Compat report outputs, one module per format (JSON contract, Markdown, JUnit, terminal) + latency math.

Every writer scrubs secrets first; JSON is validated against
``migrate/schemas/compat-report.schema.json`` before it is written. ``contract`` holds the
report's vocabulary (verdicts, categories, the summary and exit-code rule).
"""

from .contract import summarize
from .json_report import load_report, report_errors, validate_report, write_json
from .junit import render_junit, write_junit
from .latency import latency_table, percentile
from .markdown import render_markdown, write_markdown
from .terminal import render_terminal

__all__ = [
    "write_json",
    "write_markdown",
    "write_junit",
    "render_terminal",
    "latency_table",
    "load_report",
    # extras: validation, the shared summary/exit-code rule, in-memory renderers
    "validate_report",
    "report_errors",
    "summarize",
    "render_markdown",
    "render_junit",
    "percentile",
]
