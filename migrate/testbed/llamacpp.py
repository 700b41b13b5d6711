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
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path
from typing import Optional

from .model import MODEL_NAME, model_path
from .process import EngineStartError, ManagedServer, free_port, spawn_group

__all__ = ["LlamaCppServer", "EngineStartError", "default_chat_template", "free_port"]


def default_chat_template() -> str:
    """The tool-aware Gemma template (Gemma turns + Hermes <tool_call> tags); the GGUF has none."""
    return files("migrate.testbed").joinpath("data/gemma3-tools.jinja").read_text()


class LlamaCppServer(ManagedServer):
    """Context manager: ``with LlamaCppServer() as eng: eng.url`` -> ``http://127.0.0.1:<port>``.

    ``n_ctx`` is the TOTAL context; llama.cpp splits it across ``n_parallel`` slots.
    """

    engine_name = "llama.cpp"
    process_label = "engine process"
    start_attempts = 3
    health_interval = 0.2  # llama.cpp answers 503 while loading; it loads in seconds
    stop_timeout = 10.0

    def __init__(
        self,
        *,
        n_ctx: int = 8192,
        n_parallel: int = 2,
        chat_template: Optional[str] = None,
        model_alias: str = MODEL_NAME,
        start_timeout: float = 120.0,
        log_path: Optional[Path] = None,
    ):
        super().__init__(
            start_timeout=start_timeout, log_path=log_path, log_prefix="migrate-llamacpp-", log_name="llamacpp.log"
        )
        self.n_ctx = n_ctx
        self.n_parallel = n_parallel
        self.chat_template = chat_template if chat_template is not None else default_chat_template()
        self.model_alias = model_alias
        self.model_path: Optional[Path] = None

    @property
    def n_ctx_per_slot(self) -> int:
        return self.n_ctx // max(1, self.n_parallel)

    def start(self) -> "LlamaCppServer":
        started = time.perf_counter()
        self.model_path = model_path()
        self._start_from(started)
        return self

    def _launch(self, port: int) -> subprocess.Popen:
        config = {
            "model": str(self.model_path),
            "port": port,
            "n_ctx": self.n_ctx,
            "n_parallel": self.n_parallel,
            "chat_template": self.chat_template,
            "alias": self.model_alias,
        }
        # stdin is a pipe the child watches: it exits when we close it or die.
        return spawn_group(
            [sys.executable, "-m", "migrate.testbed.llamacpp", json.dumps(config)], self.log_path, stdin=subprocess.PIPE
        )


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
    server = xlc.Server(params)  # listening when this returns; keep the reference alive
    print(f"xllamacpp listening on 127.0.0.1:{config['port']}", flush=True)

    def watch_parent() -> None:
        sys.stdin.buffer.read()  # EOF when the parent closes the pipe or dies
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        signal.pause()
    del server  # pragma: no cover


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
