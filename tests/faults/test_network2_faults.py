"""Hostile servers, round 2 (issue #11): what a red-team audit of probe, send and inventory --ollama found.

Every server is built here, on a raw socket in a thread (module-scoped, one per behaviour), so each can
say exactly the bytes it wants: JSON nested 100,000 deep, a gzip bomb, an echo of the bearer key, a
listing of thousands of models, ``NaN`` and ``1e999`` where numbers belong, 204 on every route, a reset
connection, an event stream with bare ``\\r`` line ends. Each outcome is judged by the harness; caps
are lowered where sizes matter, so the module runs in seconds.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import threading
import tracemalloc
import zlib
from typing import Callable, Union

import pytest

import migrate.inventory.live as live
import migrate.protocol.client as client
import migrate.redact as redact

from .harness import assert_no_secret, invoke, judge, judge_ok, run

KEY = "plainkeyVALUE42xyz"  # no token shape: only the registry of the key we send can mask it
DEEP = b'{"models":' + b"[" * 100_000 + b"]" * 100_000 + b"}"

# An app answers (method, path, body) with the raw bytes of a whole HTTP response, or with a function
# that gets the connected socket (to reset it, or to write in pieces).
Reply = Union[bytes, Callable[[socket.socket], None]]


def http(status: str, body: bytes = b"", ctype: str = "application/json", headers: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{headers}"
    return (head + "Connection: close\r\n\r\n").encode() + body


def as_json(data, status: str = "200 OK") -> bytes:
    return http(status, json.dumps(data).encode())


class RawServer:
    def __init__(self, app: Callable[[str, str, bytes, dict], Reply]):
        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.stop = threading.Event()
        self.paths: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                head, body = data.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if ":" in x)}
                while len(body) < int(headers.get("content-length", 0)):
                    body += conn.recv(65536)
                self.paths.append(path)
                reply = self.app(method, path, body, headers)
                if callable(reply):
                    reply(conn)
                else:
                    conn.sendall(reply)
            except OSError:
                pass  # the client stopped reading at its cap, or hung up at its deadline

    def __enter__(self) -> "RawServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


def serve(app):
    with RawServer(app) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Each test starts with no remembered key (the registry is process-wide)."""
    monkeypatch.setattr(redact, "_REMEMBERED", set())


def _send(url: str, protocol: str = "ollama", *extra: str) -> list:
    return ["send", "--url", url, "--protocol", protocol, "--model", "m", "--prompt", "hi", "--timeout", "5", *extra]


def _strict(text: str):
    """JSON as any other parser reads it: NaN, Infinity and -Infinity are not JSON."""

    def refuse(name):
        raise AssertionError(f"{name} in a JSON document")

    return json.loads(text, parse_constant=refuse)


# -- 1: JSON nested too deeply is an invalid answer, never a crash ------------------------------------


@pytest.fixture(scope="module")
def deep():
    def app(method, path, body, headers):
        if path == "/v1/chat/completions":  # an event stream whose event is nested too deeply
            return http("200 OK", b"data: " + DEEP + b"\n\n", "text/event-stream")
        return http("200 OK", DEEP)

    yield from serve(app)


def test_deep_json_through_probe_and_inventory(deep):
    out = invoke(["probe", deep.url, "--timeout", "5"])
    judge("probe, JSON nested 100,000 deep on every route", out, 4, stdout_ok=True)
    assert "nested deeper than 64 levels" in out.stderr and "kind     unknown" in out.stdout
    out = invoke(["probe", deep.url, "--timeout", "5", "--json"])
    judge("probe --json, JSON nested 100,000 deep", out, 4, stdout_ok=True)
    assert _strict(out.stdout)["kind"] is None
    out = invoke(["inventory", "--ollama", deep.url, "--timeout", "5", "--json"])
    judge("inventory --ollama, JSON nested 100,000 deep", out, 3)
    assert "/api/tags: HTTP 200 with JSON nested deeper than 64 levels" in out.stderr


