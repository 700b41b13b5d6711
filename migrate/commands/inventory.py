"""``migrate inventory``: what the team has (models, traffic, code) and what will break."""

from __future__ import annotations

import click

from ..redact import printable
from ._io import emit_json, json_mode


@click.command("inventory")
@click.option(
    "--ollama",
    "ollama",
    default=None,
    metavar="URL",
    help="Ollama server root (default: $OLLAMA_HOST, else http://127.0.0.1:11434).",
)
@click.option("--no-ollama", is_flag=True, help="Do not query a live server.")
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    metavar="S",
    help="Seconds for the whole live query of Ollama (models not asked by then are listed without details).",
)
@click.option(
    "--logs",
    "logs",
    multiple=True,
    metavar="PATH",
    help="Server log file, directory, .gz, or - for stdin (repeatable).",
)
@click.option("--code", "code", multiple=True, metavar="DIR", help="Application source tree to scan (repeatable).")
@click.option("--capture", "captures", multiple=True, metavar="FILE", help="JSONL of recorded exchanges (repeatable).")
@click.option("-o", "--output", metavar="FILE", help="Write the inventory JSON here (validated, atomic).")
@click.option("--json", "as_json", is_flag=True, help="Print the inventory JSON on stdout.")
def inventory(ollama, no_ollama, timeout, logs, code, captures, output, as_json):
    """Inventory live Ollama, server logs, code and captures; print models, traffic, profile, risks."""
    if as_json:
        json_mode()
    import sys

    from rich.console import Console

    from ..inventory import build_inventory, validate, write_inventory
    from ..inventory.live import ollama_url_from_env
    from ..protocol import check_seconds, parse_server_url

    check_seconds(timeout, "--timeout")
    url = None
    if not no_ollama:
        # A malformed URL is a usage error (exit 2), not an unreachable server.
        url = parse_server_url(
            ollama or ollama_url_from_env(), strip_v1=False, what="--ollama" if ollama else "$OLLAMA_HOST"
        )
    inv = build_inventory(ollama=url, logs=logs, code=code, captures=captures, ollama_timeout=timeout)
    for w in inv["warnings"]:
        click.echo(printable(f"warning: {w}"), err=True)
    if output:
        write_inventory(inv, output)
        click.echo(f"wrote {output}", err=True)
    else:
        validate(inv)
    if as_json:
        emit_json(inv)
    else:
        render_console = Console(file=sys.stdout, width=160)
        from ..inventory.render import render

        render(dict(inv, warnings=[]), render_console)  # warnings already went to stderr; render escapes
