"""Session fixtures for the real vLLM CPU test bed (loaded by conftest via ``pytest_plugins``).

Both FAIL (never skip) when the environment cannot be built or the server cannot start: a run
that silently skipped every vLLM test would report a pass that was never observed. The first
run builds the cached venv and model (minutes); later runs reuse them (milliseconds).
"""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(scope="session")
def vllm_env():
    from migrate.testbed.vllm_env import VllmEnvError, ensure_vllm_env

    try:
        return ensure_vllm_env(progress=lambda msg: print(f"[vllm-env] {msg} ...", file=sys.stderr))
    except (VllmEnvError, OSError) as exc:
        pytest.fail(f"vLLM test bed could not be built: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def vllm_server(vllm_env, tmp_path_factory):
    from migrate.testbed.llamacpp import EngineStartError
    from migrate.testbed.vllm_server import VllmServer

    server = VllmServer(vllm_env, log_path=tmp_path_factory.mktemp("vllm") / "vllm.log")
    try:
        server.start()
    except EngineStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()
