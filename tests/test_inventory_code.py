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
    # API paths after an interpolation or concatenation, inside an HTTP call (URL on the call line
    # or on the next line of its argument list).
    (("py/fstring_http.py", 16), "raw_http", "/api/chat", ["qwen3:4b"],
     ["keep_alive", "num_ctx", "num_predict", "options"]),
    (("py/fstring_http.py", 25), "raw_http", "/api/generate", ["llama3.2:1b"], ["format"]),
    (("py/fstring_http.py", 30), "raw_http", "/api/tags", [], []),
    (("js/template_fetch.js", 11), "raw_http", "/api/generate", ["llama3.2:1b"], ["format", "keep_alive"]),
    (("js/template_fetch.js", 19), "raw_http", "/api/chat", ["gemma3:1b"], ["num_predict", "options"]),
    (("go/sprintf.go", 14), "raw_http", "/api/chat", [], []),
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
    assert sites[("py/fstring_http.py", 16)]["num_ctx"] == 12288
    assert sites[("py/fstring_http.py", 16)]["keep_alive"] == "10m"
    assert sites[("py/fstring_http.py", 16)]["client"] == "httpx"
    assert sites[("py/fstring_http.py", 25)]["format"] == "json"
    assert sites[("py/fstring_http.py", 25)]["client"] == "requests"
    assert sites[("js/template_fetch.js", 11)]["format"] == "json"
    assert sites[("js/template_fetch.js", 11)]["client"] == "fetch"
    assert sites[("js/template_fetch.js", 19)]["client"] == "axios"


def test_config_sites(scan):
    sites = scan[1]
    assert sites[("config/.env", 1)]["settings"] == {"OLLAMA_HOST": "http://10.0.0.5:11434"}
    assert sites[("config/.env", 2)]["settings"] == {"OPENAI_BASE_URL": "http://10.0.0.5:11434/v1"}
    assert sites[("config/.env", 3)]["keep_alive"] == "24h"
    assert sites[("config/docker-compose.yml", 7)]["settings"] == {"OLLAMA_NUM_PARALLEL": "4"}
    assert {sites[("config/docker-compose.yml", n)]["kind"] for n in (3, 5, 8)} == {"config"}
    # An env-var read with a default URL is a setting, not a call, in either language.
    assert sites[("py/fstring_http.py", 11)]["kind"] == "config"
    assert sites[("py/fstring_http.py", 11)]["settings"] == {"OLLAMA_HOST": "http://127.0.0.1:11434"}
    assert sites[("js/template_fetch.js", 8)]["kind"] == "config"
    assert sites[("js/template_fetch.js", 8)]["settings"] == {"OLLAMA_HOST": "http://127.0.0.1:11434"}


def test_false_positive_guard(scan):
    """Comments and prose that mention 11434 are 'mention', never call sites."""
    sites = scan[1]
    for where in [("py/not_ollama.py", 1), ("sh/probe.sh", 2), ("docs/README.md", 2),
                  # module and function docstrings quoting a call
                  ("py/fstring_http.py", 3), ("py/fstring_http.py", 4), ("py/fstring_http.py", 15),
                  # lines inside JS / Go block comments that do not start with '*'
                  ("js/template_fetch.js", 3), ("js/template_fetch.js", 4), ("go/sprintf.go", 11)]:
        assert sites[where]["kind"] == "mention", where
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
    assert r["stats"]["by_kind"] == {"config": 9, "mention": 9, "ollama_go": 2, "raw_http": 10, "langchain": 2,
                                     "ollama_js": 2, "openai_sdk": 4, "llamaindex": 1, "litellm": 1,
                                     "ollama_python": 3}


def test_huge_file_skipped(tmp_path):
    (tmp_path / "big.py").write_text("import requests\n" + "x = 1\n" * 10 + 'requests.post("http://h:11434/api/chat")\n')
    r = scan_code(str(tmp_path), max_bytes=50)
    assert r["sites"] == [] and r["stats"]["skipped"]["huge"] == 1


def test_openai_sdk_not_at_ollama_is_ignored():
    text = 'from openai import OpenAI\nclient = OpenAI()\nclient.chat.completions.create(model="gpt-4o")\n'
    assert scan_text(text, "x.py", "python") == []


