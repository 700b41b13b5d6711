"""Extract request/response bodies from the real recordings in ``tests/fixtures/realdata/``.

Formats handled (see tests/fixtures/realdata/INDEX.md):
- vcrpy YAML cassettes (``*.yaml``): ``response.body.string`` (streams are stored as one YAML string
  whose NDJSON/SSE lines YAML folds with blank lines; ``yaml.safe_load`` undoes the folding), or
  pydantic-ai's re-serialised ``parsed_body``;
- httprr traces (``*.httprr``, tmc/langchaingo): ``httprr trace v1`` then, per exchange, a
  ``<request bytes> <response bytes>`` line followed by the raw HTTP request and response; bodies
  may use chunked transfer encoding;
- TGI syrupy snapshots (``tgi_*.json``): one chat.completion object, or a list of chunk objects;
- Markdown/text captures (attogram demos, curl -v transcripts, notes): every JSON value embedded in
  the text is found with a raw decoder (pretty-printed or one-line, ``data:``-prefixed or not);
  response objects are grouped into exchanges by shape (Ollama ``done`` sequences, OpenAI chunks
  by ``id``); literal newlines inside strings (an artefact of shell echo in the debug demos) are
  accepted.

This is test support code: it only reads files and never touches the network.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import realdata_dir


@dataclass
class Recorded:
    """One recorded exchange: what was asked and the response body as it went over the wire."""

    file: str
    index: int
    path: str  # request path (e.g. /api/chat), "" when unknown
    request: Any = None  # parsed request body (dict) when recorded
    status: int = 200
    headers: dict = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)  # body lines: NDJSON lines, SSE lines, or one body
    stream: bool = False  # lines are a stream (NDJSON/SSE), not one JSON body
    protocol: str = ""  # "ollama" | "openai"


# ------------------------------------------------------------------------------------------------
# generic helpers
# ------------------------------------------------------------------------------------------------


def _protocol_for_path(path: str) -> str:
    return "ollama" if path.startswith("/api/") else "openai"


def _split_body(body: str, content_type: str, request: Any) -> tuple[list[str], bool]:
    """Body text -> (lines, stream?) using the content type, then the request's stream flag."""
    ct = (content_type or "").lower()
    if "event-stream" in ct or body.lstrip().startswith("data:"):
        return body.split("\n"), True
    if "ndjson" in ct:
        return [ln for ln in body.split("\n") if ln.strip()], True
    stripped = body.strip()
    try:
        json.loads(stripped)
        return [stripped], False
    except json.JSONDecodeError:
        pass
    # Several JSON lines without an NDJSON content type (older servers / cassette headers lost).
    return [ln for ln in body.split("\n") if ln.strip()], True


def _dechunk(raw: bytes) -> bytes:
    """Undo HTTP/1.1 chunked transfer encoding."""
    out, pos = bytearray(), 0
    while pos < len(raw):
        eol = raw.find(b"\r\n", pos)
        if eol < 0:
            break
        size = int(raw[pos:eol].split(b";")[0].strip() or b"0", 16)
        pos = eol + 2
        if size == 0:
            break
        out += raw[pos : pos + size]
        pos += size + 2  # chunk data is followed by CRLF
    return bytes(out)


