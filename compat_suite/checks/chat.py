"""Chat: the shape of a plain answer (status, finish_reason, content present, limits honoured).

Prose is never compared exactly: ``content`` is shown, and judged only when the case asks for a
minimum ``text_similarity`` (a user case can; the built-in cases do not, since two engines or
quantisations legitimately word things differently).
"""

from __future__ import annotations

from migrate.exchange import Exchange

from ..normalize import leaked_markers, status_class
from .base import CaseRun, CheckContext, Field, fewer_is_better, judge, split_samples, true_is_better


def observe(ex: Exchange, case) -> dict:
    req = ex.request
    max_tokens = req.sampling.max_tokens
    done = ex.usage.completion_tokens
    obs = {
        "status": status_class(ex),
        "error_type": ex.error.type if ex.error else None,
        "finish_reason": ex.finish_reason,
        "has_content": bool((ex.content or "").strip()),
        "tool_calls": len(ex.tool_calls),
        "usage_reported": ex.usage.reported,
        "leaked_markers": leaked_markers(ex.content),
        "no_replacement_chars": "\ufffd" not in (ex.content or ""),
        "content": ex.content,
    }
    if max_tokens is not None:
        # None when the server reported no usage: we never invent counts.
        obs["within_max_tokens"] = None if done is None else done <= max_tokens
    if req.sampling.stop:
        obs["stop_respected"] = not any(s in (ex.content or "") for s in req.sampling.stop)
    return obs


def fields(case) -> list[Field]:
    out = [
        Field("status"),
        Field("error_type"),
        Field("finish_reason"),
        Field("has_content", better=true_is_better),
        Field("tool_calls"),
        Field("usage_reported", better=true_is_better),
        Field("leaked_markers", better=fewer_is_better),
        Field("no_replacement_chars", better=true_is_better),
        Field("within_max_tokens", better=true_is_better),
        Field("stop_respected", better=true_is_better),
    ]
    sim = case.params.get("text_similarity")
    out.append(
        Field("content", kind="text", threshold=float(sim)) if sim is not None else Field("content", kind="info")
    )
    return out


def response_structure(case, run: CaseRun, ctx: CheckContext) -> dict:
    got = split_samples(case, "response_structure", run.old, run.new)
    if got.early:
        return got.early
    old, new = got.old, got.new
    return judge(
        case,
        "response_structure",
        fields(case),
        [observe(e, case) for e in old],
        [observe(e, case) for e in new],
        old_ex=old,
        new_ex=new,
        ctx=ctx,
        note=got.note,
        pass_detail="Same answer structure (status, finish_reason, limits) on both backends.",
    )


CHECKS = {"response_structure": response_structure}
