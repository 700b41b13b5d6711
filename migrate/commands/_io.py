"""What every command prints the same way. Command modules import this, never ``migrate.cli``."""

from __future__ import annotations

import json
import re

import click

# Characters JSON may carry raw but a terminal acts on (DEL, C1 controls such as CSI, bidi overrides,
# line separators). They can only occur inside JSON strings, where a \uXXXX escape means the same.
_TERMINAL_UNSAFE = re.compile("[\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def emit_json(data) -> None:
    """stdout carries exactly one JSON document in every --json mode."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    click.echo(_TERMINAL_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))
