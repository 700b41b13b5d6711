"""Helpers shared by the report writers: plain-JSON conversion, secret scrubbing, output files.

Every writer runs the report through :func:`prepare` first, so no output format can leak a secret
even if a caller hands over a transcript that still carries an ``Authorization`` header.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from ..fsutil import write_atomic

REDACTED = "***"

# Header names are compared lower-cased; anything that smells like a credential is dropped whole.
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie"}
_SECRET_WORDS = ("api-key", "api_key", "apikey", "token", "secret", "password")
# Key names inside request bodies and observations whose values are credentials.
_SECRET_KEYS = {"api_key", "apikey", "api-key", "authorization", "password", "secret", "access_token", "client_secret"}

# A credential is long and has a digit: "Bearer sk-1a2b..." is masked, "a basic understanding" is not.
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{12,}")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:]+(?::[^/\s@]*)?@")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:api[_-]?key|key|token|access_token|password)=)[^&\s\"']+")
_OPENAI_KEY = re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")


def is_secret_header(name: str) -> bool:
    low = str(name).strip().lower()
    return low in _SECRET_HEADERS or any(word in low for word in _SECRET_WORDS)


def scrub_text(text: str) -> str:
    """Mask credentials that may hide inside free text (URLs, raw header dumps, error messages)."""
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _USERINFO.sub(lambda m: m.group(1), text)  # drop user:password@ entirely
    text = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _OPENAI_KEY.sub(REDACTED, text)


def to_plain(value: Any) -> Any:
    """Dataclasses (Transcript, Timings, ...) -> dicts, tuples -> lists; everything JSON-ready."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def scrub(value: Any, *, _key: str | None = None) -> Any:
    """Return a copy with secret headers dropped and credential-looking strings masked."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if _key == "headers" and is_secret_header(k):
                continue  # dropped, not masked: its presence is not evidence
            if str(k).lower() in _SECRET_KEYS and v is not None:
                out[k] = REDACTED
                continue
            out[k] = scrub(v, _key=str(k))
        return out
    if isinstance(value, list):
        return [scrub(v, _key=_key) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def prepare(report: Any) -> dict:
    """The one entry point of every writer: plain JSON data, secrets removed."""
    plain = to_plain(report)
    if not isinstance(plain, dict):
        raise TypeError("a compat report must be a JSON object (dict)")
    return scrub(plain)


def write_output(path: str | os.PathLike, text: str) -> Path:
    """A report file where the user asked for it, creating its directory; the write itself is the
    one atomic writer's (``migrate.fsutil``), so readers never see a half-written report."""
    target = Path(path)
    (target.parent if str(target.parent) else Path(".")).mkdir(parents=True, exist_ok=True)
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
