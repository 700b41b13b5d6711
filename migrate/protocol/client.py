"""The one HTTP client of the project: transport, timeouts, faults and timing.

Adapters (``ollama``, ``openai``) only encode requests and decode lines; this module owns the
connection, the clocks and the mapping of every transport fault onto ``ErrorInfo``. Nothing here
raises for a fault the user can cause: the result carries the error instead.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import math
import os
import re
import sys
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import httpx

from ..errors import UsageError
from ..exchange import ChatRequest, Delta, ErrorInfo, Exchange, Transcript
from ..redact import mask_text, mask_url, printable, remember_secret
from . import ollama as ollama_adapter
from . import openai as openai_adapter
from . import serverjson
from .base import error_from_body

ADAPTERS = {"ollama": ollama_adapter, "openai": openai_adapter}

# What one answer may cost in memory; module attributes, so tests can lower them. A body past its read
# cap is not read further and the result carries the error "too_large". Past a keep cap the answer is
# still read and decoded, but only a clipped copy is kept (``Exchange.truncated`` names what was cut).
MAX_BODY_BYTES = 32 * 1024 * 1024  # read cap: one inference answer, stream or not
MAX_FETCH_BYTES = 8 * 1024 * 1024  # read cap: one small request (probe routes, /api/show, /metrics)
MAX_ERROR_BODY_BYTES = 64 * 1024  # read cap: an HTTP error body (only its message is used)
MAX_TRANSCRIPT_BYTES = 1024 * 1024  # keep cap: body lines kept in an Exchange's transcript
MAX_FIELD_CHARS = 1024 * 1024  # keep cap: an Exchange's content and reasoning

# A compressed body is inflated as it is read, never more than this many bytes per step, so a read cap
# bounds memory however well the body compresses (a 1 MB gzip body can inflate to 1 GiB). Only the
# encodings asked for are decoded; any other Content-Encoding is refused.
INFLATE_STEP = 64 * 1024
ACCEPT_ENCODING = "gzip, deflate"

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
        self.url = parse_server_url(self.url, strip_v1=self.protocol == "openai")

    def headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if not key:
            return {}
        remember_secret(key)  # a server that echoes the key (in an error, a model id) gets it masked
        return {"Authorization": f"Bearer {key}"}


class InvalidServerURL(UsageError, ValueError):
    """A server URL that is not ``http(s)://host[:port][/path]``: a usage error (exit 2) for the CLI and
    still a ``ValueError`` for library callers. Its text shows the URL masked and terminal-safe."""


def parse_server_url(url: str, *, strip_v1: bool = True, what: str = "URL") -> str:
    """THE server-URL parser: every command calls it at entry, ``Backend`` and ``fetch`` call it again.

    Accepts ``http(s)://[user:password@]host[:port][/path]`` (a bare ``host:port`` gets ``http://``),
    returns the root without a trailing ``/`` (and ``/v1`` when ``strip_v1``). Credentials stay in the
    returned root because the request needs them (httpx sends them as basic auth); whoever prints or
    stores it uses :func:`migrate.redact.mask_url`. Refused: another scheme, no host, a port outside
    1-65535, whitespace or control characters, a query or fragment (a root is joined with paths).
    """
    raw = str(url)
    shown = printable(mask_url(raw))

    def bad(reason: str) -> InvalidServerURL:
        return InvalidServerURL(f"{what}: not a server URL: '{shown}': {reason} (expected http(s)://host[:port])")

    if not raw:
        raise bad("empty")
    if any(ch.isspace() or not ch.isprintable() for ch in raw):
        raise bad("whitespace or control characters")
    full = raw if "://" in raw else "http://" + raw
    try:
        parts = urlsplit(full)
        port = parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535", a non-numeric port
        reason = str(exc).replace("0-65535", "1-65535")
        raise bad(reason[:1].lower() + reason[1:]) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise bad(f"scheme {parts.scheme!r} is not http or https")
    if not parts.hostname:
        raise bad("no host")
    if port is not None and not 1 <= port <= 65535:
        raise bad("port out of range 1-65535")
    if parts.query or parts.fragment or full.endswith(("?", "#")):
        raise bad("a server root has no query or fragment")
    root = full.rstrip("/")
    try:
        httpx.URL(root)  # whatever httpx would refuse at request time is refused here, once
    except (httpx.InvalidURL, ValueError) as exc:
        raise bad(printable(mask_text(str(exc)))) from None
    if strip_v1 and root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root


def check_seconds(value: float, option: str) -> float:
    """A duration option: finite and positive (``nan``, ``inf`` and ``0`` are usage errors)."""
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise UsageError(f"{option}: must be a positive number of seconds, not {value!r}")
    return float(value)


@dataclass
class HttpResult:
    status: Optional[int]
    headers: dict[str, str]
    text: str
    json: Any
    error: Optional[ErrorInfo]
    elapsed_s: float
    json_error: Optional[str] = None  # why a body that parsed was refused ("JSON nested deeper than 64 levels")

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    def describe(self, *, expect_json: bool = True) -> str:
        """What this answer was, in a few words for a warning or an error line: "timed out after 2.0 s",
        "HTTP 404 (model not found)", "HTTP 200 with text/html, not JSON"."""
        if self.error is not None and self.error.type in _TIMEOUT_ERRORS:
            return f"timed out after {self.elapsed_s:.1f} s"
        if self.status is None:
            return self.error.message if self.error else "no HTTP answer"
        if self.error is not None:
            detail = printable(mask_text(self.error.message))[:200]
            return f"HTTP {self.status}" + (f" ({detail})" if detail and detail != f"HTTP {self.status}" else "")
        if expect_json and self.json is None:
            ctype = next((v for k, v in self.headers.items() if k.lower() == "content-type"), "")
            ctype = printable(ctype.split(";")[0].strip())[:80]
            if not self.text.strip():
                return f"HTTP {self.status} with an empty body, not JSON"
            if self.json_error:
                return f"HTTP {self.status} with {self.json_error}"
            if "json" in ctype.lower():
                return f"HTTP {self.status} with invalid JSON"
            return f"HTTP {self.status} with {ctype or 'no content type'}, not JSON"
        return f"HTTP {self.status}"


_TIMEOUT_ERRORS = ("timeout", "read_timeout", "connect_timeout", "stall")


def _httpx_timeout(t: Timeouts) -> httpx.Timeout:
    # The stall limit is enforced per chunk by us; httpx's read limit must not fire before it.
    return httpx.Timeout(connect=t.connect, read=max(t.read, t.stall), write=t.read, pool=t.connect)


def _os_reason(exc: BaseException) -> str:
    """The operating system's words for a transport fault (``Connection reset by peer``): httpx's own
    message is empty when the cause sits deeper in the chain (anyio, httpcore)."""
    seen: set[int] = set()
    todo: list[Optional[BaseException]] = [exc]
    while todo:
        cause = todo.pop(0)
        if cause is None or id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        todo += [cause.__cause__, cause.__context__]
    return ""


def _fault(exc: BaseException, started_body: bool) -> ErrorInfo:
    # httpx messages can quote the URL: masked before they reach a result, a report or a terminal.
    detail = mask_text(str(exc)).strip() or _os_reason(exc)
    if isinstance(exc, httpx.DecodingError):
        return ErrorInfo("invalid_payload", detail[:200])
    if isinstance(exc, httpx.ConnectTimeout):
        return ErrorInfo("connect_timeout", "connect timed out")
    if isinstance(exc, httpx.ConnectError):
        return ErrorInfo("connection_refused", f"cannot connect: {detail}".strip())
    if isinstance(exc, httpx.ReadTimeout):
        return ErrorInfo(
            "stall" if started_body else "read_timeout",
            "no bytes within the stall timeout" if started_body else "no response within the read timeout",
        )
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        said = detail or ("the server closed the connection" + ("" if started_body else " before answering"))
        return ErrorInfo("stream_cut" if started_body else "transport", f"connection closed: {said}")
    return ErrorInfo("transport", f"{type(exc).__name__}: {detail}".strip())


class _Stall(Exception):
    pass


class _TooLarge(Exception):
    pass


class _BadEncoding(httpx.DecodingError):
    """A Content-Encoding not asked for, or a compressed body that does not decode: an invalid answer."""


def _too_large(limit: int, status: Optional[int]) -> ErrorInfo:
    return ErrorInfo("too_large", f"the body exceeded {limit} bytes; the rest was not read", status)


def _charset(response: httpx.Response) -> str:
    name = response.charset_encoding or "utf-8"
    try:
        return codecs.lookup(name).name
    except LookupError:  # a server may name any charset; an unknown one reads as UTF-8
        return "utf-8"


class _Inflater:
    """One Content-Encoding undone incrementally: each piece it yields is at most ``INFLATE_STEP`` bytes,
    so whoever counts the pieces can stop before a bomb is inflated. Bytes after the end of the
    compressed stream are ignored (never buffered)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        # gzip: the gzip wrapper; deflate: the zlib wrapper, or raw deflate when its 2-byte header is wrong
        # (as some servers send it). ``head`` keeps those first bytes to replay them.
        self.head: Optional[bytes] = b"" if encoding == "deflate" else None
        self.z = zlib.decompressobj((zlib.MAX_WBITS | 16) if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS)

    def _inflate(self, data: bytes) -> bytes:
        if self.head is not None:
            self.head += data
        try:
            out = self.z.decompress(data, INFLATE_STEP)
        except zlib.error as exc:
            if self.head is not None:
                replay, self.head = self.head, None
                self.z = zlib.decompressobj(-zlib.MAX_WBITS)
                return self._inflate(replay)
            raise _BadEncoding(f"the {self.encoding} body does not decode: {exc}") from None
        if self.head is not None and len(self.head) >= 2:
            self.head = None  # the zlib header checked out
        return out

    def feed(self, data: bytes):
        while not self.z.eof:
            out = self._inflate(data)
            data = self.z.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < INFLATE_STEP:
                return  # all input used and no output pending


