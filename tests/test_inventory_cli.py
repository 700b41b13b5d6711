"""`migrate inventory` end to end: sources, exit codes, partial inventories, schema-valid output."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from migrate.cli import main
from migrate.exchange import ChatRequest, Exchange, Message, ResponseFormat, Timings, Usage
from migrate.inventory import load_schema
from migrate.inventory.capture import parse_capture
from tests.conftest import realdata_dir

APP = Path(__file__).parent / "fixtures" / "code" / "app"
TRUNC_LOG = "ollama_log_v0.6.x_2025-04_truncating-input-prompt_embeddings_issue10368.log"
BUSY_LOG = "ollama_clientlog_server-busy-maximum-pending-requests_2026-05_ha-llmvision648.log"


def _dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused
    return f"http://127.0.0.1:{port}"


def _run(*args):
    return CliRunner().invoke(main, ["inventory", *args])


def test_unreadable_path_exits_2(tmp_path):
    r = _run("--no-ollama", "--logs", str(tmp_path / "missing.log"))
    assert r.exit_code == 2
    assert "missing.log" in r.output and "Traceback" not in r.output


def test_every_source_failing_exits_3():
    r = _run("--ollama", _dead_url())
    assert r.exit_code == 3
    assert "every inventory source failed" in r.output


def test_unreachable_ollama_with_logs_is_partial(tmp_path):
    out = tmp_path / "inventory.json"
    r = _run(
        "--ollama",
        _dead_url(),
        "--logs",
        str(realdata_dir() / TRUNC_LOG),
        "--logs",
        str(realdata_dir() / BUSY_LOG),
        "--code",
        str(APP),
        "-o",
        str(out),
    )
    assert r.exit_code == 0, r.output
    assert "warning: Ollama at" in r.output
    inv = json.loads(out.read_text())
    jsonschema.validate(inv, load_schema())
    assert inv["sources"]["ollama"]["ok"] is False
    assert inv["traffic"]["truncation_events"] == 1
    assert inv["profile"]["context_need"] == 32768  # largest num_ctx in code beats the 5065-token prompt
    ids = {x["id"]: x for x in inv["risks"]}
    assert "limit 2048" in ids["silent-truncation"]["fix"] and ">= 5065" in ids["silent-truncation"]["fix"]
    assert "4 times" in ids["queue-full-503"]["fix"]
    assert ids["tool-choice-ignored"]["evidence"] == ["py/openai_compat.py:7 (openai_sdk)"]
    assert ids["generate-context-stateful"]["evidence"] == ["py/raw_requests.py:8 (raw_http)"]
    assert {"format-json", "keep-alive-no-equivalent", "temperature-default-v1"} <= set(ids)
    assert not list(tmp_path.glob(".inventory.*"))  # atomic write left no temp file


def test_json_mode_prints_one_document():
    r = CliRunner().invoke(
        main,
        [
            "inventory",
            "--no-ollama",
            "--json",
            "--logs",
            str(realdata_dir() / "ollama_log_v0.5.x_2025-02_runner-started_GIN500_issue8983.log"),
        ],
    )
    assert r.exit_code == 0
    inv = json.loads(r.stdout)
    assert inv["traffic"]["by_status"] == {"200": 1, "500": 2}
    assert inv["profile"]["peak_concurrency"] == 3


def test_log_directory_and_stdin(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    (d / "a.log").write_text((realdata_dir() / TRUNC_LOG).read_text())
    r = CliRunner().invoke(
        main,
        ["inventory", "--no-ollama", "--json", "--logs", str(d), "--logs", "-"],
        input=(realdata_dir() / BUSY_LOG).read_text(),
    )
    assert r.exit_code == 0, r.stderr
    inv = json.loads(r.stdout)
    assert inv["traffic"]["requests"] == 1 and inv["traffic"]["queue_full_events"] == 4


def _exchange(prompt_tokens, completion_tokens, stream, start, end, tools=False, fmt=False):
    req = ChatRequest(
        model="llama3.1:8b",
        messages=[Message(role="user", content="hi")],
        stream=stream,
        tools=[{"type": "function", "function": {"name": "f"}}] if tools else [],
        response_format=ResponseFormat(type="json") if fmt else None,
    )
    return Exchange(
        request=req,
        protocol="ollama",
        usage=Usage(prompt_tokens, completion_tokens, True),
        timings=Timings(sent=start, end=end),
    )


def test_capture_profile(tmp_path):
    cap = tmp_path / "cap.jsonl"
    exs = [
        _exchange(100 * i, 10 * i, stream=i % 2 == 0, start=float(i), end=float(i) + 2.5, tools=i == 3, fmt=i == 4)
        for i in range(1, 21)
    ]
    cap.write_text("\n".join(json.dumps(e.to_dict()) for e in exs) + "\nnot json\n")
    c = parse_capture(str(cap))
    assert c["exchanges"] == 20 and c["invalid_lines"] == 1
    assert c["prompt_tokens"]["p95"] == 1900 and c["output_tokens"]["p95"] == 190
    assert c["streaming_share"] == 0.5 and c["tool_share"] == 0.05 and c["structured_share"] == 0.05
    assert c["peak_concurrency"] == 3  # each lasts 2.5 s, one starts every second
    r = CliRunner().invoke(main, ["inventory", "--no-ollama", "--json", "--capture", str(cap)])
    assert r.exit_code == 0, r.stderr
    p = json.loads(r.stdout)["profile"]
    assert (p["p95_prompt_tokens"], p["p95_output_tokens"], p["streaming_share"], p["tools"], p["structured"]) == (
        1900,
        190,
        0.5,
        True,
        True,
    )
    assert p["context_need"] == 2000 + 200


def test_human_summary_has_tables():
    r = CliRunner().invoke(
        main, ["inventory", "--no-ollama", "--code", str(APP), "--logs", str(realdata_dir() / TRUNC_LOG)]
    )
    assert r.exit_code == 0
    for title in ("Traffic", "Usage sites", "Workload profile", "Migration risks"):
        assert title in r.stdout


@pytest.mark.engine
def test_live_acceptance(ollama_server):
    r = CliRunner().invoke(main, ["inventory", "--ollama", ollama_server.url, "--json"])
    assert r.exit_code == 0, r.stderr
    inv = json.loads(r.stdout)
    assert inv["models"], inv
    m = inv["models"][0]
    assert m["family"] and m["quantization"] and m["context_length"] and m["effective_context"]
