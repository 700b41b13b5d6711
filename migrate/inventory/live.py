"""Live inventory of a running Ollama server through the protocol layer's ``fetch_async`` (no own client).

Reads ``/api/version``, ``/api/tags`` and ``/api/ps`` together, then ``/api/show`` per model (a few at
a time), all within one overall deadline; turns them into model entries (see the shared Ollama
reference, sections 0, 1.2-1.4 and 3).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Any, Optional

import httpx

from ..protocol import HttpResult, Timeouts, fetch_async
from ..protocol.client import run_sync
from ..protocol.serverjson import loads as server_json
from ..redact import mask_text, mask_url

DEFAULT_OLLAMA = "http://127.0.0.1:11434"
DEFAULT_DEADLINE = 30.0  # seconds for the whole live query (`inventory --timeout`)
SHOW_CONCURRENCY = 4  # /api/show requests in flight: a large library must not flood a small server
# Models inventoried (each asked /api/show): a real library holds tens to hundreds. A server listing more
# gets the first MAX_MODELS inventoried and the rest counted in a warning, so time, memory and the
# document stay bounded whatever /api/tags says (200,000 names fit in its 8 MiB read cap).
MAX_MODELS = 2000
MAX_SHOW_WARNINGS = 10  # per-model /api/show failures named one by one; the rest are counted

# Architectures whose GGUF metadata marks a mixture of experts even when expert_count is absent.
MOE_ARCHS = {
    "mixtral",
    "qwen2moe",
    "qwen3moe",
    "deepseek2",
    "deepseek3",
    "gptoss",
    "gpt-oss",
    "llama4",
    "dbrx",
    "olmoe",
    "granitemoe",
    "phimoe",
    "arctic",
    "jamba",
    "grok",
    "qwen3vlmoe",
    "glm4moe",
}


def ollama_url_from_env(env: Optional[dict] = None) -> str:
    """``$OLLAMA_HOST`` as the Ollama CLI reads it: bare ``host[:port]`` gets http:// and :11434."""
    env = os.environ if env is None else env
    raw = (env.get("OLLAMA_HOST") or "").strip()
    if not raw:
        return DEFAULT_OLLAMA
    scheme = "http"
    if "://" in raw:
        scheme, raw = raw.split("://", 1)
    hostport = raw.split("/", 1)[0]
    if hostport.startswith("["):  # [::1]:port
        has_port = "]:" in hostport
    else:
        has_port = ":" in hostport
    if not has_port:
        hostport += ":443" if scheme == "https" else ":11434"
    return f"{scheme}://{hostport}"


def parse_parameters(text: Optional[str]) -> dict[str, Any]:
    """``/api/show`` ``parameters``: one ``name value`` per line; repeated names (stop) become lists."""
    out: dict[str, Any] = {}
    if not text:
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        parts = line.split(None, 1)
        name = parts[0]
        raw = parts[1].strip() if len(parts) > 1 else ""
        value: Any
        try:
            value = server_json(raw)  # a number (NaN/1e999 become null), a quoted string, a list
        except ValueError:
            value = raw.strip('"')
        if name == "stop":
            out.setdefault("stop", []).append(value if isinstance(value, str) else str(value))
        elif name in out:
            prev = out[name]
            out[name] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[name] = value
    return out


def default_num_ctx(version: Optional[str]) -> Optional[dict]:
    """Server default context for a version (reference section 0/3): 2048 up to 0.6.6, 4096 up to
    0.15.4, then picked by VRAM (4096 / 32768 / 262144)."""
    v = _version_tuple(version)
    if v is None:
        return None
    if v < (0, 6, 7):
        return {"value": 2048, "rule": "<= 0.6.6: 2048"}
    if v < (0, 15, 5):
        return {"value": 4096, "rule": "0.6.7 - 0.15.4: 4096"}
    return {"value": None, "rule": ">= 0.15.5: by VRAM (<24 GiB 4096, 24-48 GiB 32768, >=48 GiB 262144)"}


def default_num_parallel(version: Optional[str]) -> Optional[str]:
    v = _version_tuple(version)
    if v is None:
        return None
    if v >= (0, 10, 0):
        return "1"
    if v >= (0, 3, 2):
        return "auto (4, 2 or 1 by free memory)"
    return "1"


