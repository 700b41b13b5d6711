"""Cases are data: YAML files validated against ``compat_suite/schemas/case.schema.json``.

The built-in files ship in ``compat_suite/cases/``; users add their own the same way with
``--cases FILE|DIR``. A message entry that is itself a list (a YAML alias to a shared history)
is spliced into the conversation, so histories can be written once per file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Iterable, Optional

import jsonschema

from migrate.datafiles import parse_yaml, read_user_text
from migrate.errors import UsageError
from migrate.report.contract import CATEGORIES

from .checks import DEFAULT_CHECKS, REGISTRY
from .kinds import CASE_KINDS


@dataclass
class Case:
    id: str
    category: str
    description: str = ""
    kind: str = "chat"
    request: dict = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    repeats: Optional[int] = None
    latency_class: str = ""
    reduced: bool = False
    params: dict = field(default_factory=dict)
    source: str = ""


def schema() -> dict:
    return json.loads(files("migrate.compat_suite").joinpath("schemas/case.schema.json").read_text())


def builtin_files() -> list:
    root = files("migrate.compat_suite").joinpath("cases")
    return sorted((p for p in root.iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)


def _flatten_messages(messages: list) -> list:
    out: list = []
    for m in messages:
        if isinstance(m, list):
            out.extend(_flatten_messages(m))
        else:
            out.append(m)
    return out


def parse_file(text: str, source: str) -> list[Case]:
    data = parse_yaml(text, source, "case file")
    # Splice shared histories before validating, so the schema sees the real message list.
    if isinstance(data, dict):
        for case in data.get("cases") or []:
            req = case.get("request") if isinstance(case, dict) else None
            if isinstance(req, dict) and isinstance(req.get("messages"), list):
                req["messages"] = _flatten_messages(req["messages"])
    errors = sorted(jsonschema.Draft202012Validator(schema()).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        path = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise UsageError(f"{source}: {path}: {err.message}")
    category = data["category"]
    cases = []
    for raw in data["cases"]:
        cid = raw["id"]
        if not cid.startswith(category + "."):
            raise UsageError(f"{source}: case {cid!r} must start with its category '{category}.'")
        request = dict(raw.get("request") or {})
        kind = raw.get("kind") or ("stream" if request.get("stream") else "chat")
        if CASE_KINDS[kind].needs_messages and not request.get("messages"):
            raise UsageError(f"{source}: case {cid!r} needs request.messages")
        checks = list(raw.get("checks") or CASE_KINDS[kind].default_checks or DEFAULT_CHECKS.get(category, []))
        unknown = [c for c in checks if c not in REGISTRY]
        if unknown:
            raise UsageError(f"{source}: case {cid!r}: unknown check(s) {unknown}")
        cases.append(
            Case(
                id=cid,
                category=category,
                description=raw.get("description", ""),
                kind=kind,
                request=request,
                checks=checks,
                repeats=raw.get("repeats"),
                latency_class=raw.get("latency_class") or category,
                reduced=bool(raw.get("reduced", False)),
                params=dict(raw.get("params") or {}),
                source=source,
            )
        )
    return cases


def _user_files(paths: Iterable[str]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(list(path.glob("*.yaml")) + list(path.glob("*.yml")))
            if not found:
                raise UsageError(f"{p}: no *.yaml case files in this directory")
            out.extend(found)
        elif path.exists():
            out.append(path)  # a FIFO (``--cases <(...)``) is read as a stream; a device is refused when read
        else:
            raise UsageError(f"{p}: no such file or directory")
    return out


def load_cases(
    extra: Iterable[str] = (),
    *,
    builtin: bool = True,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
    reduced: bool = False,
) -> list[Case]:
    """Built-in cases plus user files/dirs, filtered by category; ids must be unique."""
    only, skip = set(only), set(skip)
    for name in only | skip:
        if name not in CATEGORIES:
            raise UsageError(f"unknown category {name!r} (one of: {', '.join(CATEGORIES)})")
    cases: list[Case] = []
    if builtin:
        for f in builtin_files():
            cases.extend(parse_file(f.read_text(encoding="utf-8"), f"compat_suite/cases/{f.name}"))
    for path in _user_files(extra):
        # The one reader of users' files: size-capped; parse_file then refuses alias bombs and deep nesting.
        cases.extend(parse_file(read_user_text(path, "case file"), str(path)))
    seen: dict[str, str] = {}
    for c in cases:
        if c.id in seen:
            raise UsageError(f"{c.source}: duplicate case id {c.id!r} (also in {seen[c.id]})")
        seen[c.id] = c.source
    selected = [
        c
        for c in cases
        if (not only or c.category in only)
        and c.category not in skip
        and (not reduced or c.reduced or not c.source.startswith("compat_suite/"))
    ]
    return selected
