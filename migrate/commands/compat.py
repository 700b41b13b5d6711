"""`migrate compat`: noise-aware compatibility suite between the old and the new backend."""

from __future__ import annotations

import json
import sys

import click

from migrate.compat_suite.config import DEFAULTS, KINDS
from migrate.errors import UsageError
from migrate.redact import mask_text, printable

from ._io import emit_json, json_mode


@click.command("compat")
@click.option("--from", "from_kind", type=click.Choice(KINDS), help="Old backend kind.")
@click.option(
    "--to",
    "to_kind",
    type=click.Choice(KINDS),
    help="New backend kind (engine names select metric names; the protocol is OpenAI-compatible).",
)
@click.option("--from-url", help="Old backend server root, e.g. http://127.0.0.1:11434.")
@click.option("--to-url", help="New backend server root (a trailing /v1 is fine).")
@click.option("--model", "model_spec", help="OLD_TAG[=NEW_NAME]: the model on each side.")
@click.option(
    "--gateway", "gateway_file", type=click.Path(dir_okay=False), help="Take both ends from this gateway config."
)
@click.option("--alias", help="Alias in --gateway to compare.")
@click.option("--old-backend", help="With --gateway: the old backend's name (default: the Ollama one).")
@click.option("--new-backend", help="With --gateway: the new backend's name (default: the heaviest other).")
@click.option("--cases", "case_paths", multiple=True, type=click.Path(), help="Extra case FILE or DIR (repeatable).")
@click.option("--no-builtin", is_flag=True, help="Run only the cases given with --cases.")
@click.option("--only", multiple=True, help="Only these categories (comma list or repeat).")
@click.option("--skip", multiple=True, help="Skip these categories.")
@click.option("--reduced", is_flag=True, help="The reduced built-in set (one or two cases per category).")
@click.option(
    "--baseline-repeats",
    type=click.IntRange(1, 50),
    default=DEFAULTS["baseline_repeats"],
    show_default=True,
    help="Runs of each case on the old backend (noise estimate).",
)
@click.option(
    "--repeats",
    type=click.IntRange(1, 50),
    default=DEFAULTS["repeats"],
    show_default=True,
    help="Runs of each case on the new backend.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=DEFAULTS["concurrency"],
    show_default=True,
    help="In-flight requests per backend.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1, 3600),
    default=DEFAULTS["timeout"],
    show_default=True,
    help="Seconds per request.",
)
@click.option("--seed", type=int, help="Seed for every case that pins one.")
@click.option(
    "--old-context", type=click.IntRange(64, 10_000_000), help="Override the old backend's effective context (tokens)."
)
@click.option("--check-metrics", is_flag=True, help="Scrape the new backend's /metrics for the required metrics.")
@click.option(
    "--required-metrics", multiple=True, help="Logical metric names (default: the gateway's, else the contract's four)."
)
@click.option(
    "--embeddings",
    is_flag=True,
    help="Run the embeddings cases even if the model is not detected as an embedding model.",
)
@click.option("--from-api-key-env", help="Env var holding the old backend's API key.")
@click.option("--to-api-key-env", help="Env var holding the new backend's API key.")
@click.option("--old-extra-body", help="JSON object merged into every old request body (e.g. what a gateway adds).")
@click.option("--new-extra-body", help="JSON object merged into every new request body.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the JSON report here ('-' = stdout).")
@click.option("--markdown", "md_out", type=click.Path(dir_okay=False), help="Write the Markdown report here.")
@click.option("--junit", "junit_out", type=click.Path(dir_okay=False), help="Write JUnit XML here.")
@click.option("--quiet", is_flag=True, help="No progress bar or terminal table.")
def compat_cmd(json_out, md_out, junit_out, quiet, **options):
    """Send the same cases to the old and the new backend and report what behaves differently.

    Exit codes (precedence 3 > 2 > 1 > 4 > 0): 3 a backend unreachable, 2 usage/config error,
    1 at least one regression, 4 inconclusive, 0 otherwise.
    """
    from migrate.compat_suite.config import build_config
    from migrate.compat_suite.outputs import run_and_report
    from migrate.report.json_report import to_json_text

    to_stdout = json_out == "-"
    if to_stdout:
        json_mode()
    if [json_out, md_out, junit_out].count("-") > 1:
        raise UsageError("only one of --json, --markdown and --junit can be '-' (stdout holds one document)")
    cfg = build_config(**options)
    report = run_and_report(
        cfg, json_out=None if to_stdout else json_out, md_out=md_out, junit_out=junit_out, quiet=quiet
    )
    if to_stdout:
        emit_json(json.loads(to_json_text(report)))  # the schema-checked, masked document
    summary = report["summary"]
    if summary.get("reason"):
        # The reason can quote a backend URL with its user:password@ and what a server answered.
        click.echo(printable(f"error: {mask_text(summary['reason'])}"), err=True)
    click.echo(f"compat: {summary['verdict']} in {report['duration_s']:.1f} s (exit {summary['exit_code']})", err=True)
    sys.exit(summary["exit_code"])
