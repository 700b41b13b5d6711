"""Resolve an Ollama tag against the versioned model catalog (``migrate/data/catalog.yaml``).

The catalog maps a tag to checkpoints per engine, parser names and the trained context. An unknown tag
resolves to an entry with ``known=False`` and a TODO that repeats what /api/show revealed, so a
generated file never carries an invented repository id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from ..datafiles import package_data

_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?[bm]|\d+x\d+b|v\d+(?:\.\d+)?)(?:$|-)", re.IGNORECASE)
_QUANT_RE = re.compile(r"(q\d_k_[sml]|q\d_k|q\d_\d|q\d|fp16|bf16|mxfp4)$", re.IGNORECASE)


def load() -> dict:
    return package_data("catalog.yaml")


def version() -> str:
    return str(load()["version"])


@dataclass
class ModelRef:
    """Where an Ollama tag lands: a known catalog size, or an honest TODO."""

    tag: str
    name: str
    size: Optional[str]
    known: bool
    family: Optional[str] = None
    hf: Optional[str] = None
    params: Optional[int] = None
    trained_context: Optional[int] = None
    arch: dict = field(default_factory=dict)
    quantized: dict = field(default_factory=dict)
    embedding: bool = False
    moe: bool = False
    native_quantization: Optional[str] = None
    trust_remote_code: bool = False
    note: Optional[str] = None
    template_note: Optional[str] = None
    todo: Optional[str] = None

    def parsers(self, engine: str) -> dict:
        fam = load()["families"].get(self.family or "", {})
        return dict(fam.get("parsers", {}).get(engine) or {"tool": None, "reasoning": None})


def split_tag(tag: str) -> tuple[str, str]:
    """``registry.ollama.ai/library/llama3.1:8b`` -> (``llama3.1``, ``8b``); no tag means ``latest``."""
    ref = tag.strip().split("@", 1)[0]
    name, _, variant = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
    for prefix in ("registry.ollama.ai/library/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name.lower(), (variant or "latest")


def quant_from_tag(variant: str) -> Optional[str]:
    m = _QUANT_RE.search(variant)
    return m.group(1).upper() if m else None


def resolve(tag: str, show: Optional[dict] = None) -> ModelRef:
    """Resolve an Ollama tag. ``show`` is the inventory's model entry (values from /api/show)."""
    show = show or {}
    name, variant = split_tag(tag)
    entry = load()["models"].get(name)
    size = None
    if entry:
        if variant == "latest":
            size = entry["default_size"]
        else:
            m = _SIZE_RE.match(variant)
            size = m.group(1).lower() if m else None
            if size is None and variant.split("-")[0] in ("instruct", "it", "latest"):
                size = entry["default_size"]
        if size not in entry["sizes"]:
            size = None
    if not entry or size is None:
        revealed = []
        for key, label in (
            ("architecture", "architecture"),
            ("family", "family"),
            ("parameter_size", "parameter size"),
            ("parameter_count", "parameter count"),
            ("context_length", "trained context"),
            ("quantization", "quantization"),
        ):
            if show.get(key) not in (None, ""):
                revealed.append(f"{label} {show[key]}")
        what = ", ".join(revealed) if revealed else "nothing (model not in the inventory)"
        todo = (
            f"TODO: {tag!r} is not in the model catalog (v{version()}); /api/show revealed: {what}. "
            "Find the matching Hugging Face instruct checkpoint and add it to migrate/data/catalog.yaml."
        )
        return ModelRef(
            tag=tag,
            name=name,
            size=None,
            known=False,
            params=_as_int(show.get("parameter_count")),
            trained_context=_as_int(show.get("context_length")),
            arch=_arch_from_show(show),
            todo=todo,
        )
    s = entry["sizes"][size]
    fam = load()["families"].get(entry["family"], {})
    arch = dict(s.get("arch") or {})
    arch.update({k: v for k, v in _arch_from_show(show).items() if v})
    return ModelRef(
        tag=tag,
        name=name,
        size=size,
        known=True,
        family=entry["family"],
        hf=s["hf"],
        params=_as_int(show.get("parameter_count")) or s.get("params"),
        trained_context=_as_int(show.get("context_length")) or s.get("trained_context"),
        arch=arch,
        quantized=dict(s.get("quantized") or {}),
        embedding=bool(entry.get("embedding")),
        moe=bool(entry.get("moe")),
        native_quantization=entry.get("native_quantization"),
        trust_remote_code=bool(s.get("trust_remote_code")),
        note=s.get("note"),
        template_note=fam.get("template_note"),
    )


def _as_int(v: Any) -> Optional[int]:
    try:
        return int(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _arch_from_show(show: dict) -> dict:
    """Layer/head counts from the inventory entry (/api/show model_info)."""
    out = {}
    for src, dst in (
        ("block_count", "layers"),
        ("head_count", "heads"),
        ("head_count_kv", "kv_heads"),
        ("head_dim", "head_dim"),
        ("key_length", "head_dim"),
    ):
        v = _as_int(show.get(src))
        if v:
            out[dst] = v
    if "head_dim" not in out and _as_int(show.get("embedding_length")) and out.get("heads"):
        # only a fallback: some families (gemma) use head_dim != embedding/heads, so the catalog wins.
        out["head_dim_fallback"] = _as_int(show["embedding_length"]) // out["heads"]
    return out
