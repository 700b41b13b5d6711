"""Per-model decisions: checkpoint and quantization, context, tensor parallel, where Modelfile defaults go,
the launch, the capacity estimate and the gateway entry. Pure: data in, data out, nothing rendered."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

from .. import catalog, engines
from ..metrics_catalog import load_catalog
from . import capacity
from .inputs import Inputs
from .launch import Env, Launch, build

REQUIRED_ENV = {
    "ENGINE_API_KEY": "the key clients must send, never written to a file",
    "MIGRATE_MODEL_SOURCE": "the checkpoint for a model the catalog does not know, see MIGRATION.md",
}
SAMPLING_KEYS = (
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("repeat_penalty", "repetition_penalty"),
)
_TEMPLATE_STOP = re.compile(r"<\||<｜|\|>|^\[/?INST\]$|^<(start|end)_of_turn>$|^</?s>$")
# The signals a gateway needs to judge a backend (the contract's four, plus running requests and
# prefix-cache hits where the engine has them).
GATEWAY_METRICS = (
    "time_to_first_token",
    "time_per_output_token",
    "running_requests",
    "waiting_requests",
    "kv_cache_usage",
    "prefix_cache_hit_rate",
)


def slug(text: str, used: set) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:50] or "model"
    out, n = base, 2
    while out in used:
        out, n = f"{base}-{n}", n + 1
    used.add(out)
    return out


# ---------------------------------------------------------------- quantization (engines.yaml `quantization`)
def _bits_class(quant: Optional[str]) -> str:
    q = (quant or "Q4_K_M").upper()
    if q.startswith("MXFP4"):
        return "native"
    if q in ("F16", "BF16", "FP16", "F32"):
        return "16"
    if q.startswith(("Q6", "Q8")):
        return "8"
    return "4"


_PLACEHOLDER = re.compile(r"\{(\w+)(?:\|([^}]*))?\}")


def _fill(template: Optional[str], values: dict) -> Optional[str]:
    """``{name}`` -> the value; ``{name|x}`` -> x when the value is unknown. A lone placeholder keeps None."""
    if template is None:
        return None
    lone = _PLACEHOLDER.fullmatch(template)
    if lone:
        value = values[lone.group(1)]
        return value if value not in (None, "") else lone.group(2)

    def one(m: re.Match) -> str:
        value = values[m.group(1)]
        return m.group(2) if value in (None, "") and m.group(2) is not None else str(value)

    return _PLACEHOLDER.sub(one, template)


def choose_checkpoint(engine: str, ref: catalog.ModelRef, ollama_quant: Optional[str]) -> dict:
    """Which checkpoint/flag honours the Ollama quantization on this engine: the registry's first
    matching ``quantization`` rule (engines.yaml); no match serves the Hugging Face checkpoint in bf16."""
    out = {"source": ref.hf, "quant_flag": None, "fmt": "bf16", "note": None, "gguf_args": [], "todo": None}
    if ref.embedding:  # embedding checkpoints are small and served as published on every engine
        return out
    bits = "native" if ref.native_quantization else _bits_class(ollama_quant)
    native = ref.native_quantization or (ollama_quant.lower() if bits == "native" else None)
    for rule in engines.get(engine).quantization:
        if bits not in rule.bits or (rule.checkpoint and not ref.quantized.get(rule.checkpoint)):
            continue
        values = {
            "tag": ref.tag,
            "hf": ref.hf,
            "native": native,
            "ollama_quant": ollama_quant,
            "checkpoint": ref.quantized.get(rule.checkpoint) if rule.checkpoint else None,
        }
        out.update(
            source=_fill(rule.source, values),
            fmt=_fill(rule.fmt, values),
            quant_flag=_fill(rule.quant_flag, values),
            note=_fill(rule.note, values),
            todo=_fill(rule.todo, values),
            gguf_args=[_fill(a, values) for a in rule.gguf_args],
        )
        if rule.fmt_fallback and out["fmt"] not in capacity.BITS_PER_WEIGHT:
            out["fmt"] = rule.fmt_fallback
        break
    return out


# ---------------------------------------------------------------- context and Modelfile defaults
def context_decision(ref: catalog.ModelRef, model: dict, need: Optional[int]) -> tuple[int, list]:
    """Max context: observed need + 25% headroom, >= the largest num_ctx in use, <= the trained context."""
    lines = []
    params = model.get("parameters") or {}
    in_use = [v for v in (params.get("num_ctx"), model.get("effective_context")) if isinstance(v, int) and v > 0]
    floor = max(in_use) if in_use else None
    trained = ref.trained_context
    if need:
        want = int(math.ceil(need * 1.25 / 1024) * 1024)
        lines.append(f"observed need {need:,} tokens + 25% headroom, rounded up to 1024 = {want:,}")
    else:
        want = floor or 8192
        lines.append(f"no observed need: using {'the num_ctx in use' if floor else 'a default'} ({want:,})")
    if floor and want < floor:
        lines.append(f"raised to the largest num_ctx in use ({floor:,}) so no request that works today fails")
        want = floor
    if trained and want > trained:
        lines.append(
            f"capped at the trained context {trained:,}"
            + (
                f": the observed need ({need:,}) EXCEEDS it; such requests will be rejected, not silently truncated"
                if need and need > trained
                else ""
            )
        )
        want = trained
    elif trained:
        lines.append(f"trained context {trained:,} (not exceeded)")
    else:
        lines.append("trained context unknown: verify against the checkpoint's config.json")
    lines.append(f"=> max context {want:,}")
    return want, lines


def carried_defaults(model: dict, target: str, prompt_name: str) -> tuple[dict, dict, list]:
    """Modelfile sampling/stop/system -> engine flags or gateway; says where each one went.
    ``prompt_name``: the system prompt's file name under system_prompts/ (without .txt)."""
    params = model.get("parameters") or {}
    gen: dict = {}
    gateway: dict = {}
    rows = []
    server = engines.get(target).launch.server_sampling
    for src, dst in SAMPLING_KEYS:
        if params.get(src) is None:
            continue
        gen[dst] = params[src]
        if server:
            rows.append({"item": src, "value": params[src], "went": f"{server} ({dst})"})
        elif src in ("temperature", "top_p"):
            gateway[src] = params[src]
            rows.append({"item": src, "value": params[src], "went": "gateway default (litellm.yaml litellm_params)"})
        else:
            rows.append(
                {
                    "item": src,
                    "value": params[src],
                    "went": f"NOT carried: {engines.display_name(target)} has no server-side default; clients must send {dst}",
                }
            )
    stops = params.get("stop") or []
    stops = [stops] if isinstance(stops, str) else list(stops)
    custom = [s for s in stops if not _TEMPLATE_STOP.search(str(s))]
    for s in stops:
        if s in custom:
            rows.append({"item": "stop", "value": s, "went": "gateway default stop (litellm.yaml litellm_params.stop)"})
        else:
            rows.append(
                {
                    "item": "stop",
                    "value": s,
                    "went": "chat-template marker: ends turns via the checkpoint's chat template/EOS, no flag needed",
                }
            )
    if custom:
        gateway["stop"] = custom
    if model.get("system"):
        rows.append(
            {
                "item": "SYSTEM",
                "value": (model["system"][:60] + "...") if len(model["system"]) > 60 else model["system"],
                "went": f"system_prompts/{prompt_name}.txt: the gateway or the application must prepend it (no engine applies a default system prompt)",
            }
        )
    if params.get("num_ctx"):
        rows.append(
            {
                "item": "num_ctx",
                "value": params["num_ctx"],
                "went": "max context (see Context); litellm.yaml num_ctx for the Ollama backend",
            }
        )
    return (gen if server else {}), gateway, rows


