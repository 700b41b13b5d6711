"""The bench report as JSON: validated against ``migrate/schemas/bench-report.schema.json``, secrets
masked (``migrate.report``'s ``prepare``: the one masking path of every report writer), written
atomically (``write_output``). A report that breaks its own schema is a bug and is never written.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from ..report._common import prepare, write_output

SCHEMA_NAME = "bench-report.schema.json"


@lru_cache(maxsize=1)
def load_schema() -> dict:
    return json.loads(resources.files("migrate").joinpath(f"schemas/{SCHEMA_NAME}").read_text("utf-8"))


def report_errors(report: Any) -> list[str]:
    """Every schema violation as ``"$.path: message"``; empty when the report is valid."""
    validator = jsonschema.Draft202012Validator(load_schema())
    out = []
    for e in sorted(validator.iter_errors(report), key=lambda e: list(map(str, e.absolute_path))):
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path)
        out.append(f"{path}: {' '.join(e.message.split())[:200]}")
    return out


def to_json_text(report: Any) -> str:
    data = prepare(report)
    errors = report_errors(data)
    if errors:
        # Our own output breaking our own contract: a bug (exit 70 through the CLI), never written.
        raise ValueError(f"the bench report breaks its schema: {errors[0]}")
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_json(report: Any, path: str | os.PathLike) -> Path:
    return write_output(path, to_json_text(report))
