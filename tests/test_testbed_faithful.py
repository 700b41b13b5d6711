"""The Ollama-API test server against REAL recorded Ollama payloads (tests/fixtures/realdata), plus the
behaviours a migration depends on. Engine tests keep num_predict/max_tokens small (<= 32)."""

from __future__ import annotations

import json
import re
import threading

import pytest

from migrate.exchange import ChatRequest, Message, Sampling
from migrate.protocol import Backend, Timeouts, fetch, send
from tests.conftest import realdata_dir
from tests.realdata_loader import load

pytestmark = pytest.mark.engine

CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")
NS_FIELDS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)
# Inference calls wait as long as a loaded 2-core CI box may need: fetch's probe defaults (20 s in
# total) were exceeded by the truncation and /v1 tests when other engines shared the machine.
SLOW = Timeouts(read=120.0, stall=60.0, total=300.0)


def _real_json_block(name: str, start: str) -> dict:
    text = (realdata_dir() / name).read_text()
    return json.JSONDecoder().raw_decode(text[text.index(start) :])[0]


def _types(d: dict) -> dict:
    return {k: type(v).__name__ for k, v in d.items()}


def _lines(text: str) -> list[dict]:
    assert text.endswith("\n")
    return [json.loads(line) for line in text.split("\n") if line]


def _post(url, path, body):
    return fetch(url, path, method="POST", json=body, timeouts=SLOW)


def chat(srv, **kw):
    body = {
        "model": srv.model,
        "messages": [{"role": "user", "content": "1, 2, 3, 4, 5,"}],
        "options": {"num_predict": 8, "temperature": 0, "seed": 1},
    }
    body.update(kw)
    return _post(srv.url, "/api/chat", body)


# --- metadata routes ---------------------------------------------------------------------------


def test_root_and_version(ollama_server):
    r = fetch(ollama_server.url, "/")
    assert r.status == 200 and r.text == "Ollama is running"
    real = _real_json_block("ollama_version_api_and_cli_v0.11.6.md", "{")
    ours = fetch(ollama_server.url, "/api/version").json
    assert list(ours) == list(real) and _types(ours) == _types(real)


def test_tags_shape_matches_real(ollama_server):
    real = load("ollama_api_tags_raw_16models_2025-06_langchain.yaml")[0]
    real_model = json.loads(real.lines[0])["models"][0]
    ours = fetch(ollama_server.url, "/api/tags").json["models"]
    assert ollama_server.model in [m["name"] for m in ours]
    for m in ours:
        assert list(m) == list(real_model) and _types(m) == _types(real_model)
        assert list(m["details"]) == list(real_model["details"])
        assert CREATED_AT.match(m["modified_at"]) and re.fullmatch(r"[0-9a-f]{64}", m["digest"])


def test_ps_shape_matches_real_v011(ollama_server):
    real = _real_json_block("ollama_ps_cli_and_api_ps_mistral_v0.11.x.md", '{\n  "models"')["models"][0]
    ours = fetch(ollama_server.url, "/api/ps").json["models"][0]
    assert list(ours) == list(real) and _types(ours) == _types(real)
    assert ours["context_length"] == ollama_server.num_ctx


def test_show_shape_matches_real_gemma3(ollama_server):
    real = json.loads((realdata_dir() / "ollama_api_show_gemma3-1b_arch-gemma3_v0.10.0-rc0.json").read_text())
    ours = _post(ollama_server.url, "/api/show", {"model": ollama_server.model}).json
    assert list(ours) == list(real)
    assert _types(ours) == _types(real)
    # model_info: the same gemma3.* / general.* / tokenizer.* key family, values from our GGUF
    missing = {k for k in real["model_info"] if k.split(".")[0] in ("gemma3", "general")} - set(ours["model_info"])
    assert missing <= {
        "gemma3.final_logit_softcapping",
        "gemma3.rope.global.freq_base",
        "gemma3.rope.local.freq_base",
    }, missing  # keys the 270M GGUF does not carry
    assert ours["model_info"]["general.architecture"] == "gemma3"
    assert "general.name" not in ours["model_info"]
    # parameters: one "name<pad to 30> value" line per value, like the real one
    for ours_line, real_line in zip(ours["parameters"].splitlines(), real["parameters"].splitlines()):
        assert ours_line[:31].rstrip() == real_line[:31].rstrip() and len(ours_line[:31]) == 31
    assert _post(ollama_server.url, "/api/show", {"model": ollama_server.model + "-text"}).json["capabilities"] == [
        "completion"
    ]


# --- errors ----------------------------------------------------------------------------------------


