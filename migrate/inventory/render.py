"""Human summary: rich tables for models, traffic, usage sites, profile and risks.

Everything that came from outside (file names, snippets, model names, log paths, server answers)
goes through ``_t``: control characters escaped (``redact.printable``: no terminal escape from a
scanned file) and rich markup escaped (a file named ``[red]x`` prints as it is named).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..redact import printable


def _t(value: Any) -> str:
    return escape(printable(value))


def render(inv: dict, console: Console) -> None:
    o = inv.get("ollama")
    if o:
        console.print(f"[bold]Ollama[/] {_t(o['url'])} version {_t(o['version'] or '?')}")
    for w in inv.get("warnings") or []:
        console.print(f"[yellow]warning:[/] {_t(w)}")
    if inv["models"]:
        t = Table(title="Models")
        for col in (
            "name",
            "family",
            "params",
            "quant",
            "trained ctx",
            "effective ctx",
            "capabilities",
            "Modelfile defaults",
        ):
            t.add_column(col)
        for m in inv["models"]:
            params = ", ".join(f"{k}={v}" for k, v in (m.get("parameters") or {}).items() if k != "stop")
            t.add_row(
                _t(m["name"]),
                _t(m.get("family") or "-"),
                _t(m.get("parameter_size") or "-"),
                _t(m.get("quantization") or "-"),
                _t(m.get("context_length") or "-"),
                _t(m.get("effective_context") or "-")
                + (" (ps)" if m.get("effective_context_source") == "api/ps" else ""),
                _t(",".join(m.get("capabilities") or []) or "-"),
                _t(params or "-"),
            )
        console.print(t)
    tr = inv["traffic"]
    if tr.get("requests"):
        t = Table(
            title=f"Traffic ({tr['requests']} requests, peak concurrency ~{tr.get('peak_concurrency_estimate')}, "
            f"peak {tr.get('requests_per_minute_peak')}/min)"
        )
        for col in ("endpoint", "requests", "statuses", "p50 s", "p95 s", "max s"):
            t.add_column(col)
        for path, n in tr["by_endpoint"].items():
            lat = tr["latency"].get(path) or {}
            st = " ".join(f"{k}:{v}" for k, v in (tr.get("by_path_status") or {}).get(path, {}).items())
            t.add_row(_t(path), str(n), _t(st), _f(lat.get("p50_s")), _f(lat.get("p95_s")), _f(lat.get("max_s")))
        console.print(t)
    if tr.get("truncation_events") or tr.get("queue_full_events"):
        console.print(
            f"truncation events: {tr.get('truncation_events', 0)}  queue-full: "
            f"{tr.get('queue_full_events', 0)}  5xx: {tr.get('errors_5xx', 0)}"
        )
    for cfg in inv.get("server_config") or []:
        keys = ("OLLAMA_NUM_PARALLEL", "OLLAMA_CONTEXT_LENGTH", "OLLAMA_MAX_QUEUE", "OLLAMA_KEEP_ALIVE", "OLLAMA_HOST")
        shown = ", ".join(f"{k}={cfg['env'][k]}" for k in keys if k in cfg["env"])
        console.print(
            f"server config {_t(cfg['source'])}:{cfg['line']} ({len(cfg['env'])} keys"
            f"{', cut off' if cfg['truncated'] else ''}): {_t(shown)}"
        )
    sites = [s for s in inv.get("code_sites") or [] if s["kind"] != "mention"]
    if sites:
        t = Table(title=f"Usage sites ({len(sites)}; mentions left out)")
        for col in ("file:line", "kind", "endpoint", "models", "Ollama-only params"):
            t.add_column(col)
        for s in sites[:60]:
            t.add_row(
                f"{_t(s['file'])}:{s['line']}",
                _t(s["kind"]),
                _t(s.get("endpoint") or "-"),
                _t(",".join(s.get("models") or []) or "-"),
                _t(",".join(s.get("ollama_params") or []) or "-"),
            )
        console.print(t)
    p = inv["profile"]
    t = Table(title="Workload profile")
    t.add_column("key")
    t.add_column("value")
    for k in (
        "context_need",
        "p95_prompt_tokens",
        "p95_output_tokens",
        "peak_concurrency",
        "streaming_share",
        "tools",
        "structured",
        "moe",
        "quantizations",
        "families",
        "models",
    ):
        v = p.get(k)
        t.add_row(k, _t(", ".join(map(str, v)) if isinstance(v, list) else v))
    console.print(t)
    if inv["risks"]:
        t = Table(title="Migration risks")
        for col in ("severity", "id", "evidence", "fix"):
            t.add_column(col)
        for r in inv["risks"]:
            t.add_row(_t(r["severity"]), _t(r["id"]), "\n".join(map(_t, r["evidence"][:4])), _t(r["fix"]))
        console.print(t)


def _f(x):
    return "-" if x is None else f"{x:.3f}"
