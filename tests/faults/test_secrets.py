"""Planted secrets, every form the issue names, through every command: none may reach stdout, stderr
or any file the tool writes. Secret *names* (that the app reads OLLAMA_API_KEY) must survive."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .harness import assert_no_secret, invoke, judge, judge_ok

URL_USER = "planteduser"
URL_PASSWORD = "plantedUrlPw9"
SECRETS = {
    "env_token": "sk-plantedEnvKey0123456789abcd",
    "env_password": "plantedDbPw1",
    "bearer": "sk-plantedBearer0123456789abcd",
    "api_key_arg": "plantedArgKey42xyz",
    "x_api_key": "plantedHeaderVal77",
    "x_token": "plantedXTok55abc",
    "hf": "hf_plantedHuggingFace0123456789",
    "ghp": "ghp_plantedGitHub0123456789abcdefgh",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnbmF0dXJlcGxhbnRlZA",
    "url_password": URL_PASSWORD,
    "outside": "sk-plantedOutsideTree0123456789ab",
}
PLANTED = list(SECRETS.values())


@pytest.fixture()
def planted_tree(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / ".env").write_text(
        f"OLLAMA_HOST=http://{URL_USER}:{URL_PASSWORD}@ollama.internal:11434\n"
        f"OLLAMA_API_KEY={SECRETS['env_token']}\n"
        f"DB_PASSWORD={SECRETS['env_password']}\n"
    )
    (app / "client.py").write_text(
        "import requests\n"
        "from openai import OpenAI\n"
        f'BASE = "http://{URL_USER}:{URL_PASSWORD}@ollama.internal:11434"\n'
        f'client = OpenAI(base_url=BASE + "/v1", api_key="{SECRETS["api_key_arg"]}")\n'
        "HEADERS = {\n"
        f'    "Authorization": "Bearer {SECRETS["bearer"]}",\n'
        f'    "X-Api-Key": "{SECRETS["x_api_key"]}",\n'
        f'    "X-Token": "{SECRETS["x_token"]}",\n'
        "}\n"
        "def ask(prompt):\n"
        '    return requests.post(BASE + "/api/chat", headers=HEADERS,\n'
        '                         json={"model": "llama3.1:8b", "messages": [{"role": "user", "content": prompt}]})\n'
        f'HF = "{SECRETS["hf"]}"\n'
        f'GH = "{SECRETS["ghp"]}"\n'
        f'SESSION = "{SECRETS["jwt"]}"\n'
    )
    outside = tmp_path / "outside.env"
    outside.write_text(f"OLLAMA_API_KEY={SECRETS['outside']}\n")
    (app / "linked.env").symlink_to(outside)
    return tmp_path


def test_inventory_of_a_tree_full_of_secrets_keeps_names_and_drops_values(planted_tree):
    inv = planted_tree / "inv.json"
    out = invoke(["inventory", "--no-ollama", "--code", planted_tree / "app", "-o", inv, "--json"])
    judge_ok("inventory --code over planted secrets", out)
    assert_no_secret(PLANTED, out, inv)
    document = json.loads(out.stdout)
    assert "OLLAMA_API_KEY" in json.dumps(document), "the secret's name is an inventory fact and must stay"
    assert "llama3.1:8b" in json.dumps(document), "the scan still found the model the code uses"

    # What the inventory feeds must stay clean too.
    plan = planted_tree / "plan.json"
    out = invoke(["plan", "--inventory", inv, "--format", "json", "-o", plan])
    judge_ok("plan from that inventory", out)
    out = invoke(
        [
            "generate",
            "--inventory",
            inv,
            "--alias",
            "chat=llama3.1:8b",
            "--target",
            "vllm",
            "--out",
            planted_tree / "gen",
        ]
    )
    judge_ok("generate from that inventory", out)
    assert_no_secret(PLANTED, out, plan, planted_tree / "gen")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _OllamaStub(BaseHTTPRequestHandler):
    """Just enough Ollama for probe/inventory to get past the first request, echoing nothing secret."""

    def log_message(self, *args):
        pass

    def _json(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/":
            data = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif self.path == "/api/version":
            self._json({"version": "0.12.3"})
        elif self.path in ("/api/tags", "/api/ps"):
            self._json({"models": []})
        else:
            self._json({"error": "not found"}, 404)

    def do_HEAD(self):
        self.send_response(200)
        self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._json({"error": f"model not found at {self.path}"}, 404)


@pytest.fixture(scope="module")
def stub_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OllamaStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{URL_USER}:{URL_PASSWORD}@127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _commands(url: str, tmp_path) -> list[tuple[str, list[str]]]:
    return [
        ("probe", ["probe", url, "--timeout", "2"]),
        ("probe --json", ["probe", url, "--json", "--timeout", "2"]),
        ("send", ["send", "--url", url, "--protocol", "ollama", "--model", "m", "--prompt", "hi", "--timeout", "3"]),
        ("send --json", ["send", "--url", url, "--protocol", "ollama", "--model", "m", "--prompt", "hi", "--json"]),
        ("inventory --ollama", ["inventory", "--ollama", url, "-o", tmp_path / "inv.json", "--json"]),
        (
            "compat --from-url",
            ["compat", "--from", "ollama", "--to", "vllm", "--from-url", url, "--to-url", url, "--model", "m",
             "--quiet", "--json", tmp_path / "report.json", "--timeout", "3"],
        ),
        ("generate --ollama-url", ["generate", "--alias", "chat=llama3.1:8b", "--target", "vllm",
                                   "--ollama-url", url, "--out", tmp_path / "gen"]),
    ]  # fmt: skip


@pytest.mark.parametrize("live", [False, True], ids=["closed-port", "answering"])
def test_url_credentials_never_leave_the_process(live, request, tmp_path):
    url = (
        request.getfixturevalue("stub_url") if live else f"http://{URL_USER}:{URL_PASSWORD}@127.0.0.1:{_closed_port()}"
    )
    for name, args in _commands(url, tmp_path):
        out = invoke(args)
        assert "Traceback" not in out.stderr, f"{name}: {out.stderr}"
        assert_no_secret([URL_PASSWORD], out, tmp_path)


def test_ollama_host_with_credentials_from_the_environment(tmp_path):
    url = f"http://{URL_USER}:{URL_PASSWORD}@127.0.0.1:{_closed_port()}"
    out = invoke(["inventory", "--json"], env={"OLLAMA_HOST": url})
    judge("inventory with OLLAMA_HOST=user:pw@closed", out, 3, stdout_ok=True)
    assert_no_secret([URL_PASSWORD], out)
