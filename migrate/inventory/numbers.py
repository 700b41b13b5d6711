"""The one reading of a number out of scanned text (code values, log fields, runner flags)."""

from __future__ import annotations

import re
from typing import Optional

_LEADING_INT = re.compile(r"\s*(\d[\d_]*)")
_LEADING_SIGNED_INT = re.compile(r"\s*([+-]?\d[\d_]*)")


def leading_int(text: Optional[str], signed: bool = False) -> Optional[int]:
    """The integer that starts ``text`` (``"16384, ..."`` -> 16384, ``"8_192"`` -> 8192), else None
    (no digits, no text, or a sign when ``signed`` is false: a negative size in code means nothing,
    while a log field such as ``--n-gpu-layers -1`` is read as written)."""
    m = (_LEADING_SIGNED_INT if signed else _LEADING_INT).match(text or "")
    return int(m.group(1).replace("_", "")) if m else None
