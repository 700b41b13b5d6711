"""THE decode of JSON a server sent: every body, NDJSON line, SSE event, error body and tool-call
argument string of the wire layer goes through :func:`loads`, never through ``json.loads`` directly.

Python's decoder accepts what no output of ours can carry. Nesting 100,000 levels deep exhausts the
stack (``RecursionError``, in the decoder or later in any recursive walk: masking, the schema check,
``json.dumps``), so an answer nested deeper than ``MAX_DEPTH`` is invalid. ``NaN``, ``Infinity`` and
``1e999`` are not JSON numbers and would make every document we write invalid JSON, and an integer
wider than 64 bits is no server's number: each of these becomes ``None`` (null) as it is decoded.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64  # nesting levels; real answers use < 10, tool-call schemas < 20 (as datafiles.MAX_DEPTH)
_INT_LIMIT = 1 << 64


class InvalidServerJSON(ValueError):
    """JSON that parses but is refused (too deep). A ``ValueError``, like every decode failure."""


def _float(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _int(text: str) -> int | None:
    if len(text) > 21:  # past 64 bits for sure; int() of 4,301+ digits even raises
        return None
    value = int(text)
    return value if -_INT_LIMIT < value < _INT_LIMIT else None


_ESCAPE = re.compile(rb"\\.", re.S)
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'[]{}"'))
_AS_PARENS = bytes.maketrans(b"[]{}", b"()()")


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when the JSON text nests containers deeper than ``limit``, found without recursion and in
    C-speed passes: escapes and everything but brackets and quotes dropped, strings dropped (a ``]``
    in a string closes nothing), then innermost ``()`` pairs removed once per level."""
    if text.count("[") + text.count("{") <= limit:
        return False
    data = text.encode("utf-8", "surrogatepass")
    if b"\\" in data:
        data = _ESCAPE.sub(b"", data)
    # Adjacent quotes are an empty string or the seam between two strings: dropping them keeps
    # every bracket's side (inside or outside a string) as it was.
    data = data.translate(_AS_PARENS, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in data:  # strings holding brackets: keep only what lies between strings
        data = b"".join(data.split(b'"')[::2])
    for _ in range(limit):
        before = len(data)
        data = data.replace(b"()", b"")
        if not data or len(data) == before:
            return False  # balanced within the limit, or unbalanced (the decoder refuses it)
    return True


def loads(text: str | bytes) -> Any:
    """Decode a server's JSON. Raises ``ValueError`` for invalid JSON (``json.JSONDecodeError``) and
    for JSON nested deeper than ``MAX_DEPTH`` (:class:`InvalidServerJSON`); non-finite or over-wide
    numbers come back as ``None``."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    if too_deep(text):
        raise InvalidServerJSON(f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, parse_float=_float, parse_int=_int, parse_constant=lambda _: None)
    except RecursionError:  # not reachable after too_deep, kept so no input can crash the caller
        raise InvalidServerJSON(f"JSON nested deeper than {MAX_DEPTH} levels") from None
