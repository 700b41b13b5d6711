"""`migrate bench` against hostile backends and input: each gets its documented exit code, one `error:`
line, no traceback, no hang past its bounds, and a report of what was measured when anything was."""

from __future__ import annotations

import json
import socket

import pytest

from tests.groundtruth_server import GroundTruth

from .harness import assert_no_secret, invoke, judge, judge_ok

FAST = dict(ttft=0.01, interval=0.002, tokens=4)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench(*args) -> list[str]:
    return ["bench", "--quiet", *map(str, args)]


def test_unreachable_backend_exits_3_with_one_line():
    url = f"http://127.0.0.1:{free_port()}"
    out = invoke(bench("--url", url, "--kind", "vllm", "--model", "m", "--json", "-"))
    judge("bench: unreachable", out, 3, within=10, stdout_ok=True)
    report = json.loads(out.stdout)
    assert report["summary"]["exit_code"] == 3 and "unreachable" in report["summary"]["reason"]
    assert report["scenarios"][0]["levels"] == []  # nothing was measured, nothing is claimed
    assert "unreachable" in out.stderr


def test_one_side_unreachable_exits_3():
    with GroundTruth(**FAST) as gt:
        out = invoke(
            bench(
                "--from", "ollama", "--to", "vllm", "--from-url", gt.url,
                "--to-url", f"http://127.0.0.1:{free_port()}", "--model", "m", "--requests", "2",
            )
        )  # fmt: skip
    judge("bench: new side unreachable", out, 3, within=10)
    assert "new backend" in out.stderr


def test_backend_that_dies_mid_run_gives_a_partial_report(tmp_path):
    report_file = tmp_path / "bench.json"
    with GroundTruth(**FAST, die_after=12) as gt:
        out = invoke(
            bench("--url", gt.url, "--kind", "vllm", "--model", "m", "--concurrency", "3", "--requests", "40")
            + ["--warmup", "1", "--json", report_file]
        )
    judge("bench: backend dies mid-run", out, 3, within=10)
    assert "lost mid-run" in out.stderr
    report = json.loads(report_file.read_text())
    r = report["scenarios"][0]["levels"][0]["results"]["target"]
    assert report["summary"]["exit_code"] == 3
    assert r["completed"] >= 5 and r["ttft"]["n"] == r["completed"]  # what was measured before, kept
    assert r["errors"] == r["requests"] - r["completed"] > 0
    assert set(r["errors_by_type"]) <= {"stream_cut", "connection_refused", "transport"}
    assert "connection_refused" in r["errors_by_type"]


def test_stalled_streams_are_counted_and_do_not_hang(tmp_path):
    report_file = tmp_path / "bench.json"
    # Every 4th request stops after its first token and never ends; --timeout 2 (stall limit 1 s).
    with GroundTruth(**FAST, stall_every=4) as gt:
        out = invoke(
            bench("--url", gt.url, "--kind", "ollama", "--model", "m", "--concurrency", "4", "--requests", "12")
            + ["--warmup", "0", "--timeout", "2", "--json", report_file]
        )
    judge_ok("bench: stalled streams", out, within=8)
    r = json.loads(report_file.read_text())["scenarios"][0]["levels"][0]["results"]["target"]
    assert r["errors_by_type"] == {"stall": 3} and r["completed"] == 9


def test_nothing_completes_exits_4():
    with GroundTruth(**FAST, stall_every=1) as gt:
        out = invoke(
            bench(
                "--url", gt.url, "--kind", "vllm", "--model", "m", "--requests", "2", "--warmup", "0", "--timeout", "1"
            )
        )
    judge("bench: every stream stalls", out, 4, within=8)
    assert "no request completed" in out.stderr and "stall" in out.stderr


def test_max_duration_bounds_the_run():
    # A stall limit of 20 s would hold each request; the overall bound of 1 s cuts them.
    with GroundTruth(**FAST, stall_every=1) as gt:
        out = invoke(
            bench("--url", gt.url, "--kind", "vllm", "--model", "m", "--requests", "3", "--warmup", "0")
            + ["--timeout", "30", "--stall", "20", "--max-duration", "1", "--json", "-"]
        )
    judge("bench: --max-duration", out, 4, within=6, stdout_ok=True)
    r = json.loads(out.stdout)["scenarios"][0]["levels"][0]["results"]["target"]
    assert r["bounded"] is True and r["errors_by_type"] == {"timeout": r["requests"]}


def test_a_route_the_server_does_not_have_exits_4():
    with GroundTruth(**FAST) as gt:
        out = invoke(bench("--url", gt.url + "/nothing", "--kind", "vllm", "--model", "m", "--requests", "2"))
    judge("bench: every request 404", out, 4, within=8)
    assert "not_found" in out.stderr


BAD = {
    "concurrency not a number": ["--concurrency", "1,x"],
    "two load shapes": ["--concurrency", "2", "--rate", "3"],
    "zero rate": ["--rate", "0"],
    "requests and duration": ["--requests", "3", "--duration", "2"],
    "nan duration": ["--duration", "nan"],
    "unknown slo": ["--slo", "itl=1"],
    "negative timeout": ["--timeout", "-1"],
    "one and two backends": ["--from", "ollama"],
    "old=new on one backend": ["--model", "a=b"],
}


@pytest.mark.parametrize("case", BAD)
def test_bad_options_exit_2(case):
    args = ["--url", "http://127.0.0.1:9", "--kind", "vllm", "--model", "m", *BAD[case]]
    out = invoke(bench(*args))
    judge(f"bench: {case}", out, 2, within=5)


def test_bad_backends_exit_2(monkeypatch):
    monkeypatch.delenv("BENCH_NO_SUCH_KEY", raising=False)
    for case, args in {
        "ftp url": ["--url", "ftp://h:1", "--kind", "vllm", "--model", "m"],
        "missing model": ["--url", "http://127.0.0.1:9", "--kind", "vllm"],
        "unset key": [
            "--url",
            "http://127.0.0.1:9",
            "--kind",
            "vllm",
            "--model",
            "m",
            "--api-key-env",
            "BENCH_NO_SUCH_KEY",
        ],
        "no backend": ["--model", "m"],
    }.items():
        judge(f"bench: {case}", invoke(bench(*args)), 2, within=5)


def test_unwritable_report_exits_2_after_the_run(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with GroundTruth(**FAST) as gt:
        out = invoke(
            bench("--url", gt.url, "--kind", "vllm", "--model", "m", "--requests", "2", "--json", blocker / "r.json")
        )
    judge("bench: --json under a file", out, 2, within=8)


def test_credentials_never_reach_an_output(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_KEY", "sk-benchsecret0123456789")
    report_file = tmp_path / "r.json"
    with GroundTruth(**FAST) as gt:
        url = gt.url.replace("http://", "http://alice:hunter2pass@")
        out = invoke(
            ["bench", "--url", url, "--kind", "vllm", "--model", "m", "--requests", "3", "--api-key-env", "BENCH_KEY"]
            + ["--json", report_file]
        )
    judge_ok("bench: credentials in the URL", out, within=8)
    assert json.loads(report_file.read_text())["backends"]["target"]["url"].startswith("http://")
    assert_no_secret(["hunter2pass", "sk-benchsecret0123456789"], out, report_file)
