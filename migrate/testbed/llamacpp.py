"""A real llama.cpp server (xllamacpp) in a subprocess we own.

``xllamacpp.Server`` runs llama.cpp's C++ HTTP server inside the calling process and cannot be
stopped cleanly from Python, so it lives in a child process started in its own session (process
group): stopping kills the group, which also reaps anything the engine spawned. The child also
exits when its stdin closes, so a crashed parent never leaves an orphan engine holding a port.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path
from typing import Optional

from ..protocol import fetch
from .model import MODEL_NAME, model_path


class EngineStartError(RuntimeError):
    """The engine did not come up (the log tail is in the message)."""


def default_chat_template() -> str:
    """The tool-aware Gemma template (Gemma turns + Hermes <tool_call> tags); the GGUF has none."""
    return files("migrate.testbed").joinpath("data", "gemma3-tools.jinja").read_text()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaCppServer:
    """Context manager: ``with LlamaCppServer() as eng: eng.url`` -> ``http://127.0.0.1:<port>``.

    ``n_ctx`` is the TOTAL context; llama.cpp splits it across ``n_parallel`` slots.
    """

    def __init__(self, *, n_ctx: int = 8192, n_parallel: int = 2, chat_template: Optional[str] = None,
                 model_alias: str = MODEL_NAME, start_timeout: float = 120.0,
                 log_path: Optional[Path] = None):
        self.n_ctx = n_ctx
        self.n_parallel = n_parallel
        self.chat_template = chat_template if chat_template is not None else default_chat_template()
        self.model_alias = model_alias
        self.start_timeout = start_timeout
        self.log_path = Path(log_path) if log_path else Path(
            tempfile.mkdtemp(prefix="migrate-llamacpp-")) / "llamacpp.log"
        self.port: Optional[int] = None
        self.url: Optional[str] = None
        self.model_path: Optional[Path] = None
        self.start_seconds: Optional[float] = None
        self._proc: Optional[subprocess.Popen] = None

    @property
    def n_ctx_per_slot(self) -> int:
        return self.n_ctx // max(1, self.n_parallel)

    def start(self) -> "LlamaCppServer":
        started = time.perf_counter()
        self.model_path = model_path()
        last_error = ""
        for _attempt in range(3):         # a port picked free can be taken before the child binds it
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            config = {"model": str(self.model_path), "port": self.port, "n_ctx": self.n_ctx,
                      "n_parallel": self.n_parallel, "chat_template": self.chat_template,
                      "alias": self.model_alias}
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(self.log_path, "ab")
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "migrate.testbed.llamacpp", json.dumps(config)],
                    stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
            finally:
                log.close()
            last_error = self._wait_healthy(started)
            if not last_error:
                self.start_seconds = time.perf_counter() - started
                return self
            self.stop()
            if time.perf_counter() - started > self.start_timeout:
                break
        raise EngineStartError(f"llama.cpp did not start: {last_error}; log tail:\n{self.log_tail()}")

    def _wait_healthy(self, started: float) -> str:
        """Poll /health until 200 (llama.cpp answers 503 while loading). Returns '' or the reason."""
        while time.perf_counter() - started < self.start_timeout:
            if self._proc.poll() is not None:
                return f"engine process exited with code {self._proc.returncode}"
            result = fetch(self.url, "/health")
            if result.status == 200:
                return ""
            time.sleep(0.2)   # polling interval for a condition with a deadline, not a synchronisation guess
        return f"no /health 200 within {self.start_timeout:g} s"

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=timeout)
        if proc.stdin:
            proc.stdin.close()

    def __enter__(self) -> "LlamaCppServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _child(config: dict) -> None:
    """Runs in the subprocess: start the engine, then block until stdin closes or a signal."""
    import threading

    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = config["model"]
    params.n_ctx = config["n_ctx"]
    params.n_parallel = config["n_parallel"]
    params.hostnames = ["127.0.0.1"]
    params.port = config["port"]
    params.use_jinja = True
    params.endpoint_metrics = True
    params.model_alias = [config["alias"]]
    if config.get("chat_template"):
        params.chat_template = config["chat_template"]
    server = xlc.Server(params)   # listening when this returns; keep the reference alive
    print(f"xllamacpp listening on 127.0.0.1:{config['port']}", flush=True)

    def watch_parent() -> None:
        sys.stdin.buffer.read()    # EOF when the parent closes the pipe or dies
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        signal.pause()
    del server  # pragma: no cover


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
