"""Code scan over tests/fixtures/code/app: each client kind in each language, config, skips and the
false-positive guard (mentions of 11434 are never call sites)."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import pytest

from migrate.datafiles import package_data
from migrate.inventory.code import _detector, detector_table, scan_code, scan_text, vocabulary

APP = Path(__file__).parent / "fixtures" / "code" / "app"


# Files the fixture's own .gitignore excludes cannot be committed with it: write them at test time.
_IGNORED = {
    "ignored_dir/old.py": 'import requests\nrequests.post("http://localhost:11434/api/chat", json={})\n',
    "py/skip.generated.py": 'import requests\nrequests.post("http://localhost:11434/api/chat", json={})\n',
}


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    app = tmp_path_factory.mktemp("code") / "app"
    shutil.copytree(APP, app)
    for rel, text in _IGNORED.items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(text)
    r = scan_code(str(app))
    return r, {(s["file"], s["line"]): s for s in r["sites"]}


@pytest.mark.parametrize(
    "where,kind,endpoint,models,params",
    [
        (
            ("py/raw_requests.py", 8),
            "raw_http",
            "/api/generate",
            ["llama3.1:8b"],
            ["context", "keep_alive", "num_ctx", "num_predict", "options"],
        ),
        (("py/native_client.py", 4), "ollama_python", None, [], []),
        (
            ("py/native_client.py", 8),
            "ollama_python",
            "/api/chat",
            ["qwen3:8b"],
            ["format", "num_ctx", "options", "think"],
        ),
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
        (
            ("py/fstring_http.py", 16),
            "raw_http",
            "/api/chat",
            ["qwen3:4b"],
            ["keep_alive", "num_ctx", "num_predict", "options"],
        ),
        (("py/fstring_http.py", 25), "raw_http", "/api/generate", ["llama3.2:1b"], ["format"]),
        (("py/fstring_http.py", 30), "raw_http", "/api/tags", [], []),
        (("js/template_fetch.js", 11), "raw_http", "/api/generate", ["llama3.2:1b"], ["format", "keep_alive"]),
        (("js/template_fetch.js", 19), "raw_http", "/api/chat", ["gemma3:1b"], ["num_predict", "options"]),
        (("go/sprintf.go", 14), "raw_http", "/api/chat", [], []),
    ],
)
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
    for where in [
        ("py/not_ollama.py", 1),
        ("sh/probe.sh", 2),
        ("docs/README.md", 2),
        # module and function docstrings quoting a call
        ("py/fstring_http.py", 3),
        ("py/fstring_http.py", 4),
        ("py/fstring_http.py", 15),
        # lines inside JS / Go block comments that do not start with '*'
        ("js/template_fetch.js", 3),
        ("js/template_fetch.js", 4),
        ("go/sprintf.go", 11),
    ]:
        assert sites[where]["kind"] == "mention", where
    assert not any(s["file"] == "py/not_ollama.py" and s["kind"] != "mention" for s in scan[0]["sites"])


def test_skips_gitignored_vendored_binary(scan):
    r, sites = scan
    files = {s["file"] for s in r["sites"]}
    assert "ignored_dir/old.py" not in files  # .gitignore directory rule
    assert "py/skip.generated.py" not in files  # .gitignore glob
    assert not any(f.startswith("node_modules") for f in files)
    assert "config/blob.json" not in files  # binary
    assert r["stats"]["skipped"]["gitignored"] == 2
    assert r["stats"]["skipped"]["vendored"] == 1
    assert r["stats"]["skipped"]["binary"] == 1
    assert r["stats"]["by_kind"] == {
        "config": 9,
        "mention": 9,
        "ollama_go": 2,
        "raw_http": 10,
        "langchain": 2,
        "ollama_js": 2,
        "openai_sdk": 4,
        "llamaindex": 1,
        "litellm": 1,
        "ollama_python": 3,
    }


def test_huge_file_skipped(tmp_path):
    (tmp_path / "big.py").write_text(
        "import requests\n" + "x = 1\n" * 10 + 'requests.post("http://h:11434/api/chat")\n'
    )
    r = scan_code(str(tmp_path), max_bytes=50)
    assert r["sites"] == [] and r["stats"]["skipped"]["huge"] == 1


def test_openai_sdk_not_at_ollama_is_ignored():
    text = 'from openai import OpenAI\nclient = OpenAI()\nclient.chat.completions.create(model="gpt-4o")\n'
    assert scan_text(text, "x.py", "python") == []


def test_unparseable_python_docstring_fallback():
    """Python ast cannot parse (Python 2 print): a statement-level triple-quoted string is still
    prose, while one passed as an argument stays part of the call."""
    text = (
        '"""Docs: requests.post("http://localhost:11434/api/chat")."""\n'
        "import requests\n"
        'print "py2"\n'
        "r = requests.post(\n"
        '    """http://localhost:11434/api/generate""", json={"format": "json"})\n'
    )
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
        (30, "/api/chat"),
        (41, "/api/generate"),
        (50, "/api/chat"),
        (61, "/api/chat"),
    ]
    assert {"num_ctx", "keep_alive", "num_predict", "options"} <= set(calls[0]["ollama_params"])
    assert calls[0]["num_ctx"] == 2048 and calls[0]["keep_alive"] == "30m"
    assert "format" in calls[1]["ollama_params"] and calls[1]["format"] == "json"
    assert calls[2]["uses_tools"] is True
    assert all(s["client"] == "httpx" and s["models"] == [] for s in calls)  # model is a variable
    assert sites[("assistant.py", 6)]["kind"] == "mention"  # module docstring
    assert sites[("assistant.py", 15)]["kind"] == "config"
    assert sites[("assistant.py", 15)]["settings"] == {"OLLAMA_HOST": "http://127.0.0.1:11434"}
    oa = sites[("openai_client.py", 9)]
    assert (oa["kind"], oa["endpoint"], oa["tool_choice"]) == ("openai_sdk", "/v1/chat/completions", "required")
    assert "tool_choice" in oa["ollama_params"]


