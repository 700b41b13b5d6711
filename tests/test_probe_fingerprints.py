"""`migrate probe` against mocked servers of every kind (respx), built from the engine fact sheets
and the real recordings in tests/fixtures/realdata (vLLM /v1/models and /metrics dumps, SGLang metrics,
Ollama /api/version, /api/tags, /api/ps and /api/show), plus the CLI contract."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from click.testing import CliRunner

from migrate.cli import main
from migrate.errors import MigrateError
from migrate.probe import metric_prefix, probe
from tests.conftest import realdata_dir
from tests.realdata_loader import json_values, load

URL = "http://engine.test:8000"


def _real(name: str) -> str:
    return (realdata_dir() / name).read_text(encoding="utf-8")


def _real_json(name: str, which: int = 0):
    """The n-th JSON object embedded in a recording (demo .md files hold pretty-printed JSON)."""
    return [v for _, v in json_values(_real(name))][which]


def _not_found(router):
    # Every path not mocked explicitly answers 404, as real servers do.
    router.route().mock(return_value=httpx.Response(404, json={"detail": "Not Found"}))


@pytest.fixture
def router():
    with respx.mock(base_url=URL, assert_all_called=False) as r:
        yield r


def test_vllm_from_real_models_and_metrics(router):
    router.get("/v1/models").mock(
        return_value=httpx.Response(200, text=_real("vllm_v1models_with_lora_adapters_jq_aibrix-docs.json"))
    )
    router.get("/metrics").mock(
        return_value=httpx.Response(
            200,
            text=_real("vllm_metrics_v0.7.x-V1_process+gauges_chunk1_productionstack318.prom"),
            headers={"server": "uvicorn"},
        )
    )
    router.get("/health").mock(return_value=httpx.Response(200, text=""))
    router.get("/version").mock(return_value=httpx.Response(200, json={"version": "0.7.3"}))
    _not_found(router)
    r = probe(URL + "/v1")
    assert r.kind == "vllm" and r.version == "0.7.3"
    assert [(m.id, m.context_length, m.parent) for m in r.models] == [
        ("Qwen/Qwen2.5-Coder-1.5B-Instruct", 32768, None),
        ("lora-1", None, "Qwen/Qwen2.5-Coder-1.5B-Instruct"),
        ("lora-2", None, "Qwen/Qwen2.5-Coder-1.5B-Instruct"),
    ]
    # The real dump starts with process_* families: the engine prefix must still win.
    assert r.metrics["exposed"] and r.metrics["prefix"] == "vllm:"
    assert r.health == {"ok": True, "endpoint": "/health", "status": 200, "detail": None}
    assert r.url == URL


def test_vllm_behind_api_key_is_named_by_its_metrics(router):
    router.get("/v1/models").mock(return_value=httpx.Response(401, json={"error": "Unauthorized"}))
    router.get("/metrics").mock(
        return_value=httpx.Response(200, text=_real("vllm_metrics_partial_v0.7.x_qwen2.5-coder_aibrix-docs.prom"))
    )
    router.get("/health").mock(return_value=httpx.Response(200))
    _not_found(router)
    r = probe(URL)
    assert r.kind == "vllm" and r.models == []
    assert any("API key" in n for n in r.notes)


def test_ollama_from_real_recordings(router):
    version = _real_json("ollama_version_api_and_cli_v0.11.6.md")
    tags_rec = load("ollama_api_tags_raw_16models_2025-06_langchain.yaml")[0]
    tags = json.loads(tags_rec.lines[0])
    ps = _real_json("ollama_ps_cli_and_api_ps_ctx32768_v0.10.1.md")
    show = json.loads(_real("ollama_api_show_llama3.2-3b_2025-02_crewai.json"))
    router.get("/").mock(return_value=httpx.Response(200, text="Ollama is running"))
    router.get("/api/version").mock(return_value=httpx.Response(200, json=version))
    router.get("/api/tags").mock(return_value=httpx.Response(200, json=tags))
    router.get("/api/ps").mock(return_value=httpx.Response(200, json=ps))

    def show_route(request):
        name = json.loads(request.content)["model"]
        if name.startswith("llama3.2"):
            return httpx.Response(200, json=show)
        return httpx.Response(404, json={"error": f"model '{name}' not found"})

    router.post("/api/show").mock(side_effect=show_route)
    _not_found(router)
    r = probe(URL)
    assert r.kind == "ollama" and r.version == "0.11.6"
    by_id = {m.id: m for m in r.models}
    assert len(tags["models"]) == 16 and len(by_id) == 17  # 16 tags + the loaded hermes3:8b
    hermes = by_id["hermes3:8b"]
    assert (hermes.loaded, hermes.context_length) == (True, 32768)
    llama = next(m for n, m in by_id.items() if n.startswith("llama3.2"))
    assert llama.trained_context_length == show["model_info"]["llama.context_length"] == 131072
    assert llama.context_length is None and llama.loaded is False
    assert r.health["ok"] and r.health["endpoint"] == "/"
    assert r.metrics["exposed"] is False


def test_ollama_old_ps_without_context_length(router):
    router.get("/").mock(return_value=httpx.Response(200, text="Ollama is running"))
    router.get("/api/version").mock(return_value=httpx.Response(200, json={"version": "0.9.6"}))
    router.get("/api/tags").mock(return_value=httpx.Response(200, json={"models": []}))
    router.get("/api/ps").mock(
        return_value=httpx.Response(200, text=_real("ollama_api_ps_no-context_length_gemma3_2025-08_nirmato13.json"))
    )
    router.post("/api/show").mock(return_value=httpx.Response(404, json={"error": "not found"}))
    _not_found(router)
    r = probe(URL)
    assert [(m.id, m.loaded, m.context_length) for m in r.models] == [("gemma3:latest", True, None)]
    assert any("context_length" in n for n in r.notes)


def test_llamacpp_shapes_of_the_real_server(router):
    # Shapes observed on the xllamacpp server of the test bed (see docs/probe.md).
    hdr = {"server": "llama.cpp"}
    router.get("/health").mock(return_value=httpx.Response(200, json={"status": "ok"}, headers=hdr))
    router.get("/props").mock(
        return_value=httpx.Response(
            200,
            headers=hdr,
            json={
                "default_generation_settings": {"n_ctx": 4096},
                "total_slots": 2,
                "model_alias": "gemma3-270m",
                "build_info": "b6500-abc",
            },
        )
    )
    router.get("/v1/models").mock(
        return_value=httpx.Response(
            200,
            headers=hdr,
            json={
                "object": "list",
                "data": [
                    {
                        "id": "gemma3-270m",
                        "object": "model",
                        "owned_by": "llamacpp",
                        "meta": {"n_ctx": 4096, "n_ctx_train": 32768},
                    }
                ],
            },
        )
    )
    router.get("/metrics").mock(
        return_value=httpx.Response(
            200, headers=hdr, text=("# TYPE llamacpp:prompt_tokens_total counter\nllamacpp:prompt_tokens_total 0\n")
        )
    )
    router.route().mock(return_value=httpx.Response(404, headers=hdr, json={"error": {}}))
    r = probe(URL)
    assert r.kind == "llamacpp" and r.version == "b6500-abc"
    assert [(m.id, m.context_length, m.trained_context_length) for m in r.models] == [("gemma3-270m", 4096, 32768)]
    assert r.metrics["prefix"] == "llamacpp:"


@pytest.mark.parametrize(
    "kind,owned_by,metrics,expected_prefix",
    [
        ("sglang", "sglang", "sglang_metrics_excerpt_llama3.2-3b_pr1853.prom", "sglang:"),
        ("lmdeploy", "lmdeploy", "lmdeploy:num_requests_running 0\n", "lmdeploy:"),
        ("tabbyapi", "tabbyAPI", None, None),
        ("mlc", "MLC-LLM", "prompt_tokens_sum\t12\ndecode_tokens_per_s\t3.5\n", None),
    ],
)
def test_owned_by_kinds(router, kind, owned_by, metrics, expected_prefix):
    router.get("/v1/models").mock(
        return_value=httpx.Response(
            200, json={"object": "list", "data": [{"id": "m", "object": "model", "owned_by": owned_by}]}
        )
    )
    if metrics is not None:
        text = _real(metrics) if metrics.endswith(".prom") else metrics
        router.get("/metrics").mock(return_value=httpx.Response(200, text=text))
    _not_found(router)
    r = probe(URL)
    assert r.kind == kind
    assert r.metrics["exposed"] is (metrics is not None)
    assert r.metrics["prefix"] == expected_prefix


def test_sglang_server_info_gives_version_and_max_model_len(router):
    router.get("/get_server_info").mock(return_value=httpx.Response(200, json={"version": "0.5.23"}))
    router.get("/v1/models").mock(
        return_value=httpx.Response(
            200, json={"data": [{"id": "Qwen/Qwen3-8B", "owned_by": "sglang", "max_model_len": 40960}]}
        )
    )
    _not_found(router)
    r = probe(URL)
    assert (r.kind, r.version) == ("sglang", "0.5.23")
    assert [(m.id, m.context_length) for m in r.models] == [("Qwen/Qwen3-8B", 40960)]


def test_tgi_info(router):
    router.get("/info").mock(
        return_value=httpx.Response(
            200,
            json={
                "model_id": "meta-llama/Llama-3.1-8B-Instruct",
                "max_input_tokens": 8191,
                "max_total_tokens": 8192,
                "router": "text-generation-router",
                "version": "3.3.6",
            },
        )
    )
    router.get("/health").mock(
        return_value=httpx.Response(503, json={"error": "unhealthy", "error_type": "healthcheck"})
    )
    router.get("/metrics").mock(return_value=httpx.Response(200, text="tgi_request_count 4\n"))
    _not_found(router)
    r = probe(URL)
    assert (r.kind, r.version) == ("tgi", "3.3.6")
    assert [(m.id, m.context_length) for m in r.models] == [("meta-llama/Llama-3.1-8B-Instruct", 8192)]
    assert r.health["ok"] is False and r.health["status"] == 503
    assert r.metrics["prefix"] == "tgi_"


def test_trtllm_uses_prometheus_path_and_never_reads_destructive_metrics(router):
    router.get("/v1/models").mock(
        return_value=httpx.Response(200, json={"data": [{"id": "Qwen/Qwen3-8B", "owned_by": "tensorrt_llm"}]})
    )
    router.get("/version").mock(return_value=httpx.Response(200, json={"version": "1.2.1"}))
    router.get("/health").mock(return_value=httpx.Response(200))
    json_metrics = router.get("/metrics").mock(return_value=httpx.Response(200, json=[{"iter": 1}]))
    router.get("/prometheus/metrics").mock(return_value=httpx.Response(200, text="trtllm_num_requests_running 0\n"))
    _not_found(router)
    r = probe(URL)
    assert (r.kind, r.version) == ("trtllm", "1.2.1")
    assert r.metrics == {
        "exposed": True,
        "prefix": "trtllm_",
        "path": "/prometheus/metrics",
        "status": 200,
        "format": "prometheus",
    }
    assert not json_metrics.called


def test_ovms_kserve_ready(router):
    router.get("/v2/health/ready").mock(return_value=httpx.Response(200))
    router.get("/metrics").mock(return_value=httpx.Response(200, text="ovms_requests_success 3\n"))
    _not_found(router)
    r = probe(URL)
    assert r.kind == "ovms" and r.health["endpoint"] == "/v2/health/ready" and r.health["ok"]


def test_generic_openai_gateway_from_real_listing(router):
    # A real gateway listing (Envoy AI Gateway in front of vLLM): nothing engine-specific shows.
    listing = _real_json("vllm-0.23_v1chat_json_jsonschema-strict_toolchoice-required_raw_publicai-probe.md")
    router.get("/v1/models").mock(return_value=httpx.Response(200, json=listing))
    _not_found(router)
    r = probe(URL)
    assert r.kind == "openai"
    assert "swiss-ai/Apertus-v1.5-70B" in [m.id for m in r.models]
    assert r.health["endpoint"] == "/v1/models" and r.health["ok"]


def test_unreachable_raises_exit_3(router):
    router.route().mock(side_effect=httpx.ConnectError("Connection refused"))
    with pytest.raises(MigrateError) as err:
        probe(URL)
    assert err.value.code == 3 and "unreachable" in str(err.value)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("process_cpu_seconds_total 1\nvllm:num_requests_running 0\n", "vllm:"),
        ("", None),
        ("python_gc_objects_collected_total 3\n", None),
        ("# HELP x\ndynamo_frontend:requests_total 1\n", "dynamo_frontend:"),
    ],
)
def test_metric_prefix(text, expected):
    assert metric_prefix(text) == expected


def test_metrics_empty_body_is_exposed_without_prefix(router):
    # vLLM issue 8612: /metrics answered 200 with an empty body.
    router.get("/v1/models").mock(return_value=httpx.Response(200, json={"data": [{"id": "m", "owned_by": "vllm"}]}))
    router.get("/metrics").mock(
        return_value=httpx.Response(200, text="", headers={"content-type": "text/plain; version=0.0.4; charset=utf-8"})
    )
    _not_found(router)
    r = probe(URL)
    assert r.metrics["exposed"] and r.metrics["prefix"] is None and r.metrics["format"] == "empty"


# -- CLI -------------------------------------------------------------------------------------------


def test_cli_json_is_one_document(router):
    router.get("/").mock(return_value=httpx.Response(200, text="Ollama is running"))
    router.get("/api/version").mock(return_value=httpx.Response(200, json={"version": "0.11.6"}))
    router.get("/api/tags").mock(return_value=httpx.Response(200, json={"models": []}))
    router.get("/api/ps").mock(return_value=httpx.Response(200, json={"models": []}))
    _not_found(router)
    res = CliRunner().invoke(main, ["probe", URL, "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert {"url", "kind", "version", "models", "health", "metrics"} <= set(doc)
    assert (doc["kind"], doc["version"]) == ("ollama", "0.11.6")
    assert set(doc["metrics"]) >= {"exposed", "prefix"}


def test_cli_unknown_server_is_inconclusive(router):
    _not_found(router)
    res = CliRunner().invoke(main, ["probe", URL])
    assert res.exit_code == 4
    assert res.stderr.strip().count("\n") == 0 and res.stderr.startswith("error:")


def test_cli_unset_api_key_env_is_usage_error(monkeypatch):
    monkeypatch.delenv("PROBE_TEST_KEY", raising=False)
    res = CliRunner().invoke(main, ["probe", URL, "--api-key-env", "PROBE_TEST_KEY"])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1


def test_cli_sends_bearer_key_without_printing_it(router, monkeypatch):
    monkeypatch.setenv("PROBE_TEST_KEY", "sk-secret-123")
    seen = []

    def models(request):
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"data": [{"id": "m", "owned_by": "vllm"}]})

    router.get("/v1/models").mock(side_effect=models)
    _not_found(router)
    res = CliRunner().invoke(main, ["probe", URL, "--json", "--api-key-env", "PROBE_TEST_KEY"])
    assert res.exit_code == 0
    assert seen == ["Bearer sk-secret-123"]
    assert "sk-secret-123" not in res.output


@pytest.mark.parametrize("bad", ["not a url", "", "ftp://host:21"])
def test_cli_bad_url_is_usage_error(bad):
    res = CliRunner().invoke(main, ["probe", bad])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and res.stderr.startswith("error:")


@pytest.mark.parametrize(
    "answer,said",
    [
        (httpx.Response(200, json={}), "HTTP 200"),  # an empty JSON object is no engine's answer
        (httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"}), "text/html"),
        (httpx.Response(200, text="{oops", headers={"content-type": "application/json"}), "invalid JSON"),
        (httpx.Response(204), "HTTP 204 with an empty body"),  # not a KServe readiness answer
    ],
    ids=["empty-json", "html", "invalid-json", "204"],
)
def test_the_same_answer_on_every_route_is_no_fingerprint(router, answer, said):
    router.route().mock(return_value=answer)
    r = probe(URL)
    assert r.kind is None and r.evidence == [] and said in r.reason
    if said != "HTTP 200":  # (JSON at /metrics is TRT-LLM's shape, so the empty object still counts there)
        assert not r.metrics["exposed"]


def test_an_empty_200_on_every_route_is_no_kserve_readiness(router):
    router.route().mock(return_value=httpx.Response(200))
    r = probe(URL)
    assert r.kind is None and "HTTP 200 with an empty body" in r.reason


def test_kserve_ready_needs_an_empty_or_ready_answer(router):
    router.get("/v2/health/ready").mock(return_value=httpx.Response(200, json={"ready": True}))
    _not_found(router)
    assert probe(URL).kind == "ovms"
