"""What every command prints the same way. Command modules import this, never ``migrate.cli``."""

from __future__ import annotations

import json
import re

import click

from ..redact import mask_data

# Characters JSON may carry raw but a terminal acts on (DEL, C1 controls such as CSI, bidi overrides,
# line separators). They can only occur inside JSON strings, where a \uXXXX escape means the same.
_TERMINAL_UNSAFE = re.compile("[\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


class _Stdout:
    """Whether this run promised one JSON document on stdout, and whether it was printed: a failure
    in a JSON mode still prints one (``{"error", "exit_code"}``), so a pipe into ``jq`` never gets
    nothing."""

    json = False
    emitted = False


def reset_stdout() -> None:
    _Stdout.json = _Stdout.emitted = False


def json_mode() -> None:
    """Called by a command, before any work, when its stdout is a JSON document."""
    _Stdout.json = True


def stdout_document_written() -> None:
    """A command that printed its JSON document by other means (already rendered and masked)."""
    _Stdout.emitted = True


def emit_error_document(message: str, code: int) -> None:
    if _Stdout.json and not _Stdout.emitted:
        emit_json({"error": message, "exit_code": code})


def emit_json(data) -> None:
    """stdout carries exactly one JSON document in every --json mode."""
    _Stdout.emitted = True
    data = mask_data(data)  # the last line of defence, as for the error line: every document, masked
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    click.echo(_TERMINAL_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))
