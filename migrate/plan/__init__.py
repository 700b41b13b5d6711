"""`migrate plan`: profile facts (with provenance) -> the engine decision, by a data-driven rules table.

Precedence of inputs: command-line flags > profile file > what the inventory observed. Every fact in the
output carries where it came from. The rules (``migrate/data/rules.yaml``) are evaluated in order and the
first match fires; the plan names that rule and the facts that made it fire.
"""
from __future__ import annotations

import functools
import json
import math
import re
from typing import Any, Optional


from ..datafiles import load_user_file, package_data
from ..errors import EXIT_USAGE, MigrateError

PLAN_SCHEMA = "migrate.plan/1"
VENDORS = ("nvidia", "amd", "intel", "apple", "none")
PORTABLE = ("browser", "mobile", "edge", "intel-estate")
USERS = ("trusted", "shared")
BOOL_FACTS = ("structured", "tools", "moe", "prefix_reuse", "exl_available", "hf_native", "nvidia_max", "disaggregated")
INT_FACTS = ("nodes", "concurrency", "context", "p95_prompt_tokens", "p95_output_tokens")
# Keys a profile file may hold (the same names as the flags, with underscores).
PROFILE_KEYS = ("gpus", "gpu_vendor", "portable", "users", "models", "streaming_share") + BOOL_FACTS + INT_FACTS
# Inventory `profile` key -> fact name.
INVENTORY_MAP = {"context_need": "context", "peak_concurrency": "concurrency", "p95_prompt_tokens": "p95_prompt_tokens",
                 "p95_output_tokens": "p95_output_tokens", "streaming_share": "streaming_share", "tools": "tools",
                 "structured": "structured", "moe": "moe", "models": "models"}


@functools.lru_cache(maxsize=None)
def rules() -> dict:
    return package_data("rules.yaml")


@functools.lru_cache(maxsize=None)
def gpu_table() -> list:
    return package_data("gpus.yaml")["gpus"]


def metric_names() -> dict:
    """engine id -> {logical metric: Prometheus name}, from the one shared metrics catalogue."""
    from ..metrics_catalog import load_catalog
    cat = load_catalog()
    return {engine: cat.exposed_by(engine) for engine in ENGINE_NAMES}


# ---------------------------------------------------------------- hardware
_GPUS_RE = re.compile(r"^\s*(?:(\d+)\s*[x×*]\s*)?(.+?)\s*$", re.IGNORECASE)


def parse_gpus(spec: str) -> dict:
    """``2xRTX4090`` -> {count: 2, model: RTX4090, vendor: nvidia, class: consumer, memory_gib: 24}."""
    m = _GPUS_RE.match(spec or "")
    if not m or not m.group(2):
        raise MigrateError(f"--gpus {spec!r}: expected COUNTxMODEL, e.g. 2xRTX4090 or 8xH100", EXIT_USAGE)
    count = int(m.group(1) or 1)
    if count < 1:
        raise MigrateError(f"--gpus {spec!r}: GPU count must be at least 1", EXIT_USAGE)
    model = m.group(2).strip()
    key = re.sub(r"[\s_\-]", "", model.lower())
    for row in gpu_table():
        if re.search(row["match"], key):
            return {"count": count, "model": model, "vendor": row["vendor"], "class": row["class"],
                    "memory_gib": row["memory_gib"]}
    return {"count": count, "model": model, "vendor": None, "class": None, "memory_gib": None}


# ---------------------------------------------------------------- profile with provenance
def _coerce(name: str, value: Any, where: str) -> Any:
    try:
        if name in BOOL_FACTS:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "yes", "1", "on"):
                return True
            if str(value).lower() in ("false", "no", "0", "off"):
                return False
            raise ValueError
        if name in INT_FACTS:
            if isinstance(value, bool):
                raise ValueError
            out = int(value)
            if out < 0 or (name in ("nodes",) and out < 1):
                raise ValueError
            return out
        if name == "gpu_vendor" and str(value).lower() not in VENDORS:
            raise ValueError
        if name == "portable" and value is not None and str(value) not in PORTABLE:
            raise ValueError
        if name == "users" and str(value) not in USERS:
            raise ValueError
        if name == "models":
            return [str(v) for v in (value if isinstance(value, list) else [value])]
        return value.lower() if name == "gpu_vendor" else value
    except (TypeError, ValueError):
        raise MigrateError(f"{where}: invalid value {value!r} for {name}", EXIT_USAGE) from None


def load_inventory(path: str) -> dict:
    data = load_user_file(path, "inventory")
    if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
        raise MigrateError(f"inventory {path}: expected an object with a models[] list", EXIT_USAGE)
    return data


