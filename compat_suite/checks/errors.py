"""Error contract: what an application gets back for requests that should fail.

Status codes are deterministic contracts, so these cases are judged on the statuses seen (every
sample must agree), not through the noise rule. Ordering of outcomes, best first, for the same
bad request: a clean 4xx with a message; a 5xx (clients retry it); a 2xx that silently answers
(wrong model, truncated prompt): the app never learns something went wrong.
"""

from __future__ import annotations

from typing import Optional

from migrate.exchange import Exchange
from migrate.protocol import serverjson

from .base import CaseRun, CheckContext, result, split_samples


def _shape(ex: Exchange) -> str:
    """The error body's shape: Ollama ``{"error": "..."}`` vs OpenAI ``{"error": {...}}``."""
    if ex.error is None:
        return "none"
    text = "\n".join(ex.transcript.lines)
    try:
        body = serverjson.loads(text)
    except (ValueError, TypeError):
        return "not_json"
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return "openai" if "message" in err else "object"
        if isinstance(err, str):
            return "ollama"
        if body.get("object") == "error":
            return "flat"
    return "other"


def observe(ex: Exchange, sent_tokens: Optional[int] = None) -> dict:
    obs = {
        "status": ex.status,
        "status_class": f"{ex.status // 100}xx" if ex.status else None,
        "error_type": ex.error.type if ex.error else None,
        "has_message": bool(ex.error and ex.error.message),
        "shape": _shape(ex),
        "server_error_type": ex.error.raw_type if ex.error else None,
    }
    if ex.error is None:
        obs["answered_model"] = ex.model
        obs["prompt_tokens"] = ex.usage.prompt_tokens
        if sent_tokens is not None and ex.usage.prompt_tokens is not None:
            obs["silently_truncated"] = ex.usage.prompt_tokens < 0.95 * sent_tokens
    return obs


def _rank(obs: dict) -> int:
    """Higher is better for a request that should fail."""
    cls = obs["status_class"]
    if cls == "4xx":
        return 3 if obs["has_message"] else 2
    if cls == "5xx":
        return 1
    return 0  # 2xx: silently served


def error_contract(case, run: CaseRun, ctx: CheckContext) -> dict:
    # Every status is the behaviour under test here (a 500 included); only transport faults are
    # set aside as infrastructure failures.
    got = split_samples(case, "error_contract", run.old, run.new)
    if got.early:
        return got.early
    entry = _judge(case, got.old, got.new, run, ctx)
    if got.note:
        entry["detail"] += " " + got.note
    return entry


def _judge(case, old: list[Exchange], new: list[Exchange], run: CaseRun, ctx: CheckContext) -> dict:
    sent = run.aux.get("sent_tokens", {})
    old_obs = [observe(e, sent.get("old")) for e in old]
    new_obs = [observe(e, sent.get("new")) for e in new]
    o, n = old_obs[0], new_obs[0]
    if any(x["status"] != o["status"] for x in old_obs) or any(x["status"] != n["status"] for x in new_obs):
        return result(
            case,
            "error_contract",
            "inconclusive",
            "A backend answered this request with different statuses across repeats.",
            old_obs=o,
            new_obs=n,
            old_ex=old,
            new_ex=new,
            needed=2,
        )
    same_protocol = ctx.old.protocol == ctx.new.protocol
    what = case.params.get("error", case.id)
    if o["status"] == n["status"]:
        if same_protocol and o["shape"] != n["shape"]:
            return result(
                case,
                "error_contract",
                "regression",
                f"Same status {o['status']} but the error body changed shape "
                f"({o['shape']} -> {n['shape']}); clients parsing it will break.",
                old_obs=o,
                new_obs=n,
                old_ex=old,
                new_ex=new,
            )
        if o["status_class"] == "2xx" and n.get("silently_truncated") and not o.get("silently_truncated"):
            return result(
                case,
                "error_contract",
                "regression",
                "Both answer 200, but the new backend silently drops part of the prompt.",
                old_obs=o,
                new_obs=n,
                old_ex=old,
                new_ex=new,
            )
        note = ""
        if o["status_class"] == "2xx":
            note = " Both backends serve this bad request without an error."
        return result(
            case,
            "error_contract",
            "pass",
            f"Both backends answer {what} with HTTP {o['status']}.{note}",
            old_obs=o,
            new_obs=n,
            old_ex=old,
            new_ex=new,
        )
    ro, rn = _rank(o), _rank(n)
    if o["status_class"] == "2xx" and n["status_class"] == "2xx":
        ro, rn = (1, 0) if n.get("silently_truncated") else (0, 1)
    change = f"HTTP {o['status']} ({o['error_type'] or 'ok'}) -> HTTP {n['status']} ({n['error_type'] or 'ok'})"
    if rn > ro:
        extra = ""
        if o.get("silently_truncated"):
            extra = " The old backend silently truncated the prompt; the new one says so."
        return result(
            case,
            "error_contract",
            "improvement",
            f"{what}: {change}: clearer on the new backend.{extra} Clients that relied on "
            f"the old status must handle the new one.",
            old_obs=o,
            new_obs=n,
            old_ex=old,
            new_ex=new,
        )
    why = {
        0: "the new backend serves it silently",
        1: "a server error clients will retry",
        2: "an error without a message",
    }.get(rn, "a different status")
    return result(
        case,
        "error_contract",
        "regression",
        f"{what}: {change}: {why}; clients branching on the old status break.",
        old_obs=o,
        new_obs=n,
        old_ex=old,
        new_ex=new,
    )


CHECKS = {"error_contract": error_contract}