def test_unparseable_python_docstring_fallback():
    """Python ast cannot parse (Python 2 print): a statement-level triple-quoted string is still
    prose, while one passed as an argument stays part of the call."""
    text = ('"""Docs: requests.post("http://localhost:11434/api/chat")."""\n'
            'import requests\n'
            'print "py2"\n'
            'r = requests.post(\n'
            '    """http://localhost:11434/api/generate""", json={"format": "json"})\n')
    sites = {s["line"]: s for s in scan_text(text, "old.py", "python")}
    assert sites[1]["kind"] == "mention"
    assert (sites[4]["kind"], sites[4]["endpoint"], sites[4]["format"]) == ("raw_http", "/api/generate", "json")
    assert set(sites) == {1, 4}


def test_inline_block_comment_keeps_code():
    """A block comment that ends mid-line does not turn the code after it into prose."""
    text = 'const x = 1; /* old server\n  http://localhost:11434 */ fetch("http://h:11434/api/chat", {})\n'
    sites = {s["line"]: s for s in scan_text(text, "a.js", "js")}
    assert (sites[2]["kind"], sites[2]["endpoint"]) == ("raw_http", "/api/chat")


EXAMPLE_APP = Path(__file__).resolve().parent.parent / "examples" / "app"


def test_examples_app():
    """The repo's own sample application: ordinary httpx calls with f-string URLs."""
    r = scan_code(str(EXAMPLE_APP))
    sites = {(s["file"], s["line"]): s for s in r["sites"]}
    calls = [s for s in r["sites"] if s["file"] == "assistant.py" and s["kind"] == "raw_http"]
    # ask, classify, weather (tools) and summarise
    assert [(s["line"], s["endpoint"]) for s in calls] == [
        (30, "/api/chat"), (41, "/api/generate"), (50, "/api/chat"), (61, "/api/chat")]
    assert {"num_ctx", "keep_alive", "num_predict", "options"} <= set(calls[0]["ollama_params"])
    assert calls[0]["num_ctx"] == 2048 and calls[0]["keep_alive"] == "30m"
    assert "format" in calls[1]["ollama_params"] and calls[1]["format"] == "json"
    assert calls[2]["uses_tools"] is True
    assert all(s["client"] == "httpx" and s["models"] == [] for s in calls)   # model is a variable
    assert sites[("assistant.py", 6)]["kind"] == "mention"                   # module docstring
    assert sites[("assistant.py", 15)]["kind"] == "config"
    assert sites[("assistant.py", 15)]["settings"] == {"OLLAMA_HOST": "http://127.0.0.1:11434"}
    oa = sites[("openai_client.py", 9)]
    assert (oa["kind"], oa["endpoint"], oa["tool_choice"]) == ("openai_sdk", "/v1/chat/completions", "required")
    assert "tool_choice" in oa["ollama_params"]


# ------------------------------------------------------------- parameters however they are passed
def _sites(text: str, name: str, lang: str) -> dict:
    return {s["line"]: s for s in scan_text(text, name, lang) if s["kind"] != "mention"}


def test_js_shorthand_properties():
    """`context` passed as a shorthand property is found next to `raw: true` (the issue's example)."""
    text = ('export async function complete(prompt, context) {\n'
            '  const res = await fetch("http://localhost:11434/api/generate", '
            '{body: JSON.stringify({ model: "mistral", prompt, raw: true, context })})\n'
            '  return res.json()\n}\n')
    s = _sites(text, "complete.js", "js")[2]
    assert (s["kind"], s["endpoint"], s["models"]) == ("raw_http", "/api/generate", ["mistral"])
    assert s["ollama_params"] == ["context", "raw"]


def test_shorthand_only_inside_object_literals():
    """A bare name among call arguments or inside a template string is no property."""
    text = ('import ollama from "ollama"\n'
            'export const f = (prompt, context) => ollama.generate(build(prompt, context, `${context}`))\n')
    s = _sites(text, "f.js", "js")[2]
    assert (s["kind"], s["endpoint"], s["ollama_params"]) == ("ollama_js", "/api/generate", [])