def test_detector_table_is_sound():
    """Every row of code_detectors.yaml compiles, says what it means, and reports a kind the inventory
    schema allows."""
    table = detector_table()
    schema = json.loads(resources.files("migrate").joinpath("schemas/inventory.schema.json").read_text())
    kinds = set(schema["properties"]["code_sites"]["items"]["properties"]["kind"]["enum"])
    ids = [d.id for d in table.detectors]
    assert len(ids) == len(set(ids))
    for d in table.detectors:
        assert d.means.strip(), d.id
        if d.report == "call":
            for lang in d.languages or ("python", "js", "go"):
                assert d.kind.format(language=lang) in kinds, (d.id, lang)
    assert {"config", "mention"} <= kinds


def test_parameter_vocabulary_is_sound():
    """Every request field says what it means; `context` is reported like `raw` (Ollama-only)."""
    params = package_data("code_detectors.yaml")["parameters"]
    for name, spec in params.items():
        assert spec.get("means", "").strip(), name
        assert spec.get("report") in (None, "always", "v1"), name
    voc = vocabulary()
    assert {"context", "raw"} <= set(voc.always)
    assert voc.spelling["numCtx"] == "num_ctx" and voc.go_fields["Context"] == "context"


def test_bad_detector_row_names_itself():
    with pytest.raises(ValueError, match="detector broken: requires an unknown signal"):
        _detector({"id": "broken", "means": "x", "pattern": "x", "requires": ["nope"], "kind": "raw_http"}, set())
    with pytest.raises(ValueError, match="detector nokind: report"):
        _detector({"id": "nokind", "means": "x", "pattern": "x"}, set())


PARAMS = Path(__file__).parent / "fixtures" / "code" / "params"


@pytest.fixture(scope="module")
def params_scan():
    r = scan_code(str(PARAMS))
    return r, {(s["file"], s["line"]): s for s in r["sites"] if s["kind"] != "mention"}


