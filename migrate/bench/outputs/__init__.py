"""The bench report's other formats, each rendered from the validated, masked JSON report: ``markdown``
(a step summary), ``csv`` (one row per number), ``html`` (a self-contained page with plots)."""

from .csv import render_csv, write_csv
from .html import render_html, write_html
from .markdown import render_markdown, write_markdown

__all__ = ["render_csv", "render_html", "render_markdown", "write_csv", "write_html", "write_markdown"]