@pytest.mark.parametrize(
    "protocol, extra, said",
    [
        ("ollama", [], "response body is JSON nested deeper"),
        ("ollama", ["--stream"], "NDJSON line is JSON nested deeper"),
        ("ollama", ["--stream", "--json"], "NDJSON line is JSON nested deeper"),
        ("openai", ["--stream"], "SSE event is JSON nested deeper"),
    ],
    ids=["ollama", "ollama-stream", "ollama-stream-json", "openai-sse"],
)
def test_deep_json_through_send(deep, protocol, extra, said):
    out = invoke(_send(deep.url, protocol, *extra))
    judge(f"send --protocol {protocol} {' '.join(extra)}, JSON nested 100,000 deep", out, 1, stdout_ok=True)
    assert f"error: invalid_payload: {said} than 64 levels" in out.stderr
    if "--json" in extra:
        assert _strict(out.stdout)["error"]["type"] == "invalid_payload"


def test_deep_tool_call_arguments_are_invalid_arguments():
    arguments = "[" * 50_000 + "]" * 50_000  # a JSON string inside a shallow answer
    answer = {
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": arguments}}]},
            }
        ],
    }  # fmt: skip
    with RawServer(lambda *a: as_json(answer)) as server:
        out = invoke(_send(server.url, "openai", "--json"))
    judge_ok("send --json, tool-call arguments nested 50,000 deep", out)
    call = _strict(out.stdout)["tool_calls"][0]
    assert call["name"] == "f" and call["arguments"] is None


# -- 2: a gzip bomb is inflated only up to the read cap ------------------------------------------------


def _bomb(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip wrapper
    zeros = b"\0" * (1 << 20)
    return b"".join([packer.compress(zeros) for _ in range(size >> 20)] + [packer.flush()])


@pytest.fixture(scope="module")
def bomb():
    body = _bomb(64 << 20)  # 64 MiB of zeros in ~64 KB
    encoding = {"br": "br", "bad": "gzip"}

    def app(method, path, payload, headers):
        said = encoding.get(path.split("/")[1])
        if said:  # /br: an encoding not asked for; /bad: "gzip" that is not gzip
            return http("200 OK", b"\x8b\x1f not gzip", headers=f"Content-Encoding: {said}\r\n")
        return http("200 OK", body, headers="Content-Encoding: gzip\r\n")

    yield from serve(app)


@pytest.fixture()
def small_caps(monkeypatch):
    monkeypatch.setattr(client, "MAX_BODY_BYTES", 2 << 20)
    monkeypatch.setattr(client, "MAX_FETCH_BYTES", 1 << 20)


def _peak(args: list) -> tuple:
    """The command's outcome and the most memory Python held while it ran."""
    tracemalloc.start()
    try:
        out = invoke(args)
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "name, args, code, budget",
    [
        ("probe", ["probe", "{url}", "--timeout", "5"], 4, 24 << 20),  # ten routes at 1 MiB each
        ("send", _send("{url}"), 1, 12 << 20),
        ("send --stream", _send("{url}", "ollama", "--stream"), 1, 12 << 20),
        ("inventory --ollama", ["inventory", "--ollama", "{url}", "--timeout", "5"], 3, 12 << 20),
    ],
    ids=["probe", "send", "send-stream", "inventory"],
)
def test_a_gzip_bomb_is_inflated_only_up_to_the_cap(bomb, small_caps, name, args, code, budget):
    out, peak = _peak([a.replace("{url}", bomb.url) for a in args])
    judge(f"{name}, gzip body inflating to 64 MiB (cap 1-2 MiB)", out, code, stdout_ok=True)
    assert "exceeded" in out.stderr
    assert peak < budget, f"{name}: {peak >> 20} MiB held for a {client.MAX_BODY_BYTES >> 20} MiB cap"


def test_encodings_not_asked_for_or_broken_are_invalid_answers(bomb):
    for path, said in (
        ("br", "the body is br-encoded; migrate asks for gzip, deflate only"),
        ("bad", "the gzip body does not decode"),
    ):
        out = invoke(_send(bomb.url + "/" + path))
        judge(f"send, Content-Encoding {path}", out, 1, stdout_ok=True)
        assert f"error: invalid_payload: {said}" in out.stderr


