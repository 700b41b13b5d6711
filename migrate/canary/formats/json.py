"""The JSON document (``--format json``): the decision plus the evidence it rests on."""

from __future__ import annotations

import json as _json


def document(decision, ctx) -> dict:
    doc = decision.to_dict()
    if ctx.alias:
        doc["alias"] = ctx.alias
    if ctx.backend:
        doc["backend"] = ctx.backend
    if ctx.split is not None:
        doc["weights"] = ctx.split
    if ctx.applied is not None:
        doc["applied"] = ctx.applied
    return doc


def render(decision, ctx) -> str:
    return _json.dumps(document(decision, ctx), indent=2, ensure_ascii=False)
