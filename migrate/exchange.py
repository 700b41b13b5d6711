"""The canonical exchange model: one request shape and one result shape for every backend.

Every command (send, inventory --capture, compat, canary, bench) consumes these types and nothing
else; only ``migrate.protocol`` turns wire bytes (Ollama NDJSON, OpenAI-compatible SSE) into them.

Plain ``dataclasses`` rather than pydantic: the model is a passive record that adapters fill in
incrementally while a stream arrives, it must serialise to JSON for reports and captures without
surprises, and it adds no runtime dependency. Validation of *inputs* (user files, reports) is done
with JSON Schema at the edges, where the error messages can point at the user's file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Optional

FINISH_REASONS = ("stop", "length", "tool_calls", "error", "other")
FinishReason = Literal["stop", "length", "tool_calls", "error", "other"]

# Normalised error types. Transport faults are produced by the client, HTTP/API errors by the
# adapters; the set is closed so reports and exit codes can rely on it.
ERROR_TYPES = (
    "connection_refused",  # nothing listening / DNS failure
    "connect_timeout",  # TCP/TLS connect took too long
    "read_timeout",  # no response headers / first byte in time
    "stall",  # stream started, then no bytes for the stall timeout
    "timeout",  # total deadline exceeded
    "stream_cut",  # connection closed before the stream's terminator
    "invalid_payload",  # a body, NDJSON line or SSE event that is not valid JSON / not the expected shape
    "bad_request",  # HTTP 400/422
    "auth",  # HTTP 401/403
    "not_found",  # HTTP 404 (unknown model or route)
    "rate_limited",  # HTTP 429
    "overloaded",  # HTTP 503 (e.g. Ollama queue full)
    "server_error",  # other HTTP 5xx
    "http_error",  # any other non-2xx
    "mid_stream_error",  # HTTP 200, then an error object inside the stream
    "transport",  # any other transport failure
    "invalid_url",  # not an http(s) server root (never sent)
    "too_large",  # the body exceeded the client's read cap; the rest was not read
)


def normalise_finish_reason(raw: Optional[str]) -> FinishReason:
    """Map every engine's finish/done reason onto the small closed set used for comparisons."""
    if raw is None:
        return "other"
    value = str(raw).lower()
    if value in ("stop", "eos", "end_turn", "stop_sequence", "eos_token"):
        return "stop"
    if value in ("length", "max_tokens", "model_length"):
        return "length"
    if value in ("tool_calls", "function_call", "tool_use"):
        return "tool_calls"
    if value in ("error", "abort", "cancelled"):
        return "error"
    return "other"


@dataclass
class ToolCall:
    """One tool call. ``arguments`` is always the parsed value; how it travelled is kept apart."""

    name: str
    arguments: Any = None
    id: Optional[str] = None
    index: Optional[int] = None
    # "object" (Ollama native) or "string" (OpenAI wire format); a difference here is an encoding
    # detail, not a behaviour difference, so comparisons use ``arguments``.
    arguments_encoding: Literal["object", "string"] = "object"
    arguments_raw: Optional[str] = None  # the JSON string as sent, when encoding is "string"
    arguments_valid: bool = True  # False when the string did not parse as JSON

    @classmethod
    def from_wire(
        cls, name: str, arguments: Any, *, id: Optional[str] = None, index: Optional[int] = None
    ) -> "ToolCall":
        if isinstance(arguments, str):
            raw = arguments
            try:
                parsed: Any = json.loads(raw) if raw.strip() else {}
                valid = True
            except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; deep nesting recurses
                parsed, valid = None, False
            return cls(
                name=name,
                arguments=parsed,
                id=id,
                index=index,
                arguments_encoding="string",
                arguments_raw=raw,
                arguments_valid=valid,
            )
        return cls(
            name=name,
            arguments=arguments if arguments is not None else {},
            id=id,
            index=index,
            arguments_encoding="object",
        )


