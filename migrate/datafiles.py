"""The one way YAML/JSON is read: shipped data files, and files a user hands us.

User files fail with one line and exit 2 (``UsageError``), naming the file and, for a syntax error,
the line. YAML is a superset of JSON, so one parser serves both.
"""

from __future__ import annotations

import functools
import json
import os
from importlib import resources
from typing import Any

import yaml

from .errors import UsageError


@functools.lru_cache(maxsize=None)
def package_data(name: str) -> Any:
    """A data file shipped in ``migrate/data/`` (rules, catalog, metrics, ...)."""
    return yaml.safe_load(resources.files("migrate").joinpath(f"data/{name}").read_text(encoding="utf-8"))


def parse_yaml(text: str, source: str, what: str = "file") -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{where}: {what} is not valid YAML/JSON ({problem})") from None


def load_inventory(path: str | os.PathLike) -> dict:
    """An inventory file (``migrate inventory -o``); plan and generate both read it."""
    data = load_user_file(path, "inventory")
    if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
        raise UsageError(f"inventory {path}: expected an object with a models[] list")
    return data


def _read_user_text(path: str | os.PathLike, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"cannot read {what} {path}: {reason}") from None


def load_user_file(path: str | os.PathLike, what: str = "file") -> Any:
    return parse_yaml(_read_user_text(path, what), str(path), what)


def load_user_json(path: str | os.PathLike, what: str = "file") -> Any:
    """A file that must be JSON (a request body is sent as JSON: YAML there would be a surprise)."""
    text = _read_user_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
