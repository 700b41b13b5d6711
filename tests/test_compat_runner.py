"""The compat runner end to end against a scripted pair of backends on loopback (no engine):
an Ollama-API old side and an OpenAI-API new side with known, deliberate differences, so every
case kind (chat, stream, error, long_context, embeddings, metrics) runs through the real runner,
the real protocol layer and the real checks."""

from __future__ import annotations

import hashlib
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from migrate.compat_suite.config import build_config
from migrate.compat_suite.runner import run_compat

from migrate.report import validate_report

OLD_CONTEXT = 2048  # the Ollama side silently truncates beyond this
NEW_CONTEXT = 4096  # the OpenAI side rejects beyond this with a 400
MODEL = "m"
METRICS = """# HELP vllm:num_requests_waiting Requests waiting.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} 0.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="m"} 0.1
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="m"} 1.0
vllm:time_to_first_token_seconds_count{model_name="m"} 1.0
"""


def _tokens(messages: list) -> int:
    return 10 + sum(len(str(m.get("content") or "")) for m in messages) // 4


def _vector(text: str, dims: int) -> list[float]:
    raw = [b - 127.5 for b in hashlib.sha256(text.encode()).digest()[:dims]]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def _answer(body: dict) -> tuple[str, list]:
    """(content, tool calls) the scripted model gives for a request: the same on both sides."""
    messages = body.get("messages") or []
    last = str((messages[-1] if messages else {}).get("content") or "")
    if body.get("tools"):
        return "", [("get_weather", {"city": "Paris"})]
    if body.get("format") or body.get("response_format"):
        return '{"answer": "yes", "confidence": 9}', []
    if "codes" in last:
        return "The codes are AMBER-4817 and VIOLET-5561.", []
    return "Hello there.", []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        routes = {
            "/api/version": {"version": "0.11.6"},
            "/api/ps": {"models": [{"name": MODEL, "model": MODEL, "context_length": OLD_CONTEXT}]},
            "/v1/models": {"object": "list", "data": [{"id": MODEL, "object": "model", "max_model_len": NEW_CONTEXT}]},
        }
        if self.path == "/metrics":
            self._send(200, METRICS, "text/plain; version=0.0.4")
        elif self.path in routes:
            self._send(200, routes[self.path])
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            if self.path.startswith("/api/"):
                self._send(400, {"error": "invalid character '}' looking for beginning of value"})
            else:
                self._send(500, {"error": {"message": "JSON parse error", "type": "server_error"}})
            return
        if self.path == "/api/show":
            self._send(200, {"capabilities": ["completion", "tools"]})
        elif self.path == "/api/embed":
            self._send(200, {"model": MODEL, "embeddings": [_vector(t, 8) for t in body["input"]]})
        elif self.path == "/v1/embeddings":
            self._send(
                200,
                {
                    "object": "list",
                    "model": MODEL,
                    "data": [
                        {"object": "embedding", "index": i, "embedding": _vector(t, 8)}
                        for i, t in enumerate(body["input"])
                    ],
                },
            )
        elif self.path == "/api/chat":
            self._ollama_chat(body)
        elif self.path == "/v1/chat/completions":
            self._openai_chat(body)
        else:
            self._send(404, {"error": "not found"})

    def _ollama_chat(self, body: dict) -> None:
        if body.get("model") != MODEL:
            self._send(404, {"error": f"model '{body.get('model')}' not found"})
            return
        content, calls = _answer(body)
        prompt = min(_tokens(body["messages"]), OLD_CONTEXT)  # silent truncation
        cap = (body.get("options") or {}).get("num_predict")
        message = {"role": "assistant", "content": content}
        if calls:
            message["tool_calls"] = [{"function": {"name": n, "arguments": a}} for n, a in calls]
        done = {
            "model": MODEL,
            "created_at": "2025-01-01T00:00:00Z",
            "done": True,
            "done_reason": "length" if cap == 1 else "stop",
            "prompt_eval_count": prompt,
            "eval_count": 1 if cap == 1 else 5,
        }
        if not body.get("stream"):
            self._send(200, {**done, "message": message}, "application/json")
            return
        lines = [
            {"model": MODEL, "created_at": "2025-01-01T00:00:00Z", "message": message, "done": False},
            {**done, "message": {"role": "assistant", "content": ""}},
        ]
        self._send(200, "".join(json.dumps(x) + "\n" for x in lines), "application/x-ndjson")

    def _openai_chat(self, body: dict) -> None:
        if body.get("model") != MODEL:
            self._send(
                404,
                {
                    "error": {
                        "message": f"The model `{body.get('model')}` does not exist.",
                        "type": "NotFoundError",
                        "code": 404,
                    }
                },
            )
            return
        prompt = _tokens(body["messages"])
        if prompt > NEW_CONTEXT:
            self._send(
                400,
                {
                    "error": {
                        "message": "This model's maximum context length is 4096 tokens.",
                        "type": "BadRequestError",
                        "code": 400,
                    }
                },
            )
            return
        content, calls = _answer(body)
        cap = body.get("max_tokens")
        finish = "tool_calls" if calls else ("length" if cap == 1 else "stop")
        usage = {"prompt_tokens": prompt, "completion_tokens": 1 if cap == 1 else 5, "total_tokens": prompt + 5}
        wire_calls = [
            {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, (n, a) in enumerate(calls)
        ]
        head = {"id": "chatcmpl-1", "created": 1, "model": MODEL}
        if not body.get("stream"):
            message = {"role": "assistant", "content": content or None}
            if wire_calls:
                message["tool_calls"] = wire_calls
            self._send(
                200,
                {
                    **head,
                    "object": "chat.completion",
                    "usage": usage,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                },
            )
            return
        chunk = {**head, "object": "chat.completion.chunk"}
        deltas = [{"role": "assistant", "content": ""}]
        if content:
            deltas.append({"content": content})
        for i, call in enumerate(wire_calls):
            deltas.append({"tool_calls": [{"index": i, **call}]})
        events = [{**chunk, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
        events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**chunk, "choices": [], "usage": usage})
        text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        self._send(200, text, "text/event-stream")


@pytest.fixture(scope="module")
def backends():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    yield url
    server.shutdown()
    server.server_close()


def _run(url: str, **options) -> dict:
    cfg = build_config(
        from_kind="ollama",
        to_kind="vllm",
        from_url=url,
        to_url=url + "/v1",
        model_spec=MODEL,
        concurrency=4,
        timeout=20.0,
        **options,
    )
    return run_compat(cfg)


def _by_case(report: dict) -> dict:
    return {(c["case"], c["check"]): c for c in report["checks"]}


def test_every_case_kind_runs_and_the_report_keeps_its_contract(backends):
    report = _run(backends, check_metrics=True, embeddings=True)
    validate_report(report)
    got = _by_case(report)
    # chat / stream / defaults: the same scripted answers on both sides
    assert got[("chat.single_turn", "response_structure")]["verdict"] == "pass"
    # error kind: Ollama rejects malformed JSON with a 400, the new side with a 500
    assert got[("errors.malformed_body", "error_contract")]["verdict"] == "regression"
    # long_context kind: the old side silently truncates beyond 2048 tokens, the new one serves it
    assert got[("long_context.needles.110pct", "context_window")]["verdict"] == "improvement"
    # embeddings kind: identical vectors from /api/embed and /v1/embeddings
    emb = got[("embeddings.vectors", "embedding_vectors")]
    assert emb["verdict"] == "pass" and emb["samples"] == {"old": 1, "new": 1}
    assert emb["new"]["dimension"] == 8 and emb["new"]["cosine_to_old_min"] == 1.0
    # metrics kind: scraped after all other traffic, its check last, its block in the report
    assert report["checks"][-1]["check"] == "required_metrics"
    metrics = got[("observability.required_metrics", "required_metrics")]
    assert metrics["verdict"] == "unsupported_new"  # no time_per_output_token family
    assert report["metrics"]["missing"] == ["time_per_output_token"]
    assert report["metrics"]["found"]["waiting_requests"] == "vllm:num_requests_waiting"
    assert report["metrics"]["url"] == backends + "/metrics"
    # latency comes from the chat and stream kinds only
    assert set(report["latency"]) == {c.latency_class for c in _latency_cases()}
    assert report["summary"]["exit_code"] == 1


def _latency_cases():
    from migrate.compat_suite.loader import load_cases

    return [c for c in load_cases() if c.kind in ("chat", "stream")]


def test_unknown_context_makes_context_cases_inconclusive_first(backends, monkeypatch):
    import migrate.compat_suite.runner as runner

    async def unknown(side):
        return None, "unknown"

    monkeypatch.setattr(runner, "learn_context", unknown)
    report = _run(backends, only=["long_context", "errors"])
    validate_report(report)
    first = report["checks"][0]
    assert first["verdict"] == "inconclusive" and "--old-context" in first["detail"]
    needing = {c["case"] for c in report["checks"] if "--old-context" in c["detail"]}
    assert needing == {"long_context.needles", "errors.over_length_prompt"}
    # the cases that need no context still ran
    assert _by_case(report)[("errors.unknown_model", "error_contract")]["verdict"] != "inconclusive"


def test_an_embedding_model_runs_only_the_cases_for_embedding_models(backends, monkeypatch):
    import migrate.compat_suite.runner as runner

    async def embedding_only(side):
        return True

    monkeypatch.setattr(runner, "is_embedding_model", embedding_only)
    report = _run(backends, check_metrics=True)
    validate_report(report)
    assert [(c["case"], c["verdict"]) for c in report["checks"]] == [
        ("embeddings.vectors", "pass"),
        ("observability.required_metrics", "unsupported_new"),
    ]
    assert report["latency"] == {}
