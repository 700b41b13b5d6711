"""`migrate canary`: a compat report -> the next canary weight; --apply writes it, --check gates CI."""

from __future__ import annotations

import sys
from typing import Optional

import click

from .. import fsutil
from ..canary import decide, load_policy, load_report
from ..canary.apply import apply
from ..canary.check import gate
from ..canary.formats import FORMATS, Context, render
from ..canary.formats.json import document
from ..errors import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_OK, UsageError
from ..redact import mask_data, printable
from ._io import emit_json, json_mode

_EXIT = {"promote": EXIT_OK, "hold": EXIT_OK, "rollback": EXIT_FAIL, "inconclusive": EXIT_INCONCLUSIVE}


@click.command("canary")
@click.option(
    "--report",
    "report_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Compat report JSON (migrate compat --json).",
)
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False),
    help="Policy YAML/JSON (schema: migrate/schemas/canary-policy.schema.json). Default: built-in.",
)
@click.option(
    "--current-weight",
    type=click.IntRange(0, 100),
    help="The candidate's weight now (default: its weight in --apply's file / --base, else 0).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--apply",
    "apply_path",
    type=click.Path(dir_okay=False),
    help="Gateway config to rewrite in place with the recommended weight (keeps a .bak).",
)
@click.option(
    "--check",
    "check_path",
    type=click.Path(dir_okay=False),
    help="CI gate: fail if this gateway config gives --backend more than the evidence supports.",
)
@click.option("--alias", help="Model alias in the gateway config (with --apply/--check).")
@click.option("--backend", help="Candidate backend name in that alias (with --apply/--check).")
@click.option(
    "--base",
    "base_path",
    type=click.Path(dir_okay=False),
    help="With --check: the target branch's gateway config; the current weight is read from it.",
)
@click.option(
    "--summary-file",
    type=click.Path(dir_okay=False),
    help='With --check: append the Markdown explanation here (e.g. "$GITHUB_STEP_SUMMARY").',
)
def canary(
    report_path: str,
    policy_path: Optional[str],
    current_weight: Optional[int],
    fmt: str,
    apply_path: Optional[str],
    check_path: Optional[str],
    alias: Optional[str],
    backend: Optional[str],
    base_path: Optional[str],
    summary_file: Optional[str],
) -> None:
    """Recommend the next canary weight from a compat report.

    Exit codes: 0 promote/hold, 1 rollback (or --check refused), 2 bad input, 4 inconclusive.
    """
    if fmt == "json":
        json_mode()
    if apply_path and check_path:
        raise UsageError("--apply and --check are exclusive")
    if (apply_path or check_path) and not (alias and backend):
        raise UsageError("--apply/--check need --alias and --backend")
    if base_path and not check_path:
        raise UsageError("--base only makes sense with --check")
    if summary_file and not check_path:
        raise UsageError("--summary-file only makes sense with --check")
    policy = load_policy(policy_path)
    # A report is outside data (model names, server answers in details): masked once, here, so no
    # output format can carry a secret from it.
    report = mask_data(load_report(report_path))

    if check_path:
        result = gate(check_path, report, policy, alias, backend, base=base_path, current_weight=current_weight)
        if summary_file:
            fsutil.append(summary_file, result.markdown)
        if fmt == "json":
            emit_json(result.to_dict())
        else:
            click.echo(printable(result.markdown, keep_newlines=True), nl=False)
        sys.exit(EXIT_OK if result.ok else EXIT_FAIL)

    if apply_path:
        d, ctx = apply(apply_path, report, policy, alias, backend, current_weight=current_weight)
    else:
        d, ctx = decide(report, policy, current_weight or 0), Context(alias=alias, backend=backend)
    if fmt == "json":
        emit_json(document(d, ctx))
    else:
        click.echo(printable(render(fmt, d, ctx).rstrip("\n"), keep_newlines=True))
    if ctx.applied and ctx.applied.get("changed"):
        click.echo(
            f"applied: {alias}/{backend} {ctx.applied['before'][backend]} -> "
            f"{ctx.applied['after'][backend]} in {apply_path} (backup {ctx.applied['backup']})",
            err=True,
        )
    sys.exit(_EXIT[d.decision])
