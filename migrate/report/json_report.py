"""The compat report as JSON: the contract every other output (Markdown, JUnit, terminal, canary) reads.

``write_json`` validates before writing (a report that breaks the contract is never written) and
writes atomically. ``load_report`` is the reading side for user-supplied files: any problem is one
line and exit code 2.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import jsonschema

from ..errors import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, MigrateError
from ._common import VERDICTS, atomic_write_text, prepare

SCHEMA_NAME = "compat-report.schema.json"
SCHEMA_VERSION = 1


@lru_cache(maxsize=1)
def load_schema() -> dict:
    return json.loads(resources.files("migrate").joinpath("schemas", SCHEMA_NAME).read_text("utf-8"))


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
    errors = sorted(validator.iter_errors(report),
                    key=lambda e: (any(k in ("then", "else") for k in e.absolute_schema_path),
                                   list(map(str, e.absolute_path)), e.message))
    out = [f"{_path(e)}: {_one_line(e.message)}" for e in errors]
    if out:
        return out
    tally = Counter(c["verdict"] for c in report["checks"])
    counts = report["summary"]["counts"]
    for verdict in VERDICTS:
        if counts[verdict] != tally.get(verdict, 0):
            out.append(f"$.summary.counts.{verdict}: says {counts[verdict]} but "
                       f"{tally.get(verdict, 0)} check(s) have that verdict")
    return out


def validate_report(report: Any, *, source: str = "report") -> dict:
    """Raise ``MigrateError(code=2)`` with the first violation on one line; return the report."""
    errors = report_errors(report)
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise MigrateError(f"{source}: invalid compat report: {errors[0]}{more}", EXIT_USAGE)
    return report


def summarize(checks: Iterable[dict], *, unreachable: bool = False, bad_input: bool = False) -> dict:
    """The ``summary`` block for a list of checks, with the documented exit-code precedence.

    Exit code precedence: 3 (a backend unreachable) > 2 (bad input) > 1 (regression)
    > 4 (inconclusive, or a check could not be evaluated) > 0 (pass). Improvements and
    unsupported_* never fail a run. No checks at all is inconclusive: a pass must be observed.
    """
    checks = list(checks)
    tally = Counter(c.get("verdict") for c in checks)
    unknown = set(tally) - set(VERDICTS)
    if unknown:
        raise ValueError(f"unknown check verdict(s): {sorted(map(str, unknown))}")
    counts = {v: tally.get(v, 0) for v in VERDICTS}
    if unreachable:
        verdict, code = "error", EXIT_UNREACHABLE
    elif bad_input:
        verdict, code = "error", EXIT_USAGE
    elif counts["regression"]:
        verdict, code = "regression", EXIT_FAIL
    elif counts["error"]:
        verdict, code = "error", EXIT_INCONCLUSIVE
    elif counts["inconclusive"] or not checks:
        verdict, code = "inconclusive", EXIT_INCONCLUSIVE
    else:
        verdict, code = "pass", EXIT_OK
    return {"verdict": verdict, "counts": counts, "exit_code": code}


def to_json_text(report: Any) -> str:
    """Validated, scrubbed JSON text (what ``write_json`` writes and ``--json`` prints)."""
    data = prepare(report)
    validate_report(data)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_json(report: Any, path: str | os.PathLike) -> Path:
    """Validate against the schema, drop secrets, write atomically; returns the path written."""
    return atomic_write_text(path, to_json_text(report))


def load_report(path: str | os.PathLike) -> dict:
    """Read and validate a report file; every failure is ``MigrateError(code=2)`` with one line."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MigrateError(f"{source}: no such file", EXIT_USAGE) from None
    except IsADirectoryError:
        raise MigrateError(f"{source}: is a directory, expected a JSON report", EXIT_USAGE) from None
    except UnicodeDecodeError:
        raise MigrateError(f"{source}: not UTF-8 text, expected a JSON report", EXIT_USAGE) from None
    except OSError as exc:
        raise MigrateError(f"{source}: cannot read: {exc.strerror or exc}", EXIT_USAGE) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MigrateError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                           EXIT_USAGE) from None
    return validate_report(data, source=source)
