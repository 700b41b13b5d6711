"""Unit tests of the compat suite: noise rule, normalisation, case loading, and each check's
classification of the real differences listed in the test-bed reference (no engine needed)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner
from migrate.compat_suite import noise
from migrate.compat_suite.checks import REGISTRY, CaseRun, CheckContext, SideInfo
from migrate.compat_suite.loader import Case, load_cases, parse_file
from migrate.compat_suite.normalize import differing_fields, text_similarity, tool_call_view

from migrate.cli import main
from migrate.errors import MigrateError
from migrate.exchange import ChatRequest, Delta, ErrorInfo, Exchange, ResponseFormat, ToolCall, Usage
from migrate.report import validate_report

# ------------------------------------------------------------------------------------------------
# noise rule


def differ(a, b):
    return a != b


def test_noise_same_when_no_raw_difference():
    j = noise.judge_field("f", [1, 1], [1], differ)
    assert j.decision == noise.SAME


def test_noise_difference_counts_when_old_is_consistent():
    j = noise.judge_field("f", ["stop", "stop"], ["length"], differ)
    assert j.decision == noise.DIFFERS and j.noise_rate == 0.0 and j.raw_rate == 1.0


def test_noise_difference_within_old_disagreement_is_noise():
    # old disagrees with itself on every pair; new can't exceed that
    j = noise.judge_field("f", ["a", "b"], ["c"], differ)
    assert j.decision == noise.NOISY


def test_noise_one_old_sample_is_insufficient():
    j = noise.judge_field("f", ["a"], ["b"], differ)
    assert j.decision == noise.INSUFFICIENT and j.needed == 1


def test_noise_noisy_field_needs_more_samples_to_decide():
    old = ["a", "a", "b"]  # noise 2/3 of pairs differ
    new = ["c", "c"]  # raw 1.0 > noise
    j = noise.judge_field("f", old, new, differ, noise.Thresholds(min_noisy_samples=5))
    assert j.decision == noise.INSUFFICIENT and j.needed == 3
    many = noise.judge_field("f", old + ["a", "a"], new * 3, differ, noise.Thresholds(min_noisy_samples=5))
    assert many.decision == noise.DIFFERS


def test_noise_relative_threshold_applies():
    old = ["a"] * 9 + ["b"]  # 9 of 45 pairs differ -> noise 0.2
    new = ["a"] * 7 + ["b"] * 3  # raw = (9*3 + 1*7)/100 = 0.34
    loose = noise.judge_field("f", old, new, differ, noise.Thresholds(relative=50))
    assert loose.decision == noise.NOISY
    strict = noise.judge_field("f", old, new, differ, noise.Thresholds(relative=10))
    assert strict.decision == noise.DIFFERS


# ------------------------------------------------------------------------------------------------
# normalisation


def test_argument_encoding_is_not_a_difference():
    as_object = ToolCall.from_wire("get_weather", {"city": "Paris"}, id="call_a")
    as_string = ToolCall.from_wire("get_weather", '{"city": "Paris"}', id="call_b")
    assert as_object.arguments_encoding != as_string.arguments_encoding
    a = {"calls": [tool_call_view(as_object)]}
    b = {"calls": [tool_call_view(as_string)]}
    assert differing_fields(a, b) == set()


def test_volatile_fields_are_ignored_but_real_ones_are_not():
    a = {"id": "chatcmpl-1", "created": 1, "system_fingerprint": "fp_ollama", "finish_reason": "stop"}
    b = {"id": "chatcmpl-2", "created": 2, "system_fingerprint": "b0-unknown", "finish_reason": "length"}
    assert differing_fields(a, b) == {"finish_reason"}


def test_free_text_only_by_tolerant_similarity():
    a = {"content": "The capital of France is Paris."}
    b = {"content": "The capital of France is  Paris!"}
    assert differing_fields(a, b, text_fields={"content": 0.8}) == set()
    c = {"content": "Bonjour"}
    assert differing_fields(a, c, text_fields={"content": 0.8}) == {"content"}
    assert text_similarity(None, "") == 1.0


# ------------------------------------------------------------------------------------------------
# case loading


def test_builtin_cases_load_and_cover_every_category_but_observability():
    cases = load_cases()
    cats = {c.category for c in cases}
    assert cats == {"chat", "tools", "streaming", "structured", "long_context", "errors", "defaults", "embeddings"}
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    # few-shot histories are spliced in, not nested
    single = next(c for c in cases if c.id == "tools.single_call")
    assert all(isinstance(m, dict) for m in single.request["messages"])
    assert len(single.request["messages"]) == 9
    assert 0 < len(load_cases(reduced=True)) < len(cases)


def test_user_case_file_is_validated(tmp_path: Path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("category: chat\ncases:\n  - id: chat.x\n    request: {messages: [], model: m}\n")
    with pytest.raises(MigrateError) as err:
        load_cases([str(bad)], builtin=False)
    assert err.value.code == 2 and "mine.yaml" in str(err.value) and "\n" not in str(err.value)


def test_case_id_must_match_category_and_be_unique(tmp_path: Path):
    with pytest.raises(MigrateError, match="must start with its category"):
        parse_file(
            "category: chat\ncases:\n  - id: tools.x\n    request: {messages: [{role: user, content: hi}]}\n", "f.yaml"
        )
    dup = tmp_path / "dup.yaml"
    dup.write_text(
        "category: chat\ncases:\n  - id: chat.single_turn\n    request: {messages: [{role: user, content: hi}]}\n"
    )
    with pytest.raises(MigrateError, match="duplicate case id"):
        load_cases([str(dup)])


def test_unknown_category_filter_is_a_usage_error():
    with pytest.raises(MigrateError) as err:
        load_cases(only=["chatt"])
    assert err.value.code == 2


# ------------------------------------------------------------------------------------------------
# checks on synthetic exchanges (the real differences of the test-bed reference)


def ctx(old_protocol="openai", new_protocol="openai", old_kind="llamacpp", new_kind="vllm"):
    return CheckContext(
        old=SideInfo(old_kind, old_protocol, "http://old", "m", context=2048),
        new=SideInfo(new_kind, new_protocol, "http://new", "m", context=2048),
    )


def case(cid, category, **params):
    return Case(id=cid, category=category, params=params)


def ex(
    content="",
    *,
    calls=(),
    status=200,
    error=None,
    finish="stop",
    protocol="openai",
    request=None,
    deltas=(),
    usage=None,
    lines=None,
):
    e = Exchange(
        request=request or ChatRequest(model="m"),
        protocol=protocol,
        status=status,
        content=content,
        tool_calls=list(calls),
        finish_reason=finish,
        error=error,
        deltas=list(deltas),
    )
    if usage:
        e.usage = Usage(prompt_tokens=usage[0], completion_tokens=usage[1], reported=True)
    if lines is not None:
        e.transcript.lines = lines
    return e


def test_tools_same_calls_with_different_encoding_pass():
    old = [ex(calls=[ToolCall.from_wire("get_weather", {"city": "Paris"})], protocol="ollama")] * 2
    new = [ex(calls=[ToolCall.from_wire("get_weather", '{"city": "Paris"}')], finish="tool_calls")]
    r = REGISTRY["tool_call_structure"](
        case("tools.single_call", "tools"), CaseRun(None, old, new), ctx("ollama", "openai", "ollama")
    )
    assert r["verdict"] == "pass", r["detail"]


def test_tools_dropped_calls_are_a_critical_regression():
    old = [ex(calls=[ToolCall.from_wire("get_weather", '{"city": "Paris"}')], finish="tool_calls")] * 2
    new = [ex("It is sunny.", finish="length")]
    r = REGISTRY["tool_call_structure"](case("tools.single_call", "tools"), CaseRun(None, old, new), ctx())
    assert r["verdict"] == "regression" and r["critical"] is True
    assert "made_a_call" in r["detail"] and r["transcripts"]["new"]


def test_tool_choice_on_ollama_is_unsupported_old_not_regression():
    req = ChatRequest(model="m", tool_choice="required")
    old = [ex("text only", request=req, protocol="ollama")] * 2
    new = [ex(calls=[ToolCall.from_wire("get_weather", "{}")], request=req, finish="tool_calls")]
    r = REGISTRY["tool_choice"](
        case("tools.tool_choice_required", "tools"), CaseRun(None, old, new), ctx("ollama", "openai", "ollama")
    )
    assert r["verdict"] == "unsupported_old"


def _err(status, body, etype):
    return ex(status=status, error=ErrorInfo(etype, "msg", status), finish="error", lines=[body])


def test_unknown_model_404_vs_200_is_regression():
    old = [_err(404, '{"error":"model \'x\' not found"}', "not_found")]
    new = [ex("Hello!")]
    r = REGISTRY["error_contract"](
        case("errors.unknown_model", "errors", error="unknown_model"),
        CaseRun(None, old, new),
        ctx("ollama", "openai", "ollama"),
    )
    assert r["verdict"] == "regression" and "serves it silently" in r["detail"]


def test_malformed_body_400_vs_500_is_regression_and_reverse_is_improvement():
    c = case("errors.malformed_body", "errors", error="malformed_body")
    r400 = _err(400, '{"error":{"message":"bad json","type":"invalid_request_error"}}', "bad_request")
    r500 = _err(500, '{"error":{"message":"json parse","type":"server_error"}}', "server_error")
    assert REGISTRY["error_contract"](c, CaseRun(None, [r400], [r500]), ctx())["verdict"] == "regression"
    assert REGISTRY["error_contract"](c, CaseRun(None, [r500], [r400]), ctx())["verdict"] == "improvement"
    assert REGISTRY["error_contract"](c, CaseRun(None, [r400], [r400]), ctx())["verdict"] == "pass"


def _long_run(old_ex, new_ex, sent=2250):
    run = CaseRun(None)
    run.aux["prompts"] = {
        "110pct": {
            "fraction": 1.1,
            "needles": {"start": "AMBER"},
            "sent": {"old": sent, "new": sent},
            "old": [old_ex],
            "new": [new_ex],
        }
    }
    return run


def test_silent_truncation_vs_clean_400():
    c = case("long_context.needles", "long_context")
    truncated = ex("codes", usage=(1024, 8))
    rejected = _err(400, '{"error":{"message":"exceeds the available context size"}}', "bad_request")
    out = REGISTRY["context_window"](c, _long_run(truncated, rejected), ctx("ollama", "openai", "ollama"))
    row = out[0]
    assert row["case"] == "long_context.needles.110pct"
    assert row["verdict"] == "improvement" and "SILENT TRUNCATION" in row["detail"]
    assert out[-1]["check"] == "max_context"


def test_smaller_context_on_new_side_is_regression():
    c = case("long_context.needles", "long_context")
    full = ex("codes", usage=(1000, 8))
    rejected = _err(400, '{"error":{"message":"exceeds"}}', "bad_request")
    out = REGISTRY["context_window"](c, _long_run(full, rejected, sent=1000), ctx())
    assert out[0]["verdict"] == "regression" and out[0]["critical"]


def test_schema_not_enforced_is_structured_regression():
    schema = {"type": "object", "properties": {"answer": {"enum": ["yes", "no"]}}, "required": ["answer"]}
    req = ChatRequest(model="m", response_format=ResponseFormat(type="json_schema", schema=schema))
    old = [ex('{"answer": "yes"}', request=req)] * 2
    new = [ex("Yes, Paris is in France.", request=req)]
    r = REGISTRY["json_validity"](case("structured.json_schema", "structured"), CaseRun(None, old, new), ctx())
    assert r["verdict"] == "regression" and "valid_against_schema" in r["detail"]


def test_first_delta_null_vs_empty_content_is_not_a_difference():
    req = ChatRequest(model="m", stream=True)

    def stream(first_content):
        d = [
            Delta(t=0.0, role="assistant", content=first_content),
            Delta(t=0.1, content="Hi"),
            Delta(t=0.2, finish_reason="stop"),
            Delta(t=0.3, usage=True),
        ]
        return ex("Hi", request=req, deltas=d)

    plain = ex("Hi")
    run = CaseRun(None, [stream(None), stream(None)], [stream("")])
    run.aux["non_stream"] = {"old": [plain], "new": [plain]}
    r = REGISTRY["stream_invariants"](case("streaming.content", "streaming"), run, ctx())
    assert r["verdict"] == "pass", r["detail"]


def test_stream_with_two_finish_reasons_is_regression():
    req = ChatRequest(model="m", stream=True)
    good = [
        Delta(t=0, role="assistant"),
        Delta(t=1, content="Hi"),
        Delta(t=2, finish_reason="stop"),
        Delta(t=3, usage=True),
    ]
    bad = good[:3] + [Delta(t=2.5, finish_reason="stop"), Delta(t=3, usage=True)]
    plain = ex("Hi")
    run = CaseRun(None, [ex("Hi", request=req, deltas=good)] * 2, [ex("Hi", request=req, deltas=bad)])
    run.aux["non_stream"] = {"old": [plain], "new": [plain]}
    r = REGISTRY["stream_invariants"](case("streaming.content", "streaming"), run, ctx())
    assert r["verdict"] == "regression" and "finish_reason_once" in r["detail"]


def test_noisy_old_field_is_not_a_regression():
    # defaults: without a pinned temperature the old backend disagrees with itself on finish_reason
    old = [ex("a", finish="stop"), ex("b b b", finish="length")]
    new = [ex("c", finish="length")]
    r = REGISTRY["default_behaviour"](
        case("defaults.no_sampling_parameters", "defaults"), CaseRun(None, old, new), ctx()
    )
    assert r["verdict"] == "pass" and "ends_by_itself" in r["old"]["_noisy_fields"]
    # ...but when the old backend always ended by itself and the new one hits the cap, it counts
    steady = [ex("a", finish="stop"), ex("b", finish="stop")]
    r = REGISTRY["default_behaviour"](
        case("defaults.no_sampling_parameters", "defaults"),
        CaseRun(None, steady, [ex("c c c", finish="length")]),
        ctx(),
    )
    assert r["verdict"] == "regression" and r["category"] == "defaults"


# ------------------------------------------------------------------------------------------------
# CLI


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed on exit: nothing listens there


def test_cli_missing_options_is_usage_error():
    res = CliRunner().invoke(main, ["compat", "--from", "ollama"])
    assert res.exit_code == 2 and "missing" in res.output


def test_cli_bad_case_file_is_one_line_exit_2(tmp_path: Path):
    f = tmp_path / "c.yaml"
    f.write_text("category: [\n")
    res = CliRunner().invoke(
        main,
        [
            "compat",
            "--from",
            "ollama",
            "--to",
            "vllm",
            "--from-url",
            "http://x",
            "--to-url",
            "http://y",
            "--model",
            "m",
            "--cases",
            str(f),
        ],
    )
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "c.yaml" in res.output


def test_cli_unreachable_backend_exits_3_with_valid_report(tmp_path: Path):
    out = tmp_path / "r.json"
    url = f"http://127.0.0.1:{_dead_port()}"
    res = CliRunner().invoke(
        main,
        [
            "compat",
            "--from",
            "ollama",
            "--to",
            "vllm",
            "--from-url",
            url,
            "--to-url",
            url,
            "--model",
            "m",
            "--json",
            str(out),
            "--quiet",
            "--reduced",
        ],
    )
    assert res.exit_code == 3, res.output
    report = json.loads(out.read_text())
    validate_report(report)
    assert report["summary"]["exit_code"] == 3 and report["summary"]["verdict"] == "error"


def test_cli_gateway_picks_ollama_as_old_and_heaviest_as_new(tmp_path: Path):
    dead = f"http://127.0.0.1:{_dead_port()}"
    gw = tmp_path / "gateway.yaml"
    gw.write_text(
        "models:\n  support-assistant-prod:\n    contract: openai-chat\n    backends:\n"
        f"      - {{name: current-ollama-dev, weight: 10, base_url: '{dead}'}}\n"
        f"      - {{name: vllm-a, weight: 90, base_url: '{dead}/v1',"
        " required_metrics: [time_to_first_token]}\n"
    )
    out = tmp_path / "r.json"
    res = CliRunner().invoke(
        main,
        [
            "compat",
            "--gateway",
            str(gw),
            "--alias",
            "support-assistant-prod",
            "--json",
            str(out),
            "--quiet",
            "--reduced",
        ],
    )
    assert res.exit_code == 3, res.output
    report = json.loads(out.read_text())
    assert report["old"]["protocol"] == "ollama" and report["new"]["protocol"] == "openai"
    assert report["old"]["model"] == "support-assistant-prod"
    res = CliRunner().invoke(main, ["compat", "--gateway", str(gw), "--alias", "nope", "--quiet"])
    assert res.exit_code == 2 and "nope" in res.output


def test_metrics_resolved_to_engine_names_on_a_real_vllm_scrape():
    from migrate.compat_suite.checks.observability import DEFAULT_REQUIRED, families, resolve

    from tests.conftest import realdata_dir

    text = (realdata_dir() / "vllm_metrics_v0.7.x-V1_process+gauges_chunk1_productionstack318.prom").read_text()
    exposed = families(text)
    got = resolve(DEFAULT_REQUIRED, "vllm", exposed)
    assert got["found"]["waiting_requests"] == "vllm:num_requests_waiting"
    # this 0.7 build still used the legacy KV name; the catalogue knows it
    assert got["found"]["kv_cache_usage"] == "vllm:gpu_cache_usage_perc"
    ttft_exposed = "vllm:time_to_first_token_seconds_bucket" in text
    assert ("time_to_first_token" in got["found"]) == ttft_exposed
    assert set(got["found"]) | set(got["missing"]) == set(DEFAULT_REQUIRED)
    # llama.cpp has no TTFT metric at all: missing, with the reason
    lc = resolve(["time_to_first_token"], "llamacpp", {"llamacpp:requests_deferred"})
    assert lc["missing"] == ["time_to_first_token"] and lc["notes"]["time_to_first_token"]


def test_embeddings_compare_says_reindex():
    from migrate.compat_suite.checks.embeddings import compare

    a = [[1.0, 0.0], [0.0, 1.0]]
    assert compare(a, a)[0] == "pass"
    verdict, detail, _, new = compare(a, [[0.0, 1.0], [1.0, 0.0]])
    assert verdict == "regression" and "re-index" in detail and new["cosine_to_old_min"] == 0.0
    assert compare(a, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])[0] == "regression"


def test_embedding_vectors_is_an_ordinary_check_on_the_protocol_result():
    from migrate.protocol import Embeddings

    c = case("embeddings.vectors", "embeddings")
    same = [[0.6, 0.8]]
    run = CaseRun(c)
    run.aux["embeddings"] = {
        "old": [Embeddings("ollama", same, status=200)],
        "new": [Embeddings("openai", None, status=404, error=ErrorInfo("not_found", "model not found", 404))],
    }
    r = REGISTRY["embedding_vectors"](c, run, ctx("ollama"))
    assert r["verdict"] == "unsupported_new" and r["critical"] is False
    assert r["detail"] == "The new backend returned no vectors (HTTP 404: model not found)."
    assert r["samples"] == {"old": 1, "new": 1} and r["transcripts"] == {"old": [], "new": []}
    run.aux["embeddings"]["new"] = [Embeddings("openai", same, status=200)]
    r = REGISTRY["embedding_vectors"](c, run, ctx("ollama"))
    assert r["verdict"] == "pass" and r["new"] == {"dimension": 2, "normalised": True, "cosine_to_old_min": 1.0}


def _metrics_run(scrape):
    from migrate.compat_suite.runner import metrics_case

    c = metrics_case(["waiting_requests", "kv_cache_usage"])
    run = CaseRun(c)
    run.aux["metrics"] = {"old": [], "new": [scrape]}
    return c, run


def test_required_metrics_is_an_ordinary_check_with_its_report_block():
    from migrate.compat_suite.checks.observability import report_section

    from migrate.protocol import HttpResult

    text = "# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting 0\nvllm:kv_cache_usage_perc 0.5\n"
    c, run = _metrics_run(HttpResult(200, {}, text, None, None, 0.01))
    r = REGISTRY["required_metrics"](c, run, ctx())
    assert r["verdict"] == "pass" and r["category"] == "observability" and "transcripts" not in r
    assert r["samples"] == {"old": 0, "new": 1}
    key, block = report_section(c, run, ctx())
    assert key == "metrics" and block == {
        "url": "http://new/metrics",
        "required": ["waiting_requests", "kv_cache_usage"],
        "found": {"waiting_requests": "vllm:num_requests_waiting", "kv_cache_usage": "vllm:kv_cache_usage_perc"},
        "missing": [],
    }
    # no /metrics at all (llama.cpp without --metrics): unsupported, with the scrape as evidence
    c, run = _metrics_run(
        HttpResult(404, {}, "404 page not found", None, ErrorInfo("not_found", "404 page not found", 404), 0.01)
    )
    r = REGISTRY["required_metrics"](c, run, ctx())
    assert r["verdict"] == "unsupported_new" and "HTTP 404" in r["detail"] and "--metrics" in r["detail"]
    assert r["transcripts"]["new"][0]["url"] == "http://new/metrics"
    assert r["transcripts"]["new"][0]["lines"] == ["404 page not found"]
    assert report_section(c, run, ctx())[1]["missing"] == ["waiting_requests", "kv_cache_usage"]


def test_case_kinds_and_checks_cover_the_case_schema():
    from migrate.compat_suite.kinds import CASE_KINDS
    from migrate.compat_suite.loader import schema

    case_def = schema()["$defs"]["case"]["properties"]
    kinds = set(case_def["kind"]["enum"])
    assert kinds <= set(CASE_KINDS) and set(CASE_KINDS) - kinds == {"metrics"}  # metrics: built by the runner
    assert set(case_def["checks"]["items"]["enum"]) <= set(REGISTRY)
    # a kind's own default check wins over its category's; a kind that needs messages says so
    got = parse_file(
        "category: embeddings\ncases:\n  - id: embeddings.mine\n    kind: embeddings\n    request: {input: [a]}\n",
        "e.yaml",
    )
    assert got[0].checks == ["embedding_vectors"]
    with pytest.raises(MigrateError, match="needs request.messages"):
        parse_file("category: streaming\ncases:\n  - id: streaming.x\n    kind: stream\n    request: {}\n", "s.yaml")


def test_ollama_default_context_by_version():
    from migrate.compat_suite.runner import _ollama_default_context

    assert _ollama_default_context("0.6.6")[0] == 2048
    assert _ollama_default_context("0.11.6")[0] == 4096
    n, source = _ollama_default_context("0.16.0")
    assert n == 4096 and "VRAM" in source
    assert _ollama_default_context(None)[0] is None


def test_parallel_call_order_is_not_a_difference_but_values_are():
    paris = ToolCall.from_wire("get_weather", {"city": "Paris"})
    rome = ToolCall.from_wire("get_weather", '{"city": "Rome"}')
    old = [ex(calls=[paris, rome], finish="tool_calls")] * 2
    c = case("tools.parallel_calls", "tools")
    same = REGISTRY["tool_call_structure"](c, CaseRun(None, old, [ex(calls=[rome, paris], finish="tool_calls")]), ctx())
    assert same["verdict"] == "pass", same["detail"]
    oslo = ToolCall.from_wire("get_weather", {"city": "Oslo"})
    diff = REGISTRY["tool_call_structure"](c, CaseRun(None, old, [ex(calls=[paris, oslo], finish="tool_calls")]), ctx())
    assert diff["verdict"] == "regression" and "arguments" in diff["detail"]


# ------------------------------------------------------------------------------------------------
# Findings of the real-vLLM run: nothing unmeasured is ever a pass or a regression, and
# infrastructure failures (5xx, timeouts, cuts) never count as noise.


def _server_error(status=500, etype="server_error", protocol="openai", request=None):
    return ex(
        status=status,
        error=ErrorInfo(etype, "CUDA out of memory", status),
        finish="error",
        protocol=protocol,
        request=request,
        lines=['{"error":{"message":"CUDA out of memory"}}'],
    )


def _timeout(request=None):
    e = ex(
        status=None,
        error=ErrorInfo("read_timeout", "no response headers within 180 s"),
        finish="error",
        request=request,
    )
    e.status = None
    return e


def _tool_stream(req, *, city="Paris", finish="tool_calls", protocol="openai"):
    call = ToolCall.from_wire("get_weather", {"city": city})
    d = [
        Delta(t=0, role="assistant"),
        Delta(t=1, tool_call_index=0, tool_call_id="call_x", tool_name="get_weather"),
        Delta(t=2, tool_call_index=0, arguments_fragment=f'{{"city": "{city}"}}'),
        Delta(t=3, finish_reason=finish),
        Delta(t=4, usage=True),
    ]
    return ex(calls=[call], request=req, deltas=d, finish=finish, protocol=protocol)


def test_stream_twin_http_500_on_old_side_is_error_not_regression():
    # streaming.tool_calls against vLLM: the old non-stream twin got HTTP 500, so whether the old
    # stream matches its non-stream answer was never measured (was: "matches_non_stream None ->
    # True", a regression).
    req = ChatRequest(model="m", stream=True, include_usage=True)
    run = CaseRun(None, [_tool_stream(req), _tool_stream(req)], [_tool_stream(req)])
    plain_ok = ex(calls=[ToolCall.from_wire("get_weather", '{"city": "Paris"}')], finish="tool_calls")
    run.aux["non_stream"] = {"old": [_server_error()], "new": [plain_ok]}
    r = REGISTRY["stream_invariants"](case("streaming.tool_calls", "streaming"), run, ctx())
    assert r["verdict"] == "error", r["detail"]
    assert "matches_non_stream" in r["detail"] and "HTTP 500" in r["detail"]
    # a twin that was never run is unmeasured too: inconclusive, never a pass
    run.aux["non_stream"] = {"old": [], "new": [plain_ok]}
    r = REGISTRY["stream_invariants"](case("streaming.tool_calls", "streaming"), run, ctx())
    assert r["verdict"] == "inconclusive", r["detail"]


def test_stream_twin_http_500_on_new_side_where_old_answered_is_regression():
    req = ChatRequest(model="m", stream=True, include_usage=True)
    run = CaseRun(None, [_tool_stream(req), _tool_stream(req)], [_tool_stream(req)])
    plain_ok = ex(calls=[ToolCall.from_wire("get_weather", '{"city": "Paris"}')], finish="tool_calls")
    run.aux["non_stream"] = {"old": [plain_ok], "new": [_server_error()]}
    r = REGISTRY["stream_invariants"](case("streaming.tool_calls", "streaming"), run, ctx())
    assert r["verdict"] == "regression" and "5xx" in r["detail"], r["detail"]


def test_unknown_direction_with_an_unmeasured_side_is_inconclusive():
    # A quality field (better-rule) that is None on one side was not measured there: comparing
    # None with True says nothing about the new backend.
    from migrate.compat_suite.checks.base import Field, judge, true_is_better

    fields = [Field("status"), Field("q", better=true_is_better)]
    old = [{"status": "2xx", "q": None}, {"status": "2xx", "q": None}]
    new = [{"status": "2xx", "q": True}]
    r = judge(case("chat.x", "chat"), "response_structure", fields, old, new, old_ex=[], new_ex=[], ctx=ctx())
    assert r["verdict"] == "inconclusive" and "q" in r["detail"], r["detail"]
    # ...but a measured False -> True is still an improvement
    old = [{"status": "2xx", "q": False}, {"status": "2xx", "q": False}]
    r = judge(case("chat.x", "chat"), "response_structure", fields, old, new, old_ex=[], new_ex=[], ctx=ctx())
    assert r["verdict"] == "improvement"


def test_old_http_500_is_excluded_from_noise_not_absorbed_as_pass():
    # 1 of 2 old samples at HTTP 500: every differing field used to look "noisy" and the check
    # passed. The 500 is an infrastructure failure: excluded, and one valid old sample is too few.
    c = case("chat.max_tokens_length", "chat")
    old = [_server_error(), ex("Hello there", finish="stop")]
    new = [ex("Hi hi hi hi", finish="length")]
    r = REGISTRY["response_structure"](c, CaseRun(None, old, new), ctx())
    assert r["verdict"] == "inconclusive", r["detail"]
    assert r["needed_samples"] == 1 and "HTTP 500" in r["detail"]
    assert r["transcripts"]["old"]  # the failure itself is shown as evidence
    # the same with identical answers: still not a pass (the noise was never estimated)
    r = REGISTRY["response_structure"](c, CaseRun(None, old, [ex("Hello there", finish="stop")]), ctx())
    assert r["verdict"] == "inconclusive" and r["needed_samples"] == 1


def test_old_timeout_is_excluded_like_a_500():
    c = case("tools.single_call", "tools")
    call = ToolCall.from_wire("get_weather", {"city": "Paris"})
    old = [_timeout(), ex(calls=[call], finish="tool_calls")]
    new = [ex("no call", finish="stop")]
    r = REGISTRY["tool_call_structure"](c, CaseRun(None, old, new), ctx())
    assert r["verdict"] == "inconclusive" and "read_timeout" in r["detail"], r["detail"]


def test_every_old_sample_a_server_error_is_error_naming_it():
    c = case("structured.json_object", "structured")
    old = [_server_error(503, "overloaded"), _server_error()]
    new = [ex('{"a": 1}')]
    r = REGISTRY["json_validity"](c, CaseRun(None, old, new), ctx())
    assert r["verdict"] == "error" and "HTTP 503" in r["detail"], r["detail"]


def test_enough_valid_old_samples_left_still_judge():
    # 3 old samples, 1 at 500: two valid ones estimate the noise; the pass is observed, and the
    # excluded failure is named in the detail.
    c = case("chat.single_turn", "chat")
    old = [ex("Hi", finish="stop"), _server_error(), ex("Hi", finish="stop")]
    r = REGISTRY["response_structure"](c, CaseRun(None, old, [ex("Hey", finish="stop")]), ctx())
    assert r["verdict"] == "pass" and "HTTP 500" in r["detail"] and r["samples"]["old"] == 2


def test_new_http_500_where_old_answered_is_a_regression():
    c = case("chat.single_turn", "chat")
    old = [ex("Hi", finish="stop"), ex("Hi", finish="stop")]
    r = REGISTRY["response_structure"](c, CaseRun(None, old, [_server_error()]), ctx())
    assert r["verdict"] == "regression" and "5xx" in r["detail"], r["detail"]


def test_expected_5xx_is_an_observation_not_an_infra_failure():
    # errors category: a 500 is the behaviour under test (llama.cpp answers malformed JSON so)
    c = case("errors.malformed_body", "errors", error="malformed_body")
    r = REGISTRY["error_contract"](c, CaseRun(None, [_server_error()], [_server_error()]), ctx())
    assert r["verdict"] == "pass"
    # a user case that declares the status it expects (the case schema accepts it)
    (c,) = parse_file(
        "category: chat\ncases:\n  - id: chat.overload\n    params: {expected_statuses: [503]}\n"
        "    request: {messages: [{role: user, content: hi}]}\n",
        "mine.yaml",
    )
    old = [_server_error(503, "overloaded"), _server_error(503, "overloaded")]
    r = REGISTRY["response_structure"](c, CaseRun(None, old, [ex("Hi")]), ctx())
    assert r["verdict"] == "regression" and "status" in r["detail"], r["detail"]


def test_long_context_old_server_error_is_error_not_improvement():
    c = case("long_context.needles", "long_context")
    out = REGISTRY["context_window"](c, _long_run(_server_error(), ex("codes", usage=(2240, 8))), ctx())
    assert out[0]["verdict"] == "error" and "HTTP 500" in out[0]["detail"], out[0]["detail"]
    # a new-side 5xx where the old side served the prompt stays a regression
    out = REGISTRY["context_window"](c, _long_run(ex("codes", usage=(2240, 8)), _server_error()), ctx())
    assert out[0]["verdict"] == "regression"


def test_tool_call_finish_length_after_identical_call_is_not_a_structure_regression():
    # Native Ollama keeps generating after the call until max_tokens ("length"); vLLM stops at
    # the call ("tool_calls"). Same calls: the application executes the same thing.
    call_old = ToolCall.from_wire("get_weather", {"city": "Madrid"})
    call_new = ToolCall.from_wire("get_weather", '{"city": "Madrid"}')
    old = [ex(calls=[call_old], finish="length", protocol="ollama")] * 2
    new = [ex(calls=[call_new], finish="tool_calls")]
    c = case("tools.tool_choice_required", "tools")
    r = REGISTRY["tool_call_structure"](c, CaseRun(None, old, new), ctx("ollama", "openai", "ollama"))
    assert r["verdict"] == "pass", r["detail"]
    # ...but a call that is lost, or whose arguments were cut by the length cap, still counts
    cut = ToolCall.from_wire("get_weather", '{"city": "Mad')
    r = REGISTRY["tool_call_structure"](
        c, CaseRun(None, old, [ex(calls=[cut], finish="length")]), ctx("ollama", "openai", "ollama")
    )
    assert r["verdict"] == "regression" and r["critical"] and "arguments" in r["detail"]
    r = REGISTRY["tool_call_structure"](
        c, CaseRun(None, old, [ex("Madrid is sunny", finish="length")]), ctx("ollama", "openai", "ollama")
    )
    assert r["verdict"] == "regression" and "made_a_call" in r["detail"]


def test_forced_tool_choice_cases_leave_room_for_arguments():
    # testbed.md: forced tool_choice (required / named) on vLLM needs >= 60 max_tokens.
    forced = [
        c
        for c in load_cases()
        if c.category in ("tools", "streaming")
        and c.request.get("tools")
        and c.request.get("tool_choice") not in (None, "auto", "none")
    ]
    assert {c.id for c in forced} >= {"tools.tool_choice_required", "tools.tool_choice_named"}
    assert all(c.request["max_tokens"] >= 60 for c in forced), [(c.id, c.request["max_tokens"]) for c in forced]


def test_tool_choice_new_5xx_is_regression_not_an_unknown():
    req = ChatRequest(model="m", tool_choice="required")
    call = ToolCall.from_wire("get_weather", '{"city": "Rome"}')
    old = [ex(calls=[call], request=req, finish="tool_calls")] * 2
    r = REGISTRY["tool_choice"](
        case("tools.tool_choice_required", "tools"), CaseRun(None, old, [_server_error(request=req)]), ctx()
    )
    assert r["verdict"] == "regression" and "5xx" in r["detail"], r["detail"]


def test_a_repeated_identical_call_dropped_is_an_improvement_not_a_regression():
    # Measured on real engines: with forced tool_choice the old side (which ignores it) emitted the
    # same call twice and vLLM once. The app would have executed the tool twice on the old backend.
    from migrate.compat_suite.checks.tools import observe

    from migrate.exchange import ToolCall

    def ex(n):
        e = Exchange(request=ChatRequest(model="m"), status=200, finish_reason="tool_calls")
        e.tool_calls = [ToolCall(name="get_weather", arguments={"city": "Paris"}) for _ in range(n)]
        return e

    old, new = observe(ex(2)), observe(ex(1))
    assert old["calls"] == new["calls"] == 1
    assert (old["repeated_calls"], new["repeated_calls"]) == (1, 0)
    from migrate.compat_suite.checks.tools import fewer_repeats_is_better

    assert fewer_repeats_is_better(1, 0) is True and fewer_repeats_is_better(0, 1) is False


def test_both_sides_refusing_every_request_is_an_error_not_a_pass():
    # Red-team finding: a server answering 400 to everything on both ends gave "Same answer
    # structure" and exit 0. Two identical refusals observe nothing.
    refused = _err(400, '{"error":"bad request"}', "bad_request")
    r = REGISTRY["response_structure"](case("chat.basic", "chat"), CaseRun(None, [refused] * 2, [refused]), ctx())
    assert r["verdict"] == "error" and "refused every request" in r["detail"]
    # an errors case compares refusals on purpose: still a pass there
    c = case("errors.malformed_body", "errors", error="malformed_body")
    assert REGISTRY["error_contract"](c, CaseRun(None, [refused], [refused]), ctx())["verdict"] == "pass"


def test_a_deeply_nested_model_answer_is_invalid_json_not_a_crash():
    from migrate.compat_suite.checks.structured import _parse

    deep = "[" * 100_000 + "]" * 100_000
    assert _parse(deep) == (False, None)
    call = ToolCall.from_wire("f", deep)
    assert call.arguments_valid is False and call.arguments is None