def _inflaters(response: httpx.Response) -> list[_Inflater]:
    """The decoders for the answer's Content-Encoding, outermost first (``gzip, gzip`` is two)."""
    named = [e.strip().lower() for e in response.headers.get("content-encoding", "").split(",")]
    named = [e for e in named if e and e != "identity"]
    unknown = [e for e in named if e not in ("gzip", "x-gzip", "deflate")]
    if unknown:
        raise _BadEncoding(f"the body is {unknown[0][:40]}-encoded; migrate asks for {ACCEPT_ENCODING} only")
    return [_Inflater(e) for e in reversed(named)]


def _decoded(inflaters: list[_Inflater], data: bytes):
    if not inflaters:
        yield data
        return
    for piece in inflaters[0].feed(data):
        yield from _decoded(inflaters[1:], piece)


async def _in_memory(content: bytes):
    for start in range(0, len(content), INFLATE_STEP):
        yield content[start : start + INFLATE_STEP]


if sys.version_info >= (3, 11):

    async def _next(iterator: Any, stall: Optional[float]) -> bytes:
        """The next body chunk within ``stall`` seconds. ``asyncio.timeout`` arms one timer; ``wait_for``
        (below, for 3.10) wraps every chunk in a new task, which was a tenth of a busy client's CPU."""
        if stall is None:
            return await iterator.__anext__()
        try:
            async with asyncio.timeout(stall):
                return await iterator.__anext__()
        except TimeoutError as exc:
            raise _Stall() from exc

