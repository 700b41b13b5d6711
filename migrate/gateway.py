"""The gateway config (the contract ``migrate generate`` writes): validate it and move weights.

Loaded with ruamel.yaml in round-trip mode so every problem points at a line of the user's file
and a weight change touches nothing but the weight values. Before ruamel sees the text it passes the
same guards as every user file (``datafiles.check_yaml_text``: size, depth, alias bombs), with a
tighter size cap: round-trip parsing costs ~4 s per MB and real gateway configs are a few KB.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import jsonschema
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .datafiles import check_yaml_text, open_user_text
from .errors import FailedError, UsageError
from .fsutil import KEEP, backup_path, write_atomic
from .metrics_catalog import load_catalog
from .redact import has_unsafe_chars, mask_text

MAX_GATEWAY_BYTES = 1024 * 1024  # docs/validate.md
# docs/validate.md: the same ceiling as `compat --timeout`; more is a unit slip (milliseconds?) or
# overflow, and no gateway should hold a request open longer.
MAX_TIMEOUT_S = 3600


@dataclass(frozen=True)
class Problem:
    line: Optional[int]  # 1-based line in the file; None when not attributable
    message: str

    def format(self, path: str | os.PathLike = "") -> str:
        where = f"{path}:{self.line}" if self.line else str(path)
        return f"{where}: {self.message}" if where else self.message


class GatewayUnreadable(UsageError):
    """The gateway file cannot be read or parsed at all (exit 2)."""


def _schema() -> dict:
    text = resources.files("migrate").joinpath("schemas/gateway.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    return y


def read_text(path: str | os.PathLike) -> str:
    """The file's text with its own line endings, or GatewayUnreadable (exit 2)."""
    try:
        with open_user_text(path, "gateway config", limit=MAX_GATEWAY_BYTES, newline="") as fh:
            return fh.read()
    except UsageError as exc:  # over the size cap
        raise GatewayUnreadable(str(exc)) from None
    except FileNotFoundError:
        raise GatewayUnreadable(f"{path}: no such file") from None
    except IsADirectoryError:
        raise GatewayUnreadable(f"{path}: is a directory") from None
    except UnicodeDecodeError as exc:
        raise GatewayUnreadable(f"{path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise GatewayUnreadable(f"{path}: cannot read: {exc.strerror or exc}") from None


def parse_text(text: str, source: str = "gateway config") -> tuple[Any, list[Problem]]:
    """Round-trip parse; a YAML syntax error becomes a Problem at its line. Text over the size cap,
    nested too deep or holding an alias bomb is refused before parsing: GatewayUnreadable (exit 2)."""
    try:
        check_yaml_text(text, source, "gateway config", limit=MAX_GATEWAY_BYTES, events=lambda t: _yaml().parse(t))
    except UsageError as exc:
        raise GatewayUnreadable(str(exc)) from None
    try:
        return _yaml().load(text), []
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid YAML"
        return None, [Problem(line, mask_text(f"invalid YAML: {msg}"))]
    except YAMLError as exc:
        return None, [Problem(None, mask_text(f"invalid YAML: {exc}"))]
    except TypeError:  # ruamel hashes keys: a mapping used as a key inside a key, `? {a: [b]}`
        return None, [Problem(None, "invalid YAML: a key that is a mapping or a list holding one")]


def _line_of(root: Any, path: list, *, value: bool = True) -> Optional[int]:
    """1-based line of the node at ``path`` (or of its deepest existing ancestor)."""
    node, line = root, None
    for key in path:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, list):
                if lc is not None and key < len(node):
                    line = lc.item(key)[0] + 1
                node = node[key]
            elif isinstance(node, dict):
                if key not in node:
                    break
                if lc is not None:
                    # A nested mapping's "value" position is its first child: point at the key.
                    at_value = value and not isinstance(node[key], (dict, list))
                    line = (lc.value(key) if at_value else lc.key(key))[0] + 1
                node = node[key]
            else:
                break
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    if line is None:
        lc = getattr(root, "lc", None)
        line = lc.line + 1 if lc is not None and lc.line is not None else None
    return line


