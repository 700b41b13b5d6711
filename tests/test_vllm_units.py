"""The vLLM test bed's own machinery, without vLLM: build-once caching, start failures, stopping.

These run in seconds and in every test run; the real engine is exercised in test_vllm_engine.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from migrate.testbed.llamacpp import EngineStartError
from migrate.testbed.vllm_env import VllmEnv, VllmEnvError, build_once
from migrate.testbed.vllm_server import SERVED_MODEL_NAME, VllmServer, build_command, group_members


def _builder(calls: list, *, fail: bool = False):
    def build(tmp: Path) -> dict:
        calls.append(tmp)
        tmp.mkdir(parents=True)
        (tmp / "payload").write_text("x" * 10)
        if fail:
            raise VllmEnvError("pip install failed")
        return {"bytes": 10}

    return build


def test_build_once_builds_in_temp_dir_then_renames_and_marks(tmp_path):
    final, lock, calls = tmp_path / "venv", tmp_path / ".lock", []
    data, built = build_once(final, {"v": 1}, _builder(calls), lock)
    assert built and data["bytes"] == 10 and data["fingerprint"] == {"v": 1}
    assert calls[0] != final and calls[0].parent == final.parent  # built beside, not in place
    assert (final / "payload").exists() and not calls[0].exists()
    marker = json.loads((tmp_path / "venv.ok.json").read_text())
    assert marker["fingerprint"] == {"v": 1}


def test_build_once_reuses_marked_artifact(tmp_path):
    final, lock, calls = tmp_path / "venv", tmp_path / ".lock", []
    build_once(final, {"v": 1}, _builder(calls), lock)
    data, built = build_once(final, {"v": 1}, _builder(calls), lock)
    assert not built and len(calls) == 1 and data["bytes"] == 10


def test_build_once_rebuilds_when_fingerprint_changes(tmp_path):
    final, lock, calls = tmp_path / "venv", tmp_path / ".lock", []
    build_once(final, {"v": 1}, _builder(calls), lock)
    data, built = build_once(final, {"v": 2}, _builder(calls), lock)
    assert built and len(calls) == 2 and data["fingerprint"] == {"v": 2}


def test_failed_build_leaves_nothing_trusted(tmp_path):
    final, lock, calls = tmp_path / "venv", tmp_path / ".lock", []
    with pytest.raises(VllmEnvError):
        build_once(final, {"v": 1}, _builder(calls, fail=True), lock)
    assert not final.exists() and not (tmp_path / "venv.ok.json").exists()
    assert not list(tmp_path.glob(".venv.*.tmp"))


def test_unmarked_leftover_is_discarded_not_trusted(tmp_path):
    """A crash after rename but before the marker (or a half-copied dir) must be rebuilt."""
    final, lock, calls = tmp_path / "venv", tmp_path / ".lock", []
    final.mkdir()
    (final / "half-written").write_text("")
    (tmp_path / ".venv.999999.tmp").mkdir()  # a crashed builder's temp dir
    build_once(final, {"v": 1}, _builder(calls), lock)
    assert len(calls) == 1 and not (final / "half-written").exists()
    assert not (tmp_path / ".venv.999999.tmp").exists()


def test_concurrent_builders_build_once(tmp_path):
    """Two processes race for the same artifact: the lock makes exactly one of them build."""
    script = (
        "import sys, os, json\n"
        "from pathlib import Path\n"
        "from migrate.testbed.vllm_env import build_once\n"
        "root = Path(sys.argv[1])\n"
        "def build(tmp):\n"
        "    with open(root / 'builds.log', 'a') as f: f.write(str(os.getpid()) + '\\n')\n"
        "    tmp.mkdir(); (tmp / 'big').write_bytes(os.urandom(20_000_000))\n"
        "    return {}\n"
        "print(json.dumps(build_once(root / 'venv', {'v': 1}, build, root / '.lock')[1]))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(outputs) == [False, False, True]
    assert len((tmp_path / "builds.log").read_text().splitlines()) == 1


def test_env_cli_fails_with_one_line(tmp_path):
    (tmp_path / "ollama-migrate").write_text("not a directory")  # the cache root cannot be created
    proc = subprocess.run(
        [sys.executable, "-m", "migrate.testbed.vllm_env"],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)},
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1


def _fake_env(python: str, tmp_path: Path) -> VllmEnv:
    return VllmEnv(python=Path(python), model_dir=tmp_path / "model", version="0", root=tmp_path)


def test_command_has_the_testbed_flags(tmp_path):
    argv = build_command(_fake_env("/venv/bin/python", tmp_path), 4321)
    assert argv[:3] == ["/venv/bin/python", "-m", "vllm.entrypoints.openai.api_server"]
    flags = dict(zip(argv[3:], argv[4:]))
    assert flags["--served-model-name"] == SERVED_MODEL_NAME
    assert flags["--host"] == "127.0.0.1" and flags["--port"] == "4321"
    assert flags["--max-model-len"] == "2048" and flags["--dtype"] == "bfloat16"
    assert flags["--tool-call-parser"] == "hermes" and flags["--max-num-seqs"] == "4"
    assert {"--enable-auto-tool-choice", "--enforce-eager"} <= set(argv)
    template = Path(flags["--chat-template"])
    assert template.is_file() and "<tool_call>" in template.read_text()


def test_start_failure_raises_with_log_tail_instead_of_waiting(tmp_path):
    # The project venv has no vllm: the server process exits at once, and start() must say why.
    server = VllmServer(_fake_env(sys.executable, tmp_path), log_path=tmp_path / "vllm.log", start_timeout=60)
    with pytest.raises(EngineStartError) as info:
        server.start()
    message = str(info.value)
    assert "exited with code 1" in message and "No module named 'vllm'" in message
    assert not server.alive()


def test_stop_kills_the_whole_process_group(tmp_path):
    """Like vLLM (API process + engine core), the leader has children; none may survive stop()."""
    server = VllmServer(_fake_env(sys.executable, tmp_path), log_path=tmp_path / "vllm.log")
    # A leader that ignores SIGTERM, with two children: the SIGKILL path must clean them all up.
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']) for _ in range(2)]\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout.readline().strip() == "ready"
    server._proc, server.pgid = proc, proc.pid
    assert len(group_members(proc.pid)) == 3
    server.stop(timeout=2.0)
    assert group_members(proc.pid) == [] and proc.returncode is not None
    proc.stdout.close()


def test_compat_cases_use_the_test_beds_fewshot_history():
    """The few-shot rounds that make the base model call tools exist twice (the test bed's request
    body and the compat cases' YAML alias): they must not drift apart."""
    from importlib.resources import files

    from migrate.compat_suite.loader import load_cases

    shipped = json.loads(files("migrate.testbed").joinpath("data", "fewshot_tools.json").read_text())
    case = next(c for c in load_cases() if c.id == "tools.single_call")
    assert case.request["messages"][:-1] == shipped["messages"][:-1]
    assert case.request["tools"] == shipped["tools"]
