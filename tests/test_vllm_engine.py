"""Against a REAL vLLM (CPU build) serving Gemma 3 270M: protocol, structure and metrics only.

The 270M base model's words are never asserted; what vLLM does with the protocol is.
"""

from __future__ import annotations

import json
import re
import subprocess
from importlib.resources import files

import pytest
from click.testing import CliRunner

from migrate.cli import main
from migrate.protocol import fetch
from migrate.testbed.vllm_env import MODEL_DIRNAME, VLLM_SPEC
from migrate.testbed.vllm_server import SERVED_MODEL_NAME, build_command

pytestmark = pytest.mark.vllm

REQUIRED_METRICS = (
    "vllm:time_to_first_token_seconds",
    "vllm:inter_token_latency_seconds",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
)


def _metric_families(text: str) -> dict[str, str]:
    """``# TYPE name kind`` lines of a Prometheus text dump -> {name: kind}."""
    return dict(m.groups() for m in re.finditer(r"^# TYPE (\S+) (\S+)$", text, re.M))


def _sample(text: str, name: str) -> float:
    """Sum of a sample's values over all label sets (e.g. ``..._count`` across engines)."""
    values = [float(m.group(1)) for m in re.finditer(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", text, re.M)]
    assert values, f"no {name} sample in /metrics"
    return sum(values)


def _fewshot_body(**overrides) -> dict:
    body = json.loads(files("migrate.testbed").joinpath("data", "fewshot_tools.json").read_text())
    body.update(overrides)
    return body


def _send_json(args: list[str]) -> dict:
    result = CliRunner().invoke(main, ["send", *args, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    data = json.loads(result.stdout)
    assert result.exit_code == 0, data.get("error")
    return data


def test_probe_says_vllm_with_version_and_metrics(vllm_server, vllm_env):
    result = CliRunner().invoke(main, ["probe", vllm_server.url, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "vllm"
    # The version the server reports is the one installed in its venv (dist version may carry a
    # local suffix such as +cpu; the server reports the public part).
    assert data["version"] and vllm_env.version.startswith(data["version"].split("+")[0])
    assert data["metrics"]["exposed"] is True and data["metrics"]["prefix"] == "vllm:"
    assert SERVED_MODEL_NAME in [m["id"] for m in data["models"]]


def test_tool_call_required_stream_matches_nonstream_structure(vllm_server, tmp_path):
    body = _fewshot_body(tool_choice="required", max_tokens=60, temperature=0)
    request = tmp_path / "fewshot.json"
    request.write_text(json.dumps(body))
    declared = {t["function"]["name"] for t in body["tools"]}
    common = ["--url", vllm_server.url, "--protocol", "openai", "--request", str(request)]

    plain = _send_json([*common, "--no-stream"])
    streamed = _send_json([*common, "--stream"])

    # vLLM forces `required` with a JSON schema built from the tools, so the declared names and the
    # parameters' required keys are protocol guarantees, not model choices. How MANY calls the
    # base model emits is its choice (it varies between identical greedy requests), so it is
    # not compared; the structure of every call is.
    required_keys = set(body["tools"][0]["function"]["parameters"]["required"])
    for label, data in (("non-stream", plain), ("stream", streamed)):
        calls = data["tool_calls"]
        assert calls, f"{label}: tool_choice=required produced no tool call: {data['content']!r}"
        assert data["finish_reason"] == "tool_calls", label
        for call in calls:
            assert call["name"] in declared, f"{label}: undeclared tool {call['name']!r}"
            assert isinstance(call["arguments"], dict), f"{label}: arguments not a JSON object"
            assert required_keys <= set(call["arguments"]), f"{label}: {call['arguments']}"
            assert call["id"], f"{label}: tool call without id"
            assert call["arguments_encoding"] == "string"  # OpenAI wire format
    # The stream is merged from delta fragments (id+name first, then argument pieces); it must
    # rebuild calls of the same shape as the non-stream message.
    shape = lambda call: (call["name"], type(call["arguments"]).__name__, bool(call["id"]))  # noqa: E731
    assert shape(streamed["tool_calls"][0]) == shape(plain["tool_calls"][0])
    assert len({c["id"] for c in streamed["tool_calls"]}) == len(streamed["tool_calls"])  # ids distinct
    assert streamed["timings"]["ttft_s"] is not None


def test_real_vllm_metrics_exposed_and_counting(vllm_server):
    before = fetch(vllm_server.url, "/metrics")
    assert before.status == 200, before.error
    families = _metric_families(before.text)
    missing = [n for n in REQUIRED_METRICS if n not in families]
    assert not missing, f"missing vLLM metrics: {missing}"
    assert families["vllm:time_to_first_token_seconds"] == "histogram"
    assert families["vllm:kv_cache_usage_perc"] == "gauge"
    ttft_before = _sample(before.text, "vllm:time_to_first_token_seconds_count")

    _send_json(
        [
            "--url",
            vllm_server.url,
            "--protocol",
            "openai",
            "--model",
            SERVED_MODEL_NAME,
            "--prompt",
            "Hello",
            "--max-tokens",
            "8",
            "--stream",
        ]
    )

    after = fetch(vllm_server.url, "/metrics")
    assert _sample(after.text, "vllm:time_to_first_token_seconds_count") >= ttft_before + 1
    assert _sample(after.text, "vllm:num_requests_waiting") >= 0


def test_server_flags_accepted_by_vllms_own_parser(vllm_env, tmp_path):
    """Our argv goes through the real `vllm serve` parser and the tool-parser registry."""
    argv = build_command(vllm_env, 8000)
    assert argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    script = (
        "import sys, json\n"
        "from vllm.utils.argparse_utils import FlexibleArgumentParser\n"
        "from vllm.entrypoints.launchers.cli_args import make_arg_parser\n"
        "from vllm.tool_parsers import ToolParserManager\n"
        "args = make_arg_parser(FlexibleArgumentParser()).parse_args(json.loads(sys.argv[1]))\n"
        "print(json.dumps({'parser': args.tool_call_parser, 'registered': args.tool_call_parser in\n"
        "    ToolParserManager.list_registered(), 'max_model_len': args.max_model_len,\n"
        "    'served': args.served_model_name, 'eager': args.enforce_eager}))\n"
    )
    proc = subprocess.run(
        [str(vllm_env.python), "-c", script, json.dumps(argv[3:])], capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    parsed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert parsed == {
        "parser": "hermes",
        "registered": True,
        "max_model_len": 2048,
        "served": [SERVED_MODEL_NAME],
        "eager": True,
    }


def test_env_cli_reuses_cached_build(vllm_env):
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "migrate.testbed.vllm_env", "--json"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["actions"] == [f"reused venv ({VLLM_SPEC})", f"reused model ({MODEL_DIRNAME})"]
    assert data["python"] == str(vllm_env.python) and data["version"] == vllm_env.version
