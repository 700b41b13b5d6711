"""`migrate compat`: noise-aware compatibility suite between the old and the new backend."""
from __future__ import annotations

import json
import sys
from typing import Optional

import click

from ..cli import handle_errors
from ..errors import EXIT_USAGE, MigrateError

KINDS = ("ollama", "openai", "vllm", "sglang", "tgi", "trtllm", "lmdeploy", "tabbyapi", "ovms", "mlc",
         "llamacpp")


def _split(values) -> list[str]:
    out: list[str] = []
    for v in values or ():
        out.extend(x.strip() for x in str(v).split(",") if x.strip())
    return out


def _json_object(text: Optional[str], option: str) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MigrateError(f"{option}: not valid JSON ({exc.msg})", EXIT_USAGE) from None
    if not isinstance(value, dict):
        raise MigrateError(f"{option}: must be a JSON object", EXIT_USAGE)
    return value


def _from_gateway(path: str, alias: str, old_name: Optional[str], new_name: Optional[str]):
    """Both ends from the gateway config: the Ollama backend (or --old-backend) is old; the
    heaviest other backend (or --new-backend) is new. Returns (old, new, required_metrics)."""
    from .. import gateway
    problems = gateway.validate_file(path)
    if problems:
        raise MigrateError(f"{path} is not a valid gateway config: {problems[0].format(path)}",
                           EXIT_USAGE)
    data, _ = gateway.parse_text(gateway.read_text(path))
    backends = [b for b in gateway._find(data, alias) if isinstance(b, dict)]
    by_name = {b["name"]: b for b in backends}

    def pick(name: Optional[str], default):
        if name is not None:
            if name not in by_name:
                raise MigrateError(f"backend {name!r} not in alias {alias!r} "
                                   f"(backends: {', '.join(by_name)})", EXIT_USAGE)
            return by_name[name]
        return default

    def is_ollama(b: dict) -> bool:
        return "ollama" in b["name"].lower() or not b["base_url"].rstrip("/").endswith("/v1")

    old = pick(old_name, next((b for b in backends if is_ollama(b)), None))
    if old is None:
        raise MigrateError(f"alias {alias!r}: no Ollama backend found; name one with --old-backend",
                           EXIT_USAGE)
    rest = [b for b in backends if b is not old]
    new = pick(new_name, max(rest, key=lambda b: b.get("weight", 0)) if rest else None)
    if new is None or new is old:
        raise MigrateError(f"alias {alias!r}: needs a second backend to compare", EXIT_USAGE)
    return old, new, list(new.get("required_metrics") or [])


