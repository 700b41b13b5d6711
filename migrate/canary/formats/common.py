"""What every canary output format shares: the context it may show, the headline, and dispatch by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

FORMATS = ("text", "json", "flagger", "argo", "litellm")


@dataclass
class Context:
    """What the formats may show besides the decision (all optional)."""

    alias: Optional[str] = None
    backend: Optional[str] = None
    split: Optional[dict[str, int]] = None  # the alias's weights after the recommendation
    base_urls: dict[str, str] = field(default_factory=dict)
    applied: Optional[dict] = None  # gateway.set_weights result with --apply


def render(fmt: str, decision, ctx: Optional[Context] = None) -> str:
    from . import argo, flagger, json, litellm, text

    modules = {"text": text, "json": json, "flagger": flagger, "argo": argo, "litellm": litellm}
    if fmt not in modules:
        raise ValueError(f"unknown format {fmt!r}")
    return modules[fmt].render(decision, ctx or Context())


def headline(decision) -> str:
    d = decision
    return f"{d.decision}: {d.current_weight}% -> {d.recommended_weight}%" + (
        f" (score {d.score:g}, {d.classification})" if d.score is not None else ""
    )
