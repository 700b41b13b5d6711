"""`migrate compat --from ollama --to vllm`: the Ollama-API test server -> a REAL vLLM (CPU build).

ONE compat run per session (module fixture) of the WHOLE built-in suite plus ``--check-metrics``:
59 s on this 2-core machine when it is otherwise idle (the reduced set: 36 s), so ``--reduced`` is
not needed. (With other heavy jobs on the same 2 cores it took 12.5 min: the llama.cpp engine behind
the Ollama test server is the slow side.)

Only differences that are protocol facts, and observed stable across runs, are asserted, each with
the reference it comes from (shared/reference: ollama.md, engines.md, testbed.md). Never the 270M
base model's words, and not the tool_call_structure verdicts either: those hinge on whether the base
model stops after its call (on the old side it runs on to max_tokens; the finish_reason "length" that
gives is normalised away, but with 64 tokens it may emit the same call twice, where vLLM's forced
tool_choice stops after one: "calls 2 -> 1") and, for tool_choice "required", on vLLM actually
constraining the output (unconstrained in one of three runs: raw "<tool_call>" text, no
tool_calls), neither of which is a protocol guarantee.
"""

from __future__ import annotations

import json
import re
import sys
import time

import pytest
from click.testing import CliRunner
from migrate.compat_suite.checks.observability import DEFAULT_REQUIRED
from migrate.compat_suite.loader import load_cases

from migrate.cli import main
from migrate.protocol import fetch
from migrate.report import validate_report
from migrate.testbed.vllm_server import SERVED_MODEL_NAME

pytestmark = pytest.mark.vllm

# What the vLLM fixture serves (vllm_server.build_command default) and what the Ollama test server
# is configured with (conftest: num_ctx=2048).
MAX_MODEL_LEN = 2048
OLD_NUM_CTX = 2048


@pytest.fixture(scope="module")
def compat(ollama_server, vllm_server, tmp_path_factory):
    out = tmp_path_factory.mktemp("compat_vllm") / "report.json"
    started = time.monotonic()
    res = CliRunner().invoke(
        main,
        [
            "compat",
            "--from",
            "ollama",
            "--to",
            "vllm",
            "--from-url",
            ollama_server.url,
            "--to-url",
            vllm_server.url + "/v1",
            "--model",
            f"{ollama_server.model}={SERVED_MODEL_NAME}",
            "--check-metrics",
            "--json",
            str(out),
            "--quiet",
        ],
    )
    elapsed = time.monotonic() - started
    print(f"[compat-vllm] compat run took {elapsed:.1f} s (exit {res.exit_code})", file=sys.stderr)
    assert out.exists(), (res.exit_code, res.output)
    report = json.loads(out.read_text())
    validate_report(report)
    return res, report


def _row(report: dict, case: str, check: str | None) -> dict:
    rows = [c for c in report["checks"] if c["case"] == case and check in (None, c["check"])]
    assert len(rows) == 1, [(c["case"], c["check"]) for c in report["checks"]]
    return rows[0]


def test_whole_builtin_suite_ran_against_real_vllm(compat):
    res, report = compat
    assert res.exit_code == report["summary"]["exit_code"]
    assert (report["old"]["kind"], report["old"]["protocol"]) == ("ollama", "ollama")
    assert (report["new"]["kind"], report["new"]["protocol"]) == ("vllm", "openai")
    # Every built-in case reported (embeddings only run for an embedding model; observability
    # comes from --check-metrics; long_context cases report one row per prompt size).
    builtin = [c for c in load_cases() if c.category != "embeddings"]
    assert {c["category"] for c in report["checks"]} == {c.category for c in builtin} | {"observability"}
    reported = {c["case"] for c in report["checks"]}
    assert all(c.id in reported or any(r.startswith(c.id + ".") for r in reported) for c in builtin)
    counts = report["summary"]["counts"]
    assert sum(counts.values()) == len(report["checks"])
    # `error` = nothing observed (transport faults): every check must rest on real answers.
    assert counts["error"] == 0, [(c["case"], c["detail"]) for c in report["checks"] if c["verdict"] == "error"]


def test_unknown_model_404_on_both_with_each_protocols_error_body(compat):
    # ollama.md §1.9: 404 `{"error":"model ... not found"}`; testbed.md: vLLM 404 NotFoundError
    # in OpenAI's `{"error":{"message",...}}`. Same status -> pass; the body shapes differ, which
    # the report records (different protocols, so the shape is not judged).
    row = _row(compat[1], "errors.unknown_model", "error_contract")
    assert row["verdict"] == "pass" and row["critical"]
    assert (row["old"]["status"], row["old"]["shape"]) == (404, "ollama")
    assert (row["new"]["status"], row["new"]["shape"]) == (404, "openai")
    assert row["new"]["server_error_type"] == "NotFoundError"
    assert row["old"]["has_message"] and row["new"]["has_message"]


def test_malformed_body_400_on_both(compat):
    # ollama.md §1.9: bad JSON -> 400; testbed.md: vLLM malformed JSON -> 400 (llama.cpp says 500).
    row = _row(compat[1], "errors.malformed_body", "error_contract")
    assert row["verdict"] == "pass"
    assert (row["old"]["status"], row["old"]["shape"]) == (400, "ollama")
    assert (row["new"]["status"], row["new"]["shape"]) == (400, "openai")


