"""Identify what is behind a URL: engine kind, version, models (with context limits), health, metrics.

Two layers:
- pure fingerprint functions over ``HttpResult`` objects (no network; unit-tested with recordings);
- ``probe_async(url)`` which fetches the probe paths through ``migrate.protocol.fetch_async``,
  concurrently, and feeds the results to the pure functions.

Fingerprints come from each engine's documented routes and defaults (see docs/probe.md
and migrate/data/engines.yaml): Ollama's ``/`` text and ``/api/version``; llama.cpp's ``Server`` header and ``/props``;
TGI's ``/info``; SGLang's ``/get_server_info``; OVMS's KServe ``/v2/health/ready``; the
``owned_by`` default each engine puts in ``/v1/models``; and the Prometheus metric prefix.
Probing never sends an inference request.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import httpx

from . import engines
from .errors import UnreachableError
from .protocol import HttpResult, Timeouts, fetch_async, parse_server_url
from .protocol.client import clip, run_sync
from .redact import mask_text, mask_url

KINDS = engines.server_kinds()

# Paths fetched for every URL (GET only, all cheap). /metrics is fetched in a second round because
# TensorRT-LLM's /metrics is a destructive JSON read: its Prometheus text lives elsewhere.
FINGERPRINT_PATHS = (
    "/",
    "/api/version",
    "/v1/models",
    "/health",
    "/version",
    "/info",
    "/get_server_info",
    "/props",
    "/v2/health/ready",
)

# Default ``owned_by`` of each engine's /v1/models ModelCard, and the metric prefixes that name an engine.
OWNED_BY = engines.by_owned_by()
METRIC_PREFIXES = engines.by_metric_prefix()
# Families every Prometheus client library adds; they say nothing about the engine.
_GENERIC_METRIC_PREFIXES = ("process_", "python_", "go_", "promhttp_", "http_")

# Fingerprint weights: a route or field only one engine has is decisive; shared hints are weak.
_DECISIVE, _STRONG, _WEAK = 10, 5, 1

# What a probe keeps of a server's own strings (version, model ids, Server header, health detail) and how
# many models it lists: a hostile or broken server must not fill the terminal or the JSON document.
MAX_VALUE_CHARS = 200
MAX_MODELS = 1000

_UNREACHABLE_ERRORS = ("connection_refused", "connect_timeout", "read_timeout", "timeout", "transport", "stream_cut")


@dataclass
class ModelInfo:
    id: str
    context_length: Optional[int] = None  # the limit a request gets on this server, when told
    context_source: Optional[str] = None  # where context_length came from
    trained_context_length: Optional[int] = None  # the model's trained maximum, when told
    loaded: Optional[bool] = None  # Ollama: listed by /api/ps
    owned_by: Optional[str] = None
    parent: Optional[str] = None  # LoRA adapters: the base model


@dataclass
class ProbeResult:
    url: str
    kind: Optional[str]
    version: Optional[str] = None
    version_source: Optional[str] = None
    models: list[ModelInfo] = field(default_factory=list)
    health: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=lambda: {"exposed": False, "prefix": None, "path": None})
    server_header: Optional[str] = None
    evidence: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reason: Optional[str] = None  # when kind is None: what answered instead of a known engine

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------------
# Pure fingerprint functions
# ------------------------------------------------------------------------------------------------


def _json_obj(r: Optional[HttpResult]) -> Optional[dict]:
    if r is None or not r.ok or not isinstance(r.json, dict):
        return None
    return r.json


def _header(r: Optional[HttpResult], name: str) -> Optional[str]:
    if r is None:
        return None
    for k, v in r.headers.items():
        if k.lower() == name:
            return v
    return None


def model_cards(r: Optional[HttpResult]) -> list[dict]:
    """The ``data`` list of an OpenAI ``/v1/models`` answer (empty when absent or malformed)."""
    data = _json_obj(r)
    if not data or not isinstance(data.get("data"), list):
        return []
    return [m for m in data["data"] if isinstance(m, dict) and m.get("id") is not None]


def _metric_lines(text: str) -> bool:
    """True when ``text`` holds at least one Prometheus sample line (``name{labels} value``)."""
    return any(
        re.match(r"[A-Za-z_:][A-Za-z0-9_:]*(\{[^}]*\})?\s+\S", line.strip())
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def metric_prefix(text: str) -> Optional[str]:
    """The engine prefix of a Prometheus text dump (``vllm:``, ``tgi_``...), or None.

    Known engine prefixes win over generic client-library families (``process_``, ``python_``);
    an unknown dump reports its most common ``namespace:`` prefix.
    """
    names = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)[\s{]", line)
        if m:
            names.append(m.group(1))
    if not names:
        return None
    known = Counter(p for n in names for p in METRIC_PREFIXES if n.startswith(p))
    if known:
        return known.most_common(1)[0][0]
    # Unknown engine: report a shared "namespace:" prefix; "_"-joined names are too ambiguous
    # (MLC's untyped "prompt_tokens_sum" lines have no prefix at all).
    other = Counter(n.split(":", 1)[0] + ":" for n in names if ":" in n and not n.startswith(_GENERIC_METRIC_PREFIXES))
    return other.most_common(1)[0][0] if other else None


def fingerprint(results: dict[str, HttpResult]) -> list[tuple[str, int, str]]:
    """Every (kind, weight, evidence) the fingerprint answers support."""
    found: list[tuple[str, int, str]] = []
    root = results.get("/")
    if root is not None and root.ok and "Ollama is running" in (root.text or ""):
        found.append(("ollama", _DECISIVE, "GET / says 'Ollama is running'"))
    ver = _json_obj(results.get("/api/version"))
    if ver and isinstance(ver.get("version"), str):
        found.append(("ollama", _DECISIVE, f"GET /api/version -> {ver['version']!r}"))

    server = None
    for r in results.values():
        server = server or _header(r, "server")
    if server and server.lower().startswith("llama.cpp"):
        found.append(("llamacpp", _DECISIVE, f"Server header {server!r}"))
    props = _json_obj(results.get("/props"))
    if props and isinstance(props.get("default_generation_settings"), dict):
        found.append(("llamacpp", _DECISIVE, "GET /props has default_generation_settings"))

    info = _json_obj(results.get("/info"))
    if info and (info.get("router") == "text-generation-router" or ("model_id" in info and "max_total_tokens" in info)):
        found.append(("tgi", _DECISIVE, "GET /info is TGI's (model_id, max_total_tokens)"))

    server_info = _json_obj(results.get("/get_server_info"))
    if server_info and any(isinstance(server_info.get(k), str) for k in ("version", "model_path")):
        found.append(("sglang", _DECISIVE, "GET /get_server_info answers"))

    if _kserve_ready(results) and not (info and "model_id" in info):
        # KServe readiness: OVMS always; TGI only in kserve builds (its /info wins above).
        found.append(("ovms", _STRONG, "GET /v2/health/ready answers (KServe)"))

    cards = model_cards(results.get("/v1/models"))
    owners = {str(c.get("owned_by", "")).lower() for c in cards}
    for owner in sorted(owners):
        if owner in OWNED_BY:
            found.append((OWNED_BY[owner], _DECISIVE, f"/v1/models owned_by {owner!r}"))
        elif owner == "library" and any(":" in str(c["id"]) for c in cards):
            found.append(("ollama", _STRONG, "/v1/models owned_by 'library' with name:tag ids"))
    if cards:
        found.append(("openai", _WEAK, "GET /v1/models returns an OpenAI model list"))

    version = _json_obj(results.get("/version"))
    if version and isinstance(version.get("version"), str):
        # vLLM and TensorRT-LLM both serve /version; alone it only hints.
        found.append(("vllm", _WEAK, f"GET /version -> {version['version']!r}"))
        found.append(("trtllm", _WEAK, f"GET /version -> {version['version']!r}"))

    for path in ("/metrics", "/prometheus/metrics"):
        m = results.get(path)
        if m is not None and m.ok:
            prefix = metric_prefix(m.text or "")
            if prefix in METRIC_PREFIXES:
                found.append((METRIC_PREFIXES[prefix], _STRONG, f"{path} metric prefix {prefix!r}"))
    return found


def _kserve_ready(results: dict[str, HttpResult]) -> bool:
    """KServe v2 readiness: 200 with an empty body (OVMS, Triton) or a JSON ``{"ready": true}``; a web
    page or an error page that answers 200 on every path is not one, nor is a server that answers
    every path with an empty body (a 204 everywhere): a fingerprint needs an answer that says something."""
    r = results.get("/v2/health/ready")
    if r is None or not r.ok:
        return False
    if (r.text or "").strip():
        return isinstance(r.json, dict) and r.json.get("ready") is True
    return r.status == 200 and any(_says_something(other) for other in results.values() if other is not r)


def _says_something(r: Optional[HttpResult]) -> bool:
    """An HTTP answer other than an empty 2xx (a 404 says the route is absent, which is something)."""
    return r is not None and r.status is not None and not (r.ok and not (r.text or "").strip())


def identify(results: dict[str, HttpResult]) -> tuple[Optional[str], list[str]]:
    """The kind with the most weight behind it (None if nothing matched), and the evidence."""
    found = fingerprint(results)
    if not found:
        return None, []
    score: Counter = Counter()
    for kind, weight, _ in found:
        score[kind] += weight
    # Ties go to the more specific kind (generic "openai" last).
    kind = max(score, key=lambda k: (score[k], k != "openai", -KINDS.index(k)))
    return kind, [e for k, _, e in found if k == kind]


def unreachable(results: dict[str, HttpResult]) -> Optional[str]:
    """A one-line reason when no probe got any HTTP answer, else None."""
    if any(r.status is not None for r in results.values()):
        return None
    errors = [r.error for r in results.values() if r.error is not None]
    if errors and all(e.type in _UNREACHABLE_ERRORS for e in errors):
        return errors[0].message
    return "no HTTP answer" if errors else None


def why_unknown(results: dict[str, HttpResult]) -> str:
    """What answered when no fingerprint matched, in one line: "9 of 10 routes answer HTTP 200 with
    text/html, not JSON" (a web page is not an inference API, whatever its status)."""
    said = Counter(r.describe() for r in results.values() if r is not None and r.status is not None)
    if not said:
        return "no route gave an HTTP answer"
    answer, n = said.most_common(1)[0]
    return f"{n} of {len(results)} routes answer {answer}"


