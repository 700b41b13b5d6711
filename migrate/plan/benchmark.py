"""The phase benchmark a plan prescribes: each phase reports its own metrics, never one tokens/s figure.

Each phase has ``load`` (the words people read) and ``load_shape`` (what ``migrate bench --plan`` runs:
``{"kind": "concurrency", "levels": [...]}``); the phases and their metrics are the built-in bench
scenarios of ``migrate/data/bench_scenarios.yaml``, with the team's own numbers.
"""

from __future__ import annotations

import math

from ..datafiles import package_data
from ..metrics_catalog import load_catalog

# What a benchmark of the first engine must be able to read server-side.
SERVER_METRICS = ("time_to_first_token", "time_per_output_token", "kv_cache_usage", "prefix_cache_hit_rate")


def benchmark_plan(values: dict, first: str) -> dict:
    conc = int(values.get("concurrency") or 1)
    prompt = int(values.get("p95_prompt_tokens") or max(512, int(values.get("context") or 2048) // 2))
    output = int(values.get("p95_output_tokens") or 256)
    sweep = sorted({1, *[2**i for i in range(0, max(1, math.ceil(math.log2(max(conc, 1) * 2))) + 1)], max(conc, 1) * 2})
    phases = [
        {
            "phase": "single-stream",
            "load": "1 request at a time",
            "levels": [1],
            "input_tokens": prompt,
            "output_tokens": output,
        },
        {
            "phase": "prefill-heavy",
            "load": f"concurrency {conc}",
            "levels": [max(conc, 1)],
            "input_tokens": prompt,
            "output_tokens": 32,
        },
        {
            "phase": "decode-heavy",
            "load": f"concurrency {conc}",
            "levels": [max(conc, 1)],
            "input_tokens": 256,
            "output_tokens": max(output, 256),
        },
        {
            "phase": "concurrency-sweep",
            "load": f"concurrency {sweep}",
            "levels": sweep,
            "input_tokens": prompt,
            "output_tokens": output,
        },
    ]
    if values.get("prefix_reuse"):
        phases.append(
            {
                "phase": "prefix-reuse",
                "load": f"concurrency {conc}, shared system/document prefix",
                "levels": [max(conc, 1)],
                "input_tokens": prompt,
                "output_tokens": 64,
            }
        )
    if values.get("structured_outputs"):
        phases.append(
            {
                "phase": "structured-output",
                "load": f"concurrency {conc}, json_schema + tools requests",
                "levels": [max(conc, 1)],
                "input_tokens": prompt,
                "output_tokens": output,
            }
        )
    reports = {sc["name"]: sc["report"] for sc in package_data("bench_scenarios.yaml")["scenarios"]}
    for p in phases:
        p["load_shape"] = {"kind": "concurrency", "levels": p.pop("levels")}
        p["endpoint"] = "chat"
        p["report"] = list(reports[p["phase"]])
    engine_metrics = load_catalog().exposed_by(first)
    return {
        "phases": phases,
        "server_metrics": {
            "engine": first,
            "names": engine_metrics,
            "missing": [m for m in SERVER_METRICS if m not in engine_metrics],
        },
        "also": "quality on the team's eval set and cost per acceptable token",
    }
