"""Defaults: requests that pin no sampling parameters, as many apps send them.

What such an app silently inherits is the backend's defaults: Modelfile ``num_predict`` and stop
tokens on Ollama, ``generation_config.json`` on vLLM, the server's own on llama.cpp. Observed here:
whether the answer ends by itself or at the length cap, how long it is, and whether template
markers leak (a missing stop token). Sampling randomness is expected, so every field goes through
the noise rule: only a change beyond the old backend's own run-to-run variation counts.
"""

from __future__ import annotations

from migrate.exchange import Exchange

from . import chat
from .base import CaseRun, CheckContext, Field, fewer_is_better, judge, split_samples


def observe(ex: Exchange, case) -> dict:
    obs = chat.observe(ex, case)
    obs["ends_by_itself"] = ex.finish_reason == "stop"
    obs["completion_tokens"] = ex.usage.completion_tokens
    return obs


FIELDS = [
    Field("status"),
    Field("error_type"),
    Field("ends_by_itself"),
    Field("leaked_markers", better=fewer_is_better),
    Field("tool_calls"),
    Field("completion_tokens", kind="info"),
    Field("finish_reason", kind="info"),
    Field("content", kind="info"),
]


def default_behaviour(case, run: CaseRun, ctx: CheckContext) -> dict:
    got = split_samples(case, "default_behaviour", run.old, run.new)
    if got.early:
        return got.early
    old, new = got.old, got.new
    return judge(
        case,
        "default_behaviour",
        FIELDS,
        [observe(e, case) for e in old],
        [observe(e, case) for e in new],
        old_ex=old,
        new_ex=new,
        ctx=ctx,
        note=got.note,
        pass_detail="Without sampling parameters both backends end answers the same way "
        "(within the old backend's own variation).",
    )


CHECKS = {"default_behaviour": default_behaviour}
