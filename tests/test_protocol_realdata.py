"""Acceptance: every real recorded chat/generate payload in tests/fixtures/realdata decodes exactly.

One parametrised test per recording (ids = file names). The expected values below were read off
each file by hand and cross-checked with grep over the raw files (usage counts, done_reason /
finish_reason, reassembled text); they are NOT produced by the decoders under test. Long texts are
pinned by (length, first 40 characters, last 20 characters).

Recordings that are not chat/generate exchanges (``/api/show`` and ``/api/pull`` interactions in
mixed cassettes) are skipped by path, and the per-file exchange count is asserted so nothing is
skipped silently.
"""

from __future__ import annotations

from collections import namedtuple

import pytest

from tests.conftest import realdata_dir
from tests.realdata_loader import decode, load

CHAT_PATHS = ("/api/chat", "/api/generate", "/v1/chat/completions")

_X = namedtuple("X", "index path status stream content reasoning tools finish raw usage error")


def X(index, path, status, *, stream, content, reasoning, tools, finish, raw, usage, error):
    return _X(index, path, status, stream, content, reasoning, tools, finish, raw, usage, error)


EXPECTED = {
    "ollama_api_chat_error400_input_exceeds_context_2026-01.httprr": [
        X(
            0,
            "/api/chat",
            400,
            stream=False,
            content="",
            reasoning=None,
            tools=[],
            finish="error",
            raw=None,
            usage=None,
            error="bad_request",
        ),
    ],
    "ollama_api_chat_error400_model_does_not_support_tools_2025-08.httprr": [
        X(
            0,
            "/api/chat",
            400,
            stream=False,
            content="",
            reasoning=None,
            tools=[],
            finish="error",
            raw=None,
            usage=None,
            error="bad_request",
        ),
    ],
    "ollama_api_chat_nonstream_2025-08_openllmetry.yaml": [
        X(
            0,
            "/api/chat",
            200,
            stream=False,
            content=("LONG", 398, "Okay, I understand. You're testing my mo", "spond appropriately."),
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(19, 104),
            error=None,
        ),
    ],
    "ollama_api_chat_nonstream_codellama_debugtranscript_v0.10.0-rc0.md": [
        X(
            0,
            "/api/chat",
            200,
            stream=False,
            content=("LONG", 322, "\nYes, I understand! So if you say \"What'", "on about it. Got it!"),
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(51, 85),
            error=None,
        ),
        X(
            1,
            "/api/chat",
            200,
            stream=False,
            content="\nRABBIT!",
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(159, 6),
            error=None,
        ),
    ],
    "ollama_api_chat_nonstream_llama3_2024-05_openllmetry.yaml": [
        X(
            0,
            "/api/chat",
            200,
            stream=False,
            content=("LONG", 256, "A joke about OpenTelemetry!\n\nWhy did the", "smile to your face!)"),
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(17, 66),
            error=None,
        ),
    ],
    "ollama_api_chat_nonstream_toolcall_qwen2.5coder_2025-04.md": [
        X(
            0,
            "/api/chat",
            200,
            stream=False,
            content="",
            reasoning=None,
            tools=[("run_command", {"command": "df -h"}, None)],
            finish="tool_calls",
            raw="stop",
            usage=(155, 81),
            error=None,
        ),
        X(
            1,
            "/v1/chat/completions",
            200,
            stream=True,
            content="```\nxml\n<command>\n  <run_command>\n    <command>ls -l</command>\n  </run_command>\n</command>\n```",
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=None,
            error=None,
        ),
        X(
            2,
            "/v1/chat/completions",
            200,
            stream=True,
            content='<run_command command="ls -l" />',
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=None,
            error=None,
        ),
    ],
    "ollama_api_chat_stream_format_json_gemma3_2025-08.httprr": [
        X(
            0,
            "/api/chat",
            200,
            stream=True,
            content='{"answer": "600"}',
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(25, 9),
            error=None,
        ),
    ],
    "ollama_api_chat_stream_ndjson_gemma3_chunked_2025-08.httprr": [
        X(
            0,
            "/api/chat",
            200,
            stream=True,
            content="Okay, here we go!\n\n1, 2, 3, 4, 5\n",
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(16, 22),
            error=None,
        ),
    ],
    "ollama_api_chat_stream_ndjson_llama3_2024-05_openllmetry.yaml": [
        X(
            0,
            "/api/chat",
            200,
            stream=True,
            content=("LONG", 212, "Why did the OpenTelemetry agent go to th", "smile to your face!)"),
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(17, 50),
            error=None,
        ),
    ],
    "ollama_api_chat_stream_ndjson_llama3_2024-05b_openllmetry.yaml": [
        X(
            0,
            "/api/chat",
            200,
            stream=True,
            content=("LONG", 238, "Here's one:\n\nWhy did the OpenTelemetry c", "u want another one?)"),
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(17, 63),
            error=None,
        ),
    ],
    "ollama_api_chat_toolhistory_llama31_2024-09_openllmetry.yaml": [
        X(
            0,
            "/api/chat",
            200,
            stream=False,
            content=("LONG", 535, "This is a simple example, but in a real-", "its (e.g., Celsius)."),
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(44, 113),
            error=None,
        ),
    ],
    "ollama_api_generate_nonstream_gemma3_2025-08.httprr": [
        X(
            0,
            "/api/generate",
            200,
            stream=False,
            content=("LONG", 230, "Hello there! I’m doing well, thanks for ", "ur day going so far?"),
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(15, 65),
            error=None,
        ),
    ],
    "ollama_api_generate_nonstream_llama3.1_2025-02_crewai.json": [
        X(
            0,
            "/api/generate",
            200,
            stream=False,
            content='```\n{\n  "name": "Alice Llama",\n  "age": 30\n}\n```',
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(67, 22),
            error=None,
        ),
    ],
    "ollama_api_generate_nonstream_llama3_2024-05_openllmetry.yaml": [
        X(
            0,
            "/api/generate",
            200,
            stream=False,
            content=("LONG", 261, "A niche topic!\n\nHere's one:\n\nWhy did the", "smile to your face!)"),
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(17, 63),
            error=None,
        ),
    ],
    "ollama_api_generate_stream_gemma3_2025-08.httprr": [
        X(
            0,
            "/api/generate",
            200,
            stream=True,
            content="Okay, here we go!\n\n1, 2, 3, 4, 5\n",
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(16, 22),
            error=None,
        ),
    ],
    "ollama_api_generate_stream_ndjson_2025-05_openllmetry.yaml": [
        X(
            0,
            "/api/generate",
            200,
            stream=True,
            content=("LONG", 188, "Okay, here's a joke about OpenTelemetry:", " hear another one? 😊"),
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(16, 51),
            error=None,
        ),
    ],
    "ollama_api_generate_stream_ndjson_llama3_2024-05_openllmetry.yaml": [
        X(
            0,
            "/api/generate",
            200,
            stream=True,
            content=("LONG", 291, "A joke about OpenTelemetry! Here's one:\n", "ges of development!)"),
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(17, 71),
            error=None,
        ),
    ],
    "ollama_api_pull_stream_then_chat_2025-08.httprr": [
        X(
            1,
            "/api/chat",
            200,
            stream=True,
            content="Hello there! How can I help you today? 😊",
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(11, 12),
            error=None,
        ),
    ],
    "ollama_litellm_api_show_generate_sequence_2025_crewai.yaml": [
        X(
            1,
            "/api/generate",
            200,
            stream=False,
            content='```\n{\n  "name": "Alice Llama",\n  "age": 30\n}\n```',
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(67, 22),
            error=None,
        ),
        X(
            4,
            "/api/generate",
            200,
            stream=False,
            content='{"name": "SimpleModel", "arguments":{"name": "Alice Llama", "age": 30}}',
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(152, 24),
            error=None,
        ),
    ],
    "ollama_v1chat_error404_model_not_found_2024-10.yaml": [
        X(
            0,
            "/v1/chat/completions",
            404,
            stream=False,
            content="",
            reasoning=None,
            tools=[],
            finish="error",
            raw=None,
            usage=None,
            error="not_found",
        ),
    ],
    "ollama_v1chat_jsonschema_qwen3_pydanticai.yaml": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=False,
            content='{ "city": "Paris", "country": "France" }',
            reasoning=("LONG", 508, "Okay, the user is asking for the capital", "he answer is Paris.\n"),
            tools=[],
            finish="stop",
            raw="stop",
            usage=(136, 15),
            error=None,
        ),
    ],
    "ollama_v1chat_nonstream_alloptions_prettyprinted_2024-12.yaml": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=False,
            content="Amalfis Sea",
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(46, 5),
            error=None,
        ),
    ],
    "ollama_v1chat_sse_stream_parallel_tools_textonly_2024-10.yaml": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=True,
            content=("LONG", 247, "To provide you with the most current inf", 'ike "New York City".'),
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=None,
            error=None,
        ),
    ],
    "ollama_v1chat_sse_stream_qwen2.5-0.5b_2024-10.yaml": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=True,
            content=("LONG", 389, "The Falkland Islands, also known as the ", "istrative divisions."),
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=None,
            error=None,
        ),
    ],
    "ollama_v1chat_sse_stream_qwen2.5coder_2025-04.md": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=True,
            content="My name is Neo Vim.",
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=None,
            error=None,
        ),
    ],
    "ollama_v1chat_sse_stream_with_tools_textonly_2024-10.yaml": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=True,
            content='<tool_call>\n{"name": "get_delivery_date", "arguments": {"order_id": "order_12345"}}\n</tool_call>',
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=None,
            error=None,
        ),
    ],
    "ollama_v1chat_tools_followup_texanswer_2024-10.yaml": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=False,
            content=("LONG", 357, "Sure, I can help you find information ab", "ccurate information."),
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(150, 70),
            error=None,
        ),
    ],
    "ollamacloud_api_chat_toolcall_thinking_and_502.md": [
        X(
            0,
            "/api/chat",
            200,
            stream=False,
            content="",
            reasoning="The user wants to search for 'ollama bash lib'. Use the search function.",
            tools=[("search", {"query": "ollama bash lib"}, None)],
            finish="tool_calls",
            raw="stop",
            usage=(129, 47),
            error=None,
        ),
        X(
            1,
            "/api/chat",
            502,
            stream=False,
            content="",
            reasoning=None,
            tools=[],
            finish="error",
            raw=None,
            usage=None,
            error="server_error",
        ),
    ],
    "ollamacloud_api_generate_stream_thinking_gptoss120b_2025-08.md": [
        X(
            0,
            "/api/generate",
            200,
            stream=True,
            content="Fluffy, curious, quick.",
            reasoning='User asks "Describe a rabbit in 3 words". That\'s fine. No policy violation. Provide answer.',
            tools=[],
            finish="stop",
            raw="stop",
            usage=(81, 38),
            error=None,
        ),
        X(
            1,
            "/api/generate",
            200,
            stream=True,
            content="soft, speedy, curious",
            reasoning=("LONG", 173, "We need to describe a rabbit in 3 words.", "ues. Provide answer."),
            tools=[],
            finish="stop",
            raw="stop",
            usage=(81, 52),
            error=None,
        ),
    ],
    "ollamacloud_v1chat_jsonobject_gptoss_pydanticai.yaml": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=False,
            content='{"name":"Loki","animal":"cat","age":3}',
            reasoning=("LONG", 204, "We need to output JSON with name, animal", "t JSON. No markdown."),
            tools=[],
            finish="stop",
            raw="stop",
            usage=(172, 88),
            error=None,
        ),
    ],
    "ollamacloud_v1chat_toolcall_gptoss_pydanticai.yaml": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=False,
            content="Paris.",
            reasoning=("LONG", 490, 'We need to answer question: "What is the', "ks. Just plain text."),
            tools=[],
            finish="stop",
            raw="stop",
            usage=(134, 122),
            error=None,
        ),
        X(
            1,
            "/v1/chat/completions",
            200,
            stream=False,
            content="",
            reasoning=("LONG", 763, 'The conversation: user asked "What is th', "rmat. Let's do that."),
            tools=[("final_result", {"city": "Paris", "country": "France"}, "call_o2vnpxrw")],
            finish="tool_calls",
            raw="tool_calls",
            usage=(206, 194),
            error=None,
        ),
    ],
    "tgi_chat_response_format_json_grammar_2.4.1.json": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=False,
            content='{ "unit": "fahrenheit", "temperature": [ 72, 79, 88 ] }',
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(136, 29),
            error=None,
        ),
    ],
    "tgi_chat_response_format_json_schema_basic_3.3.6.json": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=False,
            content='{"firstName":"David","lastName":"(Not provided)","hobby":", nature","numCats":2}',
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(32, 35),
            error=None,
        ),
    ],
    "tgi_chat_stream_include_usage_3.1.2.json": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=True,
            content="OK!",
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(39, 3),
            error=None,
        ),
    ],
    "tgi_chat_tool_reply_text_llama3.1-8b_3.1.2.json": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=False,
            content=("LONG", 398, "I can't access real-time data, but I can", "itions and forecast."),
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(109, 83),
            error=None,
        ),
    ],
    "tgi_chat_toolcall_nonstream_llama3.1-8b_3.1.2.json": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=False,
            content="",
            reasoning=None,
            tools=[("get_current_weather", {"location": "Brooklyn, NY", "format": "fahrenheit"}, "0")],
            finish="stop",
            raw="stop",
            usage=(501, 29),
            error=None,
        ),
    ],
    "tgi_chat_toolcall_stream_chunks_llama3.1-8b_3.1.2.json": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=True,
            content="",
            reasoning=None,
            tools=[("get_current_weather", {"location": "Brooklyn, NY", "format": "fahrenheit"}, "0")],
            finish="other",
            raw=None,
            usage=None,
            error=None,
        ),
    ],
    "vllm-0.23_v1chat_json_jsonschema-strict_toolchoice-required_raw_publicai-probe.md": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=False,
            content='{\n  "ville": "Sion",\n  "langues": ["français", "allemand"]\n}',
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(57, 24),
            error=None,
        ),
        X(
            1,
            "/v1/chat/completions",
            200,
            stream=False,
            content='{ \n  "canton": "VS",\n  "code_postal_min": 1950\n}',
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(69, 29),
            error=None,
        ),
        X(
            2,
            "/v1/chat/completions",
            200,
            stream=False,
            content="",
            reasoning=None,
            tools=[("enregistrer_offre", {"nature": "lieu", "places": 14}, "chatcmpl-tool-93d1091597c06cb2")],
            finish="tool_calls",
            raw="tool_calls",
            usage=(122, 37),
            error=None,
        ),
    ],
    "vllm_error404_model_does_not_exist_raw_v0.3_issue3485.json": [
        X(
            0,
            "/v1/chat/completions",
            404,
            stream=False,
            content="",
            reasoning=None,
            tools=[],
            finish="error",
            raw=None,
            usage=None,
            error="not_found",
        ),
    ],
    "vllm_v1chat_nonstream_curl-verbose_headers_qwen-vl_2025-10.txt": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=False,
            content=("LONG", 176, "The image shows a dog, specifically a La", "-five to the person."),
            reasoning=None,
            tools=[],
            finish="stop",
            raw="stop",
            usage=(3606, 40),
            error=None,
        ),
    ],
    "vllm_v1chat_nonstream_opt125m_2024-10_openllmetry.yaml": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=False,
            content="Your question was very interesting <|im_end|>\n<|im_end|>",
            reasoning=None,
            tools=[],
            finish="length",
            raw="length",
            usage=(57, 20),
            error=None,
        ),
    ],
    "vllm_v1chat_sse_stream_opt125m_2024-10_openllmetry.yaml": [
        X(
            0,
            "/v1/chat/completions",
            200,
            stream=True,
            content="<|im_end|>doctor\n<|im_end|>supervisor\n<",
            reasoning=None,
            tools=[],
            finish="length",
            raw="length",
            usage=None,
            error=None,
        ),
    ],
}

