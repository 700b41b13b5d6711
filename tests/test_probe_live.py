"""Acceptance against the real test bed: llama.cpp (xllamacpp), the Ollama-API test server, and a
closed port. The engines come from the session fixtures in tests/conftest.py."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from migrate.probe import probe
from migrate.protocol import fetch

pytestmark = pytest.mark.engine

_CLI = "from migrate.cli import main; main()"


def test_probe_names_llamacpp(llamacpp_server):
    r = probe(llamacpp_server.url)
    assert r.kind == "llamacpp"
    assert "Server header 'llama.cpp'" in r.evidence
    assert r.health["ok"] is True and r.health["endpoint"] == "/health"
    props = fetch(llamacpp_server.url, "/props").json
    n_ctx = props["default_generation_settings"]["n_ctx"]
    assert r.models and all(m.context_length == n_ctx for m in r.models)
    assert r.version == props["build_info"]


def test_probe_names_ollama_with_version(ollama_server):
    r = probe(ollama_server.url)
    assert r.kind == "ollama"
    assert r.version and r.version == fetch(ollama_server.url, "/api/version").json["version"]
    assert r.models, "the test server lists its model in /api/tags"
    assert r.health["ok"] is True


def test_cli_closed_port_exits_3_with_one_line():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens on it any more
    res = subprocess.run(
        [sys.executable, "-c", _CLI, "probe", f"http://127.0.0.1:{port}", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 3
    # --json keeps its promise of one document on stdout: the error itself
    assert json.loads(res.stdout) == {"error": res.stderr.strip()[len("error: ") :], "exit_code": 3}
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "unreachable" in lines[0]


def test_cli_json_against_llamacpp(llamacpp_server):
    res = subprocess.run(
        [sys.executable, "-c", _CLI, "probe", llamacpp_server.url, "--json"], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["kind"] == "llamacpp"
    assert doc["metrics"]["exposed"] is True and doc["metrics"]["prefix"] == "llamacpp:"
