"""What the tool prints from outside data (a compat report's model names and details) and what a --json
mode prints when it fails: masked, escaped, and always one JSON document on stdout."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from .harness import assert_no_secret, invoke, judge

EXAMPLE_REPORT = Path(__file__).resolve().parents[2] / "examples" / "canary" / "sample-report.json"
TOKEN = "sk-proj-ABCDEFGHIJKLMNOPQRSTUV12"
GH = "ghp_plantedGitHub0123456789abcdefgh"


@pytest.fixture()
def evil_report(tmp_path):
    report = json.loads(EXAMPLE_REPORT.read_text())
    report["new"]["model"] = f"m\x1b]0;pwn\x07 {TOKEN}"
    report["old"]["model"] = "[bold red]old[/] \u202e"
    for check in report["checks"]:
        check["detail"] = f"server said {GH} and Bearer abcdef0123456789xyz"
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(report))
    return path


@pytest.mark.parametrize("fmt", ["text", "json", "flagger", "argo", "litellm"])
def test_canary_masks_and_escapes_what_a_report_carries(evil_report, fmt):
    out = invoke(["canary", "--report", evil_report, "--format", fmt])
    assert "Traceback" not in out.text() and out.code in (0, 4), out.stderr
    assert_no_secret([TOKEN, GH, "abcdef0123456789xyz"], out)
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout and "\u202e" not in out.stdout
    if fmt == "json":
        json.loads(out.stdout)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_json_modes_print_one_error_document_when_they_fail(tmp_path):
    closed = f"http://127.0.0.1:{_closed_port()}"
    cases = [
        ("probe --json, closed port", ["probe", closed, "--json"], 3),
        ("probe --json, bad scheme", ["probe", "ftp://x", "--json"], 2),
        ("inventory --json, closed port", ["inventory", "--ollama", closed, "--json"], 3),
        ("validate --json, no file", ["validate", tmp_path / "nope.yaml", "--json"], 2),
        ("plan --format json, bad --gpus", ["plan", "--format", "json", "--gpus", "0xA100"], 2),
        ("canary --format json, no report", ["canary", "--report", tmp_path / "nope.json", "--format", "json"], 2),
        ("generate --json, nothing to generate", ["generate", "--target", "vllm", "--out", tmp_path / "g", "--json"], 2),
        ("send --json, closed port", ["send", "--url", closed, "--protocol", "ollama", "--model", "m", "--prompt", "x",
                                      "--json"], 3),
    ]  # fmt: skip
    for name, args, code in cases:
        out = invoke(args)
        judge(name, out, code, stdout_ok=True)
        document = json.loads(out.stdout)  # exactly one document, whatever the exit code
        assert isinstance(document, dict), name


def test_compat_refuses_two_documents_on_stdout(tmp_path):
    out = invoke(["compat", "--from", "ollama", "--to", "vllm", "--from-url", "http://127.0.0.1:9",
                  "--to-url", "http://127.0.0.1:9", "--model", "a", "--json", "-", "--markdown", "-"])  # fmt: skip
    judge("compat --json - --markdown -", out, 2)
    assert json.loads(out.stdout)["exit_code"] == 2


def test_error_documents_are_masked_too():
    url = f"http://admin:hunter2pw@127.0.0.1:{_closed_port()}"
    out = invoke(["probe", url, "--json"])
    judge("probe --json with a URL password, closed", out, 3)
    assert_no_secret(["hunter2pw"], out)


def test_canary_check_reads_a_piped_gateway_once(tmp_path):
    import os

    from .harness import judge_ok, run

    gen = tmp_path / "gen"
    assert invoke(["generate", "--target", "vllm", "--alias", "chat=llama3.1:8b", "--out", gen]).code == 0
    read_end, write_end = os.pipe()
    os.write(write_end, (gen / "gateway.yaml").read_bytes())  # a few KB: fits in the pipe's buffer
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stdin:
        out = run(["canary", "--report", EXAMPLE_REPORT, "--check", "/dev/stdin", "--alias", "chat",
                   "--backend", "vllm-chat"], stdin=stdin, timeout=30)  # fmt: skip
    judge_ok("canary --check on a pipe", out)
    assert "PASS" in out.stdout
