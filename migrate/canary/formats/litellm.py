"""LiteLLM proxy ``model_list`` weights for the alias (``simple-shuffle`` routing picks by weight)."""

from __future__ import annotations

import yaml

from .common import headline


def render(decision, ctx) -> str:
    d = decision
    alias = ctx.alias or "ALIAS"
    head = [
        f"# migrate canary {headline(d)}",
        f"# LiteLLM model_list weights for model group {alias!r}: set litellm_params.weight on each",
        "# deployment (keep your model/api_key entries; api_key stays os.environ/...).",
    ]
    if ctx.split:
        entries = []
        for name, weight in ctx.split.items():
            params = {"weight": weight}
            if ctx.base_urls.get(name):
                params = {"api_base": ctx.base_urls[name], "weight": weight}
            entries.append({"model_name": alias, "litellm_params": params, "model_info": {"id": name}})
    else:
        candidate = ctx.backend or "candidate"
        head.append("# weights of the other deployments must add up to the rest of 100")
        entries = [
            {"model_name": alias, "litellm_params": {"weight": d.recommended_weight}, "model_info": {"id": candidate}}
        ]
    return "\n".join(head) + "\n" + yaml.safe_dump({"model_list": entries}, sort_keys=False)
