"""The decision: facts -> the first and second engine, by the rules table (``migrate/data/rules.yaml``).

The rules are evaluated in order and the first match fires; the plan names that rule and the facts that
made it fire. Overlays add an engine above the first (e.g. a router), the other tables add what not to
test yet, the rejection metrics of the first engine and the Ollama production-rejection checklist.
"""

from __future__ import annotations

from typing import Any, Optional

from ..datafiles import load_inventory, package_data
from .benchmark import benchmark_plan
from .facts import build_facts, load_profile

PLAN_SCHEMA = "migrate.plan/1"


def rules() -> dict:
    return package_data("rules.yaml")


def _match_one(value: Any, matcher: Any) -> bool:
    if isinstance(matcher, dict):
        for op, arg in matcher.items():
            if op == "in" and value not in arg:
                return False
            if op == "not_in" and value in arg:
                return False
            if op == "gte" and not (isinstance(value, (int, float)) and value >= arg):
                return False
            if op == "lte" and not (isinstance(value, (int, float)) and value <= arg):
                return False
            if op == "set" and (value is not None) != bool(arg):
                return False
        return True
    return value == matcher


def matches(rule: dict, values: dict) -> Optional[dict]:
    """The facts that made ``rule`` fire, or None when it does not match."""
    because = {}
    for key, matcher in (rule.get("when") or {}).items():
        if not _match_one(values.get(key), matcher):
            return None
        because[key] = values.get(key)
    if "any" in rule:
        hit = None
        for alt in rule["any"]:
            if all(_match_one(values.get(k), m) for k, m in alt.items()):
                hit = {k: values.get(k) for k in alt}
                break
        if hit is None:
            return None
        because.update(hit)
    return because


class _Fmt(dict):
    def __missing__(self, key):
        return "unknown"


def _fmt(text: str, values: dict) -> str:
    return text.format_map(_Fmt({k: ("unknown" if v is None else v) for k, v in values.items()}))


def decide(facts: dict) -> dict:
    values = {k: f["value"] for k, f in facts.items()}
    table = rules()
    tried = []
    fired = because = None
    for rule in table["rules"]:
        because = matches(rule, values)
        if because is not None:
            fired = rule
            break
        tried.append(rule["id"])
    assert fired is not None, "rules.yaml must end with a catch-all rule"
    first, second = fired["first"]["engine"], fired["second"]["engine"]
    above = None
    for ov in table.get("overlays", []):
        if matches(ov, values) is not None:
            above = {"engine": ov["engine"], "why": _fmt(ov["why"], {**values, "first": first}), "rule": ov["id"]}
    chosen = {first, second} | ({above["engine"]} if above else set())
    dnt: dict[str, list] = {}
    for row in table["do_not_test_yet"]:
        if row["engine"] in chosen:
            continue
        if matches(row, values) is not None:
            dnt.setdefault(row["engine"], []).append(_fmt(row["why"], values))
    rejection = [dict(r) for r in table["rejection_metrics"].get(first, [])]
    checklist = []
    for row in table["checklist"]:
        hit = next((alt for alt in row["any"] if all(_match_one(values.get(k), m) for k, m in alt.items())), None)
        checklist.append(
            {
                "id": row["id"],
                "requirement": row["requirement"],
                "applies": hit is not None,
                "why": _fmt(row["because"], values) if hit is not None else "not required by this profile",
                "why_ollama_fails": row["why_ollama_fails"],
                "require": row["require"],
            }
        )
    return {
        "schema": PLAN_SCHEMA,
        "rule": fired["id"],
        "step": fired["step"],
        "constraint": _fmt(fired["constraint"], values),
        "fired_because": {
            k: {"value": v, "source": facts.get(k, {}).get("source", "not given")} for k, v in because.items()
        },
        "rules_not_matching": tried,
        "first": {"engine": first, "why": fired["first"]["why"]},
        "second": {"engine": second, "why": fired["second"]["why"]},
        "above": above,
        "do_not_test_yet": [{"engine": e, "why": "; ".join(w)} for e, w in dnt.items()],
        "rejection_metrics": rejection,
        "ollama_rejection_checklist": checklist,
        "benchmark_plan": benchmark_plan(values, first),
        "inputs": facts,
    }


def plan(
    inventory_path: Optional[str] = None, profile_path: Optional[str] = None, flags: Optional[dict] = None
) -> dict:
    """`migrate plan`: load the inputs, merge them into facts, decide."""
    inventory = load_inventory(inventory_path) if inventory_path else None
    profile = load_profile(profile_path) if profile_path else None
    facts = build_facts(
        inventory,
        profile,
        flags or {},
        profile_path=profile_path or "profile",
        inventory_path=inventory_path or "inventory",
    )
    return decide(facts)
