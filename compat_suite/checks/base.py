"""What every check shares: the per-case run record, field rules, and turning field judgements
into one verdict of the report contract."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

from migrate.exchange import Exchange
from migrate.report.contract import is_critical

from .. import noise
from ..normalize import text_similarity, values_differ

# Transport faults: nothing was observed, so they are infrastructure errors, not behaviour.
TRANSPORT_ERRORS = {
    "connection_refused",
    "connect_timeout",
    "read_timeout",
    "stall",
    "timeout",
    "stream_cut",
    "transport",
}


@dataclass
class SideInfo:
    kind: str
    protocol: str
    url: str
    model: str
    context: Optional[int] = None  # effective per-request context, when learned
    context_source: str = "unknown"


@dataclass
class CheckContext:
    """What checks may know about the run besides the exchanges."""

    old: SideInfo
    new: SideInfo
    thresholds: noise.Thresholds = field(default_factory=noise.Thresholds)
    extra: dict = field(default_factory=dict)


@dataclass
class CaseRun:
    """Everything one case observed: ``old``/``new`` are the main samples; ``aux`` holds what its
    case kind adds by name (the non-stream twins of a stream case, the long-context prompts, the
    sent token counts of over-length prompts, each side's embeddings, the /metrics scrape)."""

    case: Any
    old: list[Exchange] = field(default_factory=list)
    new: list[Exchange] = field(default_factory=list)
    aux: dict[str, Any] = field(default_factory=dict)


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
    ignore_order: bool = False  # lists whose order carries no meaning (parallel tool calls)

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


def expects_status(case, status: Optional[int]) -> bool:
    """Is this HTTP status the behaviour under test? Every status of an ``errors`` case is (a 500
    for malformed JSON is the contract being compared), and so is any status a case lists in
    ``params.expected_statuses``."""
    if status is None:
        return False
    if getattr(case, "category", None) == "errors" or getattr(case, "kind", None) == "error":
        return True
    params = getattr(case, "params", None) or {}
    return status in (params.get("expected_statuses") or [])


def describe_failure(ex: Exchange) -> str:
    err = ex.error
    if err is None:
        return f"HTTP {ex.status}"
    head = f"HTTP {ex.status} {err.type}" if ex.status else err.type
    message = " ".join((err.message or "").split())
    return f"{head}: {message[:120]}" if message else head


def infra_failure(ex: Exchange, case, side: str) -> Optional[str]:
    """Why ``ex`` observed no behaviour (an infrastructure failure), or None when it is an
    observation. Transport faults (timeouts, stalls, cut streams, refused connections) on either
    side, and a 5xx on the OLD side, unless the case expects that status. A 5xx on the NEW side
    stays an observation: where the old backend answered, it is a real regression."""
    if ex.error is None:
        return None
    if ex.error.type in TRANSPORT_ERRORS:
        return describe_failure(ex)
    if side == "old" and ex.status is not None and ex.status >= 500 and not expects_status(case, ex.status):
        return describe_failure(ex)
    return None


@dataclass
class Samples:
    """The samples a check may compare, after infrastructure failures were set aside."""

    old: list[Exchange]
    new: list[Exchange]
    early: Optional[dict] = None  # a verdict decided without comparing (error / inconclusive)
    note: str = ""  # names the excluded failures, for the detail


def split_samples(case, check: str, old_ex: list[Exchange], new_ex: list[Exchange]) -> Samples:
    """Set infrastructure failures aside: they are neither behaviour nor noise.

    A side left with no valid sample gives ``error`` (naming the failure). The old side must keep
    enough samples to estimate its own variation (2, or all it ran when fewer were asked for);
    otherwise ``inconclusive`` with how many more repeats would make up for the failures.
    """
    valid = {"old": [], "new": []}
    failed: dict[str, list[str]] = {"old": [], "new": []}
    for side, exs in (("old", old_ex), ("new", new_ex)):
        for ex in exs:
            why = infra_failure(ex, case, side)
            if why:
                failed[side].append(why)
            else:
                valid[side].append(ex)
    note = " ".join(
        f"Excluded as infrastructure failures: {len(failed[s])} of {len(exs)} {s} sample(s) ({failed[s][0]})."
        for s, exs in (("old", old_ex), ("new", new_ex))
        if failed[s]
    )
    for side, exs in (("old", old_ex), ("new", new_ex)):
        if not exs:
            return Samples(
                [], [], result(case, check, "error", f"No {side} sample was run.", old_ex=old_ex, new_ex=new_ex)
            )
        if not valid[side]:
            return Samples(
                [],
                [],
                result(
                    case,
                    check,
                    "error",
                    f"Every {side} request failed before a behaviour could be observed "
                    f"({failed[side][0]}); nothing was compared.",
                    old_ex=old_ex,
                    new_ex=new_ex,
                ),
            )
    rejected = [
        ex for ex in valid["old"] + valid["new"] if ex.error is not None and not expects_status(case, ex.status)
    ]
    if len(rejected) == len(valid["old"]) + len(valid["new"]):
        # Two identical refusals are not a pass: a pass must be observed, and nothing was answered.
        return Samples(
            [],
            [],
            result(
                case,
                check,
                "error",
                f"Both backends refused every request ({describe_failure(rejected[0])}); no answer was "
                "observed to compare.",
                old_ex=old_ex,
                new_ex=new_ex,
            ),
        )
    want_old = min(len(old_ex), 2)
    if len(valid["old"]) < want_old:
        more = want_old - len(valid["old"])
        return Samples(
            valid["old"],
            valid["new"],
            result(
                case,
                check,
                "inconclusive",
                f"Only {len(valid['old'])} valid old sample(s): too few to estimate the old backend's own "
                f"variation; {more} more baseline repeat(s) would decide. {note}",
                old_ex=old_ex,
                new_ex=new_ex,
                samples=(len(valid["old"]), len(valid["new"])),
                needed=more,
            ),
        )
    return Samples(valid["old"], valid["new"], None, note)


def unmeasured(obs: dict, name: str, cause: str, *, infra: bool) -> None:
    """Mark field ``name`` of an observation as not measured (its value is then ignored), with
    the cause; ``infra`` when an infrastructure failure prevented the measurement."""
    obs[name] = None
    obs.setdefault("_unmeasured", {})[name] = {"cause": cause, "infra": infra}


def transcripts(exchanges: list[Exchange], limit: int = 2) -> list[dict]:
    out = []
    for ex in exchanges[:limit]:
        t = asdict(ex.transcript)
        t["lines"] = t["lines"][:200]  # a long stream is evidence enough in its first lines
        out.append(t)
    return out


def result(
    case,
    check: str,
    verdict: str,
    detail: str,
    *,
    old_obs: Any = None,
    new_obs: Any = None,
    old_ex: Optional[list[Exchange]] = None,
    new_ex: Optional[list[Exchange]] = None,
    samples: Optional[tuple[int, int]] = None,
    needed: Optional[int] = None,
    category: Optional[str] = None,
) -> dict:
    """One entry of ``report["checks"]`` (contract keys only)."""
    old_ex = old_ex or []
    new_ex = new_ex or []
    category = category or case.category
    entry = {
        "case": case.id,
        "category": category,
        "check": check,
        "verdict": verdict,
        "critical": is_critical(category),
        "detail": detail,
        "samples": {"old": samples[0] if samples else len(old_ex), "new": samples[1] if samples else len(new_ex)},
        "needed_samples": needed,
        "old": old_obs if old_obs is not None else {},
        "new": new_obs if new_obs is not None else {},
    }
    if verdict != "pass":
        entry["transcripts"] = {"old": transcripts(old_ex), "new": transcripts(new_ex)}
    return entry


def _fmt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _measured(obs: list[dict], name: str) -> tuple[list, list[dict]]:
    """The measured values of one field, and the reasons of the samples where it was not."""
    values, missing = [], []
    for o in obs:
        why = (o.get("_unmeasured") or {}).get(name)
        (missing.append(why) if why else values.append(o.get(name)))
    return values, missing


def judge(
    case,
    check: str,
    fields: list[Field],
    old_obs: list[dict],
    new_obs: list[dict],
    *,
    old_ex: list[Exchange],
    new_ex: list[Exchange],
    ctx: CheckContext,
    pass_detail: str = "",
    category: Optional[str] = None,
    note: str = "",
) -> dict:
    """Diffy's rule over each judged field, then one verdict for the check.

    A confirmed difference in any field is a regression unless its ``better`` rule says the new
    value is an improvement. A field never measured on a side (marked with ``unmeasured``, or a
    quality field that is None on one side only, where no direction can be told) is compared with
    nothing: ``error`` when an infrastructure failure prevented the measurement, else
    ``inconclusive``; so is a field with too few samples. Precedence: regression (observed) >
    error > inconclusive > improvement > pass: an improvement never hides an unknown.
    ``note`` (excluded failures) is appended to the detail.
    """
    judged = noise.Judgement()
    values: dict[str, tuple[list, list]] = {}
    missing: dict[str, dict] = {}  # field -> {"cause", "infra"}
    for f in fields:
        if f.kind == "info":
            continue
        old_v, old_missing = _measured(old_obs, f.name)
        new_v, new_missing = _measured(new_obs, f.name)
        if not old_v or not new_v:
            why = old_missing if not old_v else new_missing
            side = "old" if not old_v else "new"
            missing[f.name] = {
                "cause": f"{side}: {why[0]['cause']}" if why else f"no {side} sample",
                "infra": bool(why) and all(w["infra"] for w in why),
            }
            continue
        values[f.name] = (old_v, new_v)
        judged.fields.append(noise.judge_field(f.name, old_v, new_v, f.differ, ctx.thresholds))
    by_name = {f.name: f for f in fields}
    regressions, improvements = [], []
    for fj in judged.differing:
        rule = by_name[fj.field]
        old_v = noise.mode(values[fj.field][0])
        new_v = noise.mode(values[fj.field][1])
        direction = rule.better(old_v, new_v) if rule.better else None
        if rule.better and direction is None and (old_v is None) != (new_v is None):
            # A quality that does not apply / was not measured on one side: None vs True says
            # nothing about the new backend, so it can be neither a regression nor a pass.
            side = "old" if old_v is None else "new"
            missing[fj.field] = {
                "cause": f"not measured on the {side} side ({_fmt(old_v)} -> {_fmt(new_v)})",
                "infra": False,
            }
            continue
        text = f"{fj.field} {_fmt(old_v)} -> {_fmt(new_v)}"
        (improvements if direction else regressions).append(text)
    old_view = dict(noise.mode(old_obs) or {})
    new_view = dict(noise.mode(new_obs) or {})
    noisy = [f.field for f in judged.fields if f.decision == noise.NOISY]
    if noisy:
        old_view["_noisy_fields"] = noisy
    unknown = "; ".join(f"{name} ({m['cause']})" for name, m in missing.items())
    needed = None
    if regressions:
        verdict, detail = (
            "regression",
            "Changed on the new backend beyond the old backend's own variation: " + "; ".join(regressions) + ".",
        )
        if improvements:
            detail += " Improved: " + "; ".join(improvements) + "."
        if missing:
            detail += f" Not measured: {unknown}."
    elif missing and any(m["infra"] for m in missing.values()):
        verdict = "error"
        detail = f"An infrastructure failure left fields unmeasured, so they were not compared: {unknown}."
        if judged.insufficient:
            detail += " Also undecided for lack of samples: " + ", ".join(f.field for f in judged.insufficient) + "."
        if improvements:
            detail += " Improved: " + "; ".join(improvements) + "."
    elif missing or judged.insufficient:
        verdict = "inconclusive"
        parts = []
        if missing:
            parts.append(f"Not measured on both backends, so not compared: {unknown}.")
        if judged.insufficient:
            names = ", ".join(f.field for f in judged.insufficient)
            needed = judged.needed
            parts.append(
                f"Differences in {names} cannot be told apart from the old backend's own "
                f"variation with these samples; {needed} more repeat(s) per side would decide."
            )
        detail = " ".join(parts)
        if improvements:
            detail += " Improved: " + "; ".join(improvements) + "."
    elif improvements:
        verdict, detail = "improvement", "Better on the new backend: " + "; ".join(improvements) + "."
    else:
        verdict = "pass"
        detail = pass_detail or "Same behaviour on both backends."
        if noisy:
            detail += f" (Differences in {', '.join(noisy)} are within the old backend's own variation.)"
    if note:
        detail += " " + note
    return result(
        case,
        check,
        verdict,
        detail,
        old_obs=old_view,
        new_obs=new_view,
        old_ex=old_ex,
        new_ex=new_ex,
        needed=needed,
        category=category,
    )
