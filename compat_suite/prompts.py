"""Generated prompts of a chosen size: filler sentences with optional needles, for the context
probe (calibration), long-context cases and over-length error cases."""

from __future__ import annotations

import hashlib
from typing import Any, Optional

# Filler for long prompts: plain sentences every tokenizer splits predictably.
FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
NEEDLES = {"start": "AMBER-4817", "middle": "COBALT-2093", "end": "VIOLET-5561"}


def nonce(*parts: Any) -> str:
    # A unique first line per generated prompt, so no server answers it from a prompt cache
    # (Ollama then reports fewer prompt tokens, which would look like truncation).
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:12]


def long_prompt(units: int, tag: str, needles: Optional[dict[str, str]] = None) -> str:
    """``units`` filler sentences, needles at the start, middle and end when given."""
    needles = needles or {}
    half = max(0, units // 2)
    parts = [f"Document {tag}. Remember the codes in this text.\n"]
    if "start" in needles:
        parts.append(f"The first code is {needles['start']}. ")
    parts.append(FILLER * half)
    if "middle" in needles:
        parts.append(f"The second code is {needles['middle']}. ")
    parts.append(FILLER * (units - half))
    if "end" in needles:
        parts.append(f"The third code is {needles['end']}.\n")
    parts.append("What are the codes? The codes are")
    return "".join(parts)