def required_metrics(engine: str) -> list:
    # Only what the engine really exposes, so a gateway never waits for a metric that cannot arrive.
    exposed = load_catalog().exposed_by(engine)
    return [name for name in GATEWAY_METRICS if name in exposed]


# ---------------------------------------------------------------- one model
@dataclass
class ModelDecision:
    tag: str
    alias: str
    dir: str  # folder of its files, unique in the output tree
    served: list  # names it is served under: the alias, then the Ollama tag
    ref: catalog.ModelRef
    checkpoint: dict  # choose_checkpoint()
    source: object  # str, or Env("MIGRATE_MODEL_SOURCE") when unknown
    context: int
    context_lines: list
    tp: int
    tp_why: str
    parsers: dict
    tools_wanted: bool
    carried: list
    gateway_defaults: dict
    todos: list
    launch: Launch
    capacity: dict
    required_env: dict
    gpu_resource: Optional[str]  # Kubernetes GPU resource, None off GPU


def decide_model(inputs: Inputs, tag: str, model: dict, used_dirs: set) -> ModelDecision:
    target, facts = inputs.target, inputs.facts
    ref = catalog.resolve(tag, model)
    alias = inputs.aliases.get(tag, tag)
    served = [alias] + ([tag] if tag != alias else [])
    ck = choose_checkpoint(target, ref, model.get("quantization") or catalog.quant_from_tag(catalog.split_tag(tag)[1]))
    ctx, ctx_lines = context_decision(ref, model, inputs.context_need)
    tp = capacity.tensor_parallel(inputs.gpu_count, ref.arch)
    tp_why = f"{inputs.gpu_count} GPU(s){'; largest divisor of the head counts' if tp != inputs.gpu_count else ''}"
    dir_name = slug(alias, used_dirs)
    gen, gw_defaults, carried = carried_defaults(model, target, dir_name)
    todos = ([ref.todo] if not ref.known else []) + ([ck["todo"]] if ck["todo"] else [])
    source = ck["source"] if ref.known and ck["source"] else Env("MIGRATE_MODEL_SOURCE")
    caps = model.get("capabilities") or []
    parsers = ref.parsers(target) if ref.known else {"tool": None, "reasoning": None}
    tools_wanted = ("tools" in caps) or (inputs.tools_seen and not caps)
    m = {
        "source": source,
        "served_names": served,
        "context": ctx,
        "tp": tp,
        "quant_flag": ck["quant_flag"],
        "parsers": parsers,
        "tools_wanted": tools_wanted,
        "generation_config": gen,
        "embedding": ref.embedding,
        "trust_remote_code": ref.trust_remote_code,
        "p95_output": inputs.profile.get("p95_output_tokens"),
        "concurrency": inputs.concurrency,
        "gguf_args": ck["gguf_args"] or ["--model", source],
        "exl_folder": dir_name + "-exl3",
        "ov_device": "GPU" if facts.get("vendor") == "intel" and facts.get("gpus") else "CPU",
    }
    launch = build(target, m)
    cap = capacity.estimate(
        params=ref.params,
        fmt=ck["fmt"],
        arch=ref.arch,
        context=ctx,
        concurrency=inputs.concurrency,
        gpu_memory_gib=facts.get("gpu_memory_gib"),
        tp=tp,
    )
    required_env = {"ENGINE_API_KEY": REQUIRED_ENV["ENGINE_API_KEY"]}
    if any(isinstance(a, Env) and a.name == "MIGRATE_MODEL_SOURCE" for a in launch.argv):
        required_env["MIGRATE_MODEL_SOURCE"] = REQUIRED_ENV["MIGRATE_MODEL_SOURCE"]
    vendor = facts.get("vendor")
    gpu_resource = (
        None if vendor in ("intel", "apple", "none") else ("amd.com/gpu" if vendor == "amd" else launch.gpu_resource)
    )
    return ModelDecision(
        tag=tag,
        alias=alias,
        dir=dir_name,
        served=served,
        ref=ref,
        checkpoint=ck,
        source=source,
        context=ctx,
        context_lines=ctx_lines,
        tp=tp,
        tp_why=tp_why,
        parsers=parsers,
        tools_wanted=tools_wanted,
        carried=carried,
        gateway_defaults=gw_defaults,
        todos=todos,
        launch=launch,
        capacity=cap,
        required_env=required_env,
        gpu_resource=gpu_resource,
    )


