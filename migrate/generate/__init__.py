"""`migrate generate`: inventory (+ plan) -> launch scripts, docker run, Kubernetes, gateway and LiteLLM configs.

All files are rendered from ``templates/*.j2`` with StrictUndefined; every value that reaches a shell
goes through the ``sh`` filter (shlex.quote) or is an environment reference. Files are written
atomically (temp file + rename).
"""
from __future__ import annotations

import json
import math
import re
import shlex
from importlib import resources
from pathlib import Path
from typing import Optional

import jinja2

from .. import catalog, engines, fsutil
from ..errors import EXIT_USAGE, MigrateError
from ..datafiles import load_user_file
from ..metrics_catalog import load_catalog
from ..plan import load_inventory, parse_gpus
from . import capacity
from .launch import Env, Local, build

TARGETS = engines.launch_targets()
CONTAINER_MOUNT = "/config"
REQUIRED_ENV = {"ENGINE_API_KEY": "the key clients must send, never written to a file",
                "MIGRATE_MODEL_SOURCE": "the checkpoint for a model the catalog does not know, see MIGRATION.md"}
SAMPLING_KEYS = (("temperature", "temperature"), ("top_p", "top_p"), ("top_k", "top_k"), ("repeat_penalty", "repetition_penalty"))
_TEMPLATE_STOP = re.compile(r"<\||<｜|\|>|^\[/?INST\]$|^<(start|end)_of_turn>$|^</?s>$")


# ---------------------------------------------------------------- rendering helpers
def _sh(v) -> str:
    if isinstance(v, Env):
        return '"${%s}"' % v.name
    if isinstance(v, Local):
        return '"${HERE}/%s"' % v.name
    return shlex.quote(str(v))


def _shd(v) -> str:
    """Docker argv: a generated file lives at /config inside the container."""
    return shlex.quote(f"{CONTAINER_MOUNT}/{v.name}") if isinstance(v, Local) else _sh(v)


def _k8s(v) -> str:
    if isinstance(v, Env):
        return json.dumps("$(%s)" % v.name)   # Kubernetes expands $(VAR) from the container env
    if isinstance(v, Local):
        return json.dumps(f"{CONTAINER_MOUNT}/{v.name}")
    return json.dumps(str(v))


def _comment(v) -> str:
    """One line, safe inside a # comment: control characters (newlines) are escaped."""
    return json.dumps(str(v), ensure_ascii=False)


def _md(v) -> str:
    return str(v).replace("\r", "\\r").replace("\n", "\\n").replace("|", "\\|").replace("`", "'")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FunctionLoader(
        lambda name: resources.files("templates").joinpath(name).read_text(encoding="utf-8")),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        autoescape=False)
    env.filters.update(sh=_sh, shd=_shd, k8s=_k8s, comment=_comment, md=_md,
                       shjoin=lambda argv: " ".join(_sh(a) for a in argv))
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": False}
    return env


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Generated files are world-readable (0644; scripts get 0755); the output tree is created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fsutil.write_atomic(path, text, mode=mode)


def slug(text: str, used: set) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:50] or "model"
    out, n = base, 2
    while out in used:
        out, n = f"{base}-{n}", n + 1
    used.add(out)
    return out


# ---------------------------------------------------------------- decisions per model
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
    if ref.embedding:       # embedding checkpoints are small and served as published on every engine
        return out
    bits = "native" if ref.native_quantization else _bits_class(ollama_quant)
    native = ref.native_quantization or (ollama_quant.lower() if bits == "native" else None)
    for rule in engines.get(engine).quantization:
        if bits not in rule.bits or (rule.checkpoint and not ref.quantized.get(rule.checkpoint)):
            continue
        values = {"tag": ref.tag, "hf": ref.hf, "native": native, "ollama_quant": ollama_quant,
                  "checkpoint": ref.quantized.get(rule.checkpoint) if rule.checkpoint else None}
        out.update(source=_fill(rule.source, values), fmt=_fill(rule.fmt, values),
                   quant_flag=_fill(rule.quant_flag, values), note=_fill(rule.note, values),
                   todo=_fill(rule.todo, values), gguf_args=[_fill(a, values) for a in rule.gguf_args])
        if rule.fmt_fallback and out["fmt"] not in capacity.BITS_PER_WEIGHT:
            out["fmt"] = rule.fmt_fallback
        break
    return out


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
        lines.append(f"capped at the trained context {trained:,}"
                     + (f": the observed need ({need:,}) EXCEEDS it; such requests will be rejected, not silently truncated" if need and need > trained else ""))
        want = trained
    elif trained:
        lines.append(f"trained context {trained:,} (not exceeded)")
    else:
        lines.append("trained context unknown: verify against the checkpoint's config.json")
    lines.append(f"=> max context {want:,}")
    return want, lines