def test_gzip_and_deflate_answers_still_decode():
    line = json.dumps({"model": "m", "message": {"role": "assistant", "content": "fine"}, "done": True}).encode()
    bodies = {
        "gzip": gzip.compress(line),
        "deflate": zlib.compress(line),  # the zlib wrapper, as RFC 9110 says
        "raw-deflate": zlib.compress(line)[2:-4],  # what some servers send as "deflate"
    }
    seen = []

    def app(method, path, body, headers):
        seen.append(headers.get("accept-encoding"))
        name = path.split("/")[1]
        return http("200 OK", bodies[name], headers=f"Content-Encoding: {name.replace('raw-', '')}\r\n")

    with RawServer(app) as server:
        for name in bodies:
            out = invoke(_send(f"{server.url}/{name}"))
            judge_ok(f"send, a {name} answer", out)
            assert out.stdout.startswith("fine\n")
    assert set(seen) == {client.ACCEPT_ENCODING}


# -- 3: the key we send is masked wherever a server echoes it -------------------------------------------


@pytest.fixture(scope="module")
def echo():
    def app(method, path, body, headers):
        auth = headers.get("authorization", "")
        key = auth.split(" ", 1)[-1]
        if path.startswith("/v1/models"):
            return as_json({"object": "list", "data": [{"id": f"model-{key}", "object": "model", "owned_by": key}]})
        if path.startswith("/v1/chat"):
            return as_json({"error": {"message": f"bad key {key} raw {auth}", "type": "invalid"}}, "400 Bad Request")
        return as_json({"error": f"nope {key}"}, "404 Not Found")

    yield from serve(app)


@pytest.mark.parametrize(
    "args, code",
    [
        (["probe", "{url}", "--api-key-env", "MYKEY"], 0),
        (["probe", "{url}", "--api-key-env", "MYKEY", "--json"], 0),
        (_send("{url}", "openai", "--api-key-env", "MYKEY"), 1),
        (_send("{url}", "openai", "--api-key-env", "MYKEY", "--json"), 1),
    ],
    ids=["probe", "probe-json", "send", "send-json"],
)
def test_an_echoed_key_is_masked(echo, args, code):
    out = invoke([a.replace("{url}", echo.url) for a in args], env={"MYKEY": KEY})
    case = f"{args[0]} {' '.join(a for a in args if a.startswith('--'))}, server echoes the key"
    if code:
        judge(case, out, code, stdout_ok=True)
    else:
        judge_ok(case, out)
    assert_no_secret([KEY], out)
    assert "***" in out.text()  # masked, not dropped: the echo is still visible as such


def test_the_registry_masks_exact_values_of_useful_length():
    redact.remember_secret("short")  # under MIN_SECRET_CHARS: masking it would hide words, not keys
    redact.remember_secret(f"  {KEY}\n")
    assert redact.mask_text(f"a short {KEY}x") == "a short ***x"
    assert redact.mask_data({KEY: [f"id-{KEY}"]}) == {"***": ["id-***"]}


# -- 4: a listing of thousands of models costs a bounded time and memory --------------------------------


@pytest.fixture(scope="module")
def many():
    names = [f"m{i}:latest" for i in range(5000)]
    tags = as_json({"models": [{"name": n, "model": n, "size": 1} for n in names]})

    def app(method, path, body, headers):
        if path == "/api/tags":
            return tags
        if path == "/api/version":
            return as_json({"version": "0.12.3"})
        if path == "/api/ps":
            return as_json({"models": []})
        return as_json({"error": "no such model"}, "404 Not Found")

    yield from serve(app)


def test_inventory_of_a_huge_listing_is_capped(many, monkeypatch, tmp_path):
    monkeypatch.setattr(live, "MAX_MODELS", 40)
    inv = tmp_path / "inv.json"
    out = invoke(["inventory", "--ollama", many.url, "--timeout", "5", "-o", inv])
    judge_ok("inventory --ollama, 5,000 models listed (cap 40)", out)
    assert "the server lists 5000 models: the first 40 are inventoried, 4960 more are not (cap)" in out.stderr
    assert len(_strict(inv.read_text())["models"]) == 40
    assert sum(p == "/api/show" for p in many.paths) <= 40
    shows = [line for line in out.stderr.splitlines() if "/api/show" in line]
    assert len(shows) == live.MAX_SHOW_WARNINGS + 1 and "failed for 30 more models" in shows[-1]


