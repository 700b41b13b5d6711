"""The one protocol layer: every backend in, one canonical ``Exchange`` out.

``client`` owns HTTP (httpx), clocks and faults; ``ollama`` (NDJSON) and ``openai`` (SSE) adapters
only encode requests and decode lines, and their pure ``decode_lines`` work on recorded payloads.
"""

from .client import (
    Backend,
    HttpResult,
    InvalidServerURL,
    Timeouts,
    check_seconds,
    error_from_body,
    fetch,
    fetch_async,
    parse_server_url,
    send,
    send_async,
    send_raw_async,
)
from .embeddings import Embeddings, embed_async

__all__ = [
    "Backend",
    "HttpResult",
    "InvalidServerURL",
    "Timeouts",
    "check_seconds",
    "error_from_body",
    "fetch",
    "fetch_async",
    "parse_server_url",
    "send",
    "send_async",
    "send_raw_async",
    "Embeddings",
    "embed_async",
]
