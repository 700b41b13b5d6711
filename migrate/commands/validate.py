"""`migrate validate gateway.yaml`: is the gateway config valid? Exit 0 valid, 1 invalid, 2 unreadable."""

from __future__ import annotations

import sys

import click

from ..errors import EXIT_FAIL
from ..gateway import validate_file
from ..redact import printable
from ._io import emit_json, json_mode


@click.command("validate")
@click.argument("config", type=click.Path(dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")
def validate(config: str, as_json: bool) -> None:
    """Check a gateway config (schema, weights sum to 100, unique names, URLs, timeouts, metrics)."""
    if as_json:
        json_mode()
    problems = validate_file(config)
    if as_json:
        emit_json(
            {
                "path": config,
                "valid": not problems,
                "problems": [{"line": p.line, "message": p.message} for p in problems],
            }
        )
    else:
        # A problem may quote the file's own keys and values: escaped so they cannot drive the terminal.
        for p in problems:
            click.echo(printable(p.format(config)))
        if not problems:
            click.echo(f"{printable(config)}: valid")
        else:
            click.echo(f"{printable(config)}: {len(problems)} problem(s)", err=True)
    if problems:
        sys.exit(EXIT_FAIL)
