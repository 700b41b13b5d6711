"""Engine servers in a process group we own: spawn with a log file, wait for /health, stop the group.

Shared by ``LlamaCppServer`` and ``VllmServer``. Each server runs in its own session (process
group): engines fork helpers (vLLM's engine core), and killing the group is the only way to be
sure none of them outlives the test run holding a port or gigabytes of memory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

from ..protocol import Timeouts, fetch


class EngineStartError(RuntimeError):
    """The engine did not come up (the log tail is in the message)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_group(argv: Sequence[str], log_path: Path, *, header: Optional[str] = None, **popen_kw) -> subprocess.Popen:
    """Start ``argv`` as the leader of a new session, stdout+stderr appended to ``log_path``.

    ``header`` is written to the log first (e.g. the command line), so a log holding several
    attempts says which one each part belongs to."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        if header is not None:
            log.write(header.encode())
            log.flush()
        # The child holds its own copy of the descriptor: closing ours here is safe.
        return subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **popen_kw)


def wait_healthy(
    url: str,
    proc: subprocess.Popen,
    *,
    started: float,
    timeout: float,
    interval: float,
    timeouts: Optional[Timeouts] = None,
    what: str = "engine process",
) -> str:
    """Poll ``url``/health until 200 or ``started + timeout`` (perf_counter). Returns '' or why not.

    Engines answer 503 (or refuse connections) while loading; a process that exits ends the wait
    at once instead of at the deadline."""
    kw = {"timeouts": timeouts} if timeouts is not None else {}
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            return f"{what} exited with code {proc.returncode}"
        if fetch(url, "/health", **kw).status == 200:
            return ""
        time.sleep(interval)  # polling interval for a condition with a deadline, not a synchronisation guess
    return f"no /health 200 within {timeout:g} s"


def log_tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def group_members(pgid: int) -> list[int]:
    """PIDs whose process group is ``pgid``, zombies excluded (read from /proc; Linux only)."""
    members = []
    try:
        entries = os.listdir("/proc")
    except FileNotFoundError:  # no procfs: callers fall back to waiting on the leader only
        return members
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            members.append(int(entry))
    return members


def _killpg(pgid: int, sig: int) -> bool:
    """Signal the group; False when it no longer exists."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


def stop_group(proc: subprocess.Popen, timeout: float, *, grace: float = 5.0) -> None:
    """SIGTERM the group led by ``proc``, SIGKILL it when the leader ignores that for ``timeout``
    or other members outlive the leader by ``grace`` s; return once the group is empty."""
    pgid = proc.pid  # session leader: its pid is the group id
    _killpg(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    # Helpers (vLLM's engine core) may outlive the leader briefly; give them a grace period, then KILL.
    grace_end = time.monotonic() + grace
    killed = False
    while group_members(pgid):
        if not killed and (proc.returncode is None or time.monotonic() > grace_end):
            if not _killpg(pgid, signal.SIGKILL):
                break
            killed = True
        if time.monotonic() > grace_end + 10.0:
            raise RuntimeError(f"process group {pgid} survived SIGKILL: {group_members(pgid)}")
        time.sleep(0.1)  # waiting for the kernel to reap; bounded by the deadline above
    if proc.returncode is None:
        if not killed:  # no procfs to watch the group: make sure of the leader
            _killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    if proc.stdin:
        proc.stdin.close()


class ManagedServer:
    """Base of the engine servers: a context manager around one process group on a free port.

    Subclasses set ``engine_name`` and the class knobs, implement ``_launch(port)`` (spawn and
    return the leader) and call ``_start_from(started)`` from their ``start()``."""

    engine_name = "engine"
    process_label = "engine process"  # in "<label> exited with code N"
    start_attempts = 3  # a port picked free can be taken before the child binds it
    health_interval = 0.2
    health_timeouts: Optional[Timeouts] = None
    stop_timeout = 10.0

    def __init__(self, *, start_timeout: float, log_path: Optional[Path], log_prefix: str, log_name: str):
        self.start_timeout = start_timeout
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkdtemp(prefix=log_prefix)) / log_name
        self.port: Optional[int] = None
        self.url: Optional[str] = None
        self.start_seconds: Optional[float] = None
        self._proc: Optional[subprocess.Popen] = None

    def _launch(self, port: int) -> subprocess.Popen:
        raise NotImplementedError

    def _retry_after(self, tail: str) -> bool:
        """Whether a failed attempt (its log tail) is worth another one on a new port."""
        return True

    def _start_from(self, started: float) -> None:
        reason = ""
        for _attempt in range(self.start_attempts):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self._proc = self._launch(self.port)
            reason = wait_healthy(
                self.url,
                self._proc,
                started=started,
                timeout=self.start_timeout,
                interval=self.health_interval,
                timeouts=self.health_timeouts,
                what=self.process_label,
            )
            if not reason:
                self.start_seconds = time.perf_counter() - started
                return
            tail = self.log_tail()
            self.stop()
            if not self._retry_after(tail) or time.perf_counter() - started > self.start_timeout:
                break
        raise EngineStartError(
            f"{self.engine_name} did not start: {reason}; log {self.log_path}, tail:\n{self.log_tail()}"
        )

    def log_tail(self, n: int = 30) -> str:
        return log_tail(self.log_path, n)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stop the whole group (``timeout`` defaults to the class's ``stop_timeout``); idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_group(proc, self.stop_timeout if timeout is None else timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
