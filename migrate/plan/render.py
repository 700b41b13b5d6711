"""A plan as text, Markdown or JSON, and the plan file `migrate plan -o` writes (for `generate --plan`)."""

from __future__ import annotations

import json
from pathlib import Path

from .. import fsutil
from ..engines import display_name
from ..errors import UsageError


def render(plan_: dict, fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps(plan_, indent=2, ensure_ascii=False)
    md = fmt == "md"
    h = (lambda s: f"\n## {s}\n") if md else (lambda s: f"\n{s.upper()}")
    b = "- " if md else "  - "
    name = display_name
    out = [
        "# Engine plan" if md else "ENGINE PLAN",
        f"{'**Decisive constraint:**' if md else 'Decisive constraint:'} {plan_['constraint']}",
        f"{'**Rule fired:**' if md else 'Rule fired:'} `{plan_['rule']}` (decision-framework step {plan_['step']}) because "
        + (
            ", ".join(f"{k}={v['value']} [{v['source']}]" for k, v in plan_["fired_because"].items())
            or "no rule above matched (catch-all)"
        ),
    ]
    if md:  # Markdown merges adjacent lines into one paragraph
        out[1:3] = [line + "  " for line in out[1:3]]
    out.append(h("First engine"))
    out.append(
        f"{b}**{name(plan_['first']['engine'])}** (`{plan_['first']['engine']}`): {plan_['first']['why']}"
        if md
        else f"{b}{name(plan_['first']['engine'])} ({plan_['first']['engine']}): {plan_['first']['why']}"
    )
    if plan_.get("above"):
        out.append(f"{b}above it: {name(plan_['above']['engine'])}: {plan_['above']['why']}")
    out.append(h("Second engine"))
    out.append(f"{b}{name(plan_['second']['engine'])} ({plan_['second']['engine']}): {plan_['second']['why']}")
    out.append(h("Do not test yet"))
    out += [f"{b}{name(d['engine'])}: {d['why']}" for d in plan_["do_not_test_yet"]]
    out.append(h(f"Reject {name(plan_['first']['engine'])} if (falsification path)"))
    out += [f"{b}{r['metric']}: {r['reject_if']}" for r in plan_["rejection_metrics"]]
    out.append(h("Ollama production-rejection checklist"))
    if md:
        out += ["| requirement | applies | why | require of the engine |", "|---|---|---|---|"]
        out += [
            f"| {c['requirement']} | {'yes' if c['applies'] else 'no'} | {c['why']} | {c['require']} |"
            for c in plan_["ollama_rejection_checklist"]
        ]
    else:
        out += [
            f"{b}[{'x' if c['applies'] else ' '}] {c['requirement']}: {c['why']}"
            for c in plan_["ollama_rejection_checklist"]
        ]
    bp = plan_["benchmark_plan"]
    out.append(h("Phase benchmark"))
    for p in bp["phases"]:
        out.append(
            f"{b}{p['phase']}: {p['load']}, {p['input_tokens']} in / {p['output_tokens']} out -> {', '.join(p['report'])}"
        )
    sm = bp["server_metrics"]
    out.append(
        f"{b}server-side ({sm['engine']}): "
        + (", ".join(f"{k}={v}" for k, v in sm["names"].items()) or "no Prometheus metrics")
        + (f"; not exposed: {', '.join(sm['missing'])}" if sm["missing"] else "")
    )
    out.append(f"{b}also: {bp['also']}")
    out.append(h("Inputs"))
    out += [f"{b}{k} = {v['value']!r}  [{v['source']}]" for k, v in plan_["inputs"].items()]
    return "\n".join(out) + "\n"


def write_plan(plan_: dict, path: str) -> Path:
    """The plan JSON for `generate --plan`: public (it holds only the user's own settings); the
    directory is created like `generate --out` does."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return fsutil.write_atomic(target, render(plan_, "json") + "\n", mode=fsutil.PUBLIC)
    except OSError as exc:  # e.g. a path through a file, no permission, the path is a directory
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
