"""Workload profile for ``migrate plan``: what the evidence says the new engine must handle."""

from __future__ import annotations

from typing import Optional


def build_profile(models: list[dict], logs: Optional[dict], code: Optional[dict], captures: list[dict]) -> dict:
    ctx_candidates: list[tuple[int, str]] = []
    sites = [s for s in (code or {}).get("sites", []) if s["kind"] not in ("mention",)]
    for s in sites:
        if s.get("num_ctx"):
            ctx_candidates.append((s["num_ctx"], f"code {s['file']}:{s['line']} num_ctx={s['num_ctx']}"))
    t = (logs or {}).get("traffic") or {}
    if t.get("truncation_max_prompt"):
        limits = ", ".join(f"{k} x{v}" for k, v in (t.get("truncation_limits") or {}).items())
        ctx_candidates.append(
            (
                t["truncation_max_prompt"],
                f"logs: {t['truncation_events']} 'truncating input prompt' events "
                f"(limit {limits}); largest prompt {t['truncation_max_prompt']} tokens",
            )
        )
    for r in (logs or {}).get("runners", []):
        if r.get("ctx_per_slot"):
            ctx_candidates.append(
                (
                    r["ctx_per_slot"],
                    f"logs {r['source']}:{r['line']} runner --ctx-size {r['ctx_size']} / --parallel {r['parallel']}",
                )
            )
    for cfg in (logs or {}).get("server_config", []):
        v = cfg["env"].get("OLLAMA_CONTEXT_LENGTH")
        if v and v.isdigit() and int(v) > 0:
            ctx_candidates.append((int(v), f"logs {cfg['source']}:{cfg['line']} OLLAMA_CONTEXT_LENGTH={v}"))
    for m in models:
        if m.get("effective_context") and m.get("effective_context_source") == "api/ps":
            ctx_candidates.append(
                (m["effective_context"], f"/api/ps {m['name']} context_length={m['effective_context']}")
            )
    p95_prompt = _max(c["prompt_tokens"]["p95"] for c in captures)
    p95_output = _max(c["output_tokens"]["p95"] for c in captures)
    for c in captures:
        if c["prompt_tokens"]["max"] is not None:
            need = c["prompt_tokens"]["max"] + (c["output_tokens"]["max"] or 0)
            ctx_candidates.append(
                (
                    need,
                    f"capture {c['path']}: largest prompt {c['prompt_tokens']['max']} "
                    f"+ largest output {c['output_tokens']['max']} tokens",
                )
            )
        if c.get("max_num_ctx"):
            ctx_candidates.append((c["max_num_ctx"], f"capture {c['path']}: options.num_ctx={c['max_num_ctx']}"))
    ctx_candidates.sort(key=lambda x: -x[0])
    conc = [
        x for x in [t.get("peak_concurrency_estimate")] + [c.get("peak_concurrency") for c in captures] if x is not None
    ]
    shares = [(c["streaming_share"], c["exchanges"]) for c in captures if c["streaming_share"] is not None]
    total = sum(n for _, n in shares)
    stream_share = round(sum(s * n for s, n in shares) / total, 4) if total else None
    tools = any(s.get("uses_tools") or s.get("tool_choice") for s in sites) or any(
        (c.get("tool_share") or 0) > 0 for c in captures
    )
    structured = any(s.get("structured") for s in sites) or any((c.get("structured_share") or 0) > 0 for c in captures)
    names = [m["name"] for m in models]
    for s in sites:
        names += s.get("models") or []
    for c in captures:
        names += list(c.get("models") or {})
    endpoints: dict[str, int] = dict(t.get("by_endpoint") or {})
    return {
        "context_need": ctx_candidates[0][0] if ctx_candidates else None,
        "context_evidence": [e for _, e in ctx_candidates],
        "p95_prompt_tokens": p95_prompt,
        "p95_output_tokens": p95_output,
        "peak_concurrency": max(conc) if conc else None,
        "streaming_share": stream_share,
        "tools": bool(tools),
        "structured": bool(structured),
        "moe": any(m.get("moe") for m in models),
        "quantizations": sorted({m["quantization"] for m in models if m.get("quantization")}),
        "families": sorted({m["family"] for m in models if m.get("family")}),
        "models": sorted(set(n for n in names if n)),
        "endpoints_seen": endpoints,
        "requests_per_minute_peak": t.get("requests_per_minute_peak"),
        "thinking": any("thinking" in (m.get("capabilities") or []) for m in models),
        "vision": any("vision" in (m.get("capabilities") or []) for m in models),
        "embeddings": any("embedding" in (m.get("capabilities") or []) for m in models)
        or any((e or "").startswith(("/api/embed", "/v1/embeddings")) for e in endpoints),
    }


def _max(values) -> Optional[int]:
    vals = [v for v in values if v is not None]
    return max(vals) if vals else None
