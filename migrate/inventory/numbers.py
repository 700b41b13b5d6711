"""The one reading of a number out of scanned text (code values, log fields, runner flags)."""

from __future__ import annotations

import re
from typing import Optional

_LEADING_INT = re.compile(r"\s*(\d[\d_]*)")


def leading_int(text: Optional[str]) -> Optional[int]:
    """The unsigned integer that starts ``text`` (``"16384, ..."`` -> 16384, ``"8_192"`` -> 8192),
    else None (no digits, a sign, or no text)."""
    m = _LEADING_INT.match(text or "")
    return int(m.group(1).replace("_", "")) if m else None
