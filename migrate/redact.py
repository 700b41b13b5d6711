"""The one masking function: everything that leaves the process from outside data goes through here.

Two concerns, one module, because every output path needs both:

* **secrets** -- ``mask_text`` (free text: URLs, code lines, error messages, header dumps), ``mask_url``
  (a URL we print or store), ``mask_data`` (a JSON-ready structure: secret-named keys and headers).
  Secret *names* stay (``OLLAMA_API_KEY`` is an inventory fact); their *values* become ``***``. A key
  the process itself sends (``--api-key-env``) is registered with ``remember_secret`` and masked by
  its exact value wherever it appears, whatever its shape: a server may echo it anywhere.
* **terminal safety** -- ``printable`` escapes control characters (ESC, OSC, DEL, U+2028, ...) in
  anything a server or a scanned file chose, so it cannot drive the user's terminal or break a line.

Patterns are deliberately generous: a masked variable name in a snippet costs nothing, a leaked key
in an inventory attached to a pull request costs a rotation.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, overload

REDACTED = "***"
# Shorter values are not remembered: masking every "abc" in a model's answer would hide text, not keys.
MIN_SECRET_CHARS = 6
_REMEMBERED: set[str] = set()  # values of the keys this process sends, longest replaced first

# Header names compared lower-cased; these are dropped whole from header maps.
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie"}
# Name segments (split on _ - . and camelCase) that make a name a credential's name.
_SECRET_SEGMENTS = {
    "key",
    "apikey",
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "auth",
    "authorization",
    "credential",
    "credentials",
    "bearer",
    "cookie",
    "signature",
}
# ...unless the name is clearly about something else ("max_tokens" has "tokens", not "token").
_NOT_SECRET_NAMES = {"key_id", "keyid", "keys", "keyword", "keywords", "token_count", "auth_type", "keep_alive"}

_COUNTING_WORDS = {
    "first",
    "last",
    "per",
    "max",
    "min",
    "num",
    "n",
    "prompt",
    "completion",
    "total",
    "input",
    "output",
    "next",
    "special",
    "eos",
    "bos",
    "pad",
    "unk",
    "sep",
    "cls",
    "mask",
    "stop",
    "end",
    "start",
    "sort",
    "primary",
    "foreign",
    "cache",
    "dict",
    "partition",
    "routing",
    "hash",
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# Well-known token shapes, masked wherever they appear.
_TOKEN_SHAPES = re.compile(
    r"""(?x)
    \bsk-(?:proj-|ant-|or-v1-)?[A-Za-z0-9_-]{16,}       # OpenAI, Anthropic, OpenRouter
  | \bhf_[A-Za-z0-9]{20,}                               # Hugging Face
  | \bgh[pousr]_[A-Za-z0-9]{20,}                        # GitHub classic
  | \bgithub_pat_[A-Za-z0-9_]{20,}                      # GitHub fine-grained
  | \bglpat-[A-Za-z0-9_-]{20,}                          # GitLab
  | \bxox[abprs]-[A-Za-z0-9-]{10,}                      # Slack
  | \bAKIA[0-9A-Z]{16}\b                                # AWS access key id
  | \bAIza[0-9A-Za-z_-]{35}                             # Google API key
  | \beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}  # JWT
    """
)
# "Bearer x" / "Basic x": a credential is long and has a digit ("a basic understanding" stays).
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{12,}")
# Both patterns start only where a name starts (lookbehind, not \b): a 1 MB line of "a.a.a..." must
# not be re-scanned from every letter (quadratic time).
_USERINFO = re.compile(
    r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://)(?:[^/\s@?#\"'<>]*@)+"
)  # to the last "@": a password may hold one
_QUERY_SECRET = re.compile(
    r"(?i)([?&](?:api[_-]?key|key|token|access_token|auth|password|secret|sig|signature)=)[^&\s\"'#]+"
)
# NAME = value / NAME: value / "NAME": "value" -- the value of a credential-named field. A value may be
# quoted (also in JS backticks), or bare: then it may carry its scheme word ("Authorization: Bearer x")
# and end at the quote of a string around the whole pair (curl -H "X-Api-Key: x").
_FIELD = re.compile(
    r"""(?P<name>["']?(?<![A-Za-z0-9_.-])(?P<bare>[A-Za-z_][A-Za-z0-9_.-]*)["']?)(?P<sep>\s*(?::|=|:=|=>)\s*)"""
    r"""(?:(?P<q>["'`])(?P<quoted>[^"'`\n]*)(?P=q)"""
    r"""|(?P<scheme>(?i:bearer|basic|token)[ \t]+)?(?P<bare_value>[^\s"'`#,;&()\[\]{}<>]++)(?![(\[]))"""
)
# A bare value that is only a string prefix (api_key=f"{...}", b'...') is not the value.
_STRING_PREFIXES = {"f", "r", "b", "u", "rb", "br", "fr", "rf"}


def name_segments(name: str) -> list[str]:
    return [s.lower() for s in re.split(r"[_\-.\s]+", _CAMEL.sub("_", name)) if s]


def is_secret_name(name: str) -> bool:
    """True when a field, env var or header name holds a credential (``OLLAMA_API_KEY``, ``X-Token``,
    ``apiKey``, ``Authorization``); false for ``max_tokens``, ``keep_alive``, ``num_keys``."""
    low = str(name).strip().strip("\"'").lower()
    if not low or low in _NOT_SECRET_NAMES:
        return False
    if low in _SECRET_HEADERS:
        return True
    segments = name_segments(str(name).strip().strip("\"'"))
    # The credential word names the thing ("api_key", "X-Token", "client_secret"); words before it that
    # make it a count or a vocabulary entry ("time_to_first_token", "eos_token") make it not a secret.
    return bool(segments) and segments[-1] in _SECRET_SEGMENTS and not (set(segments[:-1]) & _COUNTING_WORDS)


def is_secret_header(name: str) -> bool:
    return is_secret_name(name)


def _mask_field(m: re.Match) -> str:
    if not is_secret_name(m.group("bare")):
        return m.group(0)
    if m.group("q"):
        value = m.group("quoted")
        if not value or value.startswith(("{", "$")) or value == REDACTED:
            return m.group(0)  # a template or env reference ("{token}", "${API_KEY}"): not a secret
        # "Bearer sk-..." keeps its scheme word so the fact (bearer auth) survives.
        scheme = re.match(r"(?i)(bearer|basic|token)\s+", value)
        kept = scheme.group(0) if scheme else ""
        return f"{m.group('name')}{m.group('sep')}{m.group('q')}{kept}{REDACTED}{m.group('q')}"
    value = m.group("bare_value")
    if m.string[m.end() : m.end() + 1] in ("'", '"') and value.lower() in _STRING_PREFIXES:
        return m.group(0)
    if m.group("scheme"):
        if value.startswith((REDACTED, "$")):
            return m.group(0)
        return f"{m.group('name')}{m.group('sep')}{m.group('scheme')}{REDACTED}"
    if value.startswith((REDACTED, "$")) or value.lower() in (
        "none",
        "null",
        "true",
        "false",
        "bearer",
        "basic",
        "token",
    ):
        return m.group(0)
    return f"{m.group('name')}{m.group('sep')}{REDACTED}"


def remember_secret(value: str | None) -> None:
    """Register a credential this process holds (an API key read from the environment): from now on
    ``mask_text`` replaces it literally, wherever it appears. Values under ``MIN_SECRET_CHARS`` are not
    registered, and surrounding whitespace is not part of the value."""
    value = (value or "").strip()
    if len(value) >= MIN_SECRET_CHARS:
        _REMEMBERED.add(value)


def mask_text(text: str) -> str:
    """Mask credentials inside free text: the remembered keys (``remember_secret``), token shapes,
    bearer values, ``user:pass@`` in URLs, secret query parameters and the values of credential-named
    fields (``api_key="..."``, ``X-Api-Key: ...``, ``OLLAMA_API_KEY=...``)."""
    if not text:
        return text
    for secret in sorted(_REMEMBERED, key=len, reverse=True) if _REMEMBERED else ():
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _USERINFO.sub(lambda m: m.group(1), text)  # user:password@ dropped whole
    text = _TOKEN_SHAPES.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _FIELD.sub(_mask_field, text)


@overload
def mask_url(url: str) -> str: ...
@overload
def mask_url(url: None) -> None: ...
def mask_url(url: str | None) -> str | None:
    """A URL as we may print or store it: no ``user:password@``, no secret query values."""
    if url is None:
        return None
    return mask_text(str(url))


def mask_data(value: Any) -> Any:
    """A copy of JSON-ready data with secret headers dropped, secret-named values masked and every
    string, keys included (a server picks the keys of a tool call's arguments), run through
    :func:`mask_text`."""
    keys: dict[str, str] = {}  # each distinct key masked once: documents repeat their keys

    def walk(value: Any, parent: str | None) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if parent == "headers" and str(k).lower() in _SECRET_HEADERS | {"x-api-key", "api-key"}:
                    continue  # dropped, not masked: its presence is not evidence
                if isinstance(k, str):
                    shown = keys.get(k)
                    if shown is None:
                        shown = keys[k] = mask_text(k)
                else:
                    shown = k
                if isinstance(v, str) and is_secret_name(str(k)):
                    out[shown] = REDACTED if v else v
                    continue
                out[shown] = walk(v, str(k))
            return out
        if isinstance(value, (list, tuple)):
            return [walk(v, parent) for v in value]
        if isinstance(value, str):
            return mask_text(value)
        return value

    return walk(value, None)


# --- terminal safety ------------------------------------------------------------------------------

_SAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: Any, *, keep_newlines: bool = False) -> str:
    """``text`` with every control/format/separator character escaped (``\\x1b``, ``\\x7f``,
    ``\\u2028``), so outside data can neither drive a terminal nor split a line. Tabs stay; newlines
    stay only with ``keep_newlines``."""
    s = str(text)
    if s.isprintable() and "\u2028" not in s:
        return s
    out = []
    for ch in s:
        if ch == "\t" or (keep_newlines and ch == "\n"):
            out.append(ch)
        elif ch != " " and unicodedata.category(ch) in _SAFE_CATEGORIES:
            out.append(_escape(ch))
        else:
            out.append(ch)
    return "".join(out)


def has_unsafe_chars(text: str) -> bool:
    """True when ``text`` holds a control, format or line-separator character (refused in aliases,
    tags and other names that end up in YAML, shell or a terminal)."""
    return any(ch != " " and unicodedata.category(ch) in _SAFE_CATEGORIES for ch in str(text))