def _parse_http(raw: bytes) -> tuple[str, dict, bytes]:
    """Raw HTTP message -> (start line, headers (lower-case keys), body bytes)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, _, body = raw.partition(b"\n\n")
    lines = head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    return lines[0], headers, body


# ------------------------------------------------------------------------------------------------
# httprr
# ------------------------------------------------------------------------------------------------


def load_httprr(path: Path) -> list[Recorded]:
    data = path.read_bytes()
    header = b"httprr trace v1\n"
    if not data.startswith(header):
        raise ValueError(f"{path.name}: not an httprr v1 trace")
    pos, out = len(header), []
    while pos < len(data):
        eol = data.index(b"\n", pos)
        req_len, resp_len = (int(x) for x in data[pos:eol].split())
        pos = eol + 1
        req_raw, pos = data[pos : pos + req_len], pos + req_len
        resp_raw, pos = data[pos : pos + resp_len], pos + resp_len
        start, _, req_body = _parse_http(req_raw)
        method, url = start.split(" ")[:2]
        req_path = "/" + url.split("://", 1)[-1].split("/", 1)[-1] if "://" in url else url
        status_line, headers, body = _parse_http(resp_raw)
        status = int(status_line.split(" ")[1])
        try:
            request = json.loads(req_body) if req_body.strip() else None
        except json.JSONDecodeError:
            request = req_body.decode("utf-8", "replace")
        text = body.decode("utf-8")
        lines, stream = _split_body(text, headers.get("content-type", ""), request)
        out.append(
            Recorded(
                path.name, len(out), req_path, request, status, headers, lines, stream, _protocol_for_path(req_path)
            )
        )
    return out


# ------------------------------------------------------------------------------------------------
# vcrpy YAML
# ------------------------------------------------------------------------------------------------


def _vcr_headers(h: Any) -> dict:
    out = {}
    for k, v in (h or {}).items():
        out[str(k).lower()] = v[0] if isinstance(v, list) and v else v
    return out


def load_vcr(path: Path) -> list[Recorded]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for inter in doc.get("interactions") or []:
        req, resp = inter["request"], inter["response"]
        uri = req.get("uri", "")
        req_path = "/" + uri.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
        if "parsed_body" in req:
            request = req["parsed_body"]
        else:
            body = req.get("body")
            try:
                request = json.loads(body) if isinstance(body, str) and body.strip() else body
            except json.JSONDecodeError:
                request = body
        status = (resp.get("status") or {}).get("code", 200)
        headers = _vcr_headers(resp.get("headers"))
        if "parsed_body" in resp:
            lines, stream = [json.dumps(resp["parsed_body"])], False
        else:
            body = resp.get("body") or {}
            text = body.get("string", "") if isinstance(body, dict) else str(body)
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            lines, stream = _split_body(text, headers.get("content-type", ""), request)
        out.append(
            Recorded(
                path.name, len(out), req_path, request, status, headers, lines, stream, _protocol_for_path(req_path)
            )
        )
    return out


# ------------------------------------------------------------------------------------------------
# TGI syrupy snapshots
# ------------------------------------------------------------------------------------------------


def load_tgi_snapshot(path: Path) -> list[Recorded]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, list):  # streamed chunks, re-serialised by the client: rebuild the SSE
        lines = []
        for chunk in data:
            lines += ["data: " + json.dumps(chunk), ""]
        # The client consumed TGI's "data: [DONE]" terminator before the snapshot was taken; put it
        # back so the stream is judged on its chunks, not on the snapshot format.
        lines += ["data: [DONE]", ""]
        return [Recorded(path.name, 0, "/v1/chat/completions", None, 200, {}, lines, True, "openai")]
    return [Recorded(path.name, 0, "/v1/chat/completions", None, 200, {}, [json.dumps(data)], False, "openai")]


# ------------------------------------------------------------------------------------------------
# JSON embedded in Markdown / text captures
# ------------------------------------------------------------------------------------------------

_DECODER = json.JSONDecoder(strict=False)  # strict=False: literal newlines inside strings


def json_values(text: str) -> list[tuple[int, Any]]:
    """Every top-level JSON object embedded in ``text``, with its offset, in order."""
    out, pos = [], 0
    while True:
        start = text.find("{", pos)
        if start < 0:
            return out
        try:
            value, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            pos = start + 1
            continue
        out.append((start, value))
        pos = end


def _is_ollama_response(v: dict) -> bool:
    return "done" in v and ("message" in v or "response" in v or "model" in v)


def _is_openai_response(v: dict) -> bool:
    return v.get("object") in ("chat.completion", "chat.completion.chunk", "text_completion") or (
        "choices" in v and "id" in v
    )


def load_embedded(path: Path) -> list[Recorded]:
    """Responses embedded in Markdown/text, grouped into exchanges, duplicates removed."""
    text = path.read_text(encoding="utf-8")
    out: list[Recorded] = []
    seen: set[str] = set()
    ollama_run: list[dict] = []
    chunk_runs: dict[str, list[dict]] = {}
    chunk_order: list[str] = []

    def emit(lines, stream, protocol, status=200, path_=None):
        key = "\n".join(lines)
        if key in seen:
            return
        seen.add(key)
        if path_ is None:
            first = json.loads(lines[0]) if not stream or protocol == "ollama" else {}
            path_ = (
                ("/api/generate" if "response" in first else "/api/chat")
                if protocol == "ollama"
                else "/v1/chat/completions"
            )
        out.append(Recorded(path.name, len(out), path_, None, status, {}, lines, stream, protocol))

    for _, v in json_values(text):
        if not isinstance(v, dict):
            continue
        if _is_ollama_response(v):
            if v.get("done") and not ollama_run:
                emit([json.dumps(v)], False, "ollama")  # a non-stream body
            else:
                ollama_run.append(v)
                if v.get("done"):
                    emit([json.dumps(c) for c in ollama_run], True, "ollama")
                    ollama_run = []
        elif _is_openai_response(v):
            if v.get("object") == "chat.completion.chunk":
                cid = str(v.get("id"))
                if cid not in chunk_runs:
                    chunk_runs[cid] = []
                    chunk_order.append(cid)
                chunk_runs[cid].append(v)
            else:
                emit([json.dumps(v)], False, "openai")
    if ollama_run:  # a stream that never reached done:true: keep it, the decoder must notice
        emit([json.dumps(c) for c in ollama_run], True, "ollama")
    for cid in chunk_order:
        lines = []
        for c in chunk_runs[cid]:
            lines += ["data: " + json.dumps(c), ""]
        emit(lines, True, "openai")
    # HTTP errors quoted by clients: "HTTP error 502: {...}" / "-> HTTP 404" followed by a body.
    # (same API as the file's other exchanges: the demos call one endpoint family).
    for m in re.finditer(r"HTTP error (\d{3}): (\{.*\})", text):
        protocol = out[0].protocol if out else "openai"
        emit([m.group(2)], False, protocol, status=int(m.group(1)), path_=out[0].path if out else "")
    for i, rec in enumerate(out):
        rec.index = i
    return out


# ------------------------------------------------------------------------------------------------
# dispatch
# ------------------------------------------------------------------------------------------------


def load(name: str) -> list[Recorded]:
    """All exchanges recorded in one realdata file (by file name)."""
    path = realdata_dir() / name
    if name.endswith(".httprr"):
        return load_httprr(path)
    if name.endswith(".yaml"):
        return load_vcr(path)
    if name.startswith("tgi_") and name.endswith(".json"):
        return load_tgi_snapshot(path)
    if name.endswith(".json"):
        text = path.read_text(encoding="utf-8")
        value = json.loads(text)
        protocol = "ollama" if _is_ollama_response(value) or name.startswith("ollama") else "openai"
        status = 200
        if isinstance(value, dict) and value.get("object") == "error" and isinstance(value.get("code"), int):
            status = value["code"]  # vLLM's flat error body repeats the HTTP status in "code"
        path_ = (
            ("/api/generate" if "response" in value else "/api/chat")
            if protocol == "ollama"
            else "/v1/chat/completions"
        )
        return [Recorded(name, 0, path_, None, status, {}, [json.dumps(value)], False, protocol)]
    return load_embedded(path)


def decode(rec: Recorded):
    """Decode one recorded exchange with the project's pure decoders."""
    from migrate.exchange import ChatRequest
    from migrate.protocol import ollama as ollama_proto
    from migrate.protocol import openai as openai_proto

    request = ChatRequest(model=str((rec.request or {}).get("model", "")) if isinstance(rec.request, dict) else "")
    module = ollama_proto if rec.protocol == "ollama" else openai_proto
    return module.decode_lines(rec.lines, request, stream=rec.stream, status=rec.status)
