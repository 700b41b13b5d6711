"""Kayenta-style judgement of a compat report (shared/reference/prior-art.md section 2a).

Each check and each latency figure becomes one *metric* classified pass / fail / nodata /
nodata_fail (Kayenta's NodataFailMetric) / muted. Group score = pass / (pass + fail + nodata_fail)
x 100, a group with nothing scorable counts 100; the summary is the weighted mean of group scores.
Differences from Kayenta, on purpose:
  - the inputs are per-check verdicts from request-level evidence, not time series, so there is no
    Mann-Whitney step: compat already decided each check;
  - group weights are renormalised over the groups present in the report, so a policy weight for a
    group the report lacks cannot by itself fail the run;
  - too much missing data gives "inconclusive" (hold), not a score of 0 (rollback): absence of
    evidence is not evidence of a regression.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

LATENCY_KEYS = ("ttft_p95", "tpot_p95", "e2e_p95")
_LATENCY_LABEL = {"ttft_p95": "TTFT p95", "tpot_p95": "TPOT p95", "e2e_p95": "e2e p95"}


@dataclass
class Metric:
    name: str  # "<case>/<check>" or "latency.<class>.<key>"
    group: str  # report category or "latency"
    classification: str  # pass | fail | nodata | nodata_fail | muted
    critical: bool = False  # a critical check (its failure means rollback)
    detail: str = ""
    verdict: Optional[str] = None  # the report's verdict for checks
    needed_more: Optional[int] = None  # samples per side that would decide, when too few
    breach: bool = False  # latency limit exceeded
    critical_breach: bool = False  # latency beyond the critical ratio

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, False, "")}


@dataclass
class Score:
    score: Optional[float]  # None when nothing was scorable
    classification: str  # pass | marginal | fail | nodata
    groups: dict[str, dict] = field(default_factory=dict)
    nodata_fraction: float = 0.0


def _selected(selector: dict, check: dict) -> bool:
    names = set(selector.get("checks") or [])
    return (
        check.get("category") in set(selector.get("categories") or [])
        or check.get("check") in names
        or check.get("case") in names
    )


def _samples(check: dict) -> Optional[int]:
    s = check.get("samples")
    if not isinstance(s, dict):
        return None
    values = [v for v in (s.get("old"), s.get("new")) if isinstance(v, int)]
    return min(values) if len(values) == 2 else None


def classify_checks(report: dict, policy: dict) -> list[Metric]:
    out = []
    min_samples = policy["min_samples"]
    for c in report.get("checks") or []:
        name = f"{c.get('case')}/{c.get('check')}"
        group = str(c.get("category") or "uncategorised")
        verdict = c.get("verdict")
        muted = _selected(policy["ignore"], c)
        critical = not muted and (
            _selected(policy["critical"], c) or (policy["honour_report_critical"] and c.get("critical") is True)
        )
        detail = str(c.get("detail") or "")
        m = Metric(name=name, group=group, classification="nodata", critical=critical, detail=detail, verdict=verdict)
        have = _samples(c)
        if verdict in ("regression", "unsupported_new"):
            # An observed regression counts however few samples saw it: a pass needs evidence,
            # a failure only needs to have happened.
            m.classification = "fail"
        elif verdict in ("pass", "improvement", "unsupported_old"):
            if have is None and min_samples > 1:
                m.classification = "nodata"
                m.needed_more = min_samples
                m.detail = f"no sample count in the report; policy needs {min_samples} per side"
            elif have is not None and have < min_samples:
                m.classification = "nodata"
                m.needed_more = min_samples - have
                m.detail = f"{have} sample(s) per side, policy needs {min_samples}"
            else:
                m.classification = "pass"
        elif verdict == "inconclusive":
            m.classification = "nodata"
            needed = c.get("needed_samples")
            if isinstance(needed, int) and needed > 0:
                m.needed_more = max(needed - (have or 0), 1)
        elif verdict == "error":
            m.classification = "nodata_fail"  # the check could not run: counts against the score
        else:
            m.classification = "nodata"
            m.detail = f"unknown verdict {verdict!r}"
        if muted:
            m.classification = "muted"
        out.append(m)
    return out


def classify_latency(report: dict, policy: dict) -> list[Metric]:
    out = []
    lat = policy["latency"]
    for klass, block in sorted((report.get("latency") or {}).items()):
        if not isinstance(block, dict):
            continue
        old, new = block.get("old") or {}, block.get("new") or {}
        n_old, n_new = old.get("n"), new.get("n")
        for key in LATENCY_KEYS:
            limit = lat["limits"][key]
            m = Metric(name=f"latency.{klass}.{key}", group="latency", classification="nodata")
            o, n = old.get(key), new.get(key)
            if not _num(o) or not _num(n):
                m.detail = f"{_LATENCY_LABEL[key]} not measured on both sides"
            elif not (isinstance(n_old, int) and isinstance(n_new, int)) or min(n_old, n_new) < lat["min_samples"]:
                have = (
                    min(x for x in (n_old, n_new) if isinstance(x, int))
                    if any(isinstance(x, int) for x in (n_old, n_new))
                    else 0
                )
                m.needed_more = lat["min_samples"] - have
                m.detail = f"{_LATENCY_LABEL[key]} from {have} request(s), policy needs {lat['min_samples']}"
            else:
                assert o is not None and n is not None  # _num() checked both
                diff = n - o
                ratio = (n / o) if o > 0 else (math.inf if n > 0 else 1.0)
                over_floor = diff > limit["floor_s"]
                text = (
                    f"{_LATENCY_LABEL[key]} {klass}: old {_ms(o)}, new {_ms(n)} "
                    f"(x{_fmt_ratio(ratio)}, {'+' if diff >= 0 else ''}{_ms(diff)})"
                )
                if over_floor and ratio > limit["max_ratio"]:
                    m.classification = "fail"
                    m.breach = True
                    crit = lat.get("critical_ratio")
                    m.critical_breach = crit is not None and ratio > crit
                    m.detail = f"{text} exceeds x{limit['max_ratio']} and the {_ms(limit['floor_s'])} floor"
                else:
                    m.classification = "pass"
                    m.detail = f"{text} within limits"
            out.append(m)
    return out


def score(metrics: list[Metric], policy: dict) -> Score:
    sc = policy["scoring"]
    groups: dict[str, dict] = {}
    for m in metrics:
        if m.classification == "muted":
            continue
        g = groups.setdefault(m.group, {"pass": 0, "fail": 0, "nodata": 0, "nodata_fail": 0})
        g[m.classification] += 1
    checks = [m for m in metrics if m.group != "latency" and m.classification != "muted"]
    nodata_fraction = (sum(m.classification == "nodata" for m in checks) / len(checks)) if checks else 1.0
    if not groups:
        return Score(None, "nodata", {}, nodata_fraction)
    explicit = {g: w for g, w in sc["group_weights"].items() if g in groups}
    rest = [g for g in groups if g not in explicit]
    share = (max(0.0, 100 - sum(explicit.values())) / len(rest)) if rest else 0.0
    total_w, acc = 0.0, 0.0
    for name, g in groups.items():
        counted = g["pass"] + g["fail"] + g["nodata_fail"]
        g["score"] = round(100.0 * g["pass"] / counted, 2) if counted else 100.0
        g["weight"] = round(explicit.get(name, share), 2)
        total_w += g["weight"]
        acc += g["score"] * g["weight"]
    value = round(acc / total_w, 2) if total_w > 0 else 100.0
    th = sc["thresholds"]
    klass = "pass" if value >= th["pass"] else "marginal" if value >= th["marginal"] else "fail"
    return Score(value, klass, groups, round(nodata_fraction, 4))


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _fmt_ratio(r: float) -> str:
    return "inf" if math.isinf(r) else f"{r:.2f}"
