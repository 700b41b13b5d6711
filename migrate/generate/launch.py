"""Per-engine launch argv: one builder per server program (engines.md, one section each).

The static facts of a launch (image, port, health and metrics routes, docker flags, what /v1/models
reports, caveats) come from the engine registry (``migrate/data/engines.yaml``, ``launch:``); a builder
only assembles the command line and any config file. Builders return plain data; templates turn it
into a script, a `docker run` and a Kubernetes manifest. Every argv element is either a literal
string (quoted when rendered), an ``Env`` reference or a ``Local`` file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

from .. import engines
from ..engines import Engine


@dataclass(frozen=True)
class Env:
    """A value read from an environment variable at run time (secrets, operator-supplied paths)."""

    name: str


@dataclass(frozen=True)
class Local:
    """A file generated next to the script; scripts resolve it beside themselves, containers at /config."""

    name: str


@dataclass
class Launch:
    engine: str
    argv: list  # full command line (binary first)
    image: Optional[str]
    entry: int  # leading argv elements the image's entrypoint already runs
    port: int
    health: str  # readiness path
    live: str  # liveness path
    metrics_path: Optional[str]
    served_id: str  # the model id /v1/models reports (what the gateway sends)
    env: dict = field(default_factory=dict)  # NAME -> str | Env
    docker_flags: list = field(default_factory=list)
    files: dict = field(default_factory=dict)  # extra config files: name -> text
    notes: list = field(default_factory=list)
    gpu_resource: Optional[str] = "nvidia.com/gpu"
    workdir: Optional[str] = None


KEY = Env("ENGINE_API_KEY")


def build(engine_id: str, m: dict) -> Launch:
    """The launch of ``m`` (the per-model decisions) on one engine, by the registry's builder name."""
    engine = engines.get(engine_id)
    return globals()[engine.launch.builder](m, engine)


def _launch(
    engine: Engine,
    m: dict,
    argv: list,
    *,
    names: Optional[list] = None,
    image: Optional[str] = None,
    files: Optional[dict] = None,
    env: Optional[dict] = None,
    notes: tuple = (),
) -> Launch:
    """Assemble a Launch from the registry's facts and the builder's argv; ``names``: served names passed."""
    t = engine.launch
    names = m["served_names"] if names is None else names
    served_id = {"name": names[0] if names else m["source"], "checkpoint": m["source"], "folder": m["exl_folder"]}[
        t.served_id
    ]
    entry = len(argv) if t.entrypoint_args == "all" else int(t.entrypoint_args)
    return Launch(
        engine.id,
        argv,
        image or t.image,
        entry,
        engine.port,
        engine.health,
        engine.live or engine.health,
        engine.metrics_path,
        served_id,
        env=dict(env or {}),
        docker_flags=list(t.docker_flags),
        files=dict(files or {}),
        notes=[*t.notes, *notes],
        gpu_resource=t.gpu_resource,
        workdir=t.workdir,
    )


def _parsers(argv: list, m: dict, tool_flag: str, reasoning_flag: str, extra_tool: tuple = ()) -> None:
    p = m["parsers"]
    if p.get("tool") and m["tools_wanted"]:
        argv += [*extra_tool, tool_flag, p["tool"]]
    if p.get("reasoning"):
        argv += [reasoning_flag, p["reasoning"]]


def vllm(m: dict, engine: Engine) -> Launch:
    argv = [
        "vllm",
        "serve",
        m["source"],
        "--served-model-name",
        *m["served_names"],
        "--host",
        "0.0.0.0",
        "--port",
        str(engine.port),
    ]
    if not m["embedding"]:
        argv += ["--max-model-len", str(m["context"])]
    argv += ["--tensor-parallel-size", str(m["tp"])]
    if m["quant_flag"]:
        argv += ["--quantization", m["quant_flag"]]
    if m["trust_remote_code"]:
        argv += ["--trust-remote-code"]
    _parsers(argv, m, "--tool-call-parser", "--reasoning-parser", ("--enable-auto-tool-choice",))
    if m["generation_config"]:
        argv += ["--override-generation-config", json.dumps(m["generation_config"], sort_keys=True)]
    argv += ["--api-key", KEY]
    return _launch(engine, m, argv)