else:  # pragma: no cover - Python 3.10

    async def _next(iterator: Any, stall: Optional[float]) -> bytes:
        try:
            return await asyncio.wait_for(iterator.__anext__(), timeout=stall)
        except asyncio.TimeoutError as exc:
            raise _Stall() from exc


async def _chunks(response: httpx.Response, stall: Optional[float], limit: int, *, cut: bool = True):
    """Body bytes as they arrive, decompressed in bounded steps, with a silence limit per chunk. Past
    ``limit`` bytes (decompressed, or as sent): raise ``_TooLarge`` (``cut``), or end quietly after
    yielding the part within the limit."""
    if response.is_stream_consumed:
        # Read already (a mock transport's response): httpx holds the decoded body in memory.
        inflaters, iterator = [], _in_memory(response.content)
    else:
        inflaters, iterator = _inflaters(response), response.aiter_raw().__aiter__()  # has aclose()
    seen = sent = 0
    try:
        while True:
            try:
                raw = await _next(iterator, stall)
            except StopAsyncIteration:
                return
            sent += len(raw)
            if sent > limit and cut:
                raise _TooLarge()  # e.g. empty deflate blocks: bytes that inflate to nothing
            for chunk in _decoded(inflaters, raw):
                seen += len(chunk)
                if seen > limit:
                    if cut:
                        raise _TooLarge()
                    yield chunk[: len(chunk) - (seen - limit)]
                    return
                yield chunk
            if sent > limit:
                return
    finally:
        # Closed here, not by the garbage collector at loop shutdown (which then drained the rest).
        await iterator.aclose()


async def _read(response: httpx.Response, limit: int, *, cut: bool = True) -> bytes:
    body = bytearray()
    async for chunk in _chunks(response, None, limit, cut=cut):
        body += chunk
    return bytes(body)


_ANY_LINE_END = re.compile(rb"\r\n|\r|\n")


