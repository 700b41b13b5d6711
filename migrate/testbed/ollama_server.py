"""An Ollama-API test server over the real llama.cpp engine.

It speaks Ollama's native API (NDJSON, ns durations, ``done_reason``, tool-call arguments as
objects) and Ollama's OpenAI layer (``chatcmpl-<n>``, ``fp_ollama``, ``tool_choice`` ignored,
temperature 1.0 when omitted), and reproduces the behaviours a migration trips over:

- silent FRONT truncation above ``num_ctx``: HTTP 200, smaller ``prompt_eval_count``, and a
  ``truncating input prompt`` WARN log line. Tokens are counted by llama.cpp itself: the messages are
  rendered with the engine's chat template (``/apply-template``) and tokenized (``/tokenize``).
  Old messages are dropped first (system kept, latest kept), then the oldest kept non-system
  message is cut from its front by tokens;
- a queue limit (``num_parallel`` running, ``max_queue`` waiting) answering 503 like Ollama;
- Ollama's error bodies (404 unknown model, 400 bad JSON, 400 missing tools capability,
  a mid-stream ``{"error":...}`` line after HTTP 200);
- a log file in Ollama's formats (slog ``server config`` / ``Listening on`` lines, gin access lines).

Every engine call goes through ``migrate.protocol`` (chat via ``send_async``, template/tokenize via
``fetch_async``); this module never parses SSE. Streamed answers are relayed LIVE: each content
delta is written as the engine produces it (``send_async(on_delta=...)``), so the client's TTFT is
the engine's, not its end-to-end time. Tool calls are written whole once the engine has finished
them, as Ollama does.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import socket
import string
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Optional

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ..exchange import ChatRequest, Delta, ErrorInfo, Exchange, Message, ResponseFormat, Sampling, ToolCall
from ..protocol import Backend, Timeouts, fetch_async, send_async
from ..protocol import openai as openai_wire
from .model import MODEL_NAME

OLLAMA_VERSION = "0.11.6"
BUSY = "server busy, please try again.  maximum pending requests exceeded"
CLIENT_CLOSED = 499  # what Ollama's access log shows for a request the client abandoned
REGISTRY = "registry.ollama.ai/library/"

# "Modelfile" parameters of the served model (what the real gemma3 library models ship).
MODEL_PARAMETERS: "OrderedDict[str, Any]" = OrderedDict(
    [("stop", ["<end_of_turn>"]), ("temperature", 1), ("top_k", 64), ("top_p", 0.95)]
)


# --- Go-compatible formatting ------------------------------------------------------------------


def _local_offset(ts: float) -> str:
    off = datetime.fromtimestamp(ts).astimezone().utcoffset() or timedelta(0)
    if not off:
        return "Z"
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def go_time(ns: Optional[int] = None) -> str:
    """Go's time.RFC3339Nano in local time: trailing fractional zeros trimmed, ``Z`` for UTC."""
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs).astimezone().strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{frac:09d}".rstrip("0")
    return base + (f".{fraction}" if fraction else "") + _local_offset(secs)


def slog_time(ts: Optional[float] = None) -> str:
    ts = time.time() if ts is None else ts
    base = datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{int(ts * 1000) % 1000:03d}{_local_offset(ts)}"


def go_duration(ns: int) -> str:
    """Go's time.Duration.String(), as gin prints latencies."""
    if ns == 0:
        return "0s"
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return _trim(f"{ns / 1_000:.3f}") + "µs"
    if ns < 1_000_000_000:
        return _trim(f"{ns / 1_000_000:.6f}") + "ms"
    total_s = ns / 1e9
    hours, rem = divmod(int(total_s), 3600)
    minutes = rem // 60
    seconds = ns / 1e9 - hours * 3600 - minutes * 60
    out = _trim(f"{seconds:.9f}") + "s"
    if hours or minutes:
        out = f"{minutes}m" + out
    if hours:
        out = f"{hours}h" + out
    return out


def _trim(num: str) -> str:
    return num.rstrip("0").rstrip(".") if "." in num else num


def gin_line(status: int, latency_ns: int, client_ip: str, method: str, path: str, when: Optional[float] = None) -> str:
    """gin's defaultLogFormatter without colours (stdout is not a TTY)."""
    when = time.time() if when is None else when
    if latency_ns > 60_000_000_000:
        # gin truncates latencies above a minute to whole seconds ("5m1s", "30m0s").
        latency_ns -= latency_ns % 1_000_000_000
    stamp = datetime.fromtimestamp(when).strftime("%Y/%m/%d - %H:%M:%S")
    return (
        f"[GIN] {stamp} | {status:3d} | {go_duration(latency_ns):>13} | {client_ip:>15} |"
        f" {method:<7}  {json.dumps(path)}"
    )