def detect_version(kind: Optional[str], results: dict[str, HttpResult]) -> tuple[Optional[str], Optional[str]]:
    """(version, where it came from) for the identified kind."""

    def field_of(path: str, key: str) -> Optional[str]:
        data = _json_obj(results.get(path))
        value = data.get(key) if data else None
        return str(value) if value not in (None, "") else None

    engine = engines.resolve(kind) if kind else None
    candidates = [(engine.version_path, engine.version_field)] if engine and engine.version_path else []
    for path, key in candidates:
        value = field_of(path, key)
        if value:
            return value, f"GET {path} .{key}"
    return None, None


def _positive_int(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def openai_models(kind: Optional[str], results: dict[str, HttpResult]) -> list[ModelInfo]:
    """Models from /v1/models (+ /props for llama.cpp, /info for TGI) with their context limits."""
    models = []
    for card in model_cards(results.get("/v1/models")):
        m = ModelInfo(id=str(card["id"]), owned_by=card.get("owned_by"), parent=card.get("parent"))
        if _positive_int(card.get("max_model_len")):
            m.context_length = card["max_model_len"]
            m.context_source = "/v1/models max_model_len"
        meta = card.get("meta") if isinstance(card.get("meta"), dict) else {}
        if _positive_int(meta.get("n_ctx_train")):
            m.trained_context_length = meta["n_ctx_train"]
        if _positive_int(meta.get("n_ctx")):
            m.context_length = meta["n_ctx"]
            m.context_source = "/v1/models meta.n_ctx (per slot)"
        models.append(m)
    props = _json_obj(results.get("/props"))
    if kind == "llamacpp" and props:
        n_ctx = _positive_int((props.get("default_generation_settings") or {}).get("n_ctx"))
        alias = props.get("model_alias")
        if n_ctx:
            if not models and alias:
                models.append(ModelInfo(id=str(alias)))
            for m in [m for m in models if m.id == alias] or models:
                m.context_length = n_ctx
                m.context_source = "/props default_generation_settings.n_ctx (per slot)"
    info = _json_obj(results.get("/info"))
    if kind == "tgi" and info:
        total = _positive_int(info.get("max_total_tokens"))
        model_id = info.get("model_id")
        if not models and model_id:
            models.append(ModelInfo(id=str(model_id)))
        for m in models:
            if total:
                m.context_length = total
                m.context_source = "/info max_total_tokens"
    return models


def ollama_models(
    tags: Optional[HttpResult], ps: Optional[HttpResult], shows: dict[str, HttpResult]
) -> list[ModelInfo]:
    """Ollama models from /api/tags, /api/ps (allocated context) and /api/show (trained maximum).

    ``context_length`` is what a request actually gets (``/api/ps``, Ollama >= 0.10, only for loaded
    models); ``trained_context_length`` is ``model_info["<arch>.context_length"]``.
    """
    order: list[str] = []
    by_name: dict[str, ModelInfo] = {}

    def get(name: str) -> ModelInfo:
        if name not in by_name:
            by_name[name] = ModelInfo(id=name, loaded=False)
            order.append(name)
        return by_name[name]

    for entry in (_json_obj(tags) or {}).get("models") or []:
        if isinstance(entry, dict) and (entry.get("name") or entry.get("model")):
            get(str(entry.get("name") or entry.get("model")))
    for entry in (_json_obj(ps) or {}).get("models") or []:
        if not isinstance(entry, dict) or not (entry.get("name") or entry.get("model")):
            continue
        m = get(str(entry.get("name") or entry.get("model")))
        m.loaded = True
        if _positive_int(entry.get("context_length")):
            m.context_length = entry["context_length"]
            m.context_source = "/api/ps context_length (allocated)"
    for name, result in shows.items():
        m = by_name.get(name)
        info = (_json_obj(result) or {}).get("model_info")
        if m is None or not isinstance(info, dict):
            continue
        arch = info.get("general.architecture")
        trained = _positive_int(info.get(f"{arch}.context_length")) if arch else None
        if trained is None:  # architecture key missing: any "<x>.context_length" entry
            trained = next(
                (_positive_int(v) for k, v in info.items() if k.endswith(".context_length") and _positive_int(v)), None
            )
        m.trained_context_length = trained
    return [by_name[n] for n in order]


def health_of(kind: Optional[str], results: dict[str, HttpResult]) -> dict:
    """Liveness from the kind's own health route."""
    engine = engines.resolve(kind) if kind else None
    paths = [engine.health if engine else "/health"]
    if kind in (None, "openai"):
        paths += ["/v1/models"]
    for path in paths:
        r = results.get(path)
        if r is None or r.status is None:
            continue
        if r.status == 404 and path != paths[-1]:
            continue
        detail = (r.text or "").strip()
        return {"ok": r.ok, "endpoint": path, "status": r.status, "detail": detail[:120] if detail else None}
    return {"ok": None, "endpoint": None, "status": None, "detail": "no health route answered"}


def metrics_of(result: Optional[HttpResult], path: str) -> dict:
    if result is None or not result.ok:
        return {"exposed": False, "prefix": None, "path": None, "status": None if result is None else result.status}
    text = result.text or ""
    ctype = _header(result, "content-type") or ""
    if (
        "html" in ctype.lower()
        or (text.strip() and not isinstance(result.json, (list, dict)) and not _metric_lines(text))
        or (not text.strip() and result.status != 200)  # a 204 is no metrics endpoint
    ):
        # A web page (or any text without one sample line) answering 200 is not a metrics endpoint.
        return {"exposed": False, "prefix": None, "path": None, "status": result.status}
    if isinstance(result.json, (list, dict)):
        # TensorRT-LLM's /metrics: JSON iteration stats, not Prometheus text.
        return {"exposed": True, "prefix": None, "path": path, "status": result.status, "format": "json"}
    return {
        "exposed": True,
        "prefix": metric_prefix(text),
        "path": path,
        "status": result.status,
        "format": "prometheus" if text.strip() else "empty",
    }


# ------------------------------------------------------------------------------------------------
# Network
# ------------------------------------------------------------------------------------------------


async def probe_async(
    url: str, *, timeouts: Optional[Timeouts] = None, headers: Optional[dict] = None, max_show: int = 50
) -> ProbeResult:
    """Fetch the fingerprint routes concurrently, identify the server, then ask it the details.

    Raises ``UnreachableError`` (exit 3) when nothing answers at all.
    """
    root = parse_server_url(url, strip_v1=True)
    timeouts = timeouts or Timeouts(connect=3.0, read=10.0, stall=10.0, total=15.0)
    async with httpx.AsyncClient(follow_redirects=False) as client:

        async def get(path: str, method: str = "GET", body: Any = None) -> HttpResult:
            return await fetch_async(
                root, path, method=method, json=body, timeouts=timeouts, client=client, headers=headers
            )

        first = await asyncio.gather(*(get(p) for p in FINGERPRINT_PATHS))
        results = dict(zip(FINGERPRINT_PATHS, first))
        reason = unreachable(results)
        if reason is not None:
            raise UnreachableError(f"{mask_url(root)} is unreachable: {mask_text(reason)}")

        kind, _ = identify(results)
        metrics_path = "/prometheus/metrics" if kind == "trtllm" else "/metrics"
        second_paths = [metrics_path]
        if kind == "ollama":
            second_paths += ["/api/tags", "/api/ps"]
        second = await asyncio.gather(*(get(p) for p in second_paths))
        results.update(zip(second_paths, second))

        # The metric prefix can settle a kind the first round left generic (e.g. a vLLM whose
        # /v1/models is behind an API key), so identify again with everything known.
        kind, evidence = identify(results)
        shows: dict[str, HttpResult] = {}
        if kind == "ollama":
            names = [m.id for m in ollama_models(results.get("/api/tags"), results.get("/api/ps"), {})]
            limit = asyncio.Semaphore(4)  # a large model library must not flood a small server

            async def show(name: str) -> HttpResult:
                async with limit:
                    return await get("/api/show", "POST", {"model": name})

            answers = await asyncio.gather(*(show(n) for n in names[:max_show]))
            shows = dict(zip(names[:max_show], answers))

    return build_result(root, results, shows=shows, metrics_path=metrics_path, kind=kind, evidence=evidence)


def build_result(
    root: str,
    results: dict[str, HttpResult],
    *,
    shows: Optional[dict] = None,
    metrics_path: str = "/metrics",
    kind: Optional[str] = None,
    evidence: Optional[list[str]] = None,
) -> ProbeResult:
    """Assemble a ProbeResult from fetched answers (pure; used by probe_async and the tests)."""
    if kind is None and evidence is None:
        kind, evidence = identify(results)
    version, version_source = detect_version(kind, results)
    if kind == "ollama":
        models = ollama_models(results.get("/api/tags"), results.get("/api/ps"), shows or {})
    else:
        models = openai_models(kind, results)
    server = next((h for h in (_header(r, "server") for r in results.values()) if h), None)
    notes = []
    v1 = results.get("/v1/models")
    if v1 is not None and v1.status in (401, 403):
        notes.append(f"/v1/models needs an API key (HTTP {v1.status}); pass --api-key-env")
    if kind == "ollama" and models and all(m.context_length is None for m in models):
        notes.append("no loaded model reports context_length (/api/ps; Ollama >= 0.10 and only for loaded models)")
    if len(models) > MAX_MODELS:
        notes.append(f"{len(models) - MAX_MODELS} more models not listed (the first {MAX_MODELS} are)")
        models = models[:MAX_MODELS]
    for m in models:
        m.id, m.owned_by, m.parent = _short(m.id), _short(m.owned_by), _short(m.parent)
    health = health_of(kind, results)
    health["detail"] = _short(health.get("detail"))
    return ProbeResult(
        url=mask_url(root),
        kind=kind,
        version=_short(version),
        version_source=version_source,
        models=models,
        health=health,
        metrics=metrics_of(results.get(metrics_path), metrics_path),
        server_header=_short(server),
        evidence=[_short(e, 2 * MAX_VALUE_CHARS) for e in evidence or []],
        notes=notes,
        reason=None if kind else why_unknown(results),
    )


def _short(value: Any, limit: int = MAX_VALUE_CHARS) -> Any:
    """A server's string as a probe keeps it: at most ``limit`` characters, cut visibly."""
    return value if value is None else clip(str(value), limit)[0]


def probe(url: str, **kw) -> ProbeResult:
    return run_sync(probe_async(url, **kw))