def test_unknown_model_404_wording(ollama_server):
    real = (realdata_dir() / "ollama_api_error404_model_not_found_v0.1.32_issue3876.txt").read_text()
    real_body = json.loads(re.search(r'\{"error":[^\n]*\}', real).group(0))
    r = chat(ollama_server, model="llama3")
    assert r.status == 404 and list(r.json) == list(real_body)
    assert r.json["error"] == "model 'llama3' not found"
    assert real_body["error"].startswith(r.json["error"])


def test_tools_on_model_without_capability_400(ollama_server):
    real = load("ollama_api_chat_error400_model_does_not_support_tools_2025-08.httprr")[0]
    real_body = json.loads(real.lines[0])
    tools = [
        {
            "type": "function",
            "function": {
                "name": "getTime",
                "description": "Get the current time.",
                "parameters": {"type": "object", "required": [], "properties": {}},
            },
        }
    ]
    r = chat(ollama_server, model=ollama_server.model + "-text", tools=tools, stream=False)
    assert r.status == real.status == 400
    assert r.headers["content-type"] == real.headers["content-type"]
    pattern = re.sub(r"gemma3:1b", r"\\S+", re.escape(real_body["error"]))
    assert re.fullmatch(pattern, r.json["error"]), r.json


def test_bad_json_400(ollama_server):
    import asyncio

    from migrate.protocol import Backend, send_raw_async

    ex = asyncio.run(send_raw_async(Backend(ollama_server.url, protocol="ollama"), "/api/chat", b"{bad"))
    assert ex.status == 400 and ex.error is not None and "invalid character" in ex.error.message


def test_mid_stream_error_line_and_nonstream_500(tmp_path):
    from migrate.testbed.llamacpp import free_port
    from migrate.testbed.ollama_server import OllamaTestServer

    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: the engine "dies" before answering
    with OllamaTestServer(dead, log_path=tmp_path / "s.log") as srv:
        r = chat(srv, stream=True)
        assert r.status == 200 and r.headers["content-type"] == "application/x-ndjson"
        lines = _lines(r.text)
        assert list(lines[-1]) == ["error"] and lines[-1]["error"]
        r = chat(srv, stream=False)
        assert r.status == 500 and list(r.json) == ["error"]


# --- inference (real engine) ---------------------------------------------------------------------


def test_chat_stream_framing_and_field_order_match_real(ollama_server):
    real = load("ollama_api_chat_stream_ndjson_gemma3_chunked_2025-08.httprr")[0]
    real_lines = [json.loads(ln) for ln in real.lines if ln.strip()]
    r = chat(ollama_server)
    assert r.status == 200 and r.headers["content-type"] == real.headers["content-type"]
    ours = _lines(r.text)
    assert len(ours) >= 2 and ours[-1]["done"] is True and all(not o["done"] for o in ours[:-1])
    assert list(ours[0]) == list(real_lines[0]) and _types(ours[0]) == _types(real_lines[0])
    assert list(ours[-1]) == list(real_lines[-1]) and _types(ours[-1]) == _types(real_lines[-1])
    assert all(CREATED_AT.match(o["created_at"]) for o in ours)
    assert ours[-1]["done_reason"] in ("stop", "length") and ours[-1]["eval_count"] <= 8
    assert ours[-1]["total_duration"] >= ours[-1]["prompt_eval_duration"] + ours[-1]["eval_duration"] > 0


def test_chat_nonstream_and_generate_match_real(ollama_server):
    real_chat = json.loads(load("ollama_api_chat_stream_ndjson_gemma3_chunked_2025-08.httprr")[0].lines[-1])
    r = chat(ollama_server, stream=False)
    assert r.status == 200 and r.headers["content-type"] == "application/json; charset=utf-8"
    assert list(r.json) == list(real_chat) and r.json["message"]["content"]
    real_gen = load("ollama_api_generate_nonstream_gemma3_2025-08.httprr")[0]
    real_body = json.loads(real_gen.lines[0])
    g = _post(
        ollama_server.url,
        "/api/generate",
        {
            "model": ollama_server.model,
            "prompt": "Hello, how are you?",
            "stream": False,
            "options": {"num_predict": 8, "temperature": 0},
        },
    )
    assert list(g.json) == list(real_body) and _types(g.json) == _types(real_body)
    assert g.json["prompt_eval_count"] <= len(g.json["context"])


def test_format_schema_is_enforced(ollama_server):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    r = chat(ollama_server, stream=False, format=schema, options={"num_predict": 32, "temperature": 0})
    assert r.status == 200
    assert isinstance(json.loads(r.json["message"]["content"])["ok"], bool)


