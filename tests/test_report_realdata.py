"""A report built from real recorded Ollama exchanges survives every writer and loads back."""

import xml.etree.ElementTree as ET

import pytest

from migrate.report import (
    latency_table,
    load_report,
    render_markdown,
    summarize,
    write_json,
    write_junit,
    write_markdown,
)
from tests.realdata_loader import decode, load

STREAM = "ollama_api_chat_stream_ndjson_gemma3_chunked_2025-08.httprr"
ERROR = "ollama_api_chat_error400_model_does_not_support_tools_2025-08.httprr"


@pytest.fixture(scope="module")
def exchanges():
    ok, err = decode(load(STREAM)[0]), decode(load(ERROR)[0])
    ok.transcript.url, err.transcript.url = "http://127.0.0.1:11434/api/chat", "http://127.0.0.1:8000/api/chat"
    return ok, err


def test_report_from_recorded_exchanges(tmp_path, exchanges):
    ok, err = exchanges
    assert ok.error is None and err.error is not None and err.status == 400
    checks = [
        {
            "case": "errors.tools_unsupported",
            "category": "errors",
            "check": "error_contract",
            "verdict": "regression",
            "critical": True,
            "detail": f"old answered, new returned HTTP {err.status} {err.error.type}",
            "samples": {"old": 1, "new": 1},
            "needed_samples": None,
            "old": {"status": ok.status, "finish_reason": ok.finish_reason},
            "new": {"status": err.status, "error": err.error.type},
            "transcripts": {"old": [ok.transcript], "new": [err.transcript]},
        }
    ]
    report = {
        "schema_version": 1,
        "tool_version": "0.1.0",
        "started_at": "2025-08-20T10:00:00+00:00",
        "duration_s": 1.5,
        "old": {"kind": "ollama", "protocol": "ollama", "url": "http://127.0.0.1:11434", "model": "gemma3:1b"},
        "new": {"kind": "ollama", "protocol": "ollama", "url": "http://127.0.0.1:8000", "model": "gemma3:1b"},
        "summary": summarize(checks),
        "checks": checks,
        "latency": latency_table({"chat": {"old": [ok], "new": [err]}}),
    }
    write_json(report, tmp_path / "r.json")
    loaded = load_report(tmp_path / "r.json")
    assert loaded["summary"] == {
        "verdict": "regression",
        "exit_code": 1,
        "counts": {
            "pass": 0,
            "regression": 1,
            "improvement": 0,
            "unsupported_old": 0,
            "unsupported_new": 0,
            "inconclusive": 0,
            "error": 0,
        },
    }
    new_lines = loaded["checks"][0]["transcripts"]["new"][0]["lines"]
    assert any("does not support tools" in line for line in new_lines)
    assert len(loaded["checks"][0]["transcripts"]["old"][0]["lines"]) == len(ok.transcript.lines) > 1

    md = render_markdown(loaded)
    assert "does not support tools" in md and md.count("<details>") == 1
    write_markdown(loaded, tmp_path / "r.md")
    write_junit(loaded, tmp_path / "r.xml")
    root = ET.parse(tmp_path / "r.xml").getroot()
    assert root.get("failures") == "1" and root.find(".//failure").get("type") == "critical regression"
