"""Canary policy: defaults, loading a user file (YAML or JSON) and validating it."""

from __future__ import annotations

import copy
import json
import math
import os
from importlib import resources
from typing import Any, Optional

import jsonschema

from ..datafiles import load_user_file
from ..errors import UsageError
from ..report.contract import CATEGORIES, CRITICAL_CATEGORIES

# The documented defaults (docs/canary.md). Categories are the compat report's.
DEFAULT_POLICY: dict[str, Any] = {
    "steps": [0, 1, 5, 10, 25, 50, 100],
    "max_steps_per_promotion": 1,
    # Any regression in the report's critical categories -> weight 0 and rollback; the rest warn.
    "critical": {"categories": list(CRITICAL_CATEGORIES), "checks": []},
    "warning": {"categories": [c for c in CATEGORIES if c not in CRITICAL_CATEGORIES], "checks": []},
    "ignore": {"categories": [], "checks": []},
    "honour_report_critical": True,
    "min_samples": 1,
    "latency": {
        "min_samples": 3,  # a p95 over fewer requests is noise: treated as no data
        "breach_action": "hold",
        "critical_ratio": 3.0,
        "limits": {
            # Floors keep jitter on small numbers from ever blocking a promotion.
            "ttft_p95": {"max_ratio": 1.5, "floor_s": 0.100},
            "tpot_p95": {"max_ratio": 1.5, "floor_s": 0.020},
            "e2e_p95": {"max_ratio": 1.5, "floor_s": 0.250},
        },
    },
    "scoring": {
        "group_weights": {"latency": 30},
        "thresholds": {"pass": 90, "marginal": 75},  # Kayenta's usual request-level values
        "max_nodata_fraction": 0.5,  # Kayenta: >= 50% Nodata cannot pass
    },
}


def _schema() -> dict:
    text = resources.files("migrate").joinpath("schemas/canary-policy.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _non_finite(node: Any, path: str = "") -> Optional[tuple[str, float]]:
    """The first nan/inf in a policy (dotted path, value), or None."""
    if isinstance(node, float) and not math.isfinite(node):
        return path or "(top level)", node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        found = _non_finite(value, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


def resolve_policy(override: Optional[dict] = None, *, source: str = "policy") -> dict:
    """Defaults deep-merged with ``override`` (lists replace), validated; UsageError if bad."""
    override = override or {}
    if not isinstance(override, dict):
        raise UsageError(f"{source}: a policy must be a mapping")
    bad = _non_finite(override)
    if bad is not None:  # the schema's bounds compare False with nan and let it through
        where, value = bad
        raise UsageError(f"{source}: {where}: must be a finite number, got {value!r}")
    errors = sorted(
        jsonschema.Draft202012Validator(_schema()).iter_errors(override), key=lambda e: list(map(str, e.absolute_path))
    )
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise UsageError(f"{source}: {where}: {err.message}")
    policy = _merge(DEFAULT_POLICY, override)
    steps = policy["steps"]
    if steps[0] != 0 or any(b <= a for a, b in zip(steps, steps[1:])):
        raise UsageError(f"{source}: steps must start at 0 and be strictly increasing, got {steps}")
    th = policy["scoring"]["thresholds"]
    if th["marginal"] > th["pass"]:
        raise UsageError(f"{source}: scoring.thresholds.marginal ({th['marginal']}) is above pass ({th['pass']})")
    if sum(policy["scoring"]["group_weights"].values()) > 100:
        raise UsageError(f"{source}: scoring.group_weights sum to more than 100")
    return policy


def load_policy(path: Optional[str | os.PathLike]) -> dict:
    if path is None:
        return resolve_policy({})
    data = load_user_file(path, "policy")
    return resolve_policy(data or {}, source=str(path))
