"""The engine registry: what each engine kind is, read once from ``migrate/data/engines.yaml``.

Every module that needs an engine's protocol, port, routes, display name or metric prefix asks here;
none keeps its own list of engine ids (``tests/test_engines.py`` enforces it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional

from .datafiles import package_data


@dataclass(frozen=True)
class LaunchTemplate:
    """How ``migrate generate`` starts an engine; the argv itself comes from ``builder``."""

    builder: str  # function in migrate/generate/launch.py
    image: Optional[str]  # None: no official serving image
    gpu_image: Optional[str] = None  # the image when it runs on a GPU, if different
    entrypoint_args: int | str = 0  # or "all": the entrypoint runs the whole argv
    docker_flags: tuple[str, ...] = ()
    served_id: str = "name"  # name | checkpoint | folder: what /v1/models reports
    gpu_resource: Optional[str] = "nvidia.com/gpu"
    workdir: Optional[str] = None
    server_sampling: Optional[str] = None
    litellm_provider: str = "openai"
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuantRule:
    """One row of an engine's quantization policy; text fields are templates (see engines.yaml)."""

    bits: tuple[str, ...]  # Ollama bit classes: "4", "8", "16", "native"
    checkpoint: Optional[str] = None  # catalogued checkpoint the rule needs (and serves)
    source: Optional[str] = "{hf}"
    fmt: str = "bf16"
    fmt_fallback: Optional[str] = None
    quant_flag: Optional[str] = None
    gguf_args: tuple[str, ...] = ()
    note: Optional[str] = None
    todo: Optional[str] = None


@dataclass(frozen=True)
class Engine:
    id: str
    name: str
    protocol: str  # ollama | openai: what migrate/protocol speaks to it
    roles: tuple[str, ...]  # server | launch | plan
    server: str  # the running server's id (exllamav3 -> tabbyapi)
    port: Optional[int] = None
    health: str = "/health"
    version_path: Optional[str] = None
    version_field: Optional[str] = None
    owned_by: Optional[str] = None
    metric_prefix: Optional[str] = None
    aliases: tuple[str, ...] = ()
    generic: bool = False
    metrics_path: Optional[str] = None  # None: no Prometheus endpoint
    live: Optional[str] = None  # liveness route (None: the health route)
    launch: Optional[LaunchTemplate] = None
    quantization: tuple[QuantRule, ...] = ()

    @property
    def is_server(self) -> bool:
        return "server" in self.roles

    @property
    def is_launch_target(self) -> bool:
        return "launch" in self.roles

    @property
    def metrics_key(self) -> str:
        """The key of this engine in the metrics catalogue (the server that exposes the metrics)."""
        return self.server


_KNOWN = {
    "name",
    "protocol",
    "roles",
    "server",
    "port",
    "health",
    "version",
    "owned_by",
    "metric_prefix",
    "aliases",
    "generic",
    "metrics_path",
    "live",
    "launch",
    "quantization",
}


def _engine(engine_id: str, spec: dict) -> Engine:
    unknown = sorted(set(spec) - _KNOWN)
    if unknown:  # a typo in the shipped registry must not be read as "field absent"
        raise ValueError(f"engines.yaml: {engine_id}: unknown field(s) {', '.join(unknown)}")
    version = spec.get("version") or {}
    return Engine(
        id=engine_id,
        name=spec["name"],
        protocol=spec["protocol"],
        roles=tuple(spec.get("roles") or ()),
        server=spec.get("server") or engine_id,
        port=spec.get("port"),
        health=spec.get("health", "/health"),
        version_path=version.get("path"),
        version_field=version.get("field"),
        owned_by=spec.get("owned_by"),
        metric_prefix=spec.get("metric_prefix"),
        aliases=tuple(spec.get("aliases") or ()),
        generic=bool(spec.get("generic")),
        metrics_path=spec.get("metrics_path"),
        live=spec.get("live"),
        launch=_launch(spec["launch"]) if spec.get("launch") else None,
        quantization=tuple(_quant_rule(r) for r in spec.get("quantization") or ()),
    )


def _launch(spec: dict) -> LaunchTemplate:
    spec = dict(spec)
    spec["docker_flags"] = tuple(spec.get("docker_flags") or ())
    spec["notes"] = tuple(spec.get("notes") or ())
    return LaunchTemplate(**spec)


def _quant_rule(spec: dict) -> QuantRule:
    spec = dict(spec)
    spec["bits"] = tuple(str(b) for b in spec["bits"])
    spec["gguf_args"] = tuple(spec.get("gguf_args") or ())
    if "source" not in spec and spec.get("checkpoint"):
        spec["source"] = "{checkpoint}"
    return QuantRule(**spec)


@functools.lru_cache(maxsize=1)
def registry() -> dict[str, Engine]:
    """Every engine by id, in the file's order (which is also the order choices are shown in)."""
    return {eid: _engine(eid, spec) for eid, spec in package_data("engines.yaml")["engines"].items()}


def get(engine_id: str) -> Engine:
    """The engine with this id or alias (case-insensitive); KeyError when unknown."""
    found = resolve(engine_id)
    if found is None:
        raise KeyError(engine_id)
    return found


def resolve(name: str) -> Optional[Engine]:
    """The engine a user's spelling names (``llama.cpp``, ``TensorRT-LLM``...), or None."""
    return _by_spelling().get(str(name).strip().lower())


@functools.lru_cache(maxsize=1)
def _by_spelling() -> dict[str, Engine]:
    out: dict[str, Engine] = {}
    for engine in registry().values():
        for spelling in (engine.id, *engine.aliases):
            out[spelling.lower()] = engine
    return out


def ids(role: Optional[str] = None) -> tuple[str, ...]:
    """Engine ids, optionally only those with ``role`` (server, launch, plan)."""
    return tuple(e.id for e in registry().values() if role is None or role in e.roles)


def server_kinds() -> tuple[str, ...]:
    """What ``--from/--to/--kind`` accept and what ``migrate probe`` can answer."""
    return ids("server")


def launch_targets() -> tuple[str, ...]:
    """What ``migrate generate --target`` accepts."""
    return ids("launch")


def metric_engines() -> tuple[str, ...]:
    """The engines the metrics catalogue has a column for (servers and plan-only engines, once each)."""
    out: list[str] = []
    for engine in registry().values():
        if not engine.generic and engine.metrics_key not in out:
            out.append(engine.metrics_key)
    return tuple(out)


def display_name(engine_id: str) -> str:
    engine = resolve(engine_id)
    return engine.name if engine else engine_id


def protocol_of(kind: str) -> str:
    """The wire protocol a kind speaks; unknown kinds are assumed OpenAI-compatible."""
    engine = resolve(kind)
    return engine.protocol if engine else "openai"


def by_owned_by() -> dict[str, str]:
    """``/v1/models`` owned_by value -> server kind."""
    return {e.owned_by: e.server for e in registry().values() if e.owned_by}


def by_metric_prefix() -> dict[str, str]:
    """Prometheus prefix -> server kind."""
    return {e.metric_prefix: e.server for e in registry().values() if e.metric_prefix}