@click.command("compat")
@click.option("--from", "from_kind", type=click.Choice(KINDS), help="Old backend kind.")
@click.option("--to", "to_kind", type=click.Choice(KINDS), help="New backend kind (engine names select metric names; the protocol is OpenAI-compatible).")
@click.option("--from-url", help="Old backend server root, e.g. http://127.0.0.1:11434.")
@click.option("--to-url", help="New backend server root (a trailing /v1 is fine).")
@click.option("--model", "model_spec", help="OLD_TAG[=NEW_NAME]: the model on each side.")
@click.option("--gateway", "gateway_file", type=click.Path(dir_okay=False), help="Take both ends from this gateway config.")
@click.option("--alias", help="Alias in --gateway to compare.")
@click.option("--old-backend", help="With --gateway: the old backend's name (default: the Ollama one).")
@click.option("--new-backend", help="With --gateway: the new backend's name (default: the heaviest other).")
@click.option("--cases", "case_paths", multiple=True, type=click.Path(), help="Extra case FILE or DIR (repeatable).")
@click.option("--no-builtin", is_flag=True, help="Run only the cases given with --cases.")
@click.option("--only", multiple=True, help="Only these categories (comma list or repeat).")
@click.option("--skip", multiple=True, help="Skip these categories.")
@click.option("--reduced", is_flag=True, help="The reduced built-in set (one or two cases per category).")
@click.option("--baseline-repeats", type=click.IntRange(1, 50), default=2, show_default=True, help="Runs of each case on the old backend (noise estimate).")
@click.option("--repeats", type=click.IntRange(1, 50), default=1, show_default=True, help="Runs of each case on the new backend.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True, help="In-flight requests per backend.")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=180.0, show_default=True, help="Seconds per request.")
@click.option("--seed", type=int, help="Seed for every case that pins one.")
@click.option("--old-context", type=click.IntRange(64, 10_000_000), help="Override the old backend's effective context (tokens).")
@click.option("--check-metrics", is_flag=True, help="Scrape the new backend's /metrics for the required metrics.")
@click.option("--required-metrics", multiple=True, help="Logical metric names (default: the gateway's, else the contract's four).")
@click.option("--embeddings", is_flag=True, help="Run the embeddings cases even if the model is not detected as an embedding model.")
@click.option("--from-api-key-env", help="Env var holding the old backend's API key.")
@click.option("--to-api-key-env", help="Env var holding the new backend's API key.")
@click.option("--old-extra-body", help="JSON object merged into every old request body (e.g. what a gateway adds).")
@click.option("--new-extra-body", help="JSON object merged into every new request body.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the JSON report here ('-' = stdout).")
@click.option("--markdown", "md_out", type=click.Path(dir_okay=False), help="Write the Markdown report here.")
@click.option("--junit", "junit_out", type=click.Path(dir_okay=False), help="Write JUnit XML here.")
@click.option("--quiet", is_flag=True, help="No progress bar or terminal table.")
@handle_errors
def compat_cmd(from_kind, to_kind, from_url, to_url, model_spec, gateway_file, alias, old_backend,
               new_backend, case_paths, no_builtin, only, skip, reduced, baseline_repeats, repeats,
               concurrency, timeout, seed, old_context, check_metrics, required_metrics, embeddings,
               from_api_key_env, to_api_key_env, old_extra_body, new_extra_body, json_out, md_out,
               junit_out, quiet):
    """Send the same cases to the old and the new backend and report what behaves differently.

    Exit codes (precedence 3 > 2 > 1 > 4 > 0): 3 a backend unreachable, 2 usage/config error,
    1 at least one regression, 4 inconclusive, 0 otherwise.
    """
    from compat_suite.loader import load_cases
    from compat_suite.runner import CompatConfig, SideConfig

    gw_metrics: list[str] = []
    if gateway_file or alias:
        if not (gateway_file and alias):
            raise MigrateError("--gateway and --alias go together", EXIT_USAGE)
        old_b, new_b, gw_metrics = _from_gateway(gateway_file, alias, old_backend, new_backend)
        from_url = from_url or old_b["base_url"]
        to_url = to_url or new_b["base_url"]
        if not from_kind:
            from_kind = "ollama" if not old_b["base_url"].rstrip("/").endswith("/v1") else "openai"
        to_kind = to_kind or "openai"
        model_spec = model_spec or alias
    missing = [name for name, value in (("--from", from_kind), ("--to", to_kind),
                                        ("--from-url", from_url), ("--to-url", to_url),
                                        ("--model", model_spec)) if not value]
    if missing:
        raise MigrateError(f"missing {', '.join(missing)} (or use --gateway FILE --alias NAME)",
                           EXIT_USAGE)
    old_model, _, new_model = model_spec.partition("=")
    if not old_model:
        raise MigrateError("--model: empty old model name", EXIT_USAGE)
    new_model = new_model or old_model

    cases = load_cases(case_paths, builtin=not no_builtin, only=_split(only), skip=_split(skip),
                       reduced=reduced)
    if not cases and not check_metrics:
        raise MigrateError("no cases selected (check --only/--skip/--cases)", EXIT_USAGE)
    cfg = CompatConfig(
        old=SideConfig(from_kind, from_url, old_model, from_api_key_env,
                       _json_object(old_extra_body, "--old-extra-body")),
        new=SideConfig(to_kind, to_url, new_model, to_api_key_env,
                       _json_object(new_extra_body, "--new-extra-body")),
        cases=cases, baseline_repeats=baseline_repeats, repeats=repeats, concurrency=concurrency,
        timeout=timeout, seed=seed, old_context=old_context, check_metrics=check_metrics,
        required_metrics=_split(required_metrics) or gw_metrics or None,
        embeddings=True if embeddings or "embeddings" in _split(only) else None)
    try:
        from migrate.protocol import Backend
        Backend(url=from_url, protocol=cfg.old.protocol)
        Backend(url=to_url, protocol=cfg.new.protocol)
    except ValueError as exc:
        raise MigrateError(str(exc), EXIT_USAGE) from None

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
    reason = report["summary"].get("reason")
    if reason:
        click.echo(f"error: {reason}", err=True)
    click.echo(f"compat: {report['summary']['verdict']} in {report['duration_s']:.1f} s "
               f"(exit {report['summary']['exit_code']})", err=True)
    sys.exit(report["summary"]["exit_code"])


def _run_with_progress(cfg, quiet: bool) -> dict:
    from compat_suite.runner import run_compat
    if quiet:
        return run_compat(cfg)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    progress = Progress(TextColumn("[bold]compat"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("{task.description}"),
                        console=Console(stderr=True), transient=True)
    with progress:
        task = progress.add_task("health checks", total=None)

        def on_progress(done: int, total: int, label: str) -> None:
            progress.update(task, completed=done, total=total or None, description=label)

        return run_compat(cfg, on_progress)