def gateway_entry(inputs: Inputs, d: ModelDecision) -> dict:
    """The model's alias in gateway.yaml and litellm.yaml: Ollama now, the new engine at weight 0."""
    target = inputs.target
    base_url = inputs.engine_url.rstrip("/") if inputs.engine_url else f"http://127.0.0.1:{d.launch.port}"
    base_url = base_url if base_url.endswith("/v1") else base_url + "/v1"
    model = inputs.models[d.tag]
    in_use = [
        v
        for v in ((model.get("parameters") or {}).get("num_ctx"), model.get("effective_context"))
        if isinstance(v, int)
    ]
    return {
        "alias": d.alias,
        "tag": d.tag,
        "contract": "openai-embeddings" if d.ref.embedding else "openai-chat",
        "timeout": 300 if d.parsers.get("reasoning") else 90,
        "ollama_backend": "current-ollama",
        "backend": f"{target}-{d.dir}"[:63],
        "base_url": base_url,
        "required_metrics": required_metrics(target),
        "backend_notes": f"{engines.display_name(target)} serving {d.ref.hf or 'TODO (unknown model)'}; start at weight 0, move by canary",
        "ollama_num_ctx": max(in_use or [d.context]),
        "mode": "embedding" if d.ref.embedding else "chat",
        "litellm_provider": engines.get(target).launch.litellm_provider,
        "served_id": d.launch.served_id if isinstance(d.launch.served_id, str) else d.alias,
        "gateway_defaults": d.gateway_defaults,
    }
