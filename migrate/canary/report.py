"""Load a compat report (the JSON document `migrate compat` writes) for the canary."""
from __future__ import annotations

import json
import os

import jsonschema

from ..errors import EXIT_USAGE, MigrateError
from ..report.contract import SCHEMA_VERSION, VERDICTS, load_schema


def check_report(data, source: str = "report") -> dict:
    """The report, or MigrateError(2) naming the first thing wrong with it."""
    if not isinstance(data, dict):
        raise MigrateError(f"{source}: a compat report must be a JSON object", EXIT_USAGE)
    errors = sorted(jsonschema.Draft202012Validator(load_schema()).iter_errors(data),
                    key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise MigrateError(f"{source}: not a compat report: {where}: {errors[0].message}", EXIT_USAGE)
    # The fields the canary itself relies on, stated plainly (the schema says the same in its terms).
    if data.get("schema_version") != SCHEMA_VERSION:
        raise MigrateError(f"{source}: unsupported schema_version {data.get('schema_version')!r} "
                           f"(this canary reads {SCHEMA_VERSION})", EXIT_USAGE)
    checks = data.get("checks", [])
    if not isinstance(checks, list):
        raise MigrateError(f"{source}: 'checks' must be a list", EXIT_USAGE)
    for i, c in enumerate(checks):
        if not isinstance(c, dict) or c.get("verdict") not in VERDICTS:
            raise MigrateError(f"{source}: checks[{i}]: verdict must be one of {', '.join(VERDICTS)}",
                               EXIT_USAGE)
    if not isinstance(data.get("latency", {}), dict):
        raise MigrateError(f"{source}: 'latency' must be an object", EXIT_USAGE)
    return data


def load_report(path: str | os.PathLike) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise MigrateError(f"{path}: no such file", EXIT_USAGE) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MigrateError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})", EXIT_USAGE) from None
    except json.JSONDecodeError as exc:
        raise MigrateError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})", EXIT_USAGE) from None
    return check_report(data, str(path))
