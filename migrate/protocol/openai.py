"""OpenAI-compatible API (vLLM, SGLang, TGI, llama.cpp, LiteLLM, Ollama's /v1): SSE streaming.

Facts encoded here: ``data:`` events ending with ``data: [DONE]``; the first chunk may carry only the
role (``content`` null or ""); tool-call deltas are merged by ``index`` (id and name first, argument
fragments after); with ``stream_options.include_usage`` a last chunk has empty ``choices`` and
``usage``; reasoning arrives as ``reasoning`` (Ollama /v1, newer vLLM) or ``reasoning_content``.
"""

from __future__ import annotations

import json
from typing import Iterable

from ..exchange import ChatRequest, Delta, Exchange, Message
from . import serverjson
from .base import BaseDecoder, as_dict, as_list, as_str, decode_recorded, error_from_body


def encode_message(m: Message) -> dict:
    """One canonical message in the OpenAI chat format (also what template/token counting must see)."""
    out: dict = {"role": m.role}
    if m.images:
        parts: list[dict] = [{"type": "text", "text": m.content or ""}] if m.content else []
        parts += [
            {"type": "image_url", "image_url": {"url": i if i.startswith("data:") else f"data:image/png;base64,{i}"}}
            for i in m.images
        ]
        out["content"] = parts
    else:
        out["content"] = m.content if m.content is not None else ("" if not m.tool_calls else None)
    if m.tool_calls:
        out["tool_calls"] = [
            {
                "id": tc.id or f"call_{i}",
                "type": "function",
                "function": {
                    "name": tc.name,
                    "arguments": tc.arguments_raw
                    if tc.arguments_encoding == "string" and tc.arguments_raw is not None
                    else json.dumps(tc.arguments or {}),
                },
            }
            for i, tc in enumerate(m.tool_calls)
        ]
    if m.role == "tool":
        if m.tool_call_id:
            out["tool_call_id"] = m.tool_call_id
        if m.name:
            out["name"] = m.name
    return out


def encode(request: ChatRequest) -> tuple[str, dict]:
    s = request.sampling
    body: dict = {"model": request.model}
    if request.endpoint == "generate":
        prompt = request.prompt
        if prompt is None:
            users = [m.content or "" for m in request.messages if m.role == "user"]
            prompt = users[-1] if users else ""
        body["prompt"] = prompt
        path = "/v1/completions"
    else:
        body["messages"] = [encode_message(m) for m in request.messages]
        if request.tools:
            body["tools"] = request.tools
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
        path = "/v1/chat/completions"
    rf = request.response_format
    if rf is not None and rf.type == "json":
        body["response_format"] = {"type": "json_object"}
    elif rf is not None and rf.type == "json_schema":
        spec: dict = {"name": rf.name or "response", "schema": rf.schema or {}}
        if rf.strict is not None:
            spec["strict"] = rf.strict
        body["response_format"] = {"type": "json_schema", "json_schema": spec}
    for key, value in (
        ("temperature", s.temperature),
        ("top_p", s.top_p),
        ("seed", s.seed),
        ("max_tokens", s.max_tokens),
        ("stop", s.stop),
        ("presence_penalty", s.presence_penalty),
        ("frequency_penalty", s.frequency_penalty),
    ):
        if value is not None:
            body[key] = value
    if s.top_k is not None:
        body["top_k"] = s.top_k  # vLLM/SGLang/llama.cpp extension; others ignore it
    body["stream"] = request.stream
    if request.stream and request.include_usage:
        body["stream_options"] = {"include_usage": True}
    body.update(request.extras.get("openai", {}))
    return path, body


def _reasoning(d: dict):
    return as_str(d.get("reasoning")) or as_str(d.get("reasoning_content"))


