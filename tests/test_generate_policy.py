"""`migrate generate` internals: the registry drives launches and quantisation, build_tree is pure,
write_tree applies the fsutil mode policy, and package faces stay thin."""

from __future__ import annotations

import ast
import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate import catalog, engines, fsutil
from migrate.cli import main
from migrate.generate import TARGETS, build_tree, capacity, choose_checkpoint, launch, load_inputs
from migrate.generate.decisions import _fill

REPO = Path(__file__).resolve().parent.parent
INVENTORY = REPO / "tests" / "golden" / "inventory_seven.json"
CHECKPOINT_KINDS = {"awq", "fp8", "exl3", "ov", "mlc", "gguf"}  # catalog.yaml `quantized` keys


def test_targets_are_the_registry_launch_targets_each_with_a_builder_and_a_policy():
    assert TARGETS == engines.launch_targets() and TARGETS
    for target in TARGETS:
        engine = engines.get(target)
        assert callable(getattr(launch, engine.launch.builder, None)), target
        assert engine.quantization, f"{target}: no quantization policy"
        for rule in engine.quantization:
            assert set(rule.bits) <= {"4", "8", "16", "native"}, target
            assert rule.checkpoint is None or rule.checkpoint in CHECKPOINT_KINDS, target
            assert "{" in rule.fmt or rule.fmt in capacity.BITS_PER_WEIGHT, f"{target}: unknown format {rule.fmt}"
            assert rule.fmt_fallback is None or rule.fmt_fallback in capacity.BITS_PER_WEIGHT, target


def test_catalogued_checkpoints_are_kinds_a_policy_can_name():
    for name, entry in catalog.load()["models"].items():
        for size, spec in entry["sizes"].items():
            assert set(spec.get("quantized") or {}) <= CHECKPOINT_KINDS, f"{name}:{size}"


def test_template_fill():
    values = {"tag": "x:1b", "hf": None, "quant": ""}
    assert _fill("{tag}", values) == "x:1b"
    assert _fill("{hf}", values) is None  # a lone placeholder keeps None
    assert _fill("Ollama's {quant|Q4}", values) == "Ollama's Q4"  # unknown -> the default
    assert _fill("quantize {hf} for {tag}", values) == "quantize None for x:1b"
    assert _fill(None, values) is None


@pytest.mark.parametrize(
    "target, quant, fmt, flag",
    [
        ("vllm", "Q4_K_M", "awq-int4", None),
        ("vllm", "Q8_0", "fp8", None),
        ("vllm", "F16", "bf16", None),
        ("tgi", "Q4_K_M", "awq-int4", "awq"),
        ("lmdeploy", "Q8_0", "fp8", "fp8"),
        ("ovms", "Q8_0", "int8", "int8"),
        ("llamacpp", "Q5_K_M", "Q5_K_M", None),
        ("llamacpp", "IQ4_XS", "Q4_K_M", None),  # unknown to capacity: fallback
    ],
)
def test_policy_follows_ollamas_bit_class(target, quant, fmt, flag):
    ref = catalog.resolve("llama3.1:8b")  # catalogued awq, fp8, gguf and mlc checkpoints
    ck = choose_checkpoint(target, ref, quant)
    assert (ck["fmt"], ck["quant_flag"]) == (fmt, flag)


def test_native_quantization_and_embeddings():
    oss = catalog.resolve("gpt-oss:20b")
    assert choose_checkpoint("lmdeploy", oss, "MXFP4")["quant_flag"] == "mxfp4"
    assert choose_checkpoint("vllm", oss, None)["fmt"] == "mxfp4"
    emb = catalog.resolve("nomic-embed-text")
    assert choose_checkpoint("vllm", emb, "F16") == choose_checkpoint("mlc", emb, "Q4_0")  # served as published
    # A catalogued dense model Ollama runs as MXFP4 (used to crash the capacity estimate)
    assert choose_checkpoint("vllm", catalog.resolve("qwen3:8b"), "MXFP4")["fmt"] == "mxfp4"


def test_unknown_checkpoints_become_todos_not_invented_repos():
    ref = catalog.resolve("qwen3:8b")  # no exl3 or mlc weights catalogued
    for target in ("exllamav3", "exllamav2", "mlc"):
        ck = choose_checkpoint(target, ref, "Q4_K_M")
        assert ck["source"] is None and ref.hf in ck["todo"], target


def test_build_tree_is_pure_and_gives_modes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inputs = load_inputs("trtllm", inventory_path=str(INVENTORY), gpus="2xH100")
    tree = build_tree(inputs)
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert sorted(json.loads(tree["manifest.json"][0])["files"]) == sorted(tree)
    for rel, (text, mode) in tree.items():
        assert isinstance(text, str)
        assert mode == (fsutil.EXECUTABLE if rel.endswith(".sh") else fsutil.PUBLIC), rel
    assert build_tree(inputs) == tree  # deterministic


def test_generate_writes_the_tree_with_its_modes(tmp_path):
    r = CliRunner().invoke(
        main, ["generate", "--target", "vllm", "--alias", "chat=llama3.1:8b", "--out", str(tmp_path / "o")]
    )
    assert r.exit_code == 0, r.output
    for path in (tmp_path / "o").rglob("*"):
        if path.is_file():
            want = 0o755 if path.suffix == ".sh" else 0o644
            assert stat.S_IMODE(path.stat().st_mode) == want, path


def test_generate_unwritable_out_is_one_line_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = CliRunner().invoke(
        main, ["generate", "--target", "vllm", "--alias", "chat=llama3.1:8b", "--out", str(blocker / "o")]
    )
    assert r.exit_code == 2 and "cannot write" in r.stderr and "Traceback" not in r.output


@pytest.mark.parametrize("package", ["plan", "generate", "catalog"])
def test_package_faces_only_reexport(package):
    path = REPO / "migrate" / package / "__init__.py"
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 80
    defs = [
        n for n in ast.walk(ast.parse(text)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    assert not defs, f"{path}: logic belongs in a module, not the package face"


def test_generate_imports_plan_never_the_reverse():
    for path in (REPO / "migrate" / "plan").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert "generate" not in (node.module or ""), f"{path.name} imports {node.module}"