def load_profile(path: str) -> dict:
    data = load_user_file(path, "profile")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MigrateError(f"profile {path}: expected a mapping of profile keys", EXIT_USAGE)
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - set(PROFILE_KEYS))
    if unknown:
        raise MigrateError(f"profile {path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(PROFILE_KEYS)})",
                           EXIT_USAGE)
    return data


def build_facts(inventory: Optional[dict] = None, profile: Optional[dict] = None, flags: Optional[dict] = None,
                *, profile_path: str = "profile", inventory_path: str = "inventory") -> dict:
    """Merge inputs into {fact: {"value", "source"}}; flags > profile file > inventory."""
    facts: dict[str, dict] = {}

    def put(name, value, source, where):
        if value is None:
            return
        facts[name] = {"value": _coerce(name, value, where), "source": source}

    inv_profile = (inventory or {}).get("profile") or {}
    for key, name in INVENTORY_MAP.items():
        if inv_profile.get(key) not in (None, [], ""):
            put(name, inv_profile[key], f"inventory ({inventory_path})", f"inventory {inventory_path} profile.{key}")
    if inventory and "models" not in facts and inventory.get("models"):
        put("models", [m.get("name") for m in inventory["models"] if m.get("name")], f"inventory ({inventory_path})", inventory_path)
    if inventory and "moe" not in facts and any((m.get("expert_count") or 0) > 0 for m in inventory.get("models", [])):
        put("moe", True, f"inventory ({inventory_path}): expert_count > 0", inventory_path)
    for key, value in (profile or {}).items():
        put(key, value, f"profile ({profile_path})", f"profile {profile_path}")
    for key, value in (flags or {}).items():
        if value is None or value is False or value == ():
            continue  # an unset flag must not override the profile
        put(key, list(value) if isinstance(value, tuple) else value, f"flag --{key.replace('_', '-')}", f"--{key.replace('_', '-')}")

    # Derived facts: hardware from the GPU name, unless the vendor was stated explicitly.
    if "gpus" in facts:
        g = parse_gpus(str(facts["gpus"]["value"]))
        src = f"inferred from gpus {facts['gpus']['value']!r} ({facts['gpus']['source']})"
        facts["gpu_count"] = {"value": g["count"], "source": src}
        facts["gpu_model"] = {"value": g["model"], "source": src}
        if g["class"]:
            facts["gpu_class"] = {"value": g["class"], "source": src}
        if g["memory_gib"]:
            facts["gpu_memory_gib"] = {"value": g["memory_gib"], "source": src}
        if g["vendor"] and "gpu_vendor" not in facts:
            facts["vendor"] = {"value": g["vendor"], "source": src}
    if "gpu_vendor" in facts:
        facts["vendor"] = dict(facts["gpu_vendor"])
        if "gpus" in facts and facts.get("gpu_class") and facts["gpu_class"]["value"] not in (
                {"nvidia": ("consumer", "datacenter"), "amd": ("amd",), "intel": ("intel",), "apple": ("apple",),
                 "none": ("cpu",)}[facts["vendor"]["value"]]):
            raise MigrateError(f"--gpu-vendor {facts['vendor']['value']} contradicts --gpus {facts['gpus']['value']}", EXIT_USAGE)
    if "vendor" not in facts and _v(facts, "portable") == "intel-estate":
        facts["vendor"] = {"value": "intel", "source": f"inferred from portable intel-estate ({facts['portable']['source']})"}
    facts.setdefault("nodes", {"value": 1, "source": "default"})
    facts.setdefault("users", {"value": "shared", "source": "default (a migrated service is shared)"})
    if "gpu_count" not in facts and facts.get("vendor", {}).get("value") not in (None, "none", "apple"):
        facts["gpu_count"] = {"value": 1, "source": "default"}
    facts["structured_outputs"] = {
        "value": bool(_v(facts, "structured") or _v(facts, "tools")),
        "source": "derived: structured or tools (the framework counts JSON schema and tools as structured outputs)"}
    return facts


def _v(facts: dict, name: str) -> Any:
    f = facts.get(name)
    return None if f is None else f["value"]


# ---------------------------------------------------------------- rules engine
def _match_one(value: Any, matcher: Any) -> bool:
    if isinstance(matcher, dict):
        for op, arg in matcher.items():
            if op == "in" and value not in arg:
                return False
            if op == "not_in" and value in arg:
                return False
            if op == "gte" and not (isinstance(value, (int, float)) and value >= arg):
                return False
            if op == "lte" and not (isinstance(value, (int, float)) and value <= arg):
                return False
            if op == "set" and (value is not None) != bool(arg):
                return False
        return True
    return value == matcher


