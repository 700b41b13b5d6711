"""Argo Rollouts canary steps: ``setWeight`` to the recommendation, then an indefinite ``pause``
(a human or the next compat run resumes it)."""

from __future__ import annotations

import yaml

from .common import headline


def render(decision, ctx) -> str:
    d = decision
    head = [f"# migrate canary {headline(d)}", "# spec.strategy.canary.steps for an argoproj.io/v1alpha1 Rollout"]
    if d.decision == "rollback":
        head.append("# rollback: weight 0 for the candidate (or `kubectl argo rollouts abort <rollout>`)")
    steps = [{"setWeight": d.recommended_weight}, {"pause": {}}]
    doc = {"spec": {"strategy": {"canary": {"steps": steps}}}}
    return "\n".join(head) + "\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
