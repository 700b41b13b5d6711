"""What every command prints the same way. Command modules import this, never ``migrate.cli``."""

from __future__ import annotations

import json

import click


def emit_json(data) -> None:
    """stdout carries exactly one JSON document in every --json mode."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
