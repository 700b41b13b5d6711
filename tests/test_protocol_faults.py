"""Every transport/HTTP fault becomes a normalised error on the result, never an exception."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
import respx
from click.testing import CliRunner

import migrate.protocol.client as client
from migrate.cli import main
from migrate.exchange import ChatRequest, Message
from migrate.protocol import Backend, InvalidServerURL, Timeouts, parse_server_url, send

from .scripted_server import Script, ScriptedServer

FAST = Timeouts(connect=1.0, read=1.0, stall=0.3, total=3.0)


def _req(stream: bool) -> ChatRequest:
    return ChatRequest(model="m", messages=[Message(role="user", content="hi")], stream=stream)


def _ndjson(*objs) -> list[bytes]:
    return [json.dumps(o).encode() + b"\n" for o in objs]


def _sse(*objs) -> list[bytes]:
    return [b"data: " + (o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n\n" for o in objs]


OLLAMA_CHUNK = {
    "model": "m",
    "created_at": "2025-01-01T00:00:00Z",
    "message": {"role": "assistant", "content": "Hel"},
    "done": False,
}
OPENAI_CHUNK = {
    "id": "x",
    "object": "chat.completion.chunk",
    "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}],
}


@pytest.fixture()
def server():
    with ScriptedServer() as s:
        yield s


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.parametrize("protocol", ["ollama", "openai"])
def test_connection_refused(protocol):
    ex = send(Backend(f"http://127.0.0.1:{closed_port()}", protocol, timeouts=FAST), _req(False))
    assert ex.error.type == "connection_refused" and ex.status is None


@respx.mock
def test_connect_timeout():
    respx.post("http://10.255.255.1/v1/chat/completions").mock(side_effect=httpx.ConnectTimeout("t"))
    ex = send(Backend("http://10.255.255.1", "openai", timeouts=FAST), _req(False))
    assert ex.error.type == "connect_timeout"


def test_read_timeout_before_headers(server):
    # Headers are sent by the scripted server immediately, so emulate "no headers" with respx.
    with respx.mock:
        respx.post(f"{server.url}/api/chat").mock(side_effect=httpx.ReadTimeout("t"))
        ex = send(Backend(server.url, "ollama", timeouts=FAST), _req(False))
    assert ex.error.type == "read_timeout"


@pytest.mark.parametrize("protocol,chunks", [("ollama", _ndjson(OLLAMA_CHUNK)), ("openai", _sse(OPENAI_CHUNK))])
def test_stall_keeps_partial_content(server, protocol, chunks):
    server.script = Script(content_type="text/event-stream", chunks=chunks, ending="hang")
    ex = send(Backend(server.url, protocol, timeouts=FAST), _req(True))
    assert ex.error.type == "stall"
    assert ex.content == "Hel"  # what arrived before the silence is kept
    assert ex.finish_reason == "error"


def test_total_timeout(server):
    server.script = Script(chunks=_sse(OPENAI_CHUNK), ending="hang")
    slow_stall = Timeouts(connect=1.0, read=1.0, stall=5.0, total=0.5)
    ex = send(Backend(server.url, "openai", timeouts=slow_stall), _req(True))
    assert ex.error.type == "timeout"
    assert ex.content == "Hel"


@pytest.mark.parametrize("protocol,chunks", [("ollama", _ndjson(OLLAMA_CHUNK)), ("openai", _sse(OPENAI_CHUNK))])
def test_stream_cut_midway(server, protocol, chunks):
    server.script = Script(chunks=chunks, ending="cut")
    ex = send(Backend(server.url, protocol, timeouts=FAST), _req(True))
    assert ex.error.type == "stream_cut"
    assert ex.content == "Hel"


def test_stream_ends_without_terminator_is_cut(server):
    # A clean chunked end, but no done:true line: the answer is incomplete.
    server.script = Script(chunks=_ndjson(OLLAMA_CHUNK))
    ex = send(Backend(server.url, "ollama", timeouts=FAST), _req(True))
    assert ex.error.type == "stream_cut"


@pytest.mark.parametrize(
    "protocol,chunks",
    [
        ("ollama", _ndjson(OLLAMA_CHUNK) + [b"{not json\n"]),
        ("openai", _sse(OPENAI_CHUNK) + [b"data: {not json\n\n"]),
    ],
)
def test_invalid_line_or_event(server, protocol, chunks):
    server.script = Script(chunks=chunks)
    ex = send(Backend(server.url, protocol, timeouts=FAST), _req(True))
    assert ex.error.type == "invalid_payload"


def test_ollama_mid_stream_error_after_200(server):
    server.script = Script(chunks=_ndjson(OLLAMA_CHUNK, {"error": "an error was encountered"}))
    ex = send(Backend(server.url, "ollama", timeouts=FAST), _req(True))
    assert ex.status == 200
    assert ex.error.type == "mid_stream_error"
    assert ex.error.message == "an error was encountered"
    assert ex.content == "Hel"


def test_openai_mid_stream_error_event(server):
    server.script = Script(chunks=_sse(OPENAI_CHUNK, {"error": {"message": "boom", "type": "x"}}))
    ex = send(Backend(server.url, "openai", timeouts=FAST), _req(True))
    assert ex.error.type == "mid_stream_error" and ex.error.message == "boom"


@pytest.mark.parametrize(
    "status,body,etype,message",
    [
        (502, b"<html>Bad Gateway</html>", "server_error", "<html>Bad Gateway</html>"),
        (
            500,
            b'{"error":"llama runner process has terminated"}',
            "server_error",
            "llama runner process has terminated",
        ),
        (
            503,
            b'{"error":"server busy, please try again.  maximum pending requests exceeded"}',
            "overloaded",
            "server busy, please try again.  maximum pending requests exceeded",
        ),
        (
            404,
            b'{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError",'
            b'"param":null,"code":404}',
            "not_found",
            "The model `x` does not exist.",
        ),
        (
            400,
            b'{"error":{"code":400,"message":"too long","type":"exceed_context_size_error"}}',
            "bad_request",
            "too long",
        ),
    ],
)
@pytest.mark.parametrize("protocol", ["ollama", "openai"])
def test_http_errors_and_error_shapes(server, protocol, status, body, etype, message):
    server.script = Script(status=status, chunks=[body])
    ex = send(Backend(server.url, protocol, timeouts=FAST), _req(False))
    assert ex.status == status
    assert ex.error.type == etype
    assert ex.error.message == message
    assert ex.finish_reason == "error"


def test_non_json_success_body(server):
    server.script = Script(chunks=[b"<html>proxy page</html>"])
    ex = send(Backend(server.url, "openai", timeouts=FAST), _req(False))
    assert ex.error.type == "invalid_payload"


# -- the CLI: an exit code and one line, never a traceback ------------------------------------
@pytest.mark.parametrize(
    "script,code,kind",
    [
        (None, 3, "connection_refused"),
        (Script(chunks=_ndjson(OLLAMA_CHUNK), ending="hang"), 1, "stall"),
        (Script(chunks=_ndjson(OLLAMA_CHUNK), ending="cut"), 1, "stream_cut"),
        (Script(chunks=[b"{bad\n"]), 1, "invalid_payload"),
        (Script(status=500, chunks=[b"oops"]), 1, "server_error"),
        (Script(chunks=_ndjson(OLLAMA_CHUNK, {"error": "x"})), 1, "mid_stream_error"),
    ],
)
@pytest.mark.parametrize("as_json", [False, True])
def test_send_cli_faults_exit_codes(server, script, code, kind, as_json):
    url = f"http://127.0.0.1:{closed_port()}" if script is None else server.url
    if script is not None:
        server.script = script
    args = [
        "send",
        "--url",
        url,
        "--protocol",
        "ollama",
        "--model",
        "m",
        "--prompt",
        "hi",
        "--stream",
        "--timeout",
        "3",
        "--stall",
        "0.3",
    ]
    result = CliRunner().invoke(main, args + (["--json"] if as_json else []))
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    if as_json:
        assert json.loads(result.stdout)["error"]["type"] == kind
    else:
        assert f"error: {kind}" in result.output


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--prompt", "hi", "--request", "x.json"], "exactly one"),
        (["--request", "does-not-exist.json"], "cannot read"),
        (["--prompt", "hi", "--timeout", "0"], "--timeout"),
    ],
)
def test_send_cli_bad_input(args, needle):
    result = CliRunner().invoke(
        main, ["send", "--url", "http://127.0.0.1:1", "--protocol", "openai", "--model", "m"] + args
    )
    assert result.exit_code == 2
    assert needle in result.output and "Traceback" not in result.output


def test_send_cli_request_file_invalid_json(tmp_path):
    bad = tmp_path / "req.json"
    bad.write_text('{"messages": [')
    result = CliRunner().invoke(
        main, ["send", "--url", "http://127.0.0.1:1", "--protocol", "openai", "--request", str(bad)]
    )
    assert result.exit_code == 2 and "invalid JSON" in result.output


def test_on_delta_sees_each_event_as_it_arrives(server):
    # The stream hangs after two events: a relay must already have seen both before the stall.
    server.script = Script(chunks=_sse({"choices": [{"delta": {"role": "assistant"}}]}, OPENAI_CHUNK), ending="hang")
    seen = []
    ex = send(Backend(server.url, "openai", timeouts=FAST), _req(True), on_delta=seen.append)
    assert ex.error.type == "stall"
    assert [d.role for d in seen] == ["assistant", None] and seen[1].content == "Hel"
    assert seen == ex.deltas


@pytest.mark.parametrize("url", ["ftp://example.com", "http://", "file:///etc/passwd"])
def test_send_cli_rejects_non_http_urls(url):
    result = CliRunner().invoke(main, ["send", "--url", url, "--protocol", "openai", "--model", "m", "--prompt", "hi"])
    assert result.exit_code == 2 and "not a server URL" in result.stderr


# -- the one URL parser -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url,root",
    [
        ("http://127.0.0.1:11434/", "http://127.0.0.1:11434"),
        ("localhost:8000", "http://localhost:8000"),
        ("https://gw.example/v1/", "https://gw.example"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://u:pw@h:1/prefix", "http://u:pw@h:1/prefix"),  # credentials stay: the request needs them
    ],
)
def test_parse_server_url_accepts(url, root):
    assert parse_server_url(url) == root


@pytest.mark.parametrize(
    "url,reason",
    [
        ("http://[::1", "invalid IPv6 URL"),
        ("http://h:99999", "port out of range 1-65535"),
        ("http://h:0", "port out of range 1-65535"),
        ("http://h:port", "port could not be cast"),
        ("ftp://h", "scheme 'ftp' is not http or https"),
        ("http://", "no host"),
        ("http://h /x", "whitespace or control characters"),
        ("http://h\x1b[2J", "whitespace or control characters"),
        ("http://h/?k=v", "no query or fragment"),
        ("", "empty"),
    ],
)
def test_parse_server_url_refuses_with_one_masked_line(url, reason):
    with pytest.raises(InvalidServerURL) as err:
        parse_server_url(url.replace("://", "://user:pw@", 1) if "://h" in url else url, what="--url")
    text = str(err.value)
    assert text.startswith("--url: not a server URL: ") and reason in text
    assert "pw" not in text and "\x1b" not in text and "\n" not in text
    assert err.value.code == 2 and isinstance(err.value, ValueError)


# -- the body reader: own line splitting, caps ----------------------------------------------------
def test_lines_split_across_chunks_with_crlf_and_multibyte_characters(server):
    # SSE with CRLF line ends, cut mid-line and inside a UTF-8 character ("é" is two bytes).
    body = (
        b'data: {"choices": [{"index": 0, "delta": {"content": "caf\xc3\xa9"}, "finish_reason": null}]}\r\n\r\n'
        b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\r\n\r\n'
        b"data: [DONE]\r\n\r\n"
    )
    cut = body.index(b"\xc3") + 1
    server.script = Script(content_type="text/event-stream", chunks=[body[:7], body[7:cut], body[cut:]])
    ex = send(Backend(server.url, "openai", timeouts=FAST), _req(True))
    assert ex.error is None, ex.error
    assert ex.content == "café" and not any("\r" in line for line in ex.transcript.lines)


def test_error_body_is_read_only_up_to_its_cap(server, monkeypatch):
    monkeypatch.setattr(client, "MAX_ERROR_BODY_BYTES", 1000)
    server.script = Script(status=500, content_type="text/plain", chunks=[b"e" * 600] * 10)
    ex = send(Backend(server.url, "ollama", timeouts=FAST), _req(False))
    assert ex.error.type == "server_error"
    assert sum(len(line) for line in ex.transcript.lines) == 1000


def test_non_stream_body_over_the_cap_is_too_large(server, monkeypatch):
    monkeypatch.setattr(client, "MAX_BODY_BYTES", 4096)
    server.script = Script(chunks=[b'{"message": {"content": "' + b"x" * 8192 + b'"}, "done": true}'])
    ex = send(Backend(server.url, "ollama", timeouts=FAST), _req(False))
    assert ex.error.type == "too_large" and ex.status == 200 and ex.finish_reason == "error"