def _dotted(path: list) -> str:
    """``models.a.backends[0].weight``: the same spelling in schema and semantic messages."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def validate_data(data: Any) -> list[Problem]:
    """Schema + semantic problems of a loaded config (plain dicts or ruamel nodes)."""
    problems: list[Problem] = []
    if data is None:
        return [Problem(1, "empty file: expected a mapping with a 'models' key")]
    problems = _key_problems(data, [])
    if problems:  # the schema and the rules below read every key as a string
        return problems
    validator = jsonschema.Draft202012Validator(_schema())
    for err in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        path = list(err.absolute_path)
        if err.validator == "additionalProperties" and err.validator_value is False:
            problems.extend(_unknown_keys(data, path, err.instance, err.schema))
            continue
        where = _dotted(path) or "(top level)"
        # A missing key is reported at the mapping that lacks it; anything else at the value.
        problems.append(Problem(_line_of(data, path), f"{where}: {err.message}"))
    problems.extend(_semantic_problems(data))
    # A message may quote a value of the file (a URL with a key in it): masked like every output.
    return sorted((Problem(p.line, mask_text(p.message)) for p in problems), key=lambda p: p.line or 0)


def _key_words(key: Any) -> str:
    if isinstance(key, (Mapping, Sequence)):
        return f"a {'mapping' if isinstance(key, Mapping) else 'list'} used as a key"
    kind = (
        "a boolean"
        if isinstance(key, bool)
        else "a number"
        if isinstance(key, (int, float))
        else "null"
        if key is None
        else "not a string"
    )
    return f"key {key!r} is {kind} (quote it)"


def _key_problems(node: Any, path: list) -> list[Problem]:
    """Every mapping key that is not a string (``? [a, b]``, ``12:``, ``null:``), at its line."""
    out: list[Problem] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str):
                out.extend(_key_problems(value, path + [key]))
                continue
            lc = getattr(node, "lc", None)
            try:
                line = lc.key(key)[0] + 1 if lc is not None else None
            except (KeyError, TypeError):
                line = None
            out.append(Problem(line, f"{_dotted(path) or '(top level)'}: {_key_words(key)}; keys must be strings"))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            out.extend(_key_problems(item, path + [i]))
    return out


def _unknown_keys(root: Any, path: list, mapping: dict, schema: dict) -> list[Problem]:
    """One problem per key the closed contract does not know, at the key's own line."""
    known = list(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    out = []
    for key in mapping:
        if key in known or any(p.search(str(key)) for p in patterns):
            continue
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}; x-* keys are yours"
        where = f"{_dotted(path)}.{key}" if path else str(key)
        out.append(Problem(_line_of(root, path + [key], value=False), f"{where}: unknown key ({hint})"))
    return out