@dataclass
class Message:
    role: str  # system | user | assistant | tool
    content: Optional[str] = None
    images: list[str] = field(default_factory=list)  # base64 payloads or data: URIs
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: Optional[str] = None  # on role=tool: the call it answers
    name: Optional[str] = None  # on role=tool: the tool's name (Ollama tool_name)
    reasoning: Optional[str] = None


@dataclass
class ResponseFormat:
    type: Literal["text", "json", "json_schema"] = "text"
    schema: Optional[dict] = None
    name: Optional[str] = None
    strict: Optional[bool] = None


@dataclass
class Sampling:
    temperature: Optional[float] = None
    top_p: Optional[float] = None
    top_k: Optional[int] = None
    seed: Optional[int] = None
    max_tokens: Optional[int] = None
    stop: Optional[list[str]] = None
    presence_penalty: Optional[float] = None
    frequency_penalty: Optional[float] = None


@dataclass
class ChatRequest:
    """What the application asked for, independent of the wire protocol.

    ``endpoint`` "generate" means Ollama ``/api/generate`` (prompt + optional system); other
    protocols treat it as a single-user-turn chat. ``extras`` keeps backend-specific knobs apart,
    keyed by protocol: ``{"ollama": {"options": {"num_ctx": 8192}, "keep_alive": "5m"},
    "openai": {"chat_template_kwargs": {...}}}``; each adapter merges only its own key.
    """

    model: str
    messages: list[Message] = field(default_factory=list)
    tools: list[dict] = field(default_factory=list)  # OpenAI function-tool specs
    tool_choice: Optional[Any] = None  # "auto" | "none" | "required" | {"type":"function",...}
    response_format: Optional[ResponseFormat] = None
    sampling: Sampling = field(default_factory=Sampling)
    stream: bool = False
    include_usage: bool = True  # stream_options.include_usage (OpenAI SSE)
    endpoint: Literal["chat", "generate"] = "chat"
    prompt: Optional[str] = None  # for endpoint=generate
    system: Optional[str] = None  # for endpoint=generate
    extras: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def from_openai(cls, body: dict) -> "ChatRequest":
        """Build from an OpenAI chat-completions body (the ``--request FILE`` format)."""
        if not isinstance(body, dict):
            raise ValueError("request body must be a JSON object")
        if not isinstance(body.get("messages", []), list):
            raise ValueError("'messages' must be a list")
        messages = [_message_from_openai(m) for m in body.get("messages", [])]
        rf = body.get("response_format")
        response_format = None
        if isinstance(rf, dict):
            kind = rf.get("type")
            if kind == "json_object":
                response_format = ResponseFormat(type="json")
            elif kind == "json_schema":
                spec = rf.get("json_schema") or {}
                response_format = ResponseFormat(
                    type="json_schema", schema=spec.get("schema"), name=spec.get("name"), strict=spec.get("strict")
                )
            elif kind == "text":
                response_format = ResponseFormat(type="text")
        stop = body.get("stop")
        if isinstance(stop, str):
            stop = [stop]
        max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
        sampling = Sampling(
            temperature=body.get("temperature"),
            top_p=body.get("top_p"),
            top_k=body.get("top_k"),
            seed=body.get("seed"),
            max_tokens=max_tokens,
            stop=stop,
            presence_penalty=body.get("presence_penalty"),
            frequency_penalty=body.get("frequency_penalty"),
        )
        known = {
            "model",
            "messages",
            "tools",
            "tool_choice",
            "response_format",
            "temperature",
            "top_p",
            "top_k",
            "seed",
            "max_tokens",
            "max_completion_tokens",
            "stop",
            "presence_penalty",
            "frequency_penalty",
            "stream",
            "stream_options",
        }
        extra_openai = {k: v for k, v in body.items() if k not in known}
        stream_options = body.get("stream_options") or {}
        return cls(
            model=str(body.get("model", "")),
            messages=messages,
            tools=list(body.get("tools") or []),
            tool_choice=body.get("tool_choice"),
            response_format=response_format,
            sampling=sampling,
            stream=bool(body.get("stream", False)),
            include_usage=bool(stream_options.get("include_usage", True)),
            extras={"openai": extra_openai} if extra_openai else {},
        )

    def to_dict(self) -> dict:
        return _drop_none(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "ChatRequest":
        data = dict(data)
        data["messages"] = [
            Message(**{**m, "tool_calls": [ToolCall(**tc) for tc in m.get("tool_calls", [])]})
            for m in data.get("messages", [])
        ]
        if data.get("response_format"):
            data["response_format"] = ResponseFormat(**data["response_format"])
        data["sampling"] = Sampling(**data.get("sampling", {}))
        return cls(**_known(cls, data))


def _message_from_openai(m: dict) -> Message:
    if not isinstance(m, dict) or "role" not in m:
        raise ValueError("each message needs a 'role'")
    content = m.get("content")
    images: list[str] = []
    if isinstance(content, list):  # content parts: keep text, collect images
        texts = []
        for part in content:
            if part.get("type") == "text":
                texts.append(part.get("text", ""))
            elif part.get("type") == "image_url":
                url = part.get("image_url")
                value = url.get("url") if isinstance(url, dict) else url
                if isinstance(value, str):  # a part without a URL carries no image
                    images.append(value)
        content = "".join(texts)
    calls = [
        ToolCall.from_wire(
            tc.get("function", {}).get("name", ""), tc.get("function", {}).get("arguments"), id=tc.get("id"), index=i
        )
        for i, tc in enumerate(m.get("tool_calls") or [])
    ]
    return Message(
        role=str(m["role"]).lower(),
        content=content,
        images=images,
        tool_calls=calls,
        tool_call_id=m.get("tool_call_id"),
        name=m.get("name") or m.get("tool_name"),
        reasoning=m.get("reasoning") or m.get("reasoning_content") or m.get("thinking"),
    )


@dataclass
class Usage:
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    reported: bool = False  # False: the server sent no usage (we never invent counts)


@dataclass
class ErrorInfo:
    type: str  # one of ERROR_TYPES
    message: str
    status: Optional[int] = None  # HTTP status when there was one
    raw_type: Optional[str] = None  # the server's own error type/code string, if any


@dataclass
class Delta:
    """One stream event as the adapter understood it (kept for streaming-invariant checks)."""

    t: float  # monotonic arrival time
    role: Optional[str] = None
    content: Optional[str] = None
    reasoning: Optional[str] = None
    tool_call_index: Optional[int] = None
    tool_call_id: Optional[str] = None
    tool_name: Optional[str] = None
    arguments_fragment: Optional[str] = None
    finish_reason: Optional[str] = None
    usage: bool = False  # this event carried usage
    error: Optional[str] = None

    @property
    def is_token(self) -> bool:
        """A role-only or empty delta is not a token."""
        return bool(self.content) or bool(self.reasoning) or self.tool_name is not None or bool(self.arguments_fragment)


@dataclass
class Timings:
    """Monotonic clock readings (``time.perf_counter``) and the metrics derived from them."""

    scheduled: Optional[float] = None  # when the caller meant to send (queueing is counted from here)
    sent: Optional[float] = None  # handed to the HTTP client
    connecting: Optional[float] = None  # a new connection was opened for it (None: a kept-alive one)
    written: Optional[float] = None  # its body (the last part of it) was handed to the socket
    first_byte: Optional[float] = None
    first_token: Optional[float] = None  # first token of any channel (content, reasoning, tools)
    first_content: Optional[float] = None  # first content or tool-call token
    # The last frame carrying text, reasoning or a tool call; a finish-only, usage or [DONE] frame after
    # it is not an output token, so it must not stretch TPOT.
    last_token: Optional[float] = None
    chunks: list[float] = field(default_factory=list)
    end: Optional[float] = None
    output_tokens: Optional[int] = None  # usage.completion_tokens when reported

    @property
    def start(self) -> Optional[float]:
        return self.scheduled if self.scheduled is not None else self.sent

    @property
    def ttft_s(self) -> Optional[float]:
        if self.start is None or self.first_content is None:
            return None
        return self.first_content - self.start

    @property
    def wire(self) -> Optional[float]:
        """When the request went on the network: its connect when it opened one, else its last byte written."""
        return self.connecting if self.connecting is not None else self.written

    @property
    def e2e_s(self) -> Optional[float]:
        if self.start is None or self.end is None:
            return None
        return self.end - self.start

    @property
    def tpot_s(self) -> Optional[float]:
        """Time per output token after the first: (last token - first token) / (tokens - 1).

        Both ends are token-carrying frames (any channel: reasoning tokens are output tokens too), so a
        trailing finish, usage or [DONE] frame never stretches it. ``tokens`` is the server's count when
        it reported one; without it (compat only: the bench requires the count) one chunk ~ one token."""
        first = self.first_token if self.first_token is not None else self.first_content
        if first is None or self.last_token is None:
            return None
        n = self.output_tokens
        if n is None:
            n = len(self.chunks)
        if not n or n < 2 or self.last_token <= first:
            return None  # non-stream answers arrive at once: no per-token timing exists
        return (self.last_token - first) / (n - 1)

    def summary(self) -> dict:
        return {"ttft_s": _r(self.ttft_s), "tpot_s": _r(self.tpot_s), "e2e_s": _r(self.e2e_s)}


@dataclass
class Transcript:
    """What went over the wire, for reports. Secrets never enter it (see protocol.client)."""

    method: str = "POST"
    url: str = ""
    request_body: Any = None
    status: Optional[int] = None
    headers: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)  # body lines (NDJSON lines, SSE lines, or the body)


