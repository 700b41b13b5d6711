"""Helpers shared by the report writers: plain-JSON conversion, secret scrubbing, output files.

Every writer runs the report through :func:`prepare` first, so no output format can leak a secret
even if a caller hands over a transcript that still carries an ``Authorization`` header.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..fsutil import write_atomic
from ..redact import REDACTED, is_secret_header, mask_data, mask_text, printable  # noqa: F401 (re-used names)

# One masking function for the whole tool (``migrate.redact``); these names are what the writers call.
scrub_text = mask_text
scrub = mask_data


def to_plain(value: Any) -> Any:
    """Dataclasses (Transcript, Timings, ...) -> dicts, tuples -> lists; everything JSON-ready."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def prepare(report: Any) -> dict:
    """The one entry point of every writer: plain JSON data, secrets removed."""
    plain = to_plain(report)
    if not isinstance(plain, dict):
        raise TypeError("a compat report must be a JSON object (dict)")
    return scrub(plain)


def write_output(path: str | os.PathLike, text: str) -> Path:
    """A report file where the user asked for it, creating its directory; the write itself is the
    one atomic writer's (``migrate.fsutil``), so readers never see a half-written report, and a
    device, FIFO or symlink named here is written into, not replaced. Failures: one ``UsageError``."""
    target = Path(path)
    try:
        (target.parent if str(target.parent) else Path(".")).mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a path through a file, no permission
        raise UsageError(f"cannot write {printable(target)}: {exc.strerror or exc}") from None
    return write_atomic(target, text, newline="\n")


def non_pass(checks: list[dict]) -> list[dict]:
    return [c for c in checks if c.get("verdict") != "pass"]


def check_label(check: dict) -> str:
    return f"{check.get('case', '?')} / {check.get('check', '?')}"


def backend_label(side: Any) -> str:
    if not isinstance(side, dict):
        return "?"
    kind = side.get("kind") or side.get("protocol") or "?"
    model = side.get("model")
    return f"{kind} {model}" if model else str(kind)