async def _lines(response: httpx.Response, stall: float, limit: int):
    """Body lines (NDJSON or SSE) as they arrive; no more than ``limit`` bytes are read. A line ends at
    ``\\n`` (a ``\\r`` before it is dropped); in an event stream also at a lone ``\\r``, as the SSE
    specification allows."""
    encoding = _charset(response)
    bare_cr = "text/event-stream" in response.headers.get("content-type", "").lower()
    pending = bytearray()
    held = False  # (bare_cr) pending ends with a \r that may be the first half of a \r\n
    async for chunk in _chunks(response, stall, limit):
        pending += chunk
        if bare_cr and (held or b"\r" in chunk or b"\n" in chunk):
            held = pending.endswith(b"\r")
            *ended, unended = _ANY_LINE_END.split(pending[:-1] if held else pending)
            pending = bytearray(unended + (b"\r" if held else b""))
            for line in ended:
                yield line.decode(encoding, "replace")
            continue
        if b"\n" not in chunk:
            continue
        *complete, rest = pending.split(b"\n")
        pending = bytearray(rest)
        for line in complete:
            yield line.decode(encoding, "replace").removesuffix("\r")
    if pending:
        yield pending.decode(encoding, "replace").removesuffix("\r")


class _Keeper:
    """The transcript's copy of the body: whole lines up to ``MAX_TRANSCRIPT_BYTES``, then one marker."""

    def __init__(self, ex: Exchange) -> None:
        self.ex = ex
        self.kept = 0
        self.dropped = 0

    def add(self, line: str) -> None:
        size = len(line.encode("utf-8", "replace")) + 1
        if not self.dropped and self.kept + size <= MAX_TRANSCRIPT_BYTES:
            self.kept += size
            self.ex.transcript.lines.append(line)
        else:
            self.dropped += size

    def close(self) -> None:
        if self.dropped:
            self.ex.transcript.lines.append(
                f"[migrate: transcript clipped at {MAX_TRANSCRIPT_BYTES} bytes; {self.dropped} more bytes not kept]"
            )
            _mark(self.ex, "transcript")


def _mark(ex: Exchange, what: str) -> None:
    if what not in ex.truncated:
        ex.truncated.append(what)


def clip(text: Optional[str], limit: int) -> tuple[Optional[str], bool]:
    """``text`` cut to ``limit`` characters with a visible marker; (text, whether it was cut)."""
    if text is None or len(text) <= limit:
        return text, False
    return text[:limit] + f"…[clipped: {len(text) - limit} more characters]", True


def _clip_fields(ex: Exchange) -> None:
    for name in ("content", "reasoning"):
        value, cut = clip(getattr(ex, name), MAX_FIELD_CHARS)
        if cut:
            setattr(ex, name, value)
            _mark(ex, name)