# Error texts as recorded (the message is what users see in reports).
ERROR_MESSAGES = {
    ("ollama_api_chat_error400_input_exceeds_context_2026-01.httprr", 0): "the input length exceeds the context length",
    (
        "ollama_api_chat_error400_model_does_not_support_tools_2025-08.httprr",
        0,
    ): "registry.ollama.ai/library/gemma3:1b does not support tools",
    (
        "ollama_v1chat_error404_model_not_found_2024-10.yaml",
        0,
    ): 'model "not-found-model" not found, try pulling it first',
    ("ollamacloud_api_chat_toolcall_thinking_and_502.md", 1): "upstream error",
    (
        "vllm_error404_model_does_not_exist_raw_v0.3_issue3485.json",
        0,
    ): "The model `Qwen1.5-14B-Chat-GPTQ-Int8` does not exist.",
}


def _check_text(actual, expected, what):
    if isinstance(expected, tuple) and expected and expected[0] == "LONG":
        _, length, head, tail = expected
        assert len(actual) == length, f"{what}: length {len(actual)} != {length}"
        assert actual.startswith(head), f"{what}: starts {actual[:40]!r}"
        assert actual.endswith(tail), f"{what}: ends {actual[-20:]!r}"
    else:
        assert actual == expected, f"{what}: {actual!r} != {expected!r}"


