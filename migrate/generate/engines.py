"""Per-engine launch facts: argv, image, port, health and metrics paths (engines.md, one section each).

Builders return plain data; templates turn it into a script, a `docker run` and a Kubernetes manifest.
Every argv element is either a literal string (quoted when rendered) or an ``Env`` reference.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional, Union


@dataclass(frozen=True)
class Env:
    """A value read from an environment variable at run time (secrets, operator-supplied paths)."""
    name: str


@dataclass(frozen=True)
class Local:
    """A file generated next to the script; scripts resolve it beside themselves, containers at /config."""
    name: str


Arg = Union[str, Env, Local]


@dataclass
class Launch:
    engine: str
    argv: list                         # full command line (binary first)
    image: Optional[str]
    entry: int                         # leading argv elements the image's entrypoint already runs
    port: int
    health: str                        # readiness path
    live: str                          # liveness path
    metrics_path: Optional[str]
    served_id: str                     # the model id /v1/models reports (what the gateway sends)
    env: dict = field(default_factory=dict)      # NAME -> str | Env
    docker_flags: list = field(default_factory=list)
    files: dict = field(default_factory=dict)     # extra config files: name -> text
    notes: list = field(default_factory=list)
    api_path: str = "/v1"
    gpu_resource: Optional[str] = "nvidia.com/gpu"
    workdir: Optional[str] = None


PORTS = {"vllm": 8000, "sglang": 30000, "tgi": 3000, "trtllm": 8000, "lmdeploy": 23333, "exllamav3": 5000,
         "exllamav2": 5000, "ovms": 8000, "mlc": 8000, "llamacpp": 8080}
KEY = Env("ENGINE_API_KEY")


def build(engine: str, m: dict) -> Launch:
    return BUILDERS[engine](m)


def _parsers(argv: list, m: dict, tool_flag: str, reasoning_flag: str, extra_tool: tuple = ()) -> None:
    p = m["parsers"]
    if p.get("tool") and m["tools_wanted"]:
        argv += [*extra_tool, tool_flag, p["tool"]]
    if p.get("reasoning"):
        argv += [reasoning_flag, p["reasoning"]]


def vllm(m: dict) -> Launch:
    argv = ["vllm", "serve", m["source"], "--served-model-name", *m["served_names"],
            "--host", "0.0.0.0", "--port", str(PORTS["vllm"])]
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
    return Launch("vllm", argv, "vllm/vllm-openai:v0.33.0", 2, PORTS["vllm"], "/health", "/health", "/metrics",
                  m["served_names"][0], docker_flags=["--ipc=host"])


def sglang(m: dict) -> Launch:
    argv = ["python3", "-m", "sglang.launch_server", "--model-path", m["source"],
            "--served-model-name", m["served_names"][0], "--host", "0.0.0.0", "--port", str(PORTS["sglang"])]
    if not m["embedding"]:
        argv += ["--context-length", str(m["context"])]
    argv += ["--tp-size", str(m["tp"]), "--enable-metrics"]
    if m["quant_flag"]:
        argv += ["--quantization", m["quant_flag"]]
    if m["trust_remote_code"]:
        argv += ["--trust-remote-code"]
    _parsers(argv, m, "--tool-call-parser", "--reasoning-parser")
    argv += ["--api-key", KEY]
    notes = ["SGLang takes one --served-model-name: the Ollama tag is kept by the gateway (model_group_alias)"] \
        if len(m["served_names"]) > 1 else []
    return Launch("sglang", argv, "lmsysorg/sglang:latest", 0, PORTS["sglang"], "/health", "/health", "/metrics",
                  m["served_names"][0], docker_flags=["--ipc=host", "--shm-size", "32g"], notes=notes)


def tgi(m: dict) -> Launch:
    out_budget = max(256, min(m["p95_output"] or 1024, m["context"] // 2))
    argv = ["text-generation-launcher", "--model-id", m["source"], "--hostname", "0.0.0.0", "--port", str(PORTS["tgi"]),
            "--max-input-tokens", str(max(1, m["context"] - out_budget)), "--max-total-tokens", str(m["context"]),
            "--num-shard", str(m["tp"])]
    if m["quant_flag"]:
        argv += ["--quantize", m["quant_flag"]]
    argv += ["--api-key", KEY]
    return Launch("tgi", argv, "ghcr.io/huggingface/text-generation-inference:3.3.5", 1, PORTS["tgi"], "/health", "/health",
                  "/metrics", m["source"], docker_flags=["--shm-size", "1g"],
                  notes=["TGI has no served-model-name flag: /v1/models reports the checkpoint id; the gateway maps the alias",
                         "TGI has no tool/reasoning parser flags (tools are grammar-constrained in its router)",
                         "TGI is in maintenance mode upstream"])


def trtllm(m: dict) -> Launch:
    argv = ["trtllm-serve", m["source"], "--host", "0.0.0.0", "--port", str(PORTS["trtllm"]), "--backend", "pytorch",
            "--max_seq_len", str(m["context"]), "--tp_size", str(m["tp"])]
    _parsers(argv, m, "--tool_parser", "--reasoning_parser")
    argv += ["--config", Local("extra-llm-api.yaml")]
    cfg = ("# TensorRT-LLM LLM-API options (trtllm-serve --config); generated by migrate generate.\n"
           "# Iteration stats feed /metrics (JSON) and /prometheus/metrics; per-request metrics need return_perf_metrics.\n"
           "enable_iter_perf_stats: true\nreturn_perf_metrics: true\n"
           "# response_format is only enforced when a guided decoding backend is set.\n"
           "guided_decoding_backend: xgrammar\n"
           "kv_cache_config:\n  enable_block_reuse: true\n  free_gpu_memory_fraction: 0.9\n")
    return Launch("trtllm", argv, "nvcr.io/nvidia/tensorrt-llm/release:1.2.1", 0, PORTS["trtllm"], "/health", "/health",
                  "/prometheus/metrics", m["source"], files={"extra-llm-api.yaml": cfg},
                  docker_flags=["--ipc=host", "--ulimit", "memlock=-1", "--ulimit", "stack=67108864"],
                  notes=["trtllm-serve has no API-key flag: enforce the key at the gateway",
                         "trtllm-serve reports the checkpoint id in /v1/models; the gateway maps the alias",
                         "Prometheus metrics are at /prometheus/metrics (/metrics is JSON and destructive-read)"])


def lmdeploy(m: dict) -> Launch:
    argv = ["lmdeploy", "serve", "api_server", m["source"], "--server-name", "0.0.0.0",
            "--server-port", str(PORTS["lmdeploy"]), "--model-name", m["served_names"][0],
            "--session-len", str(m["context"]), "--tp", str(m["tp"]), "--enable-prefix-caching"]
    if m["quant_flag"]:
        argv += ["--model-format", m["quant_flag"]]
    p = m["parsers"]
    if p.get("tool") and m["tools_wanted"] and p["tool"] != "harmony-auto":
        argv += ["--tool-call-parser", p["tool"]]
    if p.get("reasoning") and p["reasoning"] != "harmony-auto":
        argv += ["--reasoning-parser", p["reasoning"]]
    argv += ["--api-keys", KEY]
    return Launch("lmdeploy", argv, "openmmlab/lmdeploy:latest", 0, PORTS["lmdeploy"], "/health", "/health", "/metrics",
                  m["served_names"][0], docker_flags=["--ipc=host"])


def tabbyapi(m: dict, backend: str) -> Launch:
    folder = m["exl_folder"]
    p = m["parsers"]
    lines = ["# TabbyAPI config.yml generated by migrate generate (copy to TabbyAPI's config.yml)",
             "network:", "  host: 0.0.0.0", f"  port: {PORTS[backend]}", "  disable_auth: false",
             "model:", "  model_dir: models", f"  model_name: {json.dumps(folder)}", f"  backend: {backend}",
             f"  max_seq_len: {m['context']}",
             f"  cache_size: {max(256, -(-m['context'] * max(1, min(m['concurrency'], 32)) // 256) * 256)}",
             f"  max_batch_size: {max(1, min(m['concurrency'], 32))}",
             f"  tensor_parallel: {'true' if m['tp'] > 1 else 'false'}"]
    if p.get("tool") and m["tools_wanted"]:
        lines.append(f"  tool_format: {json.dumps(p['tool'])}")
    if p.get("reasoning"):
        lines.append("  reasoning: true")
    argv = ["python3", "main.py", "--host", "0.0.0.0", "--port", str(PORTS[backend]), "--model_name", folder,
            "--max_seq_len", str(m["context"])]
    notes = ["TabbyAPI reads keys from api_tokens.yml: write $ENGINE_API_KEY into it at deploy time (never commit it)",
             "TabbyAPI has no Prometheus /metrics: the gateway's required_metrics cannot be met by this backend",
             "/v1/models reports the model folder name; the gateway maps the alias"]
    if backend == "exllamav2":
        notes.append("ExLlamaV2 (EXL2) support lives on TabbyAPI's exl2-checkpoint branch")
    return Launch(backend, argv, "ghcr.io/theroyallab/tabbyapi:latest", len(argv), PORTS[backend], "/health", "/health",
                  None, folder, files={"config.yml": "\n".join(lines) + "\n"}, docker_flags=["--shm-size", "8g"],
                  notes=notes, workdir="TABBY_DIR")


def ovms(m: dict) -> Launch:
    argv = ["ovms", "--source_model", m["source"], "--model_repository_path", "/models", "--model_name", m["served_names"][0],
            "--rest_port", str(PORTS["ovms"]), "--target_device", m["ov_device"], "--task", "text_generation",
            "--max_num_seqs", str(max(1, m["concurrency"])), "--metrics_enable"]
    if m["quant_flag"]:
        argv += ["--weight-format", m["quant_flag"]]
    p = m["parsers"]
    if p.get("tool") and m["tools_wanted"]:
        argv += ["--tool_parser", p["tool"]]
    if p.get("reasoning"):
        argv += ["--reasoning_parser", p["reasoning"]]
    return Launch("ovms", argv, "openvino/model_server:latest" + ("-gpu" if m["ov_device"] == "GPU" else ""), 1, PORTS["ovms"],
                  "/v2/health/ready", "/v2/health/live", "/metrics", m["served_names"][0], env={"API_KEY": KEY},
                  gpu_resource=None, notes=["OVMS takes the context length from the model (no flag); requests above it fail",
                                            "OVMS exports no TTFT/KV metrics (server logs only)"])


def mlc(m: dict) -> Launch:
    overrides = f"context_window_size={m['context']};tensor_parallel_shards={m['tp']};max_num_sequence={max(1, m['concurrency'])}"
    argv = ["mlc_llm", "serve", m["source"], "--mode", "server", "--host", "0.0.0.0", "--port", str(PORTS["mlc"]),
            "--overrides", overrides, "--api-key", KEY]
    return Launch("mlc", argv, None, 0, PORTS["mlc"], "/v1/models", "/v1/models", "/metrics", m["source"],
                  notes=["MLC has no health route: probes use /v1/models", "no official MLC serving image: build one and set MLC_IMAGE",
                         "MLC has no tool_choice \"required\" and no json_schema response_format"])


def llamacpp(m: dict) -> Launch:
    par = max(1, m["concurrency"])
    names = [n for n in m["served_names"] if "," not in n]  # --alias is a comma list
    argv = ["llama-server", *m["gguf_args"], "--host", "0.0.0.0", "--port", str(PORTS["llamacpp"])]
    if names:
        argv += ["--alias", ",".join(names)]
    # -c is the total KV budget shared by the slots: context per slot x slots.
    argv += ["--ctx-size", str(m["context"] * par), "--parallel", str(par), "--metrics", "--jinja", "--n-gpu-layers", "all"]
    p = m["parsers"]
    if p.get("reasoning") in ("deepseek",):
        argv += ["--reasoning-format", p["reasoning"]]
    for key, flag in (("temperature", "--temp"), ("top_p", "--top-p"), ("top_k", "--top-k"), ("repetition_penalty", "--repeat-penalty")):
        if key in m["generation_config"]:
            argv += [flag, str(m["generation_config"][key])]
    argv += ["--api-key", KEY]
    notes = [] if len(names) == len(m["served_names"]) else ["a served name containing ',' is left to the gateway (llama-server --alias is a comma list)"]
    return Launch("llamacpp", argv, "ghcr.io/ggml-org/llama.cpp:server-cuda", 1, PORTS["llamacpp"], "/health", "/health", "/metrics",
                  names[0] if names else m["source"], notes=notes)


BUILDERS = {"vllm": vllm, "sglang": sglang, "tgi": tgi, "trtllm": trtllm, "lmdeploy": lmdeploy,
            "exllamav3": lambda m: tabbyapi(m, "exllamav3"), "exllamav2": lambda m: tabbyapi(m, "exllamav2"),
            "ovms": ovms, "mlc": mlc, "llamacpp": llamacpp}
# Where the engine puts sampling defaults server-side (others: the gateway carries them).
SERVER_SAMPLING = {"vllm": "vLLM --override-generation-config", "llamacpp": "llama-server --temp/--top-p/--top-k/--repeat-penalty"}
