"""Streaming invariants, measured on each side and then compared old vs new.

Per stream: content and tool calls reassembled from the stream equal the non-stream answer to the
same request (temperature 0, same seed; content through tolerant similarity); exactly one
finish_reason; a usage event when ``include_usage`` was asked (OpenAI) or the final counts
(Ollama); role only in the first delta (OpenAI framing; Ollama repeats it by design, so n/a there);
no chat-template markers in the content; every tool-call delta carries an index, stable per call.
A first delta with ``content: null`` and one with ``""`` are the same (no content), not a difference.
When a side's non-stream twin failed for infrastructure reasons (or never ran), "matches the
non-stream answer" was not measured there: the check says so (error / inconclusive) instead of
comparing None with True.
"""

from __future__ import annotations

from typing import Optional

from migrate.exchange import Exchange

from ..normalize import leaked_markers, status_class, text_similarity
from .base import (
    CaseRun,
    CheckContext,
    Field,
    fewer_is_better,
    infra_failure,
    judge,
    split_samples,
    true_is_better,
    unmeasured,
)

STREAM_MATCH_SIMILARITY = 0.9


def _calls(ex: Exchange) -> list:
    return [(tc.name, sorted(tc.arguments) if isinstance(tc.arguments, dict) else None) for tc in ex.tool_calls]


def _late_divergence(a: str, b: str) -> bool:
    """Same beginning, diverging only in the second half: the numerical drift of a batched
    engine at temperature 0, not a reassembly bug (those lose or garble the start)."""
    a, b = " ".join(a.split()), " ".join(b.split())
    short = min(len(a), len(b))
    if short == 0:
        return len(a) == len(b)
    common = 0
    for x, y in zip(a, b):
        if x != y:
            break
        common += 1
    return common >= short / 2


def matches(stream: Exchange, plain: Optional[Exchange]) -> Optional[bool]:
    """Reassembled stream == non-stream answer: tool calls by name and argument keys (values can
    drift numerically like text), content by tolerant similarity or a shared first half."""
    if plain is None or plain.error is not None or stream.error is not None:
        return None
    text_ok = text_similarity(stream.content, plain.content) >= STREAM_MATCH_SIMILARITY or _late_divergence(
        stream.content or "", plain.content or ""
    )
    return text_ok and _calls(stream) == _calls(plain)


def _role_first_only(ex: Exchange) -> Optional[bool]:
    if ex.protocol != "openai":
        return None
    roles = [i for i, d in enumerate(ex.deltas) if d.role]
    return roles == [0] or roles == []


def _tool_index_stable(ex: Exchange) -> Optional[bool]:
    tool_deltas = [d for d in ex.deltas if d.tool_name is not None or d.arguments_fragment or d.tool_call_id]
    if not tool_deltas:
        return None
    seen: dict[str, int] = {}
    for d in tool_deltas:
        if d.tool_call_index is None:
            return False
        if d.tool_call_id:
            if seen.setdefault(d.tool_call_id, d.tool_call_index) != d.tool_call_index:
                return False
    return True


def observe(ex: Exchange, plain: Optional[Exchange], side: str = "new", case=None) -> dict:
    finishes = sum(1 for d in ex.deltas if d.finish_reason)
    obs = {
        "status": status_class(ex),
        "error_type": ex.error.type if ex.error else None,
        "non_stream_status": status_class(plain) if plain is not None else None,
        "matches_non_stream": matches(ex, plain),
        "finish_reason_once": finishes == 1,
        "usage_event": any(d.usage for d in ex.deltas) if ex.request.include_usage else None,
        "role_only_in_first_delta": _role_first_only(ex),
        "leaked_markers": leaked_markers(ex.content),
        "tool_index_stable": _tool_index_stable(ex),
        "tool_calls": len(ex.tool_calls),
        "deltas": len(ex.deltas),
        "content": ex.content,
    }
    # The non-stream twin is a request of its own: when it never ran, or failed for
    # infrastructure reasons, "does the stream match it" was not measured on this side.
    if plain is None:
        for name in ("non_stream_status", "matches_non_stream"):
            unmeasured(obs, name, "no non-stream twin was run", infra=False)
    else:
        why = infra_failure(plain, case, side)
        if why:
            for name in ("non_stream_status", "matches_non_stream"):
                unmeasured(obs, name, f"the non-stream twin failed ({why})", infra=True)
    return obs


FIELDS = [
    Field("status"),
    Field("error_type"),
    # A new-side 5xx on the twin where the old twin answered is a real regression, seen here.
    Field("non_stream_status"),
    Field("matches_non_stream", better=true_is_better),
    Field("finish_reason_once", better=true_is_better),
    Field("usage_event", better=true_is_better),
    Field("role_only_in_first_delta", better=true_is_better),
    Field("leaked_markers", better=fewer_is_better),
    Field("tool_index_stable", better=true_is_better),
    Field("tool_calls"),
    Field("deltas", kind="info"),
    Field("content", kind="info"),
]


def _pair(streams: list[Exchange], plains: list[Exchange], side: str, case) -> list[dict]:
    out = []
    for i, ex in enumerate(streams):
        plain = plains[i] if i < len(plains) else (plains[0] if plains else None)
        out.append(observe(ex, plain, side, case))
    return out


def stream_invariants(case, run: CaseRun, ctx: CheckContext) -> dict:
    got = split_samples(case, "stream_invariants", run.old, run.new)
    if got.early:
        return got.early
    twins = run.aux.get("non_stream", {})
    old, new = got.old, got.new
    old_obs = _pair(old, twins.get("old", []), "old", case)
    new_obs = _pair(new, twins.get("new", []), "new", case)
    # A protocol where an invariant does not apply (None) on one side cannot be compared on it.
    fields = [f for f in FIELDS if not (f.name == "role_only_in_first_delta" and ctx.old.protocol != ctx.new.protocol)]
    return judge(
        case,
        "stream_invariants",
        fields,
        old_obs,
        new_obs,
        old_ex=old,
        new_ex=new,
        ctx=ctx,
        note=got.note,
        pass_detail="Stream invariants hold the same way on both backends.",
    )


CHECKS = {"stream_invariants": stream_invariants}