def carried_defaults(model: dict, target: str, alias: str) -> tuple[dict, dict, list]:
    """Modelfile sampling/stop/system -> engine flags or gateway; says where each one went."""
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
            rows.append({"item": src, "value": params[src],
                         "went": f"NOT carried: {engines.display_name(target)} has no server-side default; clients must send {dst}"})
    stops = params.get("stop") or []
    stops = [stops] if isinstance(stops, str) else list(stops)
    custom = [s for s in stops if not _TEMPLATE_STOP.search(str(s))]
    for s in stops:
        if s in custom:
            rows.append({"item": "stop", "value": s, "went": "gateway default stop (litellm.yaml litellm_params.stop)"})
        else:
            rows.append({"item": "stop", "value": s, "went": "chat-template marker: ends turns via the checkpoint's chat template/EOS, no flag needed"})
    if custom:
        gateway["stop"] = custom
    if model.get("system"):
        rows.append({"item": "SYSTEM", "value": (model["system"][:60] + "...") if len(model["system"]) > 60 else model["system"],
                     "went": f"system_prompts/{alias}.txt: the gateway or the application must prepend it (no engine applies a default system prompt)"})
    if params.get("num_ctx"):
        rows.append({"item": "num_ctx", "value": params["num_ctx"], "went": "max context (see Context); litellm.yaml num_ctx for the Ollama backend"})
    return (gen if server else {}), gateway, rows


# ---------------------------------------------------------------- main entry
def parse_aliases(items) -> dict:
    out = {}
    for item in items or ():
        name, sep, tag = item.partition("=")
        if not sep or not name or not tag:
            raise MigrateError(f"--alias {item!r}: expected NAME=ollama-tag", EXIT_USAGE)
        out[tag] = name
    return out


# The signals a gateway needs to judge a backend (the contract's four, plus running requests and
# prefix-cache hits where the engine has them).
GATEWAY_METRICS = ("time_to_first_token", "time_per_output_token", "running_requests",
                   "waiting_requests", "kv_cache_usage", "prefix_cache_hit_rate")


def _required_metrics(engine: str) -> list:
    # Only what the engine really exposes, so a gateway never waits for a metric that cannot arrive.
    exposed = load_catalog().exposed_by(engine)
    return [name for name in GATEWAY_METRICS if name in exposed]


