"""Hostile servers and hostile URLs through probe, send, inventory --ollama and compat (issue #11, A-G).

Every input is built here: local servers in threads (one per behaviour, module-scoped), closed ports,
malformed URLs, a binary request file. Each outcome is judged by the harness (documented exit code,
one ``error:`` line on stderr, no traceback, in time) and no planted URL password may reach stdout,
stderr or a written file. Size caps are lowered for the big-body cases so they run in milliseconds.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable

import pytest

import migrate.probe as probe_module
import migrate.protocol.client as client
from migrate.exchange import ChatRequest, Message
from migrate.protocol import Backend, send

from .harness import assert_no_secret, invoke, judge, judge_ok, run

USER, PASSWORD = "planteduser", "plantedNetPw7"
ESC_TITLE = "\x1b]0;pwned\x07"  # OSC: sets the terminal's title
ESC_CLEAR = "\x1b[2J"  # CSI: clears the screen

# (status, content type, body): body is bytes, or an iterable of byte chunks (streamed, then closed).
Answer = tuple[int, str, "bytes | Iterable[bytes]"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen_auth.append(self.headers.get("Authorization"))
        status, ctype, payload = self.server.app(self.command, self.path, body)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        try:
            if isinstance(payload, bytes):
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            self.send_header("Connection", "close")  # the body ends when the connection does
            self.end_headers()
            for chunk in payload:
                self.wfile.write(chunk)
            self.close_connection = True
        except OSError:
            pass  # the client stopped reading at its cap

    do_GET = do_POST = _serve


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # probe connects nine times at once; a backlog of 5 costs a 1 s SYN retry


class _Server:
    def __init__(self, app: Callable[[str, str, bytes], Answer]):
        self.httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.app = app
        self.httpd.seen_auth = []
        self.release = threading.Event()  # what a stalled handler waits for
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, credentials: bool = False) -> str:
        return f"http://{USER}:{PASSWORD}@127.0.0.1:{self.port}" if credentials else f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "_Server":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _json(data, status: int = 200) -> Answer:
    return status, "application/json", json.dumps(data).encode()


def _ollama_app(version="0.12.3", names=("llama3.1:8b",), show: Callable[[], Answer] | None = None, chat=None):
    """Enough Ollama for probe, inventory and send; ``show``/``chat`` replace those routes."""

    def app(method: str, path: str, body: bytes) -> Answer:
        if path == "/":
            return 200, "text/plain; charset=utf-8", b"Ollama is running"
        if path == "/api/version":
            return _json({"version": version})
        if path == "/api/tags":
            return _json({"models": [{"name": n, "model": n, "size": 1, "details": {}} for n in names]})
        if path == "/api/ps":
            return _json({"models": []})
        if path == "/api/show" and show is not None:
            return show()
        if path == "/api/chat" and chat is not None:
            return chat()
        return _json({"error": f"{path} not found"}, 404)

    return app


def _closed_url(credentials: bool = True) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://{USER}:{PASSWORD}@127.0.0.1:{port}" if credentials else f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def stub():
    with _Server(_ollama_app()) as server:
        yield server


def _commands(url: str, out_dir) -> dict[str, list]:
    return {
        "probe": ["probe", url, "--timeout", "2"],
        "probe --json": ["probe", url, "--json", "--timeout", "2"],
        "send": ["send", "--url", url, "--protocol", "ollama", "--model", "m", "--prompt", "hi", "--timeout", "3"],
        "send --json": ["send", "--url", url, "--protocol", "ollama", "--model", "m", "--prompt", "hi", "--json"],
        "inventory --ollama": ["inventory", "--ollama", url, "--timeout", "3", "-o", out_dir / "inv.json", "--json"],
        "compat --from-url": ["compat", "--from", "ollama", "--to", "vllm", "--from-url", url, "--to-url", url,
                              "--model", "m", "--quiet", "--json", out_dir / "report.json", "--timeout", "3"],
    }  # fmt: skip


# -- A: URL credentials never leave the process -------------------------------------------------------


def test_credentials_on_a_closed_port(tmp_path):
    for name, args in _commands(_closed_url(), tmp_path).items():
        out = invoke(args)
        judge(f"{name} user:pw@closed-port", out, 3, stdout_ok=name.endswith("--json"))
        assert_no_secret([PASSWORD], out, tmp_path)
        assert "127.0.0.1" in out.stderr, f"{name}: the error names the server (masked): {out.stderr}"


def test_credentials_against_a_live_server(stub, tmp_path):
    expected = {"probe": 0, "probe --json": 0, "send": 1, "send --json": 1, "inventory --ollama": 0}
    for name, args in _commands(stub.url(credentials=True), tmp_path).items():
        stub.httpd.seen_auth.clear()
        out = invoke(args)
        if name in ("send", "send --json"):  # /api/chat is not served: the backend's error, exit 1
            judge(f"{name} user:pw@live", out, 1, stdout_ok=True)
        else:
            judge_ok(f"{name} user:pw@live", out, code=expected.get(name, out.code))
        assert_no_secret([PASSWORD], out, tmp_path)
        # ...while the requests themselves still carry them, as basic auth.
        basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        assert stub.httpd.seen_auth and set(stub.httpd.seen_auth) == {basic}, name
    inv = json.loads((tmp_path / "inv.json").read_text())
    assert inv["ollama"]["url"] == stub.url() and inv["sources"]["ollama"]["url"] == stub.url()


# -- B: one URL parser, at entry ----------------------------------------------------------------------

BAD_URLS = [
    "http://[::1",
    "http://127.0.0.1:99999",
    f"http://{USER}:{PASSWORD}@127.0.0.1:99999",
    "http://exa mple.com:8000",
    "http://127.0.0.1:8000/\x1b[2J",
    "ftp://127.0.0.1:21",
    "http://",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_urls_are_usage_errors(url, tmp_path):
    for name, args in _commands(url, tmp_path).items():
        out = invoke(args)
        judge(f"{name} {url!r}", out, 2)
        assert "not a server URL" in out.stderr, f"{name}: {out.stderr}"
        assert_no_secret([PASSWORD, "\x1b"], out)


def test_bad_ollama_host_from_the_environment():
    out = invoke(["inventory", "--json"], env={"OLLAMA_HOST": "http://127.0.0.1:99999"})
    judge("inventory with OLLAMA_HOST port 99999", out, 2)
    assert "$OLLAMA_HOST" in out.stderr


# -- C: a stalled /api/show ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stalled():
    holder: dict = {}

    def show() -> Answer:
        holder["server"].release.wait(30)  # blocks until the module's teardown releases it
        return _json({})

    names = [f"model{i}:latest" for i in range(12)]
    with _Server(_ollama_app(names=names, show=show)) as server:
        holder["server"] = server
        yield server


def test_inventory_with_a_stalled_api_show_keeps_its_deadline(stalled, tmp_path):
    inv = tmp_path / "inv.json"
    out = run(["inventory", "--ollama", stalled.url(), "--timeout", "1", "-o", inv, "--json"], timeout=10)
    judge_ok("inventory --ollama, /api/show stalls", out, within=6)
    assert "HTTP None" not in out.text()
    assert re.search(r"/api/show model\d+:latest: timed out after (0\.\d|1\.0) s", out.stderr), out.stderr
    assert len(json.loads(inv.read_text())["models"]) == 12  # still listed, without details


def test_probe_with_a_stalled_api_show(stalled):
    out = run(["probe", stalled.url(), "--timeout", "0.3"], timeout=10)
    judge_ok("probe, /api/show stalls", out, within=6)
    assert "kind     ollama" in out.stdout


# -- D: big bodies are read and kept only up to a cap --------------------------------------------------

_LINE = (
    json.dumps({"model": "m", "message": {"role": "assistant", "content": "x" * 60}, "done": False}) + "\n"
).encode()


@pytest.fixture(scope="module")
def big():
    def endless_version() -> Iterable[bytes]:
        yield b'{"version": "'
        for _ in range(64):
            yield b"v" * 32768  # 2 MiB in all
        yield b'"}'

    def app(method: str, path: str, body: bytes) -> Answer:
        if method == "POST":
            return 200, "application/x-ndjson", (_LINE * 1000 for _ in range(40))  # ~3.7 MB
        return 200, "application/json", endless_version()

    with _Server(app) as server:
        yield server


@pytest.fixture()
def small_caps(monkeypatch):
    monkeypatch.setattr(client, "MAX_BODY_BYTES", 1024 * 1024)
    monkeypatch.setattr(client, "MAX_FETCH_BYTES", 256 * 1024)
    monkeypatch.setattr(client, "MAX_TRANSCRIPT_BYTES", 64 * 1024)
    monkeypatch.setattr(client, "MAX_FIELD_CHARS", 32 * 1024)


def test_a_big_stream_is_cut_at_the_body_cap_and_kept_clipped(big, small_caps):
    ex = send(Backend(big.url(), "ollama"), ChatRequest(model="m", messages=[Message("user", "hi")], stream=True))
    assert ex.error.type == "too_large" and ex.status == 200
    assert 32 * 1024 <= len(ex.content) <= 32 * 1024 + 100 and "clipped" in ex.content[-60:]
    kept = sum(len(line) + 1 for line in ex.transcript.lines)
    assert kept <= 64 * 1024 + 200 and "transcript clipped" in ex.transcript.lines[-1]
    assert len(ex.deltas) <= 1024 * 1024 // len(_LINE) + 1
    assert set(ex.truncated) == {"content", "transcript"}


def test_send_cli_on_a_big_stream(big, small_caps):
    args = ["send", "--url", big.url(), "--protocol", "ollama", "--model", "m", "--prompt", "hi", "--stream"]
    out = invoke(args)
    judge("send --stream, big body", out, 1, stdout_ok=True)
    assert "too_large" in out.stderr and len(out.stdout) < 40 * 1024
    out = invoke(args + ["--json"])
    judge("send --stream --json, big body", out, 1, stdout_ok=True)
    doc = json.loads(out.stdout)
    assert doc["error"]["type"] == "too_large" and sorted(doc["truncated"]) == ["content", "transcript"]


def test_probe_on_big_bodies(big, small_caps):
    out = invoke(["probe", big.url(), "--timeout", "5"])
    judge("probe, 2 MiB on every route", out, 4, stdout_ok=True)
    assert "exceeded" in out.stderr and len(out.stdout) < 2000


def test_probe_caps_a_long_version_line():
    with _Server(_ollama_app(version="9." + "9" * 50_000)) as server:
        out = invoke(["probe", server.url(), "--timeout", "5"])
    judge_ok("probe, 50 kB version string", out)
    version = next(line for line in out.stdout.splitlines() if line.startswith("version"))
    assert len(version) < probe_module.MAX_VALUE_CHARS + 100 and "clipped" in version
    assert len(out.stdout) < 3000


# -- E: an answer is not a fingerprint unless it parses ------------------------------------------------


@pytest.fixture(scope="module")
def html():
    page = b"<!doctype html><html><body>Welcome to nginx!</body></html>"
    with _Server(lambda m, p, b: (200, "text/html", page)) as server:
        yield server


@pytest.fixture(scope="module")
def bad_json():
    with _Server(lambda m, p, b: (200, "application/json", b'{"version": "1.0", oops')) as server:
        yield server


def test_html_everywhere_is_not_an_engine(html):
    out = invoke(["probe", html.url(), "--timeout", "2"])
    judge("probe, HTML on every path", out, 4, stdout_ok=True)
    assert "kind     unknown" in out.stdout and "metrics  not exposed" in out.stdout
    assert "answer HTTP 200 with text/html, not JSON" in out.stderr
    out = invoke(["inventory", "--ollama", html.url(), "--timeout", "2"])
    judge("inventory --ollama, HTML on every path", out, 3)
    assert "text/html, not JSON: not an Ollama API" in out.stderr and "unreachable" not in out.stderr


def test_invalid_json_everywhere_is_not_an_engine(bad_json):
    out = invoke(["probe", bad_json.url(), "--json", "--timeout", "2"])
    judge("probe --json, invalid JSON on every path", out, 4, stdout_ok=True)
    doc = json.loads(out.stdout)
    assert doc["kind"] is None and "invalid JSON" in doc["reason"]
    out = invoke(["inventory", "--ollama", bad_json.url(), "--timeout", "2"])
    judge("inventory --ollama, invalid JSON on every path", out, 3)
    assert "invalid JSON" in out.stderr


# -- F: what a server says cannot drive the terminal ---------------------------------------------------


@pytest.fixture(scope="module")
def escaping():
    name = f"evil{ESC_TITLE}[bold]x[/]{ESC_CLEAR}:latest"

    def chat() -> Answer:
        lines = [
            {"model": "m", "message": {"role": "assistant", "content": f"hi{ESC_CLEAR}{ESC_TITLE}\r"}, "done": False},
            {"model": "m", "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"},
        ]
        return 200, "application/x-ndjson", b"".join(json.dumps(x).encode() + b"\n" for x in lines)

    app = _ollama_app(version=f"0.1{ESC_CLEAR}{ESC_TITLE}", names=(name,), show=lambda: _json({}), chat=chat)
    with _Server(app) as server:
        yield server


@pytest.mark.parametrize(
    "args",
    [
        ["probe", "{url}"],
        ["inventory", "--ollama", "{url}"],
        ["send", "--url", "{url}", "--protocol", "ollama", "--model", "m", "--prompt", "hi"],
    ],
    ids=["probe", "inventory", "send"],
)
def test_escape_sequences_from_a_server_are_printed_escaped(escaping, args):
    out = invoke([a.replace("{url}", escaping.url()) for a in args])
    judge_ok(f"{args[0]}: ESC/OSC in server strings", out)
    for raw in ("\x1b", "\x07", "\r"):
        assert raw not in out.stdout and raw not in out.stderr, f"{args[0]} printed {raw!r}"
    assert "\\x1b" in out.stdout  # shown, escaped, not dropped


# -- G: minor CLI contracts ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1"])
def test_non_finite_or_non_positive_seconds(value):
    cases = {
        "send --timeout": ["send", "--url", _closed_url(), "--protocol", "ollama", "--model", "m", "--prompt", "hi",
                           "--timeout", value],
        "send --stall": ["send", "--url", _closed_url(), "--protocol", "ollama", "--model", "m", "--prompt", "hi",
                         "--stall", value],
        "probe --timeout": ["probe", _closed_url(), "--timeout", value],
        "inventory --timeout": ["inventory", "--ollama", _closed_url(), "--timeout", value],
    }  # fmt: skip
    for name, args in cases.items():
        out = invoke(args)
        judge(f"{name} {value}", out, 2)
        assert "positive number of seconds" in out.stderr


def test_send_error_goes_to_stderr_and_json_stdout_is_one_document():
    args = ["send", "--url", _closed_url(), "--protocol", "ollama", "--model", "m", "--prompt", "hi"]
    out = invoke(args)
    judge("send, closed port", out, 3, stdout_ok=True)
    assert "error:" not in out.stdout and "connection_refused" in out.stderr
    out = invoke(args + ["--json"])
    judge("send --json, closed port", out, 3, stdout_ok=True)
    assert json.loads(out.stdout)["error"]["type"] == "connection_refused"


@pytest.mark.parametrize(
    "content",
    [bytes(range(256)) * 4, b"\xff\xfe{\x00}\x00", b"\x00\x01\x02{}"],
    ids=["all-bytes", "utf16-bom", "nul-prefix"],
)
def test_binary_request_file(content, tmp_path):
    request = tmp_path / "request.json"
    request.write_bytes(content)
    out = invoke(["send", "--url", _closed_url(), "--protocol", "openai", "--request", request])
    judge("send --request <binary file>", out, 2)
    assert str(request) in out.stderr
