"""The bench report as GitHub-flavoured Markdown, for ``$GITHUB_STEP_SUMMARY`` or a PR comment.

Layout: a header (exit code, backends, load, SLOs), one table per scenario and level (old and new side
by side with new/old ratios), the error examples, and what could not be measured. The document stays
under ``max_chars`` (a GitHub comment holds 65,536 characters): past it, the remaining levels are
replaced by a pointer to the JSON report. Every string from the report goes through ``cell`` (no
newlines, no pipes, no live HTML).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...report._common import write_output
from ...report.markdown import cell
from ._common import checked, level_label, load_text, slo_text, table

DEFAULT_MAX_CHARS = 60_000
_TAIL_RESERVE = 4_000  # room kept for the "not measured" list and the truncation note


def _header(report: dict) -> list[str]:
    summary = report["summary"]
    code = summary["exit_code"]
    lines = [f"## {'✅' if code == 0 else '⚠️'} migrate bench (exit code {code})", ""]
    for role, b in report["backends"].items():
        lines.append(f"**{role}** {cell(b['kind'])} {cell(b['model'])} at `{cell(b['url'])}`  ")
    lines.append(
        f"load: {cell(load_text(report))}; SLOs: {cell(slo_text(report))}; "
        f"{float(report['duration_s']):.1f} s, started {report['started_at']}, migrate {report['tool_version']}"
    )
    if summary.get("reason"):
        lines += ["", f"**reason:** {cell(summary['reason'])}"]
    return lines


def _level(report: dict, scenario: dict, level: dict) -> list[str]:
    head, rows = table(report, level)
    lines = [f"### {cell(scenario['name'])} — {cell(level_label(level))}", ""]
    lines.append("| " + " | ".join(cell(h) for h in head) + " |")
    lines.append("|---|" + "---:|" * (len(head) - 1))
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    examples = [
        f"- {cell(role)} `{cell(kind)}`: {cell(text)}"
        for role, r in level["results"].items()
        for kind, text in r.get("error_examples", {}).items()
    ]
    if examples:
        lines += ["", "Errors, one example per type:", "", *examples]
    return lines


def render_markdown(report: Any, *, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    data = checked(report)
    parts = ["\n".join(_header(data))]
    size = len(parts[0])
    levels = [(s, lv) for s in data["scenarios"] for lv in s["levels"]]
    for i, (scenario, level) in enumerate(levels):
        block = "\n".join(_level(data, scenario, level))
        if size + len(block) + _TAIL_RESERVE > max_chars:
            parts.append(
                f"… {len(levels) - i} more level(s) left out to stay under {max_chars} characters: see the JSON report."
            )
            break
        parts.append(block)
        size += len(block) + 2
    notes = data["summary"]["not_measured"]
    if notes:
        tail = ["### Not measured", "", *[f"- {cell(n)}" for n in notes]]
        text = "\n".join(tail)
        parts.append(text if len(text) < _TAIL_RESERVE else text[: _TAIL_RESERVE - 60] + "\n- … (see the JSON report)")
    return "\n\n".join(parts) + "\n"


def write_markdown(report: Any, path: str | os.PathLike, *, max_chars: int = DEFAULT_MAX_CHARS) -> Path:
    return write_output(path, render_markdown(report, max_chars=max_chars))