def test_silent_front_truncation(ollama_server):
    log_before = ollama_server.log_path.read_text()
    history = [{"role": "system", "content": "You are terse."}]
    for i in range(12):
        history += [
            {"role": "user", "content": f"Item {i}: " + "alpha beta gamma delta " * 10},
            {"role": "assistant", "content": "Noted."},
        ]
    history.append({"role": "user", "content": "1, 2, 3,"})
    r = chat(ollama_server, stream=False, messages=history, options={"num_ctx": 256, "num_predict": 4})
    assert r.status == 200
    assert 0 < r.json["prompt_eval_count"] <= 256
    new = ollama_server.log_path.read_text()[len(log_before) :]
    m = re.search(
        r'level=WARN source=runner\.go:\d+ msg="truncating input prompt" '
        r"limit=(\d+) prompt=(\d+) keep=(\d+) new=(\d+)",
        new,
    )
    assert m, new
    limit, prompt, keep, new_n = map(int, m.groups())
    assert limit == 256 and prompt > 256 and new_n <= 256 and new_n == r.json["prompt_eval_count"]
    real = (realdata_dir() / "ollama_log_v0.6.x_2025-04_truncating-input-prompt_embeddings_issue10368.log").read_text()
    assert re.search(
        r'level=WARN source=runner\.go:\d+ msg="truncating input prompt" limit=\d+ prompt=\d+ '
        r"keep=\d+ new=\d+",
        real,
    )


def test_queue_full_503(llamacpp_server, tmp_path):
    from migrate.testbed.ollama_server import BUSY, OllamaTestServer

    with OllamaTestServer(
        llamacpp_server.url,
        num_parallel=1,
        max_queue=0,
        gguf_path=llamacpp_server.model_path,
        log_path=tmp_path / "s.log",
    ) as srv:
        results = {}
        t = threading.Thread(
            target=lambda: results.setdefault("a", chat(srv, options={"num_predict": 32, "temperature": 0}))
        )
        t.start()
        while srv.admission.running == 0 and t.is_alive():
            threading.Event().wait(0.005)  # poll the condition "A holds the only slot"
        busy = chat(srv, stream=False)
        t.join()
        assert results["a"].status == 200
        assert busy.status == 503 and busy.json == {"error": BUSY}
        assert re.search(r'\[GIN\] .* \| 503 \|.*POST     "/api/chat"', srv.log_path.read_text())


def test_log_file_formats(ollama_server):
    log = ollama_server.log_path.read_text().splitlines()
    assert re.match(
        r'^time=\S+ level=INFO source=routes\.go:\d+ msg="server config" env="map\[.*'
        r'OLLAMA_CONTEXT_LENGTH:2048 .*OLLAMA_MAX_QUEUE:512 .*OLLAMA_NUM_PARALLEL:1 .*\]"$',
        log[0],
    )
    assert any(re.search(r'msg="Listening on 127\.0\.0\.1:\d+ \(version 0\.11\.6\)"$', ln) for ln in log)
    fetch(ollama_server.url, "/api/tags")
    last = ollama_server.log_path.read_text().splitlines()[-1]
    assert re.match(
        r'^\[GIN\] \d{4}/\d\d/\d\d - \d\d:\d\d:\d\d \| 200 \| +\S+ \| +127\.0\.0\.1 \| GET      "/api/tags"$', last
    )


# --- /v1 (Ollama's OpenAI layer) -----------------------------------------------------------------


def _v1(srv, **kw):
    body = {"model": srv.model, "messages": [{"role": "user", "content": "1, 2, 3,"}], "max_tokens": 6}
    body.update(kw)
    return _post(srv.url, "/v1/chat/completions", body)