def test_named_objects_spread_or_sent_as_body():
    js = ('const opts = { raw: true, context, keep_alive: "5m" }\n'
          'export const a = (prompt) => fetch("http://localhost:11434/api/generate", {\n'
          '  method: "POST",\n'
          '  body: JSON.stringify({ model: "llama3.2", prompt, ...opts }),\n'
          '})\n'
          'const payload = { model: "llama3.2", context: previous }\n'
          'export const b = () => fetch("http://localhost:11434/api/generate", { body: JSON.stringify(payload) })\n')
    sites = _sites(js, "named.js", "js")
    assert sites[2]["ollama_params"] == ["context", "keep_alive", "raw"] and sites[2]["keep_alive"] == "5m"
    assert sites[7]["ollama_params"] == ["context"]
    py = ('import ollama\nimport requests\n\n'
          'payload = {"model": "llama3.1:8b", "prompt": "hi", "context": ctx}\n'
          'kwargs = dict(context=ctx, raw=True)\n\n\n'
          'def a():\n    return requests.post("http://localhost:11434/api/generate", json=payload)\n\n\n'
          'def b():\n    return ollama.generate(model="llama3.1:8b", prompt="x", **kwargs)\n\n\n'
          'def c(ctx):\n    return ollama.generate(model="llama3.1:8b", prompt="x", context=ctx)\n')
    sites = _sites(py, "named.py", "python")
    assert [(n, s["kind"], s["ollama_params"]) for n, s in sorted(sites.items())] == [
        (9, "raw_http", ["context"]), (13, "ollama_python", ["context", "raw"]),
        (17, "ollama_python", ["context"])]


def test_go_struct_field_and_ssl_context():
    go = ('package main\n\nimport "github.com/ollama/ollama/api"\n\n'
          'func run(client *api.Client, ctx context.Context, prev []int) error {\n'
          '\treq := &api.GenerateRequest{Model: "llama3.2", Prompt: "hi", Context: prev}\n'
          '\treturn client.Generate(ctx, req, nil)\n}\n')
    assert _sites(go, "run.go", "go")[7]["endpoint"] == "/api/generate"
    # urllib's own `context` is an SSL context, not Ollama's conversation state
    py = ('import ssl, urllib.request\n'
          'r = urllib.request.urlopen("http://localhost:11434/api/generate", context=ssl.create_default_context())\n')
    assert _sites(py, "u.py", "python")[2]["ollama_params"] == []


def test_context_is_a_high_risk():
    from migrate.inventory.risks import assess
    text = ('const res = await fetch("http://localhost:11434/api/generate", '
            '{body: JSON.stringify({ model: "mistral", prompt, raw: true, context })})\n')
    sites = scan_text(text, "complete.js", "js")
    risks = {r["id"]: r for r in assess({"code_sites": sites, "models": [], "traffic": {}})}
    r = risks["generate-context-stateful"]
    assert r["severity"] == "high" and r["evidence"] == ["complete.js:1 (raw_http)"]
    assert "No OpenAI-compatible API has it" in r["fix"] and "silently lose their history" in r["fix"]


def test_detector_table_is_consistent():
    """Every detector names known facts and endpoint maps, says what it means, and has its own id."""
    from migrate.datafiles import package_data
    from migrate.inventory.code import _tables
    data = package_data("code_detectors.yaml")
    facts = set(data["facts"]) | {"imported_names", "imports_client", "openai_at_ollama"}
    for row in data["detectors"]:
        assert set(row.get("needs", [])) | set(row.get("unless", [])) <= facts, row["id"]
        assert row["means"], row["id"]
        if isinstance(row["endpoint"], list):
            assert row["endpoint"][1] in data["endpoint_maps"], row["id"]
    ids = [d.id for d in _tables()[1]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("text,signed,value", [
    ("16384", False, 16384), (" 16384, more", False, 16384), ("8_192", False, 8192), ("-1", False, None),
    ("-1", True, -1), ("+5", True, 5), ("abc", True, None), (None, False, None), ("4096}", True, 4096)])
def test_leading_int(text, signed, value):
    """The one number reader of code values and log fields."""
    from migrate.inventory.numbers import leading_int
    assert leading_int(text, signed=signed) == value
