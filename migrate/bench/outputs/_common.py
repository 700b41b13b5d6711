"""What the bench's output formats share: the one entry (the report validated and masked, as the JSON
writer sees it), level and backend labels, and the rows of the side-by-side tables."""

from __future__ import annotations

from typing import Any, Callable, Optional

from ...report._common import prepare
from ..report import report_errors

Getter = Callable[[dict], Optional[float]]


def checked(report: Any) -> dict:
    """The report as every writer renders it: plain JSON, secrets masked, and valid against its schema
    (a report breaking its own contract is a bug and is never rendered)."""
    data = prepare(report)
    errors = report_errors(data)
    if errors:
        raise ValueError(f"the bench report breaks its schema: {errors[0]}")
    return data


def level_label(level: dict) -> str:
    load = level["load"]
    if load["shape"] == "concurrency":
        return f"concurrency {load['concurrency']}"
    return f"{load['shape']} {load['rate']:g}/s"


def level_x(level: dict) -> Optional[float]:
    """The level's position on a sweep axis: its concurrency, or its rate for an open loop."""
    load = level["load"]
    return load["concurrency"] if load["shape"] == "concurrency" else load["rate"]


def backend_title(report: dict, role: str) -> str:
    b = report["backends"][role]
    return f"{role}: {b['kind']} {b['model']}"


def _stat(metric: str, key: str) -> Getter:
    return lambda r: (r.get(metric) or {}).get(key)


def ms(x: Optional[float]) -> str:
    return "–" if x is None else f"{x * 1000:.1f}"


def num(x: Optional[float]) -> str:
    return "–" if x is None else f"{x:.2f}"


# (label, getter, formatter, ratio key): latencies in milliseconds, rates as given. The ratio key
# points into the level's ``ratios`` (new/old as the pipeline computed it), None where there is none.
ROWS: list[tuple[str, Getter, Callable[[Optional[float]], str], Optional[tuple[str, ...]]]] = [
    *[
        (f"{label} {k} (ms)", _stat(metric, k), ms, (metric, k))
        for metric, label in (("ttft", "TTFT"), ("tpot", "TPOT"), ("itl", "ITL"), ("e2e", "E2E"))
        for k in ("p50", "p95", "p99")
    ],
    ("requests/s", lambda r: r.get("request_throughput"), num, ("request_throughput",)),
    ("output tokens/s", lambda r: r.get("output_tokens_per_s"), num, ("output_tokens_per_s",)),
    ("input tokens/s", lambda r: r.get("input_tokens_per_s"), num, ("input_tokens_per_s",)),
    ("queue delay p50 (ms)", _stat("queue_delay", "p50"), ms, None),
    ("queue delay p99 (ms)", _stat("queue_delay", "p99"), ms, None),
    ("server TPOT p50 (ms)", _stat("server_tpot", "p50"), ms, None),
    ("client lateness p99 (ms)", _stat("lateness", "p99"), ms, None),
]


def ratio_of(level: dict, key: Optional[tuple[str, ...]]) -> Optional[float]:
    value: Any = level.get("ratios")
    if key is None:
        return None
    for part in key:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value if isinstance(value, (int, float)) else None


def ratio_text(x: Optional[float]) -> str:
    return "–" if x is None else f"{x:.2f}×"


def counts(r: dict) -> str:
    return f"{r['completed']}/{r['requests']}"


def errors_text(r: dict) -> str:
    if not r["errors"]:
        return "0"
    return f"{r['errors']} (" + ", ".join(f"{n} {k}" for k, n in r["errors_by_type"].items()) + ")"


def goodput_text(r: dict) -> str:
    g = r.get("goodput")
    return "–" if not g else f"{g['fraction'] * 100:.0f}% ({g['requests']})"


def table(report: dict, level: dict) -> tuple[list[str], list[list[str]]]:
    """The side-by-side table of one level: header cells and rows of plain text (callers escape)."""
    roles = list(report["backends"])
    pair = roles == ["old", "new"]
    results = level["results"]
    head = ["metric", *[backend_title(report, r) for r in roles], *(["new/old"] if pair else [])]
    rows: list[list[str]] = []

    def add(label: str, cells: list[str], ratio: str = "") -> None:
        rows.append([label, *cells, *([ratio] if pair else [])])

    add("completed/requests", [counts(results[r]) if r in results else "–" for r in roles])
    add("errors", [errors_text(results[r]) if r in results else "–" for r in roles])
    for label, get, fmt, key in ROWS:
        values = [get(results[r]) if r in results else None for r in roles]
        if all(v is None for v in values):
            continue
        add(label, [fmt(v) for v in values], ratio_text(ratio_of(level, key)))
    if report["config"]["slo"]:
        add("goodput", [goodput_text(results[r]) if r in results else "–" for r in roles])
    return head, rows


def slo_text(report: dict) -> str:
    slo = report["config"]["slo"]
    return ", ".join(f"{k} ≤ {v:g} s" for k, v in slo.items()) if slo else "none"


def load_text(report: dict) -> str:
    load = report["config"]["load"]
    if load["shape"] == "concurrency":
        what = "concurrency " + ",".join(str(c) for c in load["concurrency"])
    else:
        what = f"{load['shape']} {load['rate']:g}/s"
    per = f"{load['requests']} requests" if load.get("requests") else f"{load.get('duration_s')} s"
    return f"{what}, {per} per level, warmup {load.get('warmup')}"
