"""The compat report as GitHub-flavoured Markdown, for ``$GITHUB_STEP_SUMMARY`` or a PR comment.

Layout: verdict banner, counts, a table of every non-pass check, the latency table (new/old ratios),
required metrics (when checked), then one collapsed ``<details>`` block per non-pass check with both
observations and transcripts. The document stays under ``max_chars`` (a GitHub comment holds 65,536
characters): transcripts are trimmed first, then whole blocks are replaced by a pointer to the JSON.
Secrets are scrubbed before anything is rendered.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any, Optional

from ._common import backend_label, check_label, non_pass, prepare, write_output
from .contract import SEVERITY, VERDICTS
from .latency import METRICS

DEFAULT_MAX_CHARS = 60_000
BANNERS = {
    "pass": "✅ PASS",
    "regression": "❌ REGRESSION",
    "inconclusive": "⚠️ INCONCLUSIVE",
    "error": "🛑 ERROR",
}
_BODY_CHARS = 2_000
_LINES_CHARS = 3_000
_LINES_MAX = 40


def cell(value: Any) -> str:
    """One table cell: no newlines, no pipes, no live HTML from model output."""
    text = html.escape(" ".join(str(value).split()), quote=False)
    return text.replace("|", "\\|")


def _ms(seconds: Optional[float]) -> str:
    return "–" if seconds is None else f"{seconds * 1000:.1f} ms"


def _ratio(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.2f}×"


def fence(text: str, lang: str = "") -> str:
    """A code fence longer than any backtick run inside, so model output cannot close it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text}\n{ticks}"


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters in the JSON report)"


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _banner(report: dict) -> list[str]:
    summary = report.get("summary", {})
    verdict = summary.get("verdict", "error")
    checks = report.get("checks", [])
    critical = [c for c in checks if c.get("critical") and c.get("verdict") == "regression"]
    old, new = report.get("old", {}), report.get("new", {})
    lines = [
        f"## {BANNERS.get(verdict, verdict.upper())} — migrate compat (exit code {summary.get('exit_code')})",
        "",
        f"**old** {cell(backend_label(old))} at `{old.get('url', '?')}` → "
        f"**new** {cell(backend_label(new))} at `{new.get('url', '?')}`  ",
        f"{len(checks)} checks in {float(report.get('duration_s') or 0):.1f} s, started "
        f"{report.get('started_at', '?')}, migrate {report.get('tool_version', '?')}",
    ]
    if critical:
        lines += [
            "",
            f"**{len(critical)} critical regression(s)** (rollback triggers in canary): "
            + ", ".join(f"`{cell(check_label(c))}`" for c in critical),
        ]
    return lines


def _counts(report: dict) -> list[str]:
    counts = report.get("summary", {}).get("counts", {})
    return [
        "| " + " | ".join(VERDICTS) + " |",
        "|" + "---:|" * len(VERDICTS),
        "| " + " | ".join(str(counts.get(k, 0)) for k in VERDICTS) + " |",
    ]


def _detail(check: dict) -> str:
    detail = str(check.get("detail", ""))
    if check.get("verdict") == "inconclusive" and check.get("needed_samples"):
        detail += f" (needs {check['needed_samples']} samples per side)"
    return detail


def _non_pass_table(rows: list[dict], budget: int) -> list[str]:
    if not rows:
        return ["All checks passed."]
    out = [
        "| Verdict | Case | Check | Category | Critical | Samples old/new | Detail |",
        "|---|---|---|---|:-:|:-:|---|",
    ]
    used = 0
    for i, c in enumerate(rows):
        samples = c.get("samples") or {}
        line = (
            f"| **{cell(c.get('verdict'))}** | `{cell(c.get('case'))}` | {cell(c.get('check'))} "
            f"| {cell(c.get('category'))} | {'yes' if c.get('critical') else ''} "
            f"| {samples.get('old', '?')}/{samples.get('new', '?')} | {cell(_detail(c))} |"
        )
        if used + len(line) > budget:
            out.append(f"| … | {len(rows) - i} more non-pass checks in the JSON report | | | | | |")
            break
        out.append(line)
        used += len(line) + 1
    return out


