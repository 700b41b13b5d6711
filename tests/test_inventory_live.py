"""Live source: the REAL recorded /api/version, /api/tags, /api/show and /api/ps payloads served by
respx through the protocol layer's fetch."""

from __future__ import annotations

import json
import re

import httpx
import pytest
import respx

from migrate.inventory.live import default_num_ctx, inventory_live, ollama_url_from_env, parse_parameters
from tests.conftest import realdata_dir

URL = "http://ollama.test:11434"


def _ps_json(path):
    """The /api/ps JSON block out of a recorded demo markdown file."""
    text = path.read_text()
    start = text.index("{", text.index("ollama_ps_json"))
    end = text.index("```", start)
    return json.loads(text[start:end])


@pytest.fixture
def recorded():
    rd = realdata_dir()
    show = {
        "qwen3:8b": json.loads((rd / "ollama_api_show_qwen3-8b_arch-qwen3_v0.11.0.json").read_text()),
        "hermes3:8b": json.loads(
            (rd / "ollama_api_show_llama3.1-8b_withtensors_capabilities_2025-05_crewai.json").read_text()
        ),
        "gemma3:1b": json.loads((rd / "ollama_api_show_gemma3-1b_arch-gemma3_v0.10.0-rc0.json").read_text()),
    }
    ps = _ps_json(rd / "ollama_ps_cli_and_api_ps_ctx32768_v0.10.1.md")
    tags = {
        "models": [
            {"name": n, "model": n, "size": 1, "digest": "d" * 64, "details": s["details"]} for n, s in show.items()
        ]
    }
    return show, ps, tags


def _mock(router, show, ps, tags, version="0.10.1"):
    router.get(f"{URL}/api/version").respond(json={"version": version})
    router.get(f"{URL}/api/tags").respond(json=tags)
    router.get(f"{URL}/api/ps").respond(json=ps)

    def show_handler(request):
        name = json.loads(request.content)["model"]
        return (
            httpx.Response(200, json=show[name])
            if name in show
            else httpx.Response(404, json={"error": f"model '{name}' not found"})
        )

    router.post(f"{URL}/api/show").mock(side_effect=show_handler)


def test_live_inventory_from_recorded_payloads(recorded):
    show, ps, tags = recorded
    with respx.mock(assert_all_called=True) as router:
        _mock(router, show, ps, tags)
        inv = inventory_live(URL)
    assert inv["ok"] and inv["version"] == "0.10.1"
    models = {m["name"]: m for m in inv["models"]}
    q = models["qwen3:8b"]
    assert (q["family"], q["quantization"], q["parameter_size"], q["context_length"]) == (
        "qwen3",
        "Q4_K_M",
        "8.2B",
        40960,
    )
    assert q["parameters"] == {
        "stop": ["<|im_start|>", "<|im_end|>"],
        "temperature": 0.6,
        "top_k": 20,
        "top_p": 0.95,
        "repeat_penalty": 1,
    }
    assert q["capabilities"] == ["completion", "tools", "thinking"]
    assert (
        q["architecture"],
        q["parameter_count"],
        q["embedding_length"],
        q["block_count"],
        q["head_count"],
        q["head_count_kv"],
    ) == ("qwen3", 8190735360, 4096, 36, 32, 8)
    assert q["template_present"] is True and q["moe"] is False and q["expert_count"] is None
    # not loaded: the v0.10.1 default (4096) applies
    assert q["effective_context"] == 4096 and q["effective_context_source"].startswith("server default")
    # hermes3:8b is loaded in the recorded /api/ps with context 32768 and 4% on CPU
    h = models["hermes3:8b"]
    assert h["effective_context"] == 32768 and h["effective_context_source"] == "api/ps"
    assert h["context_length"] == 131072
    assert h["offload"]["cpu_offload"] is True and h["offload"]["cpu_share"] == pytest.approx(0.0368, abs=1e-3)
    g = models["gemma3:1b"]
    assert g["parameters"]["top_k"] == 64 and g["parameters"]["stop"] == ["<end_of_turn>"]


def test_effective_context_capped_at_trained(recorded):
    show, ps, tags = recorded
    with respx.mock() as router:
        _mock(router, show, {"models": []}, tags, version="0.5.7")
        inv = inventory_live(URL)
    g = {m["name"]: m for m in inv["models"]}["gemma3:1b"]
    assert g["effective_context"] == 2048  # <= 0.6.6 default
    assert default_num_ctx("0.20.1")["value"] is None


def test_unreachable_is_reported_not_raised():
    with respx.mock() as router:
        router.get(re.compile(r".*")).mock(side_effect=httpx.ConnectError("refused"))
        inv = inventory_live(URL)
    assert inv["ok"] is False and inv["error"].startswith("connection_refused")


def test_parse_parameters_and_env_url():
    assert parse_parameters(
        'num_ctx                        8192\nstop                           "a"\nstop                           "b"'
    ) == {"num_ctx": 8192, "stop": ["a", "b"]}
    assert ollama_url_from_env({}) == "http://127.0.0.1:11434"
    assert ollama_url_from_env({"OLLAMA_HOST": "0.0.0.0"}) == "http://0.0.0.0:11434"
    assert ollama_url_from_env({"OLLAMA_HOST": "https://ollama.example"}) == "https://ollama.example:443"
    assert ollama_url_from_env({"OLLAMA_HOST": "http://h:8080"}) == "http://h:8080"
