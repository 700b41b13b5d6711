"""The bench report as CSV: one row per backend x scenario x level x metric x statistic.

Columns: ``scenario``, ``shape`` (concurrency, rate, poisson), ``concurrency`` (closed loop, else
empty), ``rate`` (open loop, requests/s, else empty), ``backend`` (old, new or target), ``kind``,
``model``, ``metric``, ``statistic``, ``value``, ``unit``. Latencies are in seconds (``unit`` s), as in
the JSON; a value the run could not measure is an empty cell, so every level has the same rows (plus one
``errors_by_type`` row per error type seen). Text cells that a spreadsheet would run as a formula
(starting with ``= + - @``) get a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Optional

from ...report._common import write_output
from ._common import checked

COLUMNS = [
    "scenario",
    "shape",
    "concurrency",
    "rate",
    "backend",
    "kind",
    "model",
    "metric",
    "statistic",
    "value",
    "unit",
]
LATENCY = ("ttft", "tpot", "itl", "e2e", "queue_delay", "server_tpot")
STATS = ("p50", "p90", "p95", "p99", "mean")
# (metric, statistic, unit, getter) for the numbers that are not latency distributions.
SCALARS: list[tuple[str, str, str, Any]] = [
    ("requests", "count", "requests", lambda r: r["requests"]),
    ("completed", "count", "requests", lambda r: r["completed"]),
    ("errors", "count", "requests", lambda r: r["errors"]),
    ("request_throughput", "value", "requests/s", lambda r: r.get("request_throughput")),
    ("output_tokens_per_s", "value", "tokens/s", lambda r: r.get("output_tokens_per_s")),
    ("input_tokens_per_s", "value", "tokens/s", lambda r: r.get("input_tokens_per_s")),
    ("output_tokens", "total", "tokens", lambda r: (r.get("output_tokens") or {}).get("total")),
    ("output_tokens", "mean", "tokens", lambda r: (r.get("output_tokens") or {}).get("mean")),
    ("input_tokens", "total", "tokens", lambda r: (r.get("input_tokens") or {}).get("total")),
    ("lateness", "p50", "s", lambda r: (r.get("lateness") or {}).get("p50")),
    ("lateness", "p99", "s", lambda r: (r.get("lateness") or {}).get("p99")),
    ("lateness", "max", "s", lambda r: (r.get("lateness") or {}).get("max")),
    ("goodput", "requests", "requests", lambda r: (r.get("goodput") or {}).get("requests")),
    ("goodput", "fraction", "fraction", lambda r: (r.get("goodput") or {}).get("fraction")),
    ("goodput", "rate", "requests/s", lambda r: (r.get("goodput") or {}).get("rate")),
]
ROWS_PER_RESULT = len(LATENCY) * (len(STATS) + 1) + len(SCALARS)  # + one per error type seen


def _text(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def _number(value: Optional[float]) -> str:
    return "" if value is None else repr(value)


def rows(report: Any) -> list[dict]:
    """Every row as a dict keyed by ``COLUMNS`` (values as written)."""
    data = checked(report)
    out = []
    for scenario in data["scenarios"]:
        for level in scenario["levels"]:
            load = level["load"]
            for role, r in level["results"].items():
                b = data["backends"][role]
                base = {
                    "scenario": _text(scenario["name"]),
                    "shape": load["shape"],
                    "concurrency": "" if load["concurrency"] is None else str(load["concurrency"]),
                    "rate": _number(load["rate"]),
                    "backend": role,
                    "kind": _text(b["kind"]),
                    "model": _text(b["model"]),
                }

                def add(metric: str, statistic: str, value: Any, unit: str) -> None:
                    out.append(
                        {**base, "metric": metric, "statistic": statistic, "value": _number(value), "unit": unit}
                    )

                for metric in LATENCY:
                    dist = r.get(metric) or {}
                    for k in STATS:
                        add(metric, k, dist.get(k), "s")
                    add(metric, "n", dist.get("n"), "samples")
                for metric, statistic, unit, get in SCALARS:
                    add(metric, statistic, get(r), unit)
                for kind, n in r["errors_by_type"].items():
                    add("errors_by_type", kind, n, "requests")
    return out


def render_csv(report: Any) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(report))
    return buf.getvalue()


def write_csv(report: Any, path: str | os.PathLike) -> Path:
    return write_output(path, render_csv(report))