def sglang(m: dict, engine: Engine) -> Launch:
    argv = [
        "python3",
        "-m",
        "sglang.launch_server",
        "--model-path",
        m["source"],
        "--served-model-name",
        m["served_names"][0],
        "--host",
        "0.0.0.0",
        "--port",
        str(engine.port),
    ]
    if not m["embedding"]:
        argv += ["--context-length", str(m["context"])]
    argv += ["--tp-size", str(m["tp"]), "--enable-metrics"]
    if m["quant_flag"]:
        argv += ["--quantization", m["quant_flag"]]
    if m["trust_remote_code"]:
        argv += ["--trust-remote-code"]
    _parsers(argv, m, "--tool-call-parser", "--reasoning-parser")
    argv += ["--api-key", KEY]
    notes = (
        ["SGLang takes one --served-model-name: the Ollama tag is kept by the gateway (model_group_alias)"]
        if len(m["served_names"]) > 1
        else []
    )
    return _launch(engine, m, argv, names=m["served_names"][:1], notes=notes)


def tgi(m: dict, engine: Engine) -> Launch:
    out_budget = max(256, min(m["p95_output"] or 1024, m["context"] // 2))
    argv = [
        "text-generation-launcher",
        "--model-id",
        m["source"],
        "--hostname",
        "0.0.0.0",
        "--port",
        str(engine.port),
        "--max-input-tokens",
        str(max(1, m["context"] - out_budget)),
        "--max-total-tokens",
        str(m["context"]),
        "--num-shard",
        str(m["tp"]),
    ]
    if m["quant_flag"]:
        argv += ["--quantize", m["quant_flag"]]
    argv += ["--api-key", KEY]
    return _launch(engine, m, argv)


def trtllm(m: dict, engine: Engine) -> Launch:
    argv = [
        "trtllm-serve",
        m["source"],
        "--host",
        "0.0.0.0",
        "--port",
        str(engine.port),
        "--backend",
        "pytorch",
        "--max_seq_len",
        str(m["context"]),
        "--tp_size",
        str(m["tp"]),
    ]
    _parsers(argv, m, "--tool_parser", "--reasoning_parser")
    argv += ["--config", Local("extra-llm-api.yaml")]
    cfg = (
        "# TensorRT-LLM LLM-API options (trtllm-serve --config); generated by migrate generate.\n"
        "# Iteration stats feed /metrics (JSON) and /prometheus/metrics; per-request metrics need return_perf_metrics.\n"
        "enable_iter_perf_stats: true\nreturn_perf_metrics: true\n"
        "# response_format is only enforced when a guided decoding backend is set.\n"
        "guided_decoding_backend: xgrammar\n"
        "kv_cache_config:\n  enable_block_reuse: true\n  free_gpu_memory_fraction: 0.9\n"
    )
    return _launch(engine, m, argv, files={"extra-llm-api.yaml": cfg})


def lmdeploy(m: dict, engine: Engine) -> Launch:
    argv = [
        "lmdeploy",
        "serve",
        "api_server",
        m["source"],
        "--server-name",
        "0.0.0.0",
        "--server-port",
        str(engine.port),
        "--model-name",
        m["served_names"][0],
        "--session-len",
        str(m["context"]),
        "--tp",
        str(m["tp"]),
        "--enable-prefix-caching",
    ]
    if m["quant_flag"]:
        argv += ["--model-format", m["quant_flag"]]
    p = m["parsers"]
    if p.get("tool") and m["tools_wanted"] and p["tool"] != "harmony-auto":
        argv += ["--tool-call-parser", p["tool"]]
    if p.get("reasoning") and p["reasoning"] != "harmony-auto":
        argv += ["--reasoning-parser", p["reasoning"]]
    argv += ["--api-keys", KEY]
    return _launch(engine, m, argv, names=m["served_names"][:1])


def tabbyapi(m: dict, engine: Engine) -> Launch:
    """TabbyAPI serves ExLlamaV3 and ExLlamaV2 weights; the engine id is its ``backend``."""
    folder = m["exl_folder"]
    p = m["parsers"]
    lines = [
        "# TabbyAPI config.yml generated by migrate generate (copy to TabbyAPI's config.yml)",
        "network:",
        "  host: 0.0.0.0",
        f"  port: {engine.port}",
        "  disable_auth: false",
        "model:",
        "  model_dir: models",
        f"  model_name: {json.dumps(folder)}",
        f"  backend: {engine.id}",
        f"  max_seq_len: {m['context']}",
        f"  cache_size: {max(256, -(-m['context'] * max(1, min(m['concurrency'], 32)) // 256) * 256)}",
        f"  max_batch_size: {max(1, min(m['concurrency'], 32))}",
        f"  tensor_parallel: {'true' if m['tp'] > 1 else 'false'}",
    ]
    if p.get("tool") and m["tools_wanted"]:
        lines.append(f"  tool_format: {json.dumps(p['tool'])}")
    if p.get("reasoning"):
        lines.append("  reasoning: true")
    argv = [
        "python3",
        "main.py",
        "--host",
        "0.0.0.0",
        "--port",
        str(engine.port),
        "--model_name",
        folder,
        "--max_seq_len",
        str(m["context"]),
    ]
    return _launch(engine, m, argv, files={"config.yml": "\n".join(lines) + "\n"})


def ovms(m: dict, engine: Engine) -> Launch:
    argv = [
        "ovms",
        "--source_model",
        m["source"],
        "--model_repository_path",
        "/models",
        "--model_name",
        m["served_names"][0],
        "--rest_port",
        str(engine.port),
        "--target_device",
        m["ov_device"],
        "--task",
        "text_generation",
        "--max_num_seqs",
        str(max(1, m["concurrency"])),
        "--metrics_enable",
    ]
    if m["quant_flag"]:
        argv += ["--weight-format", m["quant_flag"]]
    p = m["parsers"]
    if p.get("tool") and m["tools_wanted"]:
        argv += ["--tool_parser", p["tool"]]
    if p.get("reasoning"):
        argv += ["--reasoning_parser", p["reasoning"]]
    image = engine.launch.gpu_image if m["ov_device"] == "GPU" else None
    return _launch(engine, m, argv, names=m["served_names"][:1], image=image, env={"API_KEY": KEY})


def mlc(m: dict, engine: Engine) -> Launch:
    overrides = f"context_window_size={m['context']};tensor_parallel_shards={m['tp']};max_num_sequence={max(1, m['concurrency'])}"
    argv = [
        "mlc_llm",
        "serve",
        m["source"],
        "--mode",
        "server",
        "--host",
        "0.0.0.0",
        "--port",
        str(engine.port),
        "--overrides",
        overrides,
        "--api-key",
        KEY,
    ]
    return _launch(engine, m, argv)


def llamacpp(m: dict, engine: Engine) -> Launch:
    par = max(1, m["concurrency"])
    names = [n for n in m["served_names"] if "," not in n]  # --alias is a comma list
    argv = ["llama-server", *m["gguf_args"], "--host", "0.0.0.0", "--port", str(engine.port)]
    if names:
        argv += ["--alias", ",".join(names)]
    # -c is the total KV budget shared by the slots: context per slot x slots.
    argv += [
        "--ctx-size",
        str(m["context"] * par),
        "--parallel",
        str(par),
        "--metrics",
        "--jinja",
        "--n-gpu-layers",
        "all",
    ]
    p = m["parsers"]
    if p.get("reasoning") in ("deepseek",):
        argv += ["--reasoning-format", p["reasoning"]]
    for key, flag in (
        ("temperature", "--temp"),
        ("top_p", "--top-p"),
        ("top_k", "--top-k"),
        ("repetition_penalty", "--repeat-penalty"),
    ):
        if key in m["generation_config"]:
            argv += [flag, str(m["generation_config"][key])]
    argv += ["--api-key", KEY]
    notes = (
        []
        if len(names) == len(m["served_names"])
        else ["a served name containing ',' is left to the gateway (llama-server --alias is a comma list)"]
    )
    return _launch(engine, m, argv, names=names, notes=notes)