def _go_param(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- model catalogue -----------------------------------------------------------------------------


@dataclass
class ServedModel:
    name: str
    capabilities: list[str]
    digest: str
    size: int
    modified_ns: int
    details: dict
    model_info: dict


def _catalogue(model: str, engine_meta: dict, gguf: dict, gguf_path: Optional[Path]) -> dict:
    """Two names over the same engine: ``model`` (completion+tools: the engine's template is
    tool-aware) and ``<model>-text`` (completion only, to exercise the capability error)."""
    size = gguf_path.stat().st_size if gguf_path else int(engine_meta.get("size") or 0)
    mtime = gguf_path.stat().st_mtime_ns if gguf_path else time.time_ns()
    n_params = engine_meta.get("n_params") or 0
    details = {
        "parent_model": "",
        "format": "gguf",
        "family": gguf.get("general.architecture", ""),
        "families": [gguf.get("general.architecture", "")],
        "parameter_size": _param_size(n_params),
        "quantization_level": "Q4_K_M",
    }
    info = {}
    for key in sorted(gguf):
        if key in ("general.name", "tokenizer.chat_template") or key.startswith("general.tags"):
            continue  # Ollama strips these before answering /api/show
        value = gguf[key]
        if isinstance(value, float):
            value = float(f"{value:.7g}")  # GGUF stores float32; print what Go would
        info[key] = value
    if n_params:
        info["general.parameter_count"] = n_params
        info = dict(sorted(info.items()))
    out = {}
    for name, caps in ((model, ["completion", "tools"]), (model + "-text", ["completion"])):
        digest = hashlib.sha256(f"{name}\n{size}\n{mtime}".encode()).hexdigest()
        out[name] = ServedModel(name, caps, digest, size, mtime, details, info)
    return out


def _param_size(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    return str(n)


# --- admission (OLLAMA_NUM_PARALLEL / OLLAMA_MAX_QUEUE) -------------------------------------------


class Busy(Exception):
    pass


class EngineError(Exception):
    """An engine call made while preparing a request failed (answered like a runner failure)."""


class Admission:
    """``num_parallel`` requests run; up to ``max_queue`` wait; the next one is refused (503)."""

    def __init__(self, num_parallel: int, max_queue: int):
        self.num_parallel = max(1, num_parallel)
        self.max_queue = max(0, max_queue)
        self.running = 0
        self.waiting = 0
        self._cond: Optional[asyncio.Condition] = None

    async def __aenter__(self):
        if self._cond is None:
            self._cond = asyncio.Condition()
        async with self._cond:
            if self.running >= self.num_parallel:
                if self.waiting >= self.max_queue:
                    raise Busy(BUSY)
                self.waiting += 1
                try:
                    await self._cond.wait_for(lambda: self.running < self.num_parallel)
                finally:
                    self.waiting -= 1
            self.running += 1
        return self

    async def __aexit__(self, *exc):
        async with self._cond:
            self.running -= 1
            self._cond.notify()


# --- the server ------------------------------------------------------------------------------------


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Prepared:
    model: ServedModel
    request: ChatRequest
    received_ns: int
    truncated_from: Optional[int] = None
    prompt_tokens_estimate: Optional[int] = None
    extra: dict = field(default_factory=dict)


class OllamaTestServer:
    """``with OllamaTestServer(engine_url) as srv: srv.url, srv.model, srv.log_path``.

    Runs uvicorn in a thread of this process on a socket bound to port 0 (no port race).
    """

    def __init__(
        self,
        engine_url: str,
        *,
        model: str = "gemma3:270m",
        num_ctx: int = 2048,
        num_parallel: int = 1,
        max_queue: int = 512,
        engine_ctx_per_slot: Optional[int] = None,
        engine_model: str = MODEL_NAME,
        gguf_path: Optional[Path] = None,
        log_path: Optional[Path] = None,
        version: str = OLLAMA_VERSION,
        keep_alive_s: int = 300,
        engine_timeouts: Optional[Timeouts] = None,
        cache_prompt: bool = False,
    ):
        self.engine_url = engine_url.rstrip("/")
        self.model = model
        self.num_ctx = num_ctx
        self.num_parallel = num_parallel
        self.max_queue = max_queue
        self.engine_ctx_per_slot = engine_ctx_per_slot
        self.engine_model = engine_model
        self.gguf_path = Path(gguf_path) if gguf_path else None
        self.version = version
        self.keep_alive_s = keep_alive_s
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkdtemp(prefix="migrate-ollama-")) / "server.log"
        self.backend = Backend(
            url=self.engine_url,
            protocol="openai",
            kind="llamacpp",
            # A long prefill streams nothing for a while (more on a loaded
            # machine); Ollama itself has no such limit, so be patient.
            timeouts=engine_timeouts or Timeouts(read=120.0, stall=120.0, total=600.0),
        )
        # Template/tokenize calls made while preparing a request: as patient as the chat call
        # itself, since on a loaded machine they queue behind the engine's decoding threads.
        t = self.backend.timeouts
        self.engine_fetch_timeouts = Timeouts(connect=t.connect, read=t.read, stall=t.stall, total=t.read)
        # llama.cpp reuses a cached prompt prefix by default, and its logits then differ slightly
        # from a fresh prefill: a repeated identical greedy request gave a different answer than
        # the first one (measured). Old-vs-old repeats must agree or every comparison against this
        # server drowns in noise, so by default every request is prefilled afresh.
        self.cache_prompt = cache_prompt
        self.admission = Admission(num_parallel, max_queue)
        self.models: dict[str, ServedModel] = {}
        self.last_used = time.time()
        self.url: Optional[str] = None
        self.port: Optional[int] = None
        self._log_lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._server = None
        self._sock: Optional[socket.socket] = None
        self.app = self._build_app()

    # -- lifecycle --
    def start(self, timeout: float = 30.0) -> "OllamaTestServer":
        import uvicorn

        self._load_catalogue()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._startup_log()
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5
        )
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # the owner of the process handles signals
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="ollama-test-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Ollama test server did not start")
            time.sleep(0.02)  # polling a flag with a deadline
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> "OllamaTestServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _load_catalogue(self) -> None:
        from ..protocol import fetch
        from .model import gguf_metadata

        meta: dict = {}
        listing = fetch(self.engine_url, "/v1/models")
        if listing.ok and isinstance(listing.json, dict):
            for entry in listing.json.get("data") or []:
                meta = entry.get("meta") or meta
        if self.engine_ctx_per_slot is None:
            props = fetch(self.engine_url, "/props")
            if props.ok and isinstance(props.json, dict):
                self.engine_ctx_per_slot = (props.json.get("default_generation_settings") or {}).get("n_ctx")
        gguf = gguf_metadata(self.gguf_path) if self.gguf_path else {}
        self.models = _catalogue(self.model, meta, gguf, self.gguf_path)

    # -- logging in Ollama's formats --
    def log(self, line: str) -> None:
        with self._log_lock:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def slog(self, level: str, source: str, msg: str, **attrs: Any) -> None:
        parts = [f"time={slog_time()}", f"level={level}", f"source={source}", f"msg={json.dumps(msg)}"]
        for key, value in attrs.items():
            text = str(value)
            parts.append(f"{key}={json.dumps(text) if (' ' in text or not text) else text}")
        self.log(" ".join(parts))

    def _startup_log(self) -> None:
        env = {
            "CUDA_VISIBLE_DEVICES": "",
            "GPU_DEVICE_ORDINAL": "",
            "HIP_VISIBLE_DEVICES": "",
            "HSA_OVERRIDE_GFX_VERSION": "",
            "HTTPS_PROXY": "",
            "HTTP_PROXY": "",
            "NO_PROXY": "",
            "OLLAMA_CONTEXT_LENGTH": str(self.num_ctx),
            "OLLAMA_DEBUG": "INFO",
            "OLLAMA_FLASH_ATTENTION": "false",
            "OLLAMA_GPU_OVERHEAD": "0",
            "OLLAMA_HOST": f"http://127.0.0.1:{self.port}",
            "OLLAMA_INTEL_GPU": "false",
            "OLLAMA_KEEP_ALIVE": go_duration(self.keep_alive_s * 1_000_000_000),
            "OLLAMA_KV_CACHE_TYPE": "",
            "OLLAMA_LLM_LIBRARY": "",
            "OLLAMA_LOAD_TIMEOUT": "5m0s",
            "OLLAMA_MAX_LOADED_MODELS": "0",
            "OLLAMA_MAX_QUEUE": str(self.max_queue),
            "OLLAMA_MODELS": "/usr/share/ollama/.ollama/models",
            "OLLAMA_MULTIUSER_CACHE": "false",
            "OLLAMA_NEW_ENGINE": "false",
            "OLLAMA_NOHISTORY": "false",
            "OLLAMA_NOPRUNE": "false",
            "OLLAMA_NUM_PARALLEL": str(self.num_parallel),
            "OLLAMA_ORIGINS": "[http://localhost https://localhost http://localhost:* https://localhost:* "
            "http://127.0.0.1 https://127.0.0.1 http://127.0.0.1:* https://127.0.0.1:* "
            "http://0.0.0.0 https://0.0.0.0 http://0.0.0.0:* https://0.0.0.0:* app://* "
            "file://* tauri://* vscode-webview://* vscode-file://*]",
            "OLLAMA_SCHED_SPREAD": "false",
            "ROCR_VISIBLE_DEVICES": "",
            "http_proxy": "",
            "https_proxy": "",
            "no_proxy": "",
        }
        rendered = " ".join(f"{k}:{v}" for k, v in sorted(env.items()))
        self.slog("INFO", "routes.go:1331", "server config", env=f"map[{rendered}]")
        self.slog("INFO", "images.go:477", f"total blobs: {2 * len(self.models)}")
        self.slog("INFO", "images.go:484", "total unused blobs removed: 0")
        self.slog("INFO", "routes.go:1384", f"Listening on 127.0.0.1:{self.port} (version {self.version})")
        self.slog("INFO", "gpu.go:217", "looking for compatible GPUs")
        self.slog("INFO", "gpu.go:377", "no compatible GPUs were discovered")
        self.slog(
            "INFO",
            "types.go:130",
            "inference compute",
            id="0",
            library="cpu",
            variant="",
            compute="",
            driver="0.0",
            name="",
            total="0 B",
            available="0 B",
        )

    # -- app --
    def _build_app(self) -> Starlette:
        routes = [
            Route("/", self.root, methods=["GET", "HEAD"]),
            Route("/api/version", self.api_version, methods=["GET", "HEAD"]),
            Route("/api/tags", self.api_tags, methods=["GET", "HEAD"]),
            Route("/api/ps", self.api_ps, methods=["GET"]),
            Route("/api/show", self.api_show, methods=["POST"]),
            Route("/api/chat", self.api_chat, methods=["POST"]),
            Route("/api/generate", self.api_generate, methods=["POST"]),
            Route("/v1/chat/completions", self.v1_chat, methods=["POST"]),
            Route("/v1/models", self.v1_models, methods=["GET"]),
        ]
        app = Starlette(routes=routes)
        return _GinAccessLog(app, self)

    async def root(self, request: Request) -> Response:
        return PlainTextResponse("Ollama is running")

    async def api_version(self, request: Request) -> Response:
        return _json({"version": self.version})

    def _tag_entry(self, m: ServedModel) -> dict:
        return {
            "name": m.name,
            "model": m.name,
            "modified_at": go_time(m.modified_ns),
            "size": m.size,
            "digest": m.digest,
            "details": m.details,
        }

    async def api_tags(self, request: Request) -> Response:
        return _json({"models": [self._tag_entry(m) for m in self.models.values()]})

    async def api_ps(self, request: Request) -> Response:
        # The engine keeps the weights loaded, so the main model is always listed; expires_at
        # follows Ollama's keep_alive from the last use.
        m = self.models[self.model]
        expires = int((self.last_used + self.keep_alive_s) * 1e9)
        return _json(
            {
                "models": [
                    {
                        "name": m.name,
                        "model": m.name,
                        "size": m.size,
                        "digest": m.digest,
                        "details": m.details,
                        "expires_at": go_time(expires),
                        "size_vram": 0,
                        "context_length": self.num_ctx,
                    }
                ]
            }
        )

    async def api_show(self, request: Request) -> Response:
        try:
            body = await _body(request)
            name = body.get("model") or body.get("name")
            if not name:
                raise BadRequest("model is required")
            m = self._model(name)
        except BadRequest as exc:
            return _error(exc.status, str(exc))
        params = "\n".join(
            f"{k:<30} {_go_param(v)}"
            for k, values in MODEL_PARAMETERS.items()
            for v in (values if isinstance(values, list) else [values])
        )
        template = (
            "{{- range $i, $_ := .Messages }}\n{{- $last := eq (len (slice $.Messages $i)) 1 }}\n"
            '{{- if or (eq .Role "user") (eq .Role "system") }}<start_of_turn>user\n'
            "{{ .Content }}<end_of_turn>\n{{ if $last }}<start_of_turn>model\n{{ end }}\n"
            '{{- else if eq .Role "assistant" }}<start_of_turn>model\n'
            "{{ .Content }}{{ if not $last }}<end_of_turn>\n{{ end }}\n{{- end }}\n{{- end }}"
        )
        modelfile = (
            f'# Modelfile generated by "ollama show"\n# To build a new Modelfile based on this, '
            f"replace FROM with:\n# FROM {m.name}\n\n"
            f"FROM /usr/share/ollama/.ollama/models/blobs/sha256-{m.digest}\n"
            f'TEMPLATE """{template}"""\n'
            + "".join(
                f"PARAMETER {k} {_go_param(v)}\n"
                for k, values in MODEL_PARAMETERS.items()
                for v in (values if isinstance(values, list) else [values])
            )
            + 'LICENSE """Gemma Terms of Use"""\n'
        )
        return _json(
            {
                "license": "Gemma Terms of Use",
                "modelfile": modelfile,
                "parameters": params,
                "template": template,
                "details": m.details,
                "model_info": m.model_info,
                "tensors": [],
                "capabilities": m.capabilities,
                "modified_at": go_time(m.modified_ns),
            }
        )

    async def v1_models(self, request: Request) -> Response:
        return _json(
            {
                "object": "list",
                "data": [
                    {"id": m.name, "object": "model", "created": m.modified_ns // 1_000_000_000, "owned_by": "library"}
                    for m in self.models.values()
                ],
            }
        )

    def _model(self, name: str) -> ServedModel:
        m = self.models.get(name) or self.models.get(name.removesuffix(":latest"))
        if m is None:
            raise BadRequest(f"model '{name}' not found", 404)
        return m

    # -- request translation (Ollama native -> canonical) --
    def _from_native(self, body: dict, *, generate: bool) -> ChatRequest:
        messages: list[Message] = []
        if generate:
            if body.get("system"):
                messages.append(Message(role="system", content=str(body["system"])))
            messages.append(Message(role="user", content=str(body.get("prompt") or "")))
        else:
            raw = body.get("messages") or []
            if not isinstance(raw, list):
                raise BadRequest(
                    "json: cannot unmarshal object into Go struct field ChatRequest.messages of type []api.Message"
                )
            for m in raw:
                if not isinstance(m, dict):
                    raise BadRequest("json: cannot unmarshal into Go struct field ChatRequest.messages")
                calls = []
                for i, tc in enumerate(m.get("tool_calls") or []):
                    fn = tc.get("function") or {}
                    if isinstance(fn.get("arguments"), str):
                        raise BadRequest(
                            "json: cannot unmarshal string into Go struct field "
                            "ChatRequest.messages.tool_calls.function.arguments of type "
                            "api.ToolCallFunctionArguments"
                        )
                    calls.append(
                        ToolCall(
                            name=fn.get("name", ""),
                            arguments=fn.get("arguments") or {},
                            id=tc.get("id") or f"call_{i}",
                            index=i,
                        )
                    )
                messages.append(
                    Message(
                        role=str(m.get("role", "")).lower(),
                        content=m.get("content") or "",
                        images=list(m.get("images") or []),
                        tool_calls=calls,
                        name=m.get("tool_name"),
                        tool_call_id=m.get("tool_call_id"),
                    )
                )
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise BadRequest("json: cannot unmarshal into Go struct field ChatRequest.options")
        merged = {k: (v if not isinstance(v, list) else list(v)) for k, v in MODEL_PARAMETERS.items()}
        merged.update(options)
        stop = merged.get("stop")
        num_predict = merged.get("num_predict")
        sampling = Sampling(
            temperature=merged.get("temperature"),
            top_p=merged.get("top_p"),
            top_k=merged.get("top_k"),
            seed=merged.get("seed") if merged.get("seed", -1) not in (-1, None) else None,
            max_tokens=num_predict if isinstance(num_predict, int) and num_predict >= 0 else None,
            stop=[stop] if isinstance(stop, str) else stop,
            presence_penalty=merged.get("presence_penalty"),
            frequency_penalty=merged.get("frequency_penalty"),
        )
        fmt = body.get("format")
        response_format = None
        if fmt == "json":
            response_format = ResponseFormat(type="json")
        elif isinstance(fmt, dict):
            response_format = ResponseFormat(type="json_schema", schema=fmt, name="schema")
        elif fmt not in (None, ""):
            raise BadRequest(f"invalid format: {json.dumps(fmt)}")
        return ChatRequest(
            model=self.engine_model,
            messages=messages,
            tools=list(body.get("tools") or []),
            response_format=response_format,
            sampling=sampling,
            stream=bool(body.get("stream", True)),
            extras={"ollama_num_ctx": {"value": options.get("num_ctx")}},
        )

    # -- truncation --
    async def _engine(self, path: str, payload: dict) -> dict:
        """One template/tokenize call; a failure is an engine error, never a silent zero count."""
        result = await fetch_async(
            self.engine_url, path, method="POST", json=payload, timeouts=self.engine_fetch_timeouts
        )
        if not result.ok or not isinstance(result.json, dict):
            reason = result.error.message if result.error else f"HTTP {result.status}"
            raise EngineError(f"engine {path} failed: {reason}")
        return result.json

    async def _count(self, messages: list[Message], tools: list[dict]) -> int:
        payload: dict = {"messages": [openai_wire.encode_message(m) for m in messages]}
        if tools:
            payload["tools"] = tools
        rendered = await self._engine("/apply-template", payload)
        # tokenized exactly as llama-server tokenizes a chat prompt
        tokens = await self._engine(
            "/tokenize", {"content": rendered.get("prompt", ""), "add_special": True, "parse_special": True}
        )
        return len(tokens.get("tokens") or [])

    async def _truncate(self, req: ChatRequest, limit: int) -> tuple[int, int]:
        """Front-truncate ``req.messages`` in place to fit ``limit`` tokens. Returns (original, new)."""
        original = await self._count(req.messages, req.tools)
        if original <= limit:
            return original, original
        msgs = list(req.messages)
        system = [m for m in msgs if m.role == "system"][:1]
        rest = [m for m in msgs if m not in system]
        keep = await self._count(system, req.tools) if system else 0
        # Keep the longest suffix of messages that fits (what dropping the oldest one at a time
        # finds, as the count only shrinks with fewer messages), by bisection: a few engine
        # round trips instead of one per dropped message.
        lo, hi = 1, len(rest) - 1  # drop counts: 0 is known too long; the last message stays
        counts = {0: original}
        while lo <= hi:
            mid = (lo + hi) // 2
            counts[mid] = await self._count(system + rest[mid:], req.tools)
            if counts[mid] <= limit:
                hi = mid - 1
            else:
                lo = mid + 1
        drop = max(0, min(lo, len(rest) - 1))
        rest = rest[drop:]
        count = counts.get(drop)
        if count is None:
            count = await self._count(system + rest, req.tools)
        if count > limit and rest and rest[0].content:
            target = rest[0]
            ids = await self._engine("/tokenize", {"content": target.content, "add_special": False})
            toks = ids.get("tokens") or []
            cut = min(len(toks), count - limit + 1)
            text = await self._engine("/detokenize", {"tokens": toks[cut:]})
            target.content = text.get("content") or ""
            count = await self._count(system + rest, req.tools)
        req.messages = system + rest
        self.slog(
            "WARN", "runner.go:131", "truncating input prompt", limit=limit, prompt=original, keep=keep or 0, new=count
        )
        return original, count

    async def _run(
        self, request: Request, body: dict, *, generate: bool, openai_layer: bool, relay: Optional["_Relay"] = None
    ) -> tuple[Prepared, Exchange]:
        received = time.time_ns()
        model = self._model(str(body.get("model")))
        if body.get("tools") and "tools" not in model.capabilities:
            raise BadRequest(f"{REGISTRY}{model.name} does not support tools")
        req = self._from_native(body, generate=generate)
        return await self._execute(model, req, received, body.get("options") or {}, relay=relay)

    async def _execute(
        self, model: ServedModel, req: ChatRequest, received: int, options: dict, relay: Optional["_Relay"] = None
    ) -> tuple[Prepared, Exchange]:
        """Admission, truncation, then the engine call. With a ``relay``, it is told when the request
        was admitted (the HTTP status is then 200) and receives each delta as it arrives."""
        req.extras = {"openai": {"cache_prompt": self.cache_prompt}}
        limit = options.get("num_ctx") if isinstance(options.get("num_ctx"), int) else self.num_ctx
        if self.engine_ctx_per_slot:
            limit = min(limit, int(self.engine_ctx_per_slot))
        async with self.admission:
            if relay is not None:
                relay.admitted()
            prepared = Prepared(model, req, received)
            # Always stream from the engine: the first-token time splits prompt eval from eval
            # (Ollama's prompt_eval_duration / eval_duration) even when the client did not stream.
            client_stream, req.stream = req.stream, True
            try:
                original, new = await self._truncate(req, limit)
            except EngineError as exc:
                ex = Exchange(
                    request=req,
                    protocol="openai",
                    url=self.engine_url,
                    error=ErrorInfo("server_error", str(exc)),
                    finish_reason="error",
                )
            else:
                if new < original:
                    prepared.truncated_from = original
                prepared.prompt_tokens_estimate = new
                prepared.extra["load_ns"] = time.time_ns() - received
                ex = await send_async(self.backend, req, on_delta=relay.put if relay and relay.live else None)
            req.stream = client_stream
            self.last_used = time.time()
        return prepared, ex

    # -- /api/chat and /api/generate --
    async def api_chat(self, request: Request) -> Response:
        return await self._native(request, generate=False)

    async def api_generate(self, request: Request) -> Response:
        return await self._native(request, generate=True)

    async def _native(self, request: Request, *, generate: bool) -> Response:
        try:
            body = await _body(request)
            if not body.get("model"):
                raise BadRequest("model is required")
            model = self._model(str(body["model"]))
            empty = (not body.get("prompt")) if generate else not body.get("messages")
            if empty:  # an empty request only loads the model
                return _json(self._load_response(model.name, generate))
            stream = bool(body.get("stream", True))
            relay = _Relay(live=stream)
            await relay.start(self._run(request, body, generate=generate, openai_layer=False, relay=relay))
        except BadRequest as exc:
            return _error(exc.status, str(exc))
        except Busy as exc:
            return _error(503, str(exc))
        name = model.name
        if stream:
            return _RelayResponse(self._native_stream(name, relay, generate), relay, media_type="application/x-ndjson")
        finished = await relay.unless_disconnected(request.receive)
        if finished is None:
            return Response(status_code=CLIENT_CLOSED)
        prepared, ex = finished
        if generate and ex.error is None:
            await self._context(prepared, ex)
        if ex.error is not None:
            return _error(500, ex.error.message)
        return _json(self._final_native(name, prepared, ex, generate, content=ex.content, tool_calls=ex.tool_calls))

    async def _context(self, prepared: Prepared, ex: Exchange) -> None:
        """/api/generate's deprecated ``context``: token ids of the rendered prompt plus the answer."""
        try:
            rendered = await self._engine(
                "/apply-template", {"messages": [openai_wire.encode_message(m) for m in prepared.request.messages]}
            )
            tokens = await self._engine(
                "/tokenize",
                {"content": rendered.get("prompt", "") + ex.content, "add_special": False, "parse_special": True},
            )
        except EngineError:
            return  # the answer itself is complete; only the deprecated field is missing
        prepared.extra["context"] = list(tokens.get("tokens") or [])

    def _load_response(self, name: str, generate: bool) -> dict:
        if generate:
            return {"model": name, "created_at": go_time(), "response": "", "done": True, "done_reason": "load"}
        return {
            "model": name,
            "created_at": go_time(),
            "message": {"role": "assistant", "content": ""},
            "done_reason": "load",
            "done": True,
        }

    def _metrics(self, prepared: Prepared, ex: Exchange) -> dict:
        t = ex.timings
        timings = ex.server_extra.get("timings") if isinstance(ex.server_extra.get("timings"), dict) else {}
        if timings.get("prompt_ms") is not None:
            prompt_ns = int(float(timings["prompt_ms"]) * 1e6)
        elif t.sent is not None and t.first_token is not None:
            prompt_ns = int((t.first_token - t.sent) * 1e9)
        else:
            prompt_ns = 0
        if timings.get("predicted_ms") is not None:
            eval_ns = int(float(timings["predicted_ms"]) * 1e6)
        elif t.first_token is not None and t.end is not None:
            eval_ns = int((t.end - t.first_token) * 1e9)
        else:
            eval_ns = 0
        prompt_count = (
            ex.usage.prompt_tokens if ex.usage.prompt_tokens is not None else prepared.prompt_tokens_estimate or 0
        )
        eval_count = (
            ex.usage.completion_tokens
            if ex.usage.completion_tokens is not None
            else len([d for d in ex.deltas if d.is_token])
        )
        return OrderedDict(
            [
                ("total_duration", time.time_ns() - prepared.received_ns),
                ("load_duration", prepared.extra.get("load_ns", 0)),
                ("prompt_eval_count", prompt_count),
                ("prompt_eval_duration", prompt_ns),
                ("eval_count", eval_count),
                ("eval_duration", eval_ns),
            ]
        )

    def _final_native(
        self, name: str, prepared: Prepared, ex: Exchange, generate: bool, *, content: str, tool_calls: list[ToolCall]
    ) -> dict:
        # Ollama reports "length" when num_predict was hit, "stop" otherwise (also after a tool call).
        reason = "length" if ex.finish_reason == "length" else "stop"
        out: dict = OrderedDict([("model", name), ("created_at", go_time())])
        if generate:
            out["response"] = content
            out["done"] = True
            out["done_reason"] = reason
            if prepared.extra.get("context") is not None:
                out["context"] = prepared.extra["context"]
        else:
            message: dict = {"role": "assistant", "content": content}
            if tool_calls:
                message["tool_calls"] = [_native_call(tc) for tc in tool_calls]
            out["message"] = message
            out["done_reason"] = reason  # ChatResponse declares done_reason before done
            out["done"] = True
        out.update(self._metrics(prepared, ex))
        return out

    async def _native_stream(self, name: str, relay: "_Relay", generate: bool):
        # Content is written as it arrives; tool-call fragments stay with the decoder until the
        # engine is done, because Ollama sends each call whole in one chunk.
        async for d in relay.deltas():
            if d.content:
                if generate:
                    yield _line({"model": name, "created_at": go_time(), "response": d.content, "done": False})
                else:
                    yield _line(
                        {
                            "model": name,
                            "created_at": go_time(),
                            "message": {"role": "assistant", "content": d.content},
                            "done": False,
                        }
                    )
        try:
            prepared, ex = await relay.result()
        except Exception as exc:  # noqa: BLE001 - the status is sent: end the stream as Ollama does
            yield _line({"error": f"{type(exc).__name__}: {exc}"})
            return
        if generate and ex.error is None:
            await self._context(prepared, ex)
        if ex.tool_calls and not generate:
            # A tool call arrives whole in one done:false chunk with empty content.
            yield _line(
                {
                    "model": name,
                    "created_at": go_time(),
                    "message": {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [_native_call(tc) for tc in ex.tool_calls],
                    },
                    "done": False,
                }
            )
        if ex.error is not None:
            yield _line({"error": ex.error.message})  # HTTP status is already 200
            return
        yield _line(self._final_native(name, prepared, ex, generate, content="", tool_calls=[]))

    # -- /v1/chat/completions (Ollama's OpenAI layer) --
    async def v1_chat(self, request: Request) -> Response:
        try:
            body = await _body(request, openai=True)
            if not body.get("model"):
                raise BadRequest("model is required")
            name = str(body["model"])
            if name not in self.models and name.removesuffix(":latest") not in self.models:
                raise BadRequest(f'model "{name}" not found, try pulling it first', 404)
            model = self._model(name)
            if not body.get("messages"):
                raise BadRequest("[] is too short - 'messages'")
            if body.get("tools") and "tools" not in model.capabilities:
                raise BadRequest(f"{REGISTRY}{model.name} does not support tools")
            try:
                req = ChatRequest.from_openai(body)
            except ValueError as exc:
                raise BadRequest(str(exc)) from exc
            # Ollama's layer: max_completion_tokens is not a field (ignored), tool_choice is ignored,
            # temperature/top_p default to 1.0, unknown fields (num_ctx, top_k, ...) are dropped.
            req.sampling.max_tokens = body.get("max_tokens") if isinstance(body.get("max_tokens"), int) else None
            req.sampling.temperature = body.get("temperature", 1.0) if body.get("temperature") is not None else 1.0
            req.sampling.top_p = body.get("top_p", 1.0) if body.get("top_p") is not None else 1.0
            req.sampling.top_k = None
            req.tool_choice = None
            req.model = self.engine_model
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            req.include_usage = True
            stream = req.stream  # _execute streams from the engine whatever the client asked
            relay = _Relay(live=stream)
            await relay.start(self._execute(model, req, time.time_ns(), {}, relay=relay))
        except BadRequest as exc:
            return _openai_error(exc.status, str(exc))
        except Busy as exc:
            return _openai_error(503, str(exc))
        cid = f"chatcmpl-{random.randint(0, 998)}"
        created = int(time.time())

        def outcome(prepared: Prepared, ex: Exchange) -> tuple[str, dict]:
            reason = "length" if ex.finish_reason == "length" else "stop"
            if ex.tool_calls and reason == "stop":
                reason = "tool_calls"
            metrics = self._metrics(prepared, ex)
            return reason, {
                "prompt_tokens": metrics["prompt_eval_count"],
                "completion_tokens": metrics["eval_count"],
                "total_tokens": metrics["prompt_eval_count"] + metrics["eval_count"],
            }

        if not stream:
            finished = await relay.unless_disconnected(request.receive)
            if finished is None:
                return Response(status_code=CLIENT_CLOSED)
            prepared, ex = finished
            reason, usage = outcome(prepared, ex)
            if ex.error is not None:
                return _openai_error(500, ex.error.message)
            message: dict = {"role": "assistant", "content": ex.content}
            if ex.tool_calls:
                message["tool_calls"] = [_openai_call(tc, i) for i, tc in enumerate(ex.tool_calls)]
            return _json(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model.name,
                    "system_fingerprint": "fp_ollama",
                    "choices": [{"index": 0, "message": message, "finish_reason": reason}],
                    "usage": usage,
                }
            )

        def chunk(delta: dict, finish: Optional[str]) -> str:
            return _sse(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model.name,
                    "system_fingerprint": "fp_ollama",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
            )

        def error_event(message: str) -> str:
            return _sse({"error": {"message": message, "type": "api_error", "param": None, "code": None}})

        async def events():
            # Content live; a tool call whole in one delta once the engine has finished it.
            async for d in relay.deltas():
                if d.content:
                    yield chunk({"role": "assistant", "content": d.content}, None)
            try:
                prepared, ex = await relay.result()
            except Exception as exc:  # noqa: BLE001 - the status is sent: end the stream with an error
                yield error_event(f"{type(exc).__name__}: {exc}")
                yield "data: [DONE]\n\n"
                return
            reason, usage = outcome(prepared, ex)
            if ex.tool_calls:
                yield chunk(
                    {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [_openai_call(tc, i) for i, tc in enumerate(ex.tool_calls)],
                    },
                    None,
                )
            if ex.error is not None:
                yield error_event(ex.error.message)
                yield "data: [DONE]\n\n"
                return
            yield chunk({"role": "assistant", "content": ""}, reason)
            if include_usage:
                yield _sse(
                    {
                        "id": cid,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model.name,
                        "system_fingerprint": "fp_ollama",
                        "choices": [],
                        "usage": usage,
                    }
                )
            yield "data: [DONE]\n\n"

        return _RelayResponse(events(), relay, media_type="text/event-stream")


