"""The CI gate: does the PR's gateway config give the candidate more weight than the evidence supports?"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from .. import gateway
from ..errors import FailedError, MigrateError
from .decide import Decision, decide


@dataclass
class GateResult:
    ok: bool
    candidate_weight: int  # the backend's weight in the PR's gateway file
    current_weight: int  # from --base, --current-weight, or 0
    current_source: str
    decision: Decision
    markdown: str

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "candidate_weight": self.candidate_weight,
            "current_weight": self.current_weight,
            "current_source": self.current_source,
            "decision": self.decision.to_dict(),
            "markdown": self.markdown,
        }


def gate(
    config: str | os.PathLike,
    report: dict,
    policy: dict,
    alias: str,
    backend: str,
    *,
    base: Optional[str | os.PathLike] = None,
    current_weight: Optional[int] = None,
) -> GateResult:
    text = gateway.read_text(config)  # once: `--check <(git show ...)` is a pipe
    problems = gateway.validate_text(text, str(config))
    if problems:
        raise FailedError(
            f"{config} does not validate: {problems[0].format(config)}"
            + (f" (+{len(problems) - 1} more; run migrate validate)" if len(problems) > 1 else "")
        )
    candidate = gateway.weight_in_text(text, config, alias, backend)
    if base is not None:
        try:
            current, source = gateway.read_weight(base, alias, backend), f"{backend}'s weight in {base}"
        except MigrateError as exc:
            # A base branch without this alias/backend is a first rollout: it carried no traffic.
            if "not in" not in str(exc):
                raise
            current, source = 0, f"{backend} is not in {base} (new backend)"
    elif current_weight is not None:
        current, source = current_weight, "--current-weight"
    else:
        current, source = 0, "default (no --base or --current-weight)"
    d = decide(report, policy, current)
    ok = candidate <= d.recommended_weight  # less traffic than supported is always allowed
    return GateResult(
        ok, candidate, current, source, d, _markdown(ok, candidate, current, source, d, alias, backend, config)
    )


def _markdown(ok, candidate, current, source, d: Decision, alias, backend, config) -> str:
    icon = "PASS" if ok else "FAIL"
    lines = [f"## migrate canary check: {icon}", ""]
    if ok:
        lines.append(
            f"`{backend}` in alias `{alias}` asks for **{candidate}%**; the evidence supports "
            f"up to **{d.recommended_weight}%** from {current}%."
        )
    else:
        lines.append(
            f"`{backend}` in alias `{alias}` asks for **{candidate}%** but the evidence supports "
            f"only **{d.recommended_weight}%** from {current}% (decision: **{d.decision}**)."
        )
    lines += [
        "",
        "| | weight |",
        "|---|---|",
        f"| current ({source}) | {current}% |",
        f"| requested in `{os.path.basename(str(config))}` | {candidate}% |",
        f"| recommended ({d.decision}) | {d.recommended_weight}% |",
        "",
    ]
    if d.score is not None:
        lines += [f"Score **{d.score:g}** ({d.classification}).", ""]
    lines.append("### Why")
    lines += [f"- {_md_escape(r)}" for r in d.reasons]
    if d.needed_samples:
        lines += ["", "### Samples that would decide (more per side)"]
        lines += [f"- `{name}`: {n}" for name, n in sorted(d.needed_samples.items())]
    if not ok:
        lines += [
            "",
            "### To fix",
            f"Set `{backend}` to at most {d.recommended_weight}% (for example "
            f"`migrate canary --report REPORT --apply {os.path.basename(str(config))} --alias {alias} "
            f"--backend {backend} --current-weight {current}`), or bring new compat evidence.",
        ]
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")