def test_every_chat_recording_is_in_the_table():
    """A new recording in tests/fixtures/realdata must get expected values here, not be skipped."""
    names = {p.name for p in realdata_dir().iterdir()}
    chat_like = {
        n
        for n in names
        if n.startswith(
            (
                "ollama_api_chat",
                "ollama_api_generate",
                "ollama_v1chat",
                "ollamacloud_api_chat",
                "ollamacloud_api_generate",
                "ollamacloud_v1chat",
                "vllm_v1chat",
                "vllm-0.23_v1chat",
                "tgi_chat",
            )
        )
    }
    assert chat_like <= set(EXPECTED), sorted(chat_like - set(EXPECTED))


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=sorted(EXPECTED))
def test_recorded_payload_decodes_exactly(name):
    records = [r for r in load(name) if r.path in CHAT_PATHS]
    expected = EXPECTED[name]
    assert len(records) == len(expected), f"{name}: {len(records)} exchanges found"
    for rec, exp in zip(records, expected):
        where = f"{name}#{rec.index}"
        assert (rec.index, rec.path, rec.status, rec.stream) == (exp.index, exp.path, exp.status, exp.stream), where
        ex = decode(rec)
        _check_text(ex.content, exp.content, f"{where} content")
        if exp.reasoning is None:
            assert ex.reasoning is None, f"{where}: unexpected reasoning {ex.reasoning!r}"
        else:
            _check_text(ex.reasoning, exp.reasoning, f"{where} reasoning")
        assert [(t.name, t.arguments, t.id) for t in ex.tool_calls] == exp.tools, where
        assert all(t.arguments_valid for t in ex.tool_calls), where
        assert ex.finish_reason == exp.finish, where
        assert ex.finish_reason_raw == exp.raw, where
        if exp.usage is None:
            assert not ex.usage.reported, where
        else:
            assert ex.usage.reported and (ex.usage.prompt_tokens, ex.usage.completion_tokens) == exp.usage, where
        if exp.error is None:
            assert ex.error is None, f"{where}: {ex.error}"
        else:
            assert ex.error is not None and ex.error.type == exp.error, f"{where}: {ex.error}"
            assert ex.error.message == ERROR_MESSAGES[(name, rec.index)], where
            assert ex.error.status == exp.status, where


