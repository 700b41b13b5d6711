"""Human-readable text: the decision, why, and what is still missing."""

from __future__ import annotations

from .common import headline


def render(decision, ctx) -> str:
    d = decision
    lines = [f"canary {headline(d)}"]
    if d.old and d.new:
        lines.append(f"  old: {d.old.get('kind')} {d.old.get('model')}  new: {d.new.get('kind')} {d.new.get('model')}")
    if ctx.alias and ctx.backend:
        lines.append(f"  alias {ctx.alias}, candidate backend {ctx.backend}")
    lines.append("reasons:")
    lines += [f"  - {r}" for r in d.reasons]
    if d.groups:
        lines.append("groups:")
        for name, g in sorted(d.groups.items()):
            lines.append(
                f"  {name:<14} score {g['score']:>6g}  weight {g['weight']:>5g}  "
                f"pass {g['pass']} fail {g['fail']} nodata {g['nodata']} nodata_fail {g['nodata_fail']}"
            )
    if d.needed_samples:
        lines.append("more samples that would decide (per side):")
        lines += [f"  {name}: {n}" for name, n in sorted(d.needed_samples.items())]
    if ctx.split:
        lines.append("weights: " + ", ".join(f"{k}={v}" for k, v in ctx.split.items()))
    if ctx.applied:
        a = ctx.applied
        if a.get("changed"):
            lines.append(f"applied to {a['path']} (previous file kept as {a['backup']})")
        else:
            lines.append(f"{a['path']} already carries these weights; not rewritten")
    return "\n".join(lines)
