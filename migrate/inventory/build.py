"""The inventory pipeline: every source parsed into plain dicts, then profile and risks derived from
the assembled inventory; validation against the shipped schema and the atomic write.

Data flows one way: each source module parses, ``profile`` and ``risks`` derive, ``render`` prints.
``build_inventory`` is the one library call the CLI makes.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from typing import Optional

from ..errors import FailedError, UnreachableError, UsageError
from ..fsutil import PRIVATE, write_atomic
from .capture import parse_capture
from .code import scan_code
from .live import DEFAULT_DEADLINE, inventory_live
from .logs import LogStats, iter_log_paths
from .profile import build_profile
from .risks import assess

SCHEMA_VERSION = "1.0"


def check_paths(logs: list[str], code: list[str], captures: list[str]) -> None:
    """Fail early (exit 2) naming the first unreadable path."""
    for p in logs:
        if p == "-":
            continue
        if not os.path.exists(p) or not os.access(p, os.R_OK):
            raise UsageError(f"cannot read log path {p}")
    for p in code:
        if not os.path.isdir(p) or not os.access(p, os.R_OK | os.X_OK):
            raise UsageError(f"cannot read code directory {p}")
    for p in captures:
        if not os.path.isfile(p) or not os.access(p, os.R_OK):
            raise UsageError(f"cannot read capture file {p}")


def build_inventory(
    ollama: Optional[str] = None,
    logs: tuple = (),
    code: tuple = (),
    captures: tuple = (),
    ollama_timeout: float = DEFAULT_DEADLINE,
) -> dict:
    logs, code, captures = list(logs), list(code), list(captures)
    check_paths(logs, code, captures)
    warnings: list[str] = []
    sources: dict = {"ollama": None, "logs": [], "code": [], "capture": []}
    ok_sources = 0

    live = None
    if ollama:
        live = inventory_live(ollama, deadline=ollama_timeout)
        # live["url"] is the masked URL: the one that may be printed or stored
        sources["ollama"] = {"url": live["url"], "ok": live["ok"], "error": live["error"], "version": live["version"]}
        warnings += [f"ollama: {w}" for w in live["warnings"]]
        if live["ok"]:
            ok_sources += 1
        else:
            warnings.append(f"Ollama at {live['url']}: {live['error']}; inventory is partial")

    log_result = None
    if logs:
        stats = LogStats()
        for p in logs:
            for f in iter_log_paths(p):
                try:
                    info = stats.feed_file(f)
                except OSError as exc:
                    warnings.append(f"log {f}: {exc.strerror or exc}")
                    sources["logs"].append({"path": f, "ok": False})
                    continue
                if info["binary"]:
                    warnings.append(f"log {f}: binary content, skipped")
                sources["logs"].append({"path": f, "ok": not info["binary"]})
        log_result = stats.result()
        if any(s["ok"] for s in sources["logs"]):
            ok_sources += 1
        else:
            warnings.append("no readable log content")

    code_result = None
    if code:
        sites, stats_list = [], []
        for root in code:
            r = scan_code(root)
            sites += r["sites"]
            stats_list.append(r["stats"])
            sources["code"].append({"path": root, "ok": True, "files_scanned": r["stats"]["files_scanned"]})
        code_result = {"sites": sites, "stats": stats_list}
        ok_sources += 1

    cap_results = []
    for p in captures:
        try:
            c = parse_capture(p)
        except OSError as exc:
            warnings.append(f"capture {p}: {exc.strerror or exc}")
            sources["capture"].append({"path": p, "ok": False})
            continue
        cap_results.append(c)
        sources["capture"].append({"path": p, "ok": c["exchanges"] > 0})
        if c["invalid_lines"]:
            warnings.append(f"capture {p}: {c['invalid_lines']} invalid lines skipped")
    if any(s["ok"] for s in sources["capture"]):
        ok_sources += 1

    if ok_sources == 0:
        detail = "; ".join(warnings) or "no source given"
        raise UnreachableError(f"every inventory source failed: {detail}")

    models = live["models"] if live and live["ok"] else []
    traffic = (log_result or {}).get("traffic") or _empty_traffic()
    inv = {
        "schema_version": SCHEMA_VERSION,
        "ollama": (
            {
                "url": live["url"],
                "version": live["version"],
                "default_num_ctx": live["default_num_ctx"],
                "default_num_parallel": live["default_num_parallel"],
            }
            if live and live["ok"]
            else None
        ),
        "sources": sources,
        "warnings": warnings,
        "models": models,
        "traffic": traffic,
        "server_config": (log_result or {}).get("server_config") or [],
        "log_details": (
            {k: v for k, v in log_result.items() if k not in ("traffic", "server_config")} if log_result else None
        ),
        "code_sites": (code_result or {}).get("sites") or [],
        "code_stats": (code_result or {}).get("stats") or [],
        "captures": cap_results,
    }
    inv["profile"] = build_profile(models, log_result, code_result, cap_results)
    inv["risks"] = assess(inv)
    return inv


def _empty_traffic() -> dict:
    return {
        "requests": 0,
        "by_endpoint": {},
        "by_status": {},
        "latency": {},
        "peak_concurrency_estimate": None,
        "truncation_events": 0,
    }


def load_schema() -> dict:
    return json.loads(resources.files("migrate").joinpath("schemas/inventory.schema.json").read_text())


def validate(inv: dict) -> None:
    import jsonschema

    try:
        jsonschema.validate(inv, load_schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise FailedError(f"inventory does not match its schema at {where}: {exc.message}") from None


def write_inventory(inv: dict, path: str) -> None:
    """Validate first, then write atomically (temp file in the same directory + rename)."""
    validate(inv)
    text = json.dumps(inv, indent=2, ensure_ascii=False, default=str) + "\n"
    try:
        write_atomic(path, text, mode=PRIVATE)
    except OSError as exc:  # e.g. missing directory, no permission, path is a directory
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
