"""The one HTTP client of the project: transport, timeouts, faults and timing.

Adapters (``ollama``, ``openai``) only encode requests and decode lines; this module owns the
connection, the clocks and the mapping of every transport fault onto ``ErrorInfo``. Nothing here
raises for a fault the user can cause: the result carries the error instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import httpx

from ..exchange import ChatRequest, Delta, ErrorInfo, Exchange, Transcript
from . import ollama as ollama_adapter
from . import openai as openai_adapter
from .base import error_from_body

ADAPTERS = {"ollama": ollama_adapter, "openai": openai_adapter}

# Response headers worth keeping in transcripts; everything else (cookies, auth echoes) is dropped.
_KEPT_HEADERS = (
    "content-type",
    "server",
    "x-request-id",
    "request-id",
    "x-litellm-model-name",
    "transfer-encoding",
    "content-length",
    "date",
)


@dataclass
class Timeouts:
    connect: float = 5.0  # TCP connect
    read: float = 60.0  # waiting for the response headers (prefill of a long prompt counts here)
    stall: float = 30.0  # longest silence allowed once the body has started
    total: float = 300.0  # whole exchange


@dataclass
class Backend:
    url: str  # server root; a trailing /v1 is stripped for OpenAI backends
    protocol: str = "openai"  # "ollama" | "openai"
    kind: Optional[str] = None  # engine kind from the shared vocabulary (vllm, llamacpp, ...)
    api_key_env: Optional[str] = None  # name of the env var holding the key; the key never leaves memory
    timeouts: Timeouts = field(default_factory=Timeouts)

    def __post_init__(self) -> None:
        if self.protocol not in ADAPTERS:
            raise ValueError(f"unknown protocol {self.protocol!r} (ollama|openai)")
        self.url = normalise_root(self.url, strip_v1=self.protocol == "openai")

    def headers(self) -> dict[str, str]:
        if self.api_key_env and os.environ.get(self.api_key_env):
            return {"Authorization": f"Bearer {os.environ[self.api_key_env]}"}
        return {}


def normalise_root(url: str, strip_v1: bool = True) -> str:
    raw = url.strip()
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest = "http", raw
    if scheme.lower() not in ("http", "https") or not rest.strip("/") or rest.startswith("/"):
        raise ValueError(f"not an http(s) server root: {raw!r}")
    url = f"{scheme}://{rest}".rstrip("/")
    if strip_v1 and url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url


@dataclass
class HttpResult:
    status: Optional[int]
    headers: dict[str, str]
    text: str
    json: Any
    error: Optional[ErrorInfo]
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


def _httpx_timeout(t: Timeouts) -> httpx.Timeout:
    # The stall limit is enforced per chunk by us; httpx's read limit must not fire before it.
    return httpx.Timeout(connect=t.connect, read=max(t.read, t.stall), write=t.read, pool=t.connect)


def _fault(exc: BaseException, started_body: bool) -> ErrorInfo:
    if isinstance(exc, httpx.ConnectTimeout):
        return ErrorInfo("connect_timeout", "connect timed out")
    if isinstance(exc, httpx.ConnectError):
        return ErrorInfo("connection_refused", f"cannot connect: {exc}".strip())
    if isinstance(exc, httpx.ReadTimeout):
        return ErrorInfo(
            "stall" if started_body else "read_timeout",
            "no bytes within the stall timeout" if started_body else "no response within the read timeout",
        )
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return ErrorInfo("stream_cut" if started_body else "transport", f"connection closed: {exc}".strip())
    return ErrorInfo("transport", f"{type(exc).__name__}: {exc}".strip())


class _Stall(Exception):
    pass


async def _lines(response: httpx.Response, stall: float):
    """Body lines with a per-line stall limit (an await on the next line, not a sleep)."""
    iterator = response.aiter_lines().__aiter__()
    while True:
        try:
            line = await asyncio.wait_for(iterator.__anext__(), timeout=stall)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError as exc:
            raise _Stall() from exc
        yield line


async def _run(
    backend: Backend, ex: Exchange, decoder, path: str, content: bytes, stream: bool, client: httpx.AsyncClient
) -> None:
    t = ex.timings
    started_body = False
    headers = {"Content-Type": "application/json", **backend.headers()}
    try:
        t.sent = time.perf_counter()
        async with client.stream(
            "POST", backend.url + path, content=content, headers=headers, timeout=_httpx_timeout(backend.timeouts)
        ) as response:
            t.first_byte = time.perf_counter()
            ex.status = response.status_code
            ex.transcript.status = response.status_code
            ex.transcript.headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
            if response.status_code >= 400:
                body = (await response.aread()).decode("utf-8", "replace")
                ex.transcript.lines = body.splitlines() or [body]
                t.end = time.perf_counter()
                ex.error = error_from_body(response.status_code, body)
                ex.finish_reason = "error"
                return
            async for line in _lines(response, backend.timeouts.stall):
                started_body = True
                now = time.perf_counter()
                ex.transcript.lines.append(line)
                if stream:
                    decoder.feed(line, now)
            t.end = time.perf_counter()
            if stream:
                decoder.finish(t.end)
            else:
                decoder.feed_body("\n".join(ex.transcript.lines), t.end)
    except _Stall:
        t.end = time.perf_counter()
        ex.error = ErrorInfo("stall", f"no bytes for {backend.timeouts.stall:g} s", ex.status)
        decoder.abort()
    except httpx.HTTPError as exc:
        t.end = time.perf_counter()
        ex.error = _fault(exc, started_body)
        ex.error.status = ex.status
        decoder.abort()


async def _exchange(
    backend: Backend,
    ex: Exchange,
    path: str,
    content: bytes,
    stream: bool,
    client: Optional[httpx.AsyncClient],
    transport,
    on_delta=None,
) -> Exchange:
    own = client is None
    http = client if client is not None else httpx.AsyncClient(transport=transport, follow_redirects=False)
    decoder = ADAPTERS[backend.protocol].Decoder(ex, on_delta)
    try:
        await asyncio.wait_for(_run(backend, ex, decoder, path, content, stream, http), timeout=backend.timeouts.total)
    except asyncio.TimeoutError:
        ex.timings.end = time.perf_counter()
        ex.error = ErrorInfo("timeout", f"exchange exceeded {backend.timeouts.total:g} s", ex.status)
        decoder.abort()  # keep what arrived before the deadline
    finally:
        if own:
            await http.aclose()
    if ex.error is not None:
        ex.finish_reason = "error"
    return ex


async def send_async(
    backend: Backend,
    request: ChatRequest,
    *,
    client: Optional[httpx.AsyncClient] = None,
    scheduled: Optional[float] = None,
    transport=None,
    on_delta: Optional[Callable[[Delta], None]] = None,
) -> Exchange:
    """Send one canonical request and return everything observed. Never raises on faults.

    ``on_delta`` is called synchronously with each stream event as it arrives (for relays such as
    the Ollama-API test server, or progress display); the returned Exchange holds them all too.
    """
    adapter = ADAPTERS[backend.protocol]
    path, body = adapter.encode(request)
    ex = Exchange(request=request, protocol=backend.protocol, url=backend.url)
    ex.timings.scheduled = scheduled
    ex.transcript = Transcript(method="POST", url=backend.url + path, request_body=body)
    content = json.dumps(body).encode()
    return await _exchange(backend, ex, path, content, request.stream, client, transport, on_delta)


async def send_raw_async(
    backend: Backend,
    path: str,
    body: bytes | str,
    *,
    stream: bool = False,
    model: str = "",
    client: Optional[httpx.AsyncClient] = None,
    scheduled: Optional[float] = None,
    transport=None,
) -> Exchange:
    """Send a body as given (e.g. malformed JSON) and decode the answer like any other."""
    content = body.encode() if isinstance(body, str) else body
    ex = Exchange(request=ChatRequest(model=model, stream=stream), protocol=backend.protocol, url=backend.url)
    ex.timings.scheduled = scheduled
    ex.transcript = Transcript(method="POST", url=backend.url + path, request_body=content.decode("utf-8", "replace"))
    return await _exchange(backend, ex, path, content, stream, client, transport)


def send(backend: Backend, request: ChatRequest, **kw) -> Exchange:
    return asyncio.run(send_async(backend, request, **kw))


async def fetch_async(
    url_root: str,
    path: str,
    *,
    method: str = "GET",
    json: Any = None,
    timeouts: Optional[Timeouts] = None,
    client: Optional[httpx.AsyncClient] = None,
    headers: Optional[dict] = None,
    transport=None,
) -> HttpResult:
    """One small request (probes, /api/show, /metrics). Faults become ``HttpResult.error``."""
    timeouts = timeouts or Timeouts(read=10.0, total=20.0)
    try:
        url = normalise_root(url_root, strip_v1=False) + path
    except ValueError as exc:
        return HttpResult(None, {}, "", None, ErrorInfo("invalid_url", str(exc)), 0.0)
    own = client is None
    http = client if client is not None else httpx.AsyncClient(transport=transport, follow_redirects=False)
    started = time.perf_counter()
    try:
        response = await asyncio.wait_for(
            http.request(method, url, json=json, headers=headers, timeout=_httpx_timeout(timeouts)),
            timeout=timeouts.total,
        )
        text = response.text
        try:
            parsed = response.json() if text.strip() else None
        except ValueError:
            parsed = None
        error = error_from_body(response.status_code, text) if response.status_code >= 400 else None
        return HttpResult(
            response.status_code, dict(response.headers), text, parsed, error, time.perf_counter() - started
        )
    except asyncio.TimeoutError:
        return HttpResult(
            None,
            {},
            "",
            None,
            ErrorInfo("timeout", f"no answer in {timeouts.total:g} s"),
            time.perf_counter() - started,
        )
    except httpx.HTTPError as exc:
        return HttpResult(None, {}, "", None, _fault(exc, False), time.perf_counter() - started)
    finally:
        if own:
            await http.aclose()


def fetch(url_root: str, path: str, **kw) -> HttpResult:
    return asyncio.run(fetch_async(url_root, path, **kw))
