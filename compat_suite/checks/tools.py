"""Tools: the calls an application would execute, compared after parsing.

Compared: number of distinct calls, names, argument keys, JSON types and parsed values, whether the
arguments parse and validate against the tool's own JSON Schema; exact repeats of a call are
counted apart (fewer is better: each repeat is a tool the application executes twice). Not compared: how arguments
travelled (object on Ollama's native API, JSON string on OpenAI's), call ids, and how the
finish_reason after a call is spelled (Ollama native ``stop`` or, when it kept generating to
max_tokens, ``length``; OpenAI ``tool_calls``): a turn that ended with calls is one behaviour.
``tool_choice``: Ollama ignores it, so the old side is ``unsupported_old`` there, not a regression.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import jsonschema

from migrate.exchange import Exchange

from ..normalize import status_class, tool_call_view
from .base import CaseRun, CheckContext, Field, judge, result, split_samples, true_is_better


def _schemas(ex: Exchange) -> dict[str, dict]:
    out = {}
    for tool in ex.request.tools or []:
        fn = tool.get("function") or {}
        if fn.get("name"):
            out[fn["name"]] = fn.get("parameters") or {}
    return out


def _valid(args: Any, schema: dict) -> bool:
    try:
        jsonschema.validate(args, schema)
        return True
    except jsonschema.ValidationError:
        return False
    except jsonschema.SchemaError:
        return False


# Finish reasons that, with parsed tool calls present, all mean "the turn ended with a call".
ENDED_WITH_CALL = ("stop", "tool_calls", "length")


def _finish(ex: Exchange) -> str:
    """The finish reason as the structure check compares it (normalised, not dropped).

    With tool calls present, ``tool_calls`` (OpenAI), ``stop`` (Ollama native) and ``length``
    (native Ollama keeps generating after the call until max_tokens) all end the turn with the
    same calls for the application to execute: compared as ``tool_calls``. Whether the calls
    themselves survived a length cap is judged by the call fields (a cut call fails to parse or
    loses keys), so nothing structural hides behind this. Without calls the raw reason stays.
    """
    if ex.tool_calls and ex.finish_reason in ENDED_WITH_CALL:
        return "tool_calls"
    return ex.finish_reason


def _distinct(calls: list[dict]) -> list[dict]:
    """Calls without exact repeats. A model that emits the same call twice makes the application
    execute it twice: that is judged on its own (``repeated_calls``), not as different calls."""
    seen, out = set(), []
    for c in calls:
        key = json.dumps([c["name"], c["arguments"]], sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def fewer_repeats_is_better(old: Any, new: Any) -> Optional[bool]:
    if isinstance(old, int) and isinstance(new, int):
        return new < old
    return None


def observe(ex: Exchange) -> dict:
    schemas = _schemas(ex)
    every = [tool_call_view(tc) for tc in ex.tool_calls]
    calls = _distinct(every)
    return {
        "status": status_class(ex),
        "error_type": ex.error.type if ex.error else None,
        "calls": len(calls),
        "repeated_calls": len(every) - len(calls),
        "made_a_call": bool(calls),
        "names": [c["name"] for c in calls],
        "keys": [c["keys"] for c in calls],
        "types": [c["types"] for c in calls],
        "arguments": [c["arguments"] for c in calls],
        "arguments_parse": all(c["arguments_valid"] for c in calls),
        "arguments_match_schema": all(
            c["arguments_valid"] and c["name"] in schemas and _valid(c["arguments"], schemas[c["name"]]) for c in calls
        ),
        "finish_reason": _finish(ex),
        "content": ex.content,
    }


FIELDS = [
    Field("status"),
    Field("error_type"),
    Field("made_a_call", better=true_is_better),
    Field("calls"),
    Field("repeated_calls", better=fewer_repeats_is_better),
    # The order of parallel calls carries no meaning: [a, b] and [b, a] are the same calls.
    Field("names", ignore_order=True),
    Field("keys", ignore_order=True),
    Field("types", ignore_order=True),
    Field("arguments", ignore_order=True),
    Field("arguments_parse", better=true_is_better),
    Field("arguments_match_schema", better=true_is_better),
    Field("finish_reason"),
    Field("content", kind="info"),
]


def tool_call_structure(case, run: CaseRun, ctx: CheckContext) -> dict:
    got = split_samples(case, "tool_call_structure", run.old, run.new)
    if got.early:
        return got.early
    old, new = got.old, got.new
    return judge(
        case,
        "tool_call_structure",
        FIELDS,
        [observe(e) for e in old],
        [observe(e) for e in new],
        old_ex=old,
        new_ex=new,
        ctx=ctx,
        note=got.note,
        pass_detail="Same tool calls (names, argument keys, types and values) on both backends.",
    )


def _honoured(ex: Exchange, choice: Any) -> Optional[bool]:
    if ex.error is not None:
        return None
    if choice == "required":
        return bool(ex.tool_calls)
    if choice == "none":
        return not ex.tool_calls
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return bool(ex.tool_calls) and all(tc.name == name for tc in ex.tool_calls)
    return None


def tool_choice(case, run: CaseRun, ctx: CheckContext) -> dict:
    """Is a forced ``tool_choice`` (required / named / none) honoured on each side?"""
    got = split_samples(case, "tool_choice", run.old, run.new)
    if got.early:
        return got.early
    old, new = got.old, got.new
    choice = old[0].request.tool_choice if old else None
    new_obs = [{"status": status_class(e), "honoured": _honoured(e, choice), "calls": len(e.tool_calls)} for e in new]
    old_obs = [{"status": status_class(e), "honoured": _honoured(e, choice), "calls": len(e.tool_calls)} for e in old]
    if ctx.old.protocol == "ollama" or ctx.old.kind == "ollama":
        honours = sum(1 for o in new_obs if o["honoured"])
        return result(
            case,
            "tool_choice",
            "unsupported_old",
            f"Ollama ignores tool_choice ({choice!r}) and always decides on its own; the new "
            f"backend honoured it in {honours}/{len(new_obs)} request(s). Not a regression."
            + (" " + got.note if got.note else ""),
            old_obs={"honoured": None, "note": "tool_choice ignored by Ollama"},
            new_obs=new_obs[0] if new_obs else {},
            old_ex=old,
            new_ex=new,
        )
    # status: a new-side 5xx (honoured unknown there) is still seen, as the regression it is.
    return judge(
        case,
        "tool_choice",
        [Field("status"), Field("honoured", better=true_is_better)],
        old_obs,
        new_obs,
        old_ex=old,
        new_ex=new,
        ctx=ctx,
        note=got.note,
        pass_detail=f"tool_choice {choice!r} is treated the same on both backends.",
    )


CHECKS = {"tool_call_structure": tool_call_structure, "tool_choice": tool_choice}