async def _run(
    backend: Backend, ex: Exchange, decoder, path: str, content: bytes, stream: bool, client: httpx.AsyncClient
) -> None:
    t = ex.timings
    started_body = False
    headers = {"Content-Type": "application/json", "Accept-Encoding": ACCEPT_ENCODING, **backend.headers()}
    keeper = _Keeper(ex)

    async def trace(event: str, info: dict) -> None:
        # When the request really left: under load a client spends milliseconds between deciding to
        # send and its bytes reaching the socket, and that is the client's delay, not the server's.
        # Both events fire right before the socket call, with no await in between; the ".complete"
        # events fire after the task resumes, which on a busy loop is late.
        if event == "connection.connect_tcp.started":
            t.connecting = time.perf_counter()
        elif event == "http11.send_request_body.started":
            t.written = time.perf_counter()

    try:
        t.sent = time.perf_counter()
        async with client.stream(
            "POST",
            backend.url + path,
            content=content,
            headers=headers,
            timeout=_httpx_timeout(backend.timeouts),
            extensions={"trace": trace},
        ) as response:
            t.first_byte = time.perf_counter()
            ex.status = response.status_code
            ex.transcript.status = response.status_code
            ex.transcript.headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
            if response.status_code >= 400:
                body = (await _read(response, MAX_ERROR_BODY_BYTES, cut=False)).decode(_charset(response), "replace")
                for line in body.splitlines() or [body]:
                    keeper.add(line)
                t.end = time.perf_counter()
                ex.error = error_from_body(response.status_code, body)
                ex.finish_reason = "error"
                return
            whole: list[str] = []  # a non-stream body, decoded once it is complete
            async for line in _lines(response, backend.timeouts.stall, MAX_BODY_BYTES):
                started_body = True
                now = time.perf_counter()
                keeper.add(line)
                if stream:
                    decoder.feed(line, now)
                else:
                    whole.append(line)
            t.end = time.perf_counter()
            if stream:
                decoder.finish(t.end)
            else:
                decoder.feed_body("\n".join(whole), t.end)
    except _Stall:
        t.end = time.perf_counter()
        ex.error = ErrorInfo("stall", f"no bytes for {backend.timeouts.stall:g} s", ex.status)
        decoder.abort()
    except _TooLarge:
        t.end = time.perf_counter()
        ex.error = _too_large(MAX_BODY_BYTES, ex.status)
        decoder.abort()
    except httpx.HTTPError as exc:
        t.end = time.perf_counter()
        ex.error = _fault(exc, started_body)
        ex.error.status = ex.status
        decoder.abort()
    finally:
        keeper.close()


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
    _clip_fields(ex)
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
    The Exchange records the URL without credentials (it ends up in captures and reports).
    """
    adapter = ADAPTERS[backend.protocol]
    path, body = adapter.encode(request)
    shown = mask_url(backend.url)
    ex = Exchange(request=request, protocol=backend.protocol, url=shown)
    ex.timings.scheduled = scheduled
    ex.transcript = Transcript(method="POST", url=shown + path, request_body=body)
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
    shown = mask_url(backend.url)
    ex = Exchange(request=ChatRequest(model=model, stream=stream), protocol=backend.protocol, url=shown)
    ex.timings.scheduled = scheduled
    ex.transcript = Transcript(method="POST", url=shown + path, request_body=content.decode("utf-8", "replace"))
    return await _exchange(backend, ex, path, content, stream, client, transport)


def run_sync(coro) -> Any:
    """``asyncio.run(coro)``, but the value does not travel as the task's result: Python 3.11's
    ``asyncio.run`` reprs that task (``signal.getsignal`` on its SIGINT handler), which for a large
    Exchange meant hundreds of MB of repr text."""
    box: list = []

    async def main() -> None:
        box.append(await coro)

    asyncio.run(main())
    return box[0]


def send(backend: Backend, request: ChatRequest, **kw) -> Exchange:
    return run_sync(send_async(backend, request, **kw))


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
    max_bytes: Optional[int] = None,
) -> HttpResult:
    """One small request (probes, /api/show, /metrics). Faults become ``HttpResult.error``; a body
    longer than ``max_bytes`` (default ``MAX_FETCH_BYTES``) is not read past it: error "too_large"."""
    timeouts = timeouts or Timeouts(read=10.0, total=20.0)
    limit = MAX_FETCH_BYTES if max_bytes is None else max_bytes
    try:
        url = parse_server_url(url_root, strip_v1=False) + path
    except ValueError as exc:
        return HttpResult(None, {}, "", None, ErrorInfo("invalid_url", str(exc)), 0.0)
    own = client is None
    http = client if client is not None else httpx.AsyncClient(transport=transport, follow_redirects=False)
    started = time.perf_counter()
    state: dict = {}

    async def request() -> HttpResult:
        sent = {"Accept-Encoding": ACCEPT_ENCODING, **(headers or {})}
        async with http.stream(method, url, json=json, headers=sent, timeout=_httpx_timeout(timeouts)) as response:
            state["status"], state["headers"] = response.status_code, dict(response.headers)
            if response.status_code >= 400:
                body = await _read(response, min(limit, MAX_ERROR_BODY_BYTES), cut=False)
            else:
                body = await _read(response, limit)
            text = body.decode(_charset(response), "replace")
        parsed, refused = None, None
        try:
            parsed = serverjson.loads(text) if text.strip() else None
        except serverjson.InvalidServerJSON as exc:
            refused = str(exc)
        except ValueError:
            pass
        status = state["status"]
        error = error_from_body(status, text) if status >= 400 else None
        return HttpResult(status, state["headers"], text, parsed, error, time.perf_counter() - started, refused)

    try:
        return await asyncio.wait_for(request(), timeout=timeouts.total)
    except asyncio.TimeoutError:
        error = ErrorInfo("timeout", f"no answer in {timeouts.total:g} s", state.get("status"))
    except _TooLarge:
        error = _too_large(limit, state.get("status"))
    except httpx.HTTPError as exc:
        error = _fault(exc, "status" in state)
        error.status = state.get("status")
    finally:
        if own:
            await http.aclose()
    return HttpResult(state.get("status"), state.get("headers", {}), "", None, error, time.perf_counter() - started)


def fetch(url_root: str, path: str, **kw) -> HttpResult:
    return run_sync(fetch_async(url_root, path, **kw))