def test_a_dripping_listing_keeps_the_deadline():
    def drip(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
        for _ in range(100):
            if stop.wait(0.1):
                return
            conn.sendall(b" ")

    stop = threading.Event()
    with RawServer(lambda *a: drip) as server:
        out = run(["inventory", "--ollama", server.url, "--timeout", "1"], timeout=15)
        stop.set()
    judge("inventory --ollama --timeout 1, /api/tags drips a byte every 0.1 s", out, 3, within=4)
    assert re.search(r"/api/tags: timed out after (0\.9|1\.0) s; inventory is partial", out.stderr), out.stderr


# -- 5: numbers that are not JSON numbers become null --------------------------------------------------


@pytest.fixture(scope="module")
def nan():
    entry = b'{"name":"m:1","model":"m:1","size":NaN,"modified_at":Infinity,"digest":-Infinity,"details":{}}'
    wide = b"1" + b"0" * 30  # no server's integer
    show = (
        b'{"parameters":"temperature NaN\\nnum_ctx 1e999","model_info":{"general.architecture":"llama",'
        b'"llama.context_length":1e999,"general.parameter_count":' + wide + b"}}"
    )
    chat = b'{"model":"m","message":{"role":"assistant","content":"ok"},"done":true,"eval_count":NaN,"total_duration":1e999}'
    routes = {
        "/api/tags": b'{"models":[' + entry + b"]}",
        "/api/ps": b'{"models":[{"name":"m:1","size":1e999,"size_vram":NaN,"context_length":Infinity}]}',
        "/api/version": b'{"version":NaN}',
        "/api/show": show,
        "/api/chat": chat,
        "/": b"Ollama is running",
    }
    yield from serve(lambda method, path, body, headers: http("200 OK", routes.get(path, b'{"v":NaN}')))


def test_non_finite_numbers_never_reach_a_document(nan, tmp_path):
    inv = tmp_path / "inv.json"
    out = invoke(["inventory", "--ollama", nan.url, "--timeout", "5", "--json", "-o", inv])
    judge_ok("inventory --ollama, NaN/Infinity/1e999 in every number", out)
    for doc in (_strict(out.stdout), _strict(inv.read_text())):
        model = doc["models"][0]
        assert model["size_bytes"] is None and model["context_length"] is None
        assert model["parameter_count"] is None and doc["ollama"]["version"] is None
    out = invoke(["probe", nan.url, "--json", "--timeout", "5"])
    judge_ok("probe --json, NaN in every number", out)
    assert _strict(out.stdout)["kind"] == "ollama"
    out = invoke(_send(nan.url, "ollama", "--json"))
    judge_ok("send --json, NaN eval_count", out)
    assert _strict(out.stdout)["usage"]["completion_tokens"] is None


# -- 6: 204 everywhere, a reset connection, bare CR in an event stream -----------------------------------


def test_204_on_every_route_is_no_engine():
    with RawServer(lambda *a: b"HTTP/1.1 204 No Content\r\n\r\n") as server:
        out = invoke(["probe", server.url, "--timeout", "5"])
    judge("probe, 204 on every route", out, 4, stdout_ok=True)
    assert "kind     unknown" in out.stdout and "answer HTTP 204 with an empty body" in out.stderr


def test_a_reset_connection_has_a_reason():
    def reset(conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    with RawServer(lambda *a: reset) as server:
        out = invoke(_send(server.url))
    judge("send, the server resets the connection", out, 1)
    assert "error: transport: connection closed: Connection reset by peer" in out.stderr


@pytest.mark.parametrize("eol", [b"\r", b"\n", b"\r\n"], ids=["CR", "LF", "CRLF"])
def test_every_sse_line_end_is_a_line_end(eol):
    events = [
        b": a comment",
        b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"a"}}]}',
        b"",
        b'data: {"choices":[{"index":0,',  # one event over two data lines
        b'data: "delta":{"content":"b"},"finish_reason":"stop"}]}',
        b"",
        b"data: [DONE]",
        b"",
    ]
    body = eol.join(events) + eol
    with RawServer(lambda *a: http("200 OK", body, "text/event-stream")) as server:
        out = invoke(_send(server.url, "openai", "--stream"))
    judge_ok(f"send --stream, SSE with {eol!r} line ends", out)
    assert out.stdout.startswith("ab\n-- status=200 finish=stop")
