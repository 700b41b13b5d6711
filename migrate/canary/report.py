"""Load a compat report (the JSON document `migrate compat` writes) for the canary."""

from __future__ import annotations

import os

import jsonschema

from ..errors import UsageError
from ..report.contract import SCHEMA_VERSION, VERDICTS, load_schema
from ..report.json_report import read_report_data


def check_report(data, source: str = "report") -> dict:
    """The report, or a UsageError naming the first thing wrong with it."""
    if not isinstance(data, dict):
        raise UsageError(f"{source}: a compat report must be a JSON object")
    errors = sorted(
        jsonschema.Draft202012Validator(load_schema()).iter_errors(data), key=lambda e: list(map(str, e.absolute_path))
    )
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise UsageError(f"{source}: not a compat report: {where}: {errors[0].message}")
    # The fields the canary itself relies on, stated plainly (the schema says the same in its terms).
    if data.get("schema_version") != SCHEMA_VERSION:
        raise UsageError(
            f"{source}: unsupported schema_version {data.get('schema_version')!r} (this canary reads {SCHEMA_VERSION})"
        )
    checks = data.get("checks", [])
    if not isinstance(checks, list):
        raise UsageError(f"{source}: 'checks' must be a list")
    for i, c in enumerate(checks):
        if not isinstance(c, dict) or c.get("verdict") not in VERDICTS:
            raise UsageError(f"{source}: checks[{i}]: verdict must be one of {', '.join(VERDICTS)}")
    if not isinstance(data.get("latency", {}), dict):
        raise UsageError(f"{source}: 'latency' must be an object")
    return data


def load_report(path: str | os.PathLike) -> dict:
    return check_report(read_report_data(path), str(path))
