"""Normalised observations and the structural diff between them.

Checks never compare raw payloads: each turns an ``Exchange`` into a small dict of the fields it
judges (an *observation*), and this module says which fields of two observations differ.

* Volatile fields (ids, ``created``, fingerprints, timings) are excluded by rule, so they never
  show up as differences even when a check puts a whole result dict into its observation.
* Tool-call arguments are compared as parsed values: object-vs-string encoding on the wire
  (Ollama native vs OpenAI) is not a difference.
* Free text is compared only through a tolerant similarity (``text_similarity``), never exactly.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any, Iterable, Optional

from deepdiff import DeepDiff

from migrate.exchange import Exchange, ToolCall

# deepdiff path regexes for fields that change on every request and carry no behaviour.
VOLATILE_PATHS = [
    r"\['id'\]$",
    r"\['created'\]$",
    r"\['created_at'\]$",
    r"\['system_fingerprint'\]$",
    r"\['timings'\]",
    r"\['arguments_encoding'\]$",
    r"\['arguments_raw'\]$",
    r"\['tool_call_id'\]$",
    r"_duration'\]$",
    r"\['t'\]$",
]

# Chat-template control markers that must never reach the application's content.
TEMPLATE_MARKERS = (
    "<start_of_turn>",
    "<end_of_turn>",
    "<|im_start|>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "[INST]",
    "[/INST]",
    "<tool_call>",
    "</tool_call>",
    "<|endoftext|>",
    "<|end|>",
    "<|assistant|>",
)


def json_type(value: Any) -> str:
    """JSON Schema type name of a parsed value (bool before int: bool is an int in Python)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def type_shape(value: Any) -> Any:
    """The JSON types of a value, recursively (values dropped): what an app's parser depends on."""
    if isinstance(value, dict):
        return {k: type_shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [type_shape(v) for v in value[:1]] if value else []
    return json_type(value)


def tool_call_view(tc: ToolCall) -> dict:
    """A call as the application sees it after parsing: name, keys, values and their types."""
    args = tc.arguments if tc.arguments_valid else None
    keys = sorted(args) if isinstance(args, dict) else None
    return {
        "name": tc.name,
        "arguments_valid": bool(tc.arguments_valid),
        "keys": keys,
        "types": type_shape(args) if args is not None else None,
        "arguments": args,
    }


def text_similarity(a: Optional[str], b: Optional[str]) -> float:
    """Tolerant similarity of two texts in [0, 1]: whitespace-insensitive character ratio.

    Two empty texts are identical (1.0); ``None`` and ``""`` are both "no text".
    """
    a = " ".join((a or "").split())
    b = " ".join((b or "").split())
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def leaked_markers(text: Optional[str]) -> list[str]:
    return [m for m in TEMPLATE_MARKERS if m in (text or "")]


def status_class(ex: Exchange) -> str:
    """``2xx``/``4xx``/``5xx`` or the transport fault: the part of a status an app branches on."""
    if ex.status is None:
        return ex.error.type if ex.error else "none"
    return f"{ex.status // 100}xx"


def _top_field(path: str) -> str:
    match = re.match(r"root\['([^']+)'\]", path)
    return match.group(1) if match else path


def differing_fields(
    a: dict, b: dict, *, text_fields: Optional[dict[str, float]] = None, ignore: Iterable[str] = ()
) -> set[str]:
    """Top-level keys of two observations whose values differ.

    ``text_fields`` maps a key to the similarity below which its free text counts as different;
    every other key is compared structurally with deepdiff, volatile paths excluded.
    """
    text_fields = text_fields or {}
    ignore = set(ignore)
    out: set[str] = set()
    for key, threshold in text_fields.items():
        if key in ignore:
            continue
        if text_similarity(a.get(key), b.get(key)) < threshold:
            out.add(key)
    skip = ignore | set(text_fields)
    left = {k: v for k, v in a.items() if k not in skip}
    right = {k: v for k, v in b.items() if k not in skip}
    diff = DeepDiff(
        _jsonable(left), _jsonable(right), exclude_regex_paths=VOLATILE_PATHS, ignore_numeric_type_changes=False
    )
    for kind, entries in diff.items():
        for path in entries if isinstance(entries, (list, set, dict)) else [entries]:
            out.add(_top_field(str(path)))
    return out


def values_differ(a: Any, b: Any, *, ignore_order: bool = False) -> bool:
    """Structural difference of two observed values (deepdiff, volatile paths excluded)."""
    if a == b:
        return False
    return bool(DeepDiff(_jsonable(a), _jsonable(b), exclude_regex_paths=VOLATILE_PATHS, ignore_order=ignore_order))


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so tuples/lists and dataclass leftovers compare the same."""
    return json.loads(json.dumps(value, default=str))