# ------------------------------------------------------------------------------------------------
# Streaming invariants on the recorded streams (Delta lists)
# ------------------------------------------------------------------------------------------------

OLLAMA_STREAMS = [n for n, rows in EXPECTED.items() if any(r.stream and r.path.startswith("/api/") for r in rows)]
OPENAI_STREAMS = [n for n, rows in EXPECTED.items() if any(r.stream and r.path.startswith("/v1/") for r in rows)]
VLLM_STREAMS = [n for n in OPENAI_STREAMS if n.startswith("vllm")]


def _streams(name, prefix):
    return [decode(r) for r in load(name) if r.stream and r.path.startswith(prefix) and r.path in CHAT_PATHS]


def _common_invariants(ex, where):
    finals = [i for i, d in enumerate(ex.deltas) if d.finish_reason is not None]
    if ex.finish_reason_raw is not None:
        assert len(finals) == 1, f"{where}: finish_reason on {len(finals)} deltas"
        # Nothing but a usage-only chunk may follow the finishing delta.
        assert all(not d.is_token for d in ex.deltas[finals[0] + 1 :]), where
    assert len(ex.timings.chunks) == len(ex.deltas), where
    assert "".join(d.content or "" for d in ex.deltas) == ex.content, where
    assert [d.t for d in ex.deltas] == sorted(d.t for d in ex.deltas), where
    assert all(d.error is None for d in ex.deltas), where


