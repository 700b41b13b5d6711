"""Pure decision: compat report + policy + current weight -> Decision. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .scoring import Metric, Score, classify_checks, classify_latency, score

DECISIONS = ("promote", "hold", "rollback", "inconclusive")


@dataclass
class Decision:
    decision: str  # promote | hold | rollback | inconclusive
    current_weight: int
    recommended_weight: int
    reasons: list[str]
    score: Optional[float] = None
    classification: str = "nodata"  # Kayenta summary: pass | marginal | fail | nodata
    steps: list[int] = field(default_factory=list)
    final: bool = False  # the recommendation is the last step of the schedule
    needed_samples: dict[str, int] = field(default_factory=dict)  # metric -> more samples per side
    groups: dict[str, dict] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)
    old: Optional[dict] = None
    new: Optional[dict] = None

    def to_dict(self) -> dict:
        return {
            "decision": self.decision,
            "current_weight": self.current_weight,
            "recommended_weight": self.recommended_weight,
            "reasons": self.reasons,
            "score": self.score,
            "classification": self.classification,
            "steps": self.steps,
            "final": self.final,
            "needed_samples": self.needed_samples,
            "groups": self.groups,
            "metrics": [m.to_dict() for m in self.metrics],
            "old": self.old,
            "new": self.new,
        }


def next_step(steps: list[int], current: int, jumps: int = 1) -> int:
    """The step ``jumps`` places above ``current`` on the schedule (the last step at most)."""
    above = [s for s in steps if s > current]
    if not above:
        return max(current, steps[-1]) if current <= 100 else current
    return above[min(jumps, len(above)) - 1]


def decide(report: dict, policy: dict, current_weight: int) -> Decision:
    if isinstance(current_weight, bool) or not isinstance(current_weight, int) or not 0 <= current_weight <= 100:
        raise ValueError(f"current weight must be an integer 0..100, got {current_weight!r}")
    steps = list(policy["steps"])
    metrics = classify_checks(report, policy) + classify_latency(report, policy)
    sc: Score = score(metrics, policy)
    d = Decision(
        decision="inconclusive",
        current_weight=current_weight,
        recommended_weight=current_weight,
        reasons=[],
        score=sc.score,
        classification=sc.classification,
        steps=steps,
        groups=sc.groups,
        metrics=metrics,
        old=report.get("old"),
        new=report.get("new"),
    )
    needed = {m.name: m.needed_more for m in metrics if m.classification == "nodata" and m.needed_more}

    def result(decision: str, weight: int, reasons: list[str]) -> Decision:
        d.decision, d.recommended_weight, d.reasons = decision, weight, reasons
        d.needed_samples = needed if decision == "inconclusive" else {}
        return d

    # 1. Critical regressions: Kayenta's hard override, whatever the score.
    critical_fail = [m for m in metrics if m.critical and m.classification == "fail"]
    critical_latency = [m for m in metrics if m.critical_breach]
    if critical_fail or critical_latency:
        reasons = [f"critical regression: {m.name} ({m.verdict}): {m.detail}".rstrip(": ") for m in critical_fail]
        reasons += [
            f"latency beyond the critical ratio x{policy['latency']['critical_ratio']}: {m.detail}"
            for m in critical_latency
        ]
        return result("rollback", 0, reasons)

    scorable = [m for m in metrics if m.classification in ("pass", "fail", "nodata_fail")]
    if not scorable:
        why = ["no evidence: the report has no check or latency figure with enough samples to judge"]
        return result("inconclusive", current_weight, why + _needed_reasons(metrics))

    # 2. A critical check without a verdict blocks promotion: its pass was never observed.
    critical_unknown = [m for m in metrics if m.critical and m.classification in ("nodata", "nodata_fail")]
    if critical_unknown:
        reasons = [
            f"critical check undecided: {m.name} ({m.verdict})"
            + (f": {m.detail}" if m.detail else "")
            + (f"; {m.needed_more} more sample(s) per side would decide" if m.needed_more else "")
            for m in critical_unknown
        ]
        return result(
            "inconclusive", current_weight, reasons + [f"holding at {current_weight}% until the evidence is complete"]
        )

    limit = policy["scoring"]["max_nodata_fraction"]
    if sc.nodata_fraction >= limit:
        reasons = [f"{sc.nodata_fraction:.0%} of checks have no usable data (limit {limit:.0%})"]
        return result(
            "inconclusive", current_weight, reasons + _needed_reasons(metrics) + [f"holding at {current_weight}%"]
        )

    th = policy["scoring"]["thresholds"]
    score_text = f"score {sc.score:g} (pass >= {th['pass']:g}, marginal >= {th['marginal']:g})"
    failures = [
        f"{m.name}: {m.detail or m.verdict}"
        for m in metrics
        if m.classification in ("fail", "nodata_fail") and m.group != "latency"
    ]
    breaches = [m.detail for m in metrics if m.breach]

    if sc.classification == "fail":
        return result("rollback", 0, [f"{score_text}: below marginal"] + failures + breaches)
    if breaches and policy["latency"]["breach_action"] == "rollback":
        return result("rollback", 0, ["latency breach (policy breach_action: rollback)"] + breaches)
    if sc.classification == "marginal":
        return result(
            "hold", current_weight, [f"{score_text}: marginal, holding at {current_weight}%"] + failures + breaches
        )
    if breaches and policy["latency"]["breach_action"] == "hold":
        return result(
            "hold",
            current_weight,
            [f"latency breach holds the weight at {current_weight}% ({score_text})"] + breaches + failures,
        )

    passed = sum(m.classification == "pass" for m in metrics if m.group != "latency")
    lat_ok = sum(m.classification == "pass" for m in metrics if m.group == "latency")
    reasons = [
        f"{score_text}: pass",
        f"{passed} check(s) pass, no critical regression"
        + (f"; {lat_ok} latency figure(s) within limits" if lat_ok else "; no latency data judged"),
    ]
    reasons += [f"warning: {f}" for f in failures]
    nodata = [m for m in metrics if m.classification == "nodata"]
    if nodata:
        reasons.append(f"{len(nodata)} figure(s) without enough data were not scored")
    target = next_step(steps, current_weight, policy["max_steps_per_promotion"])
    if target <= current_weight:
        d.final = True
        return result(
            "promote", current_weight, reasons + [f"already at {current_weight}%: the last step of the schedule"]
        )
    d.final = target == steps[-1]
    return result("promote", target, reasons + [f"next step: {current_weight}% -> {target}%"])


def _needed_reasons(metrics: list[Metric]) -> list[str]:
    return [
        f"{m.name}: {m.needed_more} more sample(s) per side would decide"
        for m in metrics
        if m.classification == "nodata" and m.needed_more
    ]
