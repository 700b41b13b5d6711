"""Small compat-report dicts for the canary tests, consistent with the shipped report schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path

CRITICAL_CATEGORIES = {"tools", "structured", "long_context", "errors"}
VERDICTS = ("pass", "regression", "improvement", "unsupported_old", "unsupported_new", "inconclusive", "error")


def check(
    case: str,
    category: str,
    name: str,
    verdict: str = "pass",
    *,
    samples: int = 2,
    needed: int | None = None,
    detail: str | None = None,
) -> dict:
    c = {
        "case": case,
        "category": category,
        "check": name,
        "verdict": verdict,
        "critical": category in CRITICAL_CATEGORIES,
        "detail": detail or f"{name} {verdict} on both sides",
        "samples": {"old": samples, "new": samples},
        "needed_samples": needed,
        "old": {"observed": True},
        "new": {"observed": verdict == "pass"},
    }
    if verdict != "pass":
        c["transcripts"] = {
            "old": [{"method": "POST", "url": "http://127.0.0.1:11434/api/chat", "lines": ["{}"]}],
            "new": [{"method": "POST", "url": "http://127.0.0.1:8000/v1/chat/completions", "lines": ["{}"]}],
        }
    return c


def stats(n: int = 4, ttft: float = 0.2, tpot: float = 0.04, e2e: float = 0.7) -> dict:
    return {
        "n": n,
        "ttft_p50": ttft / 2,
        "ttft_p95": ttft,
        "tpot_p50": tpot * 0.75,
        "tpot_p95": tpot,
        "e2e_p50": e2e * 0.7,
        "e2e_p95": e2e,
    }


def latency_entry(old: dict, new: dict) -> dict:
    ratio = {k: (round(new[k] / old[k], 4) if old[k] else None) for k in ("ttft_p95", "tpot_p95", "e2e_p95")}
    return {"old": old, "new": new, "ratio": ratio}


def healthy_checks(samples: int = 2) -> list[dict]:
    return [
        check("chat.basic", "chat", "content_nonempty", samples=samples),
        check("tools.single_call", "tools", "tool_call_structure", samples=samples),
        check("structured.schema", "structured", "json_schema_validity", samples=samples),
        check("long_context.8k", "long_context", "no_silent_truncation", samples=samples),
        check("errors.unknown_model", "errors", "error_contract", samples=samples),
        check("streaming.usage", "streaming", "stream_invariants", samples=samples),
    ]


def report(checks: list[dict] | None = None, latency: dict | None = None) -> dict:
    checks = healthy_checks() if checks is None else checks
    latency = {"chat": latency_entry(stats(), stats())} if latency is None else latency
    counts = {v: 0 for v in VERDICTS}
    for c in checks:
        counts[c["verdict"]] += 1
    if counts["error"]:
        verdict, code = "error", 3
    elif counts["regression"]:
        verdict, code = "regression", 1
    elif counts["inconclusive"] or counts["unsupported_new"]:
        verdict, code = "inconclusive", 4
    else:
        verdict, code = "pass", 0
    return {
        "schema_version": 1,
        "tool_version": "0.1.0",
        "started_at": "2026-01-01T12:00:00Z",
        "duration_s": 12.3,
        "old": {"kind": "ollama", "protocol": "ollama", "url": "http://127.0.0.1:11434", "model": "llama3.1:8b"},
        "new": {"kind": "vllm", "protocol": "openai", "url": "http://127.0.0.1:8000", "model": "llama3.1:8b"},
        "summary": {"verdict": verdict, "counts": counts, "exit_code": code},
        "checks": copy.deepcopy(checks),
        "latency": latency,
    }


def write(tmp_path: Path, data: dict, name: str = "report.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(data), encoding="utf-8")
    return p


GATEWAY = """\
# Gateway config for the support app (reviewed in PRs).
models:
  support-assistant-prod:          # product-facing alias, never an engine/node name
    contract: openai-chat
    default_timeout_seconds: 90
    backends:
      - name: current-ollama-dev
        weight: 95   # rollback target
        base_url: http://127.0.0.1:11434
        notes: 'learner runtime retained only for rollback drills'
      - name: vllm-h100-a
        weight: 5
        base_url: "http://127.0.0.1:8000/v1"
        required_metrics: [time_to_first_token, time_per_output_token, waiting_requests, kv_cache_usage]

  # a second alias that must never be touched
  embeddings-prod:
    contract: openai-embeddings
    backends:
      - {name: ollama-embed, weight: 100, base_url: 'http://127.0.0.1:11434'}
"""
