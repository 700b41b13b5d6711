"""A realistic compat report for the report tests, built from the real exchange dataclasses."""

from __future__ import annotations

import copy

from migrate.exchange import Timings, Transcript
from migrate.report import latency_table, summarize

SECRET = "sk-live-THISMUSTNEVERLEAK0123456789"


def timings(ttft: float, e2e: float, tokens: int) -> Timings:
    return Timings(
        sent=100.0, first_byte=100.0 + ttft / 2, first_content=100.0 + ttft, end=100.0 + e2e, output_tokens=tokens
    )


def _transcript(url: str, status: int | None, lines: list[str], *, secret: bool = False) -> Transcript:
    headers = {"content-type": "application/json"}
    if secret:
        headers["Authorization"] = f"Bearer {SECRET}"
        headers["x-api-key"] = SECRET
    return Transcript(
        method="POST",
        url=url,
        status=status,
        headers=headers,
        request_body={"model": "llama3.1:8b", "messages": [{"role": "user", "content": "hi"}]},
        lines=lines,
    )


def _check(
    case,
    category,
    check,
    verdict,
    detail,
    *,
    critical=False,
    old=None,
    new=None,
    needed=None,
    samples=(2, 1),
    transcripts=True,
):
    out = {
        "case": case,
        "category": category,
        "check": check,
        "verdict": verdict,
        "critical": critical,
        "detail": detail,
        "samples": {"old": samples[0], "new": samples[1]},
        "needed_samples": needed,
        "old": old,
        "new": new,
    }
    if transcripts:
        out["transcripts"] = {
            "old": [
                _transcript(
                    "http://127.0.0.1:11434/api/chat",
                    200,
                    ['{"message":{"role":"assistant","content":"hi"},"done":true}'],
                )
            ],
            "new": [
                _transcript(
                    "http://127.0.0.1:8000/v1/chat/completions",
                    200,
                    ['data: {"choices":[{"delta":{"content":"hi | <b>x</b>"}}]}', "data: [DONE]"],
                    secret=True,
                )
            ],
        }
    return out


def sample_report() -> dict:
    checks = [
        _check("chat.basic", "chat", "finish_reason", "pass", "both stop", transcripts=False),
        _check("chat.basic", "chat", "usage_reported", "pass", "both report usage", transcripts=False),
        _check(
            "tools.single_call",
            "tools",
            "tool_call_structure",
            "regression",
            "new backend returned the call as text | not as tool_calls",
            critical=True,
            old={"tool_calls": [{"name": "get_weather", "arg_keys": ["city"]}]},
            new={"tool_calls": [], "content": '<tool_call>{"name": "get_weather"}</tool_call>'},
        ),
        _check(
            "structured.schema",
            "structured",
            "json_schema_valid",
            "improvement",
            "new output validates, old did not",
            old={"valid": False},
            new={"valid": True},
        ),
        _check(
            "errors.unknown_model",
            "errors",
            "error_contract",
            "error",
            "new backend timed out before answering",
            critical=True,
            old={"status": 404},
            new={"error": "read_timeout"},
        ),
        _check(
            "chat.sampling",
            "chat",
            "tool_choice_required",
            "unsupported_old",
            "Ollama ignores tool_choice",
            old={"honoured": False},
            new={"honoured": True},
        ),
        _check(
            "streaming.usage",
            "streaming",
            "usage_last",
            "inconclusive",
            "noise on old is as large as the difference",
            needed=8,
            samples=(2, 2),
        ),
    ]
    latency = latency_table(
        {
            "chat": {
                "old": [timings(0.1, 0.5, 11), timings(0.3, 0.9, 21)],
                "new": [timings(0.05, 0.4, 11), timings(0.15, 0.6, 21)],
            },
            "tools": {"old": [timings(0.2, 1.0, 9)], "new": []},
        }
    )
    return {
        "schema_version": 1,
        "tool_version": "0.1.0",
        "started_at": "2026-02-01T12:00:00Z",
        "duration_s": 12.34,
        "old": {"kind": "ollama", "protocol": "ollama", "url": "http://127.0.0.1:11434", "model": "llama3.1:8b"},
        "new": {
            "kind": "vllm",
            "protocol": "openai",
            "url": "http://127.0.0.1:8000",
            "model": "meta-llama/Llama-3.1-8B-Instruct",
        },
        "summary": summarize(checks),
        "checks": checks,
        "latency": latency,
        "metrics": {
            "url": "http://127.0.0.1:8000/metrics",
            "required": ["time_to_first_token", "kv_cache_usage"],
            "found": {"time_to_first_token": "vllm:time_to_first_token_seconds"},
            "missing": ["kv_cache_usage"],
        },
    }


def passing_report() -> dict:
    report = sample_report()
    report["checks"] = [c for c in report["checks"] if c["verdict"] in ("pass", "improvement")]
    report["summary"] = summarize(report["checks"])
    report.pop("metrics")
    return copy.deepcopy(report)