@pytest.mark.parametrize("name", OLLAMA_STREAMS, ids=OLLAMA_STREAMS)
def test_recorded_ollama_stream_invariants(name):
    streams = _streams(name, "/api/")
    assert streams, name
    for ex in streams:
        _common_invariants(ex, name)
        # NDJSON: exactly one done line, and it is the last event; usage only there.
        assert ex.deltas[-1].finish_reason is not None, name
        assert [d.usage for d in ex.deltas] == [False] * (len(ex.deltas) - 1) + [True], name
        roles = {d.role for d in ex.deltas}
        assert roles <= {"assistant"} or roles == {None}, f"{name}: roles {roles}"


@pytest.mark.parametrize("name", OPENAI_STREAMS, ids=OPENAI_STREAMS)
def test_recorded_openai_stream_invariants(name):
    streams = _streams(name, "/v1/")
    assert streams, name
    for ex in streams:
        _common_invariants(ex, name)
        roles = [d.role for d in ex.deltas if d.role is not None]
        assert set(roles) <= {"assistant"}, name
        if ex.deltas and ex.deltas[0].role is not None:
            assert ex.deltas[0].role == "assistant", name


@pytest.mark.parametrize("name", VLLM_STREAMS, ids=VLLM_STREAMS)
def test_recorded_vllm_stream_role_only_first(name):
    """vLLM: the first delta carries only the role; no later delta repeats it."""
    (ex,) = _streams(name, "/v1/")
    first, rest = ex.deltas[0], ex.deltas[1:]
    assert first.role == "assistant" and not first.is_token
    assert all(d.role is None for d in rest)
    assert ex.deltas[1].is_token
