"""What every check shares: the per-case run record, field rules, and turning field judgements
into one verdict of the report contract."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

from migrate.exchange import Exchange

from .. import noise
from ..normalize import text_similarity, values_differ

CRITICAL_CATEGORIES = {"tools", "structured", "long_context", "errors"}
VERDICTS = ("pass", "regression", "improvement", "unsupported_old", "unsupported_new",
            "inconclusive", "error")
# Transport faults: nothing was observed, so they are infrastructure errors, not behaviour.
TRANSPORT_ERRORS = {"connection_refused", "connect_timeout", "read_timeout", "stall", "timeout",
                    "stream_cut", "transport"}


@dataclass
class SideInfo:
    kind: str
    protocol: str
    url: str
    model: str
    context: Optional[int] = None          # effective per-request context, when learned
    context_source: str = "unknown"


@dataclass
class Context:
    """What checks may know about the run besides the exchanges."""

    old: SideInfo
    new: SideInfo
    thresholds: noise.Thresholds = field(default_factory=noise.Thresholds)
    extra: dict = field(default_factory=dict)


@dataclass
class CaseRun:
    """Every exchange of one case: ``old``/``new`` are the main samples; ``aux`` holds named
    extra samples (the non-stream twins of a stream case, the long-context prompts, ...)."""

    case: Any
    old: list[Exchange] = field(default_factory=list)
    new: list[Exchange] = field(default_factory=list)
    aux: dict[str, dict[str, list[Exchange]]] = field(default_factory=dict)


@dataclass
class Field:
    """How to compare one observation field.

    kind: ``exact`` (structural equality), ``text`` (similarity below ``threshold`` differs) or
    ``info`` (shown, never judged). ``better(old, new)`` says whether a confirmed difference is an
    improvement (True), a regression (False) or unknown (None, treated as a regression: a changed
    behaviour the app may depend on).
    """

    name: str
    kind: str = "exact"
    threshold: float = 0.8
    better: Optional[Callable[[Any, Any], Optional[bool]]] = None
    ignore_order: bool = False      # lists whose order carries no meaning (parallel tool calls)

    def differ(self, a: Any, b: Any) -> bool:
        if self.kind == "text":
            return text_similarity(a, b) < self.threshold
        return values_differ(a, b, ignore_order=self.ignore_order)


def true_is_better(old: Any, new: Any) -> Optional[bool]:
    if isinstance(old, bool) and isinstance(new, bool):
        return new and not old
    return None


def fewer_is_better(old: Any, new: Any) -> Optional[bool]:
    try:
        return len(new) < len(old)
    except TypeError:
        return None


def is_transport_failure(ex: Exchange) -> bool:
    return ex.error is not None and ex.error.type in TRANSPORT_ERRORS


def transcripts(exchanges: list[Exchange], limit: int = 2) -> list[dict]:
    out = []
    for ex in exchanges[:limit]:
        t = asdict(ex.transcript)
        t["lines"] = t["lines"][:200]      # a long stream is evidence enough in its first lines
        out.append(t)
    return out


def result(case, check: str, verdict: str, detail: str, *, old_obs: Any = None, new_obs: Any = None,
           old_ex: Optional[list[Exchange]] = None, new_ex: Optional[list[Exchange]] = None,
           samples: Optional[tuple[int, int]] = None, needed: Optional[int] = None,
           category: Optional[str] = None) -> dict:
    """One entry of ``report["checks"]`` (contract keys only)."""
    old_ex = old_ex or []
    new_ex = new_ex or []
    category = category or case.category
    entry = {
        "case": case.id, "category": category, "check": check, "verdict": verdict,
        "critical": category in CRITICAL_CATEGORIES, "detail": detail,
        "samples": {"old": samples[0] if samples else len(old_ex),
                    "new": samples[1] if samples else len(new_ex)},
        "needed_samples": needed,
        "old": old_obs if old_obs is not None else {}, "new": new_obs if new_obs is not None else {},
    }
    if verdict != "pass":
        entry["transcripts"] = {"old": transcripts(old_ex), "new": transcripts(new_ex)}
    return entry


def infra_result(case, check: str, old_ex: list[Exchange], new_ex: list[Exchange]) -> Optional[dict]:
    """An ``error`` verdict when a side has no usable sample because of transport faults."""
    for side, exs in (("old", old_ex), ("new", new_ex)):
        if not exs:
            return result(case, check, "error", f"no {side} sample was run", old_ex=old_ex,
                          new_ex=new_ex)
        if all(is_transport_failure(ex) for ex in exs):
            err = exs[0].error
            return result(case, check, "error",
                          f"every {side} request failed before an answer ({err.type}: {err.message})",
                          old_ex=old_ex, new_ex=new_ex)
    return None


def usable(exs: list[Exchange]) -> list[Exchange]:
    return [ex for ex in exs if not is_transport_failure(ex)]


def _fmt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def judge(case, check: str, fields: list[Field], old_obs: list[dict], new_obs: list[dict], *,
          old_ex: list[Exchange], new_ex: list[Exchange], ctx: Context,
          pass_detail: str = "", category: Optional[str] = None) -> dict:
    """Diffy's rule over each judged field, then one verdict for the check.

    A confirmed difference in any field is a regression unless its ``better`` rule says the new
    value is an improvement; insufficient evidence (and no confirmed difference) is inconclusive.
    """
    judged = noise.Judgement()
    for f in fields:
        if f.kind == "info":
            continue
        judged.fields.append(noise.judge_field(
            f.name, [o.get(f.name) for o in old_obs], [o.get(f.name) for o in new_obs], f.differ,
            ctx.thresholds))
    by_name = {f.name: f for f in fields}
    regressions, improvements = [], []
    for fj in judged.differing:
        rule = by_name[fj.field]
        old_v = noise.mode([o.get(fj.field) for o in old_obs])
        new_v = noise.mode([o.get(fj.field) for o in new_obs])
        direction = rule.better(old_v, new_v) if rule.better else None
        text = f"{fj.field} {_fmt(old_v)} -> {_fmt(new_v)}"
        (improvements if direction else regressions).append(text)
    old_view = dict(noise.mode(old_obs) or {})
    new_view = dict(noise.mode(new_obs) or {})
    noisy = [f.field for f in judged.fields if f.decision == noise.NOISY]
    if noisy:
        old_view["_noisy_fields"] = noisy
    if regressions:
        verdict, detail = "regression", "Changed on the new backend beyond the old backend's own " \
                                        "variation: " + "; ".join(regressions) + "."
        if improvements:
            detail += " Improved: " + "; ".join(improvements) + "."
    elif improvements:
        verdict, detail = "improvement", "Better on the new backend: " + "; ".join(improvements) + "."
    elif judged.insufficient:
        names = ", ".join(f.field for f in judged.insufficient)
        verdict = "inconclusive"
        detail = (f"Differences in {names} cannot be told apart from the old backend's own "
                  f"variation with these samples; {judged.needed} more repeat(s) per side would decide.")
    else:
        verdict = "pass"
        detail = pass_detail or "Same behaviour on both backends."
        if noisy:
            detail += f" (Differences in {', '.join(noisy)} are within the old backend's own variation.)"
    return result(case, check, verdict, detail, old_obs=old_view, new_obs=new_view,
                  old_ex=old_ex, new_ex=new_ex, needed=judged.needed if verdict == "inconclusive" else None,
                  category=category)
