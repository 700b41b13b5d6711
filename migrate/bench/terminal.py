"""The bench report on a terminal: one rich table per level, the backends side by side with new/old.

Everything a server could influence (model names, error messages) goes through ``printable``; rich
markup in it is escaped.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..redact import printable

Getter = Callable[[dict], Optional[float]]


def _stat(metric: str, key: str) -> Getter:
    return lambda r: (r.get(metric) or {}).get(key)


def _server(*path: str) -> Getter:
    """A value under the result's ``server`` object (the engine's /metrics), None when not measured."""

    def get(r: dict) -> Optional[float]:
        node: Any = r.get("server") or {}
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node if isinstance(node, (int, float)) else None

    return get


def _ms(x: Optional[float]) -> str:
    return "-" if x is None else f"{x * 1000:.1f}"


def _num(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.2f}"


def _pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{x * 100:.1f}"


# (label, getter, formatter): latency rows in milliseconds, rates as given.
ROWS: list[tuple[str, Getter, Callable[[Optional[float]], str]]] = [
    *[(f"TTFT {k} (ms)", _stat("ttft", k), _ms) for k in ("p50", "p90", "p99", "mean")],
    *[(f"TPOT {k} (ms)", _stat("tpot", k), _ms) for k in ("p50", "p90", "p99")],
    *[(f"ITL {k} (ms)", _stat("itl", k), _ms) for k in ("p50", "p99")],
    *[(f"E2E {k} (ms)", _stat("e2e", k), _ms) for k in ("p50", "p90", "p99")],
    ("requests/s", lambda r: r.get("request_throughput"), _num),
    ("output tokens/s", lambda r: r.get("output_tokens_per_s"), _num),
    ("input tokens/s", lambda r: r.get("input_tokens_per_s"), _num),
    ("queue delay p50 (ms)", _stat("queue_delay", "p50"), _ms),
    ("queue delay p99 (ms)", _stat("queue_delay", "p99"), _ms),
    ("server TPOT p50 (ms)", _stat("server_tpot", "p50"), _ms),
    ("client lateness p99 (ms)", _stat("lateness", "p99"), _ms),
    ("/metrics queue p50 (ms)", _server("histograms", "queue_time", "p50"), _ms),
    ("/metrics queue mean (ms)", _server("histograms", "queue_time", "mean"), _ms),
    # The means: exact from _sum/_count, where a percentile is only as fine as the engine's buckets.
    ("/metrics TTFT mean (ms)", _server("histograms", "ttft", "mean"), _ms),
    ("client - /metrics TTFT mean (ms)", _server("histograms", "ttft", "client_minus_server", "mean"), _ms),
    ("/metrics KV cache peak (%)", _server("gauges", "kv_cache_usage", "peak"), _pct),
    ("/metrics waiting peak", _server("gauges", "waiting", "peak"), _num),
    ("/metrics prefix-cache hits (%)", _server("prefix_cache", "hit_rate"), _pct),
]
NO_RATIO = {"client - /metrics TTFT mean (ms)"}  # a difference: its new/old ratio means nothing


def _counts(r: dict) -> str:
    text = f"{r['completed']}/{r['requests']}"
    if r["errors"]:
        text += " (" + ", ".join(f"{n} {k}" for k, n in r["errors_by_type"].items()) + ")"
    return text


def _goodput(r: dict) -> str:
    g = r.get("goodput")
    return "-" if not g else f"{g['fraction'] * 100:.0f}% ({g['requests']})"


def render(report: dict, console: Console) -> None:
    roles = list(report["backends"])
    pair = roles == ["old", "new"]
    for scenario in report["scenarios"]:
        for level in scenario["levels"]:
            load = level["load"]
            what = (
                f"concurrency {load['concurrency']}"
                if load["shape"] == "concurrency"
                else f"{load['shape']} {load['rate']:g}/s"
            )
            table = Table(title=escape(printable(f"{scenario['name']} - {what}")), title_justify="left")
            table.add_column("metric")
            for role in roles:
                b = report["backends"][role]
                table.add_column(escape(printable(f"{role}: {b['kind']} {b['model']}")), justify="right")
            if pair:
                table.add_column("new/old", justify="right")
            results = level["results"]
            table.add_row(
                "completed/requests",
                *[_counts(results[r]) if r in results else "-" for r in roles],
                *([""] if pair else []),
            )
            for label, get, fmt in ROWS:
                values = [get(results[r]) if r in results else None for r in roles]
                if all(v is None for v in values):
                    continue
                cells = [fmt(v) for v in values]
                if pair and label in NO_RATIO:
                    cells.append("")
                elif pair:
                    old, new = values
                    cells.append("-" if old in (None, 0) or new is None else f"x{new / old:.2f}")
                table.add_row(label, *cells)
            if report["config"]["slo"]:
                table.add_row(
                    "goodput", *[_goodput(results[r]) if r in results else "-" for r in roles], *([""] if pair else [])
                )
            console.print(table)
    notes: list[Any] = report["summary"]["not_measured"]
    if notes:
        console.print("not measured:")
        for note in notes:
            console.print(f"  - {escape(printable(note))}")
