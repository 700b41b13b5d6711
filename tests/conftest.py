"""Shared fixtures (owned by the test bed): real engines started once per session.

``llamacpp_server`` and ``ollama_server`` FAIL (not skip) when the engine cannot start: a test run
that silently skipped every real-engine test would be a pass that was never observed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent

# vLLM fixtures live in their owner's file; load them only when that file exists.
pytest_plugins = ["tests.vllm_fixtures"] if (_HERE / "vllm_fixtures.py").exists() else []


# Test data lives in the repository: real recordings (provenance in realdata/INDEX.md) and the
# test bed's planted chat templates (testbed/INDEX.md).
FIXTURES = _HERE / "fixtures"


def realdata_dir() -> Path:
    """The real recorded payloads, logs and metrics dumps the tests read."""
    return FIXTURES / "realdata"


@pytest.fixture(scope="session")
def llamacpp_server(tmp_path_factory):
    from migrate.testbed.llamacpp import EngineStartError, LlamaCppServer

    server = LlamaCppServer(n_ctx=8192, n_parallel=2, log_path=tmp_path_factory.mktemp("llamacpp") / "llamacpp.log")
    try:
        server.start()
    except EngineStartError as exc:
        pytest.fail(f"llama.cpp engine did not start: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ollama_server(llamacpp_server, tmp_path_factory):
    from migrate.testbed.ollama_server import OllamaTestServer

    server = OllamaTestServer(
        llamacpp_server.url,
        num_ctx=2048,
        num_parallel=1,
        max_queue=512,
        engine_ctx_per_slot=llamacpp_server.n_ctx_per_slot,
        gguf_path=llamacpp_server.model_path,
        log_path=tmp_path_factory.mktemp("ollama") / "server.log",
    )
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001 - any start failure must fail the run, loudly
        pytest.fail(f"Ollama test server did not start: {exc}")
    yield server
    server.stop()
