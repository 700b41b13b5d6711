"""Structured output: ``json_object`` answers parse; ``json_schema`` answers validate (jsonschema),
with the schema's required keys and types. Ollama's ``format`` and OpenAI's ``response_format``
are the same request here: the protocol adapters translate the canonical ``ResponseFormat``."""

from __future__ import annotations

from typing import Any, Optional

import jsonschema

from migrate.exchange import Exchange
from migrate.protocol import serverjson

from ..normalize import status_class, type_shape
from .base import CaseRun, CheckContext, Field, judge, split_samples, true_is_better


def _parse(text: str) -> tuple[bool, Any]:
    try:
        return True, serverjson.loads(text)  # a model's answer is server data: depth-guarded
    except (ValueError, TypeError):
        return False, None


def observe(ex: Exchange) -> dict:
    rf = ex.request.response_format
    schema: Optional[dict] = rf.schema if rf is not None else None
    parses, value = _parse((ex.content or "").strip())
    valid: Optional[bool] = None
    if schema is not None:
        valid = False
        if parses:
            try:
                jsonschema.validate(value, schema)
                valid = True
            except (jsonschema.ValidationError, jsonschema.SchemaError):
                valid = False
    return {
        "status": status_class(ex),
        "error_type": ex.error.type if ex.error else None,
        "parses": parses,
        "is_object": isinstance(value, dict),
        "valid_against_schema": valid,
        "keys": sorted(value) if isinstance(value, dict) else None,
        "types": type_shape(value) if parses else None,
        "finish_reason": ex.finish_reason,
        "content": ex.content,
    }


FIELDS = [
    Field("status"),
    Field("error_type"),
    Field("parses", better=true_is_better),
    Field("is_object", better=true_is_better),
    Field("valid_against_schema", better=true_is_better),
    Field("keys", kind="info"),
    Field("types", kind="info"),
    Field("finish_reason", kind="info"),
    Field("content", kind="info"),
]


def json_validity(case, run: CaseRun, ctx: CheckContext) -> dict:
    got = split_samples(case, "json_validity", run.old, run.new)
    if got.early:
        return got.early
    old, new = got.old, got.new
    fields = list(FIELDS)
    if case.params.get("compare_keys"):
        fields = [Field("keys") if f.name == "keys" else f for f in fields]
    return judge(
        case,
        "json_validity",
        fields,
        [observe(e) for e in old],
        [observe(e) for e in new],
        old_ex=old,
        new_ex=new,
        ctx=ctx,
        note=got.note,
        pass_detail="Structured output is equally valid on both backends.",
    )


CHECKS = {"json_validity": json_validity}
