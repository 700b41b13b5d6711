"""The compat report on a terminal: verdict line, counts, non-pass checks and latency (rich tables).

Model output and server messages are passed as ``Text`` objects, never as markup, so a stray
``[bold]`` in a reply cannot restyle (or break) the table.
"""

from __future__ import annotations

from typing import Any, Optional

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ._common import backend_label, non_pass, prepare
from .contract import SEVERITY, VERDICTS
from .latency import METRICS

STYLES = {
    "pass": "green",
    "improvement": "green",
    "regression": "bold red",
    "error": "bold red",
    "inconclusive": "yellow",
    "unsupported_old": "cyan",
    "unsupported_new": "magenta",
}


def _ms(seconds: Optional[float]) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def render_terminal(report: Any, console: Optional[Console] = None) -> None:
    console = console or Console(stderr=True)
    data = prepare(report)
    summary = data.get("summary", {})
    verdict = str(summary.get("verdict", "error"))
    checks = data.get("checks", [])

    line = Text()
    line.append(f" {verdict.upper()} ", style=f"reverse {STYLES.get(verdict, 'bold')}")
    line.append(f"  exit code {summary.get('exit_code')}  ")
    line.append(
        f"{backend_label(data.get('old'))} ({data.get('old', {}).get('url', '?')}) -> "
        f"{backend_label(data.get('new'))} ({data.get('new', {}).get('url', '?')})"
    )
    console.print(line)

    counts = summary.get("counts", {})
    table = Table(title=f"{len(checks)} checks in {float(data.get('duration_s') or 0):.1f} s", title_justify="left")
    for key in VERDICTS:
        table.add_column(key, justify="right", style=STYLES.get(key))
    table.add_row(*(str(counts.get(k, 0)) for k in VERDICTS))
    console.print(table)

    rows = sorted(non_pass(checks), key=lambda c: SEVERITY.get(str(c.get("verdict")), 9))
    if rows:
        detail = Table(title="Checks that did not pass", title_justify="left")
        for name in ("verdict", "case", "check", "crit", "old/new", "detail"):
            detail.add_column(name, overflow="fold")
        for c in rows:
            samples = c.get("samples") or {}
            note = str(c.get("detail", ""))
            if c.get("verdict") == "inconclusive" and c.get("needed_samples"):
                note += f" (needs {c['needed_samples']} samples per side)"
            detail.add_row(
                Text(str(c.get("verdict")), style=STYLES.get(str(c.get("verdict")), "")),
                Text(str(c.get("case"))),
                Text(str(c.get("check"))),
                "yes" if c.get("critical") else "",
                f"{samples.get('old', '?')}/{samples.get('new', '?')}",
                Text(note),
            )
        console.print(detail)

    latency = data.get("latency") or {}
    if latency:
        lat = Table(title="Latency (ms; ratio = new/old p95)", title_justify="left")
        for name in ("class", "metric", "n old/new", "old p50", "old p95", "new p50", "new p95", "ratio"):
            lat.add_column(name, justify="left" if name in ("class", "metric") else "right")
        for case_class in sorted(latency):
            entry = latency[case_class]
            old, new, ratio = entry.get("old", {}), entry.get("new", {}), entry.get("ratio", {})
            for metric in METRICS:
                r = ratio.get(f"{metric}_p95")
                lat.add_row(
                    Text(case_class),
                    metric,
                    f"{old.get('n', 0)}/{new.get('n', 0)}",
                    _ms(old.get(f"{metric}_p50")),
                    _ms(old.get(f"{metric}_p95")),
                    _ms(new.get(f"{metric}_p50")),
                    _ms(new.get(f"{metric}_p95")),
                    "-" if r is None else f"{r:.2f}x",
                )
        console.print(lat)

    metrics = data.get("metrics")
    if metrics:
        missing = metrics.get("missing") or []
        console.print(
            Text(
                f"metrics at {metrics.get('url', '?')}: "
                f"{len(metrics.get('found') or {})}/{len(metrics.get('required') or [])} found"
                + (f"; missing: {', '.join(missing)}" if missing else ""),
                style="red" if missing else "green",
            )
        )


def progress_bar(label: str):
    """The one progress bar of long runs (compat, bench): on stderr, so stdout stays the document;
    transient; redrawn 4 times a second (its thread holds the GIL while it draws: a busy load
    generator must not pay for more)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        transient=True,
        refresh_per_second=4,
    )