def _version_tuple(version: Optional[str]) -> Optional[tuple]:
    if not version:
        return None
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", version.strip())
    if not m:
        return None
    return tuple(int(x) for x in m.groups())


def model_entry(
    name: str, tag: Optional[dict], show: Optional[dict], ps: Optional[dict], version: Optional[str]
) -> dict:
    """One ``models[]`` entry from whatever of tags/show/ps is available."""
    # A server's JSON may hold anything where a mapping belongs: such a part counts as absent.
    details = next((d for d in (_dict(show, "details"), _dict(tag, "details"), _dict(ps, "details")) if d), {})
    info = _dict(show, "model_info")
    arch = info.get("general.architecture") if isinstance(info.get("general.architecture"), str) else None

    def arch_key(suffix: str):
        if not arch:
            return None
        return info.get(f"{arch}.{suffix}")

    raw_params = (show or {}).get("parameters")
    params = parse_parameters(raw_params if isinstance(raw_params, str) else None)
    trained = arch_key("context_length") or details.get("context_length")
    expert_count = arch_key("expert_count")
    expert_used = arch_key("expert_used_count")
    effective, source = None, None
    if ps and isinstance(ps.get("context_length"), int):
        effective, source = ps["context_length"], "api/ps"
    elif isinstance(params.get("num_ctx"), int):
        effective, source = params["num_ctx"], "modelfile num_ctx"
    else:
        d = default_num_ctx(version)
        if d and d["value"]:
            effective, source = d["value"], f"server default for version {version} ({d['rule']})"
    if effective and isinstance(trained, int) and effective > trained:
        effective = trained  # Ollama caps the context at the trained maximum
    size = (tag or ps or {}).get("size")
    loaded_size = (ps or {}).get("size")  # weights + KV cache as loaded, compared with size_vram
    size_vram = (ps or {}).get("size_vram")
    offload = None
    if isinstance(loaded_size, int) and isinstance(size_vram, int) and loaded_size:
        offload = {
            "size": loaded_size,
            "size_vram": size_vram,
            "cpu_share": round(1 - size_vram / loaded_size, 4),
            "cpu_offload": size_vram < loaded_size,
        }
    moe = bool(expert_count) or (arch or "").lower() in MOE_ARCHS
    return {
        "name": name,
        "family": details.get("family") or arch,
        "families": details.get("families") or [],
        "format": details.get("format"),
        "parameter_size": details.get("parameter_size"),
        "parameter_count": info.get("general.parameter_count"),
        "quantization": details.get("quantization_level"),
        "context_length": trained if isinstance(trained, int) else None,
        "effective_context": effective,
        "effective_context_source": source,
        "capabilities": (show or {}).get("capabilities") or (tag or {}).get("capabilities") or [],
        "architecture": arch,
        "expert_count": expert_count,
        "expert_used_count": expert_used,
        "moe": moe,
        "parameters": params,
        "system": (show or {}).get("system"),
        "template_present": bool((show or {}).get("template")),
        "embedding_length": arch_key("embedding_length"),
        "block_count": arch_key("block_count"),
        "head_count": _scalar(arch_key("attention.head_count")),
        "head_count_kv": _scalar(arch_key("attention.head_count_kv")),
        "basename": info.get("general.basename"),
        "size_label": info.get("general.size_label"),
        "digest": (tag or ps or {}).get("digest"),
        "size_bytes": size,
        "loaded": ps is not None,
        "offload": offload,
        "remote": bool((tag or {}).get("remote_host") or (show or {}).get("remote_host")),
    }


def _dict(data: Optional[dict], key: str) -> dict:
    value = (data or {}).get(key)
    return value if isinstance(value, dict) else {}


def _scalar(v):
    # Some architectures store per-layer head counts as arrays; keep the largest for KV estimates.
    if isinstance(v, list):
        nums = [x for x in v if isinstance(x, (int, float))]
        return max(nums) if nums else None
    return v


def inventory_live(url: str, deadline: float = DEFAULT_DEADLINE, concurrency: int = SHOW_CONCURRENCY) -> dict:
    """Query the server within ``deadline`` seconds. Never raises for network faults: returns
    ``{"ok": False, "error": ...}``. ``url`` is the parsed root (credentials allowed: the requests use
    them); the result holds it masked."""
    return run_sync(inventory_live_async(url, deadline=deadline, concurrency=concurrency))


