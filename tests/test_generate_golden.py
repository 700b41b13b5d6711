"""`migrate generate`: golden files per engine, flags checked against engines.md, scripts that parse,
gateway configs that validate, and hostile model tags that stay one literal argument.

Regenerate goldens after an intended change: UPDATE_GOLDEN=1 pytest tests/test_generate_golden.py
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate.cli import main
from migrate.generate import TARGETS, Inputs, build_tree, generate, write_tree

HERE = Path(__file__).parent
INVENTORY = HERE / "golden" / "inventory_seven.json"
GOLDEN = HERE / "golden" / "generate"
GOLDEN_FILES = ("gateway.yaml", "litellm.yaml", "MIGRATION.md")


def _gen(target: str, out: Path, **kw) -> dict:
    return generate(
        target, str(out), inventory_path=str(INVENTORY), gpus="2xH100", aliases=("support-assistant=llama3.1:8b",), **kw
    )


def _argv(out: Path, d: str) -> list:
    """The exec line of a generated launch.sh, split the way bash would (no expansions in these)."""
    line = [ln for ln in (out / d / "launch.sh").read_text().splitlines() if ln.startswith("exec ")][0]
    return shlex.split(line[len("exec ") :])


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    return {t: (root / t, _gen(t, root / t)) for t in TARGETS}


@pytest.mark.parametrize("target", TARGETS)
def test_golden(generated, target):
    out, manifest = generated[target]
    files = [f for f in manifest["files"] if f.endswith("launch.sh")] + list(GOLDEN_FILES)
    gdir = GOLDEN / target
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(gdir, ignore_errors=True)
        for f in files:
            (gdir / f).parent.mkdir(parents=True, exist_ok=True)
            (gdir / f).write_text((out / f).read_text())
    for f in files:
        assert (out / f).read_text() == (gdir / f).read_text(), f"{target}/{f} differs from the golden file"


def test_vllm_flags_agree_with_engines_md(generated):
    out, _ = generated["vllm"]
    llama = _argv(out, "support-assistant")
    assert llama[:3] == ["vllm", "serve", "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"]
    i = llama.index("--served-model-name")
    assert llama[i + 1 : i + 3] == ["support-assistant", "llama3.1:8b"]  # product alias AND old tag
    assert llama[llama.index("--tool-call-parser") + 1] == "llama3_json" and "--enable-auto-tool-choice" in llama
    assert llama[llama.index("--tensor-parallel-size") + 1] == "2"
    assert llama[llama.index("--max-model-len") + 1] == "8192"  # 6000 x 1.25 -> 8192, >= num_ctx 8192
    qwen3 = _argv(out, "qwen3-8b")
    assert qwen3[qwen3.index("--reasoning-parser") + 1] == "qwen3"
    assert json.loads(qwen3[qwen3.index("--override-generation-config") + 1]) == {
        "temperature": 0.6,
        "top_k": 20,
        "top_p": 0.95,
        "repetition_penalty": 1,
    }
    oss = _argv(out, "gpt-oss-20b")
    assert (
        oss[oss.index("--tool-call-parser") + 1] == "openai"
        and oss[oss.index("--reasoning-parser") + 1] == "openai_gptoss"
    )
    assert "--tool-call-parser" not in _argv(out, "gemma3-4b")  # no gemma3 tool parser exists
    r1 = _argv(out, "deepseek-r1-8b")
    assert r1[r1.index("--reasoning-parser") + 1] == "deepseek_r1"
    for d in (
        "support-assistant",
        "qwen2-5-7b",
        "qwen3-8b",
        "mistral-latest",
        "gemma3-4b",
        "deepseek-r1-8b",
        "gpt-oss-20b",
    ):
        argv = _argv(out, d)
        assert not any("gguf" in a.lower() for a in argv), "vLLM 0.33 has no GGUF loader"
        assert argv[argv.index("--api-key") + 1] == "${ENGINE_API_KEY}"  # env reference, never a literal


def test_other_engines_use_their_own_parser_names(generated):
    sg = _argv(generated["sglang"][0], "qwen2-5-7b")
    assert sg[sg.index("--tool-call-parser") + 1] == "qwen25" and "--enable-metrics" in sg
    sg_oss = _argv(generated["sglang"][0], "gpt-oss-20b")
    assert sg_oss[sg_oss.index("--reasoning-parser") + 1] == "gpt-oss"
    lm = _argv(generated["lmdeploy"][0], "qwen2-5-7b")
    assert lm[lm.index("--tool-call-parser") + 1] == "qwen2d5"
    ov = _argv(generated["ovms"][0], "gpt-oss-20b")
    assert ov[ov.index("--tool_parser") + 1] == "gptoss" and "--metrics_enable" in ov
    lc = _argv(generated["llamacpp"][0], "support-assistant")
    assert "--metrics" in lc and lc[lc.index("--hf-repo") + 1] == "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF:Q4_K_M"
    assert lc[lc.index("--alias") + 1] == "support-assistant,llama3.1:8b"
    assert lc[lc.index("--ctx-size") + 1] == str(8192 * 8)  # per-slot context x 8 slots
    tg = _argv(generated["tgi"][0], "qwen3-8b")
    assert tg[tg.index("--max-total-tokens") + 1] == "8192" and tg[tg.index("--num-shard") + 1] == "2"
    trt = _argv(generated["trtllm"][0], "qwen3-8b")
    assert trt[trt.index("--tool_parser") + 1] == "qwen3" and "--max_seq_len" in trt
    cfg = (generated["exllamav3"][0] / "gpt-oss-20b" / "config.yml").read_text()
    assert 'tool_format: "harmony"' in cfg and "backend: exllamav3" in cfg


def test_context_never_below_num_ctx_never_above_trained(tmp_path):
    inv = json.loads(INVENTORY.read_text())
    inv["profile"]["context_need"] = 100_000  # above qwen3's trained 40,960
    inv["models"][0]["parameters"]["num_ctx"] = 16384  # llama: 100k x 1.25 capped at 131072
    p = tmp_path / "inv.json"
    p.write_text(json.dumps(inv))
    m = {x["tag"]: x for x in generate("vllm", str(tmp_path / "o"), inventory_path=str(p))["models"]}
    assert m["qwen3:8b"]["context"] == 40960 and m["llama3.1:8b"]["context"] == 125952
    assert "EXCEEDS" in (tmp_path / "o" / "MIGRATION.md").read_text()
    inv["profile"]["context_need"] = 1000
    p.write_text(json.dumps(inv))
    m = {x["tag"]: x for x in generate("vllm", str(tmp_path / "o2"), inventory_path=str(p))["models"]}
    assert m["llama3.1:8b"]["context"] == 16384  # raised to the largest num_ctx in use


def test_capacity_arithmetic(generated):
    _, manifest = generated["vllm"]
    cap = {m["tag"]: m["capacity"] for m in manifest["models"]}["qwen3:8b"]
    # 36 layers x 8 KV heads x 128 x 2 x 2 bytes = 147,456 B/token; x 8192 ctx x 8 concurrent = 9.0 GiB
    assert cap["kv_gib"] == 9.0
    assert cap["weights_gib"] == round(8190735360 * 4.25 / 8 / 1024**3, 2)
    assert any(ln.startswith("gpus     = ceil(") for ln in cap["lines"]) and cap["gpus_needed"] == 1


def test_modelfile_defaults_say_where_they_went(generated):
    md = (generated["sglang"][0] / "MIGRATION.md").read_text()
    assert "gateway default (litellm.yaml litellm_params)" in md  # SGLang has no server-side override
    assert "system_prompts/qwen2-5-7b.txt" in md
    assert (generated["sglang"][0] / "system_prompts" / "qwen2-5-7b.txt").read_text().startswith("You are Qwen")
    vmd = (generated["vllm"][0] / "MIGRATION.md").read_text()
    assert "vLLM --override-generation-config (top_k)" in vmd


@pytest.mark.parametrize("target", TARGETS)
def test_scripts_parse_and_gateway_validates(generated, target):
    from migrate.gateway import validate_file

    out, manifest = generated[target]
    scripts = [out / f for f in manifest["files"] if f.endswith(".sh")]
    assert scripts
    for s in scripts:
        r = subprocess.run(["bash", "-n", str(s)], capture_output=True, text=True)
        assert r.returncode == 0, f"{s}: {r.stderr}"
    if shutil.which("shellcheck"):
        r = subprocess.run(["shellcheck", "-S", "warning", *map(str, scripts)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout
    assert validate_file(out / "gateway.yaml") == []
    import yaml

    for f in manifest["files"]:
        if f.endswith((".yaml", ".yml")):
            list(yaml.safe_load_all((out / f).read_text()))  # every YAML we write parses
    lite = yaml.safe_load((out / "litellm.yaml").read_text())
    for dep in lite["model_list"]:
        key = dep["litellm_params"].get("api_key")
        assert key is None or key.startswith("os.environ/")


# Hostile model tags/aliases. The CLI refuses the ones with control or separator characters (exit 2,
# tests/faults/test_yaml_faults.py); the render layer must hold on its own all the same, so these
# tests feed every one of them past the input checks (render_unchecked). No NUL here: no argv carries it.
HOSTILE = [
    'x"; touch CANARY; "',
    "$(touch CANARY)",
    "`touch CANARY`",
    "a\ntouch CANARY\n",
    "x'; touch CANARY; '",
    "a\u2028kind: Secret\u2028touch CANARY",
    "del\x7fete",
    "esc\x1b]0;title\x07\x1b[31m",
    "x # not a comment",
    "---\nkind: Secret",
    "key: value",
    'back\\slash \\"quoted\\" \\n',
    "{{ template }} {% x %}",
    "tab\there\r\nCRLF",
]


def render_unchecked(target: str, out: Path, pairs: list[tuple[str, str]]) -> dict:
    """``generate`` for (alias, tag) pairs without load_inputs' checks: what the templates alone make
    of hostile values. Mirrors load_inputs for --alias-only input."""
    inputs = Inputs(
        target=target,
        models={tag: {"name": tag} for _, tag in pairs},
        aliases={tag: alias for alias, tag in pairs},
        facts={},
        profile={},
        plan=None,
        sources=["--alias flags"],
    )
    tree = build_tree(inputs)
    write_tree(tree, str(out))
    return json.loads(tree["manifest.json"][0])


@pytest.mark.parametrize("target", ["vllm", "sglang", "llamacpp", "lmdeploy", "ovms"])
def test_hostile_tags_stay_one_literal_argument(tmp_path, target):
    canary = tmp_path / "pwned"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    argv_log = tmp_path / "argv.bin"
    # A shell stub (fast to start) records its argv NUL-separated; "python3" itself is stubbed (SGLang).
    stub = '#!/bin/sh\nprintf \'%%s\\0\' "$0" "$@" > %s\n' % shlex.quote(str(argv_log))
    for name in ("vllm", "python3", "llama-server", "lmdeploy", "ovms", "docker"):
        (bindir / name).write_text(stub)
        (bindir / name).chmod(0o755)
    tags = [h.replace("CANARY", str(canary)) for h in HOSTILE]
    manifest = render_unchecked(target, tmp_path / "out", [(t, t) for t in tags])  # hostile alias and tag
    env = {
        "PATH": f"{bindir}:/usr/bin:/bin",
        "ENGINE_API_KEY": "k",
        "MIGRATE_MODEL_SOURCE": "/models/x",
        "HOME": str(tmp_path),
    }

    def argv() -> list:
        return argv_log.read_bytes().decode("utf-8").split("\0")[:-1]

    assert len(manifest["models"]) == len(tags)
    for m, tag in zip(manifest["models"], tags):
        assert not m["known"] and m["todos"]  # unknown tag: TODO, no invented repo
        script = tmp_path / "out" / m["dir"] / "launch.sh"
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
        r = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert tag in argv() or ",".join([tag]) in argv(), f"{tag!r} not passed as one argument: {argv()}"
        assert "/models/x" in argv()
        docker = tmp_path / "out" / m["dir"] / "docker-run.sh"
        r = subprocess.run(["bash", str(docker)], env=env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert tag in argv()
        assert not canary.exists(), f"{target}: tag {tag!r} executed a command"
    # A newline inside a single-quoted argument is harmless in a script; YAML: test_generate_quoting.py.


def test_unknown_tag_todo_repeats_api_show(tmp_path):
    inv = {
        "models": [
            {
                "name": "acme-llm:13b",
                "architecture": "llama",
                "parameter_count": 13015864320,
                "context_length": 4096,
                "quantization": "Q4_0",
            }
        ]
    }
    p = tmp_path / "inv.json"
    p.write_text(json.dumps(inv))
    r = CliRunner().invoke(
        main, ["generate", "--target", "vllm", "--inventory", str(p), "--out", str(tmp_path / "o"), "--json"]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert "architecture llama" in doc["todos"][0] and "13015864320" in doc["todos"][0]
    launch = (tmp_path / "o" / "acme-llm-13b" / "launch.sh").read_text()
    assert '"${MIGRATE_MODEL_SOURCE}"' in launch and "MIGRATE_MODEL_SOURCE:?" in launch


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--target", "vllm", "--out", "OUT"],
        ["generate", "--target", "vllm", "--alias", "no-equals-sign", "--out", "OUT"],
        ["generate", "--target", "vllm", "--inventory", "/nonexistent.json", "--out", "OUT"],
    ],
)
def test_generate_bad_input_exit_2(tmp_path, argv):
    r = CliRunner().invoke(main, [a.replace("OUT", str(tmp_path / "o")) for a in argv])
    assert r.exit_code == 2 and "Traceback" not in r.output