def _semantic_problems(data: Any) -> list[Problem]:
    """Rules JSON Schema cannot express; malformed parts are skipped (the schema reported them)."""
    problems: list[Problem] = []
    catalog = load_catalog()
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        return problems
    for alias, spec in models.items():
        if has_unsafe_chars(alias):
            # Aliases land in generated YAML, scripts and terminals (generate refuses them too).
            problems.append(
                Problem(
                    _line_of(data, ["models", alias], value=False),
                    f"models: alias {alias!r} contains control or line-separator characters",
                )
            )
        if not isinstance(spec, dict) or not isinstance(spec.get("backends"), list):
            continue
        backends = [b for b in spec["backends"] if isinstance(b, dict)]
        weights = [b.get("weight") for b in backends]
        for i, b in enumerate(spec["backends"]):
            w = b.get("weight") if isinstance(b, dict) else None
            if isinstance(w, float) and w.is_integer():  # the schema's "integer" lets 50.0 through
                problems.append(
                    Problem(
                        _line_of(data, ["models", alias, "backends", i, "weight"]),
                        f"models.{alias}.backends[{i}].weight: {w!r} must be written as a whole number ({int(w)})",
                    )
                )
        if backends and all(isinstance(w, int) and not isinstance(w, bool) for w in weights):
            total = sum(w for w in weights if isinstance(w, int))
            if total != 100:
                problems.append(
                    Problem(
                        _line_of(data, ["models", alias, "backends"], value=False),
                        f"models.{alias}: backend weights sum to {total}, must be 100",
                    )
                )
        seen: dict[str, int] = {}
        for i, b in enumerate(spec["backends"]):
            if not isinstance(b, dict):
                continue
            base = ["models", alias, "backends", i]
            name = b.get("name")
            if isinstance(name, str) and has_unsafe_chars(name):
                problems.append(
                    Problem(
                        _line_of(data, base + ["name"]),
                        f"models.{alias}.backends[{i}].name: {name!r} contains control or line-separator characters",
                    )
                )
            if isinstance(name, str):
                if name in seen:
                    problems.append(
                        Problem(
                            _line_of(data, base + ["name"]),
                            f"models.{alias}: backend name {name!r} is used twice (first at backends[{seen[name]}])",
                        )
                    )
                else:
                    seen[name] = i
            if isinstance(b.get("base_url"), str):
                problem = url_problem(b["base_url"])
                if problem:
                    problems.append(
                        Problem(
                            _line_of(data, base + ["base_url"]), f"models.{alias}.backends[{i}].base_url: {problem}"
                        )
                    )
            kind = b.get("kind")
            metrics = b.get("required_metrics")
            for j, metric in enumerate(metrics if isinstance(metrics, list) else []):
                if not isinstance(metric, str):
                    continue
                line = _line_of(data, base + ["required_metrics", j])
                if not catalog.is_known(metric):
                    problems.append(
                        Problem(
                            line,
                            f"models.{alias}.backends[{i}]: unknown required metric "
                            f"{metric!r} (known: {', '.join(catalog.names())})",
                        )
                    )
                elif isinstance(kind, str):
                    em = catalog.lookup(metric, kind)
                    if em is not None and em.name is None:
                        problems.append(
                            Problem(line, f"models.{alias}.backends[{i}]: {kind} exposes no metric for {metric!r}")
                        )
            problems.extend(_timeout_problems(data, base, b))
        problems.extend(_timeout_problems(data, ["models", alias], spec))
    return problems


_SCHEMA_TIMEOUTS = ("timeout_seconds", "default_timeout_seconds")  # the schema checks their type and sign


def _timeout_problems(root: Any, path: list, mapping: dict) -> list[Problem]:
    """Any ``*timeout*`` key, including ones the schema does not name, must be a finite positive number
    of seconds, at most MAX_TIMEOUT_S (the schema alone lets ``.nan`` and 1e26 through)."""
    out = []
    for key, value in mapping.items():
        if "timeout" not in str(key):
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if key in _SCHEMA_TIMEOUTS and not (number and not value <= 0):
            continue  # not a number, or <= 0: the schema said so already
        if not number or not 0 < value <= MAX_TIMEOUT_S:
            shown = repr(value) if not number or abs(value) < 1e15 else f"{value:.3g}"
            out.append(
                Problem(
                    _line_of(root, path + [key]),
                    f"{_dotted(path + [key])}: timeout must be a positive number of seconds up to "
                    f"{MAX_TIMEOUT_S}, got {shown}",
                )
            )
    return out


def url_problem(url: str) -> Optional[str]:
    if url != url.strip() or any(c.isspace() for c in url):
        return f"{url!r} contains whitespace"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        return f"{url!r} is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"{url!r} must start with http:// or https://"
    if not parts.hostname:
        return f"{url!r} has no host"
    if parts.username or parts.password:
        # Secrets belong in env vars, never in a file that is committed and reviewed.
        return "credentials in the URL; reference an environment variable instead"
    if parts.query or parts.fragment:
        # Not quoted: a query or fragment in a base URL is where keys get pasted.
        shown = parts._replace(query="", fragment="").geturl()
        return f"{shown!r} has a query or fragment (not shown); must be a server root or /v1 root without one"
    del port
    return None


def validate_text(text: str, source: str = "gateway config") -> list[Problem]:
    data, problems = parse_text(text, source)
    return problems or validate_data(data)