async def inventory_live_async(
    url: str, deadline: float = DEFAULT_DEADLINE, concurrency: int = SHOW_CONCURRENCY
) -> dict:
    out: dict = {
        "url": mask_url(url),
        "ok": False,
        "error": None,
        "version": None,
        "models": [],
        "warnings": [],
        "default_num_ctx": None,
        "default_num_parallel": None,
    }
    end = time.monotonic() + deadline

    async with httpx.AsyncClient(follow_redirects=False) as client:

        async def get(path: str, body: Optional[dict] = None) -> Optional[HttpResult]:
            """None when the deadline ran out before this request could start."""
            remaining = end - time.monotonic()
            if remaining <= 0:
                return None
            t = Timeouts(connect=min(3.0, remaining), read=remaining, stall=remaining, total=remaining)
            method = "GET" if body is None else "POST"
            return await fetch_async(url, path, method=method, json=body, timeouts=t, client=client)

        ver, tags, ps = await asyncio.gather(get("/api/version"), get("/api/tags"), get("/api/ps"))
        if ver.status is None and tags.status is None:
            out["error"] = mask_text(f"{ver.error.type}: {ver.describe()}" if ver.error else ver.describe())
            return out
        if not tags.ok or not isinstance(tags.json, dict):
            out["error"] = f"/api/tags: {_not_ollama(tags)}"
            return out
        if ver.ok and isinstance(ver.json, dict):
            out["version"] = _text(ver.json.get("version"))
        else:
            out["warnings"].append(f"/api/version: {ver.describe()}")
        loaded: dict[str, dict] = {}
        if ps.ok and isinstance(ps.json, dict):
            for m in _entries(ps.json):
                loaded[_name(m)] = m
        else:
            out["warnings"].append(f"/api/ps: {ps.describe()}")
        version = out["version"]
        out["default_num_ctx"] = default_num_ctx(version)
        out["default_num_parallel"] = default_num_parallel(version)
        tag_models = {_name(m): m for m in _entries(tags.json)}
        del tags  # the whole parsed listing (up to 8 MiB of JSON): only the capped part is kept
        names = list(tag_models) + [n for n in loaded if n not in tag_models]
        if len(names) > MAX_MODELS:
            out["warnings"].append(
                f"the server lists {len(names)} models: the first {MAX_MODELS} are inventoried,"
                f" {len(names) - MAX_MODELS} more are not (cap)"
            )
            names = names[:MAX_MODELS]
            tag_models = {n: tag_models[n] for n in names if n in tag_models}

        limit = asyncio.Semaphore(concurrency)

        async def show(name: str) -> Optional[HttpResult]:
            async with limit:
                return await get("/api/show", {"model": name})

        shows = await asyncio.gather(*(show(n) for n in names))

    skipped, failed = [], 0
    for name, result in zip(names, shows):
        show_json = result.json if result is not None and result.ok and isinstance(result.json, dict) else None
        if result is None:
            skipped.append(name)
        elif show_json is None:
            failed += 1
            if failed <= MAX_SHOW_WARNINGS:
                out["warnings"].append(f"/api/show {name[:200]}: {result.describe()}")
        out["models"].append(model_entry(name, tag_models.get(name), show_json, loaded.get(name), version))
    if failed > MAX_SHOW_WARNINGS:
        out["warnings"].append(f"/api/show failed for {failed - MAX_SHOW_WARNINGS} more models (not named)")
    if skipped:
        out["warnings"].append(
            f"/api/show not asked for {len(skipped)} models: the {deadline:g} s deadline (--timeout) ran out"
        )
    out["ok"] = True
    return out


def _not_ollama(result: HttpResult) -> str:
    """Why an answer is not Ollama's: "HTTP 200 with text/html, not JSON: not an Ollama API". A fault
    (a timeout, a body past its cap) says nothing about what answered: it is only described."""
    said = result.describe()
    answered = result.status is not None and result.status < 400 and result.error is None
    return f"{said}: not an Ollama API" if answered else said


def _entries(data: dict) -> list[dict]:
    """The ``models`` list of /api/tags or /api/ps, only the entries that name a model."""
    models = data.get("models")
    return [m for m in models if isinstance(m, dict) and _name(m)] if isinstance(models, list) else []


def _name(entry: dict) -> str:
    return str(entry.get("name") or entry.get("model") or "")


def _text(value: Any) -> Optional[str]:
    return None if value is None else str(value)[:200]
