"""The generated LiteLLM config is loaded by a real LiteLLM proxy and routes a request to the local
llama.cpp engine (session fixture ``llamacpp_server``)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time

import pytest
import yaml

from migrate.exchange import ChatRequest, Message, Sampling
from migrate.generate import generate
from migrate.protocol import Backend, fetch, send


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def litellm_proxy(llamacpp_server, tmp_path_factory):
    from migrate.testbed.litellm_env import ensure_litellm_env

    lenv = ensure_litellm_env()
    out = tmp_path_factory.mktemp("litellm-gen")
    # New engine at weight 100 so the single request must go to llama.cpp; Ollama stays declared.
    manifest = generate(
        "llamacpp", str(out), aliases=("support-assistant=gemma3:270m",), engine_url=llamacpp_server.url, new_weight=100
    )
    port = _free_port()
    master = "sk-" + secrets.token_hex(16)
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": master,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "ENGINE_API_KEY": "unused-by-the-test-engine",
        "NO_DOCKER": "1",
    }
    log = open(out / "litellm.log", "w")
    proc = subprocess.Popen(
        lenv.proxy_argv(out / "litellm.yaml", "127.0.0.1", port), env=env, stdout=log, stderr=subprocess.STDOUT, cwd=out
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:  # readiness poll on the proxy's own liveness route
            if proc.poll() is not None:
                pytest.fail(f"litellm exited {proc.returncode}: {(out / 'litellm.log').read_text()[-1500:]}")
            if fetch(url, "/health/liveliness").status == 200:
                break
            if time.monotonic() > deadline:
                pytest.fail("litellm proxy not ready after 120 s")
            time.sleep(0.5)  # poll interval, not synchronisation: readiness is checked above
        yield {"url": url, "master": master, "out": out, "manifest": manifest}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.engine
def test_litellm_routes_alias_and_old_tag_to_engine(litellm_proxy, monkeypatch):
    cfg = yaml.safe_load((litellm_proxy["out"] / "litellm.yaml").read_text())
    deps = [d for d in cfg["model_list"] if d["model_name"] == "support-assistant"]
    assert [d["litellm_params"]["model"].split("/")[0] for d in deps] == ["ollama_chat", "openai"]
    assert deps[0]["litellm_params"]["num_ctx"] > 0
    monkeypatch.setenv("TEST_LITELLM_KEY", litellm_proxy["master"])
    backend = Backend(url=litellm_proxy["url"], protocol="openai", api_key_env="TEST_LITELLM_KEY")
    for model in ("support-assistant", "gemma3:270m"):  # product alias, then the old Ollama tag
        ex = send(
            backend,
            ChatRequest(
                model=model,
                messages=[Message(role="user", content="Say hi.")],
                sampling=Sampling(max_tokens=8, temperature=0),
            ),
        )
        assert ex.error is None, ex.error
        assert ex.status == 200 and ex.usage.completion_tokens and ex.usage.completion_tokens <= 8
        assert ex.finish_reason in ("stop", "length")


@pytest.mark.engine
def test_litellm_rejects_a_wrong_key(litellm_proxy, monkeypatch):
    monkeypatch.setenv("TEST_LITELLM_KEY", "sk-wrong")
    ex = send(
        Backend(url=litellm_proxy["url"], protocol="openai", api_key_env="TEST_LITELLM_KEY"),
        ChatRequest(
            model="support-assistant", messages=[Message(role="user", content="hi")], sampling=Sampling(max_tokens=4)
        ),
    )
    assert ex.error is not None