def matches(rule: dict, values: dict) -> Optional[dict]:
    """The facts that made ``rule`` fire, or None when it does not match."""
    because = {}
    for key, matcher in (rule.get("when") or {}).items():
        if not _match_one(values.get(key), matcher):
            return None
        because[key] = values.get(key)
    if "any" in rule:
        hit = None
        for alt in rule["any"]:
            if all(_match_one(values.get(k), m) for k, m in alt.items()):
                hit = {k: values.get(k) for k in alt}
                break
        if hit is None:
            return None
        because.update(hit)
    return because


class _Fmt(dict):
    def __missing__(self, key):
        return "unknown"


def _fmt(text: str, values: dict) -> str:
    return text.format_map(_Fmt({k: ("unknown" if v is None else v) for k, v in values.items()}))


def decide(facts: dict) -> dict:
    values = {k: f["value"] for k, f in facts.items()}
    table = rules()
    tried = []
    fired = because = None
    for rule in table["rules"]:
        because = matches(rule, values)
        if because is not None:
            fired = rule
            break
        tried.append(rule["id"])
    assert fired is not None, "rules.yaml must end with a catch-all rule"
    first, second = fired["first"]["engine"], fired["second"]["engine"]
    above = None
    for ov in table.get("overlays", []):
        if matches(ov, values) is not None:
            above = {"engine": ov["engine"], "why": _fmt(ov["why"], {**values, "first": first}), "rule": ov["id"]}
    chosen = {first, second} | ({above["engine"]} if above else set())
    dnt: dict[str, list] = {}
    for row in table["do_not_test_yet"]:
        if row["engine"] in chosen:
            continue
        if matches(row, values) is not None:
            dnt.setdefault(row["engine"], []).append(_fmt(row["why"], values))
    rejection = [dict(r) for r in table["rejection_metrics"].get(first, [])]
    checklist = []
    for row in table["checklist"]:
        hit = next((alt for alt in row["any"] if all(_match_one(values.get(k), m) for k, m in alt.items())), None)
        checklist.append({"id": row["id"], "requirement": row["requirement"], "applies": hit is not None,
                          "why": _fmt(row["because"], values) if hit is not None else "not required by this profile",
                          "why_ollama_fails": row["why_ollama_fails"], "require": row["require"]})
    return {
        "schema": PLAN_SCHEMA,
        "rule": fired["id"],
        "step": fired["step"],
        "constraint": _fmt(fired["constraint"], values),
        "fired_because": {k: {"value": v, "source": facts.get(k, {}).get("source", "not given")} for k, v in because.items()},
        "rules_not_matching": tried,
        "first": {"engine": first, "why": fired["first"]["why"]},
        "second": {"engine": second, "why": fired["second"]["why"]},
        "above": above,
        "do_not_test_yet": [{"engine": e, "why": "; ".join(w)} for e, w in dnt.items()],
        "rejection_metrics": rejection,
        "ollama_rejection_checklist": checklist,
        "benchmark_plan": benchmark_plan(values, first, above),
        "inputs": facts,
    }