def generate(target: str, out_dir: str, *, inventory_path: Optional[str] = None, plan_path: Optional[str] = None,
             aliases: tuple = (), ollama_url: str = "http://127.0.0.1:11434", engine_url: Optional[str] = None,
             new_weight: int = 0, gpus: Optional[str] = None) -> dict:
    if target not in TARGETS:
        raise MigrateError(f"unknown target {target!r} (one of: {', '.join(TARGETS)})", EXIT_USAGE)
    if not 0 <= new_weight <= 100:
        raise MigrateError("--new-weight must be between 0 and 100", EXIT_USAGE)
    alias_map = parse_aliases(aliases)
    inventory = load_inventory(inventory_path) if inventory_path else {"models": []}
    plan = load_user_file(plan_path, "plan") if plan_path else None
    if plan is not None and not (isinstance(plan, dict) and "first" in plan and "inputs" in plan):
        raise MigrateError(f"plan {plan_path}: not a `migrate plan --format json` document", EXIT_USAGE)
    facts = {k: v.get("value") for k, v in (plan or {}).get("inputs", {}).items()}
    if gpus:
        g = parse_gpus(gpus)
        facts.update(gpu_count=g["count"], gpu_memory_gib=g["memory_gib"], vendor=g["vendor"] or facts.get("vendor"))
    inv_profile = inventory.get("profile") or {}
    need = facts.get("context") or inv_profile.get("context_need")
    concurrency = int(facts.get("concurrency") or inv_profile.get("peak_concurrency") or 1)
    gpu_count = int(facts.get("gpu_count") or 1)
    models = {m["name"]: m for m in inventory.get("models", []) if isinstance(m, dict) and m.get("name")}
    for tag in alias_map:
        models.setdefault(tag, {"name": tag})
    if not models:
        raise MigrateError("nothing to generate: give --inventory and/or --alias NAME=ollama-tag", EXIT_USAGE)
    tools_seen = bool(facts.get("tools") or inv_profile.get("tools"))
    env = environment()
    out = Path(out_dir)
    cat_version = catalog.version()
    used: set = set()
    rendered, todos, summaries, gateway_aliases = {}, [], [], []
    for tag, model in models.items():
        ref = catalog.resolve(tag, model)
        alias = alias_map.get(tag, tag)
        served = [alias] + ([tag] if tag != alias else [])
        ck = choose_checkpoint(target, ref, model.get("quantization") or catalog.quant_from_tag(catalog.split_tag(tag)[1]))
        ctx, ctx_lines = context_decision(ref, model, need)
        tp = capacity.tensor_parallel(gpu_count, ref.arch)
        tp_why = f"{gpu_count} GPU(s){'; largest divisor of the head counts' if tp != gpu_count else ''}"
        gen, gw_defaults, carried = carried_defaults(model, target, alias)
        mtodos = []
        if not ref.known:
            mtodos.append(ref.todo)
        if ck["todo"]:
            mtodos.append(ck["todo"])
        source = ck["source"] if ref.known and ck["source"] else Env("MIGRATE_MODEL_SOURCE")
        gguf_args = ck["gguf_args"] or ["--model", source]
        dir_name = slug(alias, used)
        caps = model.get("capabilities") or []
        m = {"source": source, "served_names": served, "context": ctx, "tp": tp, "quant_flag": ck["quant_flag"],
             "parsers": ref.parsers(target) if ref.known else {"tool": None, "reasoning": None},
             "tools_wanted": ("tools" in caps) or (tools_seen and not caps),
             "generation_config": gen, "embedding": ref.embedding, "trust_remote_code": ref.trust_remote_code,
             "p95_output": inv_profile.get("p95_output_tokens"), "concurrency": concurrency, "gguf_args": gguf_args,
             "exl_folder": dir_name + "-exl3", "ov_device": "GPU" if facts.get("vendor") == "intel" and facts.get("gpus") else "CPU"}
        launch = build(target, m)
        cap = capacity.estimate(params=ref.params, fmt=ck["fmt"], arch=ref.arch, context=ctx, concurrency=concurrency,
                                gpu_memory_gib=facts.get("gpu_memory_gib"), tp=tp)
        required_env = {"ENGINE_API_KEY": REQUIRED_ENV["ENGINE_API_KEY"]}
        if any(isinstance(a, Env) and a.name == "MIGRATE_MODEL_SOURCE" for a in launch.argv):
            required_env["MIGRATE_MODEL_SOURCE"] = REQUIRED_ENV["MIGRATE_MODEL_SOURCE"]
        ctxvars = {"engine_name": engines.display_name(target), "tag": tag, "served_names": served, "catalog_version": cat_version,
                   "launch": launch, "required_env": required_env, "uses_local": any(isinstance(a, Local) for a in launch.argv),
                   "image": launch.image, "container": dir_name, "files": launch.files, "name": dir_name, "tp": tp,
                   "mounts": {f: (f"/app/{f}" if f == "config.yml" else f"{CONTAINER_MOUNT}/{f}") for f in launch.files},
                   "gpu_flag": "--gpus all" if launch.gpu_resource else "",
                   "gpu_resource": ("amd.com/gpu" if facts.get("vendor") == "amd" else launch.gpu_resource)
                   if facts.get("vendor") not in ("intel", "apple", "none") else None}
        rendered[f"{dir_name}/launch.sh"] = (env.get_template("launch.sh.j2").render(**ctxvars), 0o755)
        rendered[f"{dir_name}/docker-run.sh"] = (env.get_template("docker-run.sh.j2").render(**ctxvars), 0o755)
        rendered[f"{dir_name}/k8s.yaml"] = (env.get_template("k8s.yaml.j2").render(**ctxvars), 0o644)
        for fname, text in launch.files.items():
            rendered[f"{dir_name}/{fname}"] = (text, 0o644)
        if model.get("system"):
            rendered[f"system_prompts/{dir_name}.txt"] = (model["system"], 0o644)
            for row in carried:
                if row["item"] == "SYSTEM":
                    row["went"] = row["went"].replace(f"system_prompts/{alias}.txt", f"system_prompts/{dir_name}.txt")
        base_url = (engine_url.rstrip("/") if engine_url else f"http://127.0.0.1:{launch.port}") 
        base_url = base_url if base_url.endswith("/v1") else base_url + "/v1"
        gateway_aliases.append({
            "alias": alias, "tag": tag, "contract": "openai-embeddings" if ref.embedding else "openai-chat",
            "timeout": 300 if m["parsers"].get("reasoning") else 90, "ollama_backend": "current-ollama",
            "backend": f"{target}-{dir_name}"[:63], "base_url": base_url, "required_metrics": _required_metrics(target),
            "backend_notes": f"{engines.display_name(target)} serving {ref.hf or 'TODO (unknown model)'}; start at weight 0, move by canary",
            "ollama_num_ctx": max([v for v in ((model.get("parameters") or {}).get("num_ctx"), model.get("effective_context")) if isinstance(v, int)] or [ctx]),
            "mode": "embedding" if ref.embedding else "chat",
            "litellm_provider": engines.get(target).launch.litellm_provider, "served_id": launch.served_id if isinstance(launch.served_id, str) else alias,
            "gateway_defaults": gw_defaults})
        todos += mtodos
        summaries.append({"alias": alias, "tag": tag, "dir": dir_name, "known": ref.known, "hf": ref.hf,
                          "source_text": (str(source) if isinstance(source, str) else "$MIGRATE_MODEL_SOURCE (TODO)"),
                          "fmt": ck["fmt"], "quant_note": ck["note"], "served_names": served,
                          "served_id": gateway_aliases[-1]["served_id"], "parsers": m["parsers"], "tools_wanted": m["tools_wanted"],
                          "template_note": ref.template_note, "tp": tp, "tp_why": tp_why, "notes": launch.notes + ([ref.note] if ref.note else []),
                          "context": ctx, "context_lines": ctx_lines, "capacity": cap, "carried": carried, "todos": mtodos,
                          "argv": [a if isinstance(a, str) else (f"${a.name}" if isinstance(a, Env) else a.name) for a in launch.argv]})
    common = {"catalog_version": cat_version, "engine_name": engines.display_name(target), "ollama_url": ollama_url,
              "ollama_weight": 100 - new_weight, "new_weight": new_weight}
    rendered["gateway.yaml"] = (env.get_template("gateway.yaml.j2").render(aliases=gateway_aliases, **common), 0o644)
    rendered["litellm.yaml"] = (env.get_template("litellm.yaml.j2").render(
        aliases=gateway_aliases, max_timeout=max(a["timeout"] for a in gateway_aliases),
        group_aliases={a["tag"]: a["alias"] for a in gateway_aliases if a["tag"] != a["alias"]}, **common), 0o644)
    inputs = [p for p in (inventory_path and f"inventory {Path(inventory_path).name}", plan_path and f"plan {Path(plan_path).name}") if p] or ["--alias flags"]
    plan_note = None
    if plan:
        chosen = [plan["first"]["engine"], plan["second"]["engine"]]
        plan_note = (f"Plan: first `{chosen[0]}`, second `{chosen[1]}` (rule `{plan.get('rule')}`)."
                     + ("" if target in chosen else f" Note: `{target}` is neither; this is an off-plan target."))
    rendered["MIGRATION.md"] = (env.get_template("MIGRATION.md.j2").render(
        target=target, inputs=inputs, plan_note=plan_note, todos=todos, models=summaries, **common), 0o644)
    manifest = {"schema": "migrate.generate/1", "target": target, "catalog_version": cat_version,
                "files": sorted(rendered) + ["manifest.json"], "todos": todos,
                "models": [{k: s[k] for k in ("alias", "tag", "dir", "known", "hf", "fmt", "context", "tp", "served_names",
                                               "parsers", "argv", "todos")} | {"capacity": s["capacity"], "carried": s["carried"]}
                           for s in summaries]}
    rendered["manifest.json"] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", 0o644)
    for rel, (text, mode) in rendered.items():
        write_atomic(out / rel, text, mode)
    return manifest
