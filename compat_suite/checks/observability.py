"""Observability (``--check-metrics``): which required metrics the new backend's ``/metrics``
exposes, each logical name resolved to the engine's own Prometheus name through the one catalogue
(``migrate/data/metrics.yaml`` via ``migrate.metrics_catalog``).

The ``metrics`` case kind scrapes once (``run.aux["metrics"]["new"]``, after all other traffic);
the case's ``params["required"]`` names the logical metrics. Besides the check entry, the report
gets a ``metrics`` block (``report_section``).
"""

from __future__ import annotations

from typing import Optional

from migrate.protocol.prometheus import parse_prometheus

from .base import CaseRun, CheckContext, result

DEFAULT_REQUIRED = ["time_to_first_token", "time_per_output_token", "waiting_requests", "kv_cache_usage"]


def families(text: str) -> set[str]:
    """Metric family names in a Prometheus text exposition (from ``# TYPE`` lines and samples)."""
    return parse_prometheus(text).families()


def resolve(required: list[str], kind: str, exposed: Optional[set[str]]) -> dict:
    """``{"required", "found": {logical: prometheus name}, "missing": [...], "notes": {...}}``."""
    from migrate.metrics_catalog import load_catalog

    catalog = load_catalog()
    found: dict[str, str] = {}
    missing: list[str] = []
    notes: dict[str, str] = {}
    for logical in required:
        if not catalog.is_known(logical):
            missing.append(logical)
            notes[logical] = "not a known logical metric name"
            continue
        em = catalog.lookup(logical, kind)
        if em is None:
            missing.append(logical)
            notes[logical] = f"no mapping for engine kind {kind!r} in the metrics catalogue"
            continue
        candidates = [n for n in (em.name, *em.legacy) if n]
        hit = next((n for n in candidates if exposed and n in exposed), None)
        if hit:
            found[logical] = hit
        else:
            missing.append(logical)
            if not em.name:
                notes[logical] = em.note or f"{kind} has no equivalent metric"
            elif exposed is None:
                notes[logical] = f"expected {em.name}; /metrics not readable"
            else:
                notes[logical] = f"expected {em.name}; not exposed"
    return {"required": list(required), "found": found, "missing": missing, "notes": notes}


def _resolved(case, run: CaseRun, ctx: CheckContext):
    (scrape,) = run.aux["metrics"]["new"]
    exposed = families(scrape.text) if scrape.ok else None
    return scrape, resolve(list(case.params["required"]), ctx.new.kind, exposed)


def report_section(case, run: CaseRun, ctx: CheckContext) -> tuple[str, dict]:
    """The report's ``metrics`` block: where it scraped, what was required, found and missing."""
    _, resolved = _resolved(case, run, ctx)
    return "metrics", {
        "url": ctx.new.url + "/metrics",
        "required": resolved["required"],
        "found": resolved["found"],
        "missing": resolved["missing"],
    }


def required_metrics(case, run: CaseRun, ctx: CheckContext) -> dict:
    scrape, resolved = _resolved(case, run, ctx)
    required = resolved["required"]
    if not scrape.ok:
        verdict = "unsupported_new"
        detail = (
            f"GET /metrics on the new backend gave HTTP {scrape.status}"
            f"{' (' + scrape.error.message + ')' if scrape.error else ''}; none of "
            f"{', '.join(required)} can be scraped (llama.cpp needs --metrics)."
        )
    elif resolved["missing"]:
        verdict = "unsupported_new"
        detail = (
            "Missing on the new backend: "
            + "; ".join(f"{m} ({resolved['notes'].get(m, 'not exposed')})" for m in resolved["missing"])
            + "."
        )
    else:
        verdict = "pass"
        detail = "All required metrics exposed: " + ", ".join(f"{k} as {v}" for k, v in resolved["found"].items()) + "."
    entry = result(
        case,
        "required_metrics",
        verdict,
        detail,
        old_obs={},
        new_obs={"found": resolved["found"], "missing": resolved["missing"], "notes": resolved["notes"]},
        samples=(0, 1),
    )
    entry.pop("transcripts", None)
    if verdict != "pass":
        # The scrape itself is the evidence: a GET, not an Exchange.
        entry["transcripts"] = {
            "old": [],
            "new": [
                {
                    "method": "GET",
                    "url": ctx.new.url + "/metrics",
                    "request_body": None,
                    "status": scrape.status,
                    "headers": {},
                    "lines": scrape.text.splitlines()[:50],
                }
            ],
        }
    return entry


CHECKS = {"required_metrics": required_metrics}