def test_v1_stream_chunks_match_real(ollama_server):
    real = load("ollama_v1chat_sse_stream_qwen2.5-0.5b_2024-10.yaml")[0]
    real_chunks = [json.loads(ln[6:]) for ln in real.lines if ln.startswith("data: {")]
    r = _v1(ollama_server, stream=True, stream_options={"include_usage": True}, tool_choice="required")
    assert r.status == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [e for e in r.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert list(chunks[0]) == list(real_chunks[0]) and _types(chunks[0]) == _types(real_chunks[0])
    assert re.fullmatch(r"chatcmpl-\d{1,3}", chunks[0]["id"]) and chunks[0]["system_fingerprint"] == "fp_ollama"
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finals) == 1 and finals[0]["choices"][0]["finish_reason"] in ("stop", "length")
    usage = chunks[-1]
    assert usage["choices"] == [] and set(usage["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_v1_nonstream_and_404_match_real(ollama_server):
    real = load("ollama_v1chat_nonstream_alloptions_prettyprinted_2024-12.yaml")[0]
    real_body = json.loads("".join(real.lines))
    r = _v1(ollama_server)
    assert list(r.json) == list(real_body) and _types(r.json) == _types(real_body)
    assert list(r.json["choices"][0]) == list(real_body["choices"][0])
    assert list(r.json["usage"]) == list(real_body["usage"])
    real404 = load("ollama_v1chat_error404_model_not_found_2024-10.yaml")[0]
    body404 = json.loads(real404.lines[0])
    r = _v1(ollama_server, model="not-found-model")
    assert r.status == real404.status == 404 and r.json == body404


# --- live relay and determinism --------------------------------------------------------------------


def _generation(engine_url: str) -> tuple[float, float]:
    """llama.cpp's own counters: tokens generated and seconds spent generating them."""
    text = fetch(engine_url, "/metrics").text
    values = dict(re.findall(r"^llamacpp:(tokens_predicted_total|tokens_predicted_seconds_total) (\S+)$", text, re.M))
    return float(values["tokens_predicted_total"]), float(values["tokens_predicted_seconds_total"])


@pytest.mark.parametrize("protocol", ["ollama", "openai"])
def test_stream_is_relayed_live(llamacpp_server, ollama_server, protocol):
    seen = {}

    def on_delta(delta):
        if delta.content and "running" not in seen:
            # Is the server still inside its engine call when the client reads the first token?
            seen["running"] = ollama_server.admission.running

    before = _generation(llamacpp_server.url)
    req = ChatRequest(
        model=ollama_server.model,
        messages=[Message(role="user", content="Count from 1 to 30, comma separated.")],
        sampling=Sampling(temperature=0, max_tokens=24),
        stream=True,
    )
    ex = send(Backend(ollama_server.url, protocol, timeouts=SLOW), req, on_delta=on_delta)
    after = _generation(llamacpp_server.url)
    assert ex.error is None and ex.usage.completion_tokens >= 12, (ex.error, ex.usage)
    tokens, seconds = after[0] - before[0], after[1] - before[1]
    assert tokens == ex.usage.completion_tokens  # the counters cover exactly this request
    token_s = seconds / tokens
    t = ex.timings
    assert seen["running"] == 1
    # A buffering relay delivers every chunk at once (first content == end); a live one spreads
    # them over the engine's generation time, ~tokens-1 token times.
    assert t.end - t.first_content > 4 * token_s, (t.end - t.first_content, token_s)
    assert t.ttft_s + 4 * token_s < t.e2e_s


def test_repeated_greedy_requests_agree(ollama_server):
    # With llama.cpp's prompt cache on, the second identical request answered this prompt
    # differently from the first; the server turns it off so old-vs-old repeats agree.
    body = {
        "model": ollama_server.model,
        "stream": False,
        "messages": [{"role": "user", "content": "Write a haiku about the sea."}],
        "options": {"num_predict": 24, "temperature": 0},
    }
    answers = [_post(ollama_server.url, "/api/chat", body).json["message"]["content"] for _ in range(2)]
    assert answers[0] and answers[0] == answers[1], answers


def test_abandoned_request_frees_the_slot(ollama_server):
    # A client that gives up must not keep the only slot (num_parallel=1) busy for the next one.
    import asyncio

    from migrate.protocol import send_async

    req = ChatRequest(
        model=ollama_server.model,
        messages=[Message(role="user", content="Count to 100.")],
        sampling=Sampling(temperature=0, max_tokens=32),
        stream=False,
    )
    log_before = len(ollama_server.log_path.read_text())

    async def give_up():
        task = asyncio.create_task(send_async(Backend(ollama_server.url, "ollama", timeouts=SLOW), req))
        while ollama_server.admission.running == 0 and not task.done():
            await asyncio.sleep(0.005)  # poll the condition "the server holds the slot"
        task.cancel()

    asyncio.run(give_up())
    r = chat(ollama_server, stream=False)
    assert r.status == 200
    assert re.search(r'\| 499 \|.*POST     "/api/chat"', ollama_server.log_path.read_text()[log_before:])


@pytest.mark.parametrize("protocol", ["ollama", "openai"])
def test_tool_call_is_relayed_whole_in_one_chunk(ollama_server, protocol):
    # Content is relayed live, but a call is held until the engine finished it: Ollama's native API
    # sends each call whole in one chunk and its /v1 layer sends it whole in one delta.
    from importlib.resources import files

    body = json.loads(files("migrate.testbed").joinpath("data", "fewshot_tools.json").read_text())
    body.update(model=ollama_server.model, max_tokens=32, stream=True)
    ex = send(Backend(ollama_server.url, protocol, timeouts=SLOW), ChatRequest.from_openai(body))
    assert ex.error is None and len(ex.tool_calls) == 1, (ex.error, ex.content)
    call_deltas = [d for d in ex.deltas if d.tool_name is not None or d.arguments_fragment]
    assert len(call_deltas) == 1 and call_deltas[0].tool_name == "get_weather"
    assert isinstance(ex.tool_calls[0].arguments, dict) and set(ex.tool_calls[0].arguments) == {"city"}
    assert "<tool_call>" not in ex.content
    if protocol == "openai":
        assert json.loads(call_deltas[0].arguments_fragment) == ex.tool_calls[0].arguments
