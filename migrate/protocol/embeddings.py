"""Embeddings on the wire: Ollama ``/api/embed`` (a batch of inputs), Ollama's legacy
``/api/embeddings`` (one ``prompt`` per request) and OpenAI ``/v1/embeddings``.

``encode`` and ``decode`` are pure and work on recorded payloads; ``embed_async`` sends through the
one HTTP client (``fetch_async``) and returns the canonical :class:`Embeddings`. Facts (Ollama and
OpenAI API documentation): ``/api/embed`` answers ``{"embeddings": [[...]], "prompt_eval_count"}``
with L2-normalised vectors; the legacy route answers ``{"embedding": [...]}``, not normalised;
OpenAI answers ``{"data": [{"index", "embedding"}], "usage": {"prompt_tokens"}}`` where an
``embedding`` is a float list, or base64 of little-endian float32 when ``encoding_format`` is
``base64``.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass
from typing import Any, Optional

from ..exchange import ErrorInfo
from .client import Backend, Timeouts, fetch_async

Vector = list[float]


@dataclass
class Embeddings:
    """What one embeddings call observed. ``vectors`` are in input order; None when the answer
    carried none (an HTTP or transport error, or a body without vectors)."""

    protocol: str
    vectors: Optional[list[Vector]] = None
    prompt_tokens: Optional[int] = None
    status: Optional[int] = None
    error: Optional[ErrorInfo] = None

    @property
    def ok(self) -> bool:
        return self.vectors is not None


def path(protocol: str, *, legacy: bool = False) -> str:
    if protocol == "ollama":
        return "/api/embeddings" if legacy else "/api/embed"
    if protocol == "openai" and not legacy:
        return "/v1/embeddings"
    raise ValueError(f"no embeddings route for protocol {protocol!r}{' (legacy)' if legacy else ''}")


def encode(protocol: str, model: str, inputs: list[str], *, legacy: bool = False) -> list[tuple[str, dict]]:
    """``(path, body)`` of every request needed to embed ``inputs``: one, or one per input on the
    legacy Ollama route."""
    route = path(protocol, legacy=legacy)
    if legacy:
        return [(route, {"model": model, "prompt": text}) for text in inputs]
    return [(route, {"model": model, "input": list(inputs)})]


def _vector(value: Any) -> Optional[Vector]:
    if isinstance(value, str):  # OpenAI encoding_format=base64: little-endian float32
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) % 4:
            return None
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    if isinstance(value, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        return [float(x) for x in value]
    return None


def decode(protocol: str, body: Any, *, legacy: bool = False) -> Optional[list[Vector]]:
    """The vectors of one response body, in input order; None when it carries none."""
    if not isinstance(body, dict):
        return None
    raw: Any
    if protocol == "ollama" and legacy:
        raw = [body.get("embedding")]
    elif protocol == "ollama":
        raw = body.get("embeddings")
    else:
        data = body.get("data")
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            return None
        if all(isinstance(d.get("index"), int) for d in data):
            data = sorted(data, key=lambda d: d["index"])
        raw = [d.get("embedding") for d in data]
    if not isinstance(raw, list):
        return None
    vectors = [_vector(v) for v in raw]
    return None if any(v is None for v in vectors) else vectors  # type: ignore[return-value]


def prompt_tokens(protocol: str, body: Any) -> Optional[int]:
    """Input tokens the server reports for one response, when it does."""
    if not isinstance(body, dict):
        return None
    value = body.get("prompt_eval_count") if protocol == "ollama" else (body.get("usage") or {}).get("prompt_tokens")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def embed_async(
    backend: Backend,
    model: str,
    inputs: list[str],
    *,
    legacy: bool = False,
    timeouts: Optional[Timeouts] = None,
    transport=None,
) -> Embeddings:
    """Embed ``inputs`` on ``backend``. Never raises on faults: the result carries the error."""
    out = Embeddings(protocol=backend.protocol, vectors=[])
    tokens: list[Optional[int]] = []
    for route, body in encode(backend.protocol, model, inputs, legacy=legacy):
        res = await fetch_async(
            backend.url,
            route,
            method="POST",
            json=body,
            headers=backend.headers() or None,
            timeouts=timeouts,
            transport=transport,
        )
        out.status, out.error = res.status, res.error
        vectors = decode(backend.protocol, res.json, legacy=legacy) if res.ok else None
        if vectors is None:
            out.vectors = None
            return out
        out.vectors.extend(vectors)  # type: ignore[union-attr]
        tokens.append(prompt_tokens(backend.protocol, res.json))
    out.prompt_tokens = None if None in tokens else sum(t for t in tokens if t is not None)
    return out
