"""Flagger ``Canary`` analysis fragment: the supported steps as ``stepWeights``.

Flagger walks ``stepWeights`` and promotes after the last one passes its own analysis, so only the
steps the evidence supports are listed; extend the list after the next compat run.
"""

from __future__ import annotations

import yaml

from .common import headline


def render(decision, ctx) -> str:
    d = decision
    head = [
        f"# migrate canary {headline(d)}",
        "# Merge into your Flagger Canary (flagger.app/v1beta1). Flagger advances through stepWeights",
        "# and promotes after the last one: list only what the evidence supports.",
    ]
    if d.decision == "promote":
        weights = [s for s in d.steps if d.current_weight < s <= d.recommended_weight] or [d.recommended_weight]
    elif d.decision == "rollback":
        head.append("# rollback: do not advance; Flagger routes all traffic back to the primary when the")
        head.append("# analysis fails (threshold reached). The evidence supports weight 0 for the candidate.")
        weights = []
    else:
        head.append(f"# {d.decision}: stay at {d.current_weight}% until new evidence supports more.")
        weights = [d.current_weight] if d.current_weight > 0 else []
    analysis = {"stepWeights": weights}
    if weights:
        analysis["maxWeight"] = max(weights)
    doc = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "spec": {"analysis": analysis}}
    if ctx.alias:
        doc["metadata"] = {"name": ctx.alias}
    return "\n".join(head) + "\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)