def _latency(report: dict) -> list[str]:
    table = report.get("latency") or {}
    if not table:
        return []
    out = [
        "### Latency",
        "",
        "Milliseconds from the scheduled send time; percentiles by linear interpolation (type 7); ratio = new/old p95 "
        "(above 1 means slower).",
        "",
        "| Class | Metric | n old/new | Old p50 | Old p95 | New p50 | New p95 | New/old p95 |",
        "|---|---|:-:|---:|---:|---:|---:|---:|",
    ]
    names = {"ttft": "TTFT", "tpot": "TPOT", "e2e": "E2E"}
    for case_class in sorted(table):
        entry = table[case_class]
        old, new, ratio = entry.get("old", {}), entry.get("new", {}), entry.get("ratio", {})
        for metric in METRICS:
            out.append(
                f"| {cell(case_class)} | {names[metric]} | {old.get('n', 0)}/{new.get('n', 0)} "
                f"| {_ms(old.get(metric + '_p50'))} | {_ms(old.get(metric + '_p95'))} "
                f"| {_ms(new.get(metric + '_p50'))} | {_ms(new.get(metric + '_p95'))} "
                f"| {_ratio(ratio.get(metric + '_p95'))} |"
            )
    return out


def _metrics(report: dict) -> list[str]:
    metrics = report.get("metrics")
    if not metrics:
        return []
    required = metrics.get("required", [])
    found = metrics.get("found", {})
    missing = metrics.get("missing", [])
    out = [
        "### Required metrics",
        "",
        f"`{metrics.get('url', '?')}`: {len(found)}/{len(required)} found",
        "",
        "| Metric | Exposed as |",
        "|---|---|",
    ]
    for name in required:
        out.append(f"| {cell(name)} | {('`' + cell(found[name]) + '`') if name in found else '**missing**'} |")
    for name in missing:
        if name not in required:
            out.append(f"| {cell(name)} | **missing** |")
    return out


def _transcript(side: str, t: dict) -> list[str]:
    status = t.get("status")
    head = (
        f"**{side}** `{t.get('method', 'POST')} {t.get('url', '')}` → {status if status is not None else 'no response'}"
    )
    out = [head, ""]
    if t.get("request_body") is not None:
        body = t["request_body"]
        out += [fence(_clip(body if isinstance(body, str) else _json(body), _BODY_CHARS), "json"), ""]
    lines = list(t.get("lines") or [])
    shown = lines[:_LINES_MAX]
    text = _clip("\n".join(shown), _LINES_CHARS)
    if len(lines) > len(shown):
        text += f"\n… ({len(lines) - len(shown)} more lines in the JSON report)"
    out += [fence(text or "(empty body)"), ""]
    return out


def _details_block(check: dict, *, with_transcripts: bool) -> str:
    summary = html.escape(f"{check.get('verdict')}: {check_label(check)} — {check.get('detail', '')}")
    parts = [f"<details><summary>{' '.join(summary.split())}</summary>", ""]
    parts += [
        "Observed on **old**:",
        "",
        fence(_json(check.get("old")), "json"),
        "",
        "Observed on **new**:",
        "",
        fence(_json(check.get("new")), "json"),
        "",
    ]
    transcripts = check.get("transcripts") or {}
    if with_transcripts:
        for side in ("old", "new"):
            for t in transcripts.get(side) or []:
                parts += _transcript(side, t)
    elif any(transcripts.get(s) for s in ("old", "new")):
        parts += ["(transcripts omitted to fit the size limit; see the JSON report)", ""]
    parts.append("</details>")
    return "\n".join(parts)


def render_markdown(report: Any, *, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    data = prepare(report)
    rows = sorted(non_pass(data.get("checks", [])), key=lambda c: SEVERITY.get(str(c.get("verdict")), 9))
    head = _banner(data) + ["", *_counts(data), "", "### Checks that did not pass", ""]
    head += _non_pass_table(rows, budget=max_chars // 2)
    for section in (_latency(data), _metrics(data)):
        if section:
            head += ["", *section]
    text = "\n".join(head) + "\n"
    if rows:
        text += "\n### Evidence\n\n"
    omitted = 0
    for i, check in enumerate(rows):
        block = _details_block(check, with_transcripts=True)
        if len(text) + len(block) > max_chars:
            block = _details_block(check, with_transcripts=False)
        if len(text) + len(block) > max_chars - 200:  # keep room for the closing note
            omitted = len(rows) - i
            break
        text += block + "\n\n"
    if omitted:
        text += f"_{omitted} more non-pass check(s) omitted to fit the size limit; see the JSON report._\n"
    return text


def write_markdown(report: Any, path: str | os.PathLike, *, max_chars: int = DEFAULT_MAX_CHARS) -> Path:
    """Write atomically. To append to ``$GITHUB_STEP_SUMMARY`` use ``render_markdown`` instead."""
    return write_output(path, render_markdown(report, max_chars=max_chars))
