"""The rejection rules evaluated on the measured numbers of a side-by-side run.

A rule is a row of ``rejection_metrics`` (``migrate/data/rules.yaml``, or the plan's copy of it): prose
(``reject_if``) and, where a machine can decide it, a ``check``::

    check: {metric: tpot, stat: p95, op: ">", slo: tpot, at: peak}

The rule is **met** (reject the new engine) when, at some measured level of the new backend, the
``stat`` of ``metric`` compares by ``op`` against the limit: the ``--slo`` value named by ``slo``, a fixed
``threshold``, or the old backend's same figure at the same level (``than: old``). ``at: peak`` looks only
at the levels of the highest concurrency measured. A rule without a check, or whose figure or limit was
not measured (no ``--slo`` for it, a metric the server did not report), is **not measurable**, with why.
Only the new backend is judged: the rules are the new engine's falsification path.
"""

from __future__ import annotations

import operator
from typing import Any, Optional

from ..datafiles import package_data

MET, NOT_MET, UNMEASURABLE = "met", "not met", "not measurable"
NEGATED = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}
OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
STATS = ("p50", "p90", "p95", "p99", "mean")


def engine_rules(kind: str) -> list[dict]:
    """The shipped rejection rules of an engine kind (none for a kind the table does not list)."""
    return [dict(r) for r in package_data("rules.yaml")["rejection_metrics"].get(kind, [])]


def _figure(result: dict, metric: str, stat: Optional[str]) -> Optional[float]:
    if metric == "error_rate":
        return result["errors"] / result["requests"] if result.get("requests") else None
    value = result.get(metric)
    if isinstance(value, dict):
        value = value.get(stat or "p95")
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _levels(report: dict, peak: bool) -> list[tuple[str, dict]]:
    out = [(s["name"], lv) for s in report["scenarios"] for lv in s["levels"] if "new" in lv["results"]]
    if peak:
        closed = [lv["load"]["concurrency"] for _, lv in out if lv["load"]["concurrency"]]
        if closed:
            out = [(n, lv) for n, lv in out if lv["load"]["concurrency"] == max(closed)]
    return out


def _label(load: dict) -> str:
    return (
        f"concurrency {load['concurrency']}"
        if load["shape"] == "concurrency"
        else f"{load['shape']} {load['rate']:g}/s"
    )


def evaluate_rule(rule: dict, report: dict, slo: dict[str, float]) -> dict:
    out: dict[str, Any] = {
        "metric": str(rule.get("metric", "")),
        "reject_if": str(rule.get("reject_if", "")),
        "check": rule.get("check"),
        "status": UNMEASURABLE,
        "why": None,
        "limit": None,
        "figures": [],
    }
    check = rule.get("check")
    if not isinstance(check, dict):
        out["why"] = "no machine check (a judgement for the team)"
        return out
    metric, stat, op = check.get("metric"), check.get("stat"), check.get("op")
    if op not in OPS or not isinstance(metric, str) or (stat is not None and stat not in STATS):
        out["why"] = f"malformed check {check!r}"[:200]
        return out
    limit: Optional[float] = None
    if "slo" in check:
        limit = slo.get(str(check["slo"]))
        if limit is None:
            out["why"] = f"no --slo {check['slo']}=SECONDS given to compare with"
            return out
    elif "threshold" in check:
        limit = float(check["threshold"])
    elif check.get("than") != "old":
        out["why"] = "the check names no limit (slo, threshold or than: old)"
        return out
    out["limit"] = limit
    met = False
    for name, level in _levels(report, check.get("at") == "peak"):
        value = _figure(level["results"]["new"], metric, stat)
        bound = limit if limit is not None else _figure(level["results"].get("old") or {}, metric, stat)
        if value is None or bound is None:
            continue
        hit = OPS[op](value, bound)
        met = met or hit
        out["figures"].append(
            {"scenario": name, "level": _label(level["load"]), "value": value, "limit": bound, "met": hit}
        )
    if not out["figures"]:
        out["why"] = f"{metric}{' ' + stat if stat else ''} was not measured on the new backend" + (
            " and the old" if limit is None else ""
        )
        return out
    out["status"] = MET if met else NOT_MET
    return out


def evaluate(rules: list[dict], report: dict, slo: dict[str, float]) -> list[dict]:
    return [evaluate_rule(r, report, slo) for r in rules]


def _fmt(metric: str, x: float) -> str:
    return f"{x * 1000:.1f} ms" if metric in ("ttft", "tpot", "itl", "e2e", "queue_delay") else f"{x:.4g}"


def lines(results: list[dict]) -> list[str]:
    """One line per rule for the terminal: status, the prose, the deciding figure."""
    out = []
    for r in results:
        text = f"{r['status']}: reject if {r['reject_if']}"
        if r["figures"]:
            # The level that decided it: the first one met, else the one closest to being met.
            sign = 1 if r["check"]["op"] in (">", ">=") else -1
            closest = max(r["figures"], key=lambda f: sign * (f["value"] - f["limit"]))
            worst = next((f for f in r["figures"] if f["met"]), closest)
            metric, stat = r["check"]["metric"], r["check"].get("stat") or ""
            op = r["check"]["op"] if worst["met"] else NEGATED[r["check"]["op"]]
            text += (
                f": {metric} {stat} {_fmt(metric, worst['value'])} {op} {_fmt(metric, worst['limit'])}"
                f" at {worst['scenario']}, {worst['level']}"
            ).replace("  ", " ")
        elif r["why"]:
            text += f": {r['why']}"
        out.append(text)
    return out