# --- helpers -----------------------------------------------------------------------------------------


class _Relay:
    """One engine exchange run as a task, its deltas handed to the response as they arrive.

    ``send_async`` calls ``put`` synchronously with each delta; the response generator awaits them.
    The HTTP status is settled once the request is admitted: a 503 (or 400) before, 200 after.
    """

    def __init__(self, live: bool = True):
        self.live = live  # relay deltas (a streamed answer) or only the outcome
        self._queue: asyncio.Queue = asyncio.Queue()
        self._admitted = asyncio.get_running_loop().create_future()
        self._task: Optional[asyncio.Task] = None

    def admitted(self) -> None:
        if not self._admitted.done():
            self._admitted.set_result(None)

    def put(self, delta: Delta) -> None:
        self._queue.put_nowait(delta)

    async def start(self, coro) -> None:
        """Run ``coro``; return once admitted, or raise what it raised before that (Busy, ...)."""
        self._task = asyncio.create_task(coro)
        # The end marker is queued by the done-callback, i.e. after the task's last delta.
        self._task.add_done_callback(lambda _task: self._queue.put_nowait(None))
        try:
            await asyncio.wait({self._task, self._admitted}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            self.cancel()  # the client went away while queued
            raise
        if not self._admitted.done():
            self._task.result()

    async def deltas(self):
        while (delta := await self._queue.get()) is not None:
            yield delta

    async def result(self) -> tuple[Prepared, Exchange]:
        return await self._task

    async def unless_disconnected(self, receive) -> Optional[tuple[Prepared, Exchange]]:
        """The outcome, or None when the client left first: like Ollama, stop the engine request
        then, rather than hold the slot (and everyone queued behind it) for an answer nobody reads."""
        gone = asyncio.ensure_future(_disconnect(receive))
        try:
            await asyncio.wait({self._task, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not self._task.done():
            self.cancel()
            return None
        return self._task.result()

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()


async def _disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _RelayResponse(StreamingResponse):
    """A live stream that stops the engine request (and frees its slot) if the client leaves."""

    def __init__(self, content, relay: _Relay, **kw):
        super().__init__(content, **kw)
        self.relay = relay

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.relay.cancel()


def _native_call(tc: ToolCall) -> dict:
    return {"function": {"name": tc.name, "arguments": tc.arguments if tc.arguments is not None else {}}}


def _openai_call(tc: ToolCall, index: int) -> dict:
    call_id = "call_" + "".join(random.choices(string.ascii_lowercase + string.digits, k=8))
    return {
        "id": call_id,
        "index": index,
        "type": "function",
        "function": {"name": tc.name, "arguments": json.dumps(tc.arguments, separators=(",", ":"))},
    }


def _json_bytes(obj: Any) -> bytes:
    # Go's encoding/json: compact, and HTML characters escaped (<, >, & as \u003c ...).
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def _json(obj: Any, status: int = 200) -> Response:
    return Response(_json_bytes(obj), status_code=status, media_type="application/json; charset=utf-8")


def _line(obj: dict) -> bytes:
    return _json_bytes(obj) + b"\n"


def _sse(obj: dict) -> str:
    return "data: " + _json_bytes(obj).decode() + "\n\n"


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def _openai_error(status: int, message: str) -> Response:
    kind = {400: "invalid_request_error"}.get(status, "api_error")
    return _json({"error": {"message": message, "type": kind, "param": None, "code": None}}, status)


async def _body(request: Request, openai: bool = False) -> dict:
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("missing request body" if not openai else "EOF")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadRequest(_go_json_error(raw, exc)) from None
    if not isinstance(data, dict):
        raise BadRequest(f"json: cannot unmarshal {type(data).__name__} into Go value of type api.ChatRequest")
    return data


def _go_json_error(raw: bytes, exc: json.JSONDecodeError) -> str:
    """The message Go's encoding/json gives for the same mistake (close enough to match on)."""
    if exc.pos >= len(raw.decode("utf-8", "replace").rstrip()):
        return "unexpected EOF"
    char = raw.decode("utf-8", "replace")[exc.pos]
    where = (
        "looking for beginning of value"
        if exc.msg.startswith("Expecting value")
        else "looking for beginning of object key string"
        if "property name" in exc.msg
        else "after object key"
    )
    return f"invalid character {char!r} {where}"


class _GinAccessLog:
    """ASGI wrapper writing one gin access line per request, timed to the end of the body."""

    def __init__(self, app, server: OllamaTestServer):
        self.app = app
        self.server = server

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter_ns()
        state = {"status": 500}

        async def wrapped(message):
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            if message["type"] == "http.response.body" and not message.get("more_body"):
                # Logged just before the last body bytes go out, so a client that has read the whole
                # response always finds its access line in the log.
                path = scope["path"] + (("?" + scope["query_string"].decode()) if scope.get("query_string") else "")
                client = (scope.get("client") or ("", 0))[0]
                self.server.log(
                    gin_line(state["status"], time.perf_counter_ns() - started, client, scope["method"], path)
                )
            await send(message)

        await self.app(scope, receive, wrapped)
