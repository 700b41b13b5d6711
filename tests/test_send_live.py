"""`migrate send` and the adapters against the real llama.cpp engine and the Ollama-API test server."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from migrate.cli import main
from migrate.exchange import ChatRequest, Message, Sampling
from migrate.protocol import Backend, ollama, send

pytestmark = pytest.mark.engine


def _request(model: str, stream: bool) -> ChatRequest:
    # llama.cpp reuses a cached prompt's KV by default, and its logits are not bit-identical to a
    # fresh prefill (measured: a different greedy answer on the second identical request), so
    # equality is only promised with the prompt cache off.
    return ChatRequest(
        model=model,
        messages=[Message(role="user", content="Count: one, two,")],
        sampling=Sampling(temperature=0, seed=7, max_tokens=12),
        stream=stream,
        extras={"openai": {"cache_prompt": False}},
    )


@pytest.mark.parametrize("which,protocol", [("llamacpp", "openai"), ("ollama", "ollama"), ("ollama", "openai")])
def test_stream_reassembles_to_non_stream(llamacpp_server, ollama_server, which, protocol):
    server = llamacpp_server if which == "llamacpp" else ollama_server
    model = "gemma3-270m" if which == "llamacpp" else ollama_server.model
    backend = Backend(server.url, protocol)
    whole = send(backend, _request(model, stream=False))
    streamed = send(backend, _request(model, stream=True))
    assert whole.error is None and streamed.error is None, (whole.error, streamed.error)
    # Greedy decoding with a fixed seed: the same tokens whichever way they travel.
    assert streamed.content == whole.content
    assert streamed.finish_reason == whole.finish_reason
    assert streamed.usage.completion_tokens == whole.usage.completion_tokens
    # Stream clocks: first content after the request went out, and before the end.
    t = streamed.timings
    assert t.sent < t.first_byte <= t.first_content <= t.end
    assert streamed.timings.ttft_s is not None and streamed.timings.ttft_s > 0
    # Exactly one finish reason in the stream.
    assert sum(1 for d in streamed.deltas if d.finish_reason) == 1


def test_openai_first_delta_is_role_only_and_not_a_token(llamacpp_server):
    ex = send(Backend(llamacpp_server.url, "openai"), _request("gemma3-270m", stream=True))
    first = ex.deltas[0]
    assert first.role == "assistant" and not first.is_token
    # TTFT is clocked from the first real token, not the role-only chunk.
    assert ex.timings.first_content > first.t
    assert ex.usage.reported  # include_usage is requested by default


def test_send_cli_json_against_real_engine(llamacpp_server):
    result = CliRunner().invoke(
        main,
        [
            "send",
            "--url",
            llamacpp_server.url + "/v1",
            "--protocol",
            "openai",
            "--model",
            "gemma3-270m",
            "--prompt",
            "Hi",
            "--max-tokens",
            "8",
            "--stream",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {"content", "reasoning", "tool_calls", "finish_reason", "usage", "error", "timings"}
    assert data["usage"]["completion_tokens"] == 8 and data["finish_reason"] == "length"
    assert data["timings"]["ttft_s"] > 0 and data["timings"]["e2e_s"] >= data["timings"]["ttft_s"]


def test_request_file_translated_for_ollama_native(ollama_server, tmp_path):
    body = {
        "model": ollama_server.model,
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 6,
        "temperature": 0,
        "response_format": {"type": "json_object"},
    }
    path = tmp_path / "req.json"
    path.write_text(json.dumps(body))
    result = CliRunner().invoke(
        main, ["send", "--url", ollama_server.url, "--protocol", "ollama", "--request", str(path), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["usage"]["completion_tokens"] <= 6
    # The adapter translated max_tokens -> options.num_predict and response_format -> format.
    _, native = ollama.encode(ChatRequest.from_openai(body))
    assert native["options"]["num_predict"] == 6 and native["format"] == "json"
