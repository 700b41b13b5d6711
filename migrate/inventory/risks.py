"""Migration risks as data: each rule is (id, severity, detector, fix template).

A detector reads the assembled inventory and returns ``None`` or ``(evidence lines, values)``; the
values fill the fix template, so the fix names the concrete numbers that were observed.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}


def _sites(inv: dict, pred) -> list[dict]:
    return [s for s in (inv.get("code_sites") or []) if s["kind"] != "mention" and pred(s)]


def _loc(sites: list[dict], limit: int = 8) -> list[str]:
    out = [f"{s['file']}:{s['line']} ({s['kind']})" for s in sites[:limit]]
    if len(sites) > limit:
        out.append(f"... and {len(sites) - limit} more")
    return out


def _traffic(inv: dict) -> dict:
    return inv.get("traffic") or {}


def _truncation(inv):
    t = _traffic(inv)
    n = t.get("truncation_events") or 0
    if not n:
        return None
    limits = t.get("truncation_limits") or {}
    biggest = t.get("truncation_max_prompt") or 0
    need = 1 << max(0, math.ceil(math.log2(biggest))) if biggest else None
    ev = [f"logs: {n} 'truncating input prompt' events; limits {limits}; largest prompt {biggest} tokens"]
    return ev, {"n": n, "limits": ", ".join(limits) or "?", "biggest": biggest, "need": need}


def _context_shift(inv):
    t = _traffic(inv)
    n = (t.get("context_shift_events") or 0) + (t.get("message_truncation_events") or 0)
    if not n:
        return None
    return [
        f"logs: {t.get('context_shift_events', 0)} 'context limit hit - shifting', "
        f"{t.get('message_truncation_events', 0)} 'truncating input messages' events"
    ], {"n": n}


def _format_json(inv):
    s = _sites(inv, lambda s: s.get("format") and not (s.get("endpoint") or "").startswith("/v1"))
    return (_loc(s), {"n": len(s)}) if s else None


def _keep_alive(inv):
    s = _sites(
        inv,
        lambda s: (
            "keep_alive" in s.get("ollama_params", [])
            or (s["kind"] == "config" and "OLLAMA_KEEP_ALIVE" in (s.get("settings") or {}))
        ),
    )
    cfg = [c for c in inv.get("server_config") or [] if c["env"].get("OLLAMA_KEEP_ALIVE") not in (None, "", "5m0s")]
    ev = _loc(s) + [f"logs {c['source']}:{c['line']} OLLAMA_KEEP_ALIVE={c['env']['OLLAMA_KEEP_ALIVE']}" for c in cfg]
    return (ev, {"n": len(ev)}) if ev else None


def _generate_context(inv):
    s = _sites(inv, lambda s: "context" in s.get("ollama_params", []) and s.get("endpoint") == "/api/generate")
    return (_loc(s), {"n": len(s)}) if s else None


def _tool_choice_v1(inv):
    s = _sites(inv, lambda s: s.get("tool_choice") and (s.get("endpoint") or "").startswith("/v1"))
    if not s:
        return None
    return _loc(s), {"values": ", ".join(sorted({x["tool_choice"] for x in s}))}


def _temperature_v1(inv):
    s = _sites(
        inv,
        lambda s: (
            s["kind"] == "openai_sdk"
            and (s.get("endpoint") or "").startswith("/v1/chat")
            and not s.get("temperature_set")
        ),
    )
    return (_loc(s), {"n": len(s)}) if s else None


def _max_completion_tokens(inv):
    s = _sites(inv, lambda s: "max_completion_tokens" in s.get("ollama_params", []))
    return (_loc(s), {"n": len(s)}) if s else None


def _queue_full(inv):
    t = _traffic(inv)
    n503, qf = t.get("status_503") or 0, t.get("queue_full_events") or 0
    if not (n503 or qf):
        return None
    return [f"logs: {n503} HTTP 503 access lines, {qf} 'maximum pending requests exceeded' messages"], {
        "n": max(n503, qf)
    }


def _server_errors(inv):
    t = _traffic(inv)
    n = (t.get("errors_5xx") or 0) - (t.get("status_503") or 0)
    if n <= 0:
        return None
    return [f"logs: {n} HTTP 5xx (non-503) responses; by status {t.get('by_status')}"], {"n": n}


def _forbidden(inv):
    t = _traffic(inv)
    n = t.get("status_403") or 0
    return ([f"logs: {n} HTTP 403 responses"], {"n": n}) if n else None


def _cancelled(inv):
    t = _traffic(inv)
    n = t.get("status_499") or 0
    return ([f"logs: {n} HTTP 499 (client closed) responses"], {"n": n}) if n else None


def _native_api(inv):
    s = _sites(
        inv,
        lambda s: (
            (s.get("endpoint") or "").startswith("/api/")
            or s["kind"] in ("ollama_python", "ollama_js", "ollama_go", "langchain", "llamaindex", "litellm")
        ),
    )
    t = _traffic(inv)
    native = {k: v for k, v in (t.get("by_endpoint") or {}).items() if k.startswith("/api/")}
    ev = _loc(s) + ([f"logs: native endpoints {native}"] if native else [])
    return (ev, {"n": len(s)}) if ev else None


def _ollama_only_options(inv):
    keys = (
        "num_predict",
        "raw",
        "template",
        "think",
        "images",
        "suffix",
        "num_gpu",
        "num_thread",
        "num_batch",
        "mirostat",
    )
    s = _sites(inv, lambda s: any(k in s.get("ollama_params", []) for k in keys))
    if not s:
        return None
    used = sorted({k for x in s for k in x["ollama_params"] if k in keys})
    return _loc(s), {"keys": ", ".join(used)}


def _num_ctx_varies(inv):
    values = sorted({s["num_ctx"] for s in _sites(inv, lambda s: s.get("num_ctx"))})
    if len(values) < 2:
        return None
    return [f"code: num_ctx values {values}"], {"values": values, "max": values[-1]}


def _cpu_offload(inv):
    ms = [m for m in inv.get("models") or [] if (m.get("offload") or {}).get("cpu_offload")]
    if not ms:
        return None
    return [f"/api/ps {m['name']}: {m['offload']['cpu_share']:.0%} on CPU" for m in ms], {"n": len(ms)}


def _modelfile_defaults(inv):
    keys = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "num_ctx", "num_predict", "seed")
    ms = [m for m in inv.get("models") or [] if any(k in (m.get("parameters") or {}) for k in keys) or m.get("system")]
    if not ms:
        return None
    ev = [
        f"{m['name']}: "
        + ", ".join(f"{k}={m['parameters'][k]}" for k in keys if k in m["parameters"])
        + (" + SYSTEM prompt" if m.get("system") else "")
        for m in ms
    ]
    return ev, {"n": len(ms)}


def _thinking(inv):
    ms = [m["name"] for m in inv.get("models") or [] if "thinking" in (m.get("capabilities") or [])]
    s = _sites(inv, lambda s: "think" in s.get("ollama_params", []))
    if not ms and not s:
        return None
    return ([f"thinking-capable models: {', '.join(ms)}"] if ms else []) + _loc(s), {"n": len(ms) + len(s)}


def _legacy_embeddings(inv):
    t = _traffic(inv)
    n = (t.get("by_endpoint") or {}).get("/api/embeddings", 0)
    s = _sites(inv, lambda s: s.get("endpoint") == "/api/embeddings")
    if not n and not s:
        return None
    return ([f"logs: {n} POST /api/embeddings"] if n else []) + _loc(s), {"n": n + len(s)}


def _parallel_ctx(inv):
    rs = [r for r in (inv.get("log_details") or {}).get("runners", []) if (r.get("parallel") or 1) > 1]
    if not rs:
        return None
    return [
        f"logs {r['source']}:{r['line']} --ctx-size {r['ctx_size']} --parallel {r['parallel']} "
        f"(= {r['ctx_per_slot']} tokens per request)"
        for r in rs[:5]
    ], {}


def _unknown_context(inv):
    ms = [m for m in inv.get("models") or [] if (m.get("effective_context_source") or "").startswith("server default")]
    if not ms:
        return None
    return [
        f"{m['name']}: not loaded; effective context assumed {m['effective_context']} ({m['effective_context_source']})"
        for m in ms[:8]
    ], {}


Rule = tuple[str, str, Callable[[dict], Optional[tuple]], str]

RULES: list[Rule] = [
    (
        "silent-truncation",
        "high",
        _truncation,
        "Prompts were cut {n} times at limit {limits} with HTTP 200. The new engine rejects them with 400 "
        "instead: set its max context (vLLM --max-model-len) >= {biggest} (e.g. {need}), or truncate "
        "client-side on purpose.",
    ),
    (
        "context-shift",
        "medium",
        _context_shift,
        "Ollama shifted/truncated the context {n} times to keep generating; the new engine stops with "
        "finish_reason=length or returns 400. Size max context for prompt + output, and cap max_tokens.",
    ),
    (
        "queue-full-503",
        "high",
        _queue_full,
        "Ollama's queue overflowed {n} times (503 'server busy'). Require admission control in front of "
        "the engine: queue limits, per-tenant policy, backpressure and queue metrics (rejection checklist: "
        "concurrency safety).",
    ),
    (
        "generate-context-stateful",
        "high",
        _generate_context,
        "{n} /api/generate call(s) pass 'context', Ollama's conversation state (a token array from the "
        "previous answer). OpenAI-compatible engines have no such field and ignore it, so every call "
        "silently starts a new conversation: rewrite these calls as chat requests whose messages carry "
        "the history.",
    ),
    (
        "tool-choice-ignored",
        "high",
        _tool_choice_v1,
        "tool_choice={values} is ignored by Ollama's /v1 today but enforced by vLLM/SGLang: expect forced "
        "tool calls; start the engine with a tool parser (--enable-auto-tool-choice --tool-call-parser ...) "
        "and re-test these call sites.",
    ),
    (
        "server-errors",
        "medium",
        _server_errors,
        "{n} server errors in the logs: reproduce them against the new engine before cut-over.",
    ),
    (
        "format-json",
        "medium",
        _format_json,
        "Native 'format' (json or a schema) must become response_format {{type: json_object}} or "
        "{{type: json_schema}} on the OpenAI API.",
    ),
    (
        "temperature-default-v1",
        "medium",
        _temperature_v1,
        "Temperature omitted on Ollama /v1 means 1.0 (Modelfile values overridden); the new engine applies "
        "generation_config.json. Pin temperature/top_p explicitly in these calls or at the gateway.",
    ),
    (
        "modelfile-defaults",
        "medium",
        _modelfile_defaults,
        "Modelfile PARAMETER/SYSTEM defaults apply silently on Ollama: carry them over as explicit request "
        "defaults (gateway or generation config), or outputs will shift.",
    ),
    (
        "native-api",
        "medium",
        _native_api,
        "These clients speak Ollama's native /api/* (NDJSON, options{{}}): point them at the gateway's OpenAI "
        "contract (rewrite to an OpenAI client) or keep an Ollama-compatible shim.",
    ),
    (
        "num-ctx-varies",
        "medium",
        _num_ctx_varies,
        "Different num_ctx values {values} reload the model on Ollama; the new engine has one max context: "
        "set it >= {max}.",
    ),
    (
        "ollama-only-options",
        "medium",
        _ollama_only_options,
        "Ollama-only fields ({keys}) are dropped by OpenAI-compatible engines: map num_predict -> max_tokens, "
        "think -> chat_template_kwargs/reasoning settings, images -> image_url content parts; remove the rest.",
    ),
    (
        "max-completion-tokens-ignored",
        "medium",
        _max_completion_tokens,
        "Ollama ignores max_completion_tokens; the new engine honours it: expect shorter outputs.",
    ),
    (
        "keep-alive-no-equivalent",
        "low",
        _keep_alive,
        "keep_alive has no equivalent: the engine keeps one model resident. Remove it; use separate "
        "deployments or a router for multi-model setups.",
    ),
    (
        "legacy-embeddings",
        "low",
        _legacy_embeddings,
        "/api/embeddings returns unnormalised vectors; /v1/embeddings engines normalise differently: "
        "re-embed or verify similarity thresholds.",
    ),
    (
        "thinking-models",
        "low",
        _thinking,
        "Reasoning arrives as message.thinking on Ollama but as reasoning/reasoning_content on the engine: "
        "configure a reasoning parser and update the client.",
    ),
    (
        "forbidden-403",
        "low",
        _forbidden,
        "{n} requests got 403 (Host/Origin check): the gateway must send an allowed Host or the app's "
        "origin must be allowed; not an issue once traffic leaves Ollama.",
    ),
    (
        "client-cancelled-499",
        "low",
        _cancelled,
        "{n} clients gave up before the answer: check client timeouts against the new engine's latency.",
    ),
    (
        "cpu-offload",
        "info",
        _cpu_offload,
        "Part of the model ran on CPU: latency baselines from Ollama are pessimistic for a GPU engine.",
    ),
    (
        "parallel-splits-context",
        "info",
        _parallel_ctx,
        "Ollama splits --ctx-size across --parallel slots: the per-request context is the smaller number.",
    ),
    (
        "context-assumed",
        "info",
        _unknown_context,
        "Effective context of unloaded models comes from the version default: load them (or read "
        "OLLAMA_CONTEXT_LENGTH) to confirm before sizing max context.",
    ),
]


def assess(inv: dict) -> list[dict]:
    risks = []
    for rid, sev, detect, fix in RULES:
        found = detect(inv)
        if not found:
            continue
        evidence, values = found
        risks.append({"id": rid, "severity": sev, "evidence": evidence, "fix": fix.format(**values)})
    risks.sort(key=lambda r: SEVERITY_ORDER[r["severity"]])
    return risks
