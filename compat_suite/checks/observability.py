"""Observability (``--check-metrics``): which required metrics the new backend's ``/metrics``
exposes, each logical name resolved to the engine's own Prometheus name through the one catalogue
(``migrate/data/metrics.yaml`` via ``migrate.metrics_catalog``)."""
from __future__ import annotations

import re
from typing import Optional

DEFAULT_REQUIRED = ["time_to_first_token", "time_per_output_token", "waiting_requests",
                    "kv_cache_usage"]
_SUFFIXES = ("_bucket", "_sum", "_count", "_created", "_total", "_info")
_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)")


def families(text: str) -> set[str]:
    """Metric family names in a Prometheus text exposition (from ``# TYPE`` lines and samples)."""
    names: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 3 and parts[1] in ("TYPE", "HELP"):
                names.add(parts[2])
            continue
        m = _SAMPLE.match(line)
        if m:
            name = m.group(1)
            names.add(name)
            for suffix in _SUFFIXES:
                if name.endswith(suffix):
                    names.add(name[: -len(suffix)])
    return names


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
