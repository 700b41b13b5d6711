"""Long context: what happens to prompts near and beyond the old backend's effective context.

The runner sends one prompt per fraction (e.g. 50 %, 90 %, 110 % of the old context) with needles
at the start, middle and end, after calibrating each side's tokens per filler sentence. A prompt
is *silently truncated* when the server answers 2xx but reports fewer prompt tokens than were sent
(or lost the start needle); a *clean rejection* is a 4xx. Capacity facts are deterministic, so
each prompt is judged on its outcome, not through the noise rule; needle recall is shown only
(a small model may not repeat needles even when it saw them).
"""

from __future__ import annotations

from typing import Optional

from migrate.exchange import Exchange

from .base import CaseRun, CheckContext, infra_failure, result

TRUNCATION_RATIO = 0.95


def outcome(ex: Exchange, sent: Optional[int], needles: dict[str, str]) -> dict:
    obs: dict = {"status": ex.status, "sent_tokens": sent, "prompt_tokens": ex.usage.prompt_tokens}
    if ex.error is not None:
        obs["outcome"] = "rejected" if ex.status and 400 <= ex.status < 500 else "failed"
        obs["error_type"] = ex.error.type
        obs["error"] = ex.error.message[:200]
        return obs
    obs["needles_repeated"] = sorted(pos for pos, code in needles.items() if code in (ex.content or ""))
    truncated = (
        sent is not None and ex.usage.prompt_tokens is not None and ex.usage.prompt_tokens < TRUNCATION_RATIO * sent
    )
    obs["outcome"] = "truncated" if truncated else "ok"
    return obs


# old outcome -> new outcome -> (verdict, sentence)
_TABLE = {
    ("ok", "ok"): ("pass", "served in full on both backends"),
    ("ok", "rejected"): ("regression", "the old backend served it in full; the new one rejects it"),
    ("ok", "truncated"): ("regression", "the old backend served it in full; the new one silently truncates it"),
    ("ok", "failed"): ("regression", "the old backend served it in full; the new one fails"),
    ("truncated", "ok"): ("improvement", "the old backend silently truncated it; the new one serves it in full"),
    ("truncated", "rejected"): (
        "improvement",
        "SILENT TRUNCATION on the old backend (HTTP 200, fewer prompt "
        "tokens); the new one rejects it cleanly: apps that sent such "
        "prompts now get errors instead of quietly wrong answers",
    ),
    ("truncated", "truncated"): ("pass", "both backends silently truncate it"),
    ("truncated", "failed"): ("regression", "the old backend truncated it; the new one fails with a server error"),
    ("rejected", "ok"): ("improvement", "the old backend rejected it; the new one serves it in full"),
    ("rejected", "rejected"): ("pass", "rejected cleanly on both backends"),
    ("rejected", "truncated"): ("regression", "the old backend rejected it cleanly; the new one silently truncates it"),
    ("rejected", "failed"): (
        "regression",
        "the old backend rejected it cleanly; the new one fails with a server error",
    ),
    ("failed", "ok"): ("improvement", "the old backend failed; the new one serves it"),
    ("failed", "rejected"): ("improvement", "the old backend failed; the new one rejects it cleanly"),
    ("failed", "truncated"): ("pass", "neither backend serves it properly"),
    ("failed", "failed"): ("pass", "fails on both backends"),
}


def context_window(case, run: CaseRun, ctx: CheckContext) -> list[dict]:
    out: list[dict] = []
    prompts = run.aux.get("prompts", {})
    largest = {"old": None, "new": None}
    for label in sorted(prompts, key=lambda k: prompts[k]["fraction"]):
        p = prompts[label]
        old_ex, new_ex = p["old"], p["new"]
        sub_id = f"{case.id}.{label}"
        sub = _Sub(sub_id, case.category)
        # Nothing observed on a side (not run, a transport fault, or an old-side 5xx): no verdict
        # on capacity can rest on it. A new-side 5xx where the old side answered stays a
        # "failed" outcome, judged below as the regression it is.
        why = None
        for side, exs in (("old", old_ex), ("new", new_ex)):
            failure = "not run" if not exs else infra_failure(exs[0], case, side)
            if failure:
                why = f"{side}: {failure}"
                break
        if why:
            out.append(
                result(
                    sub,
                    "context_window",
                    "error",
                    f"Prompt at {p['fraction']:.0%}: no behaviour observed ({why}); nothing was compared.",
                    old_ex=old_ex,
                    new_ex=new_ex,
                )
            )
            continue
        o = outcome(old_ex[0], p["sent"].get("old"), p["needles"])
        n = outcome(new_ex[0], p["sent"].get("new"), p["needles"])
        for side, obs in (("old", o), ("new", n)):
            if obs["outcome"] == "ok" and obs.get("prompt_tokens"):
                largest[side] = max(largest[side] or 0, obs["prompt_tokens"])
        verdict, sentence = _TABLE[(o["outcome"], n["outcome"])]
        sent = p["sent"].get("old") or p["sent"].get("new")
        size = f"~{sent} tokens" if sent else "a prompt"
        detail = f"{size} ({p['fraction']:.0%} of the old context {ctx.old.context}): {sentence}."
        detail = detail[0].upper() + detail[1:]
        if o["outcome"] == "truncated":
            detail += f" Old reported {o['prompt_tokens']} prompt tokens of ~{sent} sent."
        out.append(result(sub, "context_window", verdict, detail, old_obs=o, new_obs=n, old_ex=old_ex, new_ex=new_ex))
    if prompts:
        out.append(_summary(case, ctx, largest))
    return out


def _summary(case, ctx: CheckContext, largest: dict) -> dict:
    sub = _Sub(f"{case.id}.max_context", case.category)
    old_ctx, new_ctx = ctx.old.context, ctx.new.context
    advice = ""
    if old_ctx:
        advice = (
            f" Set the new engine's per-request context to at least {old_ctx} tokens "
            f"(vLLM --max-model-len, SGLang --context-length, llama.cpp -c = {old_ctx} x slots) "
            f"so every prompt the old backend accepted still fits."
        )
    detail = (
        f"Largest working prompt: old ~{largest['old']} tokens, new ~{largest['new']} tokens; "
        f"effective context: old {old_ctx} ({ctx.old.context_source}), new {new_ctx} "
        f"({ctx.new.context_source}).{advice}"
    )
    return result(
        sub,
        "max_context",
        "pass",
        detail,
        old_obs={
            "largest_working_prompt": largest["old"],
            "context": old_ctx,
            "context_source": ctx.old.context_source,
        },
        new_obs={
            "largest_working_prompt": largest["new"],
            "context": new_ctx,
            "context_source": ctx.new.context_source,
            "recommended_max_context": old_ctx,
        },
        samples=(1, 1),
    )


class _Sub:
    """A per-prompt row of the report: the case id with the prompt's label appended."""

    def __init__(self, id: str, category: str):
        self.id, self.category = id, category


CHECKS = {"context_window": context_window}
