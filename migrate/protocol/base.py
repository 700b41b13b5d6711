"""What both wire adapters share: filling an ``Exchange`` from decoded events, and its clocks."""

from __future__ import annotations

import json
from typing import Any, Optional

from ..exchange import Delta, ErrorInfo, Exchange, ToolCall, normalise_finish_reason
from . import serverjson


# A server's JSON may hold anything anywhere: the decoders read every field through these, so a value
# of the wrong type counts as absent instead of crashing the decoder.
def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def as_count(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def status_error_type(status: int) -> str:
    if status in (400, 422):
        return "bad_request"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status == 429:
        return "rate_limited"
    if status == 503:
        return "overloaded"
    if status >= 500:
        return "server_error"
    return "http_error"


def error_from_body(status: int, text: str) -> ErrorInfo:
    """Every server's error body onto one shape: Ollama ``{"error": "..."}``, OpenAI
    ``{"error": {"message", "type"}}``, vLLM's flat ``{"object": "error", "message", "type"}``,
    TGI ``{"error": "...", "error_type": "..."}``, or a non-JSON body."""
    message, raw_type = None, None
    try:
        data = serverjson.loads(text) if text.strip() else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            message = err.get("message")
            raw_type = as_str(err.get("type")) or (str(err["code"]) if err.get("code") is not None else None)
        elif isinstance(err, str):
            message = err
            raw_type = as_str(data.get("error_type"))
        elif data.get("object") == "error" or "message" in data:
            message = data.get("message")
            raw_type = as_str(data.get("type"))
        elif "detail" in data:  # FastAPI-style validation errors
            message = json.dumps(data["detail"])[:300]
    if message is None:
        message = " ".join(text.split())[:300] or f"HTTP {status}"
    return ErrorInfo(type=status_error_type(status), message=str(message), status=status, raw_type=raw_type)


class BaseDecoder:
    """Accumulates decoded events into an Exchange. Subclasses parse the wire format only."""

    def __init__(self, exchange: Exchange, on_delta=None):
        self.ex = exchange
        self.listener = on_delta  # called with each Delta as it arrives (relays, progress)
        self._content: list[str] = []
        self._reasoning: list[str] = []
        # index -> [id, name, [argument fragments or a whole object]]
        self._calls: dict[int, list] = {}
        self._finished = False
        self.terminated = False  # the wire format's own end marker was seen

    # -- events -----------------------------------------------------------------------------
    def on_delta(self, delta: Delta) -> None:
        """Record one stream event and advance the clocks (a role-only/empty delta is no token)."""
        ex, t = self.ex, self.ex.timings
        ex.deltas.append(delta)
        t.chunks.append(delta.t)
        if self.listener is not None:
            self.listener(delta)
        if delta.content:
            self._content.append(delta.content)
        if delta.reasoning:
            self._reasoning.append(delta.reasoning)
        if delta.is_token:
            t.last_token = delta.t
            if t.first_token is None:
                t.first_token = delta.t
        if (delta.content or delta.tool_name is not None or delta.arguments_fragment) and t.first_content is None:
            t.first_content = delta.t
        if delta.finish_reason is not None:
            ex.finish_reason_raw = delta.finish_reason

    def add_tool_fragment(self, index: Any, call_id: Any, name: Any, arguments) -> int:
        """Merge a tool-call delta by index: id/name arrive first, argument fragments after."""
        index, call_id, name = as_count(index), as_str(call_id), as_str(name)
        if index is None:
            # No index on the wire: a new id (or the first call) opens a call, otherwise append.
            if not self._calls or (call_id and self._calls[max(self._calls)][0] not in (None, call_id)):
                index = len(self._calls)
            else:
                index = max(self._calls)
        slot = self._calls.setdefault(index, [None, None, []])
        if call_id:
            slot[0] = call_id
        if name and not slot[1]:
            slot[1] = name  # names arrive whole; some servers repeat them in later deltas
        if arguments is not None and arguments != "":
            slot[2].append(arguments)
        return index

    def set_usage(self, prompt_tokens: Any, completion_tokens: Any) -> None:
        prompt_tokens, completion_tokens = as_count(prompt_tokens), as_count(completion_tokens)
        u = self.ex.usage
        u.prompt_tokens = prompt_tokens
        u.completion_tokens = completion_tokens
        u.reported = prompt_tokens is not None or completion_tokens is not None

    def fail(self, type_: str, message: str) -> None:
        if self.ex.error is None:
            self.ex.error = ErrorInfo(type_, message, self.ex.status)

    # -- end --------------------------------------------------------------------------------
    def _tool_calls(self) -> list[ToolCall]:
        calls = []
        for index in sorted(self._calls):
            call_id, name, parts = self._calls[index]
            if len(parts) == 1 and not isinstance(parts[0], str):
                arguments = parts[0]  # a whole object (Ollama native)
            elif all(isinstance(p, str) for p in parts):
                arguments = "".join(parts)  # fragments of a JSON string
            else:
                arguments = parts[-1]
            calls.append(_tool_call(name or "", arguments, call_id, index))
        return calls

    def complete(self, end: float) -> None:
        """Fold accumulated pieces into the Exchange (idempotent)."""
        if self._finished:
            return
        self._finished = True
        ex = self.ex
        ex.content = "".join(self._content)
        if self._reasoning:
            ex.reasoning = "".join(self._reasoning)
        ex.tool_calls = self._tool_calls()
        if ex.timings.end is None:
            ex.timings.end = end
        if ex.usage.reported and ex.usage.completion_tokens is not None:
            ex.timings.output_tokens = ex.usage.completion_tokens
        if ex.error is not None:
            ex.finish_reason = "error"
        else:
            ex.finish_reason = normalise_finish_reason(ex.finish_reason_raw)

    def abort(self) -> None:
        """The transport failed: keep what arrived, mark the result as an error."""
        self.complete(self.ex.timings.end or 0.0)
        self.ex.finish_reason = "error"


def _tool_call(name: str, arguments, call_id: Optional[str], index: int) -> ToolCall:
    """``ToolCall.from_wire``, with an argument string decoded as server JSON (too deep: invalid)."""
    if not isinstance(arguments, str):
        return ToolCall.from_wire(name, arguments, id=call_id, index=index)
    try:
        parsed, valid = (serverjson.loads(arguments) if arguments.strip() else {}), True
    except ValueError:
        parsed, valid = None, False
    return ToolCall(
        name=name,
        arguments=parsed,
        id=call_id,
        index=index,
        arguments_encoding="string",
        arguments_raw=arguments,
        arguments_valid=valid,
    )


def decode_recorded(
    decoder_cls, protocol: str, lines, request=None, *, stream: bool = True, status: int = 200
) -> Exchange:
    """Decode recorded body lines without a network; line i is stamped at time i."""
    from ..exchange import ChatRequest

    ex = Exchange(request=request or ChatRequest(model=""), protocol=protocol, status=status)
    decoder = decoder_cls(ex)
    lines = list(lines)
    if status >= 400:
        ex.error = error_from_body(status, "\n".join(lines))
        decoder.complete(0.0)
    elif stream:
        for i, line in enumerate(lines):
            decoder.feed(line, float(i))
        decoder.finish(float(len(lines)))
    else:
        decoder.feed_body("\n".join(lines), 0.0)
    ex.transcript.lines = lines
    return ex