@pytest.mark.parametrize(
    "where,kind,models,params",
    [
        # JSON.stringify({ model: "mistral", prompt, raw: true, context }): shorthand counts like `context: context`
        (("js/generate_shorthand.js", 8), "raw_http", ["mistral"], ["context", "raw"]),
        # { model, ...defaults, prompt, context } where defaults spreads sampling: keys of both objects count
        (
            ("js/generate_shorthand.js", 17),
            "ollama_js",
            ["llama3.2:3b"],
            ["context", "format", "keep_alive", "num_ctx", "options"],
        ),
        # `const { context } = await ollama.generate(...)` reads context back; it does not send it
        (("js/generate_shorthand.js", 22), "ollama_js", ["llama3.2:3b"], []),
        (("py/kwargs.py", 9), "ollama_python", ["llama3.1:8b"], ["context"]),  # keyword argument
        (
            ("py/kwargs.py", 14),
            "ollama_python",
            ["llama3.1:8b"],  # **dict(...), **{...}
            ["context", "keep_alive", "num_ctx", "options", "raw"],
        ),
        (
            ("py/kwargs.py", 19),
            "raw_http",
            ["llama3.1:8b"],  # json={**body} -> body -> SAMPLING
            ["context", "keep_alive", "num_ctx", "options"],
        ),
    ],
)
def test_parameters_by_shorthand_spread_and_keyword(params_scan, where, kind, models, params):
    s = params_scan[1][where]
    assert (s["kind"], s["endpoint"], s["models"], s["ollama_params"]) == (kind, "/api/generate", models, params)


def test_values_from_spread_objects(params_scan):
    sites = params_scan[1]
    s = sites[("js/generate_shorthand.js", 17)]
    assert (s["num_ctx"], s["keep_alive"], s["format"]) == (8192, "15m", "json")
    s = sites[("py/kwargs.py", 14)]
    assert (s["num_ctx"], s["keep_alive"]) == (4096, "5m")
    assert sites[("py/kwargs.py", 19)]["stream"] is False  # written inline, next to the spread
    assert sorted(params_scan[1]) == [
        ("js/generate_shorthand.js", 8),
        ("js/generate_shorthand.js", 17),
        ("js/generate_shorthand.js", 22),
        ("py/kwargs.py", 9),
        ("py/kwargs.py", 14),
        ("py/kwargs.py", 19),
    ]


def test_generate_context_is_a_high_risk(params_scan):
    """Every call that sends /api/generate `context` (inline, shorthand, spread or keyword) is evidence."""
    from migrate.inventory.risks import assess

    risk = {r["id"]: r for r in assess({"code_sites": params_scan[0]["sites"]})}["generate-context-stateful"]
    assert risk["severity"] == "high"
    assert risk["evidence"] == [
        "js/generate_shorthand.js:8 (raw_http)",
        "js/generate_shorthand.js:17 (ollama_js)",
        "py/kwargs.py:9 (ollama_python)",
        "py/kwargs.py:14 (ollama_python)",
        "py/kwargs.py:19 (raw_http)",
    ]
    assert risk["fix"].startswith("5 /api/generate call(s) pass 'context'")
    assert "silently starts a new conversation" in risk["fix"]


def _params_of(text: str, lang: str) -> dict:
    return {s["line"]: s["ollama_params"] for s in scan_text(text, "x", lang) if s["kind"] != "mention"}


def test_shorthand_only_in_objects_and_only_known_keys():
    text = (
        'import ollama from "ollama"\n'
        'export const a = (prompt, images) => ollama.generate({ model: "m", prompt, images })\n'
        'export const b = (q) => ollama.chat({ model: "m", messages: q }).then((r) => { raw })\n'
        'export const c = (prompt, mystery) => ollama.generate({ model: "m", prompt, mystery, "context" })\n'
    )
    assert _params_of(text, "js") == {2: ["images"], 3: [], 4: []}


def test_spread_uses_the_nearest_definition_above():
    text = (
        "import ollama\n"
        'opts = {"raw": True}\n'
        "def first(p):\n"
        '    return ollama.generate(model="m", prompt=p, **opts)\n'
        'opts = {"context": [1, 2]}\n'
        "def second(p):\n"
        '    return ollama.generate(model="m", prompt=p, **opts, **unknown)\n'
        "def power(n):\n"
        '    return ollama.generate(model="m", prompt=str(2 ** n))\n'
        'n = {"think": True}\n'
    )
    assert _params_of(text, "python") == {4: ["raw"], 7: ["context"], 9: []}


@pytest.mark.parametrize(
    "text,signed,value",
    [
        ("16384", False, 16384),
        (" 16384, more", False, 16384),
        ("8_192", False, 8192),
        ("-1", False, None),
        ("-1", True, -1),
        ("+5", True, 5),
        ("abc", True, None),
        (None, False, None),
        ("4096}", True, 4096),
    ],
)
def test_leading_int(text, signed, value):
    """The one number reader of code values and log fields."""
    from migrate.inventory.numbers import leading_int

    assert leading_int(text, signed=signed) == value