def validate_file(path: str | os.PathLike) -> list[Problem]:
    """Problems of the file at ``path`` (empty = valid). Unreadable file: GatewayUnreadable (exit 2)."""
    return validate_text(read_text(path), str(path))


# --- weights ------------------------------------------------------------------------------------


def split_weights(current: dict[str, int], backend: str, weight: int) -> dict[str, int]:
    """Give ``backend`` ``weight`` and scale the others so the alias still sums to 100.

    Others keep their proportions (largest-remainder rounding to integers); if they all had 0,
    the remainder is shared equally. With no other backend the alias cannot sum to 100 unless
    ``weight`` is 100; the caller's validation then refuses the change.
    """
    if backend not in current:
        raise KeyError(backend)
    if not 0 <= weight <= 100:
        raise ValueError(f"weight must be 0..100, got {weight}")
    others = [n for n in current if n != backend]
    result = {n: current[n] for n in current}
    result[backend] = weight
    if not others:
        return result
    remaining = 100 - weight
    total = sum(current[n] for n in others)
    exact = {n: (remaining * current[n] / total if total > 0 else remaining / len(others)) for n in others}
    floors = {n: math.floor(exact[n]) for n in others}
    leftover = remaining - sum(floors.values())
    # Largest remainder first; ties keep file order so the result is deterministic.
    order = sorted(others, key=lambda n: (-(exact[n] - floors[n]), others.index(n)))
    for n in order[:leftover]:
        floors[n] += 1
    result.update(floors)
    return result


def _find(data: Any, alias: str, backend: Optional[str] = None):
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict) or alias not in models:
        known = ", ".join(models) if isinstance(models, dict) else "none"
        raise UsageError(f"alias {alias!r} not in the gateway config (aliases: {known})")
    backends = models[alias].get("backends") if isinstance(models[alias], dict) else None
    if not isinstance(backends, list):
        raise UsageError(f"alias {alias!r} has no backends list")
    if backend is not None and not any(isinstance(b, dict) and b.get("name") == backend for b in backends):
        names = ", ".join(str(b.get("name")) for b in backends if isinstance(b, dict))
        raise UsageError(f"backend {backend!r} not in alias {alias!r} (backends: {names})")
    return backends


@dataclass(frozen=True)
class ComparePair:
    """The two ends of an alias to compare (plain dicts of the gateway's backend entries)."""

    old: dict
    new: dict
    required_metrics: list[str]


def _is_ollama_backend(b: dict) -> bool:
    # Ollama's native API sits at the server root; OpenAI-compatible engines at /v1.
    return "ollama" in str(b["name"]).lower() or not str(b["base_url"]).rstrip("/").endswith("/v1")


def compare_pair(
    path: str | os.PathLike, alias: str, old_name: Optional[str] = None, new_name: Optional[str] = None
) -> ComparePair:
    """Both ends of ``alias`` in a valid gateway file: the Ollama backend (or ``old_name``) is old,
    the heaviest other backend (or ``new_name``) is new; required metrics are the new one's.
    Any problem (invalid file, unknown alias/backend, nothing to compare) is a UsageError (exit 2)."""
    text = read_text(path)  # read once: a pipe (``--gateway <(...)``) cannot be read twice
    problems = validate_text(text, str(path))
    if problems:
        raise UsageError(f"{path} is not a valid gateway config: {problems[0].format(path)}")
    data, _ = parse_text(text, str(path))
    backends = [b for b in _find(data, alias) if isinstance(b, dict)]

    def pick(name: Optional[str], default):
        if name is None:
            return default
        _find(data, alias, name)  # unknown name: exit 2 listing the alias's backends
        return next(b for b in backends if b.get("name") == name)

    old = pick(old_name, next((b for b in backends if _is_ollama_backend(b)), None))
    if old is None:
        raise UsageError(f"alias {alias!r}: no Ollama backend found; name one with --old-backend")
    rest = [b for b in backends if b is not old]
    new = pick(new_name, max(rest, key=lambda b: b.get("weight", 0)) if rest else None)
    if new is None or new is old:
        raise UsageError(f"alias {alias!r}: needs a second backend to compare")
    return ComparePair(
        old=dict(old), new=dict(new), required_metrics=[str(m) for m in new.get("required_metrics") or []]
    )


