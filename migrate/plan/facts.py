"""Profile facts with provenance: command-line flags > profile file > what the inventory observed.

Every fact is ``{"value", "source"}`` so the plan can say where each input came from.
"""

from __future__ import annotations

from typing import Any, Optional

from ..datafiles import load_user_file
from ..errors import UsageError
from ..hardware import VENDORS, parse_gpus, vendor_classes
from ..redact import has_unsafe_chars

PORTABLE = ("browser", "mobile", "edge", "intel-estate")
USERS = ("trusted", "shared")
BOOL_FACTS = ("structured", "tools", "moe", "prefix_reuse", "exl_available", "hf_native", "nvidia_max", "disaggregated")
INT_FACTS = ("nodes", "concurrency", "context", "p95_prompt_tokens", "p95_output_tokens")
# Keys a profile file may hold (the same names as the flags, with underscores).
PROFILE_KEYS = ("gpus", "gpu_vendor", "portable", "users", "models", "streaming_share") + BOOL_FACTS + INT_FACTS
# Inventory `profile` key -> fact name.
INVENTORY_MAP = {
    "context_need": "context",
    "peak_concurrency": "concurrency",
    "p95_prompt_tokens": "p95_prompt_tokens",
    "p95_output_tokens": "p95_output_tokens",
    "streaming_share": "streaming_share",
    "tools": "tools",
    "structured": "structured",
    "moe": "moe",
    "models": "models",
}


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
            return [_model_tag(v, where) for v in (value if isinstance(value, list) else [value])]
        return value.lower() if name == "gpu_vendor" else value
    except (TypeError, ValueError):
        raise UsageError(f"{where}: invalid value {value!r} for {name}") from None


def _model_tag(value: Any, where: str) -> str:
    """An Ollama tag as plan may print and write it: one line, no control or separator characters."""
    if isinstance(value, (dict, list)) or value in (None, ""):
        raise ValueError
    if has_unsafe_chars(str(value)):
        raise UsageError(f"{where}: model tag {str(value)!r} contains control or line-separator characters")
    return str(value)


def _check_shape(data: dict, path: str) -> None:
    """Each key holds what its flag would: a scalar, and for ``models`` a tag or a list of tags."""
    for key, value in data.items():
        if key == "models":
            if isinstance(value, dict):
                raise UsageError(
                    f"profile {path}: models must be a list of Ollama tags, got a mapping (a gateway config is not a profile)"
                )
            if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
                raise UsageError(f"profile {path}: models must be a list of Ollama tags")
        elif isinstance(value, (dict, list)):
            kind = "a mapping" if isinstance(value, dict) else "a list"
            raise UsageError(f"profile {path}: {key} must be a single value, got {kind}")


def load_profile(path: str) -> dict:
    data = load_user_file(path, "profile")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"profile {path}: expected a mapping of profile keys")
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - set(PROFILE_KEYS))
    if unknown:
        raise UsageError(f"profile {path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(PROFILE_KEYS)})")
    _check_shape(data, path)
    return data


def build_facts(
    inventory: Optional[dict] = None,
    profile: Optional[dict] = None,
    flags: Optional[dict] = None,
    *,
    profile_path: str = "profile",
    inventory_path: str = "inventory",
) -> dict:
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
        put(
            "models",
            [m.get("name") for m in inventory["models"] if m.get("name")],
            f"inventory ({inventory_path})",
            inventory_path,
        )
    if inventory and "moe" not in facts and any((m.get("expert_count") or 0) > 0 for m in inventory.get("models", [])):
        put("moe", True, f"inventory ({inventory_path}): expert_count > 0", inventory_path)
    for key, value in (profile or {}).items():
        put(key, value, f"profile ({profile_path})", f"profile {profile_path}")
    for key, value in (flags or {}).items():
        if value is None or value is False or value == ():
            continue  # an unset flag must not override the profile
        put(
            key,
            list(value) if isinstance(value, tuple) else value,
            f"flag --{key.replace('_', '-')}",
            f"--{key.replace('_', '-')}",
        )

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
        if (
            "gpus" in facts
            and facts.get("gpu_class")
            and facts["gpu_class"]["value"] not in vendor_classes()[facts["vendor"]["value"]]
        ):
            raise UsageError(f"--gpu-vendor {facts['vendor']['value']} contradicts --gpus {facts['gpus']['value']}")
    if "vendor" not in facts and value_of(facts, "portable") == "intel-estate":
        facts["vendor"] = {
            "value": "intel",
            "source": f"inferred from portable intel-estate ({facts['portable']['source']})",
        }
    facts.setdefault("nodes", {"value": 1, "source": "default"})
    facts.setdefault("users", {"value": "shared", "source": "default (a migrated service is shared)"})
    if "gpu_count" not in facts and facts.get("vendor", {}).get("value") not in (None, "none", "apple"):
        facts["gpu_count"] = {"value": 1, "source": "default"}
    facts["structured_outputs"] = {
        "value": bool(value_of(facts, "structured") or value_of(facts, "tools")),
        "source": "derived: structured or tools (the framework counts JSON schema and tools as structured outputs)",
    }
    return facts


def value_of(facts: dict, name: str) -> Any:
    f = facts.get(name)
    return None if f is None else f["value"]