@dataclass
class Exchange:
    """One request and everything observed about its answer."""

    request: ChatRequest
    protocol: str = ""  # "ollama" | "openai"
    url: str = ""  # server root
    status: Optional[int] = None
    content: str = ""
    reasoning: Optional[str] = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: FinishReason = "other"
    finish_reason_raw: Optional[str] = None
    usage: Usage = field(default_factory=Usage)
    error: Optional[ErrorInfo] = None
    model: Optional[str] = None  # the model name the server reported
    timings: Timings = field(default_factory=Timings)
    deltas: list[Delta] = field(default_factory=list)  # stream events (empty for non-stream)
    transcript: Transcript = field(default_factory=Transcript)
    server_extra: dict = field(default_factory=dict)  # e.g. Ollama ns durations, system_fingerprint
    # What was kept clipped ("content", "reasoning", "transcript"): the caps of migrate.protocol.client.
    truncated: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def result_dict(self) -> dict:
        """The compact JSON shape printed by ``migrate send --json``."""
        return {
            "content": self.content,
            "reasoning": self.reasoning,
            "tool_calls": [
                {"id": tc.id, "name": tc.name, "arguments": tc.arguments, "arguments_encoding": tc.arguments_encoding}
                for tc in self.tool_calls
            ],
            "finish_reason": self.finish_reason,
            "finish_reason_raw": self.finish_reason_raw,
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "reported": self.usage.reported,
            },
            "status": self.status,
            "error": asdict(self.error) if self.error else None,
            "model": self.model,
            "timings": self.timings.summary(),
            "truncated": list(self.truncated),
        }

    def to_dict(self) -> dict:
        """Full record (one line of a ``--capture`` JSONL file)."""
        d = asdict(self)
        d["timings"].update(self.timings.summary())
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "Exchange":
        data = dict(data)
        data["request"] = ChatRequest.from_dict(data.get("request") or {"model": ""})
        data["tool_calls"] = [ToolCall(**tc) for tc in data.get("tool_calls", [])]
        data["usage"] = Usage(**data.get("usage", {}))
        if data.get("error"):
            data["error"] = ErrorInfo(**data["error"])
        data["timings"] = Timings(**_known(Timings, data.get("timings", {})))
        data["deltas"] = [Delta(**d) for d in data.get("deltas", [])]
        data["transcript"] = Transcript(**data.get("transcript", {}))
        return cls(**_known(cls, data))


def _known(cls, data: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _r(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(x, 6)