def base_urls(path: str | os.PathLike, alias: str) -> dict[str, str]:
    """Backend name -> base_url for one alias of a gateway file."""
    data, _ = parse_text(read_text(path), str(path))
    # str(): ruamel keeps quoting in str subclasses that plain YAML/JSON dumpers refuse.
    return {str(b.get("name")): str(b.get("base_url")) for b in _find(data, alias)}


def alias_weights(data: Any, alias: str) -> dict[str, Any]:
    return {str(b.get("name")): b.get("weight") for b in _find(data, alias) if isinstance(b, dict)}


def read_weight(path: str | os.PathLike, alias: str, backend: str) -> int:
    """``backend``'s weight in ``alias`` of a gateway file (the file must be valid)."""
    return weight_in_text(read_text(path), path, alias, backend)


def weight_in_text(text: str, path: str | os.PathLike, alias: str, backend: str) -> int:
    """The same from text already read (a pipe can be read only once)."""
    data, problems = parse_text(text, str(path))
    problems = problems or validate_data(data)
    if problems:
        raise FailedError(f"{path} is not a valid gateway config: {problems[0].format(path)}")
    _find(data, alias, backend)
    return int(alias_weights(data, alias)[backend])


_NUMBER = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")


def set_weights(path: str | os.PathLike, alias: str, backend: str, weight: int) -> dict:
    """Set ``backend``'s weight in ``alias`` (others scaled to keep 100) in place.

    Only the weight value tokens change: ruamel's round-trip positions locate each value and the
    token is replaced where it stands, so comments, quoting, key order, indentation and line
    endings are byte-identical (a full re-dump can re-indent or re-wrap lines). The result is
    re-parsed and validated before anything is written; a result that would not validate is
    refused (exit 1) and the file is left untouched. The previous file is kept as ``<path>.bak``.
    """
    path = Path(path)
    text = read_text(path)
    data, problems = parse_text(text, str(path))
    if problems:
        raise FailedError(f"refused: {problems[0].format(path)}")
    backends = _find(data, alias, backend)
    current = {}
    for b in backends:
        w = b.get("weight")
        if isinstance(w, bool) or not isinstance(w, int):
            raise FailedError(f"refused: {path}: models.{alias}: weight of {b.get('name')!r} is not an integer ({w!r})")
        current[str(b.get("name"))] = w
    if len(current) != len(backends):
        raise FailedError(f"refused: {path}: models.{alias} has duplicate backend names")
    target = split_weights(current, backend, int(weight))

    lines = text.splitlines(keepends=True)
    for b in backends:
        new = target[str(b["name"])]
        if new == b["weight"]:
            continue
        line, col = b.lc.value("weight")
        m = _NUMBER.match(lines[line], col)
        if m is None:  # e.g. an anchor/alias or tag in front of the value
            raise FailedError(f"refused: {path}:{line + 1}: cannot locate the weight value to edit")
        lines[line] = lines[line][: m.start()] + str(new) + lines[line][m.end() :]
    new_text = "".join(lines)

    new_data, problems = parse_text(new_text, str(path))
    problems = problems or validate_data(new_data)
    if problems:
        detail = "; ".join(p.format(path) for p in problems[:3])
        raise FailedError(f"refused: the result would not validate ({detail}); {path} left unchanged")
    if alias_weights(new_data, alias) != target:  # the edit must say exactly what we meant
        raise FailedError(f"refused: {path}: the edited weights did not read back as {target}")

    backup = backup_path(path)
    if new_text != text:
        # newline="": the text already carries the file's own line endings (CRLF stays CRLF).
        # backup=True: the .bak keeps the file's mode and appears only once the edit is in place.
        write_atomic(path, new_text, mode=KEEP, newline="", backup=True)
    return {
        "path": str(path),
        "alias": alias,
        "backend": backend,
        "before": current,
        "after": target,
        "changed": new_text != text,
        "backup": str(backup) if new_text != text else None,
    }
