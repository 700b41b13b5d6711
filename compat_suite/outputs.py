"""Run a compat config with optional progress display and write the requested report files."""

from __future__ import annotations

import sys
from typing import Optional

from .config import CompatConfig
from .runner import run_compat


def run_and_report(
    cfg: CompatConfig,
    *,
    json_out: Optional[str] = None,
    md_out: Optional[str] = None,
    junit_out: Optional[str] = None,
    quiet: bool = False,
) -> dict:
    """Run ``cfg``; write JSON (``"-"`` = stdout), Markdown and JUnit where asked; unless
    ``quiet``, show progress and the result table on stderr (stdout stays the JSON document)."""
    report = _run_with_progress(cfg, quiet)

    from migrate.report import render_terminal, write_json, write_junit, write_markdown
    from migrate.report.json_report import to_json_text

    if json_out == "-":
        sys.stdout.write(to_json_text(report))
    elif json_out:
        write_json(report, json_out)
    if md_out:
        write_markdown(report, md_out)
    if junit_out:
        write_junit(report, junit_out)
    if not quiet:
        from rich.console import Console

        render_terminal(report, Console(stderr=True))
    return report


def _run_with_progress(cfg: CompatConfig, quiet: bool) -> dict:
    if quiet:
        return run_compat(cfg)
    from migrate.report.terminal import progress_bar

    progress = progress_bar("compat")
    with progress:
        task = progress.add_task("health checks", total=None)

        def on_progress(done: int, total: int, label: str) -> None:
            progress.update(task, completed=done, total=total or None, description=label)

        return run_compat(cfg, on_progress)
