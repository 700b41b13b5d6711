"""The inventory pipeline: every source parsed into plain dicts, then profile and risks derived from
the assembled inventory; validation against the shipped schema and the atomic write.

Data flows one way: each source module parses, ``profile`` and ``risks`` derive, ``render`` prints.
``build_inventory`` is the one library call the CLI makes.

The assembled document passes ``_stored`` last: every string (and key) through ``redact`` once more,
and stripped of what a UTF-8 file or a YAML reader cannot take (lone surrogates from undecodable file
names, control characters, DEL, U+2028), so ``plan --inventory`` always reads what was written.
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from typing import Any, Optional

from ..errors import FailedError, UnreachableError, UsageError
from ..fsutil import PRIVATE, write_atomic
from ..redact import mask_data, mask_text, printable
from . import capture
from .code import scan_code, shown_path, undecodable_escaped
from .live import DEFAULT_DEADLINE, inventory_live
from .logs import LogStats, iter_log_paths, reader
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
                ok, said = _log_file(stats.feed_file(f, named=f == p))
                warnings += said
                sources["logs"].append({"path": shown_path(f), "ok": ok})
        log_result = stats.result()
        if any(s["ok"] for s in sources["logs"]):
            ok_sources += 1
        else:
            warnings.append("no Ollama log lines recognised in any --logs source")

    code_result = None
    if code:
        sites, stats_list = [], []
        for root in code:
            r = scan_code(root)
            sites += r["sites"]
            stats_list.append(r["stats"])
            warnings += r["stats"]["warnings"]
            sources["code"].append({"path": root, "ok": True, "files_scanned": r["stats"]["files_scanned"]})
        code_result = {"sites": sites, "stats": stats_list}
        ok_sources += 1

    cap_results = []
    for p in captures:
        try:
            c = capture.parse_capture(p)
        except OSError as exc:
            warnings.append(f"capture {shown_path(p)}: {exc.strerror or exc}")
            sources["capture"].append({"path": p, "ok": False})
            continue
        cap_results.append(c)
        sources["capture"].append({"path": p, "ok": c["exchanges"] > 0})
        if c["invalid_lines"]:
            warnings.append(f"capture {shown_path(p)}: {_n(c['invalid_lines'], 'invalid line')} skipped")
        if c["oversized_lines"]:
            too_long = _n(c["oversized_lines"], "line")
            warnings.append(
                f"capture {shown_path(p)}: {too_long} longer than {_mib(capture.MAX_LINE)} skipped (line cap)"
            )
    if any(s["ok"] for s in sources["capture"]):
        ok_sources += 1

    if ok_sources == 0:
        detail = "; ".join(warnings) or "no source given"
        raise UnreachableError(f"every inventory source failed: {printable(mask_text(detail))}")

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
    return _stored(mask_data(inv))


def _log_file(info: dict) -> tuple[bool, list[str]]:
    """Whether one log file counts as a working source (it holds at least one line recognised as
    Ollama's), and the warnings that say what was skipped in it and why."""
    where = shown_path(info["path"])
    if info["skipped"]:
        return False, [f"log {where}: {info['skipped']}"]
    if info["binary"]:
        return False, [f"log {where}: binary content, skipped"]
    said = []
    recognised = info["gin"] + info["slog"] + info["other_known"]
    if info["error"] and not info["lines"]:
        return False, [f"log {where}: {info['error']}, skipped"]
    if info["error"]:
        said.append(f"log {where}: {info['error']}; the rest of the file skipped after {_n(info['lines'], 'line')}")
    if info["oversized"]:
        too_long = _n(info["oversized"], "line")
        said.append(f"log {where}: {too_long} longer than {_mib(reader.MAX_LINE)} skipped (line cap)")
    if not recognised:
        said.append(f"0 Ollama lines recognised in {where} ({_n(info['lines'], 'line')} read)")
    return recognised > 0, said


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# What a UTF-8 JSON file read back by a YAML reader cannot carry raw: C0/C1 controls but tab and
# newlines, DEL, surrogates, U+FFFE/FFFF; and the line separators YAML would fold into spaces.
_UNSTORABLE = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029]")


def _stored(value: Any, keys: Optional[dict] = None) -> Any:
    """``value`` (already through ``mask_data``) with its keys masked too (a logged path with a token in
    its query is a key of ``by_endpoint``) and every string made storable: escaped as
    ``redact.printable`` does, only where it must be (a model's multi-line system prompt keeps its
    newlines). ``keys``: the keys seen so far, masked once each."""
    keys = {} if keys is None else keys
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = keys.get(k)
            if key is None:
                key = keys[k] = _storable_text(mask_text(str(k)))
            out[key] = _stored(v, keys)
        return out
    if isinstance(value, list):
        return [_stored(v, keys) for v in value]
    if isinstance(value, str):
        return _storable_text(value)
    return value


def _storable_text(text: str) -> str:
    if not _UNSTORABLE.search(text):
        return text
    return _UNSTORABLE.sub(lambda m: printable(m.group(0)), undecodable_escaped(text))


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
