"""migrate.testbed.process: the spawn / wait-for-health / stop-the-group part both engine servers share."""

import subprocess
import sys
import time

import pytest

from migrate.testbed.process import (
    EngineStartError,
    ManagedServer,
    free_port,
    group_members,
    log_tail,
    spawn_group,
    stop_group,
    wait_healthy,
)


def _dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused


def test_wait_healthy_returns_at_once_when_the_process_exits(tmp_path):
    proc = spawn_group([sys.executable, "-c", "import sys; print('bye'); sys.exit(3)"], tmp_path / "x.log")
    started = time.perf_counter()
    reason = wait_healthy(_dead_url(), proc, started=started, timeout=60.0, interval=0.05, what="server process")
    assert reason == "server process exited with code 3"
    assert time.perf_counter() - started < 30.0  # did not sit out the 60 s deadline
    assert log_tail(tmp_path / "x.log") == "bye"


def test_wait_healthy_gives_up_at_the_deadline(tmp_path):
    proc = spawn_group([sys.executable, "-c", "import time; time.sleep(600)"], tmp_path / "x.log")
    try:
        reason = wait_healthy(_dead_url(), proc, started=time.perf_counter(), timeout=0.3, interval=0.05)
        assert reason == "no /health 200 within 0.3 s"
    finally:
        stop_group(proc, timeout=5.0)
    assert proc.returncode is not None and group_members(proc.pid) == []


def test_log_tail_of_a_missing_log():
    assert log_tail("/nonexistent/dir/engine.log") == "(no log)"


def test_stop_group_closes_the_stdin_pipe_and_can_run_twice(tmp_path):
    # The llama.cpp child exits when its stdin closes; a leader already gone must not raise.
    proc = spawn_group(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], tmp_path / "x.log", stdin=subprocess.PIPE
    )
    proc.stdin.write(b"x")
    proc.stdin.flush()
    assert group_members(proc.pid) == [proc.pid]
    stop_group(proc, timeout=5.0)
    assert proc.stdin.closed and group_members(proc.pid) == []
    stop_group(proc, timeout=5.0)  # again, with the leader long gone


class _Failing(ManagedServer):
    engine_name = "fake"
    health_interval = 0.05

    def __init__(self, tmp_path, retry: bool):
        super().__init__(start_timeout=60.0, log_path=tmp_path / "fake.log", log_prefix="x-", log_name="x.log")
        self.retry, self.launches = retry, []

    def start(self):
        self._start_from(time.perf_counter())
        return self

    def _launch(self, port):
        self.launches.append(port)
        code = f"import sys; print('attempt on {port}: address already in use'); sys.exit(1)"
        return spawn_group([sys.executable, "-c", code], self.log_path, header=f"### {port}\n")

    def _retry_after(self, tail):
        return self.retry


@pytest.mark.parametrize("retry, attempts", [(False, 1), (True, ManagedServer.start_attempts)])
def test_start_retries_only_when_the_subclass_says_so(tmp_path, retry, attempts):
    server = _Failing(tmp_path, retry)
    with pytest.raises(EngineStartError) as info:
        server.start()
    assert len(server.launches) == attempts
    message = str(info.value)
    assert message.startswith("fake did not start: engine process exited with code 1")
    assert f"attempt on {server.launches[-1]}: address already in use" in message  # the log tail
    assert f"### {server.launches[0]}" in (tmp_path / "fake.log").read_text()  # header per attempt
    assert not server.alive() and server._proc is None
