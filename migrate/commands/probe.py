"""`migrate probe URL`: what is behind this URL (kind, version, models, health, metrics)."""

from __future__ import annotations

import os

import click

from ..errors import InconclusiveError, UsageError
from ..probe import ProbeResult, probe
from ..protocol import check_seconds, parse_server_url
from ..redact import mask_data, mask_text, printable, remember_secret
from ._io import emit_json, json_mode


def _render(result: ProbeResult) -> str:
    lines = [f"url      {result.url}"]
    kind = result.kind or "unknown"
    lines.append(f"kind     {kind}" + (f"  ({'; '.join(result.evidence)})" if result.evidence else ""))
    version = result.version or "not reported"
    lines.append(f"version  {version}" + (f"  ({result.version_source})" if result.version_source else ""))
    h = result.health
    if h.get("ok") is None:
        lines.append(f"health   unknown ({h.get('detail')})")
    else:
        lines.append(f"health   {'ok' if h['ok'] else 'NOT OK'}  (GET {h['endpoint']} -> {h['status']})")
    m = result.metrics
    if m.get("exposed"):
        prefix = m.get("prefix") or "none"
        lines.append(f"metrics  {m['path']}  prefix {prefix}  ({m.get('format')})")
    else:
        lines.append("metrics  not exposed")
    if result.server_header:
        lines.append(f"server   {result.server_header}")
    lines.append(f"models   {len(result.models)}")
    for model in result.models:
        ctx = "context ?" if model.context_length is None else f"context {model.context_length}"
        extra = []
        if model.context_source:
            extra.append(model.context_source)
        if model.trained_context_length:
            extra.append(f"trained max {model.trained_context_length}")
        if model.loaded:
            extra.append("loaded")
        if model.parent:
            extra.append(f"adapter of {model.parent}")
        lines.append(f"  - {model.id}  {ctx}" + (f"  [{', '.join(extra)}]" if extra else ""))
    for note in result.notes:
        lines.append(f"note     {note}")
    # Every value came from the server: masked (it may echo the key), one terminal-safe line each.
    return "\n".join(printable(mask_text(line)) for line in lines)


@click.command("probe")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option(
    "--api-key-env",
    metavar="VAR",
    default=None,
    help="Name of an env var holding a bearer key (for gateways; the key is never printed).",
)
@click.option(
    "--timeout",
    type=float,
    default=15.0,
    show_default=True,
    help="Seconds allowed per probe request.",
)
def probe_command(url: str, as_json: bool, api_key_env: str | None, timeout: float) -> None:
    """Identify the server at URL: engine kind, version, models and context limits, health, metrics.

    Exit 0 when the kind was identified, 3 when nothing answers, 4 when something answered but
    matched no known fingerprint.
    """
    if as_json:
        json_mode()
    from ..protocol import Timeouts

    parse_server_url(url)  # a malformed URL is a usage error (exit 2), before anything is sent
    check_seconds(timeout, "--timeout")
    headers = None
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise UsageError(f"--api-key-env {api_key_env}: the variable is not set")
        remember_secret(key)  # a server may echo it (model ids, errors): masked wherever it appears
        headers = {"Authorization": f"Bearer {key}"}
    timeouts = Timeouts(connect=min(3.0, timeout), read=timeout, stall=timeout, total=timeout)
    result = probe(url, timeouts=timeouts, headers=headers)
    if as_json:
        emit_json(mask_data(result.to_dict()))
    else:
        click.echo(_render(result))
    if result.kind is None:
        raise InconclusiveError(printable(f"{result.url} is not an inference API this tool knows: {result.reason}"))
