"""`migrate bench`: load one backend, or the old and the new side by side, and measure by phase."""

from __future__ import annotations

import sys

import click

from migrate.bench.config import DEFAULTS
from migrate.compat_suite.config import KINDS

from ..errors import (
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_UNREACHABLE,
    FailedError,
    InconclusiveError,
    UnreachableError,
    UsageError,
)
from ._io import json_mode, stdout_document_written


@click.command("bench")
@click.option("--url", help="One backend: its server root (a trailing /v1 is fine).")
@click.option("--kind", type=click.Choice(KINDS), help="One backend: its kind (selects the API: Ollama's or OpenAI's).")
@click.option("--api-key-env", help="One backend: env var holding its API key.")
@click.option("--from", "from_kind", type=click.Choice(KINDS), help="Side by side: the old backend's kind.")
@click.option("--to", "to_kind", type=click.Choice(KINDS), help="Side by side: the new backend's kind.")
@click.option("--from-url", help="Side by side: the old backend's server root.")
@click.option("--to-url", help="Side by side: the new backend's server root.")
@click.option("--from-api-key-env", help="Env var holding the old backend's API key.")
@click.option("--to-api-key-env", help="Env var holding the new backend's API key.")
@click.option("--model", "model_spec", help="M (one backend) or OLD[=NEW] (side by side).")
@click.option(
    "--scenario",
    multiple=True,
    help="A built-in phase scenario to run (repeatable, or a comma list): single-stream, prefill-heavy, "
    "decode-heavy, concurrency-sweep, prefix-reuse, structured-output. With --plan: among its phases.",
)
@click.option(
    "--plan",
    type=click.Path(dir_okay=False),
    help="Run the phases a plan lists (migrate plan --format json) and evaluate its rejection rules.",
)
@click.option(
    "--scale",
    type=float,
    default=DEFAULTS["scale"],
    show_default=True,
    help="Multiply the scenarios' requests, durations and token targets (e.g. 0.1 on a CPU test bed).",
)
@click.option("--concurrency", help="Closed loop: requests in flight; a comma list is a sweep (1,2,4). Default 1.")
@click.option("--rate", type=float, help="Open loop: requests per second, evenly spaced.")
@click.option("--poisson", type=float, help="Open loop: requests per second, Poisson arrivals (seeded by --seed).")
@click.option("--requests", type=click.IntRange(1, 1_000_000), help="Measured requests per level (default 50).")
@click.option("--duration", type=float, help="Seconds of schedule per level, instead of --requests.")
@click.option(
    "--warmup",
    type=click.IntRange(0, 10_000),
    default=DEFAULTS["warmup"],
    show_default=True,
    help="Requests sent first and not counted, per level.",
)
@click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True, help="Seed of the Poisson schedule.")
@click.option(
    "--max-concurrency",
    type=click.IntRange(1, 4096),
    default=DEFAULTS["max_concurrency"],
    show_default=True,
    help="Open loop: requests in flight at most.",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(1, 1_000_000),
    default=DEFAULTS["max_tokens"],
    show_default=True,
    help="Output tokens per request at most.",
)
@click.option("--slo", help="Goodput SLOs in seconds, e.g. ttft=0.5,tpot=0.05,e2e=10.")
@click.option(
    "--timeout", type=float, default=DEFAULTS["timeout"], show_default=True, help="Seconds per request at most."
)
@click.option(
    "--stall",
    type=float,
    help="Seconds of silence mid-stream before a request counts as stalled. [default: half of --timeout]",
)
@click.option(
    "--max-duration",
    type=float,
    default=DEFAULTS["max_duration"],
    show_default=True,
    help="Seconds per backend and level at most (the overall bound).",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the JSON report here ('-' = stdout).")
@click.option(
    "--markdown", "md_out", type=click.Path(dir_okay=False), help="Write a Markdown summary here ('-' = stdout)."
)
@click.option(
    "--csv", "csv_out", type=click.Path(dir_okay=False), help="Write one CSV row per number here ('-' = stdout)."
)
@click.option(
    "--html", "html_out", type=click.Path(dir_okay=False), help="Write a self-contained HTML page with plots here."
)
@click.option("--quiet", is_flag=True, help="No progress bar or terminal table.")
def bench_cmd(json_out, md_out, csv_out, html_out, quiet, model_spec, **options):
    """Send a load to one backend, or to the old and the new one after each other, and report TTFT,
    TPOT, ITL, end-to-end latency, throughput, errors by type and goodput per load level.

    Exit codes: 0 requests were measured (and, side by side, no rejection rule is met), 1 a rejection
    rule of the new engine is met, 2 bad input, 3 a backend is unreachable or was lost mid-run (the
    report holds what was measured), 4 a backend completed no request.
    """
    from migrate.bench import build_config
    from migrate.bench.outputs import render_csv, render_html, render_markdown
    from migrate.bench.report import to_json_text
    from migrate.compat_suite.config import parse_model_spec
    from migrate.report._common import write_output

    if json_out == "-":
        json_mode()  # a failure before the report exists still prints one document
    outputs = [(json_out, to_json_text), (md_out, render_markdown), (csv_out, render_csv), (html_out, render_html)]
    if [path for path, _ in outputs].count("-") > 1:
        raise UsageError("only one of --json, --markdown, --csv and --html can be '-' (stdout holds one document)")
    old_model = new_model = None
    if model_spec:
        old_model, new_model = parse_model_spec(model_spec)
    cfg = build_config(old_model=old_model, new_model=new_model, **options)
    report = _run(cfg, quiet)
    for path, render in outputs:
        # Every format renders the validated, masked report; files go through the one atomic writer.
        if path == "-":
            sys.stdout.write(render(report))
            if path is json_out:
                stdout_document_written()  # the report carries its own exit code and reason
        elif path:
            write_output(path, render(report))
    if not quiet:
        from rich.console import Console

        from migrate.bench.terminal import render

        render(report, Console(stderr=True))
    if not quiet:
        for line in _input_lines(report):
            click.echo(line, err=True)
    if report["rules"] and not quiet:
        from migrate.bench.verdict import lines
        from migrate.redact import printable

        click.echo("rejection rules (new backend):", err=True)
        for line in lines(report["rules"]):
            click.echo(f"  {printable(line)}", err=True)
    summary = report["summary"]
    if summary["exit_code"] == EXIT_FAIL:
        raise FailedError(summary["reason"])
    if summary["exit_code"] == EXIT_UNREACHABLE:
        raise UnreachableError(summary["reason"])
    if summary["exit_code"] == EXIT_INCONCLUSIVE:
        raise InconclusiveError(summary["reason"])
    completed = sum(r["completed"] for s in report["scenarios"] for lv in s["levels"] for r in lv["results"].values())
    click.echo(f"bench: {completed} requests measured in {report['duration_s']:.1f} s", err=True)


def _input_lines(report: dict) -> list[str]:
    """The prompt tokens the servers counted per scenario (the asked number is only a target)."""
    out = []
    for s in report["scenarios"]:
        tokens = s.get("input_tokens") or {}
        if not tokens.get("target"):
            continue
        parts = [
            f"{role} p50 {a['p50']:g} p95 {a['p95']:g}" if a else f"{role} not reported"
            for role, a in tokens["achieved"].items()
        ]
        out.append(f"input tokens, {s['name']}: target {tokens['target']}, server-counted " + "; ".join(parts))
    return out


def _run(cfg, quiet: bool) -> dict:
    from migrate.bench import run_bench

    if quiet:
        return run_bench(cfg)
    from migrate.report.terminal import progress_bar

    progress = progress_bar("bench")
    with progress:
        task = progress.add_task("reachability", total=None)

        def on_progress(role: str, level: str, done: int, total) -> None:
            progress.update(task, completed=done, total=total, description=f"{role}: {level}")

        return run_bench(cfg, on_progress)
