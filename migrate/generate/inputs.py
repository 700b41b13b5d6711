"""What `migrate generate` works from: the target, the models (inventory and --alias), the plan's facts.

Every check of the user's input happens here, before anything is decided or written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .. import engines
from ..datafiles import load_inventory, load_user_file
from ..errors import UsageError
from ..gateway import url_problem
from ..hardware import parse_gpus
from ..redact import has_unsafe_chars

TARGETS = engines.launch_targets()
DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"


@dataclass
class Inputs:
    target: str
    models: dict  # Ollama tag -> inventory entry (values from /api/show)
    aliases: dict  # Ollama tag -> product alias
    facts: dict  # plan facts (values only), --gpus applied
    profile: dict  # the inventory's observed profile
    plan: Optional[dict]
    sources: list  # what the files were generated from, for MIGRATION.md
    ollama_url: str = DEFAULT_OLLAMA_URL
    engine_url: Optional[str] = None
    new_weight: int = 0

    @property
    def context_need(self) -> Optional[int]:
        return self.facts.get("context") or self.profile.get("context_need")

    @property
    def concurrency(self) -> int:
        return int(self.facts.get("concurrency") or self.profile.get("peak_concurrency") or 1)

    @property
    def gpu_count(self) -> int:
        return int(self.facts.get("gpu_count") or 1)

    @property
    def tools_seen(self) -> bool:
        return bool(self.facts.get("tools") or self.profile.get("tools"))


def _check_name(value: str, what: str) -> None:
    """Aliases and tags land in YAML, shell scripts, comments and terminals: one printable line only."""
    if has_unsafe_chars(value):
        raise UsageError(f"{what} {value!r} contains control or line-separator characters")


def parse_aliases(items) -> dict:
    out = {}
    for item in items or ():
        name, sep, tag = item.partition("=")
        if not sep or not name or not tag:
            raise UsageError(f"--alias {item!r}: expected NAME=ollama-tag")
        _check_name(name, "--alias: alias")
        _check_name(tag, "--alias: tag")
        out[tag] = name
    return out


def _check_numbers(data: dict, keys: tuple, where: str) -> None:
    """The sizes decisions compute with: a finite non-negative number or absent, never a string or a list."""
    for key in keys:
        value = data.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf
        ):
            raise UsageError(f"{where}.{key}: expected a finite non-negative number, got {value!r}")


def _is_plan(plan) -> bool:
    """The parts of a plan document generate reads, with the types it reads them as."""
    return (
        isinstance(plan, dict)
        and all(isinstance(plan.get(k), dict) and isinstance(plan[k].get("engine"), str) for k in ("first", "second"))
        and isinstance(plan.get("inputs"), dict)
        and all(isinstance(v, dict) for v in plan["inputs"].values())
    )


def load_inputs(
    target: str,
    *,
    inventory_path: Optional[str] = None,
    plan_path: Optional[str] = None,
    aliases: tuple = (),
    ollama_url: str = DEFAULT_OLLAMA_URL,
    engine_url: Optional[str] = None,
    new_weight: int = 0,
    gpus: Optional[str] = None,
) -> Inputs:
    if target not in TARGETS:
        raise UsageError(f"unknown target {target!r} (one of: {', '.join(TARGETS)})")
    if not 0 <= new_weight <= 100:
        raise UsageError("--new-weight must be between 0 and 100")
    # These URLs are written into gateway.yaml, which `validate` holds to the same rules (no credentials).
    for flag, url in (("--ollama-url", ollama_url), ("--engine-url", engine_url)):
        problem = url and url_problem(url)
        if problem:
            raise UsageError(f"{flag}: {problem}")
    alias_map = parse_aliases(aliases)
    inventory = load_inventory(inventory_path) if inventory_path else {"models": []}
    plan = load_user_file(plan_path, "plan") if plan_path else None
    if plan is not None and not _is_plan(plan):
        raise UsageError(f"plan {plan_path}: not a `migrate plan --format json` document")
    facts = {k: v.get("value") for k, v in (plan or {}).get("inputs", {}).items()}
    if gpus:
        g = parse_gpus(gpus)
        facts.update(gpu_count=g["count"], gpu_memory_gib=g["memory_gib"], vendor=g["vendor"] or facts.get("vendor"))
    models = {}
    for m in inventory.get("models", []):
        if not isinstance(m, dict) or not m.get("name"):
            continue
        if not isinstance(m["name"], str):
            raise UsageError(f"inventory {inventory_path}: model name {m['name']!r} is not a string")
        _check_name(m["name"], f"inventory {inventory_path}: model name")
        models[m["name"]] = m
    for tag in alias_map:
        models.setdefault(tag, {"name": tag})
    if not models:
        raise UsageError("nothing to generate: give --inventory and/or --alias NAME=ollama-tag")
    sources = [
        p
        for p in (
            inventory_path and f"inventory {Path(inventory_path).name}",
            plan_path and f"plan {Path(plan_path).name}",
        )
        if p
    ] or ["--alias flags"]
    profile = inventory.get("profile") or {}
    if not isinstance(profile, dict):
        raise UsageError(f"inventory {inventory_path}: profile must be an object")
    _check_numbers(facts, ("context", "concurrency", "gpu_count", "gpu_memory_gib"), f"plan {plan_path}: inputs")
    _check_numbers(
        profile, ("context_need", "peak_concurrency", "p95_output_tokens"), f"inventory {inventory_path}: profile"
    )
    return Inputs(
        target=target,
        models=models,
        aliases=alias_map,
        facts=facts,
        profile=profile,
        plan=plan,
        sources=sources,
        ollama_url=ollama_url,
        engine_url=engine_url,
        new_weight=new_weight,
    )