class Decoder(BaseDecoder):
    def __init__(self, exchange: Exchange, on_delta=None):
        super().__init__(exchange, on_delta)
        self._data: list[str] = []

    # -- SSE framing: "data:" lines accumulate, a blank line dispatches the event --------------
    def feed(self, line: str, t: float) -> None:
        if line.startswith("data:"):
            self._data.append(line[5:].lstrip(" "))
            return
        if line.strip() == "" and self._data:
            self._dispatch(t)
        # comments (":"), event:, id:, retry: carry nothing we need

    def _dispatch(self, t: float) -> None:
        data = "\n".join(self._data)
        self._data = []
        if data.strip() == "[DONE]":
            self.terminated = True
            return
        try:
            chunk = serverjson.loads(data)
        except serverjson.InvalidServerJSON as exc:
            self.fail("invalid_payload", f"SSE event is {exc}")
            return
        except ValueError:
            self.fail("invalid_payload", f"invalid SSE event: {data[:120]}")
            return
        if not isinstance(chunk, dict):
            self.fail("invalid_payload", f"SSE event is not an object: {data[:120]}")
            return
        self._chunk(chunk, t)

    def _chunk(self, chunk: dict, t: float) -> None:
        ex = self.ex
        if "error" in chunk or chunk.get("object") == "error":
            err = error_from_body(ex.status or 200, json.dumps(chunk))
            self.on_delta(Delta(t=t, error=err.message))
            self.fail("mid_stream_error", err.message)
            return
        if as_str(chunk.get("model")) and not ex.model:
            ex.model = chunk["model"]
        if as_str(chunk.get("system_fingerprint")):
            ex.server_extra["system_fingerprint"] = chunk["system_fingerprint"]
        usage = chunk.get("usage")
        has_usage = isinstance(usage, dict)
        if isinstance(usage, dict):
            self.set_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        choices = as_list(chunk.get("choices"))
        if not choices:
            self.on_delta(Delta(t=t, usage=has_usage))
            return
        choice = as_dict(choices[0])
        d = as_dict(choice.get("delta"))
        text = as_str(choice.get("text"))  # /v1/completions streams
        delta = Delta(
            t=t,
            role=as_str(d.get("role")),
            content=as_str(d.get("content")) or text or None,
            reasoning=_reasoning(d) or None,
            finish_reason=as_str(choice.get("finish_reason")),
            usage=has_usage,
        )
        for tc in map(as_dict, as_list(d.get("tool_calls"))):
            fn = as_dict(tc.get("function"))
            index = self.add_tool_fragment(tc.get("index"), tc.get("id"), fn.get("name"), fn.get("arguments"))
            if delta.tool_call_index is None:
                delta.tool_call_index = index
                delta.tool_call_id = as_str(tc.get("id"))
                delta.tool_name = as_str(fn.get("name"))
                delta.arguments_fragment = fn.get("arguments") or None
        self.on_delta(delta)

    def finish(self, t: float) -> None:
        if self._data:  # last event without its blank line
            self._dispatch(t)
        if not self.terminated and self.ex.error is None and self.ex.finish_reason_raw is None:
            self.fail("stream_cut", "stream ended before a finish_reason or [DONE]")
        self.complete(t)

    # -- non-stream -------------------------------------------------------------------------
    def feed_body(self, text: str, t: float) -> None:
        ex = self.ex
        try:
            body = serverjson.loads(text)
        except serverjson.InvalidServerJSON as exc:
            self.fail("invalid_payload", f"response body is {exc}")
            self.complete(t)
            return
        except ValueError:
            self.fail("invalid_payload", f"response body is not JSON: {text[:120]}")
            self.complete(t)
            return
        if not isinstance(body, dict):
            self.fail("invalid_payload", "response body is not a JSON object")
            self.complete(t)
            return
        if "error" in body or body.get("object") == "error":
            err = error_from_body(ex.status or 200, text)
            self.fail("mid_stream_error" if (ex.status or 200) < 400 else err.type, err.message)
            self.complete(t)
            return
        ex.model = as_str(body.get("model"))
        if as_str(body.get("system_fingerprint")):
            ex.server_extra["system_fingerprint"] = body["system_fingerprint"]
        usage = body.get("usage")
        if isinstance(usage, dict):
            self.set_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        choices = as_list(body.get("choices"))
        if not choices:
            self.fail("invalid_payload", "response has no choices")
            self.complete(t)
            return
        choice = as_dict(choices[0])
        msg = as_dict(choice.get("message"))
        content = as_str(msg.get("content") if msg else choice.get("text"))
        if content:
            self._content.append(content)
        if _reasoning(msg):
            self._reasoning.append(_reasoning(msg))
        for i, tc in enumerate(map(as_dict, as_list(msg.get("tool_calls")))):
            fn = as_dict(tc.get("function"))
            self.add_tool_fragment(tc.get("index", i), tc.get("id"), fn.get("name"), fn.get("arguments"))
        ex.finish_reason_raw = as_str(choice.get("finish_reason"))
        ex.timings.chunks.append(t)
        if content or msg.get("tool_calls"):
            ex.timings.first_token = ex.timings.first_content = t
        elif _reasoning(msg):
            ex.timings.first_token = t
        self.complete(t)


def decode_lines(
    lines: Iterable[str], request: ChatRequest | None = None, *, stream: bool = True, status: int = 200
) -> Exchange:
    """Decode recorded SSE lines (or one non-stream body) without a network."""
    return decode_recorded(Decoder, "openai", lines, request, stream=stream, status=status)
