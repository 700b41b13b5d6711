"""The compat report as JSON: the contract every other output (Markdown, JUnit, terminal, canary) reads.

``write_json`` validates before writing (a report that breaks the contract is never written) and
writes atomically. ``load_report`` is the reading side for user-supplied files: any problem is one
line and exit code 2.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema

from ..datafiles import open_user_text
from ..errors import UsageError
from ._common import prepare, write_output
from .contract import VERDICTS, load_schema


def _path(error: jsonschema.ValidationError) -> str:
    out = "$"
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def report_errors(report: Any) -> list[str]:
    """Every contract violation as ``"$.path: message"``; empty when the report is valid.

    Beyond the JSON Schema, the counts must equal the tally of the checks' verdicts, so a
    summary can never claim more (or fewer) passes than the checks show.
    """
    validator = jsonschema.Draft202012Validator(load_schema())
    # Conditional rules (if/then/else) last: a wrong verdict explains itself better than the
    # "transcripts required" that follows from it.
    errors = sorted(
        validator.iter_errors(report),
        key=lambda e: (
            any(k in ("then", "else") for k in e.absolute_schema_path),
            list(map(str, e.absolute_path)),
            e.message,
        ),
    )
    out = [f"{_path(e)}: {_one_line(e.message)}" for e in errors]
    if out:
        return out
    tally = Counter(c["verdict"] for c in report["checks"])
    counts = report["summary"]["counts"]
    for verdict in VERDICTS:
        if counts[verdict] != tally.get(verdict, 0):
            out.append(
                f"$.summary.counts.{verdict}: says {counts[verdict]} but "
                f"{tally.get(verdict, 0)} check(s) have that verdict"
            )
    return out


def validate_report(report: Any, *, source: str = "report") -> dict:
    """Raise ``UsageError`` with the first violation on one line; return the report."""
    errors = report_errors(report)
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UsageError(f"{source}: invalid compat report: {errors[0]}{more}")
    return report


def to_json_text(report: Any) -> str:
    """Validated, scrubbed JSON text (what ``write_json`` writes and ``--json`` prints)."""
    data = prepare(report)
    validate_report(data)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# Reports carry transcripts, so they may be big, but a file this large is not one we wrote.
MAX_REPORT_BYTES = 64 * 2**20


def write_json(report: Any, path: str | os.PathLike) -> Path:
    """Validate against the schema, drop secrets, write atomically; returns the path written."""
    return write_output(path, to_json_text(report))


def load_report(path: str | os.PathLike) -> dict:
    """Read and validate a report file; every failure is a ``UsageError`` with one line."""
    return validate_report(read_report_data(path), source=str(path))


def read_report_data(path: str | os.PathLike) -> Any:
    """A report file's JSON, not yet checked: the one reading of report files (``migrate canary``
    applies its own, lighter check to the same data)."""
    source = str(path)
    try:
        # The one reader of users' files: never blocks on a FIFO, refuses a device, caps the size.
        with open_user_text(path, "compat report", limit=MAX_REPORT_BYTES) as fh:
            text = fh.read()
    except FileNotFoundError:
        raise UsageError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{source}: is a directory, expected a JSON report") from None
    except UnicodeDecodeError:
        raise UsageError(f"{source}: not UTF-8 text, expected a JSON report") from None
    except OSError as exc:
        raise UsageError(f"{source}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise UsageError(f"{source}: nested too deeply; not a compat report") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    return data
