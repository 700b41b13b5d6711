"""Code scan over tests/fixtures/code/app: each client kind in each language, config, skips and the
false-positive guard (mentions of 11434 are never call sites)."""
from __future__ import annotations

from pathlib import Path

import shutil

import pytest

from migrate.inventory.code import scan_code, scan_text

APP = Path(__file__).parent / "fixtures" / "code" / "app"


# Files the fixture's own .gitignore excludes cannot be committed with it: write them at test time.
_IGNORED = {"ignored_dir/old.py": 'import requests\nrequests.post("http://localhost:11434/api/chat", json={})\n',
            "py/skip.generated.py": 'import requests\nrequests.post("http://localhost:11434/api/chat", json={})\n'}


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    app = tmp_path_factory.mktemp("code") / "app"
    shutil.copytree(APP, app)
    for rel, text in _IGNORED.items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(text)
    r = scan_code(str(app))
    return r, {(s["file"], s["line"]): s for s in r["sites"]}


@pytest.mark.parametrize("where,kind,endpoint,models,params", [
    (("py/raw_requests.py", 8), "raw_http", "/api/generate", ["llama3.1:8b"],
     ["context", "keep_alive", "num_ctx", "num_predict", "options"]),
    (("py/native_client.py", 4), "ollama_python", None, [], []),
    (("py/native_client.py", 8), "ollama_python", "/api/chat", ["qwen3:8b"], ["format", "num_ctx", "options", "think"]),
    (("py/native_client.py", 19), "ollama_python", "/api/generate", ["llava:7b"], ["images", "raw"]),
    (("py/frameworks.py", 5), "langchain", "/api/chat", ["llama3.2:3b"], ["format", "keep_alive", "num_ctx"]),
    (("py/frameworks.py", 6), "llamaindex", "/api/chat", ["mistral:7b"], ["context_window"]),
    (("py/frameworks.py", 10), "litellm", "/api/chat", ["llama3.1:8b"], []),
    (("py/openai_compat.py", 3), "openai_sdk", None, [], []),
    (("py/openai_compat.py", 7), "openai_sdk", "/v1/chat/completions", ["llama3.1:8b"], ["tool_choice"]),
    (("js/native.ts", 4), "ollama_js", None, [], []),
    (("js/native.ts", 7), "ollama_js", "/api/chat", ["gemma3:4b"], ["format", "keep_alive"]),
    (("js/raw_fetch.js", 3), "raw_http", "/api/chat", ["llama3.2"], ["num_ctx", "options"]),
    (("js/langchain.js", 3), "langchain", "/api/chat", ["llama3.1:8b"], ["num_ctx"]),
    (("js/openai_client.js", 6), "openai_sdk", "/v1/chat/completions", ["qwen2.5-coder:7b"], []),
    (("go/raw.go", 10), "raw_http", "/api/generate", [], []),
    (("go/client.go", 10), "ollama_go", None, [], []),
    (("go/client.go", 15), "ollama_go", "/api/chat", [], []),
    (("sh/probe.sh", 3), "raw_http", "/api/chat", ["llama3.2"], ["keep_alive", "num_ctx", "options"]),
])
def test_call_sites(scan, where, kind, endpoint, models, params):
    s = scan[1][where]
    assert (s["kind"], s["endpoint"], s["models"], s["ollama_params"]) == (kind, endpoint, models, params)


def test_values_extracted(scan):
    sites = scan[1]
    assert sites[("py/raw_requests.py", 8)]["num_ctx"] == 16384
    assert sites[("py/raw_requests.py", 8)]["keep_alive"] == "30m"
    assert sites[("py/native_client.py", 8)]["format"] == "json"
    assert sites[("py/openai_compat.py", 7)]["tool_choice"] == "required"
    assert sites[("py/openai_compat.py", 7)]["uses_tools"] is True
    assert sites[("py/openai_compat.py", 7)]["temperature_set"] is False
    assert sites[("py/frameworks.py", 6)]["num_ctx"] == 4096
    assert sites[("sh/probe.sh", 3)]["num_ctx"] == 2048


def test_config_sites(scan):
    sites = scan[1]
    assert sites[("config/.env", 1)]["settings"] == {"OLLAMA_HOST": "http://10.0.0.5:11434"}
    assert sites[("config/.env", 2)]["settings"] == {"OPENAI_BASE_URL": "http://10.0.0.5:11434/v1"}
    assert sites[("config/.env", 3)]["keep_alive"] == "24h"
    assert sites[("config/docker-compose.yml", 7)]["settings"] == {"OLLAMA_NUM_PARALLEL": "4"}
    assert {sites[("config/docker-compose.yml", n)]["kind"] for n in (3, 5, 8)} == {"config"}


def test_false_positive_guard(scan):
    """Comments and prose that mention 11434 are 'mention', never call sites."""
    sites = scan[1]
    for where in [("py/not_ollama.py", 1), ("sh/probe.sh", 2), ("docs/README.md", 2)]:
        assert sites[where]["kind"] == "mention"
    assert not any(s["file"] == "py/not_ollama.py" and s["kind"] != "mention" for s in scan[0]["sites"])


def test_skips_gitignored_vendored_binary(scan):
    r, sites = scan
    files = {s["file"] for s in r["sites"]}
    assert "ignored_dir/old.py" not in files          # .gitignore directory rule
    assert "py/skip.generated.py" not in files        # .gitignore glob
    assert not any(f.startswith("node_modules") for f in files)
    assert "config/blob.json" not in files            # binary
    assert r["stats"]["skipped"]["gitignored"] == 2
    assert r["stats"]["skipped"]["vendored"] == 1
    assert r["stats"]["skipped"]["binary"] == 1
    assert r["stats"]["by_kind"] == {"config": 7, "mention": 3, "ollama_go": 2, "raw_http": 4, "langchain": 2,
                                     "ollama_js": 2, "openai_sdk": 4, "llamaindex": 1, "litellm": 1,
                                     "ollama_python": 3}


def test_huge_file_skipped(tmp_path):
    (tmp_path / "big.py").write_text("import requests\n" + "x = 1\n" * 10 + 'requests.post("http://h:11434/api/chat")\n')
    r = scan_code(str(tmp_path), max_bytes=50)
    assert r["sites"] == [] and r["stats"]["skipped"]["huge"] == 1


def test_openai_sdk_not_at_ollama_is_ignored():
    text = 'from openai import OpenAI\nclient = OpenAI()\nclient.chat.completions.create(model="gpt-4o")\n'
    assert scan_text(text, "x.py", "python") == []