def benchmark_plan(values: dict, first: str, above: Optional[dict]) -> dict:
    """The phase benchmark: each phase reports its own metrics, never one collapsed tokens/s figure."""
    conc = int(values.get("concurrency") or 1)
    prompt = int(values.get("p95_prompt_tokens") or max(512, int(values.get("context") or 2048) // 2))
    output = int(values.get("p95_output_tokens") or 256)
    sweep = sorted({1, *[2 ** i for i in range(0, max(1, math.ceil(math.log2(max(conc, 1) * 2))) + 1)], max(conc, 1) * 2})
    phases = [
        {"phase": "single-stream", "load": "1 request at a time", "input_tokens": prompt, "output_tokens": output,
         "report": ["time_to_first_token", "time_per_output_token", "inter_token_latency"]},
        {"phase": "prefill-heavy", "load": f"concurrency {conc}", "input_tokens": prompt, "output_tokens": 32,
         "report": ["time_to_first_token", "input_tokens_per_second", "queue_delay"]},
        {"phase": "decode-heavy", "load": f"concurrency {conc}", "input_tokens": 256, "output_tokens": max(output, 256),
         "report": ["time_per_output_token", "inter_token_latency", "output_tokens_per_second"]},
        {"phase": "concurrency-sweep", "load": f"concurrency {sweep}", "input_tokens": prompt, "output_tokens": output,
         "report": ["time_to_first_token", "time_per_output_token", "queue_delay", "error_rate", "output_tokens_per_second"]},
    ]
    if values.get("prefix_reuse"):
        phases.append({"phase": "prefix-reuse", "load": f"concurrency {conc}, shared system/document prefix",
                       "input_tokens": prompt, "output_tokens": 64, "report": ["prefix_cache_hit_rate", "time_to_first_token"]})
    if values.get("structured_outputs"):
        phases.append({"phase": "structured-output", "load": f"concurrency {conc}, json_schema + tools requests",
                       "input_tokens": prompt, "output_tokens": output,
                       "report": ["schema_validity_rate", "tool_call_parse_rate", "retries", "time_per_output_token"]})
    engine_metrics = metric_names().get(first, {})
    return {"phases": phases,
            "server_metrics": {"engine": first, "names": engine_metrics,
                               "missing": [m for m in ("time_to_first_token", "time_per_output_token", "kv_cache_usage",
                                                       "prefix_cache_hit_rate") if m not in engine_metrics]},
            "also": "quality on the team's eval set and cost per acceptable token"}


def plan(inventory_path: Optional[str] = None, profile_path: Optional[str] = None, flags: Optional[dict] = None) -> dict:
    inventory = load_inventory(inventory_path) if inventory_path else None
    profile = load_profile(profile_path) if profile_path else None
    facts = build_facts(inventory, profile, flags or {}, profile_path=profile_path or "profile",
                        inventory_path=inventory_path or "inventory")
    return decide(facts)


# ---------------------------------------------------------------- rendering
ENGINE_NAMES = {"vllm": "vLLM", "sglang": "SGLang", "tgi": "TGI", "trtllm": "TensorRT-LLM", "lmdeploy": "LMDeploy",
                "exllamav3": "ExLlamaV3 (TabbyAPI)", "exllamav2": "ExLlamaV2 (TabbyAPI)", "ovms": "OpenVINO Model Server",
                "mlc": "MLC LLM / WebLLM", "llamacpp": "llama.cpp server", "dynamo": "NVIDIA Dynamo", "ollama": "Ollama"}


def render(plan_: dict, fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps(plan_, indent=2, ensure_ascii=False)
    md = fmt == "md"
    h = (lambda s: f"\n## {s}\n") if md else (lambda s: f"\n{s.upper()}")
    b = "- " if md else "  - "
    name = lambda e: ENGINE_NAMES.get(e, e)  # noqa: E731
    out = ["# Engine plan" if md else "ENGINE PLAN",
           f"{'**Decisive constraint:**' if md else 'Decisive constraint:'} {plan_['constraint']}",
           f"{'**Rule fired:**' if md else 'Rule fired:'} `{plan_['rule']}` (decision-framework step {plan_['step']}) because "
           + (", ".join(f"{k}={v['value']} [{v['source']}]" for k, v in plan_["fired_because"].items()) or "no rule above matched (catch-all)")]
    if md:  # Markdown merges adjacent lines into one paragraph
        out[1:3] = [line + "  " for line in out[1:3]]
    out.append(h("First engine"))
    out.append(f"{b}**{name(plan_['first']['engine'])}** (`{plan_['first']['engine']}`): {plan_['first']['why']}" if md
               else f"{b}{name(plan_['first']['engine'])} ({plan_['first']['engine']}): {plan_['first']['why']}")
    if plan_.get("above"):
        out.append(f"{b}above it: {name(plan_['above']['engine'])}: {plan_['above']['why']}")
    out.append(h("Second engine"))
    out.append(f"{b}{name(plan_['second']['engine'])} ({plan_['second']['engine']}): {plan_['second']['why']}")
    out.append(h("Do not test yet"))
    out += [f"{b}{name(d['engine'])}: {d['why']}" for d in plan_["do_not_test_yet"]]
    out.append(h(f"Reject {name(plan_['first']['engine'])} if (falsification path)"))
    out += [f"{b}{r['metric']}: {r['reject_if']}" for r in plan_["rejection_metrics"]]
    out.append(h("Ollama production-rejection checklist"))
    if md:
        out += ["| requirement | applies | why | require of the engine |", "|---|---|---|---|"]
        out += [f"| {c['requirement']} | {'yes' if c['applies'] else 'no'} | {c['why']} | {c['require']} |"
                for c in plan_["ollama_rejection_checklist"]]
    else:
        out += [f"{b}[{'x' if c['applies'] else ' '}] {c['requirement']}: {c['why']}" for c in plan_["ollama_rejection_checklist"]]
    bp = plan_["benchmark_plan"]
    out.append(h("Phase benchmark"))
    for p in bp["phases"]:
        out.append(f"{b}{p['phase']}: {p['load']}, {p['input_tokens']} in / {p['output_tokens']} out -> {', '.join(p['report'])}")
    sm = bp["server_metrics"]
    out.append(f"{b}server-side ({sm['engine']}): " + (", ".join(f"{k}={v}" for k, v in sm["names"].items()) or "no Prometheus metrics")
               + (f"; not exposed: {', '.join(sm['missing'])}" if sm["missing"] else ""))
    out.append(f"{b}also: {bp['also']}")
    out.append(h("Inputs"))
    out += [f"{b}{k} = {v['value']!r}  [{v['source']}]" for k, v in plan_["inputs"].items()]
    return "\n".join(out) + "\n"