def test_over_length_prompt_error_contract(compat):
    # ollama.md §3 (HTTP 200, prompt cut, smaller prompt_eval_count) vs testbed.md (vLLM 400):
    # under the error contract a clean 4xx beats a silent 200.
    row = _row(compat[1], "errors.over_length_prompt", "error_contract")
    assert row["verdict"] == "improvement" and row["critical"]
    assert row["old"]["status"] == 200 and row["old"]["silently_truncated"] is True
    assert (row["new"]["status"], row["new"]["shape"]) == (400, "openai")


def test_silent_truncation_on_ollama_vs_400_on_vllm(compat):
    # ollama.md §3: an over-long prompt is cut from the front, HTTP 200, only a smaller
    # prompt_eval_count shows it; testbed.md: vLLM answers over-length with 400.
    report = compat[1]
    over = _row(report, "long_context.needles.110pct", "context_window")
    assert over["verdict"] == "improvement" and over["critical"]
    assert over["old"]["status"] == 200 and over["old"]["outcome"] == "truncated"
    assert over["old"]["prompt_tokens"] < over["old"]["sent_tokens"]
    assert over["new"]["status"] == 400 and over["new"]["outcome"] == "rejected"
    assert over["new"]["error_type"] == "bad_request"
    assert _row(report, "long_context.needles.50pct", "context_window")["verdict"] == "pass"
    ctx = _row(report, "long_context.needles.max_context", "max_context")
    assert ctx["old"]["context"] == OLD_NUM_CTX and "/api/ps" in ctx["old"]["context_source"]
    assert ctx["new"]["context"] == MAX_MODEL_LEN and "max_model_len" in ctx["new"]["context_source"]


def test_tool_choice_ignored_by_ollama_honoured_by_vllm(compat):
    # ollama.md §2: tool_choice is ignored (always "auto") -> unsupported_old, never a regression;
    # testbed.md: vLLM forces a named tool_choice (structured output), so the call is there and
    # carries that name whatever the base model would have said.
    report = compat[1]
    row = _row(report, "tools.tool_choice_named", "tool_choice")
    assert row["verdict"] == "unsupported_old" and row["critical"]
    assert row["old"]["honoured"] is None
    assert row["new"]["honoured"] is True and row["new"]["calls"] >= 1
    # Whatever the new side did (required was once left unconstrained by vLLM), an old side that
    # never honours tool_choice makes every tool_choice check unsupported_old.
    choice_rows = [c for c in report["checks"] if c["check"] == "tool_choice"]
    assert len(choice_rows) >= 2 and {c["verdict"] for c in choice_rows} == {"unsupported_old"}


def test_stream_framing_differs_by_protocol_and_is_not_judged(compat):
    # ollama.md §2: OpenAI framing sends delta.role only in the first chunk (vLLM does); Ollama's
    # NDJSON repeats message.role in every line, so the invariant is n/a (None) there and is not
    # compared across protocols. include_usage -> vLLM sends a usage event; Ollama's last line
    # carries the counts.
    row = _row(compat[1], "streaming.content", "stream_invariants")
    assert row["new"]["role_only_in_first_delta"] is True
    assert row["old"]["role_only_in_first_delta"] is None
    for side in ("old", "new"):
        assert row[side]["status"] == "2xx"
        assert row[side]["finish_reason_once"] is True and row[side]["usage_event"] is True
    assert "role_only_in_first_delta" not in row["detail"]


def test_defaults_case_without_sampling_parameters_served_within_limit(compat):
    # No sampling parameters on the wire: each side falls back to its own defaults (Ollama's
    # Modelfile/runner defaults, vLLM's generation_config). What is protocol: both answer, both
    # report usage, and the one parameter sent (max_tokens) caps both.
    row = _row(compat[1], "defaults.no_sampling_parameters", None)  # its one check
    assert row["verdict"] != "error"
    for side in ("old", "new"):
        assert row[side]["status"] == "2xx"
        assert row[side]["usage_reported"] is True and row[side]["within_max_tokens"] is True


def test_check_metrics_finds_required_metrics_under_vllm_names(compat, vllm_server):
    report = compat[1]
    metrics = report["metrics"]
    assert metrics["url"] == vllm_server.url + "/metrics"
    assert metrics["required"] == DEFAULT_REQUIRED and metrics["missing"] == []
    found = metrics["found"]
    # engines.md §1 (vLLM metrics table): the real V1 names.
    assert found["time_to_first_token"] == "vllm:time_to_first_token_seconds"
    assert found["time_per_output_token"] in (
        "vllm:inter_token_latency_seconds",
        "vllm:request_time_per_output_token_seconds",
    )
    assert found["waiting_requests"] == "vllm:num_requests_waiting"
    assert found["kv_cache_usage"] == "vllm:kv_cache_usage_perc"
    # ...and they are really exposed: checked against the server's own /metrics, not the catalogue.
    text = fetch(vllm_server.url, "/metrics").text
    exposed = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    assert set(found.values()) <= exposed
    assert _row(report, "observability.required_metrics", "required_metrics")["verdict"] == "pass"
