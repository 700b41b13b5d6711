"""Ollama's native API: ``/api/chat`` and ``/api/generate``, NDJSON streaming.

Facts encoded here (see shared/reference/ollama.md §1): one JSON object per line; the last has
``done: true`` with ``done_reason`` and nanosecond durations; tool-call arguments are JSON objects and
arrive whole; an error after HTTP 200 is a final ``{"error": "..."}`` line; the native API reports
``done_reason: "stop"`` after a tool call (only the OpenAI layer rewrites it to ``tool_calls``).
"""

from __future__ import annotations

from typing import Iterable

from ..exchange import ChatRequest, Delta, Exchange, Message
from . import serverjson
from .base import BaseDecoder, as_count, as_dict, as_list, as_str, decode_recorded

_DURATIONS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")


def _strip_data_uri(image: str) -> str:
    # Ollama wants bare base64; OpenAI clients send data: URIs.
    return image.split(",", 1)[1] if image.startswith("data:") and "," in image else image


def _message(m: Message) -> dict:
    out: dict = {"role": m.role, "content": m.content or ""}
    if m.images:
        out["images"] = [_strip_data_uri(i) for i in m.images]
    if m.tool_calls:
        out["tool_calls"] = [
            {"function": {"name": tc.name, "arguments": tc.arguments if tc.arguments is not None else {}}}
            for tc in m.tool_calls
        ]
    if m.role == "tool" and m.name:
        out["tool_name"] = m.name
    if m.reasoning:
        out["thinking"] = m.reasoning
    return out


def _options(request: ChatRequest) -> dict:
    s = request.sampling
    options = {
        k: v
        for k, v in {
            "temperature": s.temperature,
            "top_p": s.top_p,
            "top_k": s.top_k,
            "seed": s.seed,
            "num_predict": s.max_tokens,
            "stop": s.stop,
            "presence_penalty": s.presence_penalty,
            "frequency_penalty": s.frequency_penalty,
        }.items()
        if v is not None
    }
    options.update(request.extras.get("ollama", {}).get("options", {}))
    return options


def encode(request: ChatRequest) -> tuple[str, dict]:
    """Canonical request -> (path, body) for the native API."""
    extras = {k: v for k, v in request.extras.get("ollama", {}).items() if k != "options"}
    body: dict = {"model": request.model}
    if request.endpoint == "generate":
        prompt = request.prompt
        if prompt is None:
            users = [m.content or "" for m in request.messages if m.role == "user"]
            prompt = users[-1] if users else ""
        body["prompt"] = prompt
        system = request.system or next((m.content for m in request.messages if m.role == "system"), None)
        if system:
            body["system"] = system
        path = "/api/generate"
    else:
        body["messages"] = [_message(m) for m in request.messages]
        if request.tools:
            body["tools"] = request.tools
        path = "/api/chat"
    rf = request.response_format
    if rf is not None and rf.type == "json":
        body["format"] = "json"
    elif rf is not None and rf.type == "json_schema":
        body["format"] = rf.schema or {}
    options = _options(request)
    if options:
        body["options"] = options
    body["stream"] = request.stream  # Ollama streams by default: always say which
    body.update(extras)  # keep_alive, think, raw, context, ...
    return path, body


class Decoder(BaseDecoder):
    def __init__(self, exchange: Exchange, on_delta=None):
        super().__init__(exchange, on_delta)

    def _object(self, obj: dict, t: float) -> None:
        ex = self.ex
        if "error" in obj:
            # HTTP was 200 already: the error arrives as the last line of the stream.
            self.on_delta(Delta(t=t, error=str(obj["error"])))
            self.fail("mid_stream_error", str(obj["error"]))
            self.terminated = True
            return
        if as_str(obj.get("model")) and not ex.model:
            ex.model = obj["model"]
        msg = as_dict(obj.get("message"))
        content = as_str(msg.get("content") if msg else obj.get("response"))
        reasoning = as_str(msg.get("thinking") if msg else obj.get("thinking"))
        calls = as_list(msg.get("tool_calls")) or as_list(obj.get("tool_calls"))
        first_call = None
        for tc in map(as_dict, calls):
            fn = as_dict(tc.get("function"))
            index = self.add_tool_fragment(
                fn.get("index", len(self._calls)), tc.get("id"), fn.get("name"), fn.get("arguments", {})
            )
            if first_call is None:
                first_call = (index, as_str(tc.get("id")), as_str(fn.get("name")))
        delta = Delta(
            t=t,
            role=as_str(msg.get("role")),
            content=content or None,
            reasoning=reasoning or None,
            tool_call_index=first_call[0] if first_call else None,
            tool_call_id=first_call[1] if first_call else None,
            tool_name=first_call[2] if first_call else None,
        )
        if obj.get("done"):
            self.terminated = True
            delta.finish_reason = as_str(obj.get("done_reason")) or "stop"
            if "prompt_eval_count" in obj or "eval_count" in obj:
                delta.usage = True
                self.set_usage(obj.get("prompt_eval_count"), obj.get("eval_count"))
            for key in _DURATIONS:
                if as_count(obj.get(key)) is not None:
                    ex.server_extra[key] = obj[key]
            if "context" in obj:
                ex.server_extra["context_tokens"] = len(as_list(obj.get("context")))
        self.on_delta(delta)

    def feed(self, line: str, t: float) -> None:
        line = line.strip()
        if not line:
            return
        try:
            obj = serverjson.loads(line)
        except serverjson.InvalidServerJSON as exc:
            self.fail("invalid_payload", f"NDJSON line is {exc}")
            return
        except ValueError:
            self.fail("invalid_payload", f"invalid NDJSON line: {line[:120]}")
            return
        if not isinstance(obj, dict):
            self.fail("invalid_payload", f"NDJSON line is not an object: {line[:120]}")
            return
        self._object(obj, t)

    def finish(self, t: float) -> None:
        if not self.terminated and self.ex.error is None:
            self.fail("stream_cut", "stream ended without a done:true line")
        self._finalise(t)

    def feed_body(self, text: str, t: float) -> None:
        try:
            obj = serverjson.loads(text)
        except serverjson.InvalidServerJSON as exc:
            self.fail("invalid_payload", f"response body is {exc}")
            self._finalise(t)
            return
        except ValueError:
            # A server that streamed although stream=false was asked: decode it as lines.
            for line in text.splitlines():
                self.feed(line, t)
            self.finish(t)
            return
        if not isinstance(obj, dict):
            self.fail("invalid_payload", "response body is not a JSON object")
        else:
            self._object(obj, t)
            if not self.terminated and self.ex.error is None:
                self.fail("invalid_payload", "response has no done:true")
        self.ex.deltas.clear()  # non-stream: no stream events to check
        self._finalise(t)

    def _finalise(self, t: float) -> None:
        self.complete(t)
        ex = self.ex
        # Native Ollama says "stop" after a tool call; compare it as the tool_calls it is.
        if ex.error is None and ex.tool_calls and ex.finish_reason == "stop":
            ex.finish_reason = "tool_calls"


def decode_lines(
    lines: Iterable[str], request: ChatRequest | None = None, *, stream: bool = True, status: int = 200
) -> Exchange:
    """Decode recorded NDJSON lines (or one non-stream body) without a network."""
    return decode_recorded(Decoder, "ollama", lines, request, stream=stream, status=status)
